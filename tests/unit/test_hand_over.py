"""The engine's hand-over (``hand_over_at``): a driver whose time is up lets the rollout go
exactly where it stands, for the next driver to resume at once; the release's record lets
that driver rebuild the config. Plain fakes, the real SQLite store, a simulated clock."""

from __future__ import annotations

import pytest

from lambdashift.config import parse_config
from lambdashift.core.machine import RolloutState
from lambdashift.core.strategy import steps_for
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.interrupts import HandOver
from lambdashift.rollout.release_record import load_release, save_release
from lambdashift.store.sqlite import SqliteStateStore
from tests.unit.test_engine import FlakyAlias

STEPS = steps_for({"strategy": "custom", "analysis": "off", "bake": 0,
                   "steps": [{"weight": 20}, {"pause": "10m"}, {"weight": 100}]})


def engine(store, api, now, *, at=None, owner="a"):  # noqa: ANN001, ANN201
    return RolloutEngine(api=api, store=store, clock=lambda: now[0], owner=owner,
                         sleep=lambda s: now.__setitem__(0, now[0] + s),
                         options=EngineOptions(poll_interval=5.0, lease_seconds=60),
                         hand_over_at=at)


def test_a_driver_whose_time_is_up_saves_lets_the_lease_go_and_writes_nothing(tmp_path):
    now = [0.0]
    api = FlakyAlias(lose_answer_of=0)
    store = SqliteStateStore(tmp_path / "s.db", namespace="t", clock=lambda: now[0])
    with pytest.raises(HandOver):
        engine(store, api, now, at=30.0).start("f", "live", "2", STEPS)
    assert now[0] == pytest.approx(30.0)  # woken at the hand-over time, not a poll later
    (state,) = store.active("f")
    assert state.phase is Phase.PROGRESSING and state.traffic == Traffic("1", "2", 0.2)
    assert api.writes == 1  # the 20% step only: no rollback, no promotion
    assert store.holder("f") is None  # the next driver need not wait for the lease

    final = engine(store, api, now, owner="b").resume(state)
    assert final.phase is Phase.SUCCEEDED and api.state.traffic == Traffic("2")
    assert now[0] == pytest.approx(600.0)  # the pause kept its clock across the hand-over


def test_a_signal_taken_but_not_yet_acted_on_is_given_back_at_hand_over(tmp_path):
    now = [0.0]
    api = FlakyAlias(lose_answer_of=0)
    store = SqliteStateStore(tmp_path / "s.db", namespace="t", clock=lambda: now[0])
    gated = steps_for({"strategy": "custom", "analysis": "off", "bake": 0,
                       "steps": [{"weight": 20}, {"pause": "10m"}, {"pause": "manual"},
                                 {"weight": 100}]})
    first = engine(store, api, now, at=30.0)
    sent = []

    def approve_early(seconds: float) -> None:  # an approve sent during the pause, for the gate
        if not sent:
            sent.append(store.send_signal("f", "approve"))
        now[0] += seconds
    first.sleep = approve_early
    with pytest.raises(HandOver):
        first.start("f", "live", "2", gated)
    assert first._inbox == type(first._inbox)()  # it had taken the approve, then gave it back
    # Lost, the approve would leave the gate waiting until this second driver's time is up.
    final = engine(store, api, now, owner="b", at=now[0] + 3600).resume(store.active("f")[0])
    assert final.phase is Phase.SUCCEEDED  # the approve reached the gate through the store


def test_a_pending_rollout_asked_to_roll_back_ends_before_its_candidate_is_invoked(tmp_path):
    now = [0.0]
    api = FlakyAlias(lose_answer_of=0)
    store = SqliteStateStore(tmp_path / "s.db", namespace="t", clock=lambda: now[0])
    queued = RolloutState.new("r-1", "f", "live", "1", "2", STEPS, now=0.0)
    store.save(queued)
    store.send_signal("f", "rollback", {"reason": "not today"})
    invoked = []
    e = engine(store, api, now)
    e.gate = lambda state: invoked.append(state) or None
    final = e.resume(queued)
    assert final.phase is Phase.ROLLED_BACK and "not today" in final.reason
    assert invoked == [] and api.writes == 0


def test_a_release_record_rebuilds_the_config_where_its_files_are_not(tmp_path):
    store = SqliteStateStore(tmp_path / "s.db", namespace="t")
    raw = {"alias": "live", "functions": {"f": {"source": "src/f", "handler": "i.h",
                                                "after": []}},
           "rollout": {"strategy": "canary", "smoke": {"event": {"ping": 1}}},
           "prewarm": {"enabled": False}}
    (tmp_path / "src" / "f").mkdir(parents=True)
    config = parse_config(raw, file=tmp_path / "lambdashift.yaml")

    class Target:
        api_url, dev_url = "http://api", None
    save_release(store, "rel-1", config, Target(), poll=0.5, by="me", detached=True,
                 rollouts={"f": "r-1"})
    (tmp_path / "src" / "f").rmdir()  # the controller has the record, not the files
    back = load_release(store, "rel-1")
    assert back is not None and back.rollouts == {"f": "r-1"} and back.poll == 0.5
    assert back.api_url == "http://api" and back.detached
    assert back.config.function("f").rollout.steps == config.function("f").rollout.steps
    assert back.config.function("f").rollout.smoke == config.function("f").rollout.smoke
    assert back.config.prewarm == config.prewarm
    with pytest.raises(Exception, match="must be a directory"):
        parse_config(raw, file=tmp_path / "lambdashift.yaml")  # a CLI still checks its paths
    assert load_release(store, "rel-missing") is None


def test_a_queued_rollout_with_its_planned_revision_starts_without_reading_the_alias(tmp_path):
    from dataclasses import replace

    now = [0.0]
    api = FlakyAlias(lose_answer_of=0)
    reads = []
    get = api.get_alias
    api.get_alias = lambda f, a: reads.append(f) or get(f, a)  # type: ignore[method-assign]
    store = SqliteStateStore(tmp_path / "s.db", namespace="t", clock=lambda: now[0])
    queued = replace(RolloutState.new("r-1", "f", "live", "1", "2", STEPS, now=0.0),
                     revision_id="rev-0")
    store.save(queued)
    final = engine(store, api, now).resume(queued)
    assert final.phase is Phase.SUCCEEDED and reads == []

    # Changed since it was planned: the first write's RevisionId refuses it; nothing is forced.
    from lambdashift.errors import RevisionMismatchError

    class Guarded(FlakyAlias):
        def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
            if expected_revision != self.state.revision_id:
                raise RevisionMismatchError("PreconditionFailedException", code="PreconditionFailed")
            return super().update_alias(function, alias, traffic,
                                        expected_revision=expected_revision)
    guarded = Guarded(lose_answer_of=0)
    guarded.state = type(guarded.state)(Traffic("2"), "rev-9")  # someone else moved it since
    stale = replace(RolloutState.new("r-2", "g", "live", "2", "3", STEPS, now=now[0]),
                    revision_id="rev-8")
    store.save(stale)
    ended = engine(store, guarded, now).resume(stale)
    assert ended.phase is not Phase.SUCCEEDED and guarded.writes == 0
    assert guarded.state.traffic == Traffic("2")
