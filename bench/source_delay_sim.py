"""Blast radius when the judge's numbers arrive late, as they do on AWS: logs vs CloudWatch.

The same kind of traffic as ``bench/analysis_sim.py`` (Poisson arrivals at 1, 10 and 100
requests/s, a 10% canary, the stable failing 0.1% of requests, a candidate failing 5% or all
of them), but what a policy *sees* is delayed as AWS delays it:

* **CloudWatch metrics**: 1-minute periods, each published 60-120 s (uniform) after it ends;
* **CloudWatch Logs**: each invocation's REPORT line and error record arrive 2-10 s
  (uniform, per invocation) after the invocation.

Policies, on the same seeded rollouts:

* ``lambdashift/logs``     the real judge (``lambdashift.core.judge``, default policy) every
                           5 s over what the logs source has received (``metrics: logs``)
* ``lambdashift/metrics``  the same judge over the published CloudWatch periods
                           (``metrics: cloudwatch``)
* ``lambdashift/both``     per version, whichever of the two has seen more (``metrics: both``)
* ``codedeploy``           Canary10Percent5Minutes with the alarm Errors ≥ 5 in a 1-minute
                           period on the whole function; the alarm sees a period once it is
                           published; an alarm after the 5 minutes comes too late (promoted)

Blast radius = failed requests served by the candidate before the decision (all of them,
seen or not); "failed in 15 min" adds what a promoted candidate then fails at 100% of the
traffic (and an undecided one at its 10%) until the 15-minute horizon. Run ``python bench/source_delay_sim.py`` (about a minute), ``--quick`` for a
smoke run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lambdashift.core.judge import Judge, JudgePolicy, VersionStats  # noqa: E402
from lambdashift.model import Verdict  # noqa: E402

WEIGHT, P0 = 0.10, 0.001
POLL_S = 5.0  # the engine's default --poll
PERIOD_S = 60.0
METRIC_DELAY = (60.0, 120.0)
LOG_DELAY = (2.0, 10.0)
CANARY_S = 300.0  # CodeDeploy's Canary10Percent5Minutes
ALARM_ERRORS = 5
HORIZON_S = 900.0
RATES = (1.0, 10.0, 100.0)
P1S = (1.0, 0.05)
POLICIES = ("lambdashift/logs", "lambdashift/metrics", "lambdashift/both", "codedeploy")


@dataclass
class Rollout:
    """One seeded rollout's requests: per version, arrival and log-arrival times, failures."""

    times: dict[str, np.ndarray]     # arrival time of each request
    failed: dict[str, np.ndarray]    # did it fail
    seen_at: dict[str, np.ndarray]   # when its log lines reach CloudWatch Logs
    published: np.ndarray            # when each 1-minute period's metrics are published

    @classmethod
    def draw(cls, rate: float, p1: float, rng: np.random.Generator) -> Rollout:
        """Requests over the horizon: 10% to the candidate, failures at p1 / p0."""
        n = rng.poisson(rate * HORIZON_S)
        times = np.sort(rng.uniform(0.0, HORIZON_S, n))
        to_candidate = rng.random(n) < WEIGHT
        out: dict[str, dict[str, np.ndarray]] = {"times": {}, "failed": {}, "seen_at": {}}
        for version, mask, p in (("candidate", to_candidate, p1), ("stable", ~to_candidate, P0)):
            t = times[mask]
            out["times"][version] = t
            out["failed"][version] = rng.random(len(t)) < p
            out["seen_at"][version] = t + rng.uniform(*LOG_DELAY, len(t))
        periods = int(HORIZON_S // PERIOD_S) + 1
        published = (np.arange(1, periods + 1) * PERIOD_S +
                     rng.uniform(*METRIC_DELAY, periods))
        return cls(out["times"], out["failed"], out["seen_at"], published)

    def served_failures(self, until: float) -> int:
        """Failed candidate requests that arrived before ``until``."""
        t = self.times["candidate"]
        return int(self.failed["candidate"][t < until].sum())

    def failures_by_horizon(self, verdict: str, when: float, p1: float) -> float:
        """Failed requests over the whole horizon: a promoted candidate then takes every
        request (expected p1 of them fail); an undecided one keeps its 10%."""
        served = float(self.served_failures(HORIZON_S if verdict == "undecided" else when))
        if verdict == "promote":
            later = sum(int(np.sum(self.times[v] >= when)) for v in ("candidate", "stable"))
            served += p1 * later
        return served

    def from_logs(self, version: str, now: float) -> VersionStats:
        """What the logs source has received by ``now``."""
        seen = self.seen_at[version] <= now
        return VersionStats(int(seen.sum()), int(self.failed[version][seen].sum()),
                            version=version)

    def from_metrics(self, version: str, now: float) -> VersionStats:
        """What CloudWatch has published by ``now``: whole periods, each when it is out."""
        t = self.times[version]
        seen = self.published[(t // PERIOD_S).astype(int)] <= now
        return VersionStats(int(seen.sum()), int(self.failed[version][seen].sum()),
                            version=version)


def judged(rollout: Rollout, source: str, policy: JudgePolicy) -> tuple[str, float]:
    """The judge every POLL_S over the source; (verdict, when)."""
    judge = Judge(policy)
    now = POLL_S
    while now <= HORIZON_S:
        stats = {}
        for version in ("candidate", "stable"):
            logs = rollout.from_logs(version, now)
            metrics = rollout.from_metrics(version, now)
            stats[version] = {"logs": logs, "metrics": metrics,
                              "both": max(logs, metrics, key=lambda s: s.invocations)}[source]
        verdict = judge.observe(stats["candidate"], stats["stable"], now).verdict
        if verdict in (Verdict.ROLLBACK, Verdict.PROMOTE):
            return verdict.value, now
        now += POLL_S
    return "undecided", HORIZON_S


def codedeploy(rollout: Rollout) -> tuple[str, float]:
    """The alarm fires when a period with ≥ 5 errors (both versions) is published."""
    failures = np.concatenate([rollout.times[v][rollout.failed[v]]
                               for v in ("candidate", "stable")])
    per_period = np.bincount((failures // PERIOD_S).astype(int),
                             minlength=len(rollout.published))
    alarm = [rollout.published[k] for k in range(len(rollout.published))
             if per_period[k] >= ALARM_ERRORS and rollout.published[k] <= CANARY_S]
    return ("rollback", min(alarm)) if alarm else ("promote", CANARY_S)


@dataclass
class Row:
    """One scenario and policy over all rollouts."""

    rate: float
    p1: float
    policy: str
    blast: float
    decided_s: float
    rollback: float
    horizon: float  # failed requests in the 15 minutes, promotion's aftermath included


def run(rollouts: int, seed: int) -> list[Row]:
    """Every scenario and policy on the same seeded rollouts."""
    policy = JudgePolicy()
    rows = []
    for rate in RATES:
        for p1 in P1S:
            rng = np.random.default_rng([seed, int(rate * 10), int(p1 * 1000)])
            draws = [Rollout.draw(rate, p1, rng) for _ in range(rollouts)]
            for name in POLICIES:
                outcomes = [codedeploy(r) if name == "codedeploy"
                            else judged(r, name.split("/")[1], policy) for r in draws]
                blasts = [r.served_failures(when) for r, (_, when) in zip(draws, outcomes)]
                total = [r.failures_by_horizon(v, when, p1) for r, (v, when) in zip(draws, outcomes)]
                rows.append(Row(rate, p1, name, statistics.fmean(blasts),
                                statistics.median(when for _, when in outcomes),
                                sum(v == "rollback" for v, _ in outcomes) / rollouts,
                                statistics.fmean(total)))
    return rows


def report(rows: list[Row], rollouts: int, seconds: float) -> None:
    """The table and the ratios to CodeDeploy."""
    print(f"source delays: CloudWatch metrics 1-min periods published {METRIC_DELAY[0]:.0f}-"
          f"{METRIC_DELAY[1]:.0f} s late; logs {LOG_DELAY[0]:.0f}-{LOG_DELAY[1]:.0f} s late; "
          f"judge every {POLL_S:.0f} s; {rollouts} rollouts per scenario; {seconds:.1f} s")
    print(f"{'req/s':>6} {'p1':>5} {'policy':<20} {'failed requests':>15} {'decided (median)':>17}"
          f" {'rolled back':>11} {'vs codedeploy':>13} {'failed in 15 min':>16}")
    by = {(r.rate, r.p1, r.policy): r for r in rows}
    for r in rows:
        cd = by[(r.rate, r.p1, "codedeploy")].blast
        ratio = f"{r.blast / cd:.3f}×" if cd else "-"
        print(f"{r.rate:>6.0f} {r.p1:>5.0%} {r.policy:<20} {r.blast:>15.1f} {r.decided_s:>15.0f} s"
              f" {r.rollback:>11.0%} {ratio:>13} {r.horizon:>16.1f}")
    print("(failed requests: served by the candidate before the decision; failed in 15 min adds "
          "what a promoted candidate fails at 100% afterwards, and an undecided one at 10%)")
    target = by[(100.0, 1.0, "lambdashift/logs")].blast / by[(100.0, 1.0, "codedeploy")].blast
    print(f"100 req/s, 10% canary, candidate failing every request: lambdashift reading logs "
          f"served {target:.3f}× the failed requests of codedeploy (target ≤ 0.1×)")


def main() -> None:
    """Parse the flags, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 rollouts each")
    args = parser.parse_args()
    rollouts = 5 if args.quick else args.rollouts
    started = time.perf_counter()
    rows = run(rollouts, args.seed)
    report(rows, rollouts, time.perf_counter() - started)


if __name__ == "__main__":
    main()
