"""The engine with plain fakes: a fake alias API, the real SQLite store, a simulated clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lambdashift.core.strategy import steps_for
from lambdashift.errors import AwsError
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.store.sqlite import SqliteStateStore


@dataclass
class AliasState:
    traffic: Traffic
    revision_id: str


class FlakyAlias:
    """An alias whose n-th write lands but answers with an error (the answer got lost)."""

    def __init__(self, lose_answer_of: int) -> None:
        self.state = AliasState(Traffic("1"), "rev-0")
        self.writes = 0
        self.lose_answer_of = lose_answer_of

    def get_alias(self, function: str, alias: str) -> AliasState:
        return self.state

    def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
        self.writes += 1
        self.state = AliasState(traffic, f"rev-{self.writes}")
        if self.writes == self.lose_answer_of:
            raise AwsError("gave up after 8 attempts: ServiceException", code="ServiceException")
        return self.state


def test_a_write_that_landed_before_its_answer_was_lost_counts_as_written(tmp_path):
    now = [0.0]
    api = FlakyAlias(lose_answer_of=1)
    store = SqliteStateStore(tmp_path / "state.db", namespace="test", clock=lambda: now[0])
    engine = RolloutEngine(api=api, store=store, clock=lambda: now[0],
                           sleep=lambda s: now.__setitem__(0, now[0] + s), owner="t",
                           options=EngineOptions(poll_interval=1.0))
    final = engine.start("f", "live", "2", steps_for({"strategy": "canary", "weight": 10, "pause": "1m"}))
    assert final.phase is Phase.SUCCEEDED and api.state.traffic == Traffic("2")
    assert api.writes == 2  # the lost answer was not taken for a failure (no rollback write)


class Analyzer:
    """Counts looks; continue (the source has new data 0.2 s later) until the third look."""

    def __init__(self) -> None:
        self.looks: list[float] = []

    def analyze(self, state, step, now):  # noqa: ANN001, ANN201
        from lambdashift.core.machine import VerdictReceived
        from lambdashift.model import Verdict

        self.looks.append(now)
        verdict = Verdict.ROLLBACK if len(self.looks) == 3 else Verdict.CONTINUE
        return VerdictReceived(verdict, ("look",), now=now, next_look=now + 0.2)


def test_an_empty_analysis_step_on_a_split_is_judged_and_looks_at_the_sources_pace(tmp_path):
    now = [0.0]
    api = FlakyAlias(lose_answer_of=0)
    analyzer = Analyzer()
    store = SqliteStateStore(tmp_path / "state.db", namespace="test", clock=lambda: now[0])
    engine = RolloutEngine(api=api, store=store, clock=lambda: now[0], analyzer=analyzer,
                           sleep=lambda s: now.__setitem__(0, now[0] + s), owner="t",
                           options=EngineOptions(poll_interval=5.0))  # a poll far slower than a look
    final = engine.start("f", "live", "2", steps_for(
        {"strategy": "custom", "steps": [{"weight": 10}, {"analysis": {}}, {"weight": 100}]}))
    assert final.phase is Phase.ROLLED_BACK and api.state.traffic == Traffic("1")
    assert analyzer.looks == pytest.approx([0.0, 0.2, 0.4])  # woken at each look, not each poll


# --- interrupts: a StopRequest (what SIGINT/SIGTERM set) stops every step ---------------------


def _stopping_engine(tmp_path, api, stop, **kwargs):  # noqa: ANN001, ANN202
    from lambdashift.rollout.interrupts import StopRequest  # noqa: F401 - the type of ``stop``

    now = [0.0]
    store = SqliteStateStore(tmp_path / "state.db", namespace="test", clock=lambda: now[0])

    def sleep(seconds: float) -> None:  # simulated time; the stop comes 30 s into the pause
        now[0] += seconds
        if now[0] >= 30:
            stop.request("SIGINT")
    engine = RolloutEngine(api=api, store=store, clock=lambda: now[0], sleep=sleep, owner="t",
                           stop=stop, options=EngineOptions(poll_interval=5.0), **kwargs)
    return engine, store


def test_a_stop_mid_pause_writes_the_stable_version_back_and_ends_interrupted(tmp_path):
    from lambdashift.rollout.interrupts import StopRequest

    api, stop = FlakyAlias(lose_answer_of=0), StopRequest()
    engine, store = _stopping_engine(tmp_path, api, stop)
    final = engine.start("f", "live", "2", steps_for({"strategy": "canary", "weight": 10, "pause": "40s"}))
    assert final.phase is Phase.INTERRUPTED and final.interrupted == "SIGINT"
    assert api.state.traffic == Traffic("1") and api.writes == 2  # 10%, then back: never 100%
    assert final.reason == "interrupted (SIGINT): live back on version 1"
    kinds = [e.kind for e in store.events(final.rollout_id)]
    assert "Interrupted" in kinds and kinds[-1] == "interrupted"
    assert store.active("f") == []  # ended: nothing to resume


def test_a_stop_during_the_pre_warm_sends_no_forward_write(tmp_path):
    from lambdashift.rollout.interrupts import StopRequest

    api, stop = FlakyAlias(lose_answer_of=0), StopRequest()

    def prewarm(state, traffic):  # noqa: ANN001, ANN202 - the signal comes while warming up
        stop.request("SIGTERM")
    engine, _ = _stopping_engine(tmp_path, api, stop, prewarm=prewarm)
    final = engine.start("f", "live", "2", steps_for({"strategy": "canary", "weight": 10, "pause": "40s"}))
    assert final.phase is Phase.INTERRUPTED and final.interrupted == "SIGTERM"
    assert api.writes == 0 and api.state.traffic == Traffic("1")


def test_a_stop_wakes_a_real_sleep_at_once(tmp_path):
    """The session's sleeper is the stop's: an hour-long pause ends as soon as a stop is asked."""
    import threading
    import time

    from lambdashift.rollout.interrupts import StopRequest

    api, stop = FlakyAlias(lose_answer_of=0), StopRequest()
    store = SqliteStateStore(tmp_path / "state.db", namespace="test")
    engine = RolloutEngine(api=api, store=store, clock=time.time, sleep=stop.sleep, owner="t",
                           stop=stop, options=EngineOptions(poll_interval=600.0))
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        s=engine.start("f", "live", "2", steps_for({"strategy": "canary", "weight": 10, "pause": "1h"}))))
    worker.start()
    deadline = time.monotonic() + 60
    while api.state.traffic == Traffic("1") and time.monotonic() < deadline:
        time.sleep(0.01)  # until the split is written
    assert api.state.traffic.canary == "2"
    stop.request("SIGINT")
    worker.join(120)  # a bound far beyond a stop's reaction and far below the pause
    assert not worker.is_alive()
    assert result["s"].phase is Phase.INTERRUPTED and api.state.traffic == Traffic("1")
