"""The bake after a switch to 100%: false rollbacks on A/A switches, and what a failing
candidate costs, beside CodeDeploy's all-at-once watched by an alarm on Errors > 0.

One seeded run. Requests arrive as a Poisson process at 1, 10 and 100 requests/s. The
stable version fails p0 = 0.1% of them, times a *time effect* that both versions share:

* ``steady``     none: the rate is p0 at all times
* ``drift``      the log of the rate follows an Ornstein-Uhlenbeck process (stationary
                 standard deviation 0.5, correlation time 30 min): ×0.6 to ×1.6 within an
                 hour is common
* ``bursts``     the drift, plus bursts of a downstream's trouble: 2 an hour, 10-60 s each,
                 the rate ×3 to ×10 (log-uniform) while they last
* ``outages``    the drift, plus 1 outage an hour, 10-60 s, ×20 to ×100 (reported, not a
                 target: before/after cannot tell an outage that starts during the bake from a
                 bad release)

Each switch happens at a random moment of that world. The bake (``lambdashift.core.bake``,
the real functions, default policy, 60 s) takes the stable's requests in the 5 minutes
before the switch (30 when those held fewer than 1,000) as its baseline, and looks after
every request of the candidate (the e-process only falls between failures, so looking at
each failure is looking at every request); the local stack looks every 0.05 s in the first
2 s after the switch and every 0.2 s after, which adds ``p1 × rate × half that`` failed
requests on average, counted below.

* **A/A**: the candidate is the stable (same code): a rollback is a false rollback.
* **Failing candidates** (5%, 20%, 100% of requests, in the ``bursts`` world): failed
  requests from the switch to the rollback. Beside them, CodeDeploy's ``LambdaAllAtOnce``
  with a CloudWatch alarm ``Errors > 0`` (Sum over 1-minute periods, 1 of 1 datapoints) on
  the function: a period holding an error is seen when it is published, 60-120 s (uniform)
  after it ends, and the alarm rolls back then (assuming the deployment is still watched:
  CodeDeploy's AllAtOnce ends at once, so in practice the alarm needs a hook that holds it
  open). The same alarm on the A/A switches over the same 60 s gives its false rollbacks.

Run ``python bench/bake_sim.py`` (about a minute on 2 cores), ``--quick`` for a smoke run,
``--record`` to store the figures (docs/figures.json and the README's table).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lambdashift.core.bake import (  # noqa: E402
    BakePolicy,
    clopper_pearson_upper,
    log_e_above,
)
from lambdashift.rollout.bake import FIRST_LOOK_S, FIRST_S  # noqa: E402

P0 = 0.001
RATES = (1.0, 10.0, 100.0)
WORLDS = ("steady", "drift", "bursts", "outages")
P1S = (0.05, 0.20, 1.0)
BAKE_S = 60.0
DRIFT_SD, DRIFT_TAU_S, DRIFT_STEP_S = 0.5, 1800.0, 10.0
BURSTS = {"bursts": (2.0, 3.0, 10.0), "outages": (1.0, 20.0, 100.0)}  # per hour, factor range
BURST_S = (10.0, 60.0)
ALARM_DELAY_S = (60.0, 120.0)
PERIOD_S = 60.0
LOOK_S = 0.2  # the local stack's looks
HORIZON_S = 900.0  # "failed in 15 min": what an uncaught release costs by then


@dataclass(frozen=True)
class Outcome:
    """Per switch: rolled back or not, and failed requests before the decision."""

    rolled_back: np.ndarray
    failed: np.ndarray


class World:
    """The shared failure rate around one switch at t = 0: p0 × drift × bursts, per second
    from ``-history`` to the end of the bake."""

    def __init__(self, kind: str, history: float, rng: np.random.Generator) -> None:
        self.start = -history
        seconds = int(history + BAKE_S)
        log_rate = np.zeros(seconds)
        if kind != "steady":
            steps = seconds // int(DRIFT_STEP_S) + 1
            phi = math.exp(-DRIFT_STEP_S / DRIFT_TAU_S)
            d = np.empty(steps)
            d[0] = rng.normal(0.0, DRIFT_SD)
            noise = rng.normal(0.0, DRIFT_SD * math.sqrt(1 - phi * phi), steps)
            for k in range(1, steps):
                d[k] = phi * d[k - 1] + noise[k]
            log_rate += np.repeat(d, int(DRIFT_STEP_S))[:seconds]
        if kind in BURSTS:
            per_hour, low, high = BURSTS[kind]
            span = seconds + BURST_S[1]  # a burst may have begun before the window
            for _ in range(rng.poisson(per_hour * span / 3600.0)):
                begin = int(rng.uniform(-BURST_S[1], seconds))
                length = int(rng.uniform(*BURST_S))
                factor = math.exp(rng.uniform(math.log(low), math.log(high)))
                lo, hi = max(0, begin), min(seconds, begin + length)
                if lo < hi:
                    log_rate[lo:hi] += math.log(factor)
        self.rate = np.minimum(1.0, P0 * np.exp(log_rate))

    def p(self, t0: float, t1: float) -> np.ndarray:
        """The failure rate of each second in [t0, t1)."""
        return self.rate[int(t0 - self.start):int(t1 - self.start)]


def baseline(world: World, rate: float, policy: BakePolicy,
             rng: np.random.Generator) -> tuple[int, int]:
    """(failed, requests) of the stable in the baseline window, as the analyzer picks it."""
    for seconds in (policy.baseline_s, policy.baseline_max_s):
        p = world.p(-seconds, 0.0)
        n = rng.poisson(rate, len(p))
        x = rng.binomial(n, p)
        if n.sum() >= policy.baseline_min_requests or seconds == policy.baseline_max_s:
            return int(x.sum()), int(n.sum())
    raise AssertionError  # pragma: no cover


def requests_after(p: np.ndarray, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The candidate's requests in the bake: arrival times and whether each failed."""
    n = rng.poisson(rate, len(p))
    times = np.concatenate([s + np.sort(rng.random(k)) for s, k in enumerate(n)]) if n.sum() \
        else np.zeros(0)
    per = np.repeat(p, n)
    return times, rng.random(len(per)) < per


def bake_once(x0: int, n0: int, failed: np.ndarray, policy: BakePolicy) -> int | None:
    """The 1-based index of the request at which the bake rolls back, or None."""
    if n0 == 0:
        return None
    alpha_b, alpha_t = policy.error_alphas
    p_star = min(1.0, policy.error_ratio * clopper_pearson_upper(x0, n0, alpha_b)
                 + policy.error_margin)
    if p_star >= 1.0:
        return None
    threshold = math.log(1 / alpha_t)
    for x, index in enumerate(np.flatnonzero(failed), start=1):
        if log_e_above(x, int(index) + 1, p_star) >= threshold:
            return int(index) + 1
    return None


def run(world_kind: str, rate: float, p1: float | None, runs: int, policy: BakePolicy,
        rng: np.random.Generator) -> tuple[Outcome, Outcome]:
    """The bake and the alarm on ``runs`` switches; p1 None is A/A (the world's own rate)."""
    history = policy.baseline_max_s
    rb, failed, a_rb, a_failed = (np.zeros(runs, bool), np.zeros(runs), np.zeros(runs, bool),
                                  np.zeros(runs))
    for i in range(runs):
        world = World(world_kind, history, rng)
        x0, n0 = baseline(world, rate, policy, rng)
        p_after = world.p(0.0, BAKE_S) if p1 is None else np.full(int(BAKE_S), p1)
        times, fails = requests_after(p_after, rate, rng)
        at = bake_once(x0, n0, fails, policy)
        if at is not None:
            rb[i] = True
            crossed = times[at - 1]  # the next look, on average: faster in the first seconds
            decided = crossed + (FIRST_LOOK_S if crossed < FIRST_S else LOOK_S) / 2
            failed[i] = fails[times <= decided].sum()
        a_rb[i], a_failed[i] = alarm(times, fails, p1, rate, rng)
    return Outcome(rb, failed), Outcome(a_rb, a_failed)


def alarm(times: np.ndarray, fails: np.ndarray, p1: float | None, rate: float,
          rng: np.random.Generator) -> tuple[bool, float]:
    """CodeDeploy's alarm Errors > 0 on 1-minute periods, seen 60-120 s after the period.

    A/A: did any error happen in the 60 s after the switch (the alarm then fires)? A failing
    candidate: its failures from the switch until the alarm fires (watched until it does).
    """
    errors = times[fails]
    if p1 is None:
        return bool(len(errors)), float(len(errors))
    phase = rng.uniform(0.0, PERIOD_S)  # where the switch falls in its minute
    if len(errors):
        first = float(errors[0])
    else:  # not within the bake's 60 s: the first error comes later, at the same rate
        first = BAKE_S + rng.exponential(1.0 / (rate * p1))
    fires = math.ceil((phase + first) / PERIOD_S) * PERIOD_S + rng.uniform(*ALARM_DELAY_S) - phase
    within = float((errors <= fires).sum())
    if fires > BAKE_S:  # failures after the simulated 60 s, at the candidate's rate
        within += rng.poisson(rate * p1 * (fires - max(BAKE_S, first)))
        within += 0 if len(errors) else 1  # the first error itself
    return True, within


def fmt_p(p: float) -> str:
    return f"{100 * p:.1f}%" if p < 0.995 or p == 1 else f"{100 * p:.2f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (seconds), for tests")
    ap.add_argument("--runs", type=int, default=None, help="A/A switches per case (2000)")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--ratio", type=float, default=None, help="error_ratio of the policy (1.5)")
    ap.add_argument("--margin", type=float, default=None, help="error_margin (0.001)")
    ap.add_argument("--record", action="store_true",
                    help="store the figures in docs/figures.json and the README (make bench)")
    args = ap.parse_args(argv)
    runs = args.runs or (100 if args.quick else 2000)
    bad_runs = max(50, runs // 4)
    policy = BakePolicy(seconds=BAKE_S)
    if args.ratio is not None or args.margin is not None:  # to explore the trade-off
        policy = BakePolicy(seconds=BAKE_S, error_ratio=args.ratio or policy.error_ratio,
                            error_margin=args.margin or policy.error_margin)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    print(f"bake {BAKE_S:g} s, stable p0 = {100 * P0:g}%, alpha {100 * policy.alpha:g}% "
          f"(errors {100 * sum(policy.error_alphas):.2g}%); null rate p* = "
          f"{policy.error_ratio:g} × U + {100 * policy.error_margin:g} pt\n")
    print(f"A/A switches ({runs:,} per case): false rollbacks of the bake; the alarm "
          "Errors > 0 over the same 60 s beside it")
    print(f"{'world':<10}{'rate':>8}{'bake':>10}{'alarm':>10}")
    aa: dict[tuple[str, float], float] = {}
    alarm_aa: dict[tuple[str, float], float] = {}
    for world in WORLDS:
        for rate in RATES:
            bake, al = run(world, rate, None, runs, policy, rng)
            aa[(world, rate)] = float(bake.rolled_back.mean())
            alarm_aa[(world, rate)] = float(al.rolled_back.mean())
            print(f"{world:<10}{rate:>6g}/s{fmt_p(aa[(world, rate)]):>10}"
                  f"{fmt_p(alarm_aa[(world, rate)]):>10}")

    print(f"\nfailing candidates in the 'bursts' world ({bad_runs:,} per case): failed requests "
          "from the switch to the rollback (mean over the rollouts rolled back)")
    print(f"{'':14}{'rolled back':>13}{'failed before rollback':>26}{'failed in 15 min':>22}")
    print(f"{'p1':>6}{'rate':>8}{'in the bake':>13}{'bake':>9}{'alarm':>9}{'ratio':>8}"
          f"{'bake':>9}{'alarm':>9}{'ratio':>8}")
    bad: dict[tuple[float, float], tuple[float, float, float]] = {}
    for p1 in P1S:
        for rate in RATES:
            bake, al = run("bursts", rate, p1, bad_runs, policy, rng)
            caught = float(bake.rolled_back.mean())
            mine = float(bake.failed[bake.rolled_back].mean()) if bake.rolled_back.any() else math.nan
            theirs = float(al.failed.mean())
            bad[(p1, rate)] = (caught, mine, theirs)
            # In 15 minutes: a release the bake did not catch stays, failing p1 of 15 min.
            mine15 = float(np.where(bake.rolled_back, bake.failed, p1 * rate * HORIZON_S).mean())
            theirs15 = float(np.minimum(al.failed, p1 * rate * HORIZON_S).mean())
            print(f"{100 * p1:>5g}%{rate:>6g}/s{fmt_p(caught):>13}{mine:>9.1f}{theirs:>9.1f}"
                  f"{mine / theirs:>8.2f}{mine15:>9.1f}{theirs15:>9.1f}{mine15 / theirs15:>8.2f}")

    worst = max(v for (w, _), v in aa.items() if w != "outages")
    print(f"\ntarget: A/A false rollbacks ≤ 1% (steady, drift, bursts): "
          f"{'PASS' if worst <= 0.01 else 'FAIL'} (worst {fmt_p(worst)}; outages, not a target: "
          f"{fmt_p(max(v for (w, _), v in aa.items() if w == 'outages'))})")
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    if args.record:
        record(aa, bad, runs, bad_runs)
    return 0


def record(aa, bad, runs: int, bad_runs: int) -> None:  # noqa: ANN001
    """The README's bake figures, from this run (bench/figures.py)."""
    import figures

    worst = max(v for (w, _), v in aa.items() if w != "outages")
    at100 = {p1: bad[(p1, 100.0)] for p1 in P1S}
    figures.record("bake_sim", {"bake": (
        f"false rollbacks ≤ {fmt_p(worst)} of A/A switches with drift and bursts; at 100 "
        "requests/s a release failing 5% / 20% / 100% is rolled back after "
        + " / ".join(f"{m:.1f}" for _, m, _ in at100.values())
        + " failed requests, against "
        + " / ".join(f"{t:.0f}" for _, _, t in at100.values())
        + " for an alarm on Errors > 0")},
        {"runs": f"{runs:,}", "bad_runs": f"{bad_runs:,}"})


if __name__ == "__main__":
    raise SystemExit(main())
