"""One control-plane quota for two processes sharing a state store (the rate ledger).

Two real processes, each with its own store object and Lambda client, call the emulator
(quota 5/s, AWS's 429 above it) with retries off, so that any throttled call surfaces.
Paced by the DynamoDB store's ledger they stay under the quota together; each paced by a
limiter of its own (the 15/s-per-process mistake) they exceed it.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import RateLimiter, RetryPolicy
from lambdashift.dynamodb.server import DynamoProcess
from lambdashift.dynamodb.server import start_process as start_dynamodb
from lambdashift.emulator.server import start_process as start_emulator
from lambdashift.errors import ThrottledError
from lambdashift.store.dynamodb import DynamoStateStore
from lambdashift.store.ledger import LedgerLimiter
from tests.conftest import ECHO_HANDLER, ROLE, make_zip
from tests.functional.test_lambda_api import no_retry_client

SPAWN = multiprocessing.get_context("spawn")
RATE, CALLS = 5.0, 12


def dynamodb_client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}))


def caller(lambda_endpoint: str, dynamodb_endpoint: str, table: str, barrier: Any,
           out: Any) -> None:
    """CALLS control-plane calls paced by the shared ledger, then CALLS paced alone."""
    store = DynamoStateStore(dynamodb_client(dynamodb_endpoint), table, namespace="local")
    client = no_retry_client(lambda_endpoint)
    for limiter in (LedgerLimiter(store, rate=RATE, burst=1), RateLimiter(rate=RATE, burst=1)):
        api = LambdaApi(client, limiter=limiter, retry=RetryPolicy(max_attempts=1))
        barrier.wait(timeout=60)
        throttled = 0
        for _ in range(CALLS):
            try:
                api.function_configuration("ledger-paced")
            except ThrottledError:
                throttled += 1
        out.put((type(limiter).__name__, throttled))
        barrier.wait(timeout=60)
        time.sleep(1.0)  # the emulator's bucket refills before the next round


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory) -> Iterator[tuple[str, str]]:
    emulator = start_emulator(tmp_path_factory.mktemp("ledger") / "data",
                              extra_args=["--control-plane-rate", f"{RATE:g}"])
    dynamodb: DynamoProcess = start_dynamodb(None)
    try:
        no_retry_client(emulator.endpoint).create_function(
            FunctionName="ledger-paced", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})})
        yield emulator.endpoint, dynamodb.endpoint
    finally:
        dynamodb.stop()
        emulator.stop()


def test_two_processes_on_one_store_share_one_quota_and_alone_exceed_it(endpoints):
    lambda_endpoint, dynamodb_endpoint = endpoints
    table = f"ledger-{uuid.uuid4().hex[:8]}"
    DynamoStateStore(dynamodb_client(dynamodb_endpoint), table, namespace="local", create=True)
    barrier, out = SPAWN.Barrier(2), SPAWN.Queue()
    procs = [SPAWN.Process(target=caller, args=(lambda_endpoint, dynamodb_endpoint, table,
                                                barrier, out), daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(4)]
    for p in procs:
        p.join(timeout=30)
    throttled: dict[str, int] = {}
    for kind, count in results:
        throttled[kind] = throttled.get(kind, 0) + count
    assert throttled["LedgerLimiter"] == 0  # together within the quota
    assert throttled["RateLimiter"] > 0  # each at the full rate: twice the quota
