"""``prewarm:`` of lambdashift.yaml: on by default; ``true``/``false`` or a mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdashift.core.validators import switch
from lambdashift.errors import ConfigError

__all__ = ["PrewarmSettings", "parse_prewarm"]

_KEYS = ("enabled", "concurrency", "max_concurrency", "window")


@dataclass(frozen=True)
class PrewarmSettings:
    """``prewarm:`` of lambdashift.yaml: on by default."""

    enabled: bool = True
    concurrency: int | None = None    # fixed number of environments, instead of estimating
    max_concurrency: int = 10         # never more at once (they count against the limit)
    window: float = 60.0              # seconds of past traffic the estimate looks at


def parse_prewarm(raw: object, path: str = "prewarm") -> PrewarmSettings:
    """``true``/``false`` or a mapping of :data:`_KEYS`; a ConfigError naming the key."""
    if raw is None:
        return PrewarmSettings()
    enabled, raw = switch(raw, path, _KEYS,
                          shape=f"true, false or a mapping ({', '.join(_KEYS)})")
    values: dict[str, Any] = {}
    for key, low, high in (("concurrency", 1, 1000), ("max_concurrency", 1, 1000), ("window", 1, 3600)):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{path}.{key}: must be an integer from {low} to {high}, got {value!r}")
            values[key] = value
    return PrewarmSettings(enabled=enabled, **values)
