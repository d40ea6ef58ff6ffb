"""``prune`` on the emulator: old versions go, referenced ones never do."""

from __future__ import annotations

import pytest

from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.core.state import RolloutState
from lambdashift.errors import LockedError
from lambdashift.model import WeightStep
from lambdashift.rollout.prune import plan, prune
from lambdashift.store.sqlite import SqliteStateStore
from tests.conftest import publish_release


@pytest.fixture
def rig(client, make_function, tmp_path):
    name = make_function(publish=True)  # version 1
    for n in range(2, 9):
        publish_release(client, name, f"v{n}")  # versions 2..8
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="4",
                        RoutingConfig={"AdditionalVersionWeights": {"5": 0.1}})
    client.create_alias(FunctionName=name, Name="dev", FunctionVersion="8")
    api = LambdaApi(client, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=2, base=0.0))
    store = SqliteStateStore(tmp_path / "state.db", namespace="local")
    # An unfinished rollout from 2 to 3 (as if its process had died).
    store.save(RolloutState.new("r-1", name, "canary", "2", "3", (WeightStep(1.0),), now=1.0))
    yield name, api, store
    store.close()


def test_prune_deletes_only_versions_nothing_references(client, rig):
    name, api, store = rig
    dry = prune(api, store, name, 2, owner="me", dry_run=True)
    assert dry.delete == ["1", "6"]
    assert api.versions(name) == [str(n) for n in range(1, 9)]  # the dry run deleted nothing
    assert dry.keep["4"] == ["alias live"] and dry.keep["5"] == ["alias live"]
    assert dry.keep["8"] == ["alias dev", "one of the 2 newest"]
    assert "unfinished rollout r-1" in dry.keep["2"] and "unfinished rollout r-1" in dry.keep["3"]

    done = prune(api, store, name, 2, owner="me")
    assert done.deleted == ["1", "6"] and not done.errors
    assert api.versions(name) == ["2", "3", "4", "5", "7", "8"]
    assert prune(api, store, name, 2, owner="me").deleted == []  # nothing left to prune


def test_the_last_n_rollouts_keep_their_versions(client, rig):
    name, api, store = rig
    finished = RolloutState.new("r-0", name, "live", "6", "7", (WeightStep(1.0),), now=0.5)
    store.save(finished)  # started after r-1, so the newest rollout
    assert "6" not in plan(api, store, name, 1).delete


def test_prune_waits_for_no_one_while_a_rollout_holds_the_lock(rig):
    name, api, store = rig
    store.acquire(name, "someone@elsewhere pid 1")
    with pytest.raises(LockedError, match="being rolled out by someone@elsewhere"):
        prune(api, store, name, 1, owner="me")
    assert len(api.versions(name)) == 8
