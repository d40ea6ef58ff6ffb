"""One control-plane quota for every process on a state store: the rate ledger.

Lambda's 15 requests/s are per account and region, not per process. Two terminals on one
machine, or several CI runners, each pacing themselves at 15/s would together exceed it and
meet 429s (a fleet deploy failing on throttling is how users of other tools meet the quota).
``LedgerLimiter`` has ``RateLimiter``'s one method, ``acquire``, but keeps its bucket in the
state store (``StateStore.reserve_rate``: one atomic update per call, the generic cell rate
algorithm), so every process using the same store — the same SQLite file, the same
DynamoDB table — draws from one bucket per target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: The ledger's name for Lambda's control-plane quota.
LAMBDA_CONTROL_PLANE = "lambda-control-plane"


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
