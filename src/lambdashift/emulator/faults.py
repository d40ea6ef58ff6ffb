"""Injected faults: a share of the emulator's calls answered badly, on purpose and seeded.

Off by default. Turned on at start (``lambdashift emulator --faults SPEC`` or the
``LAMBDASHIFT_FAULTS`` environment variable, which ``lambdashift local up`` passes on) or at
run time through the admin endpoint ``/_lambdashift/faults`` (GET: settings and counts;
PUT: a JSON spec, which also zeroes the counts; DELETE: off, counts kept).

A spec is JSON or ``key=value`` pairs separated by commas::

    control=0.2,invoke=0.05,seed=7,delay=0.05,control_kinds=throttle+error+drop_after

* ``control``: the share of control-plane calls (every Lambda API call but Invoke) that get
  a fault; its kind is drawn evenly from ``control_kinds`` (default: all of them):

  ``throttle``      429 TooManyRequestsException, the call not made
  ``error``         500 ServiceException, the call not made
  ``unavailable``   503 ServiceException, the call not made
  ``slow``          the call made after ``delay`` seconds
  ``drop``          the connection closed without an answer, the call not made
  ``error_after``   the call *made*, its answer replaced by a 500
  ``drop_after``    the call *made*, the connection closed instead of the answer

  The ``_after`` kinds are what a client cannot tell apart from the others and what makes
  a retried write ambiguous (its first attempt may have landed).
* ``invoke``: the share of invocations (Invoke and the HTTP API gateway) that get a fault
  from ``invoke_kinds`` (default ``error+slow``): ``error`` answers as a function that
  failed (Invoke: 200 with ``X-Amz-Function-Error: Unhandled``; gateway: 500), ``throttle``
  429 TooManyRequestsException, ``slow`` runs it after ``delay`` seconds. Injected
  invocation faults happen in front of the function, so the emulator's metrics do not see
  them.
* ``seed``: the draws come from ``random.Random(seed)``; with calls made one at a time the
  same seed gives the same faults.

lambdashift's own endpoints (``/_lambdashift/...``) never get a fault.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTROL_KINDS", "INVOKE_KINDS", "FaultInjector", "FaultSpec", "parse_spec", "wrap"]

CONTROL_KINDS = ("throttle", "error", "unavailable", "slow", "drop", "error_after", "drop_after")
INVOKE_KINDS = ("error", "throttle", "slow")
ADMIN_PATH = "/_lambdashift/faults"
_LAMBDA_PREFIXES = ("/2015-03-31/", "/2016-08-19/", "/2017-03-31/", "/2017-10-31/", "/2019-09-30/")


@dataclass(frozen=True)
class FaultSpec:
    """Which share of calls gets which faults; the default injects none."""

    control: float = 0.0
    invoke: float = 0.0
    control_kinds: tuple[str, ...] = CONTROL_KINDS
    invoke_kinds: tuple[str, ...] = ("error", "slow")
    delay: float = 0.2
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("control", "invoke"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"faults: {name} must be a share from 0 to 1, got {share!r}")
        for name, allowed in (("control_kinds", CONTROL_KINDS), ("invoke_kinds", INVOKE_KINDS)):
            kinds = getattr(self, name)
            unknown = [k for k in kinds if k not in allowed]
            if unknown or not kinds:
                raise ValueError(f"faults: {name} must be some of {'+'.join(allowed)}, got "
                                 f"{'+'.join(kinds) or 'nothing'}")
        if not 0.0 <= self.delay <= 60.0:
            raise ValueError(f"faults: delay must be 0 to 60 seconds, got {self.delay!r}")

    @property
    def active(self) -> bool:
        """True when any call can get a fault."""
        return self.control > 0 or self.invoke > 0

    def to_json(self) -> dict[str, Any]:
        """The spec as the admin endpoint shows it."""
        return asdict(self)


def parse_spec(text: str | dict[str, Any]) -> FaultSpec:
    """A :class:`FaultSpec` from JSON, a mapping or ``key=value,...``; ValueError if bad."""
    if isinstance(text, str) and text.strip().startswith("{"):
        try:
            text = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"faults: not valid JSON: {exc}") from None
    if isinstance(text, str):
        pairs: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"faults: expected key=value, got {part!r}")
            pairs[key.strip()] = value.strip()
        text = pairs
    if not isinstance(text, dict):
        raise ValueError("faults: expected a JSON object or key=value pairs")
    allowed = {f for f in FaultSpec.__dataclass_fields__}
    unknown = sorted(set(text) - allowed)
    if unknown:
        raise ValueError(f"faults: unknown key {unknown[0]!r} (expected one of: {', '.join(sorted(allowed))})")
    values: dict[str, Any] = {}
    try:
        for key, raw in text.items():
            if key in ("control", "invoke", "delay"):
                if isinstance(raw, bool):
                    raise TypeError
                values[key] = float(raw)
            elif key == "seed":
                values[key] = None if raw is None else int(raw)
            else:
                kinds = raw.split("+") if isinstance(raw, str) else list(raw)
                if not all(isinstance(k, str) for k in kinds):
                    raise TypeError
                values[key] = tuple(k.strip() for k in kinds if k.strip())
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"faults: bad value for {key!r}: {raw!r}") from None
    return FaultSpec(**values)


@dataclass
class FaultInjector:
    """The spec in force, the seeded draws, and what was injected (shared by both apps)."""

    spec: FaultSpec = field(default_factory=FaultSpec)
    seen: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.spec.seed)

    def configure(self, spec: FaultSpec) -> None:
        """Put ``spec`` in force, re-seed, zero the counts."""
        with self._lock:
            self.spec = spec
            self._rng = random.Random(spec.seed)
            self.seen.clear()
            self.injected.clear()

    def draw(self, plane: str) -> str | None:
        """The fault for the next call of ``plane`` ("control" or "invoke"), or None."""
        with self._lock:
            spec = self.spec
            share, kinds = ((spec.control, spec.control_kinds) if plane == "control"
                            else (spec.invoke, spec.invoke_kinds))
            if share <= 0:
                return None
            self.seen[plane] += 1
            if self._rng.random() >= share:
                return None
            kind = kinds[self._rng.randrange(len(kinds))]
            self.injected[f"{plane}:{kind}"] += 1
            return kind

    def report(self) -> dict[str, Any]:
        """Settings and counts, for ``GET /_lambdashift/faults``."""
        with self._lock:
            return {"faults": self.spec.to_json(), "active": self.spec.active,
                    "seen": dict(self.seen), "injected": dict(self.injected),
                    "injected_total": sum(self.injected.values())}


def wrap(app: ASGIApp, injector: FaultInjector, *, gateway: bool = False) -> ASGIApp:
    """``app`` behind the injector: the Lambda API's (or, with ``gateway``, the HTTP API's)."""

    async def faulty(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == ADMIN_PATH and not gateway:
            await _admin(scope, receive, send, injector)
            return
        plane = _plane(scope["method"], path, gateway)
        kind = injector.draw(plane) if plane and injector.spec.active else None
        if kind is None:
            await app(scope, receive, send)
        elif kind == "slow":
            await asyncio.sleep(injector.spec.delay)
            await app(scope, receive, send)
        elif kind in ("drop", "drop_after"):
            if kind == "drop_after":
                await app(scope, receive, _swallow)
            await _drop(receive, send)
        elif kind == "error_after":
            await app(scope, receive, _swallow)
            await _aws_error(send, 500, "ServiceException", "Internal error (injected fault, "
                             "after the call was made)")
        elif plane == "invoke" and kind == "error":
            await _function_error(send, gateway)
        elif kind == "throttle":
            await _aws_error(send, 429, "TooManyRequestsException", "Rate exceeded (injected fault)",
                             Reason="CallerRateLimitExceeded")
        else:  # error, unavailable
            status = 503 if kind == "unavailable" else 500
            await _aws_error(send, status, "ServiceException",
                             f"Service {'unavailable' if status == 503 else 'error'} (injected fault)")
    return faulty


def _plane(method: str, path: str, gateway: bool) -> str | None:
    if path.startswith("/_lambdashift/"):
        return None
    if gateway:
        return "invoke"
    if not path.startswith(_LAMBDA_PREFIXES):
        return None  # unknown paths get their UnknownOperation answer, unfaulted
    return "invoke" if method == "POST" and path.endswith("/invocations") else "control"


async def _swallow(message: Message) -> None:
    """A ``send`` that throws the app's answer away (the call happened; its answer is lost)."""


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _aws_error(send: Send, status: int, error_type: str, message: str, **extra: str) -> None:
    body = json.dumps({"Type": "Service" if status >= 500 else "User", "Message": message,
                       "message": message, **extra}).encode()
    await _send(send, status, body, [(b"x-amzn-errortype", error_type.encode())])


async def _function_error(send: Send, gateway: bool) -> None:
    if gateway:  # what API Gateway answers when the integration fails
        await _send(send, 500, b'{"message":"Internal Server Error"}', [])
        return
    body = json.dumps({"errorMessage": "injected fault", "errorType": "InjectedFault"}).encode()
    await _send(send, 200, body, [(b"x-amz-function-error", b"Unhandled"),
                                  (b"x-amz-executed-version", b"$LATEST")])


async def _drop(receive: Receive, send: Send) -> None:
    """Close the connection without an answer.

    uvicorn's ``send`` is a bound method of its request cycle, which holds the socket's
    transport: closing it is what a crashed server or a cut network looks like. Then wait
    for uvicorn to notice (``http.disconnect``), so that it does not try to answer for us.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # another server: a truncated answer is the nearest thing
        await send({"type": "http.response.start", "status": 500,
                    "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"{"})
        return
    transport.close()
    try:
        async with asyncio.timeout(2.0):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass


async def _admin(scope: Scope, receive: Receive, send: Send, injector: FaultInjector) -> None:
    method = scope["method"]
    if method == "PUT":
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            injector.configure(parse_spec(json.loads(raw or b"{}")))
        except (ValueError, UnicodeDecodeError) as exc:
            await _aws_error(send, 400, "InvalidParameterValueException", str(exc))
            return
    elif method == "DELETE":
        spec = injector.spec
        seen, injected = Counter(injector.seen), Counter(injector.injected)
        injector.configure(FaultSpec(seed=spec.seed))
        injector.seen.update(seen)
        injector.injected.update(injected)
    elif method != "GET":
        await _aws_error(send, 405, "UnknownOperationException", f"{method} {ADMIN_PATH}: use GET, PUT or DELETE")
        return
    await _send(send, 200, json.dumps(injector.report()).encode(), [])
