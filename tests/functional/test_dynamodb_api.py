"""lambdashift's DynamoDB where moto cannot be the reference: AWS's documented behaviour.

The wire protocol itself, paging (``LastEvaluatedKey`` at an exact ``Limit``, the 1 MB
page), canonical numbers, the validation moto skips, LSIs, index projections, numeric and
binary sort keys, parallel scans.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdashift.dynamodb.server import DynamoProcess, start_process
from tests.functional.test_notes_handlers import CONFIG

NOTES_TABLE = CONFIG["tables"]["notes"]


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
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )


@pytest.fixture
def notes(client: Any) -> str:
    """A fresh notes table (lambdashift.yaml's definition); its name."""
    name = f"notes-{uuid.uuid4().hex[:10]}"
    client.create_table(TableName=name, **NOTES_TABLE)
    return name


def error_of(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def raw(server: DynamoProcess, target: str | None, body: bytes) -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target:
        headers["X-Amz-Target"] = target
    request = urllib.request.Request(server.endpoint + "/", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            payload = response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers, json.loads(payload)
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(payload)


# ---------------------------------------------------------------------------------------
# The wire protocol


def test_errors_have_aws_type_status_and_content_type(server: DynamoProcess, notes: str) -> None:
    body = json.dumps({"TableName": notes, "Item": {"id": {"S": "x"}},
                       "ConditionExpression": "attribute_exists(id)"}).encode()
    status, headers, payload = raw(server, "DynamoDB_20120810.PutItem", body)
    assert status == 400 and headers["content-type"] == "application/x-amz-json-1.0"
    assert payload == {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
    }
    status, _, payload = raw(server, "DynamoDB_20120810.GetItem",
                             json.dumps({"TableName": notes, "Key": {}}).encode())
    assert status == 400 and payload["__type"] == "com.amazon.coral.validate#ValidationException"


def test_responses_carry_a_request_id_and_a_crc32_boto3_checks(server: DynamoProcess) -> None:
    request = urllib.request.Request(
        server.endpoint + "/", data=b"{}",
        headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"})
    with urllib.request.urlopen(request) as response:
        payload = response.read()
        assert response.headers["x-amzn-RequestId"]
        assert int(response.headers["x-amz-crc32"]) == zlib.crc32(payload)


@pytest.mark.parametrize("target", [None, "DynamoDB_20120810.Frobnicate", "Lambda.Invoke",
                                    "DynamoDB_20120810."])
def test_unknown_operations(server: DynamoProcess, target: str | None) -> None:
    status, _, payload = raw(server, target, b"{}")
    assert status == 400
    assert payload["__type"] == "com.amazon.coral.service#UnknownOperationException"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object(server: DynamoProcess, body: bytes) -> None:
    status, _, payload = raw(server, "DynamoDB_20120810.ListTables", body)
    assert status == 400
    assert payload["__type"] == "com.amazon.coral.service#SerializationException"


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("PutItem", {"Item": {"id": {"S": "x"}}, "ConditionExpression": "attribute_exists(#i)",
                     "ExpressionAttributeNames": {"#i": []}}),
        ("BatchWriteItem", {"RequestItems": {"T": {"S": 1}}}),
        ("BatchGetItem", {"RequestItems": {"T": {"Keys": 1}}}),
        ("TransactWriteItems", {"TransactItems": [{"Put": None}]}),
        ("CreateTable", {"TableName": "abc", "KeySchema": [1],
                         "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}]}),
        ("CreateTable", {"TableName": "abc", "KeySchema": [{"AttributeName": None}],
                         "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}]}),
    ],
)
def test_members_of_the_wrong_json_type_are_a_serialization_error(
    server: DynamoProcess, notes: str, operation: str, body: dict[str, Any],
) -> None:
    """Never a 500: AWS checks the JSON shapes before the operation's rules."""
    text = json.dumps({"TableName": notes, **body}).replace('"T"', json.dumps(notes))
    status, _, payload = raw(server, f"DynamoDB_20120810.{operation}", text.encode())
    assert status == 400
    assert payload["__type"] == "com.amazon.coral.service#SerializationException"


def test_health(server: DynamoProcess) -> None:
    with urllib.request.urlopen(server.endpoint + "/_lambdashift/health") as response:
        assert json.load(response) == {"status": "ok"}


# ---------------------------------------------------------------------------------------
# Paging


def _note(i: int, content: str = "text") -> dict[str, Any]:
    return {"id": {"S": f"n{i:03d}"}, "kind": {"S": "note"}, "sk": {"S": f"2024-{i:03d}"},
            "content": {"S": content}}


def _query(client: Any, table: str, values: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    """A query of the whole list index (``values``: more ExpressionAttributeValues)."""
    return client.query(TableName=table, IndexName="by-created",
                        KeyConditionExpression="kind = :k",
                        ExpressionAttributeValues={":k": {"S": "note"}, **(values or {})}, **extra)


def test_a_page_ending_exactly_at_limit_still_has_a_last_evaluated_key(client: Any,
                                                                        notes: str) -> None:
    """DynamoDB does not look ahead (moto does): the next page is empty and has no key."""
    for i in range(4):
        client.put_item(TableName=notes, Item=_note(i))
    page = _query(client, notes, Limit=4)
    assert page["Count"] == 4
    assert page["LastEvaluatedKey"] == {"id": {"S": "n003"}, "kind": {"S": "note"},
                                        "sk": {"S": "2024-003"}}
    rest = _query(client, notes, Limit=4, ExclusiveStartKey=page["LastEvaluatedKey"])
    assert rest["Count"] == 0 and "LastEvaluatedKey" not in rest
    assert "LastEvaluatedKey" not in _query(client, notes, Limit=5)
    scanned = client.scan(TableName=notes, Limit=4)
    assert scanned["Count"] == 4 and set(scanned["LastEvaluatedKey"]) == {"id"}


def test_query_and_scan_stop_at_1_mb(client: Any, notes: str) -> None:
    big = "x" * 100_000  # ten of these make a megabyte
    for i in range(25):
        client.put_item(TableName=notes, Item=_note(i, big))
    first = _query(client, notes)
    assert first["Count"] == first["ScannedCount"] == 10 and "LastEvaluatedKey" in first
    seen = [item["id"]["S"] for item in first["Items"]]
    start = first["LastEvaluatedKey"]
    while start:
        page = _query(client, notes, ExclusiveStartKey=start)
        seen += [item["id"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
    assert seen == [f"n{i:03d}" for i in range(25)]
    assert client.scan(TableName=notes)["ScannedCount"] == 10
    # The limit counts what was read, before the filter: a page can be empty, not last.
    filtered = _query(client, notes, {":none": {"S": "-"}}, FilterExpression="id = :none")
    assert filtered["Count"] == 0 and filtered["ScannedCount"] == 10
    assert "LastEvaluatedKey" in filtered


def test_paging_a_range_condition_from_the_middle_both_ways(client: Any, notes: str) -> None:
    """The start key and the key condition bound the same index range together."""
    for i in range(60):
        client.put_item(TableName=notes, Item=_note(i))
    condition = "kind = :k AND sk BETWEEN :a AND :b"
    values = {":k": {"S": "note"}, ":a": {"S": "2024-010"}, ":b": {"S": "2024-049"}}
    for forward in (True, False):
        ids, start = [], None
        while True:
            page = client.query(
                TableName=notes, IndexName="by-created", KeyConditionExpression=condition,
                ExpressionAttributeValues=values, ScanIndexForward=forward, Limit=7,
                **({"ExclusiveStartKey": start} if start else {}))
            ids += [item["id"]["S"] for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        expected = [f"n{i:03d}" for i in range(10, 50)]
        assert ids == (expected if forward else expected[::-1])


def test_ties_on_an_index_sort_key_page_without_loss(client: Any) -> None:
    """A GSI without a sort key: every item ties; pages follow the table's key."""
    name = f"ties-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "group", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-group",
                                 "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    for i in range(23):
        client.put_item(TableName=name, Item={"id": {"S": f"i{i:02d}"}, "group": {"S": "g"},
                                              "other": {"S": "not projected"}})
    ids, start = [], None
    while True:
        page = client.query(TableName=name, IndexName="by-group",
                            KeyConditionExpression="#g = :g",
                            ExpressionAttributeNames={"#g": "group"},
                            ExpressionAttributeValues={":g": {"S": "g"}}, Limit=5,
                            **({"ExclusiveStartKey": start} if start else {}))
        assert all(set(item) == {"id", "group"} for item in page["Items"])  # KEYS_ONLY
        ids += [item["id"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert sorted(ids) == [f"i{i:02d}" for i in range(23)] and len(set(ids)) == 23


def test_parallel_scan_segments_cover_every_item_once(client: Any, notes: str) -> None:
    for i in range(200):
        client.put_item(TableName=notes, Item=_note(i))
    seen: list[str] = []
    for segment in range(4):
        start = None
        while True:
            page = client.scan(TableName=notes, Segment=segment, TotalSegments=4, Limit=30,
                               **({"ExclusiveStartKey": start} if start else {}))
            seen += [item["id"]["S"] for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    assert sorted(seen) == [f"n{i:03d}" for i in range(200)]


# ---------------------------------------------------------------------------------------
# Numbers, keys and indexes


def test_numbers_come_back_canonical(client: Any, notes: str) -> None:
    client.put_item(TableName=notes, Item={
        "id": {"S": "n"}, "a": {"N": "1.50"}, "b": {"N": "1E+2"}, "c": {"N": "-0"},
        "d": {"N": "007"}, "e": {"N": "1e100"}, "s": {"NS": ["2.0", "10"]}})
    item = client.get_item(TableName=notes, Key={"id": {"S": "n"}})["Item"]
    assert item["a"] == {"N": "1.5"} and item["b"] == {"N": "100"} and item["c"] == {"N": "0"}
    assert item["d"] == {"N": "7"} and item["s"] == {"NS": ["2", "10"]}
    # DynamoDB writes out large exponents in full, as here (boto3's resource layer, with
    # its 38-digit context, cannot read such a value back from AWS either).
    assert item["e"] == {"N": "1" + "0" * 100}


def test_numeric_sort_keys_order_by_value(client: Any) -> None:
    name = f"scores-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"},
                              {"AttributeName": "score", "AttributeType": "N"},
                              {"AttributeName": "at", "AttributeType": "B"}],
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"},
                   {"AttributeName": "score", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[{"IndexName": "by-at",
                                "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                              {"AttributeName": "at", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "INCLUDE",
                                               "NonKeyAttributes": ["label"]}}])
    scores = ["-10", "-2.5", "-0.001", "0", "0.5", "2", "10", "100", "1E+30"]
    stamps = [b"\x00", b"\x00\x01", b"\x01", b"\x7f", b"\x80", b"\xfe", b"\xff", b"\xff\x00", b"a"]
    for score, stamp in zip(reversed(scores), stamps):
        client.put_item(TableName=name, Item={
            "p": {"S": "x"}, "score": {"N": score}, "at": {"B": stamp},
            "label": {"S": f"s{score}"}, "hidden": {"S": "-"}})
    result = client.query(TableName=name, KeyConditionExpression="p = :p AND score > :z",
                          ExpressionAttributeValues={":p": {"S": "x"}, ":z": {"N": "-3"}})
    assert [i["score"]["N"] for i in result["Items"]] == ["-2.5", "-0.001", "0", "0.5", "2",
                                                          "10", "100", "1" + "0" * 30]
    by_stamp = client.query(TableName=name, IndexName="by-at",
                            KeyConditionExpression="p = :p AND begins_with(#at, :prefix)",
                            ExpressionAttributeNames={"#at": "at"},
                            ExpressionAttributeValues={":p": {"S": "x"}, ":prefix": {"B": b"\xff"}},
                            ScanIndexForward=False, Limit=1)
    item = by_stamp["Items"][0]
    assert set(item) == {"p", "score", "at", "label"}  # INCLUDE projection: no "hidden"
    assert set(by_stamp["LastEvaluatedKey"]) == {"p", "score", "at"}  # table key + LSI key
    assert item["at"]["B"] == b"\xff\x00"


def test_a_keys_only_index_refuses_select_all_attributes(client: Any) -> None:
    name = f"k-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g",
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    code, message = error_of(lambda: client.query(
        TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "x"}}, Select="ALL_ATTRIBUTES"))
    assert code == "ValidationException" and "projection type is not ALL" in message


# ---------------------------------------------------------------------------------------
# Validation moto does not do


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"Item": {"id": {"S": "x"}, "n": {"N": "1" * 39}}},
         "Attempting to store more than 38 significant digits in a Number"),
        ({"Item": {"id": {"S": "x"}, "n": {"N": "abc"}}},
         "A value provided cannot be converted into a number"),
        ({"Item": {"id": {"S": "x"}, "s": {"SS": ["a", "a"]}}},
         "Input collection [a, a] contains duplicates."),
        ({"Item": {"id": {"S": ""}}},
         "One or more parameter values are not valid. The AttributeValue for a key attribute "
         "cannot contain an empty string value. Key: id"),
        ({"Item": {"id": {"S": "x"}, "kind": {"N": "1"}}},
         "One or more parameter values were invalid: Type mismatch for Index Key kind "
         "Expected: S Actual: N IndexName: by-created"),
        ({"Item": {"id": {"S": "x"}}, "ConditionExpression": "attribute_exists(id)",
          "ExpressionAttributeValues": {":x": {"S": "1"}}},
         "1 validation error detected: Value provided in ExpressionAttributeValues unused in "
         "expressions: keys: {:x}"),
        ({"Item": {"id": {"S": "x"}}, "ConditionExpression": "id = :x"},
         "Invalid ConditionExpression: An expression attribute value used in expression is not "
         "defined; attribute value: :x"),
        ({"Item": {"id": {"S": "x"}}, "ConditionExpression": "#x = :x",
          "ExpressionAttributeValues": {":x": {"S": "1"}}},
         "Invalid ConditionExpression: An expression attribute name used in the document path "
         "is not defined; attribute name: #x"),
        ({"Item": {"id": {"S": "x"}}, "ExpressionAttributeValues": {":x": {"S": "1"}}},
         "ExpressionAttributeValues can only be specified when using expressions: "
         "ConditionExpression is null"),
        ({"Item": {"id": {"S": "x"}}, "ConditionExpression": "id = "},
         'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "'),
    ],
)
def test_put_item_validation(client: Any, notes: str, request_: dict[str, Any],
                             message: str) -> None:
    assert error_of(lambda: client.put_item(TableName=notes, **request_)) == (
        "ValidationException", message)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, t: c.get_item(TableName=t, Key={"id": {"N": "1"}}),
         "The provided key element does not match the schema"),
        (lambda c, t: c.get_item(TableName=t, Key={"id": {"S": "x"}, "sk": {"S": "y"}}),
         "The provided key element does not match the schema"),
        (lambda c, t: _query(c, t, ExclusiveStartKey={"id": {"S": "x"}}),
         "The provided starting key is invalid: The provided key element does not match the "
         "schema"),
        (lambda c, t: c.query(TableName=t, IndexName="by-created",
                              KeyConditionExpression="kind = :k",
                              ExpressionAttributeValues={":k": {"N": "1"}}),
         "One or more parameter values were invalid: Condition parameter type does not match "
         "schema type"),
        (lambda c, t: c.query(TableName=t, IndexName="by-created",
                              KeyConditionExpression="kind = :k OR sk = :k",
                              ExpressionAttributeValues={":k": {"S": "1"}}),
         "Invalid operator used in KeyConditionExpression: OR"),
        (lambda c, t: c.query(TableName=t, IndexName="nope", KeyConditionExpression="kind = :k",
                              ExpressionAttributeValues={":k": {"S": "1"}}),
         "The table does not have the specified index: nope"),
        (lambda c, t: c.batch_write_item(RequestItems={t: [
            {"PutRequest": {"Item": {"id": {"S": f"i{i}"}}}} for i in range(26)]}),
         "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map "
         "value must satisfy constraint: [Member must have length less than or equal to 25, "
         "Member must have length greater than or equal to 1]"),
        (lambda c, t: c.create_table(
            TableName="tab2", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"},
                                  {"AttributeName": "b", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
            LocalSecondaryIndexes=[{"IndexName": "lsi", "Projection": {"ProjectionType": "ALL"},
                                    "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"},
                                                  {"AttributeName": "b", "KeyType": "RANGE"}]}]),
         "One or more parameter values were invalid: Table KeySchema does not have a range key, "
         "which is required when specifying a LocalSecondaryIndex"),
    ],
)
def test_request_validation(client: Any, notes: str, call: Any, message: str) -> None:
    assert error_of(lambda: call(client, notes)) == ("ValidationException", message)


def test_updated_return_values_hold_only_the_changed_fragment(client: Any, notes: str) -> None:
    """DynamoDB answers UPDATED_OLD/NEW with the paths updated, not whole attributes (moto
    answers whole top-level attributes)."""
    item = {"id": {"S": "u"}, "m": {"M": {"k": {"M": {"z": {"N": "1"}}}, "y": {"S": "q"}}},
            "l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}}

    def update(expression: str, returns: str, values: dict | None = None) -> dict:
        client.put_item(TableName=notes, Item=item)
        extra = {"ExpressionAttributeValues": values} if values else {}
        return client.update_item(TableName=notes, Key={"id": {"S": "u"}}, ReturnValues=returns,
                                  UpdateExpression=expression, **extra)

    one = {":v": {"N": "9"}}
    assert update("SET m.k.z = :v", "UPDATED_NEW", one)["Attributes"] == {
        "m": {"M": {"k": {"M": {"z": {"N": "9"}}}}}}
    assert update("SET m.k.z = :v REMOVE l[0]", "UPDATED_OLD", one)["Attributes"] == {
        "m": {"M": {"k": {"M": {"z": {"N": "1"}}}}}, "l": {"L": [{"N": "1"}]}}
    assert update("SET l[1] = :v", "UPDATED_NEW", one)["Attributes"] == {"l": {"L": [{"N": "9"}]}}
    assert "Attributes" not in update("REMOVE m.y", "UPDATED_NEW")
    assert "Attributes" not in update("SET l[9] = :v", "UPDATED_NEW", one)  # appended at l[3]
    assert error_of(lambda: update("SET l.x = :v", "NONE", one)) == (
        "ValidationException",
        "The document path provided in the update expression is invalid for update")


def test_table_size_follows_puts_updates_and_deletes(client: Any, notes: str) -> None:
    def size() -> int:
        return client.describe_table(TableName=notes)["Table"]["TableSizeBytes"]

    client.put_item(TableName=notes, Item={"id": {"S": "ab"}, "t": {"S": "xyz"}})
    assert size() == len("id") + 2 + len("t") + 3
    client.update_item(TableName=notes, Key={"id": {"S": "ab"}}, UpdateExpression="SET u = :v",
                       ExpressionAttributeValues={":v": {"S": "12345"}})
    assert size() == 8 + len("u") + 5
    client.delete_item(TableName=notes, Key={"id": {"S": "ab"}})
    assert size() == 0


def test_consumed_capacity_only_when_asked(client: Any, notes: str) -> None:
    assert "ConsumedCapacity" not in client.put_item(TableName=notes, Item=_note(1))
    asked = client.put_item(TableName=notes, Item=_note(1), ReturnConsumedCapacity="TOTAL")
    assert asked["ConsumedCapacity"] == {"TableName": notes, "CapacityUnits": 1.0}


def test_the_list_query_reads_the_page_not_the_table(client: Any, notes: str) -> None:
    """What issue 3 is about: the first page reads about ``limit`` items at any size."""
    for offset in range(0, 2000, 25):
        client.batch_write_item(RequestItems={notes: [
            {"PutRequest": {"Item": _note(i)}} for i in range(offset, offset + 25)]})
    page = _query(client, notes, ScanIndexForward=False, Limit=21)
    assert page["ScannedCount"] == 21 and page["Items"][0]["sk"] == {"S": "2024-999"}


def test_resource_api_round_trip_with_key_conditions(server: DynamoProcess, notes: str) -> None:
    table = boto3.resource("dynamodb", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test").Table(notes)
    table.put_item(Item={"id": "r", "kind": "note", "sk": "2024-1", "tags": {"a", "b"}})
    items = table.query(IndexName="by-created",
                        KeyConditionExpression=Key("kind").eq("note") & Key("sk").begins_with("2024"))
    assert items["Items"] == [{"id": "r", "kind": "note", "sk": "2024-1", "tags": {"a", "b"}}]


# ---------------------------------------------------------------------------------------
# Other clients, and the command line


def test_the_aws_cli_works_unchanged(server: DynamoProcess, notes: str) -> None:
    from tests.functional.test_emulator_awscli import aws_cli

    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([aws_cli(), "dynamodb", *args, "--endpoint-url", server.endpoint,
                               "--output", "json"], capture_output=True, text=True, env=env,
                              timeout=120)

    put = aws("put-item", "--table-name", notes, "--item",
              '{"id": {"S": "cli"}, "kind": {"S": "note"}, "sk": {"S": "1"}}')
    assert put.returncode == 0, put.stderr
    listed = aws("query", "--table-name", notes, "--index-name", "by-created",
                 "--key-condition-expression", "kind = :k",
                 "--expression-attribute-values", '{":k": {"S": "note"}}')
    assert json.loads(listed.stdout)["Items"][0]["id"] == {"S": "cli"}
    failed = aws("delete-item", "--table-name", notes, "--key", '{"id": {"S": "absent"}}',
                 "--condition-expression", "attribute_exists(id)")
    assert failed.returncode != 0 and "ConditionalCheckFailedException" in failed.stderr


def test_a_taken_port_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lambdashift.dynamodb.server", "--port", str(port),
             "--in-memory"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2  # a usage error naming the flag, as every port flag's (issue 22)
    assert result.stderr.strip() == (
        f"lambdashift dynamodb: --port {port} is in use on 127.0.0.1: pick another, or 0 for a free one")
