"""The judge's statistics: e-processes and confidence sequences, with ``math`` only.

Two kinds of evidence, both safe to look at after every batch of data (anytime-valid):

* **Regression evidence** (rollback). Inside one *chunk* of requests, condition on how many
  requests each version served and on how many "events" (failures, or slow requests)
  there were in total. If the candidate is no worse, which version served the events is
  random: the candidate's count is hypergeometric. Under a regression with odds ratio
  ``ω > 1`` it follows Fisher's noncentral hypergeometric law. The likelihood ratio of a
  chunk is ``ω^x / E₀[ω^X]``; its product over chunks, mixed over a prior on ``ω``, is a
  test martingale, so by Ville's inequality it reaches ``1/α`` with probability at most
  ``α`` when the candidate is healthy, however often it is looked at.
  :func:`split_log_lrs` gives one chunk's log ratios for a set of odds ratios.
  The judge does not hold the mixture itself but a *wealth* that bets on it, chunk by chunk,
  only as much as reaching ``1/α`` needs (:func:`bet`): still a test supermartingale, so the
  same bound holds, and it keeps evidence that a full bet would lose on a stable failure.

* **Non-inferiority evidence** (promote). Confidence sequences for one version's event
  rate, from a discrete mixture of Bernoulli likelihood ratios: :func:`upper_bound` and
  :func:`lower_bound`. The judge promotes when the candidate's upper bound is below the
  stable's lower bound plus a margin.

docs/analysis.md explains the maths and cites the sources.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

INF = math.inf
BISECTIONS = 32  # halvings of the bracket when solving for a confidence bound
# A bet planned over k more chunks aims each at (what is needed)^(1/k) times this: the next
# chunk may hold less evidence than this one (chosen with bench/analysis_sim.py).
BET_SLACK = 1.5


@dataclass(frozen=True)
class Mixture:
    """A discrete prior: ``points`` (odds ratios, or rate ratios) and their ``weights``."""

    points: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.points) != len(self.weights) or not self.points:
            raise ValueError("a mixture needs as many weights as points, and at least one")
        if any(w <= 0 for w in self.weights) or abs(sum(self.weights) - 1.0) > 1e-9:
            raise ValueError(f"mixture weights must be positive and sum to 1, got {self.weights}")

    @functools.cached_property
    def log_weights(self) -> tuple[float, ...]:
        return tuple(math.log(w) for w in self.weights)

    @functools.cached_property
    def _terms(self) -> tuple[tuple[float, float, float], ...]:
        """(c, ln c, ln weight) for every point but c = 0."""
        return tuple((c, math.log(c), lw) for c, lw in zip(self.points, self.log_weights) if c)

    @functools.cached_property
    def _zero_log_weight(self) -> float | None:
        return next((lw for c, lw in zip(self.points, self.log_weights) if c == 0.0), None)


# Priors on the odds ratio ω of a regression. Chosen with bench/analysis_sim.py (see
# docs/analysis.md): errors are rare, so the error prior leans to large ω (1% or more against
# 0.1% is ω ≥ 10); slow requests are common, so the latency prior covers ω from 1.5.
ERROR_ODDS = Mixture(
    points=(1.5, 3.0, 6.0, 12.0, 25.0, 50.0, 100.0, 250.0, 1000.0, INF),
    weights=(0.01, 0.02, 0.05, 0.13, 0.20, 0.22, 0.16, 0.09, 0.05, 0.07),
)
# The time-boxed point (``promote_after``) has minutes to catch a regression, and what it can
# catch in that time is large: the same points (so the same evidence state), most weight on
# ω = 25 and 50 (5% against 0.1% is ω ≈ 50), where three or four failures must suffice.
ERROR_ODDS_TIMEBOXED = Mixture(
    points=ERROR_ODDS.points,
    weights=(0.002, 0.002, 0.004, 0.012, 0.45, 0.38, 0.06, 0.03, 0.02, 0.04),
)
LATENCY_ODDS = Mixture(
    points=(1.25, 1.5, 2.0, 3.0, 4.5, 7.0, 12.0, 30.0, INF),
    weights=(0.05, 0.10, 0.15, 0.20, 0.18, 0.12, 0.08, 0.07, 0.05),
)
# Rate ratios c of the alternatives in the confidence sequences: below 1 for an upper bound
# (the candidate's rate is smaller than p), above 1 for a lower bound (the stable's is larger).
# The error upper bound is tested at p = the stable's rate + the 0.9-point margin, so a
# healthy candidate's rate is c·p with c near 0.1 for a stable at 0.1%; the weights spread
# from 0.04 (a stable at 0.04%) to 0.7 (about 2%): chosen with bench/analysis_sim.py.
UPPER_RATIOS = Mixture(
    points=(0.0, 0.04, 0.07, 0.1, 0.14, 0.2, 0.3, 0.45, 0.7),
    weights=(0.08, 0.08, 0.15, 0.20, 0.17, 0.12, 0.09, 0.06, 0.05),
)
# Slow requests are common (1% above the stable's p99) and the latency margin wide (2.5
# points), so the candidate's upper bound on them is won with ratios near 1% / 3.5%.
LATENCY_UPPER_RATIOS = Mixture(
    points=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8),
    weights=(0.05, 0.05, 0.15, 0.30, 0.20, 0.10, 0.10, 0.05),
)
LOWER_RATIOS = Mixture(
    points=(1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0),
    weights=(0.2, 0.2, 0.2, 0.15, 0.1, 0.1, 0.05),
)


def log_comb(n: int, k: int) -> float:
    """ln C(n, k)."""
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -INF:
        return -INF
    return top + math.log(sum(math.exp(v - top) for v in values))


def split_log_lrs(
    cand_n: int, stable_n: int, cand_events: int, stable_events: int, odds: Sequence[float]
) -> tuple[float, ...]:
    """One chunk's log likelihood ratios ``ln(ω^x / E₀[ω^X])``, one per odds ratio ω.

    ``X`` is hypergeometric: ``cand_events + stable_events`` events drawn among
    ``cand_n + stable_n`` requests of which ``cand_n`` are the candidate's. ``ω = inf`` is
    the limit where every event lands on the candidate while it has requests left. A chunk
    where the split cannot vary (no events, or one version absent) carries no evidence.
    """
    events = cand_events + stable_events
    lo, hi = max(0, events - stable_n), min(events, cand_n)
    if not (0 <= cand_events <= cand_n and 0 <= stable_events <= stable_n):
        raise ValueError("events must be between 0 and the number of requests")
    if lo == hi:
        return tuple(0.0 for _ in odds)
    return tuple(_lr_table(cand_n, stable_n, events, odds)(cand_events))


def _lr_table(cand_n: int, stable_n: int, events: int, odds: Sequence[float]):  # noqa: ANN202
    """``x ↦ ln LR(ω)`` for every ω, for a chunk whose split is not yet known.

    ``E₀[ω^X]`` does not depend on the candidate's count ``x``, so it is worked out once.
    """
    lo, hi = max(0, events - stable_n), min(events, cand_n)
    base = -log_comb(cand_n + stable_n, events)
    log_pmf = [
        log_comb(cand_n, k) + log_comb(stable_n, events - k) + base for k in range(lo, hi + 1)
    ]
    log_mgf = []
    for omega in odds:
        if omega == INF:
            log_mgf.append(log_pmf[-1])  # ω = ∞: the ratio is 1 / P₀(X = hi) at x = hi
            continue
        theta = math.log(omega)
        log_mgf.append(logsumexp([lp + (lo + i) * theta for i, lp in enumerate(log_pmf)]))

    def lrs(x: int) -> list[float]:
        return [(-m if x == hi else -INF) if omega == INF else x * math.log(omega) - m
                for omega, m in zip(odds, log_mgf)]  # fmt: skip

    return lrs


def bet(
    log_wealth: float,
    log_weights: Sequence[float],
    log_e: Sequence[float],
    chunk: tuple[int, int, int, int],
    odds: Sequence[float],
    log_threshold: float,
) -> tuple[float, tuple[float, ...]]:
    """The log wealth after one chunk — a bet on the mixture's next step, no bigger than
    needed — and the chunk's log ratios per ω (:func:`split_log_lrs`), to add to ``log_e``.

    ``chunk`` is ``(candidate requests, candidate events, stable requests, stable events)``;
    ``log_e`` the per-ω log e-values before it, so ``log_weights + log_e`` is the posterior on
    ω. Its likelihood ratio ``R(x)`` has mean 1 when the candidate is healthy, and so does
    ``1 + κ·(R(x) − 1)`` for any ``κ`` in [0, 1] chosen before ``x`` is seen: a test
    supermartingale still. ``κ`` is the least that keeps every outcome that would reach the
    threshold reaching it; when none can, the bet aims at reaching it in the fewest chunks
    like this one, an equal step each (with ``BET_SLACK``). A smaller bet loses less when the
    failure turns out to be the stable's: three candidate failures then still suffice.
    """
    n_c, x, n_s, y = chunk
    events = x + y
    lo, hi = max(0, events - n_s), min(events, n_c)
    if lo == hi:
        return log_wealth, tuple(0.0 for _ in odds)
    need = log_threshold - log_wealth  # ln of the factor still needed
    table = _lr_table(n_c, n_s, events, odds)
    post = [w + e for w, e in zip(log_weights, log_e)]
    norm = logsumexp(post)
    log_r = [logsumexp([p - norm + lr for p, lr in zip(post, table(k))]) for k in range(lo, hi + 1)]
    if need <= 0:
        kappa = 1.0
    elif log_r[-1] >= need:  # R grows with x: the least outcome that reaches the threshold
        reach = min(r for r in log_r if r >= need)
        kappa = min(1.0, math.exp(_log_expm1(need + 1e-12) - _log_expm1(reach)))
    elif log_r[-1] > 0:
        steps = math.ceil(need / log_r[-1] - 1e-9)
        aim = need / steps + math.log(BET_SLACK)
        kappa = min(1.0, math.exp(_log_expm1(aim) - _log_expm1(log_r[-1])))
    else:
        kappa = 1.0
    got, lrs = log_r[x - lo], tuple(table(x))
    if kappa >= 1.0:
        return log_wealth + got, lrs
    if got == -INF:
        return log_wealth + math.log1p(-kappa), lrs
    return log_wealth + logsumexp([math.log1p(-kappa), math.log(kappa) + got]), lrs


def _log_expm1(x: float) -> float:
    """ln(eˣ − 1) for x > 0, without overflow for large x."""
    return x + math.log(-math.expm1(-x))


def mixture_log_e(log_weights: Sequence[float], log_values: Sequence[float]) -> float:
    """ln Σ wⱼ·eⱼ from the log weights and the components' log e-values."""
    return logsumexp([w + v for w, v in zip(log_weights, log_values)])


def _log_e_rate(events: int, trials: int, p: float, mixture: Mixture) -> float:
    """ln e(p): the mixture over c of the likelihood ratio of rate c·p against rate p."""
    rest = trials - events
    log_q = math.log1p(-p)
    terms = [
        lw + events * log_c + rest * (math.log1p(-c * p) - log_q)
        for c, log_c, lw in mixture._terms
        if c * p < 1.0
    ]
    zero = mixture._zero_log_weight
    if zero is not None and events == 0:
        terms.append(zero - rest * log_q)
    return logsumexp(terms) if terms else -INF


def upper_bound(events: int, trials: int, alpha: float, mixture: Mixture = UPPER_RATIOS) -> float:
    """An anytime-valid upper confidence bound, at level ``1 - alpha``, on an event rate.

    The smallest p whose e-value ``e(p)`` (evidence that the rate is below p) has reached
    ``1/alpha``; ``e`` grows with ``p``, so the bound is found by bisection.
    """
    if trials == 0 or events >= trials:
        return 1.0
    target = -math.log(alpha)
    lo, hi = events / trials, 1.0
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        if _log_e_rate(events, trials, mid, mixture) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def lower_bound(events: int, trials: int, alpha: float, mixture: Mixture = LOWER_RATIOS) -> float:
    """An anytime-valid lower confidence bound, at level ``1 - alpha``, on an event rate."""
    if events == 0:
        return 0.0
    target = -math.log(alpha)
    lo, hi = 0.0, events / trials
    if _log_e_rate(events, trials, 1e-300, mixture) < target:
        return 0.0
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        if _log_e_rate(events, trials, mid, mixture) >= target:
            lo = mid
        else:
            hi = mid
    return lo
