"""The bake's analyzer: reads the stable's baseline and the candidate's requests since the
switch from the judge's metrics source, and asks ``core.bake`` for a verdict at every look.

The bake step starts when the switch to 100% has been written (``step_started_at``). The
baseline is the stable's requests through the alias in the 5 minutes before that (the 30
minutes when those 5 held fewer than ``baseline_min_requests``), read once per bake and
kept: it does not change, and a fixed baseline is what the test's bound needs. The
candidate's window is ``[switch, switch + seconds)``; the bake ends when the source can
have all of it (at once on the local stack; when the CloudWatch period holding its end is
published on AWS: ``ready_at``), so ``deploy`` returns then.

A look whose metrics cannot be read says so and looks again; one at the end of the bake
ends it by time, saying that the last looks saw nothing new. The first look records a
``bake`` event (what is compared, for how long) that ``history`` shows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from lambdashift.core.bake import BakeJudgement, BakePolicy, Baseline, bake_verdict
from lambdashift.core.machine import RolloutState, VerdictReceived
from lambdashift.errors import AwsError
from lambdashift.model import BakeStep, Verdict

__all__ = ["BAKE_EVENT", "BakeAnalyzer"]

BAKE_EVENT = "bake"
"""The store event (one per bake, at its first look) saying what the bake compares."""
RETRY_S = 5.0
"""How soon a look whose metrics could not be read is tried again."""
FIRST_S, FIRST_LOOK_S = 2.0, 0.05
"""With an immediate source (the emulator's records), the first seconds after the switch
are looked at this often: a release failing every request is most of the harm there, and
at 100 requests/s the source's 0.2 s between looks would be 20 failed requests."""


def ready_at(metrics: Any, t: float) -> float:
    """When the source has every request up to ``t`` (``t`` itself for exact, immediate
    sources such as the emulator's records)."""
    ready = getattr(metrics, "ready_at", None)
    return float(ready(t)) if callable(ready) else t


class BakeAnalyzer:
    """Evaluates bake steps over ``metrics`` (the judge's source); ``store`` gets the
    ``bake`` event. ``policy`` holds everything but the step's own seconds."""

    def __init__(self, metrics: Any, store: Any = None, policy: BakePolicy | None = None) -> None:
        self.metrics = metrics
        self.store = store
        self.policy = policy or BakePolicy()
        self._baselines: dict[tuple[str, int, float], Baseline] = {}
        self._told: set[tuple[str, int, float]] = set()

    def analyze(self, state: RolloutState, step: BakeStep, now: float) -> VerdictReceived:
        """One look: continue, rollback on evidence, or promote once the bake's time is over."""
        policy = dataclasses.replace(self.policy, seconds=step.seconds)
        start = state.step_started_at if state.step_started_at is not None else now
        end = start + step.seconds
        final = ready_at(self.metrics, end)
        done = now >= final
        names = (f"v{state.candidate}", f"v{state.stable}")
        key = (state.rollout_id, state.step_index, start)
        try:
            baseline = self._baseline(state, key, start, now)
            if baseline is None:
                when = ready_at(self.metrics, start)
                reason = (f"baking: waiting for {names[1]}'s metrics up to the switch (the "
                          f"source has them {when - now:.0f} s from now)")
                return VerdictReceived(Verdict.CONTINUE, (reason,), now=now,
                                       next_look=self._next(now, when))
            upto = min(now, end)
            after = self.metrics.version_stats(state.function, state.alias, state.candidate,
                                               start, upto)
        except AwsError as exc:
            if done:
                reason = (f"bake ended after {step.seconds:g} s by time: its last look could "
                          f"not read the metrics ({exc}); no evidence claimed")
                return VerdictReceived(Verdict.PROMOTE, (reason,), now=now)
            reason = f"baking: metrics could not be read ({exc}); looking again"
            return VerdictReceived(Verdict.CONTINUE, (reason,), now=now,
                                   next_look=min(now + RETRY_S, final))
        judgement = bake_verdict(baseline, after, max(0.0, upto - start), policy, done=done,
                                 names=names)
        self._tell(state, key, baseline, policy, names, judgement)
        cap = final
        if not callable(getattr(self.metrics, "ready_at", None)) and now - start < FIRST_S:
            cap = min(final, now + FIRST_LOOK_S)
        next_look = None if judgement.verdict is not Verdict.CONTINUE else self._next(now, cap)
        return VerdictReceived(judgement.verdict, judgement.reasons, now=now, next_look=next_look)

    # -- the baseline ----------------------------------------------------------------------

    def _baseline(self, state: RolloutState, key: tuple[str, int, float], start: float,
                  now: float) -> Baseline | None:
        """The stable's requests before the switch, read once the source has them all."""
        kept = self._baselines.get(key)
        if kept is not None:
            return kept
        if now < ready_at(self.metrics, start):
            return None
        policy = self.policy
        fn, alias, stable = state.function, state.alias, state.stable
        stats = self.metrics.version_stats(fn, alias, stable, start - policy.baseline_s, start)
        seconds = policy.baseline_s
        if stats.trials < policy.baseline_min_requests and policy.baseline_max_s > seconds:
            seconds = policy.baseline_max_s
            stats = self.metrics.version_stats(fn, alias, stable, start - seconds, start)
        baseline = Baseline(stats, seconds)
        self._baselines[key] = baseline
        return baseline

    def _next(self, now: float, cap: float) -> float:
        """The next look: when the source can have new data, but not past ``cap``."""
        next_look = getattr(self.metrics, "next_look", None)
        when = next_look(now) if callable(next_look) else now + RETRY_S
        when = min(when, cap)
        return when if when > now else now + min(RETRY_S, max(cap - now, 0.05))

    def _tell(self, state: RolloutState, key: tuple[str, int, float], baseline: Baseline,
              policy: BakePolicy, names: tuple[str, str], judgement: BakeJudgement) -> None:
        """The ``bake`` event, once per bake: what it compares, for how long; and the
        numbers of its decision."""
        if self.store is None:
            return
        if key not in self._told:
            self._told.add(key)
            s = baseline.stats
            rate = f"{100 * s.failures / s.trials:.2g}%" if s.trials else "n/a"
            null = judgement.numbers.get("errors.null_rate")
            catch = (f"rollback on evidence that {names[0]} fails more than {100 * null:.2g}% or "
                     "is slower" if null is not None and null < 1 else
                     "too few requests before the switch to compare errors")
            self.store.record_event(state.rollout_id, state.function, BAKE_EVENT, {
                "step": state.step_index, "seconds": policy.seconds,
                "reason": (f"bake for {policy.seconds:g} s: {names[0]}'s errors and warm latency "
                           f"after the switch against {names[1]}'s in the "
                           f"{baseline.seconds / 60:g} min before it ({s.trials:,} requests, "
                           f"{rate} failed); {catch}"),
            })
        if judgement.verdict is not Verdict.CONTINUE:
            self.store.record_event(state.rollout_id, state.function, "bake_evidence", {
                "step": state.step_index, "verdict": judgement.verdict.value,
                "numbers": _finite(judgement.numbers)})


def _finite(numbers: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (v if math.isfinite(v) else None) for k, v in numbers.items()}
