"""Pacing and retrying calls to Lambda: one shared rate limiter, one retry policy.

Lambda's control plane (every API call but Invoke, GetFunction and GetPolicy) allows
15 requests per second per account and region, and the quota cannot be raised. Several
rollouts run at once in one process, so they share *one* :class:`RateLimiter`: each
attempt of each call takes a token first, and the process as a whole stays under the quota
instead of every rollout discovering it through 429s.

:class:`RetryPolicy` retries what is worth retrying, and nothing else:

* throttling (``TooManyRequestsException``, ``ThrottlingException``, ``Throttling``,
  ``RequestLimitExceeded``, or any HTTP 429);
* server errors (HTTP 5xx, ``ServiceException``) and connection failures
  (``EndpointConnectionError``, ``ConnectionClosedError``, ``ReadTimeoutError``).

Every other error surfaces at once; above all ``PreconditionFailedException`` (412): a stale
RevisionId means someone else changed the resource, and trying again cannot fix that.
Waits follow "Exponential Backoff And Jitter" (AWS Architecture Blog), *full jitter*: before
retry ``n`` (0-based) sleep ``uniform(0, min(cap, base * 2**n))``. Nothing else is honoured
(no Retry-After header: Lambda sends none).

Retrying a write is not free. A request that timed out or got a 5xx may have *succeeded*
server-side; its retry then carries a RevisionId that is no longer current and fails with
PreconditionFailed although the change we wanted is in place. So a ``RevisionMismatchError``
(or ``ConflictError`` from a create) after a *retried* attempt is ambiguous, and the caller
must compare the resource with its intent: equal means the write happened. ``LambdaApi``
does exactly that for the writes it offers (``update_alias``, ``create_alias``,
``update_code``, ``update_configuration``). When the policy gives up on a write instead
(throttled or 5xx on every attempt), the write may still have happened: the engine reads
the alias and reconciles it with its persisted intent, as it does after a crash.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from lambdashift.errors import AwsError, ThrottledError

__all__ = [
    "CONNECTION_ERRORS",
    "NO_LIMIT",
    "THROTTLING_CODES",
    "RateLimiter",
    "RetryPolicy",
    "is_retryable",
    "is_throttling",
]

T = TypeVar("T")

#: Error codes that mean "too many requests, slow down".
THROTTLING_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)
#: Failures to get an answer: the request may or may not have reached the service.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    EndpointConnectionError,
    ConnectionClosedError,
    ReadTimeoutError,
)


class RateLimiter:
    """A thread-safe token bucket: ``rate`` tokens per second, at most ``burst`` saved up.

    :meth:`acquire` *reserves* the next token under a lock and then sleeps, outside the lock,
    until that token exists; waiting threads are thus served in the order they arrived and
    wake at their own time, with no thundering herd. Over any interval of ``t`` seconds at
    most ``burst + rate * t`` tokens are granted. ``rate=math.inf`` never waits (``NO_LIMIT``).
    """

    def __init__(
        self,
        rate: float = 15.0,
        burst: int = 15,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)  # may go negative: tokens promised to waiting callers
        self._updated: float | None = None  # when _tokens was last brought up to date

    def acquire(self) -> None:
        """Block until a token is free, and take it."""
        if math.isinf(self.rate):
            return
        with self._lock:
            now = self._clock()
            if self._updated is None:
                self._updated = now
            elif now > self._updated:
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
            self._tokens -= 1.0
            ready_at = self._updated + max(0.0, -self._tokens) / self.rate
        wait = ready_at - now
        if wait > 0:
            self._sleep(wait)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}, burst={self.burst})"


#: A limiter that never waits: for tests, and for endpoints without a quota.
NO_LIMIT = RateLimiter(rate=math.inf)


def _error_code(exc: ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status or 0)


def is_throttling(exc: BaseException) -> bool:
    """True for AWS's "slow down" answers: a throttling error code or HTTP 429."""
    if not isinstance(exc, ClientError):
        return False
    code, status = _error_code(exc)
    return code in THROTTLING_CODES or status == 429


def is_retryable(exc: BaseException) -> bool:
    """True for errors a retry may cure: throttling, 5xx, ServiceException, connection errors."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    if not isinstance(exc, ClientError):
        return False
    code, status = _error_code(exc)
    return is_throttling(exc) or status >= 500 or code == "ServiceException"


class RetryPolicy:
    """Retry throttling, server and connection errors with capped, fully jittered backoff.

    ``max_attempts`` counts the first attempt; ``base`` and ``cap`` are seconds. Give ``rng``
    a seeded ``random.Random`` to make the waits reproducible.
    """

    def __init__(
        self,
        max_attempts: int = 8,
        base: float = 0.2,
        cap: float = 20.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        if base < 0 or cap < 0:
            raise ValueError(f"base and cap must not be negative, got {base!r}, {cap!r}")
        self.max_attempts = max_attempts
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0 for the first retry): full jitter."""
        ceiling = min(self.cap, self.base * 2.0 ** min(retry, 64))
        return self._rng.uniform(0.0, ceiling)

    def call(self, fn: Callable[[], T], *, operation: str, throttling_only: bool = False) -> T:
        """Return ``fn()``, retrying it as the policy says.

        ``throttling_only`` retries throttling and ``EndpointConnectionError`` (the request
        never left) but nothing else: for calls that must not run twice, such as Invoke.

        Errors that are not retried propagate unchanged (the caller translates them). When
        every attempt failed: throttling → :class:`ThrottledError`; a server error →
        :class:`AwsError`; a connection error → the last botocore exception itself, since
        only the caller knows which endpoint it could not reach. The message names
        ``operation`` and the number of attempts.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except Exception as exc:
                if not self._should_retry(exc, throttling_only):
                    raise
                if attempt == self.max_attempts:
                    if not isinstance(exc, ClientError):
                        raise  # a connection error: the caller words it with its endpoint
                    raise self._give_up(exc, operation, attempt) from exc
                self._sleep(self.backoff(attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _should_retry(exc: Exception, throttling_only: bool) -> bool:
        if throttling_only:
            return is_throttling(exc) or isinstance(exc, EndpointConnectionError)
        return is_retryable(exc)

    @staticmethod
    def _give_up(exc: ClientError, operation: str, attempts: int) -> AwsError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        code, status = _error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if is_throttling(exc):
            return ThrottledError(
                f"{operation} was throttled by AWS ({code or status}) on all {tries}: "
                "the Lambda control plane allows 15 requests per second per account and region",
                code=code, operation=operation,
            )
        return AwsError(
            f"{operation} failed on all {tries} with a server error: {code} (HTTP {status})"
            + (f": {message}" if message else ""),
            code=code, operation=operation,
        )
