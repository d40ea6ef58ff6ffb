"""The small validators every section of lambdashift.yaml shares: durations, percents, the
unknown-key error with its did-you-mean, and the shapes (a mapping, a string matching a
pattern, an integer in a range, a list of strings).

Imports nothing of ours but the exception tree, so that the config package and the pure core
(``core.strategy``, ``core.judge_policy``, ``core.bake``) can all use it without importing
each other: this module is the bottom of both.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lambdashift.errors import ConfigError

__all__ = ["check_keys", "did_you_mean", "flag", "integer", "mapping", "match", "non_empty_list",
           "parse_duration", "parse_percent", "required", "string", "string_list",
           "unknown_key_error", "unknown_name"]

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


# --- shapes ---------------------------------------------------------------------------------


def check_keys(value: Mapping[Any, Any], allowed: tuple[str, ...], path: str) -> None:
    """ConfigError (with a did-you-mean) for the first key of ``value`` not in ``allowed``."""
    for key in value:
        if key not in allowed:
            raise unknown_key_error(path, key, allowed)


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """``unknown function 'x'; did you mean 'y'?``: the words, for a ConfigError of the caller."""
    close = did_you_mean(name, known)
    return f"unknown {kind} {name!r}" + (f"; did you mean {close!r}?" if close else "")


def mapping(value: object, path: str, what: str = "a mapping") -> Mapping[Any, Any]:
    """``value`` if it is a mapping, {} for None (a key given with no value)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}must be {what}, got {type(value).__name__} {value!r}")
    return value


def match(value: object, pattern: re.Pattern[str], path: str, expected: str) -> str:
    """``value`` if it is a string that ``pattern`` matches whole."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{path}: must be {expected}, got {value!r}")
    return value


def required(value: Mapping[Any, Any], key: str, path: str) -> None:
    """Where the keys are not all known here (CreateTable's grow with botocore), a missing
    required key is looked for among the given ones: a typo gets its did-you-mean."""
    if key not in value:
        close = did_you_mean(key, [k for k in value if isinstance(k, str)])
        if close:
            raise ConfigError(f"{path}: unknown key {close!r}; did you mean {key!r}?")


def non_empty_list(value: object, path: str) -> list[Any]:
    """``value`` if it is a non-empty list."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: required, a non-empty list")
    return value


def string(value: object, path: str) -> str:
    """``value`` if it is a string with more than blanks."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: must be a non-empty string, got {value!r}")
    return value


def string_list(value: object, path: str) -> list[str]:
    """A list of non-empty strings; [] for None."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{path}: must be a list, got {value!r}")
    return [string(item, f"{path}[{i}]") for i, item in enumerate(value)]


def integer(value: object, path: str, low: int, high: int) -> int:
    """``value`` if it is an integer (not a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{path}: must be an integer from {low} to {high}, got {value!r}")
    return value


def flag(value: object, path: str) -> bool:
    """``value`` if it is true or false."""
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: true or false, got {value!r}")
    return value


def switch(value: object, path: str, allowed: tuple[str, ...], *, shape: str,
           booleans: str = "true or false") -> tuple[bool, Mapping[Any, Any]]:
    """A section written as a boolean (``on``/``off``) or as a mapping of ``allowed`` keys with
    ``enabled`` (true when left out): ``(enabled, the mapping)``, ``{}`` for the short form.
    ``shape`` and ``booleans`` word the errors: what the section may be, what ``enabled`` may."""
    if isinstance(value, bool):
        return value, {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: must be {shape}, got {value!r}")
    check_keys(value, allowed, path)
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{path}.enabled: must be {booleans}, got {enabled!r}")
    return enabled, value
