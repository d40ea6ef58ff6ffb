"""The analyzers with an in-memory metrics source, fake alarms and a fake store: plain values."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdashift.core.judge import JudgePolicy, VersionStats
from lambdashift.core.machine import CheckFailed, RolloutState, VerdictReceived
from lambdashift.errors import NotFoundError
from lambdashift.model import AnalysisStep, Phase, Verdict, WeightStep
from lambdashift.rollout.analysis import AlarmOnlyAnalyzer, JudgeAnalyzer

T0 = 1_700_000_000.0


@dataclass
class Batch:
    at: float
    version: str
    invocations: int
    errors: int = 0
    throttles: int = 0


@dataclass
class InMemoryMetrics:
    """Counts per version, added as batches at given times; no latency."""

    batches: list[Batch] = field(default_factory=list)
    asked: list[tuple[str, float, float]] = field(default_factory=list)

    def add(self, at: float, version: str, invocations: int, errors: int = 0) -> None:
        self.batches.append(Batch(at, version, invocations, errors))

    def version_stats(self, function, alias, version, since, until) -> VersionStats:
        self.asked.append((version, since, until))
        chosen = [b for b in self.batches if b.version == version and since <= b.at < until]
        return VersionStats(sum(b.invocations for b in chosen), sum(b.errors for b in chosen),
                            sum(b.throttles for b in chosen), version=version)

    def invocations(self, function, alias, version, since, until) -> int:
        return self.version_stats(function, alias, version, since, until).invocations


@dataclass
class FakeAlarms:
    states: dict[str, str] = field(default_factory=dict)

    def firing(self, names):
        missing = [n for n in names if n not in self.states]
        if missing:
            raise NotFoundError(f"alarms not found: {', '.join(missing)}")
        return [n for n in names if self.states[n] == "ALARM"]


@dataclass(frozen=True)
class StoredEvent:
    at: float
    kind: str
    details: dict[str, Any]


@dataclass
class FakeStore:
    """Keeps events as a store would: JSON in, JSON out (strict: no NaN or infinity)."""

    rows: list[tuple[str, str, StoredEvent]] = field(default_factory=list)

    def record_event(self, rollout_id, function, kind, details):
        text = json.dumps(details, allow_nan=False)
        event = StoredEvent(len(self.rows), kind, json.loads(text))
        self.rows.append((rollout_id, function, event))

    def events(self, rollout_id):
        return [e for rid, _, e in self.rows if rid == rollout_id]

    def evidence(self, rollout_id="r-1"):
        return [e.details for e in self.events(rollout_id) if e.kind == "evidence"]


STEPS = (WeightStep(0.1), AnalysisStep({"min_duration": "30s"}), WeightStep(1.0))


def rollout(step: AnalysisStep | None = None, *, rollout_id: str = "r-1",
            started: float = T0) -> tuple[RolloutState, AnalysisStep]:
    steps = STEPS if step is None else (STEPS[0], step, STEPS[2])
    state = RolloutState.new(rollout_id, "notes-get", "live", "1", "2", steps, now=T0)
    state = dataclasses.replace(state, phase=Phase.PROGRESSING, step_index=1,
                                step_started_at=started)
    return state, steps[1]  # type: ignore[return-value]


def healthy(metrics: InMemoryMetrics, at: float, n: int = 1000) -> None:
    metrics.add(at, "2", n // 10)
    metrics.add(at, "1", n - n // 10)


# --- verdicts ---------------------------------------------------------------------------------


def test_too_little_data_continues_and_says_what_is_missing():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 200)
    state, step = rollout()
    event = JudgeAnalyzer(metrics).analyze(state, step, T0 + 10)
    assert isinstance(event, VerdictReceived) and event.verdict is Verdict.CONTINUE
    assert event.now == T0 + 10
    # The step's first look says first what it can catch (issue 17), then what is missing.
    assert event.reasons[0].startswith("forecast: no v2 traffic yet")
    assert event.reasons[1].startswith("waiting: ran 10 s of the 30 s minimum")


def test_healthy_candidate_with_enough_data_is_promoted():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 60_000)
    state, step = rollout()
    event = JudgeAnalyzer(metrics).analyze(state, step, T0 + 60)
    assert event.verdict is Verdict.PROMOTE, event.reasons
    assert event.reasons[0] == "v2 is no worse than v1"


def test_failing_candidate_is_rolled_back_with_the_numbers_in_words():
    metrics = InMemoryMetrics()
    metrics.add(T0 + 5, "2", 200, errors=40)
    metrics.add(T0 + 5, "1", 1800, errors=2)
    state, step = rollout()
    event = JudgeAnalyzer(metrics).analyze(state, step, T0 + 10)
    assert event.verdict is Verdict.ROLLBACK
    assert "v2 errors 20% (40/200) vs v1 0.11% (2/1800): rollback" in event.reasons[0]


def test_time_boxed_step_promotes_at_promote_after_and_rolls_back_before_it_on_evidence():
    step = AnalysisStep({"promote_after": "5m"})
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 300)  # far too little to show anything
    state, _ = rollout(step)
    analyzer = JudgeAnalyzer(metrics)
    assert analyzer.analyze(state, step, T0 + 299).verdict is Verdict.CONTINUE
    event = analyzer.analyze(state, step, T0 + 300)
    assert event.verdict is Verdict.PROMOTE
    assert event.reasons[0].startswith("promote_after 5 min reached with no regression shown")
    failing = InMemoryMetrics()
    failing.add(T0 + 5, "2", 30, errors=6)
    failing.add(T0 + 5, "1", 270)
    state, _ = rollout(step, rollout_id="r-2")
    assert JudgeAnalyzer(failing).analyze(state, step, T0 + 20).verdict is Verdict.ROLLBACK


def test_window_starts_at_the_step_and_grows_with_each_look():
    metrics = InMemoryMetrics()
    metrics.add(T0 - 5, "2", 50, errors=50)  # before the analysis began: not its business
    state, step = rollout()
    analyzer = JudgeAnalyzer(metrics)
    analyzer.analyze(state, step, T0 + 10)
    analyzer.analyze(state, step, T0 + 70)
    judged = [asked for asked in metrics.asked if asked[1] >= T0]  # the forecast reads the minute before
    assert judged == [("2", T0, T0 + 10), ("1", T0, T0 + 10), ("2", T0, T0 + 70), ("1", T0, T0 + 70)]


def test_step_params_override_the_default_policy():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 60_000)
    state, step = rollout(AnalysisStep({"min_duration": "2m"}))
    analyzer = JudgeAnalyzer(metrics, default_policy={"min_duration": "10s", "min_invocations": 5})
    event = analyzer.analyze(state, step, T0 + 60)
    assert event.verdict is Verdict.CONTINUE
    assert "ran 1 min of the 2 min minimum" in event.reasons[1]  # after the step's forecast


def test_invalid_judge_settings_are_inconclusive_naming_the_key():
    state, step = rollout(AnalysisStep({"alpah": 0.01}))
    event = JudgeAnalyzer(InMemoryMetrics()).analyze(state, step, T0 + 60)
    assert event.verdict is Verdict.INCONCLUSIVE
    assert "step 2: analysis: unknown key 'alpah'; did you mean 'alpha'?" in event.reasons[0]


def test_counts_that_go_down_wait_without_touching_the_evidence():
    metrics, store = InMemoryMetrics(), FakeStore()
    healthy(metrics, T0 + 5, 500)
    state, step = rollout()
    analyzer = JudgeAnalyzer(metrics, store=store)
    analyzer.analyze(state, step, T0 + 10)
    metrics.batches.clear()  # the source lost its oldest records
    event = analyzer.analyze(state, step, T0 + 20)
    assert event.verdict is Verdict.CONTINUE
    assert event.reasons[0].startswith("waiting: metrics went down since the last look")
    assert len(store.evidence()) == 1


def test_counts_that_go_down_past_the_maximum_wait_give_the_timeout_verdict():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 500)
    state, step = rollout(AnalysisStep({"max_wait": "1m", "on_timeout": "rollback",
                                        "min_duration": "10s"}))
    analyzer = JudgeAnalyzer(metrics)
    analyzer.analyze(state, step, T0 + 10)
    metrics.batches.clear()
    assert analyzer.analyze(state, step, T0 + 61).verdict is Verdict.ROLLBACK


# --- evidence across a restart ----------------------------------------------------------------


def test_every_look_persists_the_evidence_with_its_step_and_window_start():
    metrics, store = InMemoryMetrics(), FakeStore()
    healthy(metrics, T0 + 5, 300)
    state, step = rollout()
    analyzer = JudgeAnalyzer(metrics, store=store)
    analyzer.analyze(state, step, T0 + 10)
    healthy(metrics, T0 + 15, 300)
    analyzer.analyze(state, step, T0 + 20)
    saved = store.evidence()
    assert [(d["step"], d["since"], d["state"]["looks"]) for d in saved] == [(1, T0, 1), (1, T0, 2)]
    assert saved[-1]["state"]["last"] == [60, 0, 540, 0]
    assert saved[-1]["verdict"] == "continue" and saved[-1]["numbers"]["elapsed_s"] == 20.0


def test_evidence_survives_a_restart():
    """A new analyzer on the same store goes on from the evidence, not from scratch."""
    metrics, store = InMemoryMetrics(), FakeStore()
    state, step = rollout()
    first = JudgeAnalyzer(metrics, store=store)
    for i in range(3):
        metrics.add(T0 + 10 * i + 1, "2", 30, errors=1)
        metrics.add(T0 + 10 * i + 1, "1", 270, errors=9)
        first.analyze(state, step, T0 + 10 * (i + 1))
    before = store.evidence()[-1]["state"]

    restarted = JudgeAnalyzer(metrics, store=store)  # the process died; same store
    metrics.add(T0 + 31, "2", 30, errors=1)
    metrics.add(T0 + 31, "1", 270, errors=9)
    restarted.analyze(state, step, T0 + 40)
    after = store.evidence()[-1]["state"]
    assert after["looks"] == before["looks"] + 1 == 4
    assert after["error_chunk"] == [120, 4, 1080, 36] and before["error_chunk"] == [90, 3, 810, 27]
    # Same answer as an analyzer that never died.
    alive = JudgeAnalyzer(metrics)
    for i in range(4):
        alive.analyze(state, step, T0 + 10 * (i + 1))
    assert alive.last("r-1", 1).state.to_dict() == restarted.last("r-1", 1).state.to_dict()


def test_a_fresh_analyzer_without_the_store_starts_from_scratch():
    metrics, store = InMemoryMetrics(), FakeStore()
    healthy(metrics, T0 + 5, 300)
    state, step = rollout()
    JudgeAnalyzer(metrics, store=store).analyze(state, step, T0 + 10)
    JudgeAnalyzer(metrics, store=store).analyze(state, step, T0 + 20)
    JudgeAnalyzer(metrics).analyze(state, step, T0 + 30)
    assert [d["state"]["looks"] for d in store.evidence()] == [1, 2]


def test_evidence_of_another_rollout_step_or_window_is_not_reloaded():
    metrics, store = InMemoryMetrics(), FakeStore()
    healthy(metrics, T0 + 5, 300)
    other, step = rollout(rollout_id="r-0")
    JudgeAnalyzer(metrics, store=store).analyze(other, step, T0 + 10)
    earlier, _ = rollout(started=T0 - 100)  # the same step entered before, another window
    JudgeAnalyzer(metrics, store=store).analyze(earlier, step, T0 + 10)
    state, _ = rollout()
    JudgeAnalyzer(metrics, store=store).analyze(state, step, T0 + 20)
    assert [d["state"]["looks"] for d in store.evidence()] == [1, 1]
    assert [d["state"]["looks"] for d in store.evidence("r-0")] == [1]


# --- alarms -----------------------------------------------------------------------------------


def test_a_candidate_alarm_in_alarm_rolls_back_through_the_judge():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 60_000)
    alarms = FakeAlarms({"notes-get-v2-errors": "ALARM", "latency": "OK"})
    state, step = rollout(AnalysisStep({"min_duration": "30s"},
                                       ("notes-get-v2-errors", "latency")))
    event = JudgeAnalyzer(metrics, alarms).analyze(state, step, T0 + 60)
    assert event.verdict is Verdict.ROLLBACK
    assert event.reasons[0] == "alarm notes-get-v2-errors is in ALARM"


def test_quiet_alarms_leave_the_verdict_to_the_statistics():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 60_000)
    state, step = rollout(AnalysisStep({"min_duration": "30s"}, ("latency",)))
    event = JudgeAnalyzer(metrics, FakeAlarms({"latency": "OK"})).analyze(state, step, T0 + 60)
    assert event.verdict is Verdict.PROMOTE


def test_a_step_with_alarms_only_is_checked_like_codedeploy_without_metrics():
    metrics = InMemoryMetrics()
    state, step = rollout(AnalysisStep({}, ("a", "b", "c")))
    analyzer = JudgeAnalyzer(metrics, FakeAlarms({"a": "OK", "b": "ALARM", "c": "ALARM"}))
    event = analyzer.analyze(state, step, T0 + 60)
    assert isinstance(event, CheckFailed) and event.reason == "alarms b, c in ALARM"
    assert metrics.asked == []
    quiet = JudgeAnalyzer(metrics, FakeAlarms({"a": "OK", "b": "OK", "c": "INSUFFICIENT_DATA"}),
                          default_policy={"min_invocations": 500})  # defaults judge no step
    assert quiet.analyze(state, step, T0 + 60).verdict is Verdict.PROMOTE
    assert metrics.asked == []


def test_alarm_only_analyzer_names_the_alarm_or_promotes():
    state, step = rollout(AnalysisStep({}, ("errors",)))
    failed = AlarmOnlyAnalyzer(FakeAlarms({"errors": "ALARM"})).analyze(state, step, T0 + 5)
    assert failed == CheckFailed("alarm errors in ALARM", now=T0 + 5)
    passed = AlarmOnlyAnalyzer(FakeAlarms({"errors": "OK"})).analyze(state, step, T0 + 5)
    assert passed == VerdictReceived(Verdict.PROMOTE, ("no alarm in ALARM: errors",), now=T0 + 5)


def test_an_alarm_that_does_not_exist_is_an_error_not_a_quiet_alarm():
    state, step = rollout(AnalysisStep({}, ("typo",)))
    with pytest.raises(NotFoundError, match="typo"):
        AlarmOnlyAnalyzer(FakeAlarms({})).analyze(state, step, T0 + 5)


def test_a_target_without_alarms_says_they_were_not_checked():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 60_000)
    state, step = rollout(AnalysisStep({"min_duration": "30s"}, ("errors",)))
    event = JudgeAnalyzer(metrics).analyze(state, step, T0 + 60)
    assert event.verdict is Verdict.PROMOTE
    assert event.reasons[-1] == ("alarms not checked (errors): this target has no CloudWatch "
                                 "alarms (the local stack)")
    alarm_only = AnalysisStep({}, ("errors",))
    event = JudgeAnalyzer(metrics).analyze(rollout(alarm_only)[0], alarm_only, T0 + 60)
    assert event.verdict is Verdict.PROMOTE and event.reasons[0].startswith("alarms not checked")


# --- looks and low traffic (issue 8) ------------------------------------------------------------


class TimedMetrics(InMemoryMetrics):
    """A source that says when it can next have new data, as the emulator and CloudWatch do."""

    def next_look(self, now: float) -> float:
        return now + 0.2


def test_a_continue_says_when_the_source_has_new_data():
    metrics = TimedMetrics()
    healthy(metrics, T0 + 1, 20)
    state, step = rollout()
    event = JudgeAnalyzer(metrics).analyze(state, step, T0 + 2)
    assert event.verdict is Verdict.CONTINUE and event.next_look == T0 + 2.2


def test_low_traffic_is_said_once_at_the_first_look_with_data_with_numbers():
    metrics, store = InMemoryMetrics(), FakeStore()
    metrics.add(T0 + 5, "2", 8)    # 0.8 candidate requests/s over the first 10 s
    metrics.add(T0 + 5, "1", 72)
    state, step = rollout(AnalysisStep({"max_wait": "10m"}))
    analyzer = JudgeAnalyzer(metrics, store=store)
    early = analyzer.analyze(state, step, T0 + 2)  # 2 s in: too early to estimate a rate
    assert not any(r.startswith("low traffic") for r in early.reasons)
    event = analyzer.analyze(state, step, T0 + 10)
    assert event.verdict is Verdict.CONTINUE
    note = event.reasons[0]
    margin = f"{100 * JudgePolicy().error_margin:g}"
    found = re.match(rf"low traffic: at 0.8 v2 requests/s, showing v2 no worse within {margin} points "
                     r"needs about (\d+) min \((\d+) requests\); max_wait is 10 min \(then inconclusive\)$", note)
    assert found and int(found[1]) > 10 and int(found[2]) > 8, note
    assert [e.details["reason"] for e in store.events("r-1") if e.kind == "low_traffic"] == [note]
    later = analyzer.analyze(state, step, T0 + 11)
    assert not later.reasons[0].startswith("low traffic")  # said once per step


def test_enough_traffic_says_nothing_about_it():
    metrics = InMemoryMetrics()
    healthy(metrics, T0 + 5, 2000)
    state, step = rollout()
    event = JudgeAnalyzer(metrics).analyze(state, step, T0 + 10)
    assert not any(r.startswith("low traffic") for r in event.reasons)


# --- what a judged step can catch, said when it starts (issue 17 item 4) ---------------------------

BOXED = AnalysisStep({"min_duration": "30s", "promote_after": "30s"})  # `pause: 30s`, judged


def test_a_time_boxed_step_says_at_its_start_what_it_can_catch_at_the_traffic_before_it():
    metrics, store = InMemoryMetrics(), FakeStore()
    metrics.add(T0 - 30, "1", 2520)  # 42 requests/s through the alias in the minute before
    state, step = rollout(BOXED)
    state = dataclasses.replace(state, traffic=state.traffic_at(0.1))
    first = JudgeAnalyzer(metrics, store=store).analyze(state, step, T0 + 0.2)
    assert first.verdict is Verdict.CONTINUE
    said = first.reasons[0]
    found = re.fullmatch(r"forecast: at 4\.2 v2 requests/s for 30 s, a v2 failing 5% is caught (\d+)% "
                         r"of the time, one failing 1% (\d+)%", said)
    assert found and int(found[1]) > 80 > int(found[2]) > 0, said
    assert [e.details for e in store.events("r-1") if e.kind == "forecast"] == [{"step": 1, "reason": said}]


def test_a_step_without_traffic_says_so_then_says_it_again_once_requests_arrive():
    metrics, store = InMemoryMetrics(), FakeStore()
    state, step = rollout(BOXED)
    state = dataclasses.replace(state, traffic=state.traffic_at(0.1))
    analyzer = JudgeAnalyzer(metrics, store=store)
    first = analyzer.analyze(state, step, T0 + 0.2)
    assert first.reasons[0] == "forecast: no v2 traffic yet: nothing can be caught until requests arrive"
    healthy(metrics, T0 + 5, 400)  # 4 v2 requests/s over the first 10 s
    again = analyzer.analyze(state, step, T0 + 10)
    assert again.reasons[0].startswith("forecast: at 4 v2 requests/s for 20 s, a v2 failing 5% is caught")
    later = analyzer.analyze(state, step, T0 + 11)
    assert not later.reasons[0].startswith("forecast")  # said; not again
    assert len([e for e in store.events("r-1") if e.kind == "forecast"]) == 2
    assert not any(e.kind == "low_traffic" for e in store.events("r-1"))  # the clock ends it


@pytest.mark.parametrize("during, again", [(420, False), (2000, True)])
def test_a_step_whose_traffic_is_not_what_it_was_before_says_it_again(during, again):
    """4.2 v2 requests/s before the step; 4.2/s during it says nothing new, 20/s does."""
    metrics, store = InMemoryMetrics(), FakeStore()
    metrics.add(T0 - 5, "1", 420)  # 42/s over the 10 s before (EmulatorMetrics' window)
    metrics.recent = (10.0, 0.0)
    state, step = rollout(BOXED)
    state = dataclasses.replace(state, traffic=state.traffic_at(0.1))
    analyzer = JudgeAnalyzer(metrics, store=store)
    assert analyzer.analyze(state, step, T0 + 0.2).reasons[0].startswith("forecast: at 4.2 v2")
    healthy(metrics, T0 + 5, during)
    second = analyzer.analyze(state, step, T0 + 10).reasons[0]
    assert second.startswith("forecast: at 20 v2 requests/s for 20 s") is again, second
    analyzer.analyze(state, step, T0 + 12)
    assert len([e for e in store.events("r-1") if e.kind == "forecast"]) == 1 + again
