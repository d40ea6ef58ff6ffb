"""Changes by hand kept like rollouts, and where `rollback` goes from each state (issue 8)."""

from __future__ import annotations

import pytest

from lambdashift.core.machine import RolloutState
from lambdashift.errors import RolloutError
from lambdashift.model import Phase, Traffic, WeightStep
from lambdashift.rollout.changes import kind_of, record_change, way_back
from lambdashift.rollout.store import SqliteStateStore


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
