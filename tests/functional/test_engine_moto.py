"""The rollout engine on the AWS code path, against moto's Lambda, with a simulated clock.

The same LambdaApi, store and engine as against AWS; moto answers the Lambda API (an
implementation independent of ours). The clock and sleep are simulated, so a 30-minute
CodeDeploy-preset rollout runs in well under a second of machine time.
"""

from __future__ import annotations

import boto3
from botocore.config import Config

from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.core.strategy import steps_for
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.store.sqlite import SqliteStateStore
from tests.functional.test_lambda_api_moto import create, role  # noqa: F401 - the fixture


class SimulatedClock:
    """Time that passes only when the engine sleeps."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_a_30_minute_linear_preset_runs_on_moto_with_a_simulated_clock(role, tmp_path):  # noqa: F811
    client = boto3.client("lambda", region_name="us-east-1",
                          config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    api = LambdaApi(client, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=2, base=0.0))
    create(api, role, "orders", publish=True)
    api.update_configuration("orders", timeout=9, expected_revision=None)
    v2 = api.publish_version("orders", code_sha256=None, expected_revision=None)
    api.create_alias("orders", "live", "1")
    clock = SimulatedClock()
    store = SqliteStateStore(tmp_path / "state.db", namespace="aws:us-east-1", clock=clock.time)
    seen: list[str] = []
    engine = RolloutEngine(api=api, store=store, clock=clock.time, sleep=clock.sleep, owner="test",
                           notify=lambda state, note: seen.append(note.event),
                           options=EngineOptions(poll_interval=30.0))
    steps = steps_for({"strategy": "LambdaLinear10PercentEvery3Minutes"})
    final = engine.start("orders", "live", v2, steps)
    assert final.phase is Phase.SUCCEEDED
    assert api.get_alias("orders", "live").traffic == Traffic(v2)
    assert clock.slept >= 27 * 60  # nine 3-minute pauses, simulated
    assert seen.count("traffic") == 9 and seen[-1] == "succeeded"
    writes = [e for e in store.events(final.rollout_id) if e.kind == "AliasWritten"]
    assert len(writes) == 10
