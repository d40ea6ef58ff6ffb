"""What the judge is given: cumulative counts and warm-latency histograms per version.

Counts are cumulative since the analysis started, as the engine reads them from CloudWatch
(``Invocations``, ``Errors``, ``Throttles`` and ``Duration`` per ``ExecutedVersion``) or from
the local emulator. Latency is *warm* latency only: Lambda's Duration, never the Init Duration
of a cold start, and cold invocations are left out altogether, because a new version starts
cold and would otherwise look slower than the stable for no fault of its code.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_BOUNDS_MS", "Invocation", "LatencyHistogram", "VersionStats", "peak_concurrency"]

# Bucket edges for warm durations: 0.1 ms to 15 min, each 5% above the previous one.
DEFAULT_BOUNDS_MS: tuple[float, ...] = tuple(
    float(f"{0.1 * 1.05**i:.6g}") for i in range(int(math.log(9e6) / math.log(1.05)) + 2)
)

@dataclass(frozen=True)
class LatencyHistogram:
    """Counts of warm durations per bucket: ``counts[i]`` is in ``(bounds[i-1], bounds[i]]``.

    The last count is above the last bound. Histograms are cumulative like the other counters.
    """

    bounds_ms: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds_ms", tuple(float(b) for b in self.bounds_ms))
        object.__setattr__(self, "counts", tuple(int(c) for c in self.counts))
        if len(self.counts) != len(self.bounds_ms) + 1:
            raise ValueError("a histogram needs one count more than it has bounds")
        if any(a <= b for b, a in zip(self.bounds_ms, self.bounds_ms[1:])):
            raise ValueError("histogram bounds must increase")
        if any(c < 0 for c in self.counts):
            raise ValueError("histogram counts must not be negative")

    @classmethod
    def from_durations(
        cls, durations_ms: Iterable[float], bounds_ms: Sequence[float] = DEFAULT_BOUNDS_MS
    ) -> LatencyHistogram:
        counts = [0] * (len(bounds_ms) + 1)
        for d in durations_ms:
            counts[bisect.bisect_left(bounds_ms, d)] += 1
        return cls(tuple(bounds_ms), tuple(counts))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def count_above(self, threshold_ms: float) -> int:
        """Samples in the buckets that lie wholly above ``threshold_ms`` (a bucket bound)."""
        return sum(self.counts[bisect.bisect_left(self.bounds_ms, threshold_ms) + 1 :])

    def quantile_bound(self, q: float) -> float:
        """The upper bound of the bucket holding the ``q`` quantile (at or above the quantile)."""
        need, seen = q * self.total, 0
        for i, c in enumerate(self.counts[:-1]):
            seen += c
            if seen >= need:
                return self.bounds_ms[i]
        return self.bounds_ms[-1]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, interpolated geometrically inside its bucket."""
        total = self.total
        if total == 0:
            return math.nan
        need, seen = q * total, 0
        for i, c in enumerate(self.counts):
            if c and seen + c >= need:
                if i == len(self.bounds_ms):
                    return self.bounds_ms[-1]
                lower = self.bounds_ms[i - 1] if i else self.bounds_ms[0] / 1.05
                frac = (need - seen) / c
                return lower * (self.bounds_ms[i] / lower) ** frac
            seen += c
        return self.bounds_ms[-1]


@dataclass(frozen=True)
class Invocation:
    """One invocation as Lambda's REPORT line gives it; ``init_duration_ms`` marks a cold start."""

    duration_ms: float
    init_duration_ms: float | None = None
    error: bool = False


@dataclass(frozen=True)
class VersionStats:
    """Cumulative observations of one version since the analysis started.

    ``invocations`` and ``errors`` as CloudWatch counts them (throttled requests are not
    invocations); ``latency`` holds warm durations only (Lambda's Duration, never the Init
    Duration of a cold start); ``cold_starts`` is informational.
    """

    invocations: int
    errors: int
    throttles: int = 0
    latency: LatencyHistogram | None = None
    cold_starts: int = 0
    version: str = ""

    def __post_init__(self) -> None:
        for name in ("invocations", "errors", "throttles", "cold_starts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.errors > self.invocations:
            raise ValueError(f"errors ({self.errors}) exceed invocations ({self.invocations})")

    @classmethod
    def from_durations(
        cls,
        invocations: int,
        errors: int,
        throttles: int = 0,
        durations_ms: Iterable[float] = (),
        *,
        version: str = "",
        cold_starts: int = 0,
    ) -> VersionStats:
        """Stats from a list of warm durations (the caller leaves cold starts out)."""
        hist = LatencyHistogram.from_durations(durations_ms)
        return cls(invocations, errors, throttles, hist, cold_starts, version)

    @classmethod
    def from_invocations(
        cls, invocations: Iterable[Invocation], *, throttles: int = 0, version: str = ""
    ) -> VersionStats:
        """Stats from REPORT records: cold starts count as invocations but not as latency."""
        records = list(invocations)
        warm = [r.duration_ms for r in records if r.init_duration_ms is None]
        return cls.from_durations(
            len(records),
            sum(1 for r in records if r.error),
            throttles,
            warm,
            version=version,
            cold_starts=len(records) - len(warm),
        )

    @property
    def trials(self) -> int:
        """Requests that reached the version: invocations plus throttled requests."""
        return self.invocations + self.throttles

    @property
    def failures(self) -> int:
        """Errors plus throttles: the requests that failed the caller."""
        return self.errors + self.throttles

    @property
    def warm(self) -> int:
        return self.latency.total if self.latency else 0


def peak_concurrency(records: list[Mapping[str, Any]]) -> int:
    """The most invocations that ran at once *warm*, from records with an end ``timestamp``
    and a ``duration_ms``; throttled ones never ran. A cold start's ``init_duration_ms`` is
    left out: it is what a new environment pays once, not what the traffic takes of a warm
    one, and counting it sized the pre-warm by cold-start bursts (8 environments at 34
    requests/s where 1 or 2 ran at once warm)."""
    edges: list[tuple[float, int]] = []
    for r in records:
        if r.get("throttled"):
            continue
        end = float(r["timestamp"])
        took = float(r.get("duration_ms") or 0) / 1000
        edges += [(end - took, 1), (end, -1)]
    running = best = 0
    for _, delta in sorted(edges, key=lambda e: (e[0], e[1])):
        running += delta
        best = max(best, running)
    return best
