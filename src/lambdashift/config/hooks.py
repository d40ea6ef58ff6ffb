"""``hooks:`` of lambdashift.yaml: checks before any traffic and after the promotion, as one
typed value (:class:`Hooks`) parsed once, at load. Running them is ``rollout.hooks``'s.

Checks at the top run for every function, then those under ``functions.<name>`` for that
function (see ``rollout.hooks`` for the whole syntax)::

    hooks:
      timeout: 10s
      pre_traffic:
        - http: {method: GET, path: /notes, expect_status: 200}
      functions:
        notes-get:
          post_traffic:
            - event: {pathParameters: {id: "1"}}
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambdashift.core.validators import parse_duration, unknown_key_error
from lambdashift.errors import ConfigError

__all__ = ["Check", "EventCheck", "HookConfig", "Hooks", "HttpCheck", "parse_hooks",
           "parse_hooks_section"]

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class EventCheck:
    """Invoke the function with ``event``; expect a status, no function error, a payload."""

    event: Any
    status_code: int = 200
    no_function_error: bool = True
    payload_contains: Any = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"event {json.dumps(self.event, sort_keys=True)[:60]}"


@dataclass(frozen=True)
class HttpCheck:
    """Send ``method path`` to the base URL; expect a status and optionally a JSON body."""

    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    expect_status: int = 200
    body_contains: Any = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"


Check = EventCheck | HttpCheck


@dataclass(frozen=True)
class HookConfig:
    """The checks of one function: global ones first, then the function's own."""

    pre_traffic: tuple[Check, ...] = ()
    post_traffic: tuple[Check, ...] = ()
    timeout: float = 10.0


_Lists = tuple[tuple[Check, ...], tuple[Check, ...]]


@dataclass(frozen=True)
class Hooks:
    """The whole ``hooks:`` section, parsed: the global checks, each function's own, the
    timeout. False when the file has no (or an empty) ``hooks:``."""

    pre_traffic: tuple[Check, ...] = ()
    post_traffic: tuple[Check, ...] = ()
    timeout: float = 10.0
    functions: Mapping[str, _Lists] = field(default_factory=dict, hash=False)
    given: bool = False

    def __bool__(self) -> bool:
        return self.given

    def for_function(self, function: str | None) -> HookConfig:
        """The checks of ``function``: the global ones first, then its own."""
        pre, post = self.functions.get(function or "", ((), ()))
        return HookConfig((*self.pre_traffic, *pre), (*self.post_traffic, *post), self.timeout)


def parse_hooks_section(raw: Mapping[str, Any] | None, *, functions: Sequence[str] | None = None,
                        path: str = "hooks") -> Hooks:
    """The ``hooks`` mapping as a :class:`Hooks`; ``functions`` (the names in lambdashift.yaml)
    lets a misspelt name under ``hooks.functions`` be refused."""
    raw = _mapping({} if raw is None else raw, path)
    _keys(raw, ("timeout", "pre_traffic", "post_traffic", "functions"), path)
    timeout = parse_duration(raw["timeout"], f"{path}.timeout") if "timeout" in raw else 10.0
    pre, post = _lists(raw, path)
    own = _optional(raw, "functions", path)
    per_function: dict[str, _Lists] = {}
    for name, spec in own.items():
        where = f"{path}.functions.{name}"
        if functions is not None and name not in functions:
            raise unknown_key_error(f"{path}.functions", name, list(functions))
        spec = _mapping({} if spec is None else spec, where)
        _keys(spec, ("pre_traffic", "post_traffic"), where)
        per_function[str(name)] = _lists(spec, where)
    return Hooks(pre, post, timeout, types.MappingProxyType(per_function), given=bool(raw))


def parse_hooks(raw: Mapping[str, Any] | None, function: str | None = None, *,
                functions: Sequence[str] | None = None, path: str = "hooks") -> HookConfig:
    """The checks for ``function`` (or the global ones) from the ``hooks`` mapping; the whole
    mapping is validated whatever ``function`` is (:func:`parse_hooks_section`)."""
    return parse_hooks_section(raw, functions=functions, path=path).for_function(function)


def _lists(raw: Mapping[str, Any], path: str) -> tuple[tuple[Check, ...], tuple[Check, ...]]:
    out = []
    for key in ("pre_traffic", "post_traffic"):
        items = [] if raw.get(key) is None else raw[key]
        if not isinstance(items, list):
            raise ConfigError(f"{path}.{key}: must be a list of checks, got {items!r}")
        out.append(tuple(_check(item, f"{path}.{key}[{i}]") for i, item in enumerate(items)))
    return out[0], out[1]


def _check(raw: object, path: str) -> Check:
    raw = _mapping(raw, path, "a check: a mapping with 'event' or 'http'")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{path}.name: must be a string, got {name!r}")
    if "event" not in raw and "http" not in raw:  # a typo of one is likelier than neither
        _keys(raw, ("name", "event", "http", "expect"), path)
    if ("event" in raw) == ("http" in raw):
        raise ConfigError(f"{path}: a check needs exactly one of 'event' or 'http'")
    if "http" in raw:
        _keys(raw, ("name", "http"), path)
        spec = _mapping(raw["http"], f"{path}.http")
        _keys(spec, ("method", "path", "headers", "body", "expect_status", "body_contains"),
              f"{path}.http")
        url_path = spec.get("path")
        if not isinstance(url_path, str) or not url_path.startswith("/"):
            raise ConfigError(f"{path}.http.path: required, a path starting with /, "
                              f"got {url_path!r}")
        method = str(spec.get("method", "GET")).upper()
        if method not in _METHODS:
            raise ConfigError(f"{path}.http.method: must be one of {', '.join(_METHODS)}, "
                              f"got {spec.get('method')!r}")
        headers = _optional(spec, "headers", f"{path}.http")
        return HttpCheck(url_path, method, tuple((str(k), str(v)) for k, v in headers.items()),
                         spec.get("body"), _status(spec, "expect_status", f"{path}.http"),
                         spec.get("body_contains"), name)
    _keys(raw, ("name", "event", "expect"), path)
    expect = _optional(raw, "expect", path)
    _keys(expect, ("status_code", "no_function_error", "payload_contains"), f"{path}.expect")
    no_error = expect.get("no_function_error", True)
    if not isinstance(no_error, bool):
        raise ConfigError(f"{path}.expect.no_function_error: must be true or false, "
                          f"got {no_error!r}")
    return EventCheck(raw["event"], _status(expect, "status_code", f"{path}.expect"), no_error,
                      expect.get("payload_contains"), name)


def _status(raw: Mapping[str, Any], key: str, path: str) -> int:
    value = raw.get(key, 200)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ConfigError(f"{path}.{key}: must be an HTTP status from 100 to 599, got {value!r}")
    return value


def _mapping(value: object, path: str, what: str = "a mapping") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: must be {what}, got {value!r}")
    return value


def _optional(raw: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """``raw[key]``, a mapping, or {} when absent or null."""
    value = raw.get(key)
    return {} if value is None else _mapping(value, f"{path}.{key}")


def _keys(raw: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in raw:
        if key not in allowed:
            raise unknown_key_error(path, key, allowed)
