"""The judge: cumulative per-version observations in, a verdict with its reasons out.

A pure function (:func:`judge`): no clock, no I/O, no random numbers, ``math`` only. The
engine calls it after every poll of the metrics with the *cumulative* counts of both versions
since the analysis started, the time elapsed, the policy, and the previous judgement, whose
``state`` carries the evidence gathered so far (:class:`Judge` does that bookkeeping).

What it decides, in order (docs/analysis.md has the maths):

1. **rollback** when a candidate alarm fires, a plain threshold is crossed, or the evidence of a
   regression (errors + throttles, or warm latency) reaches ``1/α``. The evidence is a test
   martingale: a healthy candidate is rolled back with probability at most ``α`` however often
   the judge looks.
2. **promote** once the candidate is shown no worse than the stable (within the margins), has
   run ``min_duration`` and served ``min_invocations`` — or, with ``promote_after`` (the
   time-boxed point), once that much time has passed, shown or not.
3. the policy's ``on_timeout`` verdict once ``max_wait`` has passed without 1 or 2.
4. **continue** otherwise, saying what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lambdashift.core import evidence as ev
from lambdashift.core.judge_policy import JudgePolicy
from lambdashift.core.observations import (
    DEFAULT_BOUNDS_MS,
    Invocation,
    LatencyHistogram,
    VersionStats,
)
from lambdashift.model import Verdict

__all__ = [
    "DEFAULT_BOUNDS_MS",
    "EvidenceState",
    "Invocation",
    "Judge",
    "JudgePolicy",
    "Judgement",
    "LatencyHistogram",
    "VersionStats",
    "judge",
]

# A latency chunk closes once it holds this many warm requests of each version.
LATENCY_CHUNK = 10
# Of promote_alpha, the candidate's upper bound gets this share and the stable's lower bound
# the rest: the stable has nine times the requests at a 10% canary and needs less.
CANDIDATE_SHARE = 0.9
# The latency threshold is frozen once the stable has this many warm samples beyond its
# quantile: 10 / (1 - q), so 1,000 for p99.
LATENCY_TAIL_SAMPLES = 10
# Evidence within this (in logs) of its threshold has reached it: a bet lands there exactly.
TOLERANCE = 1e-9


# --- evidence carried between looks ---------------------------------------------------------

Counts = tuple[int, int, int, int]  # candidate requests, candidate events, stable requests, …
_ZERO: Counts = (0, 0, 0, 0)


@dataclass(frozen=True)
class EvidenceState:
    """What one look hands to the next: chunk marks and log e-values.

    Counts are ``(candidate requests, candidate events, stable requests, stable events)``,
    cumulative at the moment named. ``rollback`` keeps the reasons of a rollback once decided.
    """

    looks: int = 0
    elapsed_s: float = 0.0
    last: Counts = _ZERO
    error_chunk: Counts = _ZERO
    error_log_e: tuple[float, ...] = tuple(0.0 for _ in ev.ERROR_ODDS.points)
    error_log_wealth: float | None = None  # the time-boxed point's bet (evidence.bet)
    latency_tau_ms: float | None = None
    latency_base: Counts = _ZERO
    latency_chunk: Counts = _ZERO
    latency_log_e: tuple[float, ...] = tuple(0.0 for _ in ev.LATENCY_ODDS.points)
    rollback: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        sizes = (len(self.error_log_e), len(self.latency_log_e))
        if sizes != (len(ev.ERROR_ODDS.points), len(ev.LATENCY_ODDS.points)):
            raise ValueError(f"evidence state for other priors ({sizes} e-values): start afresh")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form (a log e-value of minus infinity becomes None)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = [None if v == -math.inf else v for v in value]
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvidenceState:
        values: dict[str, Any] = {}
        for name, value in data.items():
            if isinstance(value, list):
                value = tuple(-math.inf if v is None else v for v in value)
            values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class Judgement:
    """A verdict, its reasons in words and numbers, the numbers alone, and the state to carry."""

    verdict: Verdict
    reasons: tuple[str, ...]
    evidence: Mapping[str, float] = field(default_factory=dict)
    state: EvidenceState = field(default_factory=EvidenceState)


# --- the judge ------------------------------------------------------------------------------


def judge(
    candidate: VersionStats,
    stable: VersionStats,
    elapsed_s: float,
    policy: JudgePolicy | None = None,
    *,
    previous: Judgement | None = None,
    alarms: Sequence[str] = (),
) -> Judgement:
    """Judge the candidate against the stable from cumulative counts of the same time span.

    ``previous`` is the judgement of the last look (None on the first): its state carries the
    evidence, so that looking after every batch keeps the false-rollback bound. ``alarms`` are
    the names of the candidate's alarms now in ALARM. Raises ValueError when a cumulative
    counter or the elapsed time went down.
    """
    policy = policy or JudgePolicy()
    prev = previous.state if previous else EvidenceState()
    now: Counts = (candidate.trials, candidate.failures, stable.trials, stable.failures)
    if elapsed_s < prev.elapsed_s or any(a < b for a, b in zip(now, prev.last)):
        raise ValueError("cumulative counts and elapsed time must not go down between looks")
    names = (_name(candidate.version, "candidate"), _name(stable.version, "stable"))
    numbers: dict[str, float] = {"elapsed_s": float(elapsed_s)}

    state = _update_errors(prev, now, policy)
    state = _update_latency(state, candidate, stable, policy)
    state = replace(state, looks=prev.looks + 1, elapsed_s=float(elapsed_s), last=now)

    error_line, error_rollback, error_ni = _error_report(
        state, now, policy, names, numbers, bool(candidate.throttles or stable.throttles)
    )
    latency_line, latency_rollback, latency_ni = _latency_report(
        state, candidate, stable, policy, names, numbers
    )

    rollback = list(prev.rollback)
    if not rollback:
        rollback += [f"alarm {name} is in ALARM" for name in alarms]
        rollback += _thresholds(candidate, policy, names[0])
        if error_rollback:
            rollback.append(error_line)
        if latency_rollback:
            rollback.append(latency_line)
    status = [line for line in (error_line, latency_line) if line not in rollback]
    if rollback:
        state = replace(state, rollback=tuple(rollback))
        return Judgement(Verdict.ROLLBACK, (*rollback, *status), numbers, state)

    missing = []
    if elapsed_s < policy.min_duration_s:
        missing.append(f"ran {_dur(elapsed_s)} of the {_dur(policy.min_duration_s)} minimum")
    if candidate.trials < policy.min_invocations:
        missing.append(f"{candidate.trials}/{policy.min_invocations} {names[0]} invocations")
    if not error_ni:
        missing.append("error rate not yet shown within the margin")
    if latency_ni is False:
        missing.append("latency not yet shown within the margin")
    reasons = [error_line, latency_line]
    if not missing:
        return Judgement(Verdict.PROMOTE, (f"{names[0]} is no worse than {names[1]}", *reasons),
                         numbers, state)  # fmt: skip
    after = policy.promote_after_s
    if after is not None and elapsed_s >= after:
        head = (f"promote_after {_dur(after)} reached with no regression shown: promote by "
                f"policy, {names[0]} not shown no worse ({'; '.join(missing)})")
        return Judgement(Verdict.PROMOTE, (head, *reasons), numbers, state)
    if elapsed_s >= policy.max_wait_s:
        head = (f"no verdict after the {_dur(policy.max_wait_s)} maximum wait: "
                f"{policy.on_timeout.value} by policy")  # fmt: skip
        return Judgement(policy.on_timeout, (head, *reasons, "missing: " + "; ".join(missing)),
                         numbers, state)  # fmt: skip
    return Judgement(Verdict.CONTINUE, ("waiting: " + "; ".join(missing), *reasons), numbers, state)


class Judge:
    """The judge with its memory: feed it cumulative stats after every poll."""

    def __init__(self, policy: JudgePolicy | None = None) -> None:
        self.policy = policy or JudgePolicy()
        self.last: Judgement | None = None

    def observe(
        self,
        candidate: VersionStats,
        stable: VersionStats,
        elapsed_s: float,
        alarms: Sequence[str] = (),
    ) -> Judgement:
        self.last = judge(candidate, stable, elapsed_s, self.policy, previous=self.last,
                          alarms=alarms)  # fmt: skip
        return self.last


# --- evidence updates -----------------------------------------------------------------------


def _diff(a: Counts, b: Counts) -> Counts:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3])


def _consistent(chunk: Counts) -> bool:
    """False when a chunk has more events than requests (metrics arriving out of step)."""
    return 0 <= chunk[1] <= chunk[0] and 0 <= chunk[3] <= chunk[2]


def _update_errors(state: EvidenceState, now: Counts, policy: JudgePolicy) -> EvidenceState:
    """Close the open error chunk once it holds a failure (``policy.error_chunk``); weigh it.

    The chunk boundary depends only on how many requests and failures there were, never on
    which version served them: under the null, routing is independent of failing, so given
    the chunk's counts the candidate's share of its failures is hypergeometric.
    """
    chunk = _diff(now, state.error_chunk)
    events, requests = chunk[1] + chunk[3], chunk[0] + chunk[2]
    if events == 0 or not _consistent(chunk):
        return state
    min_requests, max_failures = policy.error_chunk
    if requests < min_requests and events < max_failures:
        return state
    odds = ev.ERROR_ODDS.points
    if policy.bets:
        wealth, lrs = ev.bet(_error_log_wealth(state, policy), policy.error_prior.log_weights,
                             state.error_log_e, chunk, odds, math.log(policy.error_threshold))
    else:
        wealth, lrs = None, ev.split_log_lrs(chunk[0], chunk[2], chunk[1], chunk[3], odds)
    log_e = tuple(a + b for a, b in zip(state.error_log_e, lrs))
    return replace(state, error_chunk=now, error_log_e=log_e, error_log_wealth=wealth)


def _error_log_wealth(state: EvidenceState, policy: JudgePolicy) -> float:
    """The error evidence: the bet's wealth, or the mixture itself (no bet placed yet, or the
    strict point, or a state saved before bets were kept)."""
    if state.error_log_wealth is not None:
        return state.error_log_wealth
    return ev.mixture_log_e(policy.error_prior.log_weights, state.error_log_e)


def _latency_counts(c: VersionStats, s: VersionStats, tau: float) -> Counts:
    assert c.latency is not None and s.latency is not None
    return (c.warm, c.latency.count_above(tau), s.warm, s.latency.count_above(tau))


def _tail_samples(policy: JudgePolicy) -> int:
    return math.ceil(LATENCY_TAIL_SAMPLES / (1 - policy.latency_quantile))


def _update_latency(
    state: EvidenceState, c: VersionStats, s: VersionStats, policy: JudgePolicy
) -> EvidenceState:
    """Fix the threshold τ (the stable's quantile) once, then test chunks of warm requests.

    A chunk closes once it holds ``LATENCY_CHUNK`` warm requests of each version, a rule that
    looks at the versions but not at the durations: given which versions ran, a healthy
    candidate's requests are as likely as the stable's to be slower than τ.
    """
    if c.latency is None or s.latency is None:
        return state
    if state.latency_tau_ms is None:
        if s.warm < _tail_samples(policy):
            return state
        tau = policy.slow_threshold_ms(s.latency.quantile_bound(policy.latency_quantile))
        base = _latency_counts(c, s, tau)
        return replace(state, latency_tau_ms=tau, latency_base=base, latency_chunk=base)
    now = _latency_counts(c, s, state.latency_tau_ms)
    chunk = _diff(now, state.latency_chunk)
    if chunk[0] < LATENCY_CHUNK or chunk[2] < LATENCY_CHUNK or not _consistent(chunk):
        return state
    lrs = ev.split_log_lrs(chunk[0], chunk[2], chunk[1], chunk[3], ev.LATENCY_ODDS.points)
    log_e = tuple(a + b for a, b in zip(state.latency_log_e, lrs))
    return replace(state, latency_chunk=now, latency_log_e=log_e)


def _bounds(
    counts: Counts, alpha: float, mixture: ev.Mixture = ev.UPPER_RATIOS
) -> tuple[float, float]:
    """The candidate rate's upper bound and the stable rate's lower bound, valid at all times.

    The candidate gets ``CANDIDATE_SHARE`` of ``alpha``: the stable has more data.
    """
    upper = ev.upper_bound(counts[1], counts[0], CANDIDATE_SHARE * alpha, mixture)
    lower = ev.lower_bound(counts[3], counts[2], (1 - CANDIDATE_SHARE) * alpha)
    return upper, lower


def _thresholds(c: VersionStats, policy: JudgePolicy, name: str) -> list[str]:
    """Plain CodeDeploy-like limits on the candidate alone, once it has enough requests."""
    out = []
    limit, enough = policy.max_error_rate, policy.threshold_min_invocations
    if limit is not None and c.trials >= enough and c.failures > limit * c.trials:
        out.append(f"{name} error rate {_pct(c.failures / c.trials)} ({c.failures}/{c.trials}) "
                   f"> max_error_rate {_pct(limit)}")  # fmt: skip
    if policy.max_p99_ms is not None and c.latency is not None and c.warm >= enough:
        p99 = c.latency.quantile(0.99)
        if p99 > policy.max_p99_ms:
            out.append(f"{name} warm p99 {_ms(p99)} > max_p99_ms {_ms(policy.max_p99_ms)} "
                       f"({c.warm} warm invocations)")  # fmt: skip
    return out


# --- reports --------------------------------------------------------------------------------


def _error_report(
    state: EvidenceState,
    now: Counts,
    policy: JudgePolicy,
    names: tuple[str, str],
    numbers: dict[str, float],
    throttled: bool,
) -> tuple[str, bool, bool]:
    """The errors line, whether it means rollback, and whether non-inferiority is shown."""
    log_e = _error_log_wealth(state, policy)
    threshold = policy.error_threshold
    upper, lower = _bounds(now, policy.promote_alpha)
    bound = upper - lower
    numbers.update({
        "errors.evidence": _exp(log_e), "errors.threshold": threshold,
        "errors.candidate_failures": now[1], "errors.candidate_trials": now[0],
        "errors.stable_failures": now[3], "errors.stable_trials": now[2],
        "errors.candidate_rate": _rate(now[1], now[0]), "errors.stable_rate": _rate(now[3], now[2]),
        "errors.difference_bound": bound, "errors.margin": policy.error_margin,
    })  # fmt: skip
    label = "errors+throttles" if throttled else "errors"
    head = (f"{names[0]} {label} {_pct(_rate(now[1], now[0]))} ({now[1]}/{now[0]}) vs "
            f"{names[1]} {_pct(_rate(now[3], now[2]))} ({now[3]}/{now[2]})")  # fmt: skip
    if log_e >= math.log(threshold) - TOLERANCE:  # a bet lands on the threshold exactly
        return f"{head}: rollback, {_evidence(log_e, threshold)}", True, False
    ni = bound < policy.error_margin
    level = f"{100 * (1 - policy.promote_alpha):g}%"
    return (f"{head}: no regression shown (evidence {_num(_exp(log_e))} < {_num(threshold)}); "
            f"difference ≤ {_pt(bound)} at {level}, {'within' if ni else 'not yet within'} "
            f"the {_pt(policy.error_margin)} margin"), False, ni  # fmt: skip


def _latency_report(
    state: EvidenceState,
    c: VersionStats,
    s: VersionStats,
    policy: JudgePolicy,
    names: tuple[str, str],
    numbers: dict[str, float],
) -> tuple[str, bool, bool | None]:
    """The latency line, whether it means rollback, and non-inferiority (None: not measured)."""
    if c.latency is None or s.latency is None:
        if state.latency_tau_ms is not None:  # measured before: do not promote without it
            return "latency: no warm durations in this look", False, False
        return "latency not compared: no warm durations given", False, None
    q = policy.latency_quantile
    qname = f"p{100 * q:g}"
    tails = (f"warm {qname} {_ms(c.latency.quantile(q))} vs {_ms(s.latency.quantile(q))}, "
             f"p50 {_ms(c.latency.quantile(0.5))} vs {_ms(s.latency.quantile(0.5))}")  # fmt: skip
    for who, stats in (("candidate", c), ("stable", s)):
        assert stats.latency is not None
        numbers[f"latency.{who}_p50_ms"] = stats.latency.quantile(0.5)
        numbers[f"latency.{who}_{qname}_ms"] = stats.latency.quantile(q)
    tau = state.latency_tau_ms
    if tau is None:
        need = _tail_samples(policy)
        return (f"latency {tails}; waiting for {need} warm {names[1]} invocations to fix its "
                f"{qname} as the threshold ({s.warm} so far)"), False, False  # fmt: skip
    # The candidate's durations never set τ, so all of them count; the stable's count from τ on.
    now = _latency_counts(c, s, tau)
    since = (now[0], now[1], now[2] - state.latency_base[2], now[3] - state.latency_base[3])
    log_e = ev.mixture_log_e(ev.LATENCY_ODDS.log_weights, state.latency_log_e)
    threshold = policy.latency_threshold
    upper, lower = _bounds(since, policy.promote_alpha, ev.LATENCY_UPPER_RATIOS)
    bound = upper - lower
    numbers.update({
        "latency.evidence": _exp(log_e), "latency.threshold": threshold, "latency.tau_ms": tau,
        "latency.candidate_slow": since[1], "latency.candidate_warm": since[0],
        "latency.stable_slow": since[3], "latency.stable_warm": since[2],
        "latency.difference_bound": bound, "latency.margin": policy.latency_margin,
    })  # fmt: skip
    head = (f"{names[0]} vs {names[1]} latency {tails}; slower than {_ms(tau)} "
            f"({names[1]}'s {qname}): {_pct(_rate(since[1], since[0]))} ({since[1]}/{since[0]}) "
            f"vs {_pct(_rate(since[3], since[2]))} ({since[3]}/{since[2]})")  # fmt: skip
    if log_e >= math.log(threshold):
        return f"{head}: rollback, {_evidence(log_e, threshold)}", True, False
    ni = bound < policy.latency_margin
    return (f"{head}: no regression shown (evidence {_num(_exp(log_e))} < {_num(threshold)}); "
            f"difference ≤ {_pt(bound)}, {'within' if ni else 'not yet within'} the "
            f"{_pt(policy.latency_margin)} margin"), False, ni  # fmt: skip


def _evidence(log_e: float, threshold: float) -> str:
    return f"evidence {_num(_exp(log_e))} ≥ {_num(threshold)}"


def _name(version: str, role: str) -> str:
    """``v2`` for a published version number, the role when no version is given."""
    return f"v{version}" if version.isdigit() else (version or role)


def _rate(events: int, trials: int) -> float:
    return events / trials if trials else 0.0


def _pct(rate: float) -> str:
    value = 100 * rate
    if value == 0 or value >= 10:
        return f"{value:.0f}%"
    return f"{value:.1f}%" if value >= 1 else f"{value:.2g}%"


def _pt(diff: float) -> str:
    value = 100 * diff
    return f"{value:.0f} pt" if value >= 10 else f"{value:.2g} pt"


def _num(value: float) -> str:
    if math.isinf(value):
        return ">1e308"
    if value >= 1000:
        exponent = int(math.floor(math.log10(value)))
        return f"{value / 10**exponent:.1f}e{exponent}"
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g} ms"


def _dur(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if 0 < seconds < 1:
        return "under 1 s"
    return f"{round(seconds)} s"  # whole seconds: a person reads 10 s, not 10.0026388 s


def _exp(log_value: float) -> float:
    """e**x for reporting, inf past a float's range: a candidate failing hundreds of requests
    in one batch (delayed CloudWatch periods) has evidence beyond 1e308, not an error."""
    return math.exp(log_value) if log_value < 709.0 else math.inf
