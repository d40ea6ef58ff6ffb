"""EmulatorMetrics against a real emulator: counts per executed version behind a weighted alias."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdashift.core.machine import RolloutState
from lambdashift.errors import AwsError, NotFoundError
from lambdashift.local.metrics import EmulatorMetrics
from lambdashift.model import AnalysisStep, Phase, Verdict, WeightStep
from lambdashift.rollout.analysis import JudgeAnalyzer
from tests.conftest import publish_release

FAILING_HANDLER = """
import os

def handler(event, context):
    if event.get("fail") is True or event.get("fail") == os.environ.get("RELEASE"):
        raise RuntimeError("asked to fail")
    return {"ok": True}
"""


@pytest.fixture
def canary(client, make_function, fn_name) -> str:
    """Versions 1 and 2 of a handler that fails on demand; ``live`` sends half to 2."""
    make_function({"index.py": FAILING_HANDLER}, publish=True)
    publish_release(client, fn_name, "v2")
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    return fn_name


def invoke(client, fn: str, qualifier: str, fail: bool | str) -> tuple[str, bool]:
    out = client.invoke(FunctionName=fn, Qualifier=qualifier,
                        Payload=json.dumps({"fail": fail}).encode())
    out["Payload"].read()
    return out["ExecutedVersion"], "FunctionError" in out


def test_counts_errors_and_cold_starts_per_executed_version(client, emulator, canary):
    since = time.time()
    seen: Counter[tuple[str, bool]] = Counter()
    for i in range(40):
        seen[invoke(client, canary, "live", fail=i % 4 == 0)] += 1
    invoke(client, canary, "2", fail=True)  # the version directly, not through the alias
    until = time.time() + 1
    source = EmulatorMetrics(emulator.endpoint)
    try:
        for version in ("1", "2"):
            stats = source.version_stats(canary, "live", version, since, until)
            ran = seen[(version, False)] + seen[(version, True)]
            assert stats.version == version
            errors = seen[(version, True)]
            assert (stats.invocations, stats.errors, stats.throttles) == (ran, errors, 0)
            assert stats.cold_starts >= 1, "the first invocation of each version is cold"
            assert stats.latency is not None and stats.warm == ran - stats.cold_starts
            assert source.invocations(canary, "live", version, since, until) == ran
        assert sum(seen.values()) == 40 and {v for v, _ in seen} == {"1", "2"}
    finally:
        source.close()


def test_throttled_invocations_count_as_throttles_only(client, emulator, canary):
    once = boto3.client(  # one attempt per call, so that each call is one throttle
        "lambda", endpoint_url=emulator.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    since = time.time()
    invoke(client, canary, "live", fail=False)
    client.put_function_concurrency(FunctionName=canary, ReservedConcurrentExecutions=0)
    try:
        for _ in range(6):
            with pytest.raises(ClientError) as exc:
                invoke(once, canary, "live", fail=False)
            assert exc.value.response["Error"]["Code"] == "TooManyRequestsException"
    finally:
        client.delete_function_concurrency(FunctionName=canary)
    until = time.time() + 1
    source = EmulatorMetrics(emulator.endpoint)
    both = [source.version_stats(canary, "live", v, since, until) for v in ("1", "2")]
    assert sum(s.throttles for s in both) == 6
    assert sum(s.invocations for s in both) == 1 and sum(s.warm + s.cold_starts for s in both) == 1
    assert sum(source.invocations(canary, "live", v, since, until) for v in ("1", "2")) == 1
    source.close()


def test_the_window_leaves_out_earlier_invocations(client, emulator, canary):
    for _ in range(5):
        invoke(client, canary, "live", fail=True)
    since = time.time() + 0.01
    time.sleep(0.05)
    invoke(client, canary, "live", fail=False)
    source = EmulatorMetrics(emulator.endpoint)
    both = [source.version_stats(canary, "live", v, since, time.time() + 1) for v in ("1", "2")]
    assert sum(s.invocations for s in both) == 1 and sum(s.errors for s in both) == 0
    source.close()


def test_an_unknown_function_is_not_found(emulator):
    source = EmulatorMetrics(emulator.endpoint)
    with pytest.raises(NotFoundError, match="no-such-fn"):
        source.version_stats("no-such-fn", "live", "1", 0, time.time())
    source.close()


def test_an_emulator_that_is_not_running_is_an_aws_error():
    source = EmulatorMetrics("http://127.0.0.1:9", timeout=2)
    with pytest.raises(AwsError, match="emulator metrics at http://127.0.0.1:9"):
        source.invocations("fn", "live", "1", 0, time.time())
    source.close()


def test_the_judge_over_the_emulator_rolls_back_a_failing_candidate(client, emulator, canary):
    """End to end: real invocations, the records endpoint, the judge's verdict."""
    step = AnalysisStep({"min_duration": "1s"})
    state = dataclasses.replace(
        RolloutState.new("r-e2e", canary, "live", "1", "2",
                         (WeightStep(0.5), step, WeightStep(1.0)), now=time.time()),
        phase=Phase.PROGRESSING, step_index=1, step_started_at=time.time())
    for _ in range(60):
        invoke(client, canary, "live", fail="v2")  # only release v2 (version 2) fails
    source = EmulatorMetrics(emulator.endpoint)
    event = JudgeAnalyzer(source).analyze(state, step, time.time() + 0.5)
    source.close()
    assert event.verdict is Verdict.ROLLBACK, event.reasons
    assert "v2 errors 100%" in event.reasons[0] and "vs v1 0% (0/" in event.reasons[0]


def test_the_concurrency_limit_the_emulator_runs_a_function_under(client, emulator, canary):
    """What the pre-warm leaves room under on the local stack: the emulator's own per-function
    limit (10 unless started otherwise), or the reserved concurrency once set."""
    source = EmulatorMetrics(emulator.endpoint)
    try:
        assert source.concurrency_limit(canary) is None  # never run: nothing to say yet
        invoke(client, canary, "live", fail=False)
        assert source.concurrency_limit(canary) == 10
        client.put_function_concurrency(FunctionName=canary, ReservedConcurrentExecutions=4)
        invoke(client, canary, "live", fail=False)
        assert source.concurrency_limit(canary) == 4
    finally:
        source.close()
