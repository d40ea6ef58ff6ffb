"""Pre-warm: which version gains, how many environments, when the engine calls it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdashift.config import parse_config
from lambdashift.core.machine import RolloutState
from lambdashift.core.observations import peak_concurrency
from lambdashift.core.strategy import steps_for
from lambdashift.errors import AwsError, ConfigError
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.prewarm import (
    PREWARM_EVENT,
    Prewarmer,
    PrewarmSettings,
    growing_share,
    needed,
    parse_prewarm,
)
from lambdashift.store.sqlite import SqliteStateStore


def test_prewarm_is_on_by_default_and_can_be_turned_off_or_bounded(tmp_path):
    base = {"functions": {"f": {"source": ".", "handler": "index.handler"}}}
    assert parse_config(base, file=tmp_path / "lambdashift.yaml").prewarm == PrewarmSettings()
    off = parse_config({**base, "prewarm": False}, file=tmp_path / "lambdashift.yaml")
    assert off.prewarm.enabled is False
    assert parse_prewarm({"max_concurrency": 3, "window": 30}) == PrewarmSettings(max_concurrency=3, window=30)


@pytest.mark.parametrize("raw, words", [
    ("yes", "must be true, false or a mapping"),
    ({"max_concurrency": 0}, "prewarm.max_concurrency: must be an integer from 1 to 1000"),
    ({"concurency": 2}, "prewarm: unknown key 'concurency'; did you mean 'concurrency'?"),
    ({"enabled": "no"}, "prewarm.enabled: must be true or false"),
])
def test_a_bad_prewarm_setting_is_a_config_error_naming_the_key(raw, words):
    with pytest.raises(ConfigError, match=words):
        parse_prewarm(raw)


def test_the_version_whose_share_grows_is_the_one_to_warm():
    assert growing_share(Traffic("1"), Traffic("1", "2", 0.1)) == ("2", 0.1)
    assert growing_share(Traffic("1", "2", 0.1), Traffic("2")) == ("2", 1.0)
    # Traffic going back to the stable version alone: the stable gains.
    assert growing_share(Traffic("1", "2", 0.25), Traffic("1")) == ("1", 1.0)
    assert growing_share(Traffic("1"), Traffic("1")) is None


def test_peak_concurrency_counts_overlapping_invocations_and_skips_throttles():
    records = [  # end times and durations: [0.0, 1.0), [0.5, 1.5), [1.2, 1.3) with a 100 ms init
        {"timestamp": 1.0, "duration_ms": 1000, "throttled": False},
        {"timestamp": 1.5, "duration_ms": 1000, "throttled": False},
        {"timestamp": 1.3, "duration_ms": 50, "init_duration_ms": 50, "throttled": False},
        {"timestamp": 1.4, "duration_ms": 900, "throttled": True},
    ]
    assert peak_concurrency(records) == 2
    assert peak_concurrency([]) == 0


class Recorder:
    """An invoke API that remembers what it was asked and how many ran at once."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str | None, bytes]] = []
        self.fail = fail
        self._lock = threading.Lock()
        self._running = 0
        self.most = 0
        self._barrier: threading.Barrier | None = None

    def invoke(self, function, qualifier, payload):  # noqa: ANN001, ANN201
        with self._lock:
            self.calls.append((function, qualifier, payload))
            self._running += 1
            self.most = max(self.most, self._running)
        try:
            if self._barrier is not None:
                self._barrier.wait(timeout=5)
            if self.fail:
                raise AwsError("Rate Exceeded", code="TooManyRequestsException")
        finally:
            with self._lock:
                self._running -= 1


def _state(traffic: Traffic | None = None, phase: Phase = Phase.PROGRESSING) -> RolloutState:
    state = RolloutState.new("r-1", "notes-get", "live", "1", "2", steps_for({"strategy": "canary"}))
    import dataclasses

    return dataclasses.replace(state, traffic=traffic or Traffic("1"), phase=phase)


def test_the_candidate_is_invoked_by_version_at_once_as_often_as_its_share_of_the_peak_needs():
    api = Recorder()
    api._barrier = threading.Barrier(4)  # all four must be in flight together to return
    warm = Prewarmer(api, PrewarmSettings(), peak=lambda f, a, since, until: 4, clock=lambda: 100.0)
    note = warm(_state(), Traffic("1", "2", 0.5))
    assert note is not None and note.event == "prewarmed"
    assert note.details["version"] == "2" and note.details["concurrency"] == 4  # needed(4, 50%)
    assert api.most == 4
    assert {(f, q) for f, q, _ in api.calls} == {("notes-get", "2")}  # never the alias
    assert api.calls[0][2] == b'{"lambdashift": "prewarm"}' and PREWARM_EVENT == {"lambdashift": "prewarm"}


def test_the_environments_cover_the_shares_bursts_not_just_its_average():
    assert needed(10, 1.0) == 10 and needed(1, 0.1) == 1
    assert needed(6, 0.1) == 3      # P(more than 3 of 6 at once) < 1%, P(more than 2) ≈ 1.6%
    assert needed(3, 0.25) == 3      # P(more than 2 of 3 at once) ≈ 1.6%: all 3
    assert needed(8, 0.5) == 7


def test_the_concurrency_is_at_least_one_and_at_most_the_configured_bound():
    api = Recorder()
    assert Prewarmer(api, PrewarmSettings(), peak=lambda *a: 0).concurrency("f", "live", 0.1) == 1
    assert Prewarmer(api, PrewarmSettings(), peak=lambda *a: 6).concurrency("f", "live", 0.1) == 3
    assert Prewarmer(api, PrewarmSettings(max_concurrency=3), peak=lambda *a: 40).concurrency("f", "live", 1.0) == 3
    assert Prewarmer(api, PrewarmSettings(concurrency=5), peak=lambda *a: 40).concurrency("f", "live", 0.1) == 5
    assert Prewarmer(api, PrewarmSettings()).concurrency("f", "live", 1.0) == 1  # no peak known (AWS)


def test_a_failed_prewarm_is_reported_and_does_not_stop_the_rollout():
    note = Prewarmer(Recorder(fail=True), PrewarmSettings())(_state(), Traffic("1", "2", 0.1))
    assert note is not None and "Rate Exceeded" in note.details["problem"]


def test_a_rollback_and_a_disabled_prewarm_invoke_nothing():
    api = Recorder()
    rolling_back = _state(Traffic("1", "2", 0.25), Phase.ROLLING_BACK)
    assert Prewarmer(api, PrewarmSettings())(rolling_back, Traffic("1")) is None
    assert Prewarmer(api, PrewarmSettings(enabled=False))(_state(), Traffic("2")) is None
    assert api.calls == []


@dataclass
class _Alias:
    traffic: Traffic
    revision_id: str


class LoggingAlias:
    """An alias API that logs writes into a shared log, next to the pre-warms."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.state = _Alias(Traffic("1"), "rev-0")

    def get_alias(self, function, alias):  # noqa: ANN001, ANN201
        return self.state

    def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
        self.log.append(f"write {traffic}")
        self.state = _Alias(traffic, f"rev-{len(self.log)}")
        return self.state


def test_the_engine_prewarms_before_every_write_that_moves_traffic_to_the_candidate(tmp_path: Path):
    log: list[str] = []
    now = [0.0]
    seen = []

    def prewarm(state, traffic):  # noqa: ANN001, ANN202
        log.append(f"prewarm {traffic}")
        return Prewarmer(Recorder(), PrewarmSettings())(state, traffic)

    store = SqliteStateStore(tmp_path / "state.db", namespace="test", clock=lambda: now[0])
    engine = RolloutEngine(api=LoggingAlias(log), store=store, clock=lambda: now[0],
                           sleep=lambda s: now.__setitem__(0, now[0] + s), owner="t",
                           notify=lambda state, note: seen.append(note.event),
                           options=EngineOptions(poll_interval=1.0), prewarm=prewarm)
    final = engine.start("f", "live", "2", steps_for({"strategy": "canary", "weight": 10, "pause": "1m"}))
    assert final.phase is Phase.SUCCEEDED
    assert log == ["prewarm 1 (90%) + 2 (10%)", "write 1 (90%) + 2 (10%)", "prewarm 2 (100%)", "write 2 (100%)"]
    assert seen.count("prewarmed") == 2
    assert [e.kind for e in store.events(final.rollout_id)].count("prewarmed") == 2


def test_a_prewarm_leaves_the_limits_room_to_live_traffic_and_a_fifth_spare():
    from lambdashift.rollout.prewarm import environments, spare

    assert [spare(n) for n in (1, 5, 10, 11, 1000)] == [1, 1, 2, 3, 200]
    # The issue's switch: 8 wanted "for 100%" against a limit of 10 with 8 live at once.
    assert environments(8, 1.0, limit=10, max_concurrency=10) == (8, 0)
    assert environments(2, 1.0, limit=10, max_concurrency=10) == (2, 2)
    assert environments(5, 1.0, limit=10, max_concurrency=10) == (5, 3)
    assert environments(5, 1.0, limit=1000, max_concurrency=10) == (5, 5)   # AWS's unreserved pool
    assert environments(6, 0.1, limit=None, max_concurrency=10) == (3, 3)   # limit unknown
    assert environments(6, 1.0, limit=10, max_concurrency=10, fixed=5) == (5, 2)  # even when fixed


class Answers(Recorder):
    """An invoke API whose every other invocation answers with a function error."""

    def invoke(self, function, qualifier, payload):  # noqa: ANN001, ANN201
        from lambdashift.aws.lambda_api import InvokeResult

        with self._lock:
            self.calls.append((function, qualifier, payload))
            failed = len(self.calls) % 2 == 0
        return InvokeResult(200, qualifier, "Unhandled" if failed else None,
                            b'{"errorType": "KeyError"}' if failed else b"{}")


def test_the_prewarm_counts_only_environments_that_answered_and_stays_under_the_limit():
    api = Answers()
    warm = Prewarmer(api, PrewarmSettings(), peak=lambda *a: 4, clock=lambda: 100.0, limit=lambda f: 10)
    note = warm(_state(), Traffic("2"))
    assert note is not None and len(api.calls) == 4 == note.details["concurrency"]  # 10 - 4 - 2
    assert note.details["ready"] == 2 and "KeyError" in note.details["problem"]
    full = Prewarmer(Answers(), PrewarmSettings(), peak=lambda *a: 9, limit=lambda f: 10)
    note = full(_state(), Traffic("2"))
    assert note is not None and note.details["concurrency"] == 0 and note.details["wanted"] == 9
    assert full.api.calls == []  # no room: the candidate gate's environment is the warm one


def test_the_peak_that_sizes_a_prewarm_leaves_out_cold_starts_init_time():
    # Four cold starts in a row, each 300 ms of init and 5 ms of handler: warm, 1 at a time.
    records = [{"timestamp": 1.0 + i * 0.1, "duration_ms": 5, "init_duration_ms": 300}
               for i in range(4)]
    assert peak_concurrency(records) == 1
