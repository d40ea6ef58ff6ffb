"""The small validators every section of lambdashift.yaml shares: durations, percents, and
the unknown-key error with its did-you-mean.

Imports nothing of ours but the exception tree, so that the config package and the pure core
(``core.strategy``, ``core.judge_policy``, ``core.bake``) can all use it without importing
each other: this module is the bottom of both.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from lambdashift.errors import ConfigError

__all__ = ["did_you_mean", "parse_duration", "parse_percent", "unknown_key_error"]

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"(?:{_NUMBER}d)?(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?")
_UNIT_SECONDS = (86400, 3600, 60, 1)


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``, if one is close enough to be a typo of it."""
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1)
    return close[0] if close else None


def unknown_key_error(path: str, key: object, allowed: tuple[str, ...] | list[str]) -> ConfigError:
    """A ConfigError for an unknown key, with a did-you-mean suggestion when one is close."""
    close = did_you_mean(str(key), allowed)
    hint = f"; did you mean {close!r}?" if close else f" (expected one of: {', '.join(allowed)})"
    where = f"{path}: " if path else ""
    return ConfigError(f"{where}unknown key {key!r}{hint}")


def parse_duration(value: object, path: str) -> float:
    """Seconds from ``5m``, ``30s``, ``0.5s``, ``1h30m``, ``1.5h``, ``2d`` or a bare number of
    seconds (``90``). The config and the command line (``--since``, ``--poll``) share it.

    Raises ConfigError naming ``path`` unless the duration is positive.
    """
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            match = _DURATION.fullmatch(text)
            if match and text:
                seconds = sum(float(n or 0) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS))
    if seconds is None or seconds <= 0:
        raise ConfigError(
            f"{path}: must be a positive duration such as 30s, 5m, 1h30m or 90 (seconds), "
            f"got {value!r}"
        )
    return seconds


def parse_percent(value: object, path: str) -> float:
    """The fraction for a percent in (0, 100]: ``10`` → ``0.1``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
        raise ConfigError(f"{path}: must be a percent in (0, 100], got {value!r}")
    # Rounded so that a weight read back from AWS compares equal to the one written.
    return round(value / 100, 6)
