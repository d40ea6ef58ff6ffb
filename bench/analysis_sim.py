"""How lambdashift's judge compares with other canary analyses on the same synthetic traffic.

One seeded run. Requests arrive as a Poisson process at 1, 10 and 100 requests/s; the stable
version fails 0.1% of them (p0); the candidate fails p1 ∈ {p0, 2·p0, 1%, 5%, 20%, 100%}; warm
durations are lognormal (median 100 ms, σ 0.5), with or without a candidate regression that
makes its p99 1.5× the stable's (same median, wider tail). Policies, side by side:

* lambdashift   10% canary; the judge (lambdashift.core.judge, default policy) fed a batch
                every 10 s of simulated time, as the engine polls metrics; promote → 100%
* codedeploy    Canary10Percent5Minutes: 10% for 5 min then 100%; alarm Errors ≥ 5 in a
                1-minute period on the whole function, polled every minute
* linear        aws-lambda-deploy style: +10% every minute; any candidate error in the last
                minute → rollback
* flagger       stepWeight 10 to maxWeight 50, interval 1 min, success rate ≥ 99%, rollback
                after 5 failed checks
* oracle        Wald's SPRT knowing p0 and p1 (α = β = 1%), on the same 10-s batches as the
                judge; "oracle/req" is the same test looking after every request

The judge's rule is re-implemented here with numpy over thousands of rollouts at once; the
same seeded rollouts are also replayed through the real ``judge()`` (``--check``) and the two
must agree. Run ``python bench/analysis_sim.py`` (about 2-3 minutes on 2 cores), ``--quick``
for a smoke run. Blast radius = failed requests served by the candidate before the decision.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lambdashift.core import evidence as ev  # noqa: E402
from lambdashift.core import judge as jd  # noqa: E402

POLL_S = 10.0
WEIGHT = 0.10
P0 = 0.001
ALPHA = 0.01
MEDIAN_MS, SIGMA = 100.0, 0.5
Z99 = 2.3263478740408408
SIGMA_SLOW = SIGMA + math.log(1.5) / Z99  # candidate p99 = 1.5 × stable p99, same median
P1S = (P0, 2 * P0, 0.01, 0.05, 0.20, 1.0)
RATES = (1.0, 10.0, 100.0)
PER_REQUEST_X = 5  # per-request looks are drawn failure by failure, cheaply: 5× the rollouts
TIMEBOX_S = 300.0  # the time-boxed point: promote_after 5m, as Canary10Percent5Minutes

NONE, ROLLBACK, PROMOTE = 0, 1, 2

_erfc = np.frompyfunc(math.erfc, 1, 1)


def lognormal_sf(x: np.ndarray, sigma: float) -> np.ndarray:
    """P(duration > x) for the lognormal with the bench's median and ``sigma``."""
    z = (np.log(x) - math.log(MEDIAN_MS)) / sigma
    return (0.5 * _erfc(z / math.sqrt(2))).astype(float)


class LogFactorial:
    """ln n! for n up to a limit, grown on demand (exact: math.lgamma)."""

    def __init__(self) -> None:
        self.table = np.zeros(1)

    def __call__(self, n: np.ndarray) -> np.ndarray:
        top = int(n.max()) if n.size else 0
        if top >= len(self.table):
            size = max(top + 1, 2 * len(self.table))
            self.table = np.array([math.lgamma(i + 1) for i in range(size)])
        return self.table[n]


LF = LogFactorial()


def _lr_grid(nc, ns, f, odds) -> tuple[np.ndarray, ...]:
    """Per chunk (all with ``lo < hi``), ``ln LR(ω)`` for every split ``x`` in ``lo..hi``.

    Returns ``lo``, ``valid`` (rows × width: ``lo + j ≤ hi``) and the ratios (rows × width ×
    odds); ``E₀[ω^X]`` is worked out once per chunk and ω, as in ``evidence._lr_table``.
    """
    n = nc + ns
    lo, hi = np.maximum(0, f - ns), np.minimum(f, nc)
    width = int((hi - lo).max()) + 1
    k = lo[:, None] + np.arange(width)[None, :]
    valid = k <= hi[:, None]
    k = np.where(valid, k, lo[:, None])
    log_pmf = (
        (LF(nc) + LF(ns) - LF(n) + LF(f) + LF(n - f))[:, None]
        - LF(k) - LF(nc[:, None] - k) - LF(f[:, None] - k) - LF(ns[:, None] - f[:, None] + k)
    )  # fmt: skip
    log_pmf = np.where(valid, log_pmf, -np.inf)
    lr = np.empty((len(nc), width, len(odds)))
    for j, omega in enumerate(odds):
        if omega == math.inf:
            top = log_pmf[np.arange(len(nc)), hi - lo]
            lr[:, :, j] = np.where(k == hi[:, None], -top[:, None], -np.inf)
            continue
        theta = math.log(omega)
        a = log_pmf + k * theta
        peak = a.max(axis=1)
        lr[:, :, j] = k * theta - (peak + np.log(np.exp(a - peak[:, None]).sum(axis=1)))[:, None]
    return lo, valid, lr


def split_log_lrs(nc, ns, x, y, odds) -> np.ndarray:
    """Vectorised ``evidence.split_log_lrs``: rows are chunks, columns odds ratios."""
    out = np.zeros((len(nc), len(odds)))
    f = x + y
    live = np.maximum(0, f - ns) < np.minimum(f, nc)
    if live.any():
        lo, _, lr = _lr_grid(nc[live], ns[live], f[live], odds)
        out[live] = lr[np.arange(len(lo)), x[live] - lo]
    return out


def mix(log_weights, log_e: np.ndarray) -> np.ndarray:
    a = log_e + np.asarray(log_weights)[None, :]
    peak = a.max(axis=1)
    return peak + np.log(np.exp(a - peak[:, None]).sum(axis=1))


def _log_expm1(x: np.ndarray) -> np.ndarray:
    """Vectorised ``evidence._log_expm1``."""
    return x + np.log(-np.expm1(-x))


def bet(log_w, log_weights, log_e, nc, xc, ns, xs, log_thr) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``evidence.bet``: each row's log wealth after its chunk, and its log ratios."""
    odds = ev.ERROR_ODDS.points
    out, lrs = np.array(log_w, dtype=float), np.zeros((len(nc), len(odds)))
    f = xc + xs
    live = np.maximum(0, f - ns) < np.minimum(f, nc)
    if not live.any():
        return out, lrs
    lo, valid, lr = _lr_grid(nc[live], ns[live], f[live], odds)
    rows, x = np.arange(len(lo)), xc[live] - lo
    lw = out[live]
    post = np.asarray(log_weights)[None, :] + log_e[live]
    post = post - mix(np.zeros(post.shape[1]), post)[:, None]
    a = post[:, None, :] + lr
    peak = a.max(axis=2)
    with np.errstate(invalid="ignore"):
        log_r = peak + np.log(np.exp(a - np.where(np.isfinite(peak), peak, 0)[:, :, None]).sum(2))
    log_r = np.where(valid, log_r, -np.inf)
    need = log_thr - lw
    top = log_r.max(axis=1)  # R grows with x: its value at hi
    reach = np.where(log_r >= need[:, None], log_r, np.inf).min(axis=1)
    kappa = np.ones(len(lo))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        one = (need > 0) & (top >= need)
        kappa[one] = np.minimum(1.0, np.exp(_log_expm1(need[one] + 1e-12)
                                            - _log_expm1(reach[one])))  # fmt: skip
        plan = (need > 0) & (top < need) & (top > 0)
        aim = need[plan] / np.ceil(need[plan] / top[plan] - 1e-9) + math.log(ev.BET_SLACK)
        kappa[plan] = np.minimum(1.0, np.exp(_log_expm1(aim) - _log_expm1(top[plan])))
        got = log_r[rows, x]
        part = np.logaddexp(np.log1p(-np.minimum(kappa, 1.0 - 1e-300)), np.log(kappa) + got)
    out[live] = lw + np.where(kappa >= 1.0, got, part)
    lrs[live] = lr[rows, x]
    return out, lrs


def weigh_error_chunks(log_w, log_e, c, policy: jd.JudgePolicy,  # noqa: ANN001, ANN201
                       log_thr: float):
    """Closed error chunks ``c`` (4 × rows): each row's error evidence and log e-values after
    them, as ``judge._update_errors``: the time-boxed bet, or the strict point's mixture."""
    weights = policy.error_prior.log_weights
    if policy.bets:
        log_w, lrs = bet(log_w, weights, log_e, c[0], c[1], c[2], c[3], log_thr)
        return log_w, log_e + lrs
    log_e = log_e + split_log_lrs(c[0], c[2], c[1], c[3], ev.ERROR_ODDS.points)
    return mix(weights, log_e), log_e


def error_chunks_close(chunk: np.ndarray, policy: jd.JudgePolicy) -> np.ndarray:
    """Rows whose open error chunk closes now (``JudgePolicy.error_chunk``)."""
    events, requests = chunk[1] + chunk[3], chunk[0] + chunk[2]
    size, failures = policy.error_chunk
    return (events > 0) & ((requests >= size) | (events >= failures))


_TABLES: dict[int, tuple[np.ndarray, ...]] = {}


def _table(mixture: ev.Mixture) -> tuple[np.ndarray, ...]:
    """A mixture's ratios, log ratios and log weights as arrays, with its c = 0 point apart."""
    key = id(mixture)
    if key not in _TABLES:
        c = np.array(mixture.points)
        lw = np.array(mixture.log_weights)
        zero = c == 0.0
        with np.errstate(divide="ignore"):
            _TABLES[key] = (c[~zero], np.log(c[~zero]), lw[~zero], lw[zero])
    return _TABLES[key]


def log_e_rate(events, trials, p, mixture: ev.Mixture) -> np.ndarray:
    """Vectorised ``evidence._log_e_rate``: rows are versions' counts, each at its own ``p``."""
    c, log_c, lw, lw_zero = _table(mixture)
    rest = (trials - events)[:, None]
    log_q = np.log1p(-p)[:, None]
    cp = c[None, :] * p[:, None]
    possible = cp < 1.0
    a = lw + events[:, None] * log_c + rest * (np.log1p(-np.where(possible, cp, 0.0)) - log_q)
    a = np.where(possible, a, -np.inf)
    if lw_zero.size:
        zero = np.where(events == 0, lw_zero[0] - rest[:, 0] * log_q[:, 0], -np.inf)
        a = np.concatenate([a, zero[:, None]], axis=1)
    peak = a.max(axis=1)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    out = safe + np.log(np.exp(a - safe[:, None]).sum(axis=1))
    return np.where(np.isfinite(peak), out, -np.inf)


def _bracket_lower(events, trials, alpha) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bisection bracket [lo, hi] of ``evidence.lower_bound``, and rows already exact."""
    target = -math.log(alpha)
    start = log_e_rate(events, trials, np.full(len(events), 1e-300), ev.LOWER_RATIOS) >= target
    exact = (events == 0) | ~start  # the bound is 0
    lo = np.zeros(len(events))
    hi = np.where(exact, 0.0, events / np.maximum(trials, 1))
    return lo, hi, exact


def lower_bound(events, trials, alpha) -> np.ndarray:
    """Vectorised ``evidence.lower_bound`` (the same bisection)."""
    target = -math.log(alpha)
    lo, hi, exact = _bracket_lower(events, trials, alpha)
    todo = ~exact
    for _ in range(ev.BISECTIONS):
        mid = (lo + hi) / 2
        up = log_e_rate(events, trials, mid, ev.LOWER_RATIOS) >= target
        lo = np.where(todo & up, mid, lo)
        hi = np.where(todo & ~up, mid, hi)
    return lo


def non_inferior(c_events, c_trials, s_events, s_trials, margin, alpha,
                 mixture: ev.Mixture = ev.UPPER_RATIOS) -> np.ndarray:
    """The judge's ``upper(candidate) - lower(stable) < margin``, without solving for both.

    ``upper < b`` holds exactly when the candidate's e-value at ``b`` reaches its threshold
    (the e-value grows with ``b``), so only the stable's lower bound is bisected, and a row
    leaves the bisection as soon as its bracket settles the answer.
    """
    share = jd.CANDIDATE_SHARE
    c_target, s_target = -math.log(share * alpha), -math.log((1 - share) * alpha)
    out = np.zeros(len(c_events), dtype=bool)

    def passes(rows, lower):
        b = np.minimum(lower + margin, 1 - 1e-12)
        return log_e_rate(c_events[rows], c_trials[rows], b, mixture) >= c_target

    rows = np.flatnonzero((c_trials > 0) & (c_events < c_trials))
    p_hat = s_events[rows] / np.maximum(s_trials[rows], 1)
    rows = rows[passes(rows, p_hat)]  # the lower bound is at most the estimate
    if rows.size == 0:
        return out
    e, t = s_events[rows], s_trials[rows]
    lo, hi, exact = _bracket_lower(e, t, (1 - share) * alpha)
    for i in range(ev.BISECTIONS + 1):
        if i % 6 == 0 or i == ev.BISECTIONS:
            yes = passes(rows, lo)
            no = ~passes(rows, hi) if i < ev.BISECTIONS else ~yes
            out[rows[yes & ~no]] = True
            keep = ~(yes | no) & ~exact
            rows, e, t, lo, hi, exact = (a[keep] for a in (rows, e, t, lo, hi, exact))
            if rows.size == 0 or i == ev.BISECTIONS:
                break
        mid = (lo + hi) / 2
        up = log_e_rate(e, t, mid, ev.LOWER_RATIOS) >= s_target
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return out


# --- scenarios and traffic -------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    rate: float
    p1: float
    slow: bool  # the candidate's p99 is 1.5× the stable's

    @property
    def healthy(self) -> bool:
        return self.p1 == P0 and not self.slow

    @property
    def label(self) -> str:
        p1 = "p0" if self.p1 == P0 else ("2·p0" if self.p1 == 2 * P0 else f"{100 * self.p1:g}%")
        return f"{self.rate:g}/s p1={p1}{' +p99×1.5' if self.slow else ''}"


@dataclass
class Outcome:
    """Per-rollout results of one policy: decision, its time, the candidate's failures by then."""

    decision: np.ndarray
    time_s: np.ndarray
    blast: np.ndarray
    extra: dict = field(default_factory=dict)


class Traffic:
    """Per-poll counts at the canary weight, drawn on demand and kept, shared by policies."""

    def __init__(
        self, sc: Scenario, rollouts: int, rng: np.random.Generator, weight: float = WEIGHT
    ) -> None:
        self.sc, self.r, self.rng, self.weight = sc, rollouts, rng, weight
        self.polls: list[tuple[np.ndarray, ...]] = []

    def poll(self, k: int) -> tuple[np.ndarray, ...]:
        while len(self.polls) <= k:
            n = self.rng.poisson(self.sc.rate * POLL_S, self.r)
            nc = self.rng.binomial(n, self.weight)
            ns = n - nc
            xc = self.rng.binomial(nc, self.sc.p1)
            xs = self.rng.binomial(ns, P0)
            self.polls.append((n, nc, ns, xc, xs))
        return self.polls[k]


# --- lambdashift's judge ---------------------------------------------------------------------


def run_judge(
    sc: Scenario,
    traffic: Traffic,
    horizon_s: float,
    rng: np.random.Generator,
    policy: jd.JudgePolicy,
    promote: bool = True,
    record: int = 0,
) -> Outcome:
    """The judge's rule over all rollouts at once, one poll at a time.

    The first ``record`` rollouts are also kept poll by poll, for :func:`replay`.
    """
    r = traffic.r
    traces: list[list[tuple]] = [[] for _ in range(record)]
    cum = np.zeros((4, r), dtype=np.int64)  # cand trials, cand failures, stable trials, failures
    mark = np.zeros((4, r), dtype=np.int64)
    err_log_e = np.zeros((r, len(ev.ERROR_ODDS.points)))
    err_log_w = np.zeros(r)
    tau = np.full(r, np.nan)
    p_slow = np.zeros((2, r))
    lat = np.zeros((4, r), dtype=np.int64)  # since τ: cand warm, cand slow, stable warm, slow
    lat_mark = np.zeros((4, r), dtype=np.int64)
    lat_log_e = np.zeros((r, len(ev.LATENCY_ODDS.points)))
    pre = np.zeros((2, r), dtype=np.int64)  # the candidate's warm and slow before τ was fixed
    decision = np.zeros(r, dtype=np.int8)
    when = np.full(r, horizon_s)
    blast = np.zeros(r)
    err_thr = math.log(policy.error_threshold)
    lat_thr = math.log(policy.latency_threshold)
    tail_n = math.ceil(jd.LATENCY_TAIL_SAMPLES / (1 - policy.latency_quantile))
    bounds = np.array(jd.DEFAULT_BOUNDS_MS)
    edges = np.concatenate([[0.0], bounds, [np.inf]])
    cdf = 1 - lognormal_sf(np.maximum(edges, 1e-300), SIGMA)
    cdf[0], cdf[-1] = 0.0, 1.0
    bucket_p = np.diff(cdf)
    sigma_c = SIGMA_SLOW if sc.slow else SIGMA
    polls = int(horizon_s // POLL_S)
    for k in range(polls):
        live = np.flatnonzero(decision == NONE)
        if live.size == 0:
            break
        t = (k + 1) * POLL_S
        _, nc, ns, xc, xs = (a[live] for a in traffic.poll(k))
        cum[:, live] += np.stack([nc, xc, ns, xs])
        # errors: close the chunk at a poll with a failure and enough requests, and bet on it
        chunk = cum[:, live] - mark[:, live]
        close = live[error_chunks_close(chunk, policy)]
        if close.size:
            err_log_w[close], err_log_e[close] = weigh_error_chunks(
                err_log_w[close], err_log_e[close], cum[:, close] - mark[:, close], policy, err_thr)
            mark[:, close] = cum[:, close]
        # latency: fix τ from the stable's warm samples, then chunks of ≥ 10 per version
        frozen = ~np.isnan(tau[live])
        new = live[~frozen & (cum[2, live] >= tail_n)]
        hists = {}
        if new.size:
            hist = rng.multinomial(cum[2, new], bucket_p)
            hists = {int(row): i for i, row in enumerate(new) if row < record}
            need = policy.latency_quantile * cum[2, new]
            idx = np.argmax(np.cumsum(hist[:, :-1], axis=1) >= need[:, None], axis=1)
            reached = np.cumsum(hist[:, :-1], axis=1)[:, -1] >= need
            tau[new] = np.where(reached, bounds[idx], bounds[-1])
            p_slow[0, new] = lognormal_sf(tau[new], sigma_c)
            p_slow[1, new] = lognormal_sf(tau[new], SIGMA)
            pre[:, new] = cum[0, new], rng.binomial(cum[0, new], p_slow[0, new])
        old_mask = frozen
        old = live[old_mask]
        slow_now = np.zeros((2, r), dtype=np.int64)
        if old.size:
            sc_ = rng.binomial(nc[old_mask], p_slow[0, old])
            ss_ = rng.binomial(ns[old_mask], p_slow[1, old])
            slow_now[:, old] = sc_, ss_
            lat[:, old] += np.stack([nc[old_mask], sc_, ns[old_mask], ss_])
            chunk = lat[:, old] - lat_mark[:, old]
            close = old[(chunk[0] >= jd.LATENCY_CHUNK) & (chunk[2] >= jd.LATENCY_CHUNK)]
            if close.size:
                c = lat[:, close] - lat_mark[:, close]
                lat_log_e[close] += split_log_lrs(c[0], c[2], c[1], c[3], ev.LATENCY_ODDS.points)
                lat_mark[:, close] = lat[:, close]
        for i, row in enumerate(live[live < record]):
            frozen_now = (hist[hists[row]], int(pre[1, row])) if row in hists else None
            traces[row].append((t, int(nc[i]), int(xc[i]), int(ns[i]), int(xs[i]),
                                int(slow_now[0, row]), int(slow_now[1, row]), frozen_now))
        # verdicts
        back = (err_log_w[live] >= err_thr - jd.TOLERANCE) | (
            mix(ev.LATENCY_ODDS.log_weights, lat_log_e[live]) >= lat_thr
        )
        decided = live[back]
        decision[decided], when[decided], blast[decided] = ROLLBACK, t, cum[1, decided]
        if promote and t >= policy.min_duration_s:
            rest = live[~back]
            rest = rest[(cum[0, rest] >= policy.min_invocations) & ~np.isnan(tau[rest])]
            if rest.size:
                ok = non_inferior(cum[1, rest], cum[0, rest], cum[3, rest], cum[2, rest],
                                  policy.error_margin, policy.promote_alpha,
                                  ev.UPPER_RATIOS)  # fmt: skip
                rest = rest[ok]
                c_warm, c_slow = lat[0, rest] + pre[0, rest], lat[1, rest] + pre[1, rest]
                ok = non_inferior(c_slow, c_warm, lat[3, rest], lat[2, rest],
                                  policy.latency_margin, policy.promote_alpha,
                                  ev.LATENCY_UPPER_RATIOS)  # fmt: skip
                rest = rest[ok]
                decision[rest], when[rest], blast[rest] = PROMOTE, t, cum[1, rest]
        if promote and policy.promote_after_s is not None and t >= policy.promote_after_s:
            rest = np.flatnonzero(decision == NONE)  # the time-boxed point: promote by the clock
            decision[rest], when[rest], blast[rest] = PROMOTE, t, cum[1, rest]
    undecided = decision == NONE
    blast[undecided] = cum[1, undecided]
    return Outcome(decision, when, blast, {"tau": tau, "traces": traces})


# --- lower bounds on the blast radius of any prior -------------------------------------------

FLOOR_GRID = (*(float(x) for x in np.geomspace(1.1, 1e4, 80)), math.inf)


def run_floors(traffic: Traffic, horizon_s: float, thresholds: tuple[float, ...]) -> dict:
    """Blast radii no error prior can beat with the strict point's chunks, on its traffic.

    These bound the strict point's mixtures (a chunk closes at every failure); the time-boxed
    point's bets (``evidence.bet``) are not mixtures of fixed odds ratios and can do better.

    * ``third``: roll back at the poll that brings the candidate's third failure, whatever the
      stable does. Two failures are worth at most ``Π N_k/n_c,k`` ≈ 1/w² = 100 < 111 (one
      failure multiplies any chunk e-value by at most 1/(realised share), see
      ``test_one_failure_is_worth_at_most_the_inverse_share``), so the third failure, and the
      poll that brings it, is where nearly every rollback happens.
    * ``sup`` at each threshold: roll back once ``sup_ω Π_k LR_k(ω)`` (ω on a fine grid with
      ∞) reaches it. A mixture ``Σ π_j Π_k LR_k(ω_j)`` never exceeds that supremum, so no prior
      (nor mixture of priors) rolls back sooner. Not a valid test itself: a lower bound only.
    * ``two``: share of rollouts whose first two chunks hold one candidate failure each, no
      stable failure, and realised shares with ``Π 1/q_k ≥`` the first threshold: the only
      way to roll back on two failures, and only with the whole prior at ω = ∞.
    """
    r = traffic.r
    cum = np.zeros((4, r), dtype=np.int64)
    mark = np.zeros((4, r), dtype=np.int64)
    log_e = np.zeros((r, len(FLOOR_GRID)))
    log_q = np.zeros(r)
    chunks, clean = np.zeros(r, dtype=int), np.ones(r, dtype=bool)
    third = np.full(r, np.nan)
    sup = np.full((len(thresholds), r), np.nan)
    for k in range(int(horizon_s // POLL_S)):
        if not (np.isnan(third).any() or np.isnan(sup).any()):
            break
        _, nc, ns, xc, xs = traffic.poll(k)
        cum += np.stack([nc, xc, ns, xs])
        chunk = cum - mark
        close = np.flatnonzero(chunk[1] + chunk[3] > 0)
        c = chunk[:, close]
        log_e[close] += split_log_lrs(c[0], c[2], c[1], c[3], FLOOR_GRID)
        first_two = chunks[close] < 2
        single = (c[1] == 1) & (c[3] == 0)
        clean[close[first_two & ~single]] = False
        log_q[close[first_two]] += np.log((c[0] + c[2]) / np.maximum(c[0], 1))[first_two]
        chunks[close] += 1
        mark[:, close] = cum[:, close]
        hit = np.isnan(third) & (cum[1] >= 3)
        third[hit] = cum[1, hit]
        best = log_e.max(axis=1)
        for i, thr in enumerate(thresholds):
            hit = np.isnan(sup[i]) & (best >= math.log(thr))
            sup[i, hit] = cum[1, hit]
    two = float(np.mean(clean & (chunks >= 2) & (log_q >= math.log(thresholds[0]))))
    return {"third": float(np.nanmean(third)), "sup": [float(np.nanmean(s)) for s in sup],
            "two": two}  # fmt: skip


# --- the judge looking after every request (the local stack) --------------------------------


def run_per_request(sc: Scenario, rollouts: int, rng: np.random.Generator,
                    policy: jd.JudgePolicy, horizon_s: float) -> Outcome:
    """The judge's error test looked at after every request, up to ``horizon_s``.

    On the local stack every invocation's record arrives at once, so the judge looks after
    each request: a chunk closes at the request that gives it a failure and 30 requests (or
    3 failures), and the bet is placed on it. Drawn from one such moment to the next: the
    requests up to and including the next failure (geometric), or fewer when a chunk holding
    a failure reaches 30 requests first (the geometric draw is memoryless, so the rest is
    drawn afresh), which version failed, how the successes split between the versions, and
    the time they took (Poisson arrivals: a gamma). Each request is routed on its own, as
    Lambda does. Errors only: the latency test and the promotion by evidence are left out,
    so the clock (``promote_after``, else the horizon) promotes whatever was not rolled back.
    """
    fail = WEIGHT * sc.p1 + (1 - WEIGHT) * P0  # a request fails
    to_cand = WEIGHT * sc.p1 / fail  # a failed request is the candidate's
    ok_cand = WEIGHT * (1 - sc.p1) / (1 - fail)  # a successful one is the candidate's
    thr = math.log(policy.error_threshold)
    size = policy.error_chunk[0]
    log_e = np.zeros((rollouts, len(ev.ERROR_ODDS.points)))
    log_w = np.zeros(rollouts)
    chunk = np.zeros((4, rollouts), dtype=np.int64)  # cand requests, failures, stable, failures
    t, served = np.zeros(rollouts), np.zeros(rollouts, dtype=np.int64)
    decision = np.zeros(rollouts, dtype=np.int8)
    when = np.full(rollouts, horizon_s)
    live = np.arange(rollouts)
    while live.size:
        n = rng.geometric(fail, live.size)
        c = chunk[:, live]
        held = c[0] + c[2]
        short = (c[1] + c[3] > 0) & (held + n - 1 >= size)  # closes at its 30th request
        steps = np.where(short, size - held, n)
        t[live] += rng.gamma(steps, 1 / sc.rate)
        inside = t[live] <= horizon_s
        live, short, steps = live[inside], short[inside], steps[inside]
        if live.size == 0:
            break
        failed = ~short
        cand_failed = failed & (rng.random(live.size) < to_cand)
        ok = steps - failed
        ok_c = rng.binomial(ok, ok_cand)
        chunk[:, live] += np.stack([ok_c + cand_failed, cand_failed,
                                    ok - ok_c + (failed & ~cand_failed), failed & ~cand_failed])
        served[live] += cand_failed
        close = live[error_chunks_close(chunk[:, live], policy)]
        if close.size == 0:
            continue
        log_w[close], log_e[close] = weigh_error_chunks(log_w[close], log_e[close],
                                                        chunk[:, close], policy, thr)
        chunk[:, close] = 0
        hit = close[log_w[close] >= thr - jd.TOLERANCE]
        decision[hit], when[hit] = ROLLBACK, t[hit]
        live = live[decision[live] == NONE]
    decision[decision == NONE] = PROMOTE
    return Outcome(decision, when, served.astype(float))


# --- the other policies ----------------------------------------------------------------------


def minute_counts(traffic: Traffic, minute: int) -> tuple[np.ndarray, ...]:
    """Arrivals, and the 10%-canary counts, of one minute (six polls) of the shared traffic."""
    polls = [traffic.poll(6 * minute + i) for i in range(6)]
    return tuple(sum(p[j] for p in polls) for j in range(5))


def run_codedeploy(sc: Scenario, traffic: Traffic) -> Outcome:
    """Canary10Percent5Minutes with an alarm Errors ≥ 5 per minute on the whole function."""
    r = traffic.r
    decision = np.zeros(r, dtype=np.int8)
    when, blast, served = np.full(r, 300.0), np.zeros(r), np.zeros(r)
    for m in range(5):
        _, _, _, xc, xs = minute_counts(traffic, m)
        served += xc
        fire = (decision == NONE) & (xc + xs >= 5)
        decision[fire], when[fire], blast[fire] = ROLLBACK, 60.0 * (m + 1), served[fire]
    rest = decision == NONE
    decision[rest], blast[rest] = PROMOTE, served[rest]
    return Outcome(decision, when, blast)


def run_linear(sc: Scenario, traffic: Traffic, rng: np.random.Generator) -> Outcome:
    """+10% a minute up to 100%; any candidate error in the last minute rolls back."""
    r = traffic.r
    decision = np.zeros(r, dtype=np.int8)
    when, blast, served = np.full(r, 540.0), np.zeros(r), np.zeros(r)
    for m in range(9):
        n, nc, _, xc, _ = minute_counts(traffic, m)
        if m:  # above 10% the candidate's share is drawn afresh from the same arrivals
            nc = rng.binomial(n, WEIGHT * (m + 1))
            xc = rng.binomial(nc, sc.p1)
        served += xc
        fire = (decision == NONE) & (xc > 0)
        decision[fire], when[fire], blast[fire] = ROLLBACK, 60.0 * (m + 1), served[fire]
    rest = decision == NONE
    decision[rest], blast[rest] = PROMOTE, served[rest]
    return Outcome(decision, when, blast)


def run_flagger(sc: Scenario, traffic: Traffic, rng: np.random.Generator) -> Outcome:
    """stepWeight 10 → maxWeight 50, 1-min checks of success rate ≥ 99%, 5 failed checks."""
    r = traffic.r
    decision = np.zeros(r, dtype=np.int8)
    when, blast, served = np.full(r, 3600.0), np.zeros(r), np.zeros(r)
    weight, failed = np.full(r, 1), np.zeros(r, dtype=int)  # weight in steps of 10%
    for m in range(60):
        live = decision == NONE
        if not live.any():
            break
        n, nc, _, xc, _ = minute_counts(traffic, m)
        up = weight > 1
        nc = np.where(up, rng.binomial(n, np.minimum(weight, 5) * WEIGHT), nc)
        xc = np.where(up, rng.binomial(nc, sc.p1), xc)
        served += np.where(live, xc, 0)
        ok = (nc > 0) & (xc <= 0.01 * nc)
        t = 60.0 * (m + 1)
        done = live & ok & (weight >= 5)
        decision[done], when[done], blast[done] = PROMOTE, t, served[done]
        weight = np.where(live & ok & (weight < 5), weight + 1, weight)
        failed = failed + (live & ~ok)
        back = live & (failed >= 5)
        decision[back], when[back], blast[back] = ROLLBACK, t, served[back]
    rest = decision == NONE
    blast[rest] = served[rest]
    return Outcome(decision, when, blast)


def run_oracle(sc: Scenario, traffic: Traffic, horizon_s: float, p1: float = 0.0) -> Outcome:
    """Wald's SPRT on the candidate's requests, knowing p0 and p1, at every 10-s poll.

    ``p1`` is the alternative it tests, the scenario's own unless given.
    """
    r = traffic.r
    p1 = p1 or sc.p1
    up, down = math.log((1 - ALPHA) / ALPHA), math.log(ALPHA / (1 - ALPHA))
    a = math.log(p1 / P0)
    b = math.log((1 - p1) / (1 - P0)) if p1 < 1 else -math.inf
    llr, served = np.zeros(r), np.zeros(r)
    decision = np.zeros(r, dtype=np.int8)
    when, blast = np.full(r, horizon_s), np.zeros(r)
    for k in range(int(horizon_s // POLL_S)):
        live = decision == NONE
        if not live.any():
            break
        _, nc, _, xc, _ = traffic.poll(k)
        ok = nc - xc
        step = xc * a + (ok * b if b > -math.inf else np.where(ok > 0, -np.inf, 0.0))
        llr = np.where(live, llr + step, llr)
        served += np.where(live, xc, 0)
        t = (k + 1) * POLL_S
        back, fine = live & (llr >= up), live & (llr <= down)
        decision[back], when[back], blast[back] = ROLLBACK, t, served[back]
        decision[fine], when[fine], blast[fine] = PROMOTE, t, served[fine]
    rest = decision == NONE
    blast[rest] = served[rest]
    return Outcome(decision, when, blast)


def oracle_per_request(p1: float, rollouts: int, rng: np.random.Generator) -> tuple[float, float]:
    """Wald's SPRT looking after every candidate request: (P(rollback), mean failures served)."""
    up, down = math.log((1 - ALPHA) / ALPHA), math.log(ALPHA / (1 - ALPHA))
    a = math.log(p1 / P0)
    b = -math.log((1 - p1) / (1 - P0)) if p1 < 1 else math.inf  # cost of one success
    llr = np.zeros(rollouts)
    decision = np.zeros(rollouts, dtype=np.int8)
    blast = np.zeros(rollouts)
    for i in range(1, 10_000):
        live = decision == NONE
        if not live.any():
            break
        gap = rng.geometric(p1, rollouts) - 1  # successes before the next failure
        with np.errstate(invalid="ignore"):
            llr = np.where(gap > 0, llr - gap * b, llr)
        fine = live & (llr <= down)
        decision[fine], blast[fine] = PROMOTE, i - 1
        llr = llr + a
        back = live & ~fine & (llr >= up)
        decision[back], blast[back] = ROLLBACK, i
    return float(np.mean(decision == ROLLBACK)), float(blast.mean())


# --- cross-check against the real judge -------------------------------------------------------


def replay(trace: list[tuple], policy: jd.JudgePolicy) -> tuple[int, float]:
    """Feed one recorded rollout to ``judge()``: (decision, time) of its first verdict."""
    bounds = jd.DEFAULT_BOUNDS_MS
    cum = [0, 0, 0, 0]
    hist_c = [0] * (len(bounds) + 1)
    hist_s = [0] * (len(bounds) + 1)
    fast = slow = None
    judge = jd.Judge(policy)
    for t, nc, xc, ns, xs, slow_c, slow_s, frozen_hist in trace:
        cum = [cum[0] + nc, cum[1] + xc, cum[2] + ns, cum[3] + xs]
        if frozen_hist is not None:
            hist_s = list(frozen_hist[0])
            tau = jd.LatencyHistogram(bounds, tuple(hist_s)).quantile_bound(policy.latency_quantile)
            fast = bounds.index(tau)
            slow = fast + 1
            hist_c[0] += nc - frozen_hist[1]  # the candidate's durations so far, against τ
            hist_c[slow] += frozen_hist[1]
        elif fast is None:  # before τ is fixed the durations do not matter: all in bucket 0
            hist_c[0] += nc
            hist_s[0] += ns
        else:
            hist_c[fast] += nc - slow_c
            hist_c[slow] += slow_c
            hist_s[fast] += ns - slow_s
            hist_s[slow] += slow_s
        c = jd.VersionStats(cum[0], cum[1], latency=jd.LatencyHistogram(bounds, tuple(hist_c)))
        s = jd.VersionStats(cum[2], cum[3], latency=jd.LatencyHistogram(bounds, tuple(hist_s)))
        verdict = judge.observe(c, s, t).verdict
        if verdict is jd.Verdict.ROLLBACK:
            return ROLLBACK, t
        if verdict is jd.Verdict.PROMOTE:
            return PROMOTE, t
        if verdict is not jd.Verdict.CONTINUE:
            return NONE, t
    return NONE, policy.max_wait_s


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Row:
    sc: Scenario
    policy: str
    out: Outcome

    @property
    def p_rollback(self) -> float:
        return float(np.mean(self.out.decision == ROLLBACK))

    @property
    def p_promote(self) -> float:
        return float(np.mean(self.out.decision == PROMOTE))

    @property
    def blast(self) -> float:
        return float(self.out.blast.mean())

    @property
    def blast_rollback(self) -> float:
        hit = self.out.decision == ROLLBACK
        return float(self.out.blast[hit].mean()) if hit.any() else math.nan

    @property
    def t_decision(self) -> float:
        return float(self.out.time_s.mean())

    @property
    def t_promote(self) -> float:
        hit = self.out.decision == PROMOTE
        return float(self.out.time_s[hit].mean()) if hit.any() else math.nan


def fmt_t(seconds: float) -> str:
    if math.isnan(seconds):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def fmt_p(p: float) -> str:
    return f"{100 * p:.1f}%" if p < 0.995 or p == 1 else f"{100 * p:.2f}%"


def fmt_n(x: float) -> str:
    return "—" if math.isnan(x) else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def scenarios(quick: bool) -> list[Scenario]:
    if quick:
        return [Scenario(rate, p1, False) for rate in (10.0, 100.0) for p1 in (P0, 0.05, 1.0)] + [
            Scenario(100.0, P0, True)
        ]
    return [Scenario(rate, p1, slow) for rate in RATES for slow in (False, True) for p1 in P1S]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (seconds), for tests")
    ap.add_argument("--rollouts", type=int, default=None, help="rollouts per scenario (2000)")
    ap.add_argument("--hours", type=float, default=None, help="judge's horizon/max wait (8 h)")
    ap.add_argument("--seed", type=int, default=20240531)
    ap.add_argument("--check", type=int, default=None, help="rollouts replayed through judge()")
    ap.add_argument("--record", action="store_true",
                    help="store the figures in docs/figures.json and the README (make bench)")
    args = ap.parse_args(argv)
    rollouts = args.rollouts or (200 if args.quick else 2000)
    horizon = 3600.0 * (args.hours or (0.5 if args.quick else 8.0))
    check = args.check if args.check is not None else (3 if args.quick else 10)
    # The statistical test alone: the practical-significance room on "slow" (latency_floor_ms,
    # latency_tolerance) would only delay catching the bench's 1.5x p99 regression.
    policy = jd.JudgePolicy(max_wait_s=horizon, latency_floor_ms=0.0, latency_tolerance=0.0)
    timeboxed = jd.JudgePolicy(max_wait_s=horizon, latency_floor_ms=0.0, latency_tolerance=0.0,
                               promote_after_s=TIMEBOX_S)
    seeds = np.random.SeedSequence(args.seed)
    started = time.perf_counter()

    rows: list[Row] = []
    floors: dict[Scenario, dict] = {}
    mismatches, replayed = 0, 0
    for sc, seed in zip(scenarios(args.quick), seeds.spawn(len(scenarios(args.quick)))):
        traffic_rng, judge_rng, other_rng, tb_rng = (np.random.default_rng(s)
                                                     for s in seed.spawn(4))
        traffic = Traffic(sc, rollouts, traffic_rng)
        mine = run_judge(sc, traffic, horizon, judge_rng, policy, record=check)
        rows.append(Row(sc, "lambdashift", mine))
        if sc.p1 == P0:  # how soon the oracle could accept p0 against p1 = 1%
            rows.append(Row(sc, "oracle(1%)", run_oracle(sc, traffic, horizon, p1=0.01)))
        else:
            rows.append(Row(sc, "oracle", run_oracle(sc, traffic, horizon)))
        rows.append(Row(sc, "codedeploy", run_codedeploy(sc, traffic)))
        boxed = run_judge(sc, traffic, TIMEBOX_S, tb_rng, timeboxed, record=check)
        rows.append(Row(sc, "timeboxed", boxed))
        rows.append(Row(sc, "tb/request", run_per_request(sc, PER_REQUEST_X * rollouts, tb_rng,
                                                          timeboxed, TIMEBOX_S)))
        rows.append(Row(sc, "linear", run_linear(sc, traffic, other_rng)))
        rows.append(Row(sc, "flagger", run_flagger(sc, traffic, other_rng)))
        if not args.quick and sc.rate <= 10 and sc.p1 >= 0.05 and not sc.slow:
            floors[sc] = run_floors(traffic, horizon, (policy.error_threshold, 100.0))
        for out, pol in ((mine, policy), (boxed, timeboxed)):
            for i, trace in enumerate(out.extra["traces"]):
                decision, when = replay(trace, pol)
                replayed += 1
                if decision != out.decision[i] or (decision != NONE and when != out.time_s[i]):
                    mismatches += 1
                    print(f"MISMATCH {sc.label} rollout {i}: judge() {decision}@{when}, "
                          f"bench {out.decision[i]}@{out.time_s[i]}")  # fmt: skip

    # A/A: the rollback tests alone, looked at every 10 s for the whole horizon
    aa: dict[tuple[float, float], float] = {}
    aa_rates = (100.0,) if args.quick else RATES
    cases = [(rate, share) for rate in aa_rates for share in (0.10, 0.11)]
    for (rate, share), seed in zip(cases, seeds.spawn(len(cases))):
        rng_t, rng_j = (np.random.default_rng(s) for s in seed.spawn(2))
        traffic = Traffic(Scenario(rate, P0, False), rollouts, rng_t, weight=share)
        out = run_judge(Scenario(rate, P0, False), traffic, horizon, rng_j, policy, promote=False)
        aa[(rate, share)] = float(np.mean(out.decision == ROLLBACK))

    per_request = {}
    rng = np.random.default_rng(seeds.spawn(1)[0])
    for p1 in P1S[1:]:
        per_request[p1] = oracle_per_request(p1, 20_000 if not args.quick else 2000, rng)
    elapsed = time.perf_counter() - started
    report(rows, aa, per_request, rollouts, horizon, args.quick, replayed, mismatches, elapsed,
           floors)  # fmt: skip
    if args.record:
        record_figures(rows, aa, rollouts, horizon)
    return 0


def record_figures(rows, aa, rollouts: int, horizon: float) -> None:  # noqa: ANN001
    """The README's judge figures, from this run (bench/figures.py): both operating points."""
    import figures

    by = {(r.sc, r.policy): r for r in rows}
    scs = list(dict.fromkeys(r.sc for r in rows))
    mine = {sc: by[(sc, "lambdashift")] for sc in scs}
    false_rb = max([r.p_rollback for sc, r in mine.items() if sc.healthy] + list(aa.values()))
    failing = {sc: r for sc, r in mine.items() if sc.p1 >= 0.01 and not sc.slow}
    caught = min(r.p_rollback for r in failing.values())
    at1 = [(r.blast, r.blast / by[(sc, "oracle")].blast) for sc, r in failing.items()
           if sc.rate == 1 and (sc, "oracle") in by]
    blasts, ratios = [b for b, _ in at1] or [math.nan], [q for _, q in at1] or [math.nan]
    promote = [mine[sc].t_promote / by[(sc, "oracle(1%)")].t_promote for sc in scs
               if sc.healthy and sc.rate >= 10 and (sc, "oracle(1%)") in by] or [math.nan]
    rates = sorted({sc.rate for sc in scs if sc.healthy and sc.rate >= 10})
    late = max(float(by[(sc, "timeboxed")].out.time_s[by[(sc, "timeboxed")].out.decision == PROMOTE]
                     .max(initial=0.0)) for sc in scs if sc.healthy)
    cd_promote = max(by[(sc, "codedeploy")].t_promote for sc in scs if sc.healthy)
    detects = [sc for sc in scs if not sc.healthy and by[(sc, "codedeploy")].p_rollback >= 0.5
               and by[(Scenario(sc.rate, P0, False), "codedeploy")].p_rollback < 0.5]
    every = all(min(by[(sc, "timeboxed")].p_rollback, by[(sc, "tb/request")].p_rollback)
                >= by[(sc, "codedeploy")].p_rollback for sc in detects)
    r10 = max([by[(sc, "timeboxed")].blast_rollback / by[(sc, "codedeploy")].blast_rollback
               for sc in detects] or [math.nan])
    rreq = max([by[(sc, "tb/request")].blast_rollback / by[(sc, "codedeploy")].blast_rollback
                for sc in detects] or [math.nan])
    figures.record("analysis_sim", {"judge": (
        f"false rollbacks ≤ {fmt_p(false_rb)} of healthy candidates over {horizon / 3600:g} h; "
        f"strict (opt-in, `promote: when-shown-no-worse`): 1%–100% failing candidates rolled back in ≥ {fmt_p(caught)} of "
        f"runs, after {min(blasts):.1f}–{max(blasts):.1f} failed requests on average at 1 req/s "
        f"({min(ratios):.1f}–{max(ratios):.1f}× Wald's SPRT on the same 10-s looks), healthy ones "
        f"promoted in {min(promote):.2f}–{max(promote):.2f}× the SPRT's time at "
        f"{'–'.join(f'{r:g}' for r in (rates[0], rates[-1])) if rates else '?'} req/s; "
        f"time-boxed (the default for a judged pause, here 5 min): healthy ones promoted within {fmt_t(late)} "
        f"(CodeDeploy: {fmt_t(cd_promote)}), "
        f"{'every' if every else 'not every'} scenario CodeDeploy catches rolled back at least as "
        f"often, with ≤ {r10:.3f}× its failed requests at 10-s looks ({rreq:.3f}× looking after "
        f"every request)")},
        {"rollouts": f"{rollouts:,}", "hours": horizon / 3600})


def report(rows, aa, per_request, rollouts, horizon, quick, replayed, mismatches, elapsed,
           floors=None) -> None:
    print(f"lambdashift analysis benchmark: {rollouts} rollouts per scenario, "
          f"p0 = {100 * P0:g}%, canary 10%, judge every {POLL_S:g} s, "
          f"horizon {fmt_t(horizon)}, α = {ALPHA:g}")  # fmt: skip
    print("blast = failed requests served by the candidate before the decision; times are means;"
          " undecided rollouts count at the horizon\n")  # fmt: skip
    head = (f"{'scenario':<24}{'policy':<13}{'P(rollback)':>12}{'P(promote)':>11}{'blast':>8}"
            f"{'blast|rb':>9}{'t decide':>10}{'t promote':>10}")  # fmt: skip
    print(head)
    print("-" * len(head))
    last = None
    for row in rows:
        label = row.sc.label if row.sc != last else ""
        last = row.sc
        print(f"{label:<24}{row.policy:<13}{fmt_p(row.p_rollback):>12}{fmt_p(row.p_promote):>11}"
              f"{fmt_n(row.blast):>8}{fmt_n(row.blast_rollback):>9}{fmt_t(row.t_decision):>10}"
              f"{fmt_t(row.t_promote):>10}")  # fmt: skip

    by = {(r.sc, r.policy): r for r in rows}
    print("\nA/A, rollback tests only, looked at every 10 s for the whole horizon (share = the "
          "candidate's true share of invocations; the judge is never told it):")  # fmt: skip
    for (rate, share), p in sorted(aa.items()):
        print(f"  {rate:>5g}/s  share {100 * share:.0f}%  false rollback {fmt_p(p)}")
    print("\nWald's SPRT looking after every request (knows p0, p1): failures served before "
          "rollback")
    for p1, (p_rb, blast) in per_request.items():
        print(f"  p1 = {100 * p1:g}%: {blast:.2f} (P(rollback) {fmt_p(p_rb)})")

    print("\nSummary: lambdashift's blast against the oracle on the same 10-s batches (ratio), "
          "the oracle looking\nafter every request (/req), the target bound, and CodeDeploy "
          "(CD)")
    head = (f"{'scenario':<24}{'blast':>7}{'oracle':>8}{'ratio':>7}{'/req':>6}{'bound':>7}"
            f"{'P(rb)':>8}{'CD P(rb)':>9}{'CD blast|rb':>12}{'ratio|rb':>9}")  # fmt: skip
    print(head)
    print("-" * len(head))
    checks: dict[str, list[tuple[str, bool]]] = {k: [] for k in ("fr", "br", "cd", "lat", "fast")}
    for sc in dict.fromkeys(r.sc for r in rows):
        me, cd = by[(sc, "lambdashift")], by[(sc, "codedeploy")]
        if sc.healthy:
            checks["fr"].append((sc.label, me.p_rollback <= ALPHA))
            if sc.rate >= 10:
                speedup = cd.t_promote / me.t_promote if me.p_promote > 0 else 0.0
                ora = by[(sc, "oracle(1%)")]
                checks["fast"].append((
                    f"{sc.label}: {speedup:.1f}× sooner ({fmt_t(me.t_promote)}); the oracle "
                    f"accepting p0 against 1% needs {fmt_t(ora.t_promote)}", speedup >= 5))
            continue
        if sc.slow and sc.p1 == P0:
            checks["lat"].append((f"{sc.label}: P(rb) {fmt_p(me.p_rollback)}",
                                  me.p_rollback >= 0.99))  # fmt: skip
        ora = by.get((sc, "oracle"))
        ratio_cd = me.blast_rollback / cd.blast_rollback if cd.p_rollback > 0 else math.nan
        if ora is not None:
            bound = max(1.6 * ora.blast, 3.5)
            per_req = me.blast / per_request[sc.p1][1]
            print(f"{sc.label:<24}{me.blast:>7.2f}{ora.blast:>8.2f}{me.blast / ora.blast:>7.2f}"
                  f"{per_req:>6.1f}{bound:>7.2f}{fmt_p(me.p_rollback):>8}{fmt_p(cd.p_rollback):>9}"
                  f"{fmt_n(cd.blast_rollback):>12}{fmt_n(ratio_cd):>9}")  # fmt: skip
            if sc.p1 >= 0.01 and not sc.slow:
                ok = me.blast <= bound and me.p_rollback >= 0.99
                checks["br"].append((f"{sc.label}: {me.blast:.2f} vs ≤ {bound:.2f}, "
                                     f"P(rb) {fmt_p(me.p_rollback)}", ok))  # fmt: skip
        # CodeDeploy "detects" where it rolls back most bad rollouts but not most healthy ones
        cd_healthy = by[(Scenario(sc.rate, P0, False), "codedeploy")].p_rollback
        if cd.p_rollback >= 0.5 and cd_healthy < 0.5:
            checks["cd"].append((f"{sc.label}: {ratio_cd:.2f}", ratio_cd <= 0.4))

    aa_ok = all(p <= ALPHA for p in aa.values())
    checks["fr"].append((f"A/A over {fmt_t(horizon)}, max {fmt_p(max(aa.values()))}", aa_ok))
    names = {
        "fr": "false rollback ≤ 1% on healthy candidates (checked every 10 s)",
        "br": "p1 1%-100%: blast ≤ max(1.6 × oracle, 3.5) and P(rollback) ≥ 99%",
        "cd": "blast ≤ 0.4 × CodeDeploy's where it detects (rolls back ≥ 50% of these "
              "rollouts, < 50% of healthy ones; means over rolled-back runs)",
        "lat": "1.5× p99 latency regression rolled back (≥ 99%), same false-rollback bound",
        "fast": "healthy candidate fully promoted ≥ 5× sooner than Canary10Percent5Minutes",
    }
    if floors:
        thr = jd.JudgePolicy().error_threshold
        print(f"\nFloors of the strict point: no error prior does better with its chunks (see "
              f"run_floors); 0.4×CD = "
              f"the target where CodeDeploy detects\n{'scenario':<24}{'blast|rb':>9}{'0.4×CD':>8}"
              f"{'3rd fail':>9}{'sup ω@' + format(thr, '.0f'):>10}{'sup ω@100':>10}"
              f"{'2 fails':>8}")  # fmt: skip
        for sc, f in floors.items():
            me, cd = by[(sc, "lambdashift")], by[(sc, "codedeploy")]
            detects = cd.p_rollback >= 0.5  # as in the targets below
            target = 0.4 * cd.blast_rollback if detects else math.nan
            print(f"{sc.label:<24}{fmt_n(me.blast_rollback):>9}{fmt_n(target):>8}"
                  f"{f['third']:>9.2f}{f['sup'][0]:>10.2f}{f['sup'][1]:>10.2f}{fmt_p(f['two']):>8}")  # fmt: skip
    point_checks, point_names = report_points(rows)
    checks.update(point_checks)
    names.update(point_names)
    print(f"\nCross-check: {replayed} rollouts replayed through judge(), "
          f"{mismatches} disagreements")
    print(f"\nTargets{' (quick run: too few rollouts to judge them)' if quick else ''}:")
    for key, name in names.items():
        items = checks[key]
        verdict = "PASS" if items and all(ok for _, ok in items) else "FAIL"
        print(f"  {verdict}  {name}")
        for label, ok in items:
            if not ok or key in ("fast", "lat", "cd", *point_names):
                print(f"          {'ok  ' if ok else 'miss'} {label}")
    print(f"\nfinished in {elapsed:.0f} s")


def report_points(rows: list[Row]) -> tuple[dict, dict]:
    """The two operating points of docs/analysis.md side by side, and their targets.

    *strict* is the default judge; *timeboxed* the same with ``promote_after`` = 5 min, looked
    at every 10 s and (``tb/request``) after every request. CodeDeploy "detects" a scenario as
    in the summary: it rolls back ≥ 50% of its rollouts and < 50% of the healthy ones.
    """
    by = {(r.sc, r.policy): r for r in rows}
    scs = list(dict.fromkeys(r.sc for r in rows))
    print("\nOperating points: P(rollback) per scenario (strict = the default judge; timeboxed ="
          " promote_after 5m,\nlooked at every 10 s and after every request; CD = "
          "Canary10Percent5Minutes with its alarm)")  # fmt: skip
    head = (f"{'scenario':<24}{'strict':>8}{'tb 10 s':>9}{'tb/req':>8}{'CD':>8}"
            f"{'CD blast|rb':>12}{'tb/CD':>7}{'req/CD':>8}")  # fmt: skip
    print(head)
    print("-" * len(head))
    checks: dict[str, list[tuple[str, bool]]] = {k: [] for k in
                                                 ("strict", "catch", "tb_t", "tb_rb", "tb_10", "tb_req")}  # fmt: skip
    for sc in scs:
        me, cd = by[(sc, "lambdashift")], by[(sc, "codedeploy")]
        tb, req = by[(sc, "timeboxed")], by[(sc, "tb/request")]
        healthy_cd = by[(Scenario(sc.rate, P0, False), "codedeploy")].p_rollback
        detects = not sc.healthy and cd.p_rollback >= 0.5 and healthy_cd < 0.5
        r10 = tb.blast_rollback / cd.blast_rollback if detects else math.nan
        rreq = req.blast_rollback / cd.blast_rollback if detects else math.nan
        print(f"{sc.label:<24}{fmt_p(me.p_rollback):>8}{fmt_p(tb.p_rollback):>9}"
              f"{fmt_p(req.p_rollback):>8}{fmt_p(cd.p_rollback):>8}"
              f"{fmt_n(cd.blast_rollback) if detects else '':>12}{fmt_n(r10):>7}"
              f"{fmt_n(rreq):>8}")  # fmt: skip
        if sc.healthy:
            late = float(tb.out.time_s[tb.out.decision == PROMOTE].max(initial=0.0))
            checks["tb_t"].append((f"{sc.label}: mean {fmt_t(tb.t_promote)}, latest "
                                   f"{fmt_t(late)}, CD {fmt_t(cd.t_promote)}",
                                   late <= TIMEBOX_S and tb.p_promote >= cd.p_promote - 0.01))
            ora = by.get((sc, "oracle(1%)"))
            if ora is not None and sc.rate >= 10:
                ratio = me.t_promote / ora.t_promote
                checks["strict"].append((f"{sc.label}: {fmt_t(me.t_promote)} vs SPRT "
                                         f"{fmt_t(ora.t_promote)}: {ratio:.2f}×", ratio <= 1.3))
            continue
        if sc.p1 >= 10 * P0:
            checks["catch"].append((f"{sc.label}: {fmt_p(me.p_rollback)}", me.p_rollback >= 0.99))
        if detects:
            checks["tb_rb"].append((f"{sc.label}: {fmt_p(tb.p_rollback)} (10 s), "
                                    f"{fmt_p(req.p_rollback)} (per request) vs CD "
                                    f"{fmt_p(cd.p_rollback)}",
                                    min(tb.p_rollback, req.p_rollback) >= cd.p_rollback))
            checks["tb_10"].append((f"{sc.label}: {r10:.3f}", r10 <= 0.45))
            checks["tb_req"].append((f"{sc.label}: {rreq:.3f}", rreq <= 0.4))
    names = {
        "strict": "strict: healthy promoted within 1.3× Wald's SPRT (p0 against 1%, same looks)",
        "catch": "strict: P(rollback) ≥ 99% for p1 ≥ 10·p0",
        "tb_t": "timeboxed: healthy promoted no later than Canary10Percent5Minutes",
        "tb_rb": "timeboxed: rolls back at least as often as CodeDeploy where it detects",
        "tb_10": "timeboxed, 10-s looks: blast|rb ≤ 0.45 × CodeDeploy's where it detects",
        "tb_req": "timeboxed, per-request looks: blast|rb ≤ 0.4 × CodeDeploy's where it detects",
    }
    return checks, names


if __name__ == "__main__":
    sys.exit(main())
