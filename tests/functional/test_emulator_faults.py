"""Injected faults (emulator/faults.py): the rollout engine ends where it would without them.

Two emulators run the same 50 rollouts of mixed strategies (custom, linear, canary,
blue-green, and rollouts a judge rolls back): one clean, one answering 20% of its
control-plane calls with a fault (429, 500, 503, slow, a dropped connection, or a 500 /
dropped connection *after* the call was made). Publishing the versions goes through the
same faults. Every function must end on the same alias state in both, none split; the
faults injected and the retries made are counted and printed.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lambdashift.aws.clients import make_client
from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.core.machine import VerdictReceived
from lambdashift.core.strategy import steps_for
from lambdashift.emulator.faults import parse_spec
from lambdashift.emulator.server import EmulatorProcess, start_process
from lambdashift.model import AnalysisStep, Phase, Verdict, WeightStep
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.store.sqlite import SqliteStateStore
from tests.e2e.conftest import cli as run_cli
from tests.conftest import ECHO_HANDLER, NO_STATE_DELAY, ROLE, lambda_client, make_zip
from tests.reliability_log import record

FUNCTIONS = 10
ROUNDS = 5  # 10 functions x 5 rounds = 50 rollouts
FAULTS = "control=0.2,seed=1313,delay=0.05"

#: The strategies, cycled over the rollouts; "judged-rollback" is rolled back by its judge.
STRATEGIES = {
    "custom": steps_for({"strategy": "custom", "steps": [
        {"weight": 10}, {"pause": "0.01s"}, {"weight": 50}, {"pause": "0.01s"}, {"weight": 100}]}),
    "linear": steps_for({"strategy": "linear", "increments": 4, "pause": "0.01s"}),
    "canary": steps_for({"strategy": "canary", "weight": 20, "pause": "0.01s"}),
    "blue-green": steps_for({"strategy": "blue-green"}),
    "judged-rollback": (WeightStep(0.25), AnalysisStep(params={"plan": "rollback"}, interval=0.01),
                        WeightStep(1.0)),
}


class PlannedJudge:
    """A judge that answers what the step's params plan (the faults are the subject here)."""

    def analyze(self, state, step, now):  # noqa: ANN001, ANN201
        verdict = Verdict.ROLLBACK if step.params.get("plan") == "rollback" else Verdict.PROMOTE
        return VerdictReceived(verdict, ("planned",), now=now)


class CountingSleep:
    """The retry policy's sleep: every call is one retry."""

    def __init__(self) -> None:
        self.retries = 0
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.retries += 1
        time.sleep(seconds)


def faults_report(endpoint: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint}/_lambdashift/faults", data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def run_rollouts(emulator: EmulatorProcess, store_path: Path, faults: str | None) -> tuple[list, dict, int]:
    """Create the functions, then 50 rollouts in rounds (a round's 10 in parallel threads).

    Returns (per rollout: strategy, phase, final alias traffic), the fault counts, retries.
    """
    setup = lambda_client(emulator.endpoint)
    for i in range(FUNCTIONS):
        setup.create_function(FunctionName=f"f{i}", Runtime="python3.12", Role=ROLE,
                              Handler="index.handler", Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})},
                              Publish=True)
        setup.create_alias(FunctionName=f"f{i}", Name="live", FunctionVersion="1")
    if faults:
        faults_report(emulator.endpoint, "PUT", parse_spec(faults).to_json())
    sleep = CountingSleep()
    api = LambdaApi(make_client("lambda", endpoint_url=emulator.endpoint, local=True, max_pool=20),
                    limiter=NO_LIMIT,
                    retry=RetryPolicy(max_attempts=10, base=0.01, cap=0.1, sleep=sleep, rng=random.Random(7)))
    store = SqliteStateStore(store_path, namespace="local")
    names = itertools.cycle(STRATEGIES)
    outcomes = []

    def one(i: int, round_no: int, strategy: str) -> tuple:
        fn = f"f{i}"
        api.update_configuration(fn, environment={"ROUND": str(round_no)}, expected_revision=None)
        api.wait_updated(fn, interval=0.01)
        candidate = api.publish_version(fn, code_sha256=None, expected_revision=None)
        engine = RolloutEngine(api=api, store=store, clock=time.time, sleep=time.sleep, owner=f"t-{i}",
                               analyzer=PlannedJudge(),
                               options=EngineOptions(poll_interval=0.01, lease_seconds=60))
        final = engine.start(fn, "live", candidate, STRATEGIES[strategy])
        return strategy, final.phase.value, str(api.get_alias(fn, "live").traffic)

    with ThreadPoolExecutor(max_workers=FUNCTIONS) as pool:
        for round_no in range(ROUNDS):
            plan = [(i, round_no, next(names)) for i in range(FUNCTIONS)]
            outcomes += list(pool.map(lambda args: one(*args), plan))
    # Off before anyone else reads (the report keeps the counts).
    counts = faults_report(emulator.endpoint, "DELETE") if faults else {"injected_total": 0, "injected": {}}
    return outcomes, counts, sleep.retries


@pytest.fixture
def two_emulators(tmp_path):
    clean = start_process(tmp_path / "clean", extra_args=NO_STATE_DELAY)
    faulty = start_process(tmp_path / "faulty", extra_args=NO_STATE_DELAY)
    yield clean, faulty
    clean.stop()
    faulty.stop()


def test_rollouts_under_20_percent_control_plane_faults_end_as_without_them(two_emulators, tmp_path):
    clean, faulty = two_emulators
    expected, _, clean_retries = run_rollouts(clean, tmp_path / "clean.db", None)
    got, counts, retries = run_rollouts(faulty, tmp_path / "faulty.db", FAULTS)
    lam = lambda_client(faulty.endpoint)
    split = [f"f{i}" for i in range(FUNCTIONS)
             if lam.get_alias(FunctionName=f"f{i}", Name="live").get("RoutingConfig", {})
             .get("AdditionalVersionWeights")]
    different = [(n, e, g) for n, (e, g) in enumerate(zip(expected, got)) if e != g]
    injected = counts["injected_total"]
    print(f"\nfaults: {len(got)} rollouts of {len(STRATEGIES)} strategies; "
          f"{injected} faults injected in {counts['seen'].get('control', 0)} control-plane calls "
          f"{dict(sorted(counts['injected'].items()))}; {retries} retries made; "
          f"{len(different)} rollouts ended differently; {len(split)} aliases left split")
    record("faults", f"20% of control-plane calls faulted ({FAULTS}); 50 rollouts of "
           f"{'/'.join(STRATEGIES)}", injected,
           f"{retries} retries; {len(different)} inconsistent outcomes; {len(split)} aliases split",
           len(different) + len(split))
    assert clean_retries == 0
    assert [o[1] for o in expected].count(Phase.ROLLED_BACK.value) == ROUNDS * FUNCTIONS // len(STRATEGIES)
    assert {k.split(":")[1] for k in counts["injected"]} >= {"throttle", "error", "drop", "drop_after"}
    # Every fault but "slow" fails an attempt, and each failed attempt is retried once.
    assert injected >= 50 and retries >= injected - counts["injected"].get("control:slow", 0)
    assert different == [] and split == []


def test_invocation_faults_answer_as_a_failed_or_slow_function(tmp_path):
    # Set at start through the environment, as `LAMBDASHIFT_FAULTS=... lambdashift local up` does.
    emulator = start_process(tmp_path / "data", env={"LAMBDASHIFT_FAULTS": "invoke=1,invoke_kinds=error"},
                             extra_args=["--gateway-routes", json.dumps({"GET /x": "f"}),
                                         *NO_STATE_DELAY])
    try:
        lam = lambda_client(emulator.endpoint)
        lam.create_function(FunctionName="f", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})}, Publish=True)
        # The gateway's 500 below must be the fault's, not a refused invocation's.
        lam.create_alias(FunctionName="f", Name="live", FunctionVersion="1")
        lam.add_permission(FunctionName="f", Qualifier="live", StatementId="http-api",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
        answers = [lam.invoke(FunctionName="f", Payload=b"{}") for _ in range(5)]
        assert {a.get("FunctionError") for a in answers} == {"Unhandled"}
        through_gateway = urllib.request.Request(f"{emulator.gateway}/x")
        with pytest.raises(urllib.error.HTTPError) as err:  # API Gateway's answer to a failed function
            urllib.request.urlopen(through_gateway, timeout=10)
        assert err.value.code == 500 and json.load(err.value) == {"message": "Internal Server Error"}
        faults_report(emulator.endpoint, "PUT", {"invoke": 1, "invoke_kinds": ["slow"], "delay": 0.01})
        assert "FunctionError" not in lam.invoke(FunctionName="f", Payload=b"{}")
        report = faults_report(emulator.endpoint, "DELETE")
        assert report["active"] is False and report["injected"] == {"invoke:slow": 1}
        record("faults", "invocations faulted (function error through Invoke and the HTTP API, slow)",
               7, "5 Invoke answered as Unhandled function errors, 1 gateway 500, 1 slow then served", 0)
    finally:
        emulator.stop()


def test_the_admin_endpoint_refuses_a_bad_spec_with_an_aws_style_400(emulator):
    request = urllib.request.Request(f"{emulator.endpoint}/_lambdashift/faults",
                                     data=b'{"control": 2}', method="PUT")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400
    assert err.value.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert faults_report(emulator.endpoint)["active"] is False  # off by default


@pytest.mark.parametrize("spec, message", [
    ("control=2", "control must be a share from 0 to 1"),
    ("control_kinds=throttle+boom", "control_kinds must be some of"),
    ("rate=0.1", "unknown key 'rate'"),
    ("control", "expected key=value"),
])
def test_a_bad_faults_flag_exits_2_with_one_line(spec, message):
    out = run_cli("emulator", "--port", "0", "--faults", spec)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
