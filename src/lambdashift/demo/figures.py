"""The demo's figures, computed from what the clients saw and what the rollouts said.

Everything here is a function of two lists: the client's :class:`~lambdashift.loadgen.Request`
records, and the :class:`Mark` s the demo took (one per rollout notice, with the alias's
traffic after it, plus the demo's own step marks). No clock, no I/O.
"""

from __future__ import annotations

import bisect
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


#: How far before a switch's notice a request the new version answered may have been sent
#: (the alias write precedes the notice by milliseconds; a request is stamped when sent).
SWITCH_LEAD = 2.0
FAILED = "failed"


def switch_time(requests: Sequence[Request], at: float, new: Iterable[str], *, after: float) -> float:
    """When a switch at ``at`` (its notice) took effect for the clients: the first request a
    version it introduced answered, if sent up to :data:`SWITCH_LEAD` s before the notice
    (and after the previous switch, ``after``), else the notice itself."""
    new = set(new)
    early = [r.t for r in requests if r.version in new and r.status and max(after, at - SWITCH_LEAD) < r.t < at]
    return min(early, default=at)


def bin_edges(start: float, end: float, cuts: Iterable[float], *, step: float = 1.0) -> list[float]:
    """Bin edges from ``start`` to ``end``: every ``step`` seconds and at every cut (a
    switch), so that no bin spans a cut. A regular edge less than half a step from a cut or
    from ``end`` is dropped, so bins are between half a step and 1.5 steps wide (a cut
    less than half a step from the last cut or edge may make one narrower)."""
    cuts = sorted(c for c in cuts if start < c < end)
    regular = [start + i * step for i in range(1, math.ceil((end - start) / step))]
    keep = [e for e in regular if end - e >= step / 2 and all(abs(e - c) >= step / 2 for c in cuts)]
    edges = sorted({start, *keep, *cuts, end})
    out = [start]
    for a, b in zip(edges, edges[1:]):  # two cuts near one edge: split what they leave wide
        parts = round((b - a) / step) if b - a > 1.5 * step else 1
        out.extend(a + (b - a) * k / parts for k in range(1, parts))
        out.append(b)
    return out


def rates(requests: Iterable[Request], edges: Sequence[float]) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Per bin (between consecutive ``edges``), no smoothing: requests per second answered
    by each version, and the failed ones (5xx, 429, no answer) apart under ``"failed"``;
    plus the failed requests' counts by the version that failed them."""
    bins = len(edges) - 1
    rate: dict[str, list[float]] = {}
    errors: dict[str, list[int]] = {}
    for r in requests:
        if not edges[0] <= r.t < edges[-1]:
            continue
        i = bisect.bisect_right(edges, r.t) - 1
        width = edges[i + 1] - edges[i]
        rate.setdefault(FAILED if r.failed else r.version, [0.0] * bins)[i] += 1 / width
        if r.failed:
            errors.setdefault(r.version if r.status else "no answer", [0] * bins)[i] += 1
    return rate, errors


def series(requests: Sequence[Request], start: float, end: float, cuts: Iterable[float], *,
           step: float = 1.0) -> dict[str, Any]:
    """One panel's data: bin edges (relative to ``start``) cut at ``cuts``, and :func:`rates`."""
    edges = bin_edges(start, end, cuts, step=step)
    rate, errors = rates(requests, edges)
    return {"edges": [e - start for e in edges], "rate": rate, "errors": errors, "step": step}


def timeline(requests: Sequence[Request], marks: Sequence[Mark], start: float, end: float,
             *, step: float = 1.0) -> dict[str, Any]:
    """Per function: requests per second per version per bin (cut at each switch, see
    :func:`switch_time`), failed requests apart, and the alias weights over time (from the
    marks), times relative to ``start``."""
    out: dict[str, Any] = {"step": step, "start": start, "functions": {}}
    for function, route in ROUTE_OF.items():
        mine = [r for r in requests if r.route == route]
        weights: list[dict[str, Any]] = []
        previous: Traffic | None = None
        for m in marks:  # the alias's traffic each time it changed
            if m.function != function or m.traffic is None or m.traffic == previous:
                continue
            t = m.t
            if previous is not None:
                new = [v for v in m.traffic.versions if previous.share_of(v) == 0]
                t = switch_time(mine, m.t, new, after=start + weights[-1]["t"])
            weights.append({"t": t - start, "primary": m.traffic.primary, "canary": m.traffic.canary,
                            "weight": m.traffic.weight})
            previous = m.traffic
        cuts = [start + w["t"] for w in weights[1:]]
        out["functions"][function] = {"route": route, "weights": weights,
                                      **series(mine, start, end, cuts, step=step)}
    return out
