"""The rollout state machine: every transition out of every phase, crash recovery, invariants."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pytest

from lambdashift.core.machine import (
    AliasWriteFailed,
    AliasWritten,
    AwaitGate,
    CheckFailed,
    Finish,
    GatePassed,
    Intent,
    Interrupted,
    InvalidEvent,
    InvocationsObserved,
    Notify,
    PromoteRequested,
    Resumed,
    RollbackRequested,
    RolloutState,
    RunAnalysis,
    SetTraffic,
    Start,
    Tick,
    VerdictReceived,
    Wait,
    WaitForInvocations,
    WriteFailure,
    plan,
    transition,
)
from lambdashift.core.strategy import PRESETS, analysis_step, steps_for
from lambdashift.model import (
    AnalysisStep,
    InvocationPause,
    ManualGate,
    PauseStep,
    Phase,
    Traffic,
    Verdict,
    WeightStep,
)

STABLE, CANDIDATE = Traffic("1"), Traffic("2")
# One of each step: 0 weight 10%, 1 pause 5m, 2 100 invocations, 3 analysis, 4 gate, 5 50%, 6 100%.
STEPS = (
    WeightStep(0.1), PauseStep(300), InvocationPause(100),
    AnalysisStep(alarms=("errors",), interval=60), ManualGate(), WeightStep(0.5), WeightStep(1.0),
)


def new(steps=STEPS) -> RolloutState:
    return RolloutState.new("r-1", "notes-get", "live", "1", "2", steps, now=0.0)


def run(state: RolloutState, *events):
    """Apply events in turn; return the final state and the last actions."""
    actions: tuple = ()
    for event in events:
        state, actions = transition(state, event)
    return state, actions


def kinds(actions) -> tuple[str, ...]:
    return tuple(type(a).__name__ for a in actions if not isinstance(a, Notify))


def written(state: RolloutState, now: float, revision: str | None = None) -> AliasWritten:
    """The success of the state's pending write."""
    return AliasWritten(revision or f"r{now:g}", state.intent.traffic, now=now)


# --- one state per situation, reached by real transitions ------------------------------------


def situations() -> dict[str, RolloutState]:
    s: dict[str, RolloutState] = {"pending": new()}
    s["writing"], _ = transition(s["pending"], Start(STABLE, "r0", now=0))
    s["pausing"], _ = transition(s["writing"], written(s["writing"], 1))
    s["counting"], _ = transition(s["pausing"], Tick(now=301))
    s["analysing"], _ = transition(s["counting"], InvocationsObserved(100, now=302))
    s["analysis_wait"], _ = transition(s["analysing"], VerdictReceived(Verdict.CONTINUE, now=303))
    s["inconclusive"], _ = transition(s["analysing"], VerdictReceived(Verdict.INCONCLUSIVE, now=303))
    s["gated"], _ = transition(s["analysing"], VerdictReceived(Verdict.PROMOTE, now=303))
    s["promoting"], _ = transition(s["gated"], PromoteRequested(now=304))
    s["rolling_back"], _ = transition(s["pausing"], RollbackRequested(now=2))
    s["rollback_stalled"], _ = transition(s["rolling_back"], AliasWriteFailed(WriteFailure.OTHER, "boom", now=3))
    s["succeeded"], _ = transition(s["promoting"], written(s["promoting"], 305))
    s["rolled_back"], _ = transition(s["rolling_back"], written(s["rolling_back"], 3))
    s["failed"], _ = transition(s["writing"], AliasWriteFailed(WriteFailure.REVISION_MISMATCH, now=1))
    s["interrupting"], _ = transition(s["pausing"], Interrupted("SIGINT", now=2))
    s["interrupted"], _ = transition(s["interrupting"], written(s["interrupting"], 3))
    return s


def test_situations_are_what_their_names_say():
    s = situations()
    assert {name: st.phase.value for name, st in s.items()} == {
        "pending": "pending", "writing": "progressing", "pausing": "progressing",
        "counting": "progressing", "analysing": "progressing", "analysis_wait": "progressing",
        "inconclusive": "paused", "gated": "paused", "promoting": "promoting",
        "rolling_back": "rolling_back", "rollback_stalled": "rolling_back",
        "succeeded": "succeeded", "rolled_back": "rolled_back", "failed": "failed",
        "interrupting": "rolling_back", "interrupted": "interrupted",
    }
    assert [name for name, st in s.items() if st.intent] == [
        "writing", "promoting", "rolling_back", "interrupting"]
    assert s["pausing"].step == PauseStep(300) and s["pausing"].wait_until == 301
    assert s["analysis_wait"].wait_until == 363


def make_event(name: str, st: RolloutState) -> object:
    now = (st.updated_at or 0) + 1
    late = (st.wait_until or now) + 1000
    some_split = Traffic("1", "2", 0.1)
    return {
        "start": Start(STABLE, "r0", now=now),
        "written": AliasWritten("rX", st.intent.traffic if st.intent else some_split, now=now),
        "mismatch": AliasWriteFailed(WriteFailure.REVISION_MISMATCH, "stale", now=now),
        "failed_other": AliasWriteFailed(WriteFailure.OTHER, "throttled", now=now),
        "tick_early": Tick(now=(st.wait_until - 1) if st.wait_until else now),
        "tick_late": Tick(now=late),
        "invocations": InvocationsObserved(100, now=now),
        "gate": GatePassed(now=now),
        "promote": PromoteRequested(now=now),
        "rollback": RollbackRequested("operator", now=now),
        "check_failed": CheckFailed("hook failed", now=now),
        "v_promote": VerdictReceived(Verdict.PROMOTE, ("ok",), now=now),
        "v_continue": VerdictReceived(Verdict.CONTINUE, ("need data",), now=now),
        "v_rollback": VerdictReceived(Verdict.ROLLBACK, ("errors up",), now=now),
        "v_inconclusive": VerdictReceived(Verdict.INCONCLUSIVE, ("noisy",), now=now),
        "resumed": Resumed(st.traffic, st.revision_id or "r0", now=now),
        "interrupt": Interrupted("SIGTERM", now=now),
    }[name]


EVENTS = [
    "start", "written", "mismatch", "failed_other", "tick_early", "tick_late", "invocations",
    "gate", "promote", "rollback", "check_failed", "v_promote", "v_continue", "v_rollback",
    "v_inconclusive", "resumed", "interrupt",
]
X = "invalid"  # raises InvalidEvent, changes nothing
I = "ignored"  # same state object back, no actions
PROG, PAUSED, PROM, RB = "progressing", "paused", "promoting", "rolling_back"
# While a write is pending only its outcome (or a resume) is accepted.
_PENDING_WRITE = {e: X for e in EVENTS}
_TERMINAL = {e: I for e in EVENTS}
_WAITING = {  # common to the situations with nothing in flight and a human-free wait
    "start": X, "written": X, "mismatch": X, "failed_other": X, "tick_early": I, "tick_late": I,
    "invocations": I, "gate": X, "promote": (PROM, "SetTraffic"), "rollback": (RB, "SetTraffic"),
    "check_failed": (RB, "SetTraffic"), "v_promote": I, "v_continue": I, "v_rollback": I,
    "v_inconclusive": I, "interrupt": (RB, "SetTraffic"),
}

TABLE: dict[str, dict[str, object]] = {
    "pending": {
        "start": (PROG, "SetTraffic"), "written": X, "mismatch": X, "failed_other": X,
        "tick_early": I, "tick_late": I, "invocations": I, "gate": X, "promote": X,
        "rollback": ("rolled_back", "Finish"), "check_failed": ("rolled_back", "Finish"),
        "v_promote": I, "v_continue": I, "v_rollback": I, "v_inconclusive": I,
        "resumed": (PROG, "SetTraffic"),  # a resume before the start is the start
        "interrupt": ("interrupted", "Finish"),  # nothing written: nothing to undo
    },
    "writing": {
        **_PENDING_WRITE, "written": (PROG, "Wait"), "mismatch": ("failed", "Finish"),
        "failed_other": ("failed", "Finish"),  # nothing was written yet: alias still stable
        "resumed": (PROG, "SetTraffic"),  # the write never happened: issue it again
        "interrupt": (PROG, ""),  # marked: the write's outcome leads back
    },
    "pausing": {**_WAITING, "tick_late": (PROG, "WaitForInvocations"), "resumed": (PROG, "Wait")},
    "counting": {
        **_WAITING, "invocations": (PROG, "RunAnalysis"), "resumed": (PROG, "WaitForInvocations"),
    },
    "analysing": {
        **_WAITING, "v_promote": (PAUSED, "AwaitGate"), "v_continue": (PROG, "Wait"),
        "v_rollback": (RB, "SetTraffic"), "v_inconclusive": (PAUSED, "AwaitGate"),
        "resumed": (PROG, "RunAnalysis"),
    },
    "analysis_wait": {**_WAITING, "tick_late": (PROG, "RunAnalysis"), "resumed": (PROG, "Wait")},
    "inconclusive": {
        **_WAITING, "gate": (PAUSED, "AwaitGate"),  # past the analysis, onto the manual gate
        "resumed": (PAUSED, "AwaitGate"),
    },
    "gated": {**_WAITING, "gate": (PROG, "SetTraffic"), "resumed": (PAUSED, "AwaitGate")},
    "promoting": {
        **_PENDING_WRITE, "written": ("succeeded", "Finish"), "mismatch": ("failed", "Finish"),
        "failed_other": (RB, "SetTraffic"), "resumed": (PROM, "SetTraffic"),
        "interrupt": (PROM, ""),
    },
    "rolling_back": {
        **_PENDING_WRITE, "written": ("rolled_back", "Finish"), "mismatch": ("failed", "Finish"),
        "failed_other": (RB, ""),  # stalled: explained, waits for a retry
        "resumed": (RB, "SetTraffic"), "interrupt": I,  # on its way back already
    },
    "rollback_stalled": {
        **_WAITING, "promote": X, "rollback": (RB, "SetTraffic"), "check_failed": I,
        "resumed": (RB, "SetTraffic"), "interrupt": I,
    },
    "interrupting": {
        **_PENDING_WRITE, "written": ("interrupted", "Finish"), "mismatch": ("failed", "Finish"),
        "failed_other": (RB, ""), "resumed": (RB, "SetTraffic"), "interrupt": I,
    },
    "succeeded": _TERMINAL,
    "rolled_back": _TERMINAL,
    "failed": _TERMINAL,
    "interrupted": _TERMINAL,
}


def test_the_table_covers_every_phase_and_every_event():
    s = situations()
    assert set(TABLE) == set(s)
    assert {st.phase for st in s.values()} == set(Phase)
    for name, row in TABLE.items():
        assert set(row) == set(EVENTS), name


@pytest.mark.parametrize(
    "situation, event_name",
    [(sit, ev) for sit in TABLE for ev in EVENTS],
)
def test_transition_table(situation, event_name):
    state = situations()[situation]
    event = make_event(event_name, state)
    expected = TABLE[situation][event_name]
    if expected == X:
        with pytest.raises(InvalidEvent):
            transition(state, event)
        return
    new_state, actions = transition(state, event)
    if expected == I:
        assert new_state is state
        assert actions == ()
        return
    phase, action = expected
    assert new_state.phase.value == phase
    assert kinds(actions) == ((action,) if action else ())
    assert new_state.updated_at == event.now


# --- a whole rollout, and the details the table does not show ----------------------------------


def test_a_canary_rollout_from_start_to_success():
    s = new(PRESETS["LambdaCanary10Percent5Minutes"])
    s, a = transition(s, Start(STABLE, "r0", now=100))
    assert a == (
        Notify("started", {"stable": "1", "candidate": "2", "steps": 3}),
        SetTraffic("notes-get", "live", Traffic("1", "2", 0.1), "r0"),
    )
    assert s.intent == Intent(Traffic("1", "2", 0.1), "r0") and s.started_at == 100
    s, a = transition(s, AliasWritten("r1", Traffic("1", "2", 0.1), now=101))
    assert kinds(a) == ("Wait",) and a[-1] == Wait(401)
    assert s.traffic == Traffic("1", "2", 0.1) and s.revision_id == "r1" and s.intent is None
    s, a = transition(s, Tick(now=400))
    assert a == () and s.phase is Phase.PROGRESSING
    s, a = transition(s, Tick(now=401))
    assert a == (SetTraffic("notes-get", "live", CANDIDATE, "r1"),) and s.phase is Phase.PROMOTING
    s, a = transition(s, AliasWritten("r2", CANDIDATE, now=402))
    assert a[-1] == Finish(Phase.SUCCEEDED) and s.phase is Phase.SUCCEEDED
    assert s.traffic == CANDIDATE and s.revision_id == "r2"


def test_start_when_the_alias_already_serves_the_candidate_succeeds_without_writing():
    s, a = transition(new(), Start(CANDIDATE, "r9", now=1))
    assert s.phase is Phase.SUCCEEDED and kinds(a) == ("Finish",)
    assert "already serves 2" in s.reason


@pytest.mark.parametrize("seen", [Traffic("3"), Traffic("1", "2", 0.5), Traffic("1", "3", 0.1)])
def test_start_on_an_alias_someone_else_owns_fails_without_writing(seen):
    s, a = transition(new(), Start(seen, "r9", now=1))
    assert s.phase is Phase.FAILED and kinds(a) == ("Finish",)
    assert s.reason.startswith("drift:") and str(seen) in s.reason
    assert s.traffic == STABLE  # what the rollout knew; the intruder's traffic is in the reason


def test_alias_written_must_match_the_intent():
    s = situations()["writing"]
    with pytest.raises(InvalidEvent, match="pending write is"):
        transition(s, AliasWritten("r1", Traffic("1", "2", 0.2), now=1))


def test_revision_mismatch_stops_without_overwriting_and_explains():
    s = situations()["pausing"]
    s, _ = transition(s, Tick(now=301))
    s, _ = transition(s, PromoteRequested(now=302))
    s, a = transition(s, AliasWriteFailed(WriteFailure.REVISION_MISMATCH, "PreconditionFailed", now=303))
    assert s.phase is Phase.FAILED and s.intent is None
    assert "changed outside this rollout" in s.reason and "RevisionId r1" in s.reason
    assert [n.event for n in a if isinstance(n, Notify)] == ["drift", "failed"]
    assert not any(isinstance(x, SetTraffic) for x in a)


def test_a_failed_forward_write_on_a_split_rolls_back():
    s = situations()["gated"]
    s, _ = transition(s, GatePassed(now=400))  # writes 50%
    s, a = transition(s, AliasWriteFailed(WriteFailure.OTHER, "throttled", now=401))
    assert s.phase is Phase.ROLLING_BACK and a[-1] == SetTraffic("notes-get", "live", STABLE, "r1")
    assert "could not write the alias: throttled" in s.reason


def test_a_first_write_withheld_by_the_group_is_a_rollback_with_nothing_written():
    """A member whose group rolled back before its first write never had traffic: it ends
    rolled back with the group's reason (not failed), and nothing is written."""
    s, _ = transition(new(), Start(STABLE, "r0", now=0))
    s, a = transition(s, AliasWriteFailed(WriteFailure.WITHHELD, "group shop rolls back together: x",
                                          now=1))
    assert s.phase is Phase.ROLLED_BACK and s.reason == "group shop rolls back together: x"
    assert not any(isinstance(x, SetTraffic) for x in a)


def test_a_stalled_rollback_keeps_the_alias_and_can_be_retried():
    s = situations()["rollback_stalled"]
    assert s.intent is None and s.traffic == Traffic("1", "2", 0.1)
    assert "retry with `lambdashift rollback`" in s.reason
    s, a = transition(s, RollbackRequested(now=10))
    assert a == (Notify("rolling_back", {"reason": "rollback requested"}), SetTraffic("notes-get", "live", STABLE, "r1"))


def test_invocations_are_a_running_total_and_stale_counts_are_ignored():
    s = situations()["counting"]
    s, a = transition(s, InvocationsObserved(40, now=310))
    assert s.invocations_seen == 40 and a == ()
    same, a = transition(s, InvocationsObserved(30, now=311))
    assert same is s
    s, a = transition(s, InvocationsObserved(100, now=312))
    assert kinds(a) == ("RunAnalysis",) and s.invocations_seen == 0


def test_verdicts_are_recorded_with_their_reasons():
    s = situations()["analysing"]
    s, _ = transition(s, VerdictReceived(Verdict.CONTINUE, ("12 requests, need 50",), now=310))
    s, a = transition(s, Tick(now=370))
    assert a == (RunAnalysis(3, STEPS[3]),)
    s, _ = transition(s, VerdictReceived(Verdict.ROLLBACK, ("error rate 4% vs 0.1%",), now=371))
    assert [(v.verdict, v.reasons, v.at) for v in s.verdicts] == [
        (Verdict.CONTINUE, ("12 requests, need 50",), 310),
        (Verdict.ROLLBACK, ("error rate 4% vs 0.1%",), 371),
    ]
    assert s.reason == "analysis: error rate 4% vs 0.1%"


def test_time_boxed_analysis_looks_again_at_promote_after_not_an_interval_late():
    steps = (WeightStep(0.1), analysis_step({"promote_after": "5m"}, interval=60), WeightStep(1.0))
    s, _ = transition(new(steps), Start(STABLE, "r0", now=0))
    s, a = transition(s, written(s, 10))  # the analysis starts at 10: promote_after at 310
    assert kinds(a) == ("RunAnalysis",) and s.step_started_at == 10
    s, a = transition(s, VerdictReceived(Verdict.CONTINUE, ("need data",), now=200))
    assert a[-1] == Wait(260)  # an interval on, before the deadline
    s, _ = transition(s, Tick(now=260))
    s, a = transition(s, VerdictReceived(Verdict.CONTINUE, ("need data",), now=290))
    assert a[-1] == Wait(310) and s.wait_until == 310  # not 350


def test_inconclusive_pauses_for_a_person():
    s, a = transition(situations()["analysing"], VerdictReceived(Verdict.INCONCLUSIVE, ("noisy",), now=1000))
    assert s.phase is Phase.PAUSED and a[-1] == AwaitGate(3)
    assert s.reason == "analysis inconclusive: noisy; promote or roll back"


def test_promote_skips_the_remaining_steps():
    s, a = transition(situations()["pausing"], PromoteRequested(now=5))
    assert s.step_index == len(STEPS) - 1 and s.phase is Phase.PROMOTING
    assert a[-1] == SetTraffic("notes-get", "live", CANDIDATE, "r1")


def test_rollback_before_any_traffic_moved_needs_no_write():
    s, _ = transition(new((AnalysisStep(), WeightStep(1.0))), Start(STABLE, "r0", now=0))
    s, a = transition(s, CheckFailed("pre-traffic hook failed", now=1))
    assert s.phase is Phase.ROLLED_BACK and kinds(a) == ("Finish",)
    assert s.reason == "check failed: pre-traffic hook failed"


def test_invalid_events_explain_themselves():
    with pytest.raises(InvalidEvent, match="already started"):
        transition(situations()["pausing"], Start(STABLE, "r0", now=9))
    with pytest.raises(InvalidEvent, match="not waiting at a gate"):
        transition(situations()["pausing"], GatePassed(now=9))
    with pytest.raises(InvalidEvent, match="is pending: resolve it first"):
        transition(situations()["writing"], RollbackRequested(now=9))
    with pytest.raises(InvalidEvent, match="rolling back: it cannot be promoted"):
        transition(situations()["rollback_stalled"], PromoteRequested(now=9))
    with pytest.raises(InvalidEvent, match="not a rollout event"):
        transition(situations()["pausing"], "tick")  # type: ignore[arg-type]


# --- interrupts (SIGINT/SIGTERM to the driving process) ---------------------------------------


def test_an_interrupt_mid_pause_writes_the_stable_version_back_and_ends_interrupted():
    s = situations()["pausing"]
    s, a = transition(s, Interrupted("SIGINT", now=5))
    # No further step, no "rolling back" line: the one line comes when it is done.
    assert a == (SetTraffic("notes-get", "live", STABLE, "r1"),)  # RevisionId-guarded
    assert s.phase is Phase.ROLLING_BACK and s.interrupted == "SIGINT" and s.wait_until is None
    s, a = transition(s, AliasWritten("r2", STABLE, now=6))
    assert s.phase is Phase.INTERRUPTED and s.traffic == STABLE and a[-1] == Finish(Phase.INTERRUPTED)
    assert a[0] == Notify("interrupted", {"traffic": str(STABLE),
                                          "reason": "interrupted (SIGINT): live back on version 1"})


@pytest.mark.parametrize("situation", ["gated", "inconclusive", "analysing", "counting"])
def test_an_interrupt_at_a_gate_or_analysis_never_goes_on(situation):
    s, a = transition(situations()[situation], Interrupted("SIGTERM", now=1000))
    assert kinds(a) == ("SetTraffic",) and a[-1].traffic == STABLE


def test_an_interrupt_with_all_traffic_on_the_candidate_still_goes_back_before_the_end():
    steps = (WeightStep(0.1), WeightStep(1.0), AnalysisStep(alarms=("errors",)))  # a post-traffic step
    s, _ = transition(new(steps), Start(STABLE, "r0", now=0))
    s, _ = transition(s, written(s, 1))
    s, a = transition(s, written(s, 2))
    assert s.traffic == CANDIDATE and kinds(a) == ("RunAnalysis",)
    s, a = transition(s, Interrupted("SIGINT", now=3))
    assert a == (SetTraffic("notes-get", "live", STABLE, "r2"),)


def test_a_forward_write_pending_at_the_interrupt_is_undone_or_not_redone():
    s = situations()["gated"]
    s, _ = transition(s, GatePassed(now=400))  # writes 50%
    marked, a = transition(s, Interrupted("SIGINT", now=401))
    assert a == () and marked.interrupted == "SIGINT" and marked.intent == s.intent
    # It landed: undo it.
    back, a = transition(marked, written(marked, 402))
    assert back.phase is Phase.ROLLING_BACK and a == (SetTraffic("notes-get", "live", STABLE, "r402"),)
    # It was not sent: go back from where the alias is.
    back, a = transition(marked, AliasWriteFailed(WriteFailure.OTHER, "not sent", now=402))
    assert back.phase is Phase.ROLLING_BACK and a == (SetTraffic("notes-get", "live", STABLE, "r1"),)
    assert back.reason == "interrupted (SIGINT): live back on version 1"
    # The process died before knowing: a resume must not send the forward write again.
    back, a = transition(marked, Resumed(s.traffic, s.revision_id, now=500))
    assert a == (SetTraffic("notes-get", "live", STABLE, "r1"),)


def test_an_interrupt_before_any_write_ends_at_once_with_nothing_written():
    s, _ = transition(new(), Start(STABLE, "r0", now=0))
    s, a = transition(s, AliasWriteFailed(WriteFailure.OTHER, "not sent", now=1))  # no marker: failed
    assert s.phase is Phase.FAILED
    s, _ = transition(new(), Start(STABLE, "r0", now=0))
    s, _ = transition(s, Interrupted("SIGTERM", now=1))
    s, a = transition(s, AliasWriteFailed(WriteFailure.OTHER, "not sent", now=2))
    assert s.phase is Phase.INTERRUPTED and kinds(a) == ("Finish",)


def test_an_interrupt_during_a_rollback_keeps_the_rollback_as_the_outcome():
    s = situations()["rolling_back"]
    same, a = transition(s, Interrupted("SIGINT", now=5))
    assert same is s and a == ()


def test_a_resumed_interrupted_write_back_finishes_interrupted():
    s = situations()["interrupting"]
    s2, a = transition(s, Resumed(s.traffic, s.revision_id, now=9))  # the write never happened
    assert a == (SetTraffic("notes-get", "live", STABLE, "r1"),)
    s3, a = transition(s2, written(s2, 10))
    assert s3.phase is Phase.INTERRUPTED and s3.interrupted == "SIGINT"


# --- crash recovery ------------------------------------------------------------------------------


@pytest.mark.parametrize("situation", ["writing", "promoting", "rolling_back", "interrupting"])
def test_resume_after_the_write_happened_records_it(situation):
    s = situations()[situation]
    s2, a = transition(s, Resumed(s.intent.traffic, "r-new", now=999))
    s3, b = transition(s, written(s, 999, "r-new"))
    assert (s2, a) == (s3, b)


@pytest.mark.parametrize("situation", ["writing", "promoting", "rolling_back", "interrupting"])
def test_resume_when_the_write_never_happened_issues_it_again(situation):
    s = situations()[situation]
    s2, a = transition(s, Resumed(s.traffic, s.revision_id, now=999))
    assert a == (SetTraffic("notes-get", "live", s.intent.traffic, s.revision_id),)
    assert s2.intent == s.intent and s2.phase is s.phase


@pytest.mark.parametrize("situation", ["writing", "promoting", "rolling_back", "pausing", "gated",
                                       "interrupting"])
@pytest.mark.parametrize(
    "seen, revision",
    [(Traffic("3"), "r-x"), (Traffic("1", "2", 0.3), "r-x"), ("same traffic", "r-other")],
)
def test_resume_on_anything_else_is_drift_and_writes_nothing(situation, seen, revision):
    s = situations()[situation]
    seen = s.traffic if seen == "same traffic" else seen
    s2, a = transition(s, Resumed(seen, revision, now=999))
    assert s2.phase is Phase.FAILED and s2.intent is None and s2.reason.startswith("drift:")
    assert not any(isinstance(x, SetTraffic) for x in a) and a[-1] == Finish(Phase.FAILED)


def test_resume_mid_pause_keeps_the_deadline():
    s = situations()["pausing"]
    _, a = transition(s, Resumed(s.traffic, s.revision_id, now=100))
    assert a == (Wait(301),)


def test_resume_while_counting_keeps_counting_from_the_pause_start():
    s = situations()["counting"]
    _, a = transition(s, Resumed(s.traffic, s.revision_id, now=500))
    assert a == (WaitForInvocations(100, since=301),)


# --- serialization ---------------------------------------------------------------------------


@pytest.mark.parametrize("situation", list(TABLE))
def test_state_round_trips_through_json(situation):
    s = situations()[situation]
    data = json.loads(json.dumps(s.to_dict()))
    assert RolloutState.from_dict(data) == s


def test_from_dict_refuses_an_unknown_schema():
    data = new().to_dict() | {"schema": 99}
    with pytest.raises(ValueError, match="schema"):
        RolloutState.from_dict(data)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"candidate": "1"}, "both version 1"),
        ({"candidate": "$LATEST"}, "published version"),
        ({"steps": (WeightStep(0.5),)}, "last weight step"),
        ({"step_index": 7}, "outside"),
        ({"traffic": Traffic("3")}, "is not 1, 2 or a split"),
        ({"traffic": Traffic("2", "1", 0.5)}, "is not 1, 2 or a split"),
        ({"intent": Intent(Traffic("1", "3", 0.1), None)}, "intent"),
    ],
)
def test_state_refuses_impossible_values(kwargs, message):
    args = {"rollout_id": "r", "function": "f", "alias": "live", "stable": "1", "candidate": "2", "steps": STEPS}
    with pytest.raises(ValueError, match=message):
        RolloutState(**(args | kwargs))


# --- dry run ---------------------------------------------------------------------------------


def test_plan_from_pending_lists_every_step_assuming_success():
    s = new(steps_for({"strategy": "custom", "steps": [
        {"weight": 10}, {"pause": "5m"}, {"pause": {"invocations": 50}}, {"alarms": ["e"]},
        {"pause": "manual"}, {"weight": 100}]}))
    assert plan(s, now=1000) == [
        SetTraffic("notes-get", "live", Traffic("1", "2", 0.1), "(current)"),
        Wait(1300),
        WaitForInvocations(50, since=1300),
        RunAnalysis(3, AnalysisStep(alarms=("e",))),
        AwaitGate(4),
        SetTraffic("notes-get", "live", CANDIDATE, "(planned 1)"),
        Finish(Phase.SUCCEEDED),
    ]


def test_plan_from_the_middle_of_a_rollout_continues_from_there():
    s = situations()["gated"]
    actions = plan(s)
    assert [a.traffic for a in actions if isinstance(a, SetTraffic)] == [Traffic("1", "2", 0.5), CANDIDATE]
    assert isinstance(actions[0], AwaitGate) and actions[-1] == Finish(Phase.SUCCEEDED)


def test_plan_does_not_change_the_state_and_is_empty_when_done():
    s = situations()["pausing"]
    before = s.to_dict()
    plan(s)
    assert s.to_dict() == before
    assert plan(situations()["succeeded"]) == []
    assert plan(situations()["rolling_back"]) == [
        SetTraffic("notes-get", "live", STABLE, "r1"), Finish(Phase.ROLLED_BACK)
    ]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_plan_of_every_preset_ends_on_the_candidate(name):
    actions = plan(new(PRESETS[name]))
    writes = [a.traffic for a in actions if isinstance(a, SetTraffic)]
    assert writes[-1] == CANDIDATE and actions[-1] == Finish(Phase.SUCCEEDED)
    assert [w.weight for w in writes[:-1]] == sorted(w.weight for w in writes[:-1])


# --- property-style: random event sequences against a simulated alias --------------------------


@dataclass
class Alias:
    """The real alias, as AWS would keep it: a write with a stale RevisionId is refused."""

    traffic: Traffic
    revision: int = 0

    @property
    def rid(self) -> str:
        return f"r{self.revision}"

    def write(self, traffic: Traffic) -> None:
        self.traffic, self.revision = traffic, self.revision + 1


STEP_LISTS = [
    STEPS,
    PRESETS["LambdaCanary10Percent5Minutes"],
    PRESETS["LambdaLinear10PercentEvery1Minute"],
    PRESETS["LambdaAllAtOnce"],
    (AnalysisStep(), WeightStep(1.0)),
    (ManualGate(), WeightStep(0.5), InvocationPause(5), WeightStep(1.0)),
]


def owned(s: RolloutState, t: Traffic) -> bool:
    return t in (Traffic(s.stable), Traffic(s.candidate)) or (t.primary == s.stable and t.canary == s.candidate)


def random_run(seed: int) -> tuple[RolloutState, Alias, int | None]:
    """Drive one rollout with mostly sensible, sometimes absurd events.

    Returns the final state, the alias, and the revision of the last foreign write (None
    when nobody else wrote).
    """
    rng = random.Random(seed)
    alias = Alias(STABLE)
    s = RolloutState.new("r", "fn", "live", "1", "2", rng.choice(STEP_LISTS), now=0)
    now, intruded, foreign_revision = 0.0, False, None
    intruders = seed % 4 == 0  # a quarter of the runs meet someone else writing the alias
    actions: tuple = ()
    s, actions = transition(s, Start(alias.traffic, alias.rid, now=now))
    for _ in range(120):
        now += rng.choice([0, 1, 30, 61, 400])
        driver = next((a for a in actions if not isinstance(a, Notify)), None)
        roll = rng.random()
        if intruders and roll < 0.03 and not s.phase.is_terminal:  # a write behind our back
            alias.write(rng.choice([Traffic("7"), Traffic("1", "2", 0.42), STABLE]))
            intruded, foreign_revision = True, alias.revision
            continue
        if isinstance(driver, SetTraffic) and roll < 0.75:
            event = respond_to_write(rng, alias, driver, now)
        elif roll < 0.85 and driver is not None:
            event = respond(rng, driver, now)
        else:
            event = noise(rng, s, alias, now)
        before = s
        try:
            s, new_actions = transition(s, event)
        except InvalidEvent:
            assert not before.phase.is_terminal
            continue
        check_invariants(before, event, s, new_actions, alias, intruded)
        if s is not before or new_actions:
            actions = new_actions
    return s, alias, foreign_revision


def respond_to_write(rng, alias: Alias, w: SetTraffic, now: float):
    if w.expected_revision != alias.rid:
        return AliasWriteFailed(WriteFailure.REVISION_MISMATCH, "PreconditionFailedException", now=now)
    roll = rng.random()
    if roll < 0.1:
        return AliasWriteFailed(WriteFailure.OTHER, "TooManyRequestsException", now=now)
    if roll < 0.2:  # crash before the write reached AWS
        return Resumed(alias.traffic, alias.rid, now=now)
    alias.write(w.traffic)
    if roll < 0.3:  # crash after the write, before its outcome was recorded
        return Resumed(alias.traffic, alias.rid, now=now)
    return AliasWritten(alias.rid, w.traffic, now=now)


def respond(rng, driver, now: float):
    if isinstance(driver, Wait):
        return Tick(now=max(now, driver.until))
    if isinstance(driver, WaitForInvocations):
        return InvocationsObserved(rng.choice([driver.invocations, driver.invocations // 2]), now=now)
    if isinstance(driver, RunAnalysis):
        return VerdictReceived(rng.choice(list(Verdict)), ("r",), now=now)
    if isinstance(driver, AwaitGate):
        return rng.choice([GatePassed(now=now), PromoteRequested(now=now), RollbackRequested(now=now)])
    return Tick(now=now)


def noise(rng, s: RolloutState, alias: Alias, now: float):
    return rng.choice([
        Start(alias.traffic, alias.rid, now=now),
        AliasWritten("r-bogus", Traffic("1", "2", 0.37), now=now),  # matches no intent
        # Truthful noise only: OTHER says the write did not happen (true: it was not applied);
        # a mismatch would claim a writer that does not exist, so it comes only with no write.
        AliasWriteFailed(WriteFailure.OTHER if s.intent else WriteFailure.REVISION_MISMATCH, now=now),
        Tick(now=now),
        InvocationsObserved(rng.randint(0, 200), now=now),
        GatePassed(now=now),
        PromoteRequested(now=now),
        RollbackRequested(now=now),
        CheckFailed("alarm", now=now),
        VerdictReceived(rng.choice(list(Verdict)), now=now),
        Resumed(alias.traffic, alias.rid, now=now),  # a crash at any moment
        Interrupted("SIGINT", now=now),  # Ctrl-C at any moment
    ])


def check_invariants(before, event, s, actions, alias: Alias, intruded: bool) -> None:
    writes = [a for a in actions if isinstance(a, SetTraffic)]
    finishes = [a for a in actions if isinstance(a, Finish)]
    # Traffic is always the stable alone, the candidate alone, or a split of the two.
    assert owned(s, s.traffic) and (s.intent is None or owned(s, s.intent.traffic))
    # Terminal phases do nothing at all.
    if before.phase.is_terminal:
        assert s is before and actions == ()
        return
    # At most one write, always with its intent recorded and the last revision seen.
    assert len(writes) <= 1
    if writes:
        w = writes[0]
        assert s.intent == Intent(w.traffic, s.revision_id) and w.expected_revision == s.revision_id
        assert w.traffic != s.traffic  # never a write that changes nothing
        if before.intent is not None and w.traffic != before.intent.traffic:
            # a new write only once the previous intent was resolved by its outcome or a resume
            assert isinstance(event, (AliasWritten, AliasWriteFailed, Resumed))
    # Ending is announced exactly once, and an ended rollout has nothing in flight.
    assert len(finishes) == (1 if s.phase.is_terminal else 0)
    if s.phase.is_terminal:
        assert finishes[0].outcome is s.phase and s.intent is None and not writes
    # Interrupts never promote: once interrupted, the only write is the stable version back.
    if s.interrupted:
        assert all(w.traffic == Traffic(s.stable) for w in writes)
        assert s.phase is not Phase.SUCCEEDED
    # Without intruders, what the rollout believes is what the alias serves.
    if not intruded and s.phase is not Phase.FAILED:
        if s.intent is None:
            assert (s.traffic, s.revision_id) == (alias.traffic, alias.rid)
        else:
            assert alias.traffic in (s.traffic, s.intent.traffic)


@pytest.mark.parametrize("block", range(10))
def test_random_event_sequences_keep_the_invariants(block):
    for seed in range(block * 60, block * 60 + 60):
        s, alias, foreign_revision = random_run(seed)
        intruded = foreign_revision is not None
        if intruded:
            # Never overwrite the other writer: its write stays the alias's last one.
            assert alias.revision == foreign_revision, seed
        if s.phase.is_terminal and not intruded:
            # Never a split that nobody owns: an ended rollout leaves a single version.
            assert not alias.traffic.is_split, (seed, s.reason)
            expected = {Phase.SUCCEEDED: CANDIDATE, Phase.ROLLED_BACK: STABLE, Phase.FAILED: STABLE,
                        Phase.INTERRUPTED: STABLE}
            assert alias.traffic == expected[s.phase], (seed, s.phase, s.reason)
        if s.phase is Phase.FAILED and not intruded:
            assert "drift" not in s.reason, seed


def test_random_runs_reach_every_phase():
    """The generator is not too timid: across seeds every phase shows up at the end of a run."""
    seen = {random_run(seed)[0].phase for seed in range(600)}
    assert seen >= {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.FAILED, Phase.INTERRUPTED}


# --- purity --------------------------------------------------------------------------------------

FORBIDDEN = {
    "boto3", "botocore", "time", "datetime", "random", "os", "sys", "subprocess", "socket",
    "pathlib", "sqlite3", "threading", "asyncio", "io", "shutil", "tempfile", "urllib", "httpx",
}


@pytest.mark.parametrize("module", ["model", "core/state", "core/machine", "core/strategy", "core/order"])
def test_the_pure_core_imports_no_clock_randomness_or_io(module):
    import ast
    from pathlib import Path

    import lambdashift

    source = Path(lambdashift.__file__).parent / f"{module}.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, imported & FORBIDDEN


# --- post-traffic (bake) analysis after the promotion -------------------------------------


BAKED = (WeightStep(0.5), WeightStep(1.0), AnalysisStep({}, ("post",)))


def _bake_to_post_step():
    s = RolloutState.new("r", "f", "live", "1", "2", BAKED, now=0.0)
    s, _ = transition(s, Start(Traffic("1"), "rev0", now=0.0))
    s, _ = transition(s, AliasWritten("rev1", Traffic("1", "2", 0.5), now=1.0))
    s, actions = transition(s, AliasWritten("rev2", Traffic("2"), now=2.0))
    return s, actions


def test_analysis_after_the_promotion_runs_with_the_candidate_serving_everything():
    s, actions = _bake_to_post_step()
    assert s.phase is Phase.PROGRESSING and s.traffic == Traffic("2") and s.step_index == 2
    assert any(isinstance(a, RunAnalysis) for a in actions)


def test_a_passing_post_traffic_analysis_succeeds():
    s, _ = _bake_to_post_step()
    s, actions = transition(s, VerdictReceived(Verdict.PROMOTE, ("ok",), now=3.0))
    assert s.phase is Phase.SUCCEEDED and Finish(Phase.SUCCEEDED) in actions


def test_a_failing_post_traffic_analysis_rolls_back_to_the_stable_version():
    s, _ = _bake_to_post_step()
    s, actions = transition(s, CheckFailed("post-traffic check failed", now=3.0))
    writes = [a for a in actions if isinstance(a, SetTraffic)]
    assert s.phase is Phase.ROLLING_BACK and writes[0].traffic == Traffic("1")
    s, _ = transition(s, AliasWritten("rev3", Traffic("1"), now=4.0))
    assert s.phase is Phase.ROLLED_BACK


def test_promote_during_the_post_traffic_step_finishes():
    s, _ = _bake_to_post_step()
    s, actions = transition(s, PromoteRequested(now=3.0))
    assert s.phase is Phase.SUCCEEDED and not any(isinstance(a, SetTraffic) for a in actions)


def test_promote_before_the_bake_writes_100_percent_then_runs_the_bake():
    s = RolloutState.new("r", "f", "live", "1", "2", (WeightStep(0.1), ManualGate(), *BAKED[1:]), now=0.0)
    s, _ = transition(s, Start(Traffic("1"), "rev0", now=0.0))
    s, _ = transition(s, AliasWritten("rev1", Traffic("1", "2", 0.1), now=1.0))
    s, actions = transition(s, PromoteRequested(now=2.0))
    assert [a.traffic for a in actions if isinstance(a, SetTraffic)] == [Traffic("2")]
    s, actions = transition(s, AliasWritten("rev2", Traffic("2"), now=3.0))
    assert s.phase is Phase.PROGRESSING and any(isinstance(a, RunAnalysis) for a in actions)


# --- looks as fast as the source allows (issue 8) ---------------------------------------------


def test_a_step_without_interval_looks_again_when_the_source_has_new_data():
    steps = (WeightStep(0.1), AnalysisStep(), WeightStep(1.0))
    s, a = transition(new(steps), Start(STABLE, "r0", now=0.0))
    s, a = transition(s, written(s, 1.0))
    assert a[-1] == RunAnalysis(1, steps[1])
    s, a = transition(s, VerdictReceived(Verdict.CONTINUE, ("waiting",), now=2.0, next_look=2.2))
    assert a == (Wait(2.2),) and s.wait_until == 2.2
    # Without a source that says (a bare analyzer), the old minute.
    s, a = transition(s, Tick(now=2.2))
    s, a = transition(s, VerdictReceived(Verdict.CONTINUE, ("waiting",), now=3.0))
    assert a == (Wait(63.0),)
    assert [v.at for v in s.verdicts] == [3.0]  # only the newest "continue" of a step is kept


def test_a_step_interval_wins_over_the_source():
    s = situations()["analysing"]  # its step has interval 60
    s, a = transition(s, VerdictReceived(Verdict.CONTINUE, now=310, next_look=310.2))
    assert a == (Wait(370),)
