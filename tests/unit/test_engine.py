"""The engine with plain fakes: a fake alias API, the real SQLite store, a simulated clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lambdashift.core.strategy import steps_for
from lambdashift.errors import AwsError
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.store import SqliteStateStore


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
