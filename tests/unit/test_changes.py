"""Changes by hand kept like rollouts, and where `rollback` goes from each state (issue 8)."""

from __future__ import annotations

import pytest

from lambdashift.core.machine import RolloutState
from lambdashift.errors import RolloutError
from lambdashift.model import Phase, Traffic, WeightStep
from lambdashift.rollout.manual_changes import kind_of, record_change, refusal, way_back
from lambdashift.store.sqlite import SqliteStateStore


@pytest.fixture
def store(tmp_path):
    now = [1000.0]

    def clock() -> float:
        now[0] += 1
        return now[0]
    return SqliteStateStore(tmp_path / "state.db", namespace="test", clock=clock)


def change(store, kind, before, after, at):  # noqa: ANN001, ANN201
    return record_change(store, "fn", "live", kind, before, after, f"rev-{at}", "", at)


def test_shift_then_promote_goes_back_to_the_primary_before_them(store):
    change(store, "shift", Traffic("1"), Traffic("1", "2", 0.1), 1.0)
    promoted = change(store, "promote", Traffic("1", "2", 0.1), Traffic("2"), 2.0)
    assert kind_of(promoted) == "promote" and promoted.phase is Phase.SUCCEEDED
    target, last = way_back(store, "fn", "live", Traffic("2"))
    assert target == Traffic("1") and last.rollout_id == promoted.rollout_id
    event = [e for e in store.events(promoted.rollout_id) if e.kind == "alias_written"][0]
    assert event.details["before"] == Traffic("1", "2", 0.1).to_dict()
    assert event.details["revision_id"] == "rev-2.0"


def test_a_finished_rollout_goes_back_to_its_stable(store):
    done = RolloutState("r-1", "fn", "live", "3", "4", (WeightStep(1.0),), phase=Phase.SUCCEEDED,
                        traffic=Traffic("4"), started_at=5.0)
    store.save(done)
    assert way_back(store, "fn", "live", Traffic("4"))[0] == Traffic("3")


def test_no_way_back_after_a_rollback_or_a_change_outside_lambdashift_or_with_no_record(store):
    with pytest.raises(RolloutError, match="no change by lambdashift is on record"):
        way_back(store, "fn", "live", Traffic("1"))
    change(store, "shift", Traffic("1"), Traffic("2"), 1.0)
    with pytest.raises(RolloutError, match="changed outside lambdashift since"):
        way_back(store, "fn", "live", Traffic("5"))
    change(store, "rollback", Traffic("2"), Traffic("1"), 2.0)
    with pytest.raises(RolloutError, match="was a rollback to 1 .*--to VERSION"):
        way_back(store, "fn", "live", Traffic("1"))


def test_a_write_that_changes_nothing_is_not_recorded(store):
    assert change(store, "shift", Traffic("1"), Traffic("1"), 1.0) is None
    assert store.history("fn") == []


# --- `rollback --to V`: refused for a rejected version or one newer than the way back (issue 17) --


def rollout(store, rid, stable, candidate, phase, reason="", at=5.0):  # noqa: ANN001, ANN201
    end = Traffic(candidate) if phase is Phase.SUCCEEDED else Traffic(stable)
    state = RolloutState(rid, "fn", "live", stable, candidate, (WeightStep(0.1), WeightStep(1.0)),
                         phase=phase, traffic=end, started_at=at, reason=reason)
    store.save(state)
    return state


def test_a_version_the_judge_rolled_back_is_refused_with_the_reason(store):
    rollout(store, "r-1", "2", "3", Phase.ROLLED_BACK, "analysis: v3 errors 8% vs v2 0%")
    why = refusal(store, "fn", "live", "3", Traffic("2"))
    assert "version 3 was rejected for fn:live: rollout r-1 rolled_back" in why
    assert "analysis: v3 errors 8%" in why


def test_a_failed_check_rejects_and_a_later_success_lifts_it(store):
    rollout(store, "r-1", "1", "2", Phase.FAILED, "check failed: pre-traffic: smoke request got 500")
    assert "rejected" in refusal(store, "fn", "live", "2", Traffic("1"))
    rollout(store, "r-2", "1", "2", Phase.SUCCEEDED)
    rollout(store, "r-3", "2", "3", Phase.SUCCEEDED)
    assert refusal(store, "fn", "live", "2", Traffic("3")) is None  # the way back, and it succeeded


def test_an_interrupted_rollout_or_drift_is_no_verdict_on_the_version(store):
    rollout(store, "r-1", "1", "2", Phase.SUCCEEDED)
    rollout(store, "r-2", "2", "3", Phase.ROLLED_BACK, "analysis: worse")
    rollout(store, "r-3", "2", "4", Phase.INTERRUPTED, "interrupted (SIGINT): live back on version 2")
    rollout(store, "r-4", "2", "5", Phase.FAILED, "drift: fn:live was changed outside this rollout")
    rollout(store, "r-4b", "2", "5", Phase.FAILED, "could not write the alias (throttled); it still serves 2")
    rollout(store, "r-5", "2", "6", Phase.SUCCEEDED)
    rollout(store, "r-6", "6", "7", Phase.SUCCEEDED)  # before it: 6
    assert refusal(store, "fn", "live", "4", Traffic("7")) is None
    assert refusal(store, "fn", "live", "5", Traffic("7")) is None
    assert "rejected" in refusal(store, "fn", "live", "3", Traffic("7"))  # older than 6, still rejected


def test_a_group_member_sent_back_for_another_members_failure_is_no_verdict_on_its_version(store):
    rollout(store, "r-1", "2", "3", Phase.ROLLED_BACK, "rollback asked: group shop: orders rolls back: analysis: worse")
    rollout(store, "r-2", "2", "4", Phase.ROLLED_BACK,
            "check failed: pre-traffic: group shop rolls back together: orders rolls back: failed")
    rollout(store, "r-3", "2", "5", Phase.SUCCEEDED)
    rollout(store, "r-4", "5", "6", Phase.SUCCEEDED)  # before it: 5, so 3 and 4 are ways back
    assert refusal(store, "fn", "live", "3", Traffic("6")) is None
    assert refusal(store, "fn", "live", "4", Traffic("6")) is None


def test_a_version_newer_than_the_one_before_the_last_change_is_not_a_way_back(store):
    rollout(store, "r-1", "2", "3", Phase.SUCCEEDED)
    why = refusal(store, "fn", "live", "4", Traffic("3"))
    assert "newer than version 2, which served before the last change (r-1)" in why
    assert "`lambdashift deploy fn --to 4`" in why
    assert refusal(store, "fn", "live", "1", Traffic("3")) is None
    # Undoing a rollback by hand goes back to what served before it: allowed.
    change(store, "rollback", Traffic("3"), Traffic("2"), 9.0)
    assert refusal(store, "fn", "live", "3", Traffic("2")) is None
    # Nothing on record: newer than what serves now is a release, not a rollback.
    why = refusal(store, "other-fn", "live", "9", Traffic("8"))
    assert "newer than version 8, which serves now, with no change on record" in why
