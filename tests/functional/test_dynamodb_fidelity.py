"""lambdashift's DynamoDB against AWS's rules, one test per rule (issue 21).

Each test is named after the rule it checks; the facts come from the DynamoDB API
reference and developer guide (limits, TTL, UpdateTable, secondary indexes) and from
the messages AWS answers with (its ``1 validation error detected: `` prefix belongs to
the checks of its request model, and appears where AWS puts it, not everywhere).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdashift.dynamodb.server import DynamoProcess, start_process

DETECTED = "1 validation error detected: "


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


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def table(client: Any) -> str:
    """A fresh table keyed by ``pk`` (S) and ``sk`` (S)."""
    name = _name("t")
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}])
    return name


KEY = {"pk": {"S": "p"}, "sk": {"S": "s"}}


def error_of(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def invalid(call: Any) -> str:
    """The message of the ValidationException ``call`` must raise."""
    code, message = error_of(call)
    assert code == "ValidationException", message
    return message


# ---------------------------------------------------------------------------------------
# 1. The validation prefix, validation order and wording


def test_update_expression_overlapping_paths_are_refused_with_the_validation_prefix(
        client: Any, table: str) -> None:
    message = invalid(lambda: client.update_item(
        TableName=table, Key=KEY, UpdateExpression="SET a = :v REMOVE a",
        ExpressionAttributeValues={":v": {"S": "x"}}))
    assert message == (
        DETECTED + "Invalid UpdateExpression: Two document paths overlap with each other; must "
        "remove or rewrite one of these paths; path one: [a], path two: [a]")


def test_update_expression_paths_overlap_when_one_is_inside_the_other(client: Any,
                                                                     table: str) -> None:
    message = invalid(lambda: client.update_item(
        TableName=table, Key=KEY, UpdateExpression="SET a.b[1] = :v, a.b = :v",
        ExpressionAttributeValues={":v": {"S": "x"}}))
    assert message.endswith("path one: [a, b, [1]], path two: [a, b]")
    assert message.startswith(DETECTED + "Invalid UpdateExpression: Two document paths overlap")


def test_update_expression_paths_conflict_when_one_indexes_a_list_the_other_a_map(
        client: Any, table: str) -> None:
    message = invalid(lambda: client.update_item(
        TableName=table, Key=KEY, UpdateExpression="SET a.b = :v, a[0] = :v",
        ExpressionAttributeValues={":v": {"S": "x"}}))
    assert message == (
        DETECTED + "Invalid UpdateExpression: Two document paths conflict with each other; must "
        "remove or rewrite one of these paths; path one: [a, b], path two: [a, [0]]")


def test_update_expression_clause_used_twice_is_refused_with_the_validation_prefix(
        client: Any, table: str) -> None:
    message = invalid(lambda: client.update_item(
        TableName=table, Key=KEY, UpdateExpression="SET a = :v SET b = :v",
        ExpressionAttributeValues={":v": {"S": "x"}}))
    assert message == (DETECTED + 'Invalid UpdateExpression: The "SET" section can only be used '
                       "once in an update expression;")


def test_empty_update_expression_is_refused_with_the_validation_prefix(client: Any,
                                                                      table: str) -> None:
    message = invalid(lambda: client.update_item(TableName=table, Key=KEY,
                                                 UpdateExpression="  "))
    assert message == DETECTED + "Invalid UpdateExpression: The expression can not be empty;"


def test_an_empty_condition_expression_has_no_prefix(client: Any, table: str) -> None:
    message = invalid(lambda: client.put_item(TableName=table, Item=KEY,
                                              ConditionExpression=""))
    assert message == "Invalid ConditionExpression: The expression can not be empty;"


@pytest.mark.parametrize("operation", ["put_item", "update_item", "delete_item"])
def test_unused_expression_attribute_names_in_a_write_have_the_validation_prefix(
        client: Any, table: str, operation: str) -> None:
    request: dict[str, Any] = {"TableName": table, "ConditionExpression": "attribute_exists(pk)",
                               "ExpressionAttributeNames": {"#a": "a"}}
    if operation == "put_item":
        request["Item"] = KEY
    else:
        request["Key"] = KEY
    message = invalid(lambda: getattr(client, operation)(**request))
    assert message == (DETECTED + "Value provided in ExpressionAttributeNames unused in "
                       "expressions: keys: {#a}")


def test_unused_expression_attribute_values_in_an_update_have_the_validation_prefix(
        client: Any, table: str) -> None:
    message = invalid(lambda: client.update_item(
        TableName=table, Key=KEY, UpdateExpression="SET a = :a",
        ExpressionAttributeValues={":a": {"S": "x"}, ":b": {"S": "y"}}))
    assert message == (DETECTED + "Value provided in ExpressionAttributeValues unused in "
                       "expressions: keys: {:b}")


@pytest.mark.parametrize("operation", ["get_item", "query", "scan"])
def test_unused_expression_attribute_names_in_a_read_have_no_prefix(
        client: Any, table: str, operation: str) -> None:
    request: dict[str, Any] = {"TableName": table, "ProjectionExpression": "a",
                               "ExpressionAttributeNames": {"#a": "a"}}
    if operation == "get_item":
        request["Key"] = KEY
    if operation == "query":
        request["KeyConditionExpression"] = "pk = :p"
        request["ExpressionAttributeValues"] = {":p": {"S": "p"}}
    message = invalid(lambda: getattr(client, operation)(**request))
    assert message == "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a}"


def test_empty_expression_attribute_values_have_the_prefix_outside_transactions(
        client: Any, table: str) -> None:
    message = invalid(lambda: client.update_item(
        TableName=table, Key=KEY, UpdateExpression="SET a = :a", ExpressionAttributeValues={}))
    assert message == DETECTED + "ExpressionAttributeValues must not be empty"
    message = invalid(lambda: client.transact_write_items(TransactItems=[{"Update": {
        "TableName": table, "Key": KEY, "UpdateExpression": "SET a = :a",
        "ExpressionAttributeValues": {}}}]))
    assert message == "ExpressionAttributeValues must not be empty"


@pytest.mark.parametrize(("kind", "noun"), [("SS", "string"), ("NS", "number"), ("BS", "binary")])
def test_an_empty_set_in_an_item_is_refused_with_the_validation_prefix(
        client: Any, table: str, kind: str, noun: str) -> None:
    message = invalid(lambda: client.put_item(TableName=table, Item={**KEY, "s": {kind: []}}))
    assert message == (DETECTED + "One or more parameter values were invalid: An "
                       f"{noun} set  may not be empty")


def test_add_of_an_empty_set_is_refused_as_an_empty_set(client: Any, table: str) -> None:
    message = invalid(lambda: client.update_item(
        TableName=table, Key=KEY, UpdateExpression="ADD s :empty",
        ExpressionAttributeValues={":empty": {"SS": []}}))
    assert message == (DETECTED + "One or more parameter values were invalid: An string set  "
                       "may not be empty")


def test_request_is_validated_before_the_table_is_looked_up(client: Any) -> None:
    missing = _name("missing")
    unused = invalid(lambda: client.update_item(
        TableName=missing, Key=KEY, UpdateExpression="SET a = :a",
        ExpressionAttributeNames={"#x": "x"}, ExpressionAttributeValues={":a": {"S": "1"}}))
    assert "unused in expressions: keys: {#x}" in unused
    syntax = invalid(lambda: client.query(TableName=missing, KeyConditionExpression="pk ==",
                                          ExpressionAttributeValues={":p": {"S": "p"}}))
    assert syntax.startswith("Invalid KeyConditionExpression: Syntax error")
    empty_set = invalid(lambda: client.put_item(TableName=missing, Item={"s": {"SS": []}}))
    assert empty_set.endswith("An string set  may not be empty")
    code, _ = error_of(lambda: client.get_item(TableName=missing, Key=KEY))
    assert code == "ResourceNotFoundException"


def test_request_is_validated_before_the_key_schema(client: Any, table: str) -> None:
    # The key is wrong for the table (no sort key) and the expression is unparsable:
    # AWS reports the expression.
    message = invalid(lambda: client.delete_item(
        TableName=table, Key={"pk": {"S": "p"}}, ConditionExpression="attribute_exists(",))
    assert message.startswith("Invalid ConditionExpression: Syntax error")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"Select": "NOPE"},
         "Value 'NOPE' at 'select' failed to satisfy constraint: Member must satisfy enum value "
         "set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"),
        ({"Select": "SPECIFIC_ATTRIBUTES"},
         "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
         "SPECIFIC_ATTRIBUTES"),
        ({"Select": "COUNT", "ProjectionExpression": "a"},
         "Cannot specify the ProjectionExpression when choosing to get only the Count"),
        ({"Select": "ALL_ATTRIBUTES", "AttributesToGet": ["a"]},
         "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES"),
        ({"Select": "ALL_PROJECTED_ATTRIBUTES"},
         "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
    ],
)
def test_select_is_checked_with_aws_wording(client: Any, table: str, extra: dict[str, Any],
                                            message: str) -> None:
    assert invalid(lambda: client.scan(TableName=table, **extra)) == DETECTED + message


@pytest.mark.parametrize(
    ("where", "request_"),
    [
        ("keySchema.2.member.keyType",
         {"KeySchema": [{"AttributeName": "a", "KeyType": "HASH"},
                        {"AttributeName": "b", "KeyType": "SORT"}]}),
        ("globalSecondaryIndexes.1.member.keySchema.1.member.keyType",
         {"KeySchema": [{"AttributeName": "a", "KeyType": "HASH"},
                        {"AttributeName": "b", "KeyType": "RANGE"}],
          "GlobalSecondaryIndexes": [{
              "IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
              "KeySchema": [{"AttributeName": "b", "KeyType": "SORT"}]}]}),
    ],
)
def test_key_types_are_hash_or_range_named_at_their_position(client: Any, where: str,
                                                            request_: dict[str, Any]) -> None:
    message = invalid(lambda: client.create_table(
        TableName=_name("kt"), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"},
                              {"AttributeName": "b", "AttributeType": "S"}], **request_))
    assert message == (DETECTED + f"Value 'SORT' at '{where}' failed to satisfy constraint: "
                       "Member must satisfy enum value set: [HASH, RANGE]")


def test_more_than_two_key_elements_are_shown_as_aws_shows_them(client: Any) -> None:
    message = invalid(lambda: client.create_table(
        TableName=_name("kt"), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "a", "KeyType": "HASH"},
                   {"AttributeName": "b", "KeyType": "RANGE"},
                   {"AttributeName": "c", "KeyType": "RANGE"}]))
    assert message == (
        DETECTED + "Value '[KeySchemaElement(attributeName=a, keyType=HASH), "
        "KeySchemaElement(attributeName=b, keyType=RANGE), KeySchemaElement(attributeName=c, "
        "keyType=RANGE)]' at 'keySchema' failed to satisfy constraint: Member must have length "
        "less than or equal to 2")


# ---------------------------------------------------------------------------------------
# 2. Select=ALL_ATTRIBUTES on a local secondary index


def _indexed_table(client: Any, projection: dict[str, Any]) -> str:
    """pk/sk table with an LSI ``by-l`` and a GSI ``by-g`` (both ``projection``)."""
    name = _name("idx")
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("pk", "sk", "l", "g")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[{"IndexName": "by-l", "Projection": projection,
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "l", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "Projection": projection,
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
    client.put_item(TableName=name, Item={
        "pk": {"S": "p"}, "sk": {"S": "1"}, "l": {"S": "x"}, "g": {"S": "y"},
        "kept": {"S": "k"}, "other": {"S": "o"}})
    return name


@pytest.mark.parametrize("projection", [
    {"ProjectionType": "KEYS_ONLY"},
    {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["kept"]},
])
def test_select_all_attributes_on_a_local_index_fetches_the_whole_item(
        client: Any, projection: dict[str, Any]) -> None:
    name = _indexed_table(client, projection)
    result = client.query(TableName=name, IndexName="by-l", Select="ALL_ATTRIBUTES",
                          KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "p"}})
    assert result["Items"][0]["other"] == {"S": "o"}
    projected = client.query(TableName=name, IndexName="by-l", KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": {"S": "p"}})
    assert "other" not in projected["Items"][0]  # the default is the index's projection
    asked = client.query(TableName=name, IndexName="by-l", KeyConditionExpression="pk = :p",
                         ProjectionExpression="other",
                         ExpressionAttributeValues={":p": {"S": "p"}})
    assert asked["Items"] == [{"other": {"S": "o"}}]


def test_select_all_attributes_on_a_narrow_global_index_is_refused_naming_it_global(
        client: Any) -> None:
    name = _indexed_table(client, {"ProjectionType": "KEYS_ONLY"})
    message = invalid(lambda: client.query(
        TableName=name, IndexName="by-g", Select="ALL_ATTRIBUTES",
        KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "y"}}))
    assert message == ("One or more parameter values were invalid: Select type ALL_ATTRIBUTES "
                       "is not supported for global secondary index by-g because its "
                       "projection type is not ALL")


# ---------------------------------------------------------------------------------------
# 3. Key size limits: partition key <= 2048 bytes, sort key <= 1024 bytes

HASH_TOO_LONG = ("One or more parameter values were invalid: Size of hashkey has exceeded the "
                 "maximum size limit of2048 bytes")
RANGE_TOO_LONG = ("One or more parameter values were invalid: Aggregated size of all range keys "
                  "has exceeded the size limit of 1024 bytes")


@pytest.mark.parametrize(
    "call",
    [
        lambda c, t, k: c.put_item(TableName=t, Item=k),
        lambda c, t, k: c.update_item(TableName=t, Key=k, UpdateExpression="SET a = :a",
                                      ExpressionAttributeValues={":a": {"S": "x"}}),
        lambda c, t, k: c.delete_item(TableName=t, Key=k),
        lambda c, t, k: c.get_item(TableName=t, Key=k),
        lambda c, t, k: c.batch_write_item(RequestItems={t: [{"PutRequest": {"Item": k}}]}),
        lambda c, t, k: c.transact_write_items(TransactItems=[{"Put": {"TableName": t,
                                                                       "Item": k}}]),
    ],
    ids=["PutItem", "UpdateItem", "DeleteItem", "GetItem", "BatchWriteItem",
         "TransactWriteItems"],
)
def test_partition_key_over_2048_bytes_and_sort_key_over_1024_bytes_are_refused(
        client: Any, table: str, call: Any) -> None:
    # Bytes, not characters: "é" is two bytes in UTF-8.
    long_hash = {"pk": {"S": "é" * 1024 + "x"}, "sk": {"S": "s"}}
    assert invalid(lambda: call(client, table, long_hash)) == HASH_TOO_LONG
    long_range = {"pk": {"S": "p"}, "sk": {"S": "x" * 1025}}
    assert invalid(lambda: call(client, table, long_range)) == RANGE_TOO_LONG


def test_keys_at_exactly_the_limits_are_accepted(client: Any, table: str) -> None:
    key = {"pk": {"S": "x" * 2048}, "sk": {"S": "é" * 512}}
    client.put_item(TableName=table, Item=key)
    assert client.get_item(TableName=table, Key=key)["Item"] == key


# ---------------------------------------------------------------------------------------
# 4. A table's ARN where AWS takes a TableName

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/{}"


def test_a_table_arn_is_accepted_as_table_name(client: Any, table: str) -> None:
    arn = ARN.format(table)
    assert client.describe_table(TableName=arn)["Table"]["TableName"] == table
    client.put_item(TableName=arn, Item={**KEY, "a": {"S": "1"}})
    assert client.get_item(TableName=arn, Key=KEY)["Item"]["a"] == {"S": "1"}
    assert client.query(TableName=arn, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "p"}})["Count"] == 1
    batch = client.batch_get_item(RequestItems={arn: {"Keys": [KEY]}})
    assert batch["Responses"][arn][0]["a"] == {"S": "1"}  # keyed as asked
    client.transact_write_items(TransactItems=[{"Delete": {"TableName": arn, "Key": KEY}}])
    assert client.scan(TableName=table)["Count"] == 0


def test_an_arn_of_another_account_or_region_names_no_table_here(client: Any,
                                                                table: str) -> None:
    other = f"arn:aws:dynamodb:eu-west-1:000000000000:table/{table}"
    assert error_of(lambda: client.get_item(TableName=other, Key=KEY))[0] == \
        "ResourceNotFoundException"
    malformed = invalid(lambda: client.get_item(TableName="arn:aws:s3:::bucket", Key=KEY))
    assert "table ARN" in malformed


# ---------------------------------------------------------------------------------------
# 5. The legacy KeyConditions parameter of Query


def test_query_takes_the_legacy_key_conditions(client: Any, table: str) -> None:
    for sk in ("a1", "a2", "b1"):
        client.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    result = client.query(TableName=table, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
        "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "a"}]}},
        ScanIndexForward=False)
    assert [i["sk"]["S"] for i in result["Items"]] == ["a2", "a1"]
    between = client.query(TableName=table, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
        "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"S": "a2"}, {"S": "b1"}]}})
    assert between["Count"] == 2


def test_key_conditions_and_a_key_condition_expression_together_are_refused(
        client: Any, table: str) -> None:
    message = invalid(lambda: client.query(
        TableName=table, KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}}))
    assert message.startswith("Can not use both expression and non-expression parameters")


def test_key_conditions_need_the_operator_s_number_of_values(client: Any, table: str) -> None:
    message = invalid(lambda: client.query(TableName=table, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}, {"S": "q"}]}}))
    assert message == ("One or more parameter values were invalid: Invalid number of "
                       "argument(s) for the EQ ComparisonOperator")


# ---------------------------------------------------------------------------------------
# 6. Time to Live


def test_update_time_to_live_enables_then_disables_and_describe_follows(client: Any,
                                                                       table: str) -> None:
    described = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert described == {"TimeToLiveStatus": "DISABLED"}
    spec = {"Enabled": True, "AttributeName": "expires"}
    answer = client.update_time_to_live(TableName=table, TimeToLiveSpecification=spec)
    assert answer["TimeToLiveSpecification"] == spec
    assert client.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert invalid(lambda: client.update_time_to_live(
        TableName=table, TimeToLiveSpecification=spec)) == "TimeToLive is already enabled"
    client.update_time_to_live(TableName=table,
                               TimeToLiveSpecification={**spec, "Enabled": False})
    assert invalid(lambda: client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={**spec, "Enabled": False})) == \
        "TimeToLive is already disabled"
    assert error_of(lambda: client.describe_time_to_live(TableName=_name("missing")))[0] == \
        "ResourceNotFoundException"


def _store_with_ttl_table() -> Any:
    from lambdashift.dynamodb import api
    from lambdashift.dynamodb.store import Store

    store = Store(None)

    def call(operation: str, **request: Any) -> dict[str, Any]:
        status, body = api.handle(store, api.TARGET_PREFIX + operation,
                                  json.dumps(request).encode())
        answer = json.loads(body)
        assert status == 200, answer
        return answer

    call("CreateTable", TableName="ttl", BillingMode="PAY_PER_REQUEST",
         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    call("UpdateTimeToLive", TableName="ttl",
         TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    return store, call


def test_ttl_deletes_only_numbers_of_epoch_seconds_past_and_less_than_five_years_old() -> None:
    from lambdashift.dynamodb.ttl import sweep

    store, call = _store_with_ttl_table()
    now = 1_800_000_000.0
    items = {
        "expired": {"N": str(int(now) - 10)},
        "future": {"N": str(int(now) + 3600)},
        "as-string": {"S": str(int(now) - 10)},
        "six-years-ago": {"N": str(int(now) - 6 * 365 * 24 * 3600)},
        "nested-only": None,
    }
    for key, expires in items.items():
        item = {"pk": {"S": key}}
        if expires is not None:
            item["expires"] = expires
        else:
            item["m"] = {"M": {"expires": {"N": "1"}}}
        call("PutItem", TableName="ttl", Item=item)
    # Expired but not yet swept: still read, as on AWS until its background deletion.
    assert "Item" in call("GetItem", TableName="ttl", Key={"pk": {"S": "expired"}})
    assert sum(sweep(store, now)) == 1
    left = {i["pk"]["S"] for i in call("Scan", TableName="ttl")["Items"]}
    assert left == set(items) - {"expired"}


def test_expired_items_are_deleted_in_the_background_index_entries_too() -> None:
    proc = start_process(None, env={"LAMBDASHIFT_DYNAMODB_TTL_SWEEP": "0.2"})
    try:
        c = boto3.client("dynamodb", endpoint_url=proc.endpoint, region_name="us-east-1",
                         aws_access_key_id="test", aws_secret_access_key="test")
        c.create_table(
            TableName="sessions", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "user", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "by-user", "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [{"AttributeName": "user", "KeyType": "HASH"}]}])
        c.update_time_to_live(TableName="sessions", TimeToLiveSpecification={
            "Enabled": True, "AttributeName": "expires"})
        past, future = str(int(time.time()) - 60), str(int(time.time()) + 3600)
        for key, expires in (("old", past), ("new", future)):
            c.put_item(TableName="sessions", Item={
                "pk": {"S": key}, "user": {"S": "u"}, "expires": {"N": expires}})
        deadline = time.monotonic() + 30  # a bound for a slow machine, not a timing claim
        while time.monotonic() < deadline and \
                "Item" in c.get_item(TableName="sessions", Key={"pk": {"S": "old"}}):
            time.sleep(0.1)
        assert "Item" not in c.get_item(TableName="sessions", Key={"pk": {"S": "old"}})
        by_user = c.query(TableName="sessions", IndexName="by-user",
                          KeyConditionExpression="#u = :u",
                          ExpressionAttributeNames={"#u": "user"},
                          ExpressionAttributeValues={":u": {"S": "u"}})
        assert [i["pk"]["S"] for i in by_user["Items"]] == ["new"]
    finally:
        proc.stop()


# ---------------------------------------------------------------------------------------
# 7. UpdateTable: global secondary indexes and billing mode


def _by_owner(client: Any, name: str) -> list[str]:
    result = client.query(TableName=name, IndexName="by-owner",
                          KeyConditionExpression="#o = :o",
                          ExpressionAttributeNames={"#o": "owner"},
                          ExpressionAttributeValues={":o": {"S": "ann"}})
    return sorted(i["sk"]["S"] for i in result["Items"])


def test_update_table_creates_a_global_index_backfilled_creating_then_active(
        client: Any, table: str) -> None:
    for sk, owner in (("1", "ann"), ("2", "bob"), ("3", "ann")):
        client.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": sk},
                                               "owner": {"S": owner}})
    client.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "4"}})  # sparse
    answer = client.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "owner", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-owner", "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}]}}])["TableDescription"]
    assert answer["TableStatus"] == "UPDATING"
    assert answer["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    described = client.describe_table(TableName=table)["Table"]
    assert described["TableStatus"] == "ACTIVE"
    assert described["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert described["GlobalSecondaryIndexes"][0]["ItemCount"] == 3
    assert {"AttributeName": "owner", "AttributeType": "S"} in described["AttributeDefinitions"]
    assert _by_owner(client, table) == ["1", "3"]
    client.put_item(TableName=table, Item={"pk": {"S": "q"}, "sk": {"S": "5"},
                                           "owner": {"S": "ann"}})
    assert _by_owner(client, table) == ["1", "3", "5"]  # kept up to date after the backfill


def test_update_table_deletes_a_global_index_and_its_definitions(client: Any) -> None:
    name = _indexed_table(client, {"ProjectionType": "ALL"})
    answer = client.update_table(TableName=name, GlobalSecondaryIndexUpdates=[
        {"Delete": {"IndexName": "by-g"}}])["TableDescription"]
    assert [(i["IndexName"], i["IndexStatus"]) for i in answer["GlobalSecondaryIndexes"]] == [
        ("by-g", "DELETING")]
    described = client.describe_table(TableName=name)["Table"]
    assert "GlobalSecondaryIndexes" not in described
    assert "g" not in {d["AttributeName"] for d in described["AttributeDefinitions"]}
    assert invalid(lambda: client.query(
        TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "y"}})) == \
        "The table does not have the specified index: by-g"
    # The local index is untouched, and a new global one takes a fresh place.
    client.update_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-g2", "Projection": {"ProjectionType": "KEYS_ONLY"},
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}}])
    assert client.query(TableName=name, IndexName="by-l", KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "p"}})["Count"] == 1
    assert client.query(TableName=name, IndexName="by-g2", KeyConditionExpression="g = :g",
                        ExpressionAttributeValues={":g": {"S": "y"}})["Count"] == 1


def test_update_table_creates_or_deletes_one_index_per_call(client: Any, table: str) -> None:
    create = {"Projection": {"ProjectionType": "ALL"},
              "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]}
    code, message = error_of(lambda: client.update_table(
        TableName=table, AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "one", **create}},
                                     {"Create": {"IndexName": "two", **create}}]))
    assert code == "LimitExceededException" and "Only 1 online index" in message


def test_update_table_needs_the_new_index_key_defined(client: Any, table: str) -> None:
    message = invalid(lambda: client.update_table(TableName=table, GlobalSecondaryIndexUpdates=[
        {"Create": {"IndexName": "by-x", "Projection": {"ProjectionType": "ALL"},
                    "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]}}]))
    assert message.startswith("One or more parameter values were invalid: Some index key "
                              "attributes are not defined in AttributeDefinitions")


def test_update_table_with_nothing_to_change_is_refused(client: Any, table: str) -> None:
    assert invalid(lambda: client.update_table(TableName=table)).startswith(
        "At least one of ProvisionedThroughput, BillingMode")


def test_update_table_switches_billing_mode_both_ways(client: Any, table: str) -> None:
    message = invalid(lambda: client.update_table(TableName=table, BillingMode="PROVISIONED"))
    assert "ReadCapacityUnits and WriteCapacityUnits must both be specified" in message
    client.update_table(TableName=table, BillingMode="PROVISIONED", ProvisionedThroughput={
        "ReadCapacityUnits": 5, "WriteCapacityUnits": 3})
    described = client.describe_table(TableName=table)["Table"]
    assert "BillingModeSummary" not in described
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    client.update_table(TableName=table, BillingMode="PAY_PER_REQUEST")
    described = client.describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 0


def test_update_table_survives_a_restart(tmp_path: Any) -> None:
    proc = start_process(tmp_path / "data")
    c = boto3.client("dynamodb", endpoint_url=proc.endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test")
    try:
        c.create_table(TableName="tab1", BillingMode="PAY_PER_REQUEST",
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        c.put_item(TableName="tab1", Item={"pk": {"S": "a"}, "owner": {"S": "ann"}})
        c.update_table(TableName="tab1",
                       AttributeDefinitions=[{"AttributeName": "owner", "AttributeType": "S"}],
                       GlobalSecondaryIndexUpdates=[{"Create": {
                           "IndexName": "by-owner", "Projection": {"ProjectionType": "ALL"},
                           "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}]}}])
        c.update_time_to_live(TableName="tab1", TimeToLiveSpecification={
            "Enabled": True, "AttributeName": "expires"})
    finally:
        proc.stop()
    proc = start_process(tmp_path / "data")
    c = boto3.client("dynamodb", endpoint_url=proc.endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test")
    try:
        assert c.query(TableName="tab1", IndexName="by-owner", KeyConditionExpression="#o = :o",
                       ExpressionAttributeNames={"#o": "owner"},
                       ExpressionAttributeValues={":o": {"S": "ann"}})["Count"] == 1
        assert c.describe_time_to_live(TableName="tab1")["TimeToLiveDescription"][
            "TimeToLiveStatus"] == "ENABLED"
    finally:
        proc.stop()


# ---------------------------------------------------------------------------------------
# 9. Streams: refused, clearly


def test_enabling_a_stream_is_refused_with_what_to_do_instead(client: Any, table: str) -> None:
    message = invalid(lambda: client.create_table(
        TableName=_name("s"), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}))
    assert "does not serve streams" in message
    assert "does not serve streams" in invalid(lambda: client.update_table(
        TableName=table, StreamSpecification={"StreamEnabled": True,
                                              "StreamViewType": "KEYS_ONLY"}))
    client.create_table(  # a stream explicitly off is what the table has anyway
        TableName=_name("s"), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": False})


# ---------------------------------------------------------------------------------------
# 8. Scan order: partitions in DynamoDB's hash order, each in sort key order


def _scan_pages(client: Any, name: str, limit: int, **extra: Any) -> list[list[tuple]]:
    pages, request = [], {"TableName": name, "Limit": limit, **extra}
    while True:
        page = client.scan(**request)
        pages.append([(i["pk"].get("S") or i["pk"].get("N"), i["sk"]["S"])
                      for i in page["Items"]])
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_scan_returns_partitions_in_dynamodb_hash_order_not_insertion_order(
        client: Any, table: str) -> None:
    # AWS, recorded: with partitions "A" and "B", a Scan returns A's items first
    # (whatever order they were written in), each partition in its sort key order.
    for sk in ("2", "0", "1"):
        client.put_item(TableName=table, Item={"pk": {"S": "B"}, "sk": {"S": sk}})
    for sk in ("9", "10", "3"):
        client.put_item(TableName=table, Item={"pk": {"S": "A"}, "sk": {"S": sk}})
    pages = _scan_pages(client, table, 2)
    assert [row for page in pages for row in page] == [
        ("A", "10"), ("A", "3"), ("A", "9"), ("B", "0"), ("B", "1"), ("B", "2")]
    assert [len(page) for page in pages] == [2, 2, 2, 0]  # exact-limit pages end open


def test_scan_pages_are_stable_and_a_start_key_need_not_be_an_item(client: Any,
                                                                  table: str) -> None:
    for sk in range(10):
        client.put_item(TableName=table, Item={"pk": {"S": "h"}, "sk": {"S": f"r{sk}"}})
    assert _scan_pages(client, table, 3) == _scan_pages(client, table, 3)
    after = client.scan(TableName=table, Limit=1,
                        ExclusiveStartKey={"pk": {"S": "h"}, "sk": {"S": "r00"}})
    assert after["Items"][0]["sk"] == {"S": "r1"}  # resumes after the position, as on AWS


def test_numeric_partition_keys_hash_by_dynamodb_number_bytes() -> None:
    from lambdashift.dynamodb.types import _number_bytes

    # DynamoDB's number serialization (base-100, Oracle-NUMBER-like) for the scan hash.
    assert _number_bytes(Decimal("1")) == bytes([0xC1, 0x02])
    assert _number_bytes(Decimal("-1")) == bytes([0x3E, 0x64, 0x66])
    assert _number_bytes(Decimal("123456")) == bytes([0xC3, 0x0D, 0x23, 0x39])
    assert _number_bytes(Decimal("0.5")) == bytes([0xC0, 0x33])
    assert _number_bytes(Decimal("0")) == b"\x80"


def test_a_database_written_with_the_old_scan_hash_is_rehashed_once(tmp_path: Any) -> None:
    import zlib

    from lambdashift.dynamodb import api
    from lambdashift.dynamodb.store import Store

    store = Store(tmp_path)
    calls = [
        ("CreateTable", {"TableName": "old", "BillingMode": "PAY_PER_REQUEST",
                         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "g", "AttributeType": "N"}],
                         "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                         "GlobalSecondaryIndexes": [{
                             "IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                             "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}]}),
        *[("PutItem", {"TableName": "old", "Item": {"pk": {"S": f"k{i}"}, "g": {"N": str(i)}}})
          for i in range(5)],
    ]
    for operation, request in calls:
        assert api.handle(store, api.TARGET_PREFIX + operation,
                          json.dumps(request).encode())[0] == 200
    # Put the rows back where the previous layout had them, and mark the file as such.
    store.db.create_function("crc", 1, zlib.crc32)
    store.db.execute("UPDATE t1 SET ph = crc(pk)")
    store.db.execute("UPDATE t1_0 SET ph = crc(pk), tph = crc(tpk)")
    store.db.execute("PRAGMA user_version = 0")
    store.close()
    store = Store(tmp_path)

    def call(operation: str, **request: Any) -> dict[str, Any]:
        status, body = api.handle(store, api.TARGET_PREFIX + operation,
                                  json.dumps(request).encode())
        assert status == 200, body
        return json.loads(body)

    assert call("GetItem", TableName="old", Key={"pk": {"S": "k3"}})["Item"]["g"] == {"N": "3"}
    assert call("Query", TableName="old", IndexName="by-g", KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": {"N": "4"}})["Count"] == 1
    assert call("Scan", TableName="old")["Count"] == 5
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == 1


# ---------------------------------------------------------------------------------------
# 10. Resource-based policies (kept and versioned; not enforced: no IAM locally)

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
    "Action": "dynamodb:GetItem", "Resource": "*"}]})


def test_resource_policy_is_put_read_and_deleted_by_revision(client: Any, table: str) -> None:
    arn = ARN.format(table)
    code, message = error_of(lambda: client.get_resource_policy(ResourceArn=arn))
    assert code == "PolicyNotFoundException"
    assert message == f"Resource-based policy not found for the provided ResourceArn: {arn}"
    first = client.put_resource_policy(ResourceArn=arn, Policy=POLICY,
                                       ExpectedRevisionId="NO_POLICY")["RevisionId"]
    got = client.get_resource_policy(ResourceArn=arn)
    assert (got["Policy"], got["RevisionId"]) == (POLICY, first)
    assert client.put_resource_policy(ResourceArn=arn, Policy=POLICY)["RevisionId"] == first
    code, message = error_of(lambda: client.put_resource_policy(
        ResourceArn=arn, Policy=POLICY.replace("GetItem", "Query"), ExpectedRevisionId="1"))
    assert code == "PolicyNotFoundException" and f"has revision id {first}" in message
    code, _ = error_of(lambda: client.put_resource_policy(
        ResourceArn=arn, Policy=POLICY, ExpectedRevisionId="NO_POLICY"))
    assert code == "PolicyNotFoundException"
    second = client.put_resource_policy(ResourceArn=arn, ExpectedRevisionId=first,
                                        Policy=POLICY.replace("GetItem", "Query"))["RevisionId"]
    assert second != first
    client.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=second)
    assert error_of(lambda: client.get_resource_policy(ResourceArn=arn))[0] == \
        "PolicyNotFoundException"
    assert error_of(lambda: client.delete_resource_policy(ResourceArn=arn))[0] == \
        "ResourceNotFoundException"


def test_create_table_takes_a_resource_policy_and_bad_documents_are_refused(client: Any) -> None:
    name = _name("pol")
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", ResourcePolicy=POLICY,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    assert client.get_resource_policy(ResourceArn=ARN.format(name))["Policy"] == POLICY
    assert "Invalid policy document" in invalid(lambda: client.put_resource_policy(
        ResourceArn=ARN.format(name), Policy="not json"))
    code, _ = error_of(lambda: client.get_resource_policy(ResourceArn=ARN.format("nope-x")))
    assert code == "ResourceNotFoundException"
    elsewhere = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"
    assert error_of(lambda: client.get_resource_policy(ResourceArn=elsewhere))[0] == \
        "ResourceNotFoundException"
    assert "a table ARN" in invalid(lambda: client.get_resource_policy(ResourceArn="arn:x"))


# ---------------------------------------------------------------------------------------
# 10. PartiQL: ExecuteStatement and BatchExecuteStatement


def _partiql_table(client: Any) -> str:
    name = _name("pq")
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}])
    return name


def test_partiql_insert_takes_literals_and_parameters_and_refuses_a_duplicate(
        client: Any) -> None:
    name = _partiql_table(client)
    client.execute_statement(Statement=(
        f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 1, 'on': true, 'tags': <<'x', 'y'>>, "
        "'m': {'k': [1, 'two', null]}}"))
    client.execute_statement(Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': ?, 'sk': ?}}",
                             Parameters=[{"S": "a"}, {"N": "2"}])
    item = client.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    assert item["tags"] == {"SS": ["x", "y"]} and item["on"] == {"BOOL": True}
    assert item["m"] == {"M": {"k": {"L": [{"N": "1"}, {"S": "two"}, {"NULL": True}]}}}
    code, message = error_of(lambda: client.execute_statement(
        Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 1}}"))
    assert (code, message) == ("DuplicateItemException", "Duplicate primary key exists in table")


def test_partiql_select_with_the_partition_key_queries_and_pages_by_next_token(
        client: Any) -> None:
    name = _partiql_table(client)
    for sk in (3, 1, 2):
        client.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": str(sk)},
                                              "n": {"N": str(sk * 10)}})
    client.put_item(TableName=name, Item={"pk": {"S": "b"}, "sk": {"N": "1"}, "n": {"N": "20"}})
    first = client.execute_statement(Statement=f"SELECT sk FROM \"{name}\" WHERE pk = ?",
                                     Parameters=[{"S": "a"}], Limit=2)
    assert first["Items"] == [{"sk": {"N": "1"}}, {"sk": {"N": "2"}}]  # sort key order
    rest = client.execute_statement(Statement=f"SELECT sk FROM \"{name}\" WHERE pk = ?",
                                    Parameters=[{"S": "a"}], NextToken=first["NextToken"])
    assert rest["Items"] == [{"sk": {"N": "3"}}]
    filtered = client.execute_statement(
        Statement=f"SELECT * FROM \"{name}\" WHERE pk = 'a' AND sk BETWEEN 2 AND 3 AND n > 25")
    assert [i["sk"]["N"] for i in filtered["Items"]] == ["3"]
    scanned = client.execute_statement(Statement=f"SELECT pk FROM \"{name}\" WHERE n = 20")
    assert sorted(i["pk"]["S"] for i in scanned["Items"]) == ["a", "b"]  # no key: a scan


def test_partiql_update_needs_the_whole_key_and_an_existing_item(client: Any) -> None:
    name = _partiql_table(client)
    client.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "1"},
                                          "old": {"S": "x"}})
    client.execute_statement(Statement=(
        f"UPDATE \"{name}\" SET n = n + 1 SET label = 'new' REMOVE old "
        "WHERE pk = 'a' AND sk = 1"))
    item = client.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    assert item == {"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "2"}, "label": {"S": "new"}}
    code, _ = error_of(lambda: client.execute_statement(
        Statement=f"UPDATE \"{name}\" SET n = 1 WHERE pk = 'missing' AND sk = 1"))
    assert code == "ConditionalCheckFailedException"
    assert invalid(lambda: client.execute_statement(
        Statement=f"UPDATE \"{name}\" SET n = 1 WHERE pk = 'a'")) == \
        "Where clause does not contain a mandatory equality on all key attributes"


def test_partiql_delete_by_key_with_an_optional_condition(client: Any) -> None:
    name = _partiql_table(client)
    client.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "1"}})
    code, _ = error_of(lambda: client.execute_statement(
        Statement=f"DELETE FROM \"{name}\" WHERE pk = 'a' AND sk = 1 AND n = 99"))
    assert code == "ConditionalCheckFailedException"
    client.execute_statement(Statement=f"DELETE FROM \"{name}\" WHERE pk = 'a' AND sk = 1")
    assert "Item" not in client.get_item(TableName=name,
                                         Key={"pk": {"S": "a"}, "sk": {"N": "1"}})


def test_batch_execute_statement_answers_each_statement_on_its_own(client: Any) -> None:
    name = _partiql_table(client)
    written = client.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 1}}"},
        {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 1}}"},
    ])["Responses"]
    assert "Error" not in written[0]
    assert written[1]["Error"]["Code"] == "DuplicateItem"
    read = client.batch_execute_statement(Statements=[
        {"Statement": f"SELECT * FROM \"{name}\" WHERE pk = 'a' AND sk = 1"},
        {"Statement": f"SELECT * FROM \"{name}\" WHERE pk = 'a'"},
    ])["Responses"]
    assert read[0]["Item"] == {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert read[1]["Error"] == {
        "Code": "ValidationError",
        "Message": "Select statements within BatchExecuteStatement must specify the primary "
                   "key in the where clause."}


def test_partiql_syntax_errors_say_the_statement_is_not_well_formed(client: Any) -> None:
    message = invalid(lambda: client.execute_statement(Statement="SELEC * FROM x"))
    assert message.startswith("Statement wasn't well formed, can't be processed")
    message = invalid(lambda: client.execute_statement(
        Statement="SELECT * FROM tab WHERE pk = ?", Parameters=[]))
    assert message == "Number of parameters in request and statement don't match."


# ---------------------------------------------------------------------------------------
# 10. Global secondary indexes with multi-attribute keys (2025)


@pytest.fixture
def tournaments(client: Any) -> str:
    """Matches keyed by id; index ``by-event`` keyed (tournament, region) then (round, score)."""
    name = _name("mk")
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in (
            ("id", "S"), ("tournament", "S"), ("region", "S"), ("round", "S"), ("score", "N"))],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by-event", "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": "tournament", "KeyType": "HASH"},
                          {"AttributeName": "region", "KeyType": "HASH"},
                          {"AttributeName": "round", "KeyType": "RANGE"},
                          {"AttributeName": "score", "KeyType": "RANGE"}]}])
    rows = [("m1", "WINTER", "EU", "FINAL", "7"), ("m2", "WINTER", "EU", "SEMI", "3"),
            ("m3", "WINTER", "EU", "FINAL", "12"), ("m4", "WINTER", "US", "FINAL", "1"),
            ("m5", "WINTER", "EU", "QUARTER", "5")]
    for key, tournament, region, round_, score in rows:
        client.put_item(TableName=name, Item={
            "id": {"S": key}, "tournament": {"S": tournament}, "region": {"S": region},
            "round": {"S": round_}, "score": {"N": score}})
    client.put_item(TableName=name, Item={"id": {"S": "m6"}, "tournament": {"S": "WINTER"},
                                          "region": {"S": "EU"}})  # no sort key: not indexed
    return name


def _event(client: Any, name: str, condition: str, **values: Any) -> list[str]:
    result = client.query(
        TableName=name, IndexName="by-event", KeyConditionExpression=condition,
        ExpressionAttributeNames={k: v for k, v in (("#r", "round"), ("#region", "region"))
                                  if re.search(k + r"\b", condition)},
        ExpressionAttributeValues={":t": {"S": "WINTER"}, ":g": {"S": "EU"}, **{
            f":{k}": v for k, v in values.items()}})
    return [i["id"]["S"] for i in result["Items"]]


def test_multi_attribute_index_keys_are_described_and_sort_by_each_attribute_in_turn(
        client: Any, tournaments: str) -> None:
    index = client.describe_table(TableName=tournaments)["Table"]["GlobalSecondaryIndexes"][0]
    assert [e["KeyType"] for e in index["KeySchema"]] == ["HASH", "HASH", "RANGE", "RANGE"]
    assert index["ItemCount"] == 5  # m6 lacks sort key attributes
    # Every partition key attribute by equality; rounds in order, scores numerically.
    assert _event(client, tournaments, "tournament = :t AND #region = :g") == [
        "m1", "m3", "m5", "m2"]


def test_multi_attribute_sort_key_conditions_go_left_to_right(client: Any,
                                                             tournaments: str) -> None:
    base = "tournament = :t AND #region = :g AND "
    assert _event(client, tournaments, base + "#r = :f", f={"S": "FINAL"}) == ["m1", "m3"]
    assert _event(client, tournaments, base + "#r = :f AND score > :s",
                  f={"S": "FINAL"}, s={"N": "7"}) == ["m3"]
    assert _event(client, tournaments, base + "#r = :f AND score <= :s",
                  f={"S": "FINAL"}, s={"N": "7"}) == ["m1"]
    assert _event(client, tournaments, base + "#r >= :q", q={"S": "QUARTER"}) == ["m5", "m2"]
    assert _event(client, tournaments, base + "begins_with(#r, :p)", p={"S": "F"}) == [
        "m1", "m3"]
    assert _event(client, tournaments, base + "#r = :f AND score BETWEEN :a AND :b",
                  f={"S": "FINAL"}, a={"N": "5"}, b={"N": "20"}) == ["m1", "m3"]


def test_multi_attribute_key_queries_need_every_partition_attribute_and_no_gaps(
        client: Any, tournaments: str) -> None:
    assert invalid(lambda: client.query(
        TableName=tournaments, IndexName="by-event", KeyConditionExpression="tournament = :t",
        ExpressionAttributeValues={":t": {"S": "WINTER"}})) == \
        "Query condition missed key schema element: region"
    message = invalid(lambda: _event(client, tournaments,
                                     "tournament = :t AND #region = :g AND score = :s",
                                     s={"N": "7"}))
    assert message.startswith("Query key condition not supported")


def test_multi_attribute_index_pages_with_every_key_attribute_in_the_last_key(
        client: Any, tournaments: str) -> None:
    request = dict(TableName=tournaments, IndexName="by-event", Limit=2,
                   KeyConditionExpression="tournament = :t AND #region = :g",
                   ExpressionAttributeNames={"#region": "region"},
                   ExpressionAttributeValues={":t": {"S": "WINTER"}, ":g": {"S": "EU"}})
    first = client.query(**request)
    assert set(first["LastEvaluatedKey"]) == {"id", "tournament", "region", "round", "score"}
    second = client.query(**request, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [i["id"]["S"] for i in first["Items"] + second["Items"]] == ["m1", "m3", "m5", "m2"]


def test_partiql_select_reads_an_index_and_takes_or_in_and_not(client: Any) -> None:
    name = _indexed_table(client, {"ProjectionType": "ALL"})
    client.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": "2"}, "l": {"S": "z"},
                                          "g": {"S": "w"}, "kept": {"S": "q"}})
    by_g = client.execute_statement(Statement=f"SELECT sk FROM \"{name}\".\"by-g\" WHERE g = 'y'")
    assert by_g["Items"] == [{"sk": {"S": "1"}}]
    either = client.execute_statement(
        Statement=f"SELECT sk FROM \"{name}\" WHERE g = 'y' OR kept IN ['q', 'r']")
    assert sorted(i["sk"]["S"] for i in either["Items"]) == ["1", "2"]
    negated = client.execute_statement(
        Statement=f"SELECT sk FROM \"{name}\" WHERE pk = 'p' AND NOT (kept = 'k')")
    assert negated["Items"] == [{"sk": {"S": "2"}}]
