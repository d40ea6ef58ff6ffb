"""Fuzzing the request bodies of the emulator's Lambda API and of the DynamoDB endpoint.

hypothesis builds bodies from each operation's own parameter names with values of every
shape (strings, numbers, nulls, lists, nested objects, huge and negative numbers, odd
expressions), plus bodies that are not JSON at all, and sends them over real HTTP to the
real servers. Every answer must be a success or an AWS-style 4xx (an error type and a
message), never a 5xx; the server must answer its health check afterwards. Derandomized
and bounded; the counts go to RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdashift.dynamodb.server import start_process as start_dynamodb
from tests.conftest import ECHO_HANDLER, ROLE, make_zip
from tests.reliability_log import record

#: LAMBDASHIFT_FUZZ_EXAMPLES=N runs N per case instead, for a deeper search by hand.
EXAMPLES = int(os.environ.get("LAMBDASHIFT_FUZZ_EXAMPLES", "60"))  # per operation group

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["", "fz", "fz:live", "live", "1", "$LATEST", "python3.12", "index.handler",
                     ROLE, "0.5", "-1", "1e400", "S", "N", "B", "HASH", "RANGE", "notes", "#a",
                     ":v", "a = :v", "SET a = :v", "attribute_exists(id)", "id = :v", "ALL_NEW",
                     "PAY_PER_REQUEST", "size(a) > :v", "begins_with(a, :v)", "a.b[0]", "a[99999999999]"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10) | st.sampled_from(
        ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "id", ":v", "#a"]), inner,
        max_size=4)), max_leaves=15)


def body_of(keys: list[str]) -> st.SearchStrategy[dict]:
    """A JSON object with some of the operation's own parameters, and maybe a stray one."""
    return st.fixed_dictionaries({}, optional={**{k: json_values for k in keys}, "Bogus": json_values})


not_json = st.binary(max_size=40) | st.sampled_from([b"", b"{", b"[]", b"null", b"\xff\xfe", b'"x"',
                                                     b"{" * 5000, b'{"a": 1e999}'])

LAMBDA_OPERATIONS = [
    ("POST", "/2015-03-31/functions", ["FunctionName", "Runtime", "Role", "Handler", "Code",
                                       "Timeout", "MemorySize", "Environment", "Publish", "Tags",
                                       "Description", "Architectures"]),
    ("PUT", "/2015-03-31/functions/fz/configuration", ["Handler", "Runtime", "Timeout", "MemorySize",
                                                       "Environment", "RevisionId", "Description"]),
    ("PUT", "/2015-03-31/functions/fz/code", ["ZipFile", "RevisionId", "Publish", "S3Bucket"]),
    ("POST", "/2015-03-31/functions/fz/versions", ["CodeSha256", "RevisionId", "Description"]),
    ("POST", "/2015-03-31/functions/fz/aliases", ["Name", "FunctionVersion", "RoutingConfig",
                                                  "Description"]),
    ("PUT", "/2015-03-31/functions/fz/aliases/live", ["FunctionVersion", "RoutingConfig",
                                                      "RevisionId", "Description"]),
    ("PUT", "/2017-10-31/functions/fz/concurrency", ["ReservedConcurrentExecutions"]),
    ("POST", "/2015-03-31/functions/fz/invocations", ["key", "statusCode", "body"]),
]
DYNAMODB_OPERATIONS = {
    "CreateTable": ["TableName", "AttributeDefinitions", "KeySchema", "BillingMode",
                    "GlobalSecondaryIndexes", "ProvisionedThroughput"],
    "PutItem": ["TableName", "Item", "ConditionExpression", "ExpressionAttributeNames",
                "ExpressionAttributeValues", "ReturnValues"],
    "GetItem": ["TableName", "Key", "ConsistentRead", "ProjectionExpression", "ExpressionAttributeNames"],
    "UpdateItem": ["TableName", "Key", "UpdateExpression", "ConditionExpression",
                   "ExpressionAttributeNames", "ExpressionAttributeValues", "ReturnValues"],
    "DeleteItem": ["TableName", "Key", "ConditionExpression", "ExpressionAttributeValues"],
    "Query": ["TableName", "IndexName", "KeyConditionExpression", "FilterExpression",
              "ExpressionAttributeValues", "ExpressionAttributeNames", "Limit", "ExclusiveStartKey",
              "ScanIndexForward"],
    "Scan": ["TableName", "Limit", "ExclusiveStartKey", "FilterExpression", "Segment", "TotalSegments"],
    "TransactWriteItems": ["TransactItems", "ClientRequestToken"],
    "BatchWriteItem": ["RequestItems"],
    "BatchGetItem": ["RequestItems"],
    "DescribeTable": ["TableName"],
    "DeleteTable": ["TableName"],
}

COUNTS: Counter[str] = Counter()


def _tally(server: str, response: httpx.Response, error_header: str) -> None:
    COUNTS[f"{server}:requests"] += 1
    COUNTS[f"{server}:{response.status_code // 100}xx"] += 1
    if response.status_code >= 500:
        COUNTS[f"{server}:bad"] += 1
    elif response.status_code >= 400:
        body = response.json()
        kind = response.headers.get(error_header) or body.get("__type")
        if not kind or not (body.get("Message") or body.get("message")):
            COUNTS[f"{server}:bad"] += 1


@pytest.fixture(scope="module", autouse=True)
def _record():
    yield
    for server, what in (("lambda", "the emulator's Lambda API (8 write operations and Invoke)"),
                         ("dynamodb", f"the DynamoDB endpoint ({len(DYNAMODB_OPERATIONS)} operations)")):
        record(f"fuzz: {server} request bodies", f"hypothesis: bodies from {what}'s parameter names "
               "with values of every shape, and bodies that are not JSON", COUNTS[f"{server}:requests"],
               f"{COUNTS[f'{server}:4xx']} AWS-style 4xx, {COUNTS[f'{server}:2xx']} accepted; 5xx or "
               f"errors without type and message: {COUNTS[f'{server}:bad']}; server up after",
               COUNTS[f"{server}:bad"])


# --- the emulator ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lam(emulator, client) -> Iterator[httpx.Client]:
    client.create_function(FunctionName="fz", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})}, Publish=True)
    client.create_alias(FunctionName="fz", Name="live", FunctionVersion="1")
    with httpx.Client(base_url=emulator.endpoint, timeout=30) as http:
        yield http
    assert http.is_closed
    assert httpx.get(emulator.endpoint + "/_lambdashift/health").json()["status"] == "ok"


def _lambda_check(lam: httpx.Client, method: str, path: str, content: bytes) -> None:
    response = lam.request(method, path, content=content, headers={"content-type": "application/json"})
    _tally("lambda", response, "x-amzn-ErrorType")
    assert response.status_code < 500, (method, path, content[:300], response.text[:300])
    if response.status_code >= 400:
        assert response.headers.get("x-amzn-ErrorType") and response.json().get("Message"), response.text


@pytest.mark.parametrize("method, path, keys", LAMBDA_OPERATIONS, ids=[f"{m} {p}" for m, p, _ in LAMBDA_OPERATIONS])
def test_lambda_api_bodies_of_any_shape_are_aws_4xx_never_5xx(lam, method, path, keys):
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=body_of(keys).map(lambda b: json.dumps(b).encode()) | not_json)
    def run(body: bytes) -> None:
        _lambda_check(lam, method, path, body)

    run()
    assert lam.get("/_lambdashift/health").json()["status"] == "ok"


# --- the DynamoDB endpoint ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ddb(tmp_path_factory) -> Iterator[httpx.Client]:
    server = start_dynamodb(tmp_path_factory.mktemp("fuzzddb") / "data")
    try:
        with httpx.Client(base_url=server.endpoint, timeout=30) as http:
            _dynamodb(http, "CreateTable", json.dumps({
                "TableName": "notes", "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}).encode())
            yield http
            assert http.post("/", headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"},
                             content=b"{}").status_code == 200
    finally:
        server.stop()


def _dynamodb(http: httpx.Client, operation: str, content: bytes) -> httpx.Response:
    return http.post("/", content=content, headers={
        "X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0"})


@pytest.mark.parametrize("operation", list(DYNAMODB_OPERATIONS))
def test_dynamodb_bodies_of_any_shape_are_aws_4xx_never_5xx(ddb, operation):
    keys = DYNAMODB_OPERATIONS[operation]

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=body_of(keys).map(lambda b: {**b, "TableName": b.get("TableName", "notes")})
           .map(lambda b: json.dumps(b).encode()) | not_json)
    def run(body: bytes) -> None:
        response = _dynamodb(ddb, operation, body)
        _tally("dynamodb", response, "x-amzn-ErrorType")
        assert response.status_code < 500, (operation, body[:300], response.text[:300])
        if response.status_code >= 400:
            assert response.json().get("__type") and (
                response.json().get("message") or response.json().get("Message")), response.text

    run()
    assert _dynamodb(ddb, "ListTables", b"{}").status_code == 200
