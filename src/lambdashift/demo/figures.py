"""The demo's figures, computed from what the clients saw and what the rollouts said.

Everything here is a function of two lists: the client's :class:`~lambdashift.loadgen.Request`
records, and the :class:`Mark` s the demo took (one per rollout notice, with the alias's
traffic after it, plus the demo's own step marks). No clock, no I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lambdashift.loadgen import FUNCTION_OF, Request
from lambdashift.model import Traffic

ROUTE_OF = {function: route for route, function in FUNCTION_OF.items()}


@dataclass(frozen=True)
class Mark:
    """A moment of the story: a rollout notice (``function`` set) or a demo step (``""``)."""

    t: float
    function: str
    event: str
    text: str
    traffic: Traffic | None = None


def p99(values: Iterable[float]) -> float | None:
    """Nearest-rank 99th percentile (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(0.99 * len(ordered))) - 1]


def binomial_interval(n: int, p: float, confidence: float = 0.999) -> tuple[int, int]:
    """The central ``confidence`` interval [lo, hi] of a Binomial(n, p) count, exactly:
    P(X < lo) ≤ (1 - confidence)/2 and P(X > hi) ≤ (1 - confidence)/2."""
    tail = (1 - confidence) / 2
    if n == 0:
        return 0, 0

    def pmf(k: int) -> float:
        return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                        + k * math.log(p) + (n - k) * math.log1p(-p))
    below, lo = 0.0, 0
    while lo < n and below + pmf(lo) <= tail:
        below += pmf(lo)
        lo += 1
    above, hi = 0.0, n
    while hi > 0 and above + pmf(hi) <= tail:
        above += pmf(hi)
        hi -= 1
    return lo, hi


def switches(marks: Sequence[Mark]) -> list[tuple[Mark, Traffic]]:
    """Every mark at which a function's alias traffic changed, with the traffic before it."""
    last: dict[str, Traffic] = {}
    out = []
    for m in marks:
        if not m.function or m.traffic is None:
            continue
        before = last.get(m.function)
        if before is not None and before != m.traffic:
            out.append((m, before))
        last[m.function] = m.traffic
    return out


def canary_split(requests: Sequence[Request], route: str, candidate: str, weight: float,
                 start: float, end: float, *, margin: float = 0.5) -> dict[str, Any]:
    """What share of ``route``'s answers ``candidate`` served while the alias gave it
    ``weight``, against the 99.9% binomial interval of that share."""
    served = [r for r in requests if r.route == route and start + margin <= r.t <= end - margin
              and r.status and not r.failed]
    n = len(served)
    k = sum(1 for r in served if r.version == candidate)
    lo, hi = binomial_interval(n, weight)
    return {"route": route, "candidate": candidate, "weight": weight, "window": [start, end],
            "requests": n, "served_by_candidate": k, "observed": k / n if n else None,
            "interval_99_9": [lo / n if n else None, hi / n if n else None],
            "interval_counts": [lo, hi], "inside": n > 0 and lo <= k <= hi}


def switch_latency(requests: Sequence[Request], route: str, at: float, *, window: float,
                   baseline: float) -> dict[str, Any]:
    """p99 of ``route`` in the ``window`` seconds after a switch at ``at``, against its p99 in
    the ``baseline`` seconds before the rollout's first notice (steady state)."""
    during = [r.ms for r in requests if r.route == route and at <= r.t < at + window and r.status]
    steady = [r.ms for r in requests if r.route == route and at - baseline <= r.t < at and r.status]
    a, b = p99(during), p99(steady)
    return {"route": route, "p99_switch_ms": a, "p99_steady_ms": b,
            "requests_switch": len(during), "requests_steady": len(steady),
            "ratio": (a / b) if a is not None and b else None}


def by_route_version_status(requests: Iterable[Request]) -> list[dict[str, Any]]:
    """Counts by (route, version, status), for the report's table."""
    counts = Counter((r.route, r.version, r.status) for r in requests)
    return [{"route": route, "version": version, "status": status, "requests": n}
            for (route, version, status), n in sorted(counts.items())]


def rates(requests: Iterable[Request], start: float, end: float, step: float,
          bins: int) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Requests per second and failed requests per ``step``-second bin, by version."""
    rate: dict[str, list[float]] = {}
    errors: dict[str, list[int]] = {}
    for r in requests:
        if not start <= r.t < end:
            continue
        i = int((r.t - start) / step)
        version = r.version if r.status else "no answer"
        rate.setdefault(version, [0.0] * bins)[i] += 1 / step
        if r.failed:
            errors.setdefault(version, [0] * bins)[i] += 1
    return rate, errors


def timeline(requests: Sequence[Request], marks: Sequence[Mark], start: float, end: float,
             *, step: float = 1.0) -> dict[str, Any]:
    """Per function: request rate and errors per version per ``step`` seconds, and the alias
    weights over time (from the marks), times relative to ``start``."""
    bins = max(1, math.ceil((end - start) / step))
    out: dict[str, Any] = {"step": step, "start": start, "functions": {}}
    for function, route in ROUTE_OF.items():
        rate, errors = rates([r for r in requests if r.route == route], start, end, step, bins)
        weights: list[dict[str, Any]] = []
        for m in marks:  # the alias's traffic each time it changed
            if m.function != function or m.traffic is None:
                continue
            now = {"t": m.t - start, "primary": m.traffic.primary, "canary": m.traffic.canary,
                   "weight": m.traffic.weight}
            if not weights or [weights[-1][k] for k in ("primary", "canary", "weight")] != \
                    [now[k] for k in ("primary", "canary", "weight")]:
                weights.append(now)
        out["functions"][function] = {"route": route, "rate": rate, "errors": errors,
                                      "weights": weights}
    return out
