"""One control-plane quota for every process on a state store: the rate ledger.

Lambda's 15 requests/s are per account and region, not per process. Two terminals on one
machine, or several CI runners, each pacing themselves at 15/s would together exceed it and
meet 429s (a fleet deploy failing on throttling is how users of other tools meet the quota).
``LedgerLimiter`` has ``RateLimiter``'s one method, ``acquire``, but keeps its bucket in the
state store (``StateStore.reserve_rate``: one atomic update per call, the generic cell rate
algorithm), so every process using the same store — the same SQLite file, the same
DynamoDB table — draws from one bucket per target.

Here: the algorithm (``gcra``, a pure function each backend's ``reserve_rate`` applies in
one atomic update), the limiter on top of it, and the choice of limiter for a store
(``control_plane_limiter``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["LAMBDA_CONTROL_PLANE", "LedgerLimiter", "control_plane_limiter", "gcra"]

#: The ledger's name for Lambda's control-plane quota.
LAMBDA_CONTROL_PLANE = "lambda-control-plane"


def gcra(tat: float | None, now: float, rate: float, burst: int) -> tuple[float, float]:
    """One reservation of the generic cell rate algorithm: ``(wait, new tat)``.

    ``tat`` (theoretical arrival time) is when the quota would be back to a full burst;
    each call moves it ``1/rate`` later. A call may go ``(burst - 1) / rate`` before it,
    so up to ``burst`` calls go at once and then one every ``1/rate``: the same bound as
    ``aws.throttle.RateLimiter``, kept as one number a store can update atomically.
    """
    if not rate > 0 or burst < 1:
        raise ValueError(f"a quota needs rate > 0 and burst >= 1, got {rate!r}, {burst!r}")
    start = now if tat is None else max(tat, now)
    allowed_at = start - (burst - 1) / rate
    return max(0.0, allowed_at - now), start + 1.0 / rate


class LedgerLimiter:
    """A token bucket of ``rate`` per second and ``burst`` at once, kept in ``store``."""

    def __init__(self, store: Any, *, rate: float, burst: int, key: str = LAMBDA_CONTROL_PLANE,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.rate = float(rate)
        self.burst = burst
        self.key = key
        self._sleep = sleep

    def acquire(self) -> None:
        """Reserve the next slot in the store, then wait for it (outside any lock)."""
        wait = self.store.reserve_rate(self.key, self.rate, self.burst)
        if wait > 0:
            self._sleep(wait)

    def __repr__(self) -> str:
        return f"LedgerLimiter({self.store!r}, rate={self.rate:g}, burst={self.burst})"


def control_plane_limiter(store: Any, rate: float) -> Any:
    """The control-plane limiter: the store's rate ledger, shared by every process on it.

    A burst of a third of the quota: AWS's own bucket then keeps two thirds in reserve for
    requests that reach it bunched up (network jitter), so pacing at the full rate is not
    answered with 429s.
    """
    # Imported here: the backends import this module for ``gcra``, and reading a SQLite
    # store (``lambdashift history``) should not load botocore.
    from lambdashift.aws.throttle import RateLimiter

    burst = max(1, int(rate) // 3)
    if hasattr(store, "reserve_rate"):
        return LedgerLimiter(store, rate=rate, burst=burst)
    return RateLimiter(rate=rate, burst=burst)
