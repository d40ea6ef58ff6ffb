"""The candidate gate: a version serves before it gets any traffic.

Before the first alias write of every rollout (every strategy, every member of a group,
with pre-warming on or off), the engine invokes the candidate *version* directly, by its
number, never through the alias, so that no user request can reach it. The rollout stops
with no alias write when that invocation:

* fails to initialise: ``Runtime.ImportModuleError``, ``Runtime.UserCodeSyntaxError``, an
  exception raised at import, ``Runtime.HandlerNotFound``, a runtime that exited, an init
  that timed out;
* ends in any other unhandled error (``X-Amz-Function-Error``), a timeout included;
* or, for a smoke request, answers something its ``expect`` does not match.

What it sends: the smoke requests of ``rollout.smoke`` when there are some, else
:data:`~lambdashift.rollout.prewarm.PREWARM_EVENT` (``{"lambdashift": "prewarm"}``), which
a handler may answer at once: the point is that the version initialises and answers without
an unhandled error. Config (top-level ``rollout`` or a function's own ``rollout``)::

    rollout:
      strategy: blue-green
      smoke:                               # one request, or a list of them
        name: list notes                   # optional, for the messages
        event: {rawPath: /notes, requestContext: {http: {method: GET}}}
        expect: {statusCode: 200}          # a subset of the JSON answer (see :func:`mismatch`)

The rejection carries the error type and message and the invocation's log lines: the
``LogType: Tail`` of the Invoke call, the last 4 KB of the invocation's logs, on AWS as on
the local stack. The engine records it in the rollout's step log as ``candidate_rejected``
and ends the rollout ``rolled_back`` with the reason ``check failed: pre-traffic: ...``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdashift.config.rollout import Smoke, parse_smoke  # the section is parsed there
from lambdashift.core.machine import Notify, RolloutState
from lambdashift.core.matching import mismatch
from lambdashift.errors import LambdashiftError, ThrottledError
from lambdashift.rollout.prewarm import PREWARM_EVENT

if TYPE_CHECKING:
    from lambdashift.aws.lambda_api import InvokeApi

__all__ = ["PRE_TRAFFIC", "REJECTED", "CandidateGate", "Smoke", "mismatch", "parse_smoke",
           "rejected_before_traffic", "rejection"]

#: The step-log event (and the Notify) of a candidate stopped before any traffic.
REJECTED = "candidate_rejected"
#: How the reason of a rollout stopped before any traffic begins (the machine's CheckFailed).
PRE_TRAFFIC = "check failed: pre-traffic: "

#: Error types that mean the execution environment never initialised (AWS's Python runtime).
INIT_ERRORS = ("Runtime.ImportModuleError", "Runtime.UserCodeSyntaxError",
               "Runtime.HandlerNotFound", "Runtime.MalformedHandlerName",
               "Runtime.BuiltInModuleConflict", "Runtime.ExitError", "Sandbox.Timedout")
_LOG_LINES = 40  # at most this many log lines in the rejection (the whole tail stays in history)


def rejection(version: str, result: Any, smoke: Smoke | None) -> dict[str, Any] | None:
    """The details of a rejection from one invocation's result, or None when it passed.

    ``result`` is a :class:`~lambdashift.aws.lambda_api.InvokeResult` (status, function
    error, payload, logs).
    """
    text = result.payload.decode("utf-8", "replace") if isinstance(result.payload, bytes) \
        else str(result.payload or "")
    logs = [line for line in (getattr(result, "logs", "") or "").splitlines() if line.strip()]
    base = {"version": version, "request": smoke.label if smoke else "pre-warm event",
            "logs": logs[-_LOG_LINES:]}
    if result.function_error:
        try:
            body = json.loads(text)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        message = str(body.get("errorMessage") or text[:300] or "no message")
        kind = str(body.get("errorType") or ("Sandbox.Timedout" if "timed out" in message
                                              else result.function_error))
        stage = "init" if kind in INIT_ERRORS else "invoke"
        return {**base, "error_type": kind, "message": message, "stage": stage}
    if smoke is not None and smoke.expect is not None:
        try:
            answer = json.loads(text) if text.strip() else None
        except ValueError:
            answer = text
        problem = mismatch(answer, smoke.expect)
        if problem:
            return {**base, "error_type": "SmokeMismatch", "message": problem, "stage": "smoke"}
    return None


def reason_of(details: Mapping[str, Any]) -> str:
    """One line: which version, which request, which error (the logs follow it elsewhere)."""
    what = {"init": "failed to initialise", "invoke": "failed",
            "smoke": "answered wrongly", "unreachable": "could not be invoked"}
    return (f"candidate version {details.get('version')} "
            f"{what.get(str(details.get('stage')), 'failed')} on the {details.get('request')} "
            f"before any traffic: {details.get('error_type')}: {details.get('message')}")


def rejected_before_traffic(state: RolloutState) -> str | None:
    """Why a check rejected this rollout's candidate before any traffic (this gate or a
    pre-traffic hook), or None: for ``rollback --to``, which must not send traffic to it.
    A group member stopped because *another* member's candidate failed is not rejected."""
    reason = state.reason or ""
    if state.phase.value != "rolled_back" or not reason.startswith(PRE_TRAFFIC):
        return None
    if reason[len(PRE_TRAFFIC):].startswith("group "):
        return None
    return reason


@dataclass
class CandidateGate:
    """The engine's ``gate`` hook: ``gate(state)`` is a ``Notify(REJECTED, details)`` when the
    candidate must get no traffic, else None."""

    api: InvokeApi
    #: The smoke requests of a function (``rollout.smoke``); () sends the pre-warm event.
    smoke_for: Callable[[str], Sequence[Smoke]] = lambda function: ()
    #: A throttled invocation is tried again this many times (the limit is not the code's fault).
    attempts: int = 4
    sleep: Callable[[float], None] = time.sleep

    def __call__(self, state: RolloutState) -> Notify | None:
        requests: Sequence[Smoke | None] = tuple(self.smoke_for(state.function)) or (None,)
        for smoke in requests:
            event = smoke.event if smoke is not None else dict(PREWARM_EVENT)
            details = self._one(state, json.dumps(event).encode(), smoke)
            if details is not None:
                return Notify(REJECTED, {**details, "reason": reason_of(details)})
        return None

    def _one(self, state: RolloutState, payload: bytes, smoke: Smoke | None) -> dict[str, Any] | None:
        for attempt in range(self.attempts):
            try:
                result = self.api.invoke(state.function, state.candidate, payload, tail=True)
            except ThrottledError:
                if attempt + 1 < self.attempts:
                    self.sleep(0.5 * 2 ** attempt)
                    continue
                problem = "throttled on every attempt (the function is at its concurrency limit)"
            except LambdashiftError as exc:
                problem = str(exc)
            else:
                return rejection(state.candidate, result, smoke)
            return {"version": state.candidate,
                    "request": smoke.label if smoke else "pre-warm event", "logs": [],
                    "error_type": "InvokeFailed", "message": problem, "stage": "unreachable"}
        return None  # pragma: no cover - the loop always returns
