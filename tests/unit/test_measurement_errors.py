"""An unreadable metric is a measurement error, not an inconclusive verdict (argo's
``consecutiveErrorLimit``): the step looks again after a backoff, and only a run of errors in
a row (``analysis.consecutive_error_limit``, default 4) rolls the rollout back, saying why."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lambdashift.core.judge import VersionStats
from lambdashift.core.judge_policy import JudgePolicy
from lambdashift.core.machine import (
    MeasurementFailed,
    Notify,
    RolloutState,
    RunAnalysis,
    Tick,
    VerdictReceived,
    Wait,
    transition,
)
from lambdashift.core.strategy import analysis_step, steps_for
from lambdashift.errors import AwsError, ConfigError
from lambdashift.model import Phase, Traffic, Verdict, WeightStep
from lambdashift.rollout.analysis import JudgeAnalyzer
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.store.sqlite import SqliteStateStore


def analysing(limit: int | None = None, interval: float | None = None) -> RolloutState:
    """A rollout at its analysis step (10% on the candidate), the step just begun at 0."""
    params = {} if limit is None else {"consecutive_error_limit": limit}
    steps = (WeightStep(0.1), analysis_step(params, interval=interval), WeightStep(1.0))
    state = RolloutState.new("r", "f", "live", "1", "2", steps)
    return dataclasses.replace(state, phase=Phase.PROGRESSING, step_index=1, step_started_at=0.0,
                               traffic=Traffic("1", "2", 0.1), revision_id="rev")


def fail(state: RolloutState, now: float):  # noqa: ANN201
    return transition(state, MeasurementFailed("metrics could not be read: throttled", now=now))


# --- the pure core ----------------------------------------------------------------------------


def test_a_measurement_error_is_not_a_verdict_the_step_looks_again_after_a_backoff():
    s, actions = fail(analysing(), 10.0)
    assert s.phase is Phase.PROGRESSING and s.verdicts == () and s.measurement_errors == 1
    notice, wait = actions
    assert isinstance(notice, Notify) and notice.event == "measurement_error"
    assert notice.details["count"] == 1 and notice.details["limit"] == 4
    assert wait == Wait(15.0)  # 5 s after the first error
    s, actions = transition(s, Tick(now=15.0))
    assert actions == (RunAnalysis(1, s.step),)  # the look is taken again


def test_the_backoff_doubles_with_each_error_in_a_row_from_the_steps_interval():
    s, now, waits = analysing(interval=2.0), 0.0, []
    for _ in range(3):
        s, actions = fail(s, now)
        (wait,) = [a for a in actions if isinstance(a, Wait)]
        waits.append(wait.until - now)
        now = wait.until
        s, _ = transition(s, Tick(now=now))
    assert waits == [2.0, 4.0, 8.0]


def test_the_limit_th_error_in_a_row_rolls_back_saying_why():
    s, now = analysing(), 0.0
    for _ in range(3):
        s, actions = fail(s, now)
        now = next(a for a in actions if isinstance(a, Wait)).until
        s, _ = transition(s, Tick(now=now))
    s, actions = fail(s, now)
    assert s.phase is Phase.ROLLING_BACK
    assert s.reason.startswith("analysis: 4 measurement errors in a row (limit 4), the last: "
                               "metrics could not be read: throttled")
    assert any(isinstance(a, Notify) and a.event == "rolling_back" for a in actions)


def test_a_verdict_between_errors_starts_the_count_again():
    s, _ = fail(analysing(limit=2), 0.0)
    s, _ = transition(s, Tick(now=5.0))
    s, _ = transition(s, VerdictReceived(Verdict.CONTINUE, ("waiting",), now=5.0))
    assert s.measurement_errors == 0
    s, _ = transition(s, Tick(now=65.0))
    s, _ = fail(s, 65.0)
    assert s.phase is Phase.PROGRESSING and s.measurement_errors == 1  # not the 2nd in a row


def test_a_limit_of_one_rolls_back_at_the_first_error():
    s, _ = fail(analysing(limit=1), 0.0)
    assert s.phase is Phase.ROLLING_BACK


def test_the_count_is_stored_with_the_rollout():
    s, _ = fail(analysing(), 0.0)
    back = RolloutState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back.measurement_errors == 1


def test_the_limit_is_an_analysis_setting_of_at_least_one():
    assert JudgePolicy().consecutive_error_limit == 4
    assert JudgePolicy.from_params({"consecutive_error_limit": 2}).consecutive_error_limit == 2
    with pytest.raises(ConfigError, match="consecutive_error_limit must be at least 1"):
        JudgePolicy.from_params({"consecutive_error_limit": 0})


# --- the engine, with a metrics source that fails -----------------------------------------------


class FlakyMetrics:
    """Steady healthy traffic (1000 requests/s, 10% on the candidate, no errors); the first
    ``failures`` looks raise AwsError as a throttled CloudWatch would."""

    def __init__(self, failures: int) -> None:
        self.failures, self.looks = failures, 0

    def version_stats(self, function, alias, version, since, until) -> VersionStats:  # noqa: ANN001
        if version == "2":  # the first read of each look
            self.looks += 1
        if self.looks <= self.failures:
            raise AwsError("GetMetricData: Rate exceeded", code="Throttling")
        share = 0.1 if version == "2" else 0.9
        return VersionStats(int(1000 * share * (until - since)), 0, 0, version=version)

    def invocations(self, function, alias, version, since, until) -> int:  # noqa: ANN001
        return self.version_stats(function, alias, version, since, until).invocations


class Alias:
    def __init__(self) -> None:
        self.traffic, self.writes = Traffic("1"), 0

    def get_alias(self, function, alias):  # noqa: ANN001, ANN201
        return dataclasses.make_dataclass("A", ["traffic", "revision_id"])(self.traffic,
                                                                           f"rev-{self.writes}")

    def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
        self.traffic, self.writes = traffic, self.writes + 1
        return self.get_alias(function, alias)


def run(tmp_path, failures: int):  # noqa: ANN001, ANN201
    now = [0.0]
    store = SqliteStateStore(tmp_path / "state.db", namespace="test", clock=lambda: now[0])
    api, metrics = Alias(), FlakyMetrics(failures)
    engine = RolloutEngine(api=api, store=store, clock=lambda: now[0],
                           sleep=lambda s: now.__setitem__(0, now[0] + s), owner="t",
                           analyzer=JudgeAnalyzer(metrics),
                           options=EngineOptions(poll_interval=1.0))
    steps = steps_for({"strategy": "canary", "weight": 10, "pause": "1m", "bake": 0}, judge=True)
    final = engine.start("f", "live", "2", steps)
    return final, api, store.events(final.rollout_id)


def test_a_metrics_source_that_fails_three_times_then_recovers_lets_the_rollout_go_on(tmp_path):
    final, api, events = run(tmp_path, failures=3)
    assert final.phase is Phase.SUCCEEDED and api.traffic == Traffic("2")
    said = [e.details for e in events if e.kind == "measurement_error"]
    assert [d["count"] for d in said] == [1, 2, 3]
    assert all("Rate exceeded" in d["reason"] for d in said)
    assert not any(e.kind == "paused" for e in events)  # no human was asked


def test_a_metrics_source_that_keeps_failing_rolls_back_after_the_limit(tmp_path):
    final, api, events = run(tmp_path, failures=100)
    assert final.phase is Phase.ROLLED_BACK and api.traffic == Traffic("1")
    assert final.reason.startswith("analysis: 4 measurement errors in a row (limit 4)")
    assert "Rate exceeded" in final.reason
    assert not any(e.kind == "paused" for e in events)
