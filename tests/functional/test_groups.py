"""Groups on the emulator: members advance together and roll back together.

Real engines on real threads against the emulator, through ``deploy.run_waves`` as
``lambdashift deploy`` runs them. The analysis step's verdict comes from invoking the
candidate version once (a bad candidate raises), so "bad" is the candidate's own code.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.config import parse_config
from lambdashift.core.machine import RolloutState, VerdictReceived
from lambdashift.errors import ConfigError
from lambdashift.model import Phase, Traffic, Verdict
from lambdashift.rollout import deploy
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.group import log_of
from lambdashift.store.sqlite import SqliteStateStore
from tests.conftest import ROLE, make_zip

HANDLER = """
import os

def handler(event, context):
    if os.environ["RELEASE"] == "bad":
        raise RuntimeError("this candidate is broken")
    return {"release": os.environ["RELEASE"]}
"""
STEPS = [{"weight": 10}, {"analysis": {"max_error_rate": 0.01, "interval": "0.05s"}},
         {"weight": 50}, {"analysis": {"max_error_rate": 0.01, "interval": "0.05s"}},
         {"weight": 100}]


class InvokeAnalyzer:
    """Judges a candidate by invoking it once: an error is a rollback, else promote."""

    def __init__(self, api: LambdaApi) -> None:
        self.api = api
        self.calls: list[tuple[str, int]] = []

    def analyze(self, state, step, now):  # noqa: ANN001, ANN201
        self.calls.append((state.function, state.step_index))
        result = self.api.invoke(state.function, state.candidate, b"{}")
        if result.function_error:
            return VerdictReceived(Verdict.ROLLBACK, (f"{state.candidate} raised",), now=now)
        return VerdictReceived(Verdict.PROMOTE, ("it answered",), now=now)


def make_group(client, count: int, bad: set[int]) -> tuple[list[str], dict[str, str]]:
    """``count`` functions on version 1 (live), each with a candidate version 2."""
    prefix = f"grp-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:02d}" for i in range(count)]
    for i, name in enumerate(names):
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                               Handler="index.handler", Code={"ZipFile": make_zip({"index.py": HANDLER})},
                               Environment={"Variables": {"RELEASE": "v1"}}, Publish=True)
        client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"RELEASE": "bad" if i in bad else "v2"}})
        client.publish_version(FunctionName=name)
    return names, {n: "2" for n in names}


def group_config(tmp_path: Path, names: list[str]):
    (tmp_path / "src").mkdir(exist_ok=True)
    data = {"functions": {n: {"source": "src", "handler": "index.handler", "group": "shop"}
                          for n in names},
            "rollout": {"strategy": "custom", "steps": STEPS}}
    return parse_config(data, file=tmp_path / "lambdashift.yaml")


@pytest.fixture
def rig(client, tmp_path):
    api = LambdaApi(client, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=2, base=0.0))
    store = SqliteStateStore(tmp_path / "state.db", namespace="local")
    analyzer = InvokeAnalyzer(api)

    def engine() -> RolloutEngine:
        return RolloutEngine(api=api, store=store, clock=time.time, sleep=time.sleep,
                             owner="test", analyzer=analyzer,
                             options=EngineOptions(poll_interval=0.02))
    yield api, store, analyzer, engine
    store.close()


def run(api, store, config, engine):  # noqa: ANN001, ANN201
    planned, skipped = deploy.candidates(api, store, config, list(config.functions), to=None,
                                         strategy=None)
    assert not skipped
    return deploy.run_waves(engine, config, planned)


def test_a_group_of_20_with_one_bad_candidate_ends_all_on_stable(client, rig, tmp_path):
    api, store, analyzer, engine = rig
    names, _ = make_group(client, 20, bad={7})
    config = group_config(tmp_path, names)
    outcome = run(api, store, config, engine)

    assert outcome.exit_code == 1
    for name in names:
        alias = api.get_alias(name, "live")
        assert alias.traffic == Traffic("1"), (name, alias.traffic)  # every member on stable
        assert outcome.states[name].phase is Phase.ROLLED_BACK, name
    # Lock-step: nobody went past the first analysis step, since a member failed there.
    assert {step for _, step in analyzer.calls} == {1}
    for name in names:
        writes = [e.details["traffic"] for e in store.events(outcome.states[name].rollout_id)
                  if e.kind == "AliasWritten"]
        assert writes == ["1 (90%) + 2 (10%)", "1 (100%)"], (name, writes)
    # One entry for the group, naming the member that decided it.
    entries = store.events(log_of("shop"))
    assert [e.kind for e in entries] == ["group_outcome"]
    assert entries[0].details["outcome"] == "rolled_back"
    assert f"{names[7]} rolls back" in entries[0].details["reason"]
    assert set(entries[0].details["members"]) == set(names)


def test_a_healthy_group_advances_step_by_step_together(client, rig, tmp_path):
    api, store, analyzer, engine = rig
    names, _ = make_group(client, 5, bad=set())
    outcome = run(api, store, group_config(tmp_path, names), engine)
    assert outcome.exit_code == 0
    assert all(api.get_alias(n, "live").traffic == Traffic("2") for n in names)
    # Every member's 50% write came after every member's first analysis: a barrier per step.
    events = {n: store.events(outcome.states[n].rollout_id) for n in names}
    first_verdicts = [next(e.at for e in ev if e.kind == "VerdictReceived") for ev in events.values()]
    fifty = [next(e.at for e in ev if e.kind == "AliasWritten" and "50%" in e.details["traffic"])
             for ev in events.values()]
    assert max(first_verdicts) <= min(fifty)
    assert store.events(log_of("shop"))[-1].details["outcome"] == "succeeded"


def test_members_with_different_steps_are_a_config_error(tmp_path):
    (tmp_path / "src").mkdir()
    data = {"functions": {n: {"source": "src", "handler": "index.handler", "group": "shop"}
                          for n in ("a", "b")}, "rollout": {"strategy": "custom", "steps": STEPS}}
    data["functions"]["b"]["rollout"] = {"strategy": "blue-green"}
    with pytest.raises(ConfigError, match="group shop: its members must have the same rollout steps"):
        parse_config(data, file=tmp_path / "lambdashift.yaml")
    data["functions"]["b"] = {"source": "src", "handler": "index.handler", "group": "shop",
                              "after": ["a"]}
    with pytest.raises(ConfigError, match="a is in the same group"):
        parse_config(data, file=tmp_path / "lambdashift.yaml")


def test_a_resumed_group_whose_member_rolled_back_before_the_crash_rolls_back(client, rig, tmp_path):
    """As if the controller died right after one member's rollback: resume ends the rest."""
    api, store, analyzer, engine = rig
    names, _ = make_group(client, 2, bad=set())
    config = group_config(tmp_path, names)
    done, moved = names
    gid = "g.shop.deadbeef"
    steps = config.function(moved).rollout.steps
    alias = client.get_alias(FunctionName=moved, Name="live")
    split = client.update_alias(FunctionName=moved, Name="live", FunctionVersion="1",
                                RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
                                RevisionId=alias["RevisionId"])
    now = time.time()
    store.record_event(gid, log_of("shop"), "group_started",
                       {"members": {n: f"{gid}.{n}" for n in names}})
    store.save(replace(RolloutState.new(f"{gid}.{done}", done, "live", "1", "2", steps, now=now),
                       phase=Phase.ROLLED_BACK, started_at=now, reason="candidate raised"))
    store.save(replace(RolloutState.new(f"{gid}.{moved}", moved, "live", "1", "2", steps, now=now),
                       phase=Phase.PROGRESSING, step_index=1, started_at=now, step_started_at=now,
                       traffic=Traffic("1", "2", 0.1), revision_id=split["RevisionId"]))
    [unfinished] = store.active()
    planned = [deploy.Candidate(moved, "1", "2", steps, resume=unfinished)]
    outcome = deploy.run_waves(engine, config, planned)

    assert outcome.states[moved].phase is Phase.ROLLED_BACK
    assert api.get_alias(moved, "live").traffic == Traffic("1")
    assert "group shop" in outcome.states[moved].reason
    assert analyzer.calls == []  # rolled back before judging anything more
    [entry] = store.events(log_of("shop"))
    assert entry.kind == "group_outcome" and entry.details["outcome"] == "rolled_back"
    assert {fn: m["phase"] for fn, m in entry.details["members"].items()} == {
        done: "rolled_back", moved: "rolled_back"}


def test_an_interrupt_sets_every_member_back_even_one_waiting_at_the_barrier(client, rig, tmp_path):
    """SIGINT (a StopRequest) while member 0 waits at the 50% barrier and the others are in
    their first analysis: no member writes forward, every one is back on stable, interrupted."""
    from lambdashift.rollout.interrupts import StopRequest

    api, store, _, _ = rig
    names, _ = make_group(client, 3, bad=set())
    stop = StopRequest()

    class Analyzer:
        def analyze(self, state, step, now):  # noqa: ANN001, ANN201
            if state.function != names[0]:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # until member 0 waits to write 50%
                    active = store.active(names[0])
                    if active and active[0].intent is not None and active[0].intent.traffic.weight == 0.5:
                        break
                    time.sleep(0.02)
                stop.request("SIGINT")
            return VerdictReceived(Verdict.PROMOTE, ("fine",), now=now)

    def engine() -> RolloutEngine:
        return RolloutEngine(api=api, store=store, clock=time.time, sleep=stop.sleep, owner="test",
                             analyzer=Analyzer(), stop=stop, options=EngineOptions(poll_interval=0.02))
    config = group_config(tmp_path, names)
    planned, _ = deploy.candidates(api, store, config, names, to=None, strategy=None)
    outcome = deploy.run_waves(engine, config, planned, stop=stop)
    for name in names:
        assert api.get_alias(name, "live").traffic == Traffic("1"), name
        assert outcome.states[name].phase is Phase.INTERRUPTED, (name, outcome.states[name].reason)
        writes = [e.details["traffic"] for e in store.events(outcome.states[name].rollout_id)
                  if e.kind == "AliasWritten"]
        assert writes == ["1 (90%) + 2 (10%)", "1 (100%)"], (name, writes)  # never 50%
    refused = [e for e in store.events(outcome.states[names[0]].rollout_id) if e.kind == "AliasWriteFailed"]
    assert refused, "member 0 was not stopped at the barrier"
    assert store.events(log_of("shop"))[-1].details["outcome"] == "interrupted"


def test_no_rollout_starts_once_a_stop_was_asked(client, rig, tmp_path):
    """A stop asked before a wave (a signal while an earlier wave finished): nothing starts."""
    from lambdashift.rollout.interrupts import StopRequest

    api, store, _, engine = rig
    names, _ = make_group(client, 2, bad=set())
    config = group_config(tmp_path, names)
    planned, _ = deploy.candidates(api, store, config, names, to=None, strategy=None)
    stop = StopRequest()
    assert stop.request("SIGTERM") and not stop.request("SIGINT")  # the first one counts
    outcome = deploy.run_waves(engine, config, planned, stop=stop)
    assert sorted(outcome.not_started) == sorted(names) and outcome.states == {}
    assert all(api.get_alias(n, "live").traffic == Traffic("1") for n in names)
    assert all(store.history(n) == [] for n in names)


def test_no_member_of_a_group_gets_traffic_when_one_candidate_fails_before_traffic(client, rig, tmp_path):
    """The candidate gate (issue 17): every member's candidate is invoked before any member's
    first alias write; one that fails stops the whole group with no write at all."""
    from lambdashift.rollout.candidate import REJECTED, CandidateGate

    api, store, analyzer, _ = rig
    names, _ = make_group(client, 6, bad={3})

    def engine() -> RolloutEngine:
        return RolloutEngine(api=api, store=store, clock=time.time, sleep=time.sleep, owner="test",
                             analyzer=analyzer, gate=CandidateGate(api),
                             options=EngineOptions(poll_interval=0.02))
    outcome = run(api, store, group_config(tmp_path, names), engine)
    assert outcome.exit_code == 1
    for name in names:
        state = outcome.states[name]
        assert api.get_alias(name, "live").traffic == Traffic("1") and state.phase is Phase.ROLLED_BACK
        assert not [e for e in store.events(state.rollout_id) if e.kind == "AliasWritten"], name
    bad = outcome.states[names[3]]
    assert bad.reason.startswith("check failed: pre-traffic: candidate version 2 failed")
    assert [e.details["error_type"] for e in store.events(bad.rollout_id) if e.kind == REJECTED] == [
        "RuntimeError"]
    assert all("group shop rolls back together" in outcome.states[n].reason for n in names if n != names[3])


def test_two_drivers_resuming_one_group_at_once_leave_it_to_one(client, rig, tmp_path):
    """Two controller invocations (or a tick and `resume`) that find the same unfinished
    group: one drives every member, the other touches none (each member LockedError). Before
    the group run's own lease, each took some members' leases and failed on the others',
    and a member's failure rolled the healthy group back."""
    import threading

    api, store, analyzer, _ = rig
    names, _ = make_group(client, 4, bad=set())
    config = group_config(tmp_path, names)
    gid = "g.shop.0badcafe"
    steps = config.function(names[0]).rollout.steps
    store.record_event(gid, log_of("shop"), "group_started",
                       {"members": {n: f"{gid}.{n}" for n in names}})
    for n in names:  # queued as deploy --detach leaves them
        store.save(RolloutState.new(f"{gid}.{n}", n, "live", "1", "2", steps, now=time.time()))
    planned = [deploy.Candidate(s.function, "1", "2", steps, resume=s) for s in store.active()]
    start = threading.Barrier(2)
    outcomes = {}

    def driver(owner: str) -> None:
        def engine() -> RolloutEngine:
            return RolloutEngine(api=api, store=store, clock=time.time, sleep=time.sleep,
                                 owner=owner, analyzer=analyzer,
                                 options=EngineOptions(poll_interval=0.02))
        start.wait()
        outcomes[owner] = deploy.run_waves(engine, config, planned)
    threads = [threading.Thread(target=driver, args=(o,)) for o in ("driver-a", "driver-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    drove = [o for o in outcomes.values() if o.states]
    left = [o for o in outcomes.values() if not o.states]
    assert len(drove) == 1 and len(left) == 1, {k: (o.states, o.locked, o.errors)
                                                for k, o in outcomes.items()}
    assert {s.phase for s in drove[0].states.values()} == {Phase.SUCCEEDED}
    assert set(left[0].locked) == set(names) and not left[0].errors
    assert all("another driver has this group run" in why or "rolled out by driver-" in why
               for why in left[0].locked.values()), left[0].locked
    assert all(api.get_alias(n, "live").traffic == Traffic("2") for n in names)
    outcome = [e for e in store.events(log_of("shop")) if e.kind == "group_outcome"]
    assert len(outcome) == 1 and outcome[0].details["outcome"] == "succeeded"
