"""Reads a deploy makes under the 15/s quota: batched, avoided, and never trusted stale."""

from __future__ import annotations

import time

import pytest

from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.config import parse_config
from lambdashift.model import Phase, Traffic
from lambdashift.rollout import deploy
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.store.sqlite import SqliteStateStore
from tests.functional.test_groups import make_group
from tests.functional.test_selection import CountingApi

STEPS = [{"weight": 10}, {"weight": 100}]


@pytest.fixture
def store(tmp_path):
    with SqliteStateStore(tmp_path / "state.db", namespace="local") as s:
        yield s


def config_for(tmp_path, names):  # noqa: ANN001, ANN201
    (tmp_path / "src").mkdir(exist_ok=True)
    return parse_config({"functions": {n: {"source": "src", "handler": "index.handler"}
                                       for n in names},
                         "rollout": {"strategy": "custom", "steps": STEPS,
                                     "analysis": "off"}},  # counts reads, judges nothing
                        file=tmp_path / "lambdashift.yaml")


def engine_for(api, store):  # noqa: ANN001, ANN201
    return lambda: RolloutEngine(api=api, store=store, clock=time.time, sleep=time.sleep,
                                 owner="test", options=EngineOptions(poll_interval=0.01))


def test_fifty_functions_cost_one_listing_one_alias_read_and_their_writes(client, store, tmp_path):
    names, _ = make_group(client, deploy.BATCH_FROM, bad=set())
    api = CountingApi(client, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=2, base=0.0))
    api.calls = {}
    config = config_for(tmp_path, names)
    planned, skipped = deploy.candidates(api, store, config, names, to=None, strategy=None)
    outcome = deploy.run_waves(engine_for(api, store), config, planned)
    assert outcome.exit_code == 0 and not skipped
    n = len(names)
    assert api.calls["GetAlias"] == n  # read once to plan; the rollout starts from that read
    assert api.calls["UpdateAlias"] == 2 * n  # 10%, then 100%: each with the last RevisionId
    assert "ListVersionsByFunction" not in api.calls  # every latest version from one sweep
    # The emulator is shared by the session's tests: the sweep pages through all of them.
    listed = sum(len(page["Functions"]) for page in client.get_paginator("list_functions")
                 .paginate(FunctionVersion="ALL", PaginationConfig={"PageSize": 50}))
    assert api.calls["ListFunctions"] == -(-listed // 50)


def test_a_planning_read_made_stale_by_another_runner_is_not_trusted(client, store, tmp_path):
    names, _ = make_group(client, 1, bad=set())
    [name] = names
    api = LambdaApi(client, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=2, base=0.0))
    stale = api.get_alias(name, "live")  # runner B plans...
    steps = config_for(tmp_path, names).function(name).rollout.steps
    done = engine_for(api, store)().start(name, "live", "2", steps)  # ...runner A rolls out
    assert done.phase is Phase.SUCCEEDED
    # B gets the lock afterwards: it finds A's rollout instead of failing on a stale revision.
    again = engine_for(api, store)().start(name, "live", "2", steps, current=stale)
    assert again.rollout_id == done.rollout_id and again.phase is Phase.SUCCEEDED
    assert api.get_alias(name, "live").traffic == Traffic("2")
    assert len(store.history(name)) == 1
