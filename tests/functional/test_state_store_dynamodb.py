"""The state store contract, run against ``DynamoStateStore`` on the local stack's DynamoDB.

Every test of tests/unit/test_state_store.py that needs only a store and a clock runs here
again, unchanged, on a fresh table of a real endpoint (a child process on loopback): the
team store must behave exactly like the SQLite one. What only DynamoDB has (the table's
existence, its errors) is tested below them.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdashift.dynamodb.server import DynamoProcess, start_process
from lambdashift.errors import LambdashiftError
from lambdashift.store.dynamodb import DynamoStateStore
from lambdashift.store.protocol import StateStore
from tests.unit import test_state_store as contract
from tests.unit.test_state_store import FakeClock

# The contract: every store-and-clock test of the SQLite suite, collected here as well.
for _name, _test in vars(contract).items():
    if _name.startswith("test_") and callable(_test):
        if set(inspect.signature(_test).parameters) <= {"store", "clock", "seconds"}:
            globals()[_name] = _test


@pytest.fixture(scope="module")
def server() -> Iterator[DynamoProcess]:
    proc = start_process(None)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(server: DynamoProcess) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=20),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(client: Any, clock: FakeClock) -> Iterator[DynamoStateStore]:
    with DynamoStateStore(client, f"state-{uuid.uuid4().hex[:8]}", namespace="local",
                          clock=clock, create=True) as s:
        yield s


def test_the_contract_is_collected_here():
    names = [n for n in globals() if n.startswith("test_") and n != "test_the_contract_is_collected_here"]
    assert len(names) >= 30


def test_the_dynamodb_store_satisfies_the_protocol(store):
    assert isinstance(store, StateStore)


def test_a_missing_table_is_a_clear_error_unless_asked_to_create_it(client):
    with pytest.raises(LambdashiftError, match="state table nope-.* does not exist.*Terraform"):
        DynamoStateStore(client, f"nope-{uuid.uuid4().hex[:6]}", namespace="local")


def test_two_namespaces_sharing_a_table_never_see_each_other(client, clock):
    table = f"state-{uuid.uuid4().hex[:8]}"
    local = DynamoStateStore(client, table, namespace="local", clock=clock, create=True)
    aws = DynamoStateStore(client, table, namespace="aws:us-east-1", clock=clock)
    local.save(contract.rollout("r-1", phase=contract.Phase.PROGRESSING))
    local.acquire("notes-get", "alice@host pid 1")
    assert aws.active() == [] and aws.load("r-1") is None and aws.holder("notes-get") is None
    aws.acquire("notes-get", "bob@host pid 2")  # a lock per namespace


def test_an_unreachable_endpoint_is_one_readable_error():
    dead = boto3.client("dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                        aws_access_key_id="t", aws_secret_access_key="t",
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1))
    with pytest.raises(LambdashiftError, match="cannot be reached"):
        DynamoStateStore(dead, "state", namespace="local")


# --- the AWS edge the store goes through (aws/dynamodb_table.py) ----------------------------


def test_a_refused_condition_is_condition_failed_and_any_other_error_names_the_table(client):
    """ConditionalCheckFailedException is how two writers learn who won: a ConditionFailedError
    the store catches. Anything else is the one line a user reads, naming table and action."""
    from lambdashift.aws.dynamodb_table import DynamoTable, s
    from lambdashift.errors import ConditionFailedError

    table = DynamoTable(client, f"edge-{uuid.uuid4().hex[:8]}", label="state table")
    assert not table.exists("opening")
    schema = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "sk", "KeyType": "RANGE"}],
              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                       {"AttributeName": "sk", "AttributeType": "S"}],
              "BillingMode": "PAY_PER_REQUEST"}
    table.create("creating", **schema)
    table.create("creating again", **schema)  # another process was first: ResourceInUse, fine
    assert table.exists("opening")
    key = {"pk": s("a"), "sk": s("-")}
    table.put(key, "writing", ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ConditionFailedError):
        table.put(key, "writing again", ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(LambdashiftError, match=r"^state table nope: ResourceNotFoundException: "
                                               r".* \(while reading a lock\)$") as caught:
        DynamoTable(client, "nope", label="state table").get(key, "reading a lock")
    assert not isinstance(caught.value, ConditionFailedError)
