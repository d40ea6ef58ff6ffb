"""The bake: after the switch to 100%, the candidate against the stable's own past.

Once the candidate serves every request there is no stable version beside it to compare
with, so the bake compares *before* with *after*: the stable version's requests in a
*baseline* window that ends at the switch (the last 5 minutes, or the last 30 when those
held fewer than 1,000 requests) with the candidate's requests since the switch. Pure
(``math`` only): the engine's analyzer (``rollout.bake``) reads the counts and calls
:func:`bake_verdict` at every look.

The test, for errors (failed = errors + throttles, as the judge counts them):

1. **A bound on the past.** ``U`` = the exact (Clopper-Pearson) upper confidence bound on
   the stable's failure rate in the baseline, at level ``1 − α_b``. Computed once: the
   baseline does not grow.
2. **A margin for time.** Before/after cannot tell a regression from the world changing at
   the switch (a downstream slowing down, the hour's traffic mix), so the null hypothesis
   leaves room for it: the candidate is *healthy* while its failure rate stays at or below
   ``p* = ratio × U + margin`` (1.5 × U + 0.1 points by default).
3. **An e-process against ``p*``.** Each request's likelihood ratio of a failure rate ``q``
   against ``p*``, multiplied over the requests since the switch and mixed over a prior on
   ``q`` (odds ratios 2 to ∞ against ``p*``, :data:`BAKE_ODDS`), is a test supermartingale
   whenever every request's failure probability is at most ``p*`` — even a rate that
   drifts below it. It depends on the cumulative counts alone, so looking after every batch
   costs nothing in validity. By Ville's inequality it reaches ``1/α_t`` with probability
   at most ``α_t``.

A healthy candidate is rolled back with probability at most ``α_b + α_t`` (the bound was
wrong, or the test fired), which is the error share of ``alpha`` (0.9% of 1%), *provided
the time effect stays within the margin*. bench/bake_sim.py measures the rate under drifts
and bursts of the baseline rate that do not respect it.

Latency is tested the same way on warm requests slower than ``τ`` = the stable's p99 in the
baseline plus ``max(latency_floor_ms, latency_tolerance × p99)``: the count of baseline
requests above ``τ`` gives a distribution-free bound on the share above it (``τ`` is at or
above an order statistic of the baseline), then ``p*`` and the e-process as for errors.

Without baseline requests, or without requests since the switch, nothing is compared: the
verdict says so in words and the bake ends by time, claiming no evidence either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from lambdashift.core.evidence import Mixture, log_comb, logsumexp
from lambdashift.core.judge import _dur, _exp, _ms, _num, _pct, _pt, _rate  # the judge's words
from lambdashift.core.observations import VersionStats
from lambdashift.core.validators import parse_duration
from lambdashift.errors import ConfigError
from lambdashift.model import Verdict

__all__ = [
    "BAKE_LATENCY_ODDS", "BAKE_ODDS", "DEFAULT_BAKE_S", "BakeJudgement", "BakePolicy", "Baseline",
    "bake_verdict", "clopper_pearson_upper", "log_e_above", "parse_bake",
]

DEFAULT_BAKE_S = 60.0
"""How long the candidate is watched after the switch to 100% when a judged rollout does
not say (``bake:``)."""

INF = math.inf
BISECTIONS = 48

# The regressions the bake is for: a failure rate from 2× the null rate p* to every request.
# With p* near 0.5% (a stable at 0.1% and 100 requests/s), a 5% candidate is ω ≈ 10, a 20%
# one ω ≈ 50; ω = ∞ (every request fails) weighs enough that 2-3 failures in a row suffice.
# Chosen with bench/bake_sim.py.
BAKE_ODDS = Mixture(
    points=(2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 256.0, 1024.0, 16384.0, INF),
    weights=(0.04, 0.08, 0.14, 0.16, 0.14, 0.10, 0.08, 0.06, 0.05, 0.15),
)
# Slow requests: p* is near 4.5% (twice the stable's 1% + 2.5 points), so a candidate whose
# warm requests are all slower is ω ≈ 20, and 2× or 3× the share of slow ones matters.
BAKE_LATENCY_ODDS = Mixture(
    points=(1.5, 2.0, 3.0, 5.0, 10.0, 25.0, INF),
    weights=(0.10, 0.20, 0.20, 0.15, 0.15, 0.10, 0.10),
)


@dataclass(frozen=True)
class BakePolicy:
    """How the bake decides; rates and margins are fractions.

    ``alpha`` bounds the probability of rolling back a candidate that behaves within the
    margins of the stable's past; ``latency_alpha_share`` of it goes to latency, the rest to
    errors, and of each, ``baseline_share`` to the bound on the baseline, the rest to the
    e-process. ``error_ratio`` and ``error_margin`` (``latency_ratio``, ``latency_margin``)
    make the null rate ``p* = ratio × U + margin``: the room left for time effects.
    """

    seconds: float = 60.0
    alpha: float = 0.01
    latency_alpha_share: float = 0.1
    baseline_share: float = 1 / 3
    error_ratio: float = 1.5
    error_margin: float = 0.001
    latency_quantile: float = 0.99
    latency_ratio: float = 2.0
    latency_margin: float = 0.025
    latency_floor_ms: float = 2.0
    latency_tolerance: float = 0.25
    baseline_s: float = 300.0
    baseline_max_s: float = 1800.0
    baseline_min_requests: int = 1000

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"a bake lasts a positive time, got {self.seconds!r}")
        for name in ("alpha", "baseline_share", "latency_quantile", "error_margin",
                     "latency_margin"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)!r}")
        if not 0 <= self.latency_alpha_share < 1:
            raise ValueError("latency_alpha_share must be in [0, 1)")
        if self.error_ratio < 1 or self.latency_ratio < 1:
            raise ValueError("the ratios must be at least 1 (the null allows the stable's rate)")
        if not 0 < self.baseline_s <= self.baseline_max_s:
            raise ValueError("need 0 < baseline_s ≤ baseline_max_s")

    def _alphas(self, share: float) -> tuple[float, float]:
        total = self.alpha * share
        return total * self.baseline_share, total * (1 - self.baseline_share)

    @property
    def error_alphas(self) -> tuple[float, float]:
        """(α for the baseline's bound, α for the e-process) of the error test."""
        return self._alphas(1 - self.latency_alpha_share)

    @property
    def latency_alphas(self) -> tuple[float, float]:
        """The same for the latency test ((0, 0) when latency has no share)."""
        return self._alphas(self.latency_alpha_share)

    def slow_threshold_ms(self, p_ms: float) -> float:
        """The duration above which a warm request counts as slow, from the baseline's p99."""
        return p_ms + max(self.latency_floor_ms, self.latency_tolerance * p_ms)

    @property
    def tail_samples(self) -> int:
        """Warm baseline requests needed before its quantile means something: 10 beyond it."""
        return math.ceil(10 / (1 - self.latency_quantile))


@dataclass(frozen=True)
class Baseline:
    """The stable's requests in the window that ended at the switch, and how long it was."""

    stats: VersionStats
    seconds: float


@dataclass(frozen=True)
class BakeJudgement:
    """A verdict (continue, promote at the end, rollback), its reasons and its numbers."""

    verdict: Verdict
    reasons: tuple[str, ...]
    numbers: Mapping[str, float] = field(default_factory=dict)


def parse_bake(value: object, path: str, *, judged: bool = True) -> float | None:
    """The bake's seconds from ``bake:`` (a duration; ``0`` or ``off`` for none), or None.

    Not given: :data:`DEFAULT_BAKE_S` when the rollout is judged, none under
    ``analysis: off`` (nothing is judged there unless a bake is asked for by name).
    """
    if value is None:
        return DEFAULT_BAKE_S if judged else None
    off = isinstance(value, str) and value.strip().lower() in ("off", "0", "0s", "none")
    if off or value is False or (isinstance(value, (int, float)) and value == 0):
        return None
    try:
        seconds = parse_duration(value, path)
        if not math.isfinite(seconds):  # YAML's .nan and .inf are floats too
            raise ConfigError(path)
        return seconds
    except ConfigError:
        raise ConfigError(f"{path}: must be a duration such as 60s or 2m, or 0 / off for no "
                          f"bake, got {value!r}") from None


# --- the statistics ---------------------------------------------------------------------------


def _log_cdf(x: int, n: int, p: float) -> float:
    """ln P(X ≤ x) for X ~ Binomial(n, p), summed from x down (terms shrink: p ≥ x/n)."""
    log_top = log_comb(n, x) + x * math.log(p) + (n - x) * math.log1p(-p)
    total, term = 1.0, 1.0
    for k in range(x, 0, -1):
        term *= k * (1 - p) / ((n - k + 1) * p)
        total += term
        if term < total * 1e-17:
            break
    return log_top + math.log(total)


def clopper_pearson_upper(x: int, n: int, alpha: float) -> float:
    """The exact upper confidence bound, at level ``1 − alpha``, on a rate seen as x in n.

    The largest ``p`` with ``P(X ≤ x | n, p) ≥ alpha``; 1 when nothing was seen (n = 0) or
    everything failed.
    """
    if not 0 <= x <= n:
        raise ValueError(f"need 0 ≤ x ≤ n, got x={x}, n={n}")
    if n == 0 or x == n:
        return 1.0
    if x == 0:
        return -math.expm1(math.log(alpha) / n)  # 1 − α^(1/n), exactly
    target = math.log(alpha)
    lo, hi = x / n, 1.0
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        if _log_cdf(x, n, mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def log_e_above(x: int, n: int, p: float, odds: Mixture = BAKE_ODDS) -> float:
    """ln of the mixture e-value that the rate behind ``x`` events in ``n`` exceeds ``p``.

    For each odds ratio ω of the prior, the alternative rate is ``q = ωp / (1 − p + ωp)``
    and the likelihood ratio ``(q/p)^x · ((1−q)/(1−p))^(n−x)``; ω = ∞ is ``q = 1``
    (``(1/p)^n`` while every request failed, 0 after a success).
    """
    if n == 0:
        return 0.0
    if p >= 1.0:
        return -INF
    log_p, log_not_p = math.log(p), math.log1p(-p)
    terms = []
    for omega, log_w in zip(odds.points, odds.log_weights):
        if omega == INF:
            if x == n:
                terms.append(log_w - n * log_p)
            continue
        q = omega * p / (1 - p + omega * p)
        terms.append(log_w + x * (math.log(q) - log_p) + (n - x) * (math.log1p(-q) - log_not_p))
    return logsumexp(terms) if terms else -INF


# --- the verdict ------------------------------------------------------------------------------


def bake_verdict(baseline: Baseline, after: VersionStats, elapsed_s: float,
                 policy: BakePolicy | None = None, *, done: bool = False,
                 names: tuple[str, str] = ("candidate", "stable")) -> BakeJudgement:
    """Judge the candidate's requests since the switch (``after``, cumulative) against the
    stable's ``baseline``; ``elapsed_s`` of the bake have been seen, and ``done`` says the
    bake's time (and its data) is over: no rollback then means promote.

    ``names`` are how the reasons call the versions (``("v2", "v1")``).
    """
    policy = policy or BakePolicy()
    cand, stable = names
    numbers: dict[str, float] = {"elapsed_s": float(elapsed_s), "seconds": policy.seconds,
                                 "baseline_s": baseline.seconds}
    before = baseline.stats
    window = f"{_dur(baseline.seconds)} before the switch"
    errors, error_rb = _errors(before, after, policy, names, window, numbers)
    latency, latency_rb = _latency(before, after, policy, names, numbers)
    rollback = [line for line, rb in ((errors, error_rb), (latency, latency_rb)) if rb]
    if rollback:
        return BakeJudgement(Verdict.ROLLBACK, (f"bake: {rollback[0]}", *rollback[1:],
                                                *[l for l in (errors, latency) if l not in rollback]),
                             numbers)
    seen = (f"{cand} since the switch: {_counts(after)}; {stable} in the {window}: "
            f"{_counts(before)}")
    null = numbers.get("errors.null_rate")
    # What the bake can catch, in the line the terminal shows: with few baseline requests
    # only a large failure rate can be told from the stable's.
    watch = (f"rolls back on evidence that {cand} fails more than {_pct(null)} of requests"
             if null is not None and null < 1 else "")
    if before.trials == 0:
        gap = (f"{stable} served no requests in the {window}: nothing to compare {cand} with, "
               "no evidence either way")
    elif null is not None and null >= 1:
        gap = (f"{stable} served too few requests in the {window} ({before.trials}) to bound "
               "its failure rate: no evidence either way")
    elif after.trials == 0:
        gap = f"{cand} has served no requests since the switch: nothing to judge yet"
    else:
        gap = ""
    if done:
        if gap and after.trials == 0 and before.trials:
            head = (f"bake ended after {_dur(policy.seconds)}: {cand} served no requests since "
                    "the switch, nothing to judge")
        elif gap:
            head = f"bake ended after {_dur(policy.seconds)} without a comparison: {gap}"
        else:
            head = (f"bake passed: no evidence in {_dur(policy.seconds)} that {cand} fails more "
                    f"than {_pct(null or 1.0)} or is slower than {stable} was before the switch "
                    f"({seen})")
        return BakeJudgement(Verdict.PROMOTE, (head, errors, latency), numbers)
    parts = [p for p in (watch, gap or seen) if p]
    head = f"baking {_dur(elapsed_s)} of {_dur(policy.seconds)}: " + "; ".join(parts)
    return BakeJudgement(Verdict.CONTINUE, (head, errors, latency), numbers)


def _null_rate(x: int, n: int, ratio: float, margin: float, alpha: float) -> tuple[float, float]:
    """(U, p*): the baseline's upper bound and the rate the candidate may reach while healthy."""
    upper = clopper_pearson_upper(x, n, alpha)
    return upper, min(1.0, ratio * upper + margin)


def _errors(before: VersionStats, after: VersionStats, policy: BakePolicy,
            names: tuple[str, str], window: str, numbers: dict[str, float]) -> tuple[str, bool]:
    cand, stable = names
    label = "errors+throttles" if (before.throttles or after.throttles) else "errors"
    if before.trials == 0:
        return f"{label} not compared: no {stable} requests in the {window}", False
    alpha_b, alpha_t = policy.error_alphas
    upper, p_star = _null_rate(before.failures, before.trials, policy.error_ratio,
                               policy.error_margin, alpha_b)
    threshold = 1 / alpha_t
    log_e = log_e_above(after.failures, after.trials, p_star)
    numbers.update({"errors.baseline_failures": before.failures,
                    "errors.baseline_trials": before.trials, "errors.baseline_upper": upper,
                    "errors.null_rate": p_star, "errors.failures": after.failures,
                    "errors.trials": after.trials, "errors.evidence": _exp(log_e),
                    "errors.threshold": threshold})
    head = (f"{cand} {label} {_pct(_rate(after.failures, after.trials))} "
            f"({after.failures}/{after.trials}) since the switch vs {stable} "
            f"{_pct(_rate(before.failures, before.trials))} ({before.failures}/{before.trials}) "
            f"in the {window}")
    if p_star >= 1.0:
        return f"{head}: too few {stable} requests to bound its rate, not compared", False
    null = (f"{cand} failing more than {_pct(p_star)} ({policy.error_ratio:g} × {stable}'s bound "
            f"{_pct(upper)} + {_pt(policy.error_margin)})")
    if log_e >= math.log(threshold):
        return f"{head}: rollback, evidence {_num(_exp(log_e))} ≥ {_num(threshold)} of {null}", True
    return (f"{head}: no regression shown (evidence {_num(_exp(log_e))} < {_num(threshold)} of "
            f"{null})"), False


def _latency(before: VersionStats, after: VersionStats, policy: BakePolicy,
             names: tuple[str, str], numbers: dict[str, float]) -> tuple[str, bool]:
    cand, stable = names
    q = policy.latency_quantile
    qname = f"p{100 * q:g}"
    if policy.latency_alpha_share == 0:
        return "latency not compared (latency_alpha_share 0)", False
    if before.latency is None or after.latency is None:
        return "latency not compared: no warm durations", False
    if before.warm < policy.tail_samples:
        return (f"latency not compared: {before.warm} warm {stable} requests before the switch, "
                f"{policy.tail_samples} needed to know its {qname}"), False
    tau = policy.slow_threshold_ms(before.latency.quantile_bound(q))
    slow_before = before.latency.count_above(tau)
    slow_after = after.latency.count_above(tau)
    alpha_b, alpha_t = policy.latency_alphas
    upper, p_star = _null_rate(slow_before, before.warm, policy.latency_ratio,
                               policy.latency_margin, alpha_b)
    threshold = 1 / alpha_t
    log_e = log_e_above(slow_after, after.warm, p_star, BAKE_LATENCY_ODDS)
    numbers.update({"latency.tau_ms": tau, "latency.baseline_slow": slow_before,
                    "latency.baseline_warm": before.warm, "latency.null_rate": p_star,
                    "latency.slow": slow_after, "latency.warm": after.warm,
                    "latency.evidence": _exp(log_e), "latency.threshold": threshold})
    after_q = after.latency.quantile(q) if after.warm else math.nan
    head = (f"{cand} warm {qname} {_ms(after_q)} vs {stable} {_ms(before.latency.quantile(q))}; "
            f"slower than {_ms(tau)}: {_pct(_rate(slow_after, after.warm))} "
            f"({slow_after}/{after.warm}) vs {_pct(_rate(slow_before, before.warm))}")
    null = f"more than {_pct(p_star)} of {cand}'s requests slower"
    if log_e >= math.log(threshold):
        return f"{head}: rollback, evidence {_num(_exp(log_e))} ≥ {_num(threshold)} of {null}", True
    return f"{head}: no slowdown shown (evidence {_num(_exp(log_e))} < {_num(threshold)})", False


# --- words --------------------------------------------------------------------------------------


def _counts(s: VersionStats) -> str:
    failed = f"{s.failures} failed ({_pct(_rate(s.failures, s.trials))})"
    p99 = s.latency.quantile(0.99) if s.latency is not None and s.warm else math.nan
    return f"{s.trials:,} requests, {failed}" + (f", warm p99 {_ms(p99)}" if s.warm else "")
