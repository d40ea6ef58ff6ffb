"""Per-version invocation metrics, the emulator's stand-in for CloudWatch's AWS/Lambda.

Every invocation is recorded with the qualifier it was called with and the version that
ran, like CloudWatch's ``Resource``/``ExecutedVersion`` dimensions. Records are kept in a
bounded ring per function (the newest win) and served raw or summarised over a time span.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, NamedTuple

#: Records kept per function; at 1,000 invocations/s this is more than three minutes.
RING_SIZE = 200_000


class InvocationRecord(NamedTuple):
    """One invocation as metrics see it.

    The recorder keeps each as a plain ``tuple`` of its values: CPython's collector stops
    tracking an exact tuple of untracked values, so the hundreds of thousands a busy emulator
    keeps cost no pause of a full collection (kept as objects, they made 35-260 ms pauses
    that set the emulator's p99 under load). Queries build records again."""

    timestamp: float          # seconds since the epoch, when the invocation ended
    function_name: str
    qualifier: str            # what the caller named: "$LATEST", a version or an alias
    executed_version: str     # the version that ran (or would have run, when throttled)
    duration_ms: float
    init_duration_ms: float | None
    error: bool
    throttled: bool


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class MetricsRecorder:
    """Keeps invocation records and answers queries over them."""

    def __init__(self, ring_size: int = RING_SIZE) -> None:
        self._ring_size = ring_size
        self._records: dict[str, deque[tuple[Any, ...]]] = {}  # exact tuples: see above

    def record(self, record: InvocationRecord) -> None:
        """Keep one invocation's record."""
        ring = self._records.get(record.function_name)
        if ring is None:
            ring = self._records[record.function_name] = deque(maxlen=self._ring_size)
        ring.append(tuple(record))

    def records(self, function_name: str, since: float = 0.0, until: float = math.inf,
                qualifier: str | None = None) -> list[InvocationRecord]:
        """Records of one function in [since, until), optionally for one qualifier."""
        ring = self._records.get(function_name, ())
        # Fields by position: 0 timestamp, 2 qualifier (the tuples are InvocationRecord's).
        return [InvocationRecord._make(r) for r in ring if since <= r[0] < until
                and (qualifier is None or r[2] == qualifier)]

    def summary(self, function_name: str, since: float = 0.0, until: float = math.inf,
                qualifier: str | None = None) -> dict[str, Any]:
        """Counts and duration percentiles per (qualifier, executed version)."""
        groups: dict[tuple[str, str], list[InvocationRecord]] = {}
        for r in self.records(function_name, since, until, qualifier):
            groups.setdefault((r.qualifier, r.executed_version), []).append(r)
        out = []
        for (qual, version), rs in sorted(groups.items()):
            ran = [r for r in rs if not r.throttled]
            warm = sorted(r.duration_ms for r in ran if r.init_duration_ms is None)
            out.append({
                "Qualifier": qual,
                "ExecutedVersion": version,
                "Invocations": len(ran),
                "Errors": sum(r.error for r in ran),
                "Throttles": sum(r.throttled for r in rs),
                "ColdStarts": sum(r.init_duration_ms is not None for r in ran),
                "Duration": {
                    "Count": len(ran),
                    "WarmCount": len(warm),
                    "p50": _percentile(warm, 50),
                    "p90": _percentile(warm, 90),
                    "p99": _percentile(warm, 99),
                    "Max": warm[-1] if warm else None,
                },
            })
        return {"FunctionName": function_name, "Since": since,
                "Until": None if until == math.inf else until, "Versions": out}

    def forget(self, function_name: str) -> None:
        """Drop a deleted function's records."""
        self._records.pop(function_name, None)


def record_to_json(record: InvocationRecord) -> dict[str, Any]:
    """A record as the metrics endpoint serves it."""
    return record._asdict()
