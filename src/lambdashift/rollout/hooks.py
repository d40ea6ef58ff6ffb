"""Checks around traffic shifts, and webhooks that tell the outside world what a rollout does.

**Checks.** :class:`PreTrafficCheck` runs before the candidate takes any traffic: it invokes
the candidate *version* directly with test events, and sends HTTP requests to a base URL
that reaches the ``dev`` alias (the local stack's ``/_dev`` prefix). :class:`PostTrafficCheck`
runs after the alias serves the candidate alone: events go through the rollout's alias, HTTP
requests to the API itself. ``run(state)`` returns the failures in words; empty means pass.

Config, under ``hooks:`` in lambdashift.yaml; checks at the top run for every function,
then those under ``functions.<name>`` for that function::

    hooks:
      timeout: 10s                       # per HTTP request (default 10s)
      pre_traffic:
        - http: {method: GET, path: /notes, expect_status: 200}
      post_traffic:
        - name: list notes
          http:
            path: /notes                 # method GET, expect_status 200 by default
            headers: {accept: application/json}
            body_contains: {items: []}   # the JSON body holds at least these keys and values
      functions:
        notes-get:
          pre_traffic:
            - name: known note
              event: {pathParameters: {id: "1"}}
              expect:                    # these are the defaults but payload_contains
                status_code: 200
                no_function_error: true
                payload_contains: {statusCode: 200}

An ``http`` check also takes ``body`` (sent as JSON). ``payload_contains`` and
``body_contains`` match a subset: every key given must be there with a matching value,
recursively; lists must match whole.

**Webhooks.** :class:`WebhookNotifier` (in ``rollout.webhooks``, re-exported here) is the
engine's ``notify(state, note)`` callback: it POSTs ``{"event", "function", "rollout_id",
"stable", "candidate", "phase", "step", "traffic", "details", "at"}`` as JSON to each URL
(``step`` counts from 0; ``at`` is the rollout's clock). A list of URLs alone is accepted
too (``webhooks: [https://...]``). Config::

    webhooks:
      urls: [https://hooks.example.com/deploys]
      events: [started, verdict, rolled_back, failed]   # default: all but write_failed
      timeout: 5s                                       # per attempt
      attempts: 4                                       # retried with backoff: 0.5s, 1s, 2s

Delivery runs on one background thread per URL with a bounded queue (the oldest note is
dropped when full), so a slow or dead webhook never delays the rollout: a rollback does not
wait for anyone. ``close(timeout)`` delivers what is queued, for at most ``timeout`` seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from lambdashift.core.machine import RolloutState
from lambdashift.core.strategy import parse_duration, unknown_key_error
from lambdashift.errors import ConfigError, LambdashiftError
from lambdashift.rollout.webhooks import DEFAULT_EVENTS, WebhookNotifier, parse_webhooks

if TYPE_CHECKING:
    from lambdashift.aws.lambda_api import InvokeApi

__all__ = ["DEFAULT_EVENTS", "EventCheck", "HookConfig", "HttpCheck", "PostTrafficCheck",
           "PreTrafficCheck", "WebhookNotifier", "parse_hooks", "parse_webhooks"]

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


# --- checks: values and config -------------------------------------------------------------


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


def parse_hooks(raw: Mapping[str, Any] | None, function: str | None = None, *,
                functions: Sequence[str] | None = None, path: str = "hooks") -> HookConfig:
    """The checks for ``function`` (or the global ones) from the ``hooks`` mapping.

    The whole mapping is validated whatever ``function`` is; ``functions`` (the names in
    lambdashift.yaml) lets a misspelt name under ``hooks.functions`` be refused.
    """
    raw = _mapping({} if raw is None else raw, path)
    _keys(raw, ("timeout", "pre_traffic", "post_traffic", "functions"), path)
    timeout = parse_duration(raw["timeout"], f"{path}.timeout") if "timeout" in raw else 10.0
    pre, post = _lists(raw, path)
    own = _optional(raw, "functions", path)
    result: tuple[tuple[Check, ...], tuple[Check, ...]] = ((), ())
    for name, spec in own.items():
        where = f"{path}.functions.{name}"
        if functions is not None and name not in functions:
            raise unknown_key_error(f"{path}.functions", name, list(functions))
        spec = _mapping({} if spec is None else spec, where)
        _keys(spec, ("pre_traffic", "post_traffic"), where)
        lists = _lists(spec, where)
        if name == function:
            result = lists
    return HookConfig((*pre, *result[0]), (*post, *result[1]), timeout)


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


# --- checks: running them ------------------------------------------------------------------


class _Checks:
    kind = ""

    def __init__(self, checks: Sequence[Check], *, lambda_api: InvokeApi | None = None,
                 base_url: str | None = None, timeout: float = 10.0) -> None:
        """``lambda_api`` runs event checks, ``base_url`` is where HTTP checks go."""
        self.checks = tuple(checks)
        if any(isinstance(c, EventCheck) for c in self.checks) and lambda_api is None:
            raise ValueError(f"{self.kind} event checks need a Lambda API to invoke")
        if any(isinstance(c, HttpCheck) for c in self.checks) and not base_url:
            raise ConfigError(f"hooks.{self.kind.replace('-', '_')}: HTTP checks need an API "
                              "URL, and this target has none")
        self.lambda_api = lambda_api
        self.base_url = (base_url or "").rstrip("/")
        self.timeout = timeout

    def _qualifier(self, state: RolloutState) -> str:
        raise NotImplementedError

    def run(self, state: RolloutState) -> list[str]:
        """Run every check; the failures in words, each naming its check (empty = pass)."""
        failures: list[str] = []
        with httpx.Client(timeout=self.timeout) as http:
            for check in self.checks:
                if isinstance(check, EventCheck):
                    problem = self._event(check, state)
                else:
                    problem = self._http(check, http)
                if problem:
                    failures.append(f"{self.kind} check '{check.label}': {problem}")
        return failures

    def _event(self, check: EventCheck, state: RolloutState) -> str:
        qualifier = self._qualifier(state)
        try:
            out = self.lambda_api.invoke(state.function, qualifier,  # type: ignore[union-attr]
                                         json.dumps(check.event).encode())
        except LambdashiftError as exc:
            return f"invoking {state.function}:{qualifier} failed: {exc}"
        raw = out.payload or b""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if out.status != check.status_code:
            return f"expected status {check.status_code}, got {out.status}"
        if check.no_function_error and out.function_error:
            return f"function error {out.function_error}: {text[:200]}"
        if out.executed_version and out.executed_version != state.candidate:
            return f"version {out.executed_version} ran, not the candidate {state.candidate}"
        if check.payload_contains is not None:
            return _contains(text, check.payload_contains, "payload")
        return ""

    def _http(self, check: HttpCheck, http: httpx.Client) -> str:
        url = self.base_url + check.path
        kwargs: dict[str, Any] = {"headers": dict(check.headers)}
        if check.body is not None:
            kwargs["json"] = check.body
        try:
            response = http.request(check.method, url, **kwargs)
        except httpx.HTTPError as exc:
            return f"{check.method} {url} failed: {type(exc).__name__}: {exc}"
        if response.status_code != check.expect_status:
            return (f"expected status {check.expect_status}, got {response.status_code}: "
                    f"{response.text[:200]}")
        if check.body_contains is not None:
            return _contains(response.text, check.body_contains, "body")
        return ""


class PreTrafficCheck(_Checks):
    """Before any traffic: events to the candidate version, HTTP to the dev alias's URL."""

    kind = "pre-traffic"

    def _qualifier(self, state: RolloutState) -> str:
        return state.candidate


class PostTrafficCheck(_Checks):
    """With all traffic on the candidate: events through the alias, HTTP to the API's URL."""

    kind = "post-traffic"

    def _qualifier(self, state: RolloutState) -> str:
        return state.alias


def _contains(text: str, expected: Any, where: str) -> str:
    try:
        actual = json.loads(text)
    except ValueError:
        return f"{where} is not JSON: {text[:200]}"
    return _subset(actual, expected, where)


def _subset(actual: Any, expected: Any, where: str) -> str:
    """"" when ``expected`` is found in ``actual``, else where and how they differ."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{where} is {json.dumps(actual)[:100]}, expected an object"
        for key, value in expected.items():
            if key not in actual:
                return f"{where} has no key {key!r}"
            problem = _subset(actual[key], value, f"{where}.{key}")
            if problem:
                return problem
        return ""
    if actual != expected:
        return f"{where} is {json.dumps(actual)[:100]}, expected {json.dumps(expected)[:100]}"
    return ""
