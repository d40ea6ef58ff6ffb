"""Analysis steps: metrics and alarms in, the machine's ``VerdictReceived`` or ``CheckFailed`` out.

:class:`JudgeAnalyzer` is the engine's ``Analyzer`` for steps with judge settings. Each look
reads the cumulative stats of the candidate and the stable version, both behind the
rollout's alias, from the step's start (``state.step_started_at``) to ``now``: after a
*continue* the window keeps growing from the same start, which is what the judge's
evidence needs. The step's alarms that are in ALARM make the verdict *rollback*, as in
CodeDeploy. Alarms are read as alarms *on the candidate*: define them on the
``AWS/Lambda`` metrics with ``ExecutedVersion`` set to the candidate (or on the
candidate's own metrics), since an alarm on the whole alias fires for the stable's
failures as well.

The judge's memory (:class:`~lambdashift.core.judge.EvidenceState`) survives a crash: after
every look it is written to the store as an ``evidence`` event
(``{"step": i, "since": t, "state": {...}, "numbers": {...}}``); the first look of a new
analyzer (after a restart) reads back the newest one of its rollout and step.

:class:`AlarmOnlyAnalyzer` is for steps that name alarms and no judge settings: any alarm
in ALARM fails the check, else the step passes. :class:`JudgeAnalyzer` behaves that way
itself for such steps. A target without alarms (the local stack: ``alarms=None``) does not
check them and says so in the verdict's reasons.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from lambdashift.core.judge import (
    EvidenceState,
    Judgement,
    JudgePolicy,
    VersionStats,
    judge,
)
from lambdashift.core.forecast import low_traffic_note
from lambdashift.core.machine import CheckFailed, Event, RolloutState, VerdictReceived
from lambdashift.core.strategy import analysis_step
from lambdashift.rollout.forecasting import StepForecaster
from lambdashift.errors import ConfigError
from lambdashift.model import AnalysisStep, BakeStep, Verdict
from lambdashift.rollout.bake import BakeAnalyzer

__all__ = ["AlarmOnlyAnalyzer", "AlarmSource", "EvidenceStore", "JudgeAnalyzer", "MetricsSource"]

EVIDENCE = "evidence"
"""The kind of the store events that carry the judge's state."""
FORECAST_AFTER_S = 10.0
FORECAST_REQUESTS = 50
"""The low-traffic forecast waits for this much time or candidate traffic (a rate from the
first second of a step says little)."""


class MetricsSource(Protocol):
    """Per-version metrics behind an alias (CloudWatch, the emulator, or a test's fake)."""

    def version_stats(self, function: str, alias: str, version: str, since: float,
                      until: float) -> VersionStats: ...

    def invocations(self, function: str, alias: str, version: str, since: float,
                    until: float) -> int: ...


class AlarmSource(Protocol):
    """Which of the named alarms are in ALARM; unknown names raise an error."""

    def firing(self, names: Sequence[str]) -> list[str]: ...


class EvidenceStore(Protocol):
    """The part of the state store the analyzer uses (``store.protocol.StateStore`` has it)."""

    def record_event(self, rollout_id: str, function: str, kind: str,
                     details: Mapping[str, Any]) -> Any: ...

    def events(self, rollout_id: str) -> Sequence[Any]: ...


def _unchecked(step: AnalysisStep) -> tuple[str]:
    return (f"alarms not checked ({', '.join(step.alarms)}): this target has no CloudWatch "
            "alarms (the local stack)",)


def _alarm_check(alarms: AlarmSource, step: AnalysisStep, index: int, now: float) -> Event:
    """CheckFailed naming the alarms in ALARM, else a promote verdict."""
    if not step.alarms:
        return VerdictReceived(Verdict.PROMOTE, (f"step {index + 1}: no alarms to check",),
                               now=now)
    firing = alarms.firing(step.alarms)
    if firing:
        names = ", ".join(firing)
        return CheckFailed(f"alarm{'s' if len(firing) > 1 else ''} {names} in ALARM", now=now)
    return VerdictReceived(Verdict.PROMOTE, (f"no alarm in ALARM: {', '.join(step.alarms)}",),
                           now=now)


class AlarmOnlyAnalyzer:
    """CodeDeploy's check: any of the step's alarms in ALARM → CheckFailed; else promote."""

    def __init__(self, alarms: AlarmSource) -> None:
        self.alarms = alarms

    def analyze(self, state: RolloutState, step: AnalysisStep, now: float) -> Event:
        """Read the step's alarms once."""
        return _alarm_check(self.alarms, step, state.step_index, now)


class JudgeAnalyzer:
    """The engine's analyzer: the judge over ``metrics``, with ``alarms`` and a ``store``.

    A step judges by the policy it carries (built with the steps, ``core.strategy``, and
    stored with the rollout). ``default_policy`` holds judge settings for a step made by
    hand without one (the keys of ``JudgePolicy.from_params``) that its ``params`` override,
    built the same way (``core.strategy.analysis_step``). Without a ``store``
    the evidence lives in memory only. A step with alarms and no judge settings of its own
    is checked as :class:`AlarmOnlyAnalyzer` does, whatever ``default_policy`` holds: the
    defaults say how to judge, not which steps to judge.
    """

    def __init__(self, metrics: MetricsSource, alarms: AlarmSource | None = None,
                 store: EvidenceStore | None = None, *,
                 default_policy: Mapping[str, Any] | None = None) -> None:
        self.metrics = metrics
        self.alarms = alarms
        self.store = store
        self.default_policy: Mapping[str, Any] = dict(default_policy or {})
        self._last: dict[tuple[str, int], tuple[float, Judgement]] = {}
        self._forecast: set[tuple[str, int]] = set()  # steps whose traffic was looked at
        self._catch = StepForecaster(metrics, store)  # what each step can catch, at its start
        self.bake = BakeAnalyzer(metrics, store)

    def analyze(self, state: RolloutState, step: AnalysisStep, now: float) -> Event:
        """One look: read alarms and metrics, judge, persist the evidence, answer.

        AWS errors (metrics or alarms unreadable, alarms that do not exist) propagate as
        ``AwsError``; the engine turns them into an inconclusive verdict.
        """
        if isinstance(step, BakeStep):  # after the switch: before/after, not side by side
            return self.bake.analyze(state, step, now)
        index = state.step_index
        unchecked = _unchecked(step) if step.alarms and self.alarms is None else ()
        if step.alarms and not step.params:
            if self.alarms is None:
                return VerdictReceived(Verdict.PROMOTE, unchecked, now=now)
            return _alarm_check(self.alarms, step, index, now)
        policy = step.policy
        if policy is None:  # a step made by hand, not by core.strategy: build it as it would
            try:
                policy = analysis_step(step.params, defaults=self.default_policy,
                                       path=f"step {index + 1}: analysis").policy
            except ConfigError as exc:
                return VerdictReceived(Verdict.INCONCLUSIVE, (f"cannot judge: {exc}",), now=now)
            assert policy is not None
        firing = self.alarms.firing(step.alarms) if step.alarms and self.alarms else []

        since = state.step_started_at if state.step_started_at is not None else now
        elapsed = max(0.0, now - since)
        fn, alias = state.function, state.alias
        candidate = self.metrics.version_stats(fn, alias, state.candidate, since, now)
        stable = self.metrics.version_stats(fn, alias, state.stable, since, now)
        previous = self._previous(state, index, since)
        try:
            judgement = judge(candidate, stable, elapsed, policy, previous=previous,
                              alarms=firing)
        except ValueError as exc:  # counts went down: late, revised or evicted metrics
            event = self._counts_went_down(str(exc), elapsed, policy, now)
            return dataclasses.replace(event, next_look=self._next_look(now))
        self._remember(state, index, since, judgement)
        reasons = (*judgement.reasons, *unchecked)
        forecast = self._catch.note(state, index, policy, since, candidate, stable, elapsed)
        if judgement.verdict is Verdict.CONTINUE:
            note = forecast or self._low_traffic(state, index, policy, candidate, stable, elapsed)
            reasons = (note, *reasons) if note else reasons
        return VerdictReceived(judgement.verdict, reasons, now=now, next_look=self._next_look(now))

    # -- when to look, and whether the traffic can decide in time ------------------------

    def _next_look(self, now: float) -> float | None:
        """When the metrics source can next have new data (None: it does not say)."""
        next_look = getattr(self.metrics, "next_look", None)
        return next_look(now) if callable(next_look) else None

    def _low_traffic(self, state: RolloutState, index: int, policy: JudgePolicy,
                     candidate: VersionStats, stable: VersionStats, elapsed: float) -> str | None:
        """Once per step, at the first look with enough to go on: the candidate's traffic is
        too low to decide within max_wait, in numbers (also a ``low_traffic`` event)."""
        key = (state.rollout_id, index)
        if key in self._forecast or (elapsed < FORECAST_AFTER_S
                                     and candidate.invocations < FORECAST_REQUESTS):
            return None
        self._forecast.add(key)
        name = f"v{state.candidate}" if state.candidate.isdigit() else state.candidate
        note = low_traffic_note(policy, name, candidate.invocations, stable.invocations,
                                stable.errors, elapsed)
        if note and self.store is not None:
            self.store.record_event(state.rollout_id, state.function, "low_traffic",
                                    {"step": index, "reason": note})
        return note

    def last(self, rollout_id: str, step_index: int) -> Judgement | None:
        """The last judgement of a rollout's step made (or loaded) by this analyzer."""
        entry = self._last.get((rollout_id, step_index))
        return entry[1] if entry else None

    # -- evidence ------------------------------------------------------------------------

    def _previous(self, state: RolloutState, index: int, since: float) -> Judgement | None:
        key = (state.rollout_id, index)
        entry = self._last.get(key)
        if entry is not None and entry[0] == since:
            return entry[1]
        loaded = self._load(state.rollout_id, index, since)
        if loaded is not None:
            self._last[key] = (since, loaded)
        return loaded

    def _load(self, rollout_id: str, index: int, since: float) -> Judgement | None:
        """The newest evidence persisted for this rollout's step and window start."""
        if self.store is None:
            return None
        for event in reversed(list(self.store.events(rollout_id))):
            details = getattr(event, "details", None) or {}
            if getattr(event, "kind", None) != EVIDENCE or details.get("step") != index:
                continue
            if details.get("since", since) != since:
                continue  # the same step entered again later: its evidence starts afresh
            state = EvidenceState.from_dict(details["state"])
            return Judgement(Verdict.CONTINUE, ("evidence reloaded",), {}, state)
        return None

    def _remember(self, state: RolloutState, index: int, since: float,
                  judgement: Judgement) -> None:
        self._last[(state.rollout_id, index)] = (since, judgement)
        if self.store is not None:
            self.store.record_event(state.rollout_id, state.function, EVIDENCE, {
                "step": index,
                "since": since,
                "verdict": judgement.verdict.value,
                "state": judgement.state.to_dict(),
                "numbers": {k: (v if math.isfinite(v) else None)
                            for k, v in judgement.evidence.items()},
            })

    # -- the odd cases -------------------------------------------------------------------

    @staticmethod
    def _counts_went_down(detail: str, elapsed: float, policy: JudgePolicy,
                          now: float) -> VerdictReceived:
        reason = (f"metrics went down since the last look ({detail}); "
                  "the evidence so far is kept")
        if elapsed >= policy.max_wait_s:
            return VerdictReceived(policy.on_timeout, (f"no verdict after the maximum wait: "
                                                       f"{reason}",), now=now)
        return VerdictReceived(Verdict.CONTINUE, (f"waiting: {reason}",), now=now)
