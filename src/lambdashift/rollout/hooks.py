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
from typing import TYPE_CHECKING, Any

import httpx

from lambdashift.config.hooks import (  # the section is parsed there, once
    Check,
    EventCheck,
    HookConfig,
    Hooks,
    HttpCheck,
    parse_hooks,
)
from lambdashift.core.machine import RolloutState
from lambdashift.core.matching import mismatch
from lambdashift.errors import ConfigError, LambdashiftError
from lambdashift.rollout.webhooks import DEFAULT_EVENTS, WebhookNotifier, parse_webhooks

if TYPE_CHECKING:
    from lambdashift.aws.lambda_api import InvokeApi

__all__ = ["DEFAULT_EVENTS", "EventCheck", "HookConfig", "Hooks", "HttpCheck", "PostTrafficCheck",
           "PreTrafficCheck", "WebhookNotifier", "parse_hooks", "parse_webhooks"]


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
    return mismatch(actual, expected, where)


