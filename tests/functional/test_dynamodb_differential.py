"""The same boto3 calls against lambdashift's DynamoDB and moto's server: same answers.

Each test makes a fresh notes table (lambdashift.yaml's CreateTable parameters) on both
servers and runs one sequence of calls, the way the notes service makes them (resource
and client API), on each. Results are compared whole: items, counts, page boundaries,
``LastEvaluatedKey``, error codes, and error messages where moto words them as AWS does.

Where moto departs from DynamoDB the tests do not follow moto; those cases are checked
against AWS's documented behaviour in ``test_dynamodb_api.py`` instead:

* moto returns ``ConsumedCapacity``/``ItemCollectionMetrics`` nobody asked for: dropped;
* moto omits ``LastEvaluatedKey`` when a page ends exactly at ``Limit`` (DynamoDB does not
  look ahead, so it returns one): page sizes here never divide the item count;
* moto keeps numbers as sent (``1.50``); DynamoDB canonicalises them (``1.5``). Through
  boto3 both are the same Decimal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdashift.dynamodb.server import DynamoProcess, start_process
from tests.functional.test_notes_handlers import CONFIG, dynamodb_endpoint  # noqa: F401 - moto

NOTES_TABLE = CONFIG["tables"]["notes"]
_UNASKED = ("ConsumedCapacity", "ItemCollectionMetrics", "ResponseMetadata")


@pytest.fixture(scope="session")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoProcess]:
    """lambdashift's DynamoDB in a child process, on disk."""
    proc = start_process(tmp_path_factory.mktemp("dynamodb") / "data")
    yield proc
    proc.stop()


def _clients(endpoint: str) -> tuple[Any, Any]:
    options = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}),
    )
    return boto3.client("dynamodb", **options), boto3.resource("dynamodb", **options)


def _clean(result: Any) -> Any:
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if k not in _UNASKED}
    return result


class Twin:
    """One table on both servers; runs a call on each and compares the outcomes."""

    def __init__(self, ours: str, moto: str, table: str) -> None:
        self.table = table
        self.sides = {"ours": _clients(ours), "moto": _clients(moto)}

    def run(self, call: Callable[[Any, Any], Any]) -> dict[str, Any]:
        """``call(client, table resource)`` on both: its result, or ``("error", code, message)``."""
        outcomes = {}
        for side, (client, resource) in self.sides.items():
            try:
                outcomes[side] = _clean(call(client, resource.Table(self.table)))
            except ClientError as exc:
                error = exc.response["Error"]
                outcomes[side] = ("error", error["Code"], error["Message"])
        return outcomes

    def same(self, call: Callable[[Any, Any], Any]) -> Any:
        """Run on both, assert the outcomes are equal, and return ours."""
        outcomes = self.run(call)
        assert outcomes["ours"] == outcomes["moto"]
        return outcomes["ours"]

    def same_error(self, call: Callable[[Any, Any], Any], code: str,
                   message: str | None = None) -> None:
        """Both refuse the call with ``code`` (and, if given, the same exact ``message``)."""
        outcomes = self.run(call)
        for side, outcome in outcomes.items():
            assert isinstance(outcome, tuple) and outcome[:2] == ("error", code), f"{side}: {outcome}"
            if message is not None:
                assert outcome[2] == message, f"{side}: {outcome[2]}"


@pytest.fixture
def twin(ours: DynamoProcess, dynamodb_endpoint: str) -> Twin:  # noqa: F811 - moto's endpoint
    """A fresh notes table on both servers."""
    table = f"notes-{uuid.uuid4().hex[:10]}"
    pair = Twin(ours.endpoint, dynamodb_endpoint, table)
    pair.same(lambda c, t: c.create_table(TableName=table, **NOTES_TABLE)["TableDescription"][
        "TableStatus"])
    return pair


def note(i: int, **extra: Any) -> dict[str, Any]:
    """A note as the service writes it: id, title, content, and the list index keys."""
    note_id = f"{i:08d}-0000-4000-8000-000000000000"
    created = f"2024-01-01T00:00:{i // 1000:02d}.{i % 1000:03d}000Z"
    return {"id": note_id, "title": f"note {i}", "content": "text", "kind": "note",
            "sk": f"{created}#{note_id}", **extra}


def put_note(t: Any, item: dict[str, Any]) -> Any:
    """notes-create's write: a put that refuses to overwrite."""
    return t.put_item(Item=item, ConditionExpression="attribute_not_exists(#id)",
                      ExpressionAttributeNames={"#id": "id"})


def test_create_get_update_delete_like_the_notes_service(twin: Twin) -> None:
    first = note(1)
    twin.same(lambda c, t: put_note(t, first))
    twin.same_error(lambda c, t: put_note(t, {**first, "title": "overwrite"}),
                    "ConditionalCheckFailedException", "The conditional request failed")
    got = twin.same(lambda c, t: t.get_item(Key={"id": first["id"]}, ConsistentRead=True))
    assert got["Item"] == first
    assert twin.same(lambda c, t: t.get_item(Key={"id": "nope"}, ConsistentRead=True)) == {}

    def update(note_id: str) -> Callable[[Any, Any], Any]:
        changes = {"title": "renamed", "updated_at": "2024-02-02T00:00:00.000000Z"}
        return lambda c, t: t.update_item(
            Key={"id": note_id},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in changes),
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#id": "id", **{f"#{k}": k for k in changes}},
            ExpressionAttributeValues={f":{k}": v for k, v in changes.items()},
            ReturnValues="ALL_NEW",
        )

    updated = twin.same(update(first["id"]))["Attributes"]
    assert updated["title"] == "renamed" and updated["sk"] == first["sk"]
    twin.same_error(update("missing"), "ConditionalCheckFailedException")
    assert twin.same(lambda c, t: t.get_item(Key={"id": "missing"})) == {}  # no half note

    def delete(c: Any, t: Any) -> Any:
        return t.delete_item(Key={"id": first["id"]}, ConditionExpression="attribute_exists(#id)",
                             ExpressionAttributeNames={"#id": "id"}, ReturnValues="ALL_OLD")

    assert twin.same(delete)["Attributes"] == updated
    twin.same_error(delete, "ConditionalCheckFailedException", "The conditional request failed")


def _pages(t: Any, limit: int, forward: bool = False, **extra: Any) -> list[tuple]:
    """Every page of the list index: (ids, Count, ScannedCount, LastEvaluatedKey)."""
    pages = []
    start = None
    while True:
        query = dict(IndexName="by-created", KeyConditionExpression=Key("kind").eq("note"),
                     ScanIndexForward=forward, Limit=limit, **extra)
        if start is not None:
            query["ExclusiveStartKey"] = start
        result = t.query(**query)
        start = result.get("LastEvaluatedKey")
        pages.append(([i["id"] for i in result["Items"]], result["Count"],
                      result["ScannedCount"], start))
        if start is None:
            return pages


@pytest.mark.parametrize("limit", [2, 3, 7, 100])  # 23 is prime: no exact last page
def test_gsi_list_newest_first_pages_identically(twin: Twin, limit: int) -> None:
    # 23 notes, written out of order: the index, not the write order, sorts them.
    order = [(i * 7) % 23 for i in range(23)]
    for i in order:
        twin.same(lambda c, t, i=i: put_note(t, note(i)))
    pages = twin.same(lambda c, t: _pages(t, limit))
    ids = [note_id for page in pages for note_id in page[0]]
    assert ids == [note(i)["id"] for i in reversed(range(23))]
    assert pages[0][3] is None or set(pages[0][3]) == {"id", "kind", "sk"}  # table + index key
    assert twin.same(lambda c, t: _pages(t, limit, forward=True))[0][0][0] == note(0)["id"]


def test_gsi_is_sparse_and_follows_key_changes(twin: Twin) -> None:
    twin.same(lambda c, t: put_note(t, note(1)))
    unlisted = {k: v for k, v in note(2).items() if k not in ("kind", "sk")}
    twin.same(lambda c, t: t.put_item(Item=unlisted))
    assert twin.same(lambda c, t: _pages(t, 10))[0][0] == [note(1)["id"]]
    # Giving the unlisted note its keys lists it; removing them unlists the other.
    twin.same(lambda c, t: t.update_item(
        Key={"id": unlisted["id"]}, UpdateExpression="SET kind = :k, sk = :s",
        ExpressionAttributeValues={":k": "note", ":s": note(2)["sk"]}))
    twin.same(lambda c, t: t.update_item(Key={"id": note(1)["id"]}, UpdateExpression="REMOVE sk"))
    assert twin.same(lambda c, t: _pages(t, 10))[0][0] == [note(2)["id"]]


@pytest.mark.parametrize(
    "condition",
    [
        Key("kind").eq("note") & Key("sk").begins_with("2024-01-01T00:00:00.01"),
        Key("kind").eq("note") & Key("sk").between("2024-01-01T00:00:00.005", "2024-01-01T00:00:00.012"),
        Key("kind").eq("note") & Key("sk").lt("2024-01-01T00:00:00.004"),
        Key("kind").eq("note") & Key("sk").lte(note(4)["sk"]),
        Key("kind").eq("note") & Key("sk").gt(note(15)["sk"]),
        Key("kind").eq("note") & Key("sk").gte(note(15)["sk"]),
        Key("kind").eq("note") & Key("sk").eq(note(9)["sk"]),
        Key("kind").eq("other"),
    ],
)
def test_sort_key_conditions_select_the_same_range(twin: Twin, condition: Any) -> None:
    for i in range(20):
        twin.same(lambda c, t, i=i: put_note(t, note(i)))
    for forward in (True, False):
        result = twin.same(lambda c, t: t.query(IndexName="by-created",
                                                KeyConditionExpression=condition,
                                                ScanIndexForward=forward))
        assert result["Count"] == len(result["Items"])


def test_filter_applies_after_limit_and_counts_both_ways(twin: Twin) -> None:
    for i in range(12):
        twin.same(lambda c, t, i=i: put_note(t, note(i, size=Decimal(i))))
    result = twin.same(lambda c, t: t.query(
        IndexName="by-created", KeyConditionExpression=Key("kind").eq("note"),
        FilterExpression=Attr("size").gte(8) | Attr("title").eq("note 1"), Limit=5,
        ScanIndexForward=False))
    assert result["ScannedCount"] == 5 and result["Count"] == 4
    counted = twin.same(lambda c, t: t.query(
        IndexName="by-created", KeyConditionExpression=Key("kind").eq("note"), Select="COUNT",
        FilterExpression=Attr("size").lt(3)))
    assert counted == {"Count": 3, "ScannedCount": 12}
    projected = twin.same(lambda c, t: t.query(
        KeyConditionExpression=Key("id").eq(note(3)["id"]), ProjectionExpression="title, #s",
        ExpressionAttributeNames={"#s": "size"}))
    assert projected["Items"] == [{"title": "note 3", "size": Decimal(3)}]


def test_decimal_numbers_round_trip(twin: Twin) -> None:
    numbers = {"a": Decimal("1.50"), "b": Decimal("-0.001"), "c": Decimal("0"),
               "d": Decimal("12345678901234567890123456789012345678"),
               "e": Decimal("-9.87654321E-50"), "f": Decimal(10) ** 30,
               "g": {Decimal(1), Decimal("2.5")}, "h": [Decimal("3.14"), {"x": Decimal(7)}]}
    twin.same(lambda c, t: t.put_item(Item={"id": "numbers", **numbers}))
    assert twin.same(lambda c, t: t.get_item(Key={"id": "numbers"}))["Item"] == {
        "id": "numbers", **numbers}
    added = twin.same(lambda c, t: t.update_item(
        Key={"id": "numbers"}, UpdateExpression="SET a = a + :x, b = b - :x ADD c :x",
        ExpressionAttributeValues={":x": Decimal("0.25")}, ReturnValues="UPDATED_NEW"))
    assert added["Attributes"] == {"a": Decimal("1.75"), "b": Decimal("-0.251"),
                                   "c": Decimal("0.25")}


def test_scan_reads_everything_in_pages(twin: Twin) -> None:
    for i in range(17):
        twin.same(lambda c, t, i=i: put_note(t, note(i, n=Decimal(i))))

    def scan_all(c: Any, t: Any, **extra: Any) -> tuple[list[str], int, int]:
        ids, count, scanned, start = [], 0, 0, None
        while True:
            result = t.scan(Limit=5, **extra, **({"ExclusiveStartKey": start} if start else {}))
            ids += [item["id"] for item in result["Items"]]
            count, scanned = count + result["Count"], scanned + result["ScannedCount"]
            start = result.get("LastEvaluatedKey")
            if start is None:
                return sorted(ids), count, scanned

    # Scan order is the server's own (DynamoDB: partition hash order): compare as sets.
    ids, count, scanned = twin.same(scan_all)
    assert len(ids) == 17 == count == scanned
    filtered = twin.same(lambda c, t: scan_all(c, t, FilterExpression=Attr("n").between(3, 6)))
    assert filtered[1:] == (4, 17)
    assert twin.same(lambda c, t: t.scan(Select="COUNT")) == {"Count": 17, "ScannedCount": 17}


def test_batch_writes_and_gets(twin: Twin) -> None:
    def write_many(c: Any, t: Any) -> None:
        with t.batch_writer() as batch:  # 40 puts: two BatchWriteItem calls
            for i in range(40):
                batch.put_item(Item=note(i))

    twin.same(write_many)
    twin.same(lambda c, t: c.batch_write_item(RequestItems={twin.table: [
        {"DeleteRequest": {"Key": {"id": {"S": note(i)["id"]}}}} for i in range(5)
    ] + [{"PutRequest": {"Item": {"id": {"S": "extra"}, "kind": {"S": "note"},
                                  "sk": {"S": "9999"}}}}]}))

    def get_some(c: Any, t: Any) -> list[str]:
        keys = [{"id": {"S": note(i)["id"]}} for i in range(0, 10)]
        result = c.batch_get_item(RequestItems={twin.table: {"Keys": keys,
                                                             "ProjectionExpression": "id"}})
        assert result["UnprocessedKeys"] == {}
        return sorted(item["id"]["S"] for item in result["Responses"][twin.table])

    assert twin.same(get_some) == [note(i)["id"] for i in range(5, 10)]
    assert twin.same(lambda c, t: t.scan(Select="COUNT"))["Count"] == 36
    twin.same_error(lambda c, t: c.batch_write_item(RequestItems={twin.table: [
        {"PutRequest": {"Item": {"id": {"S": "dup"}}}},
        {"PutRequest": {"Item": {"id": {"S": "dup"}}}},
    ]}), "ValidationException", "Provided list of item keys contains duplicates")


ITEM = {"id": "c", "n": Decimal(5), "t": "hello", "s": {"p", "q"}, "l": ["x", Decimal(2)],
        "m": {"k": {"z": Decimal(1)}}, "e": "", "b": True}


@pytest.mark.parametrize(
    ("condition", "values"),
    [
        ("n = :v", {":v": 5}),
        ("n = :v", {":v": 6}),
        ("n <> :v", {":v": 5}),
        ("n <> :v", {":v": "5"}),
        ("n < :v", {":v": 6}),
        ("n >= :v", {":v": 6}),
        ("t > :v", {":v": "hallo"}),
        ("n BETWEEN :a AND :b", {":a": 1, ":b": 5}),
        ("n BETWEEN :a AND :b", {":a": 6, ":b": 9}),
        ("n IN (:a, :b)", {":a": 1, ":b": 5}),
        ("t IN (:a, :b)", {":a": "x", ":b": "y"}),
        ("begins_with(t, :v)", {":v": "he"}),
        ("begins_with(t, :v)", {":v": "lo"}),
        ("contains(t, :v)", {":v": "ell"}),
        ("contains(s, :v)", {":v": "p"}),
        ("contains(s, :v)", {":v": "z"}),
        ("contains(l, :v)", {":v": "x"}),
        ("size(t) = :v", {":v": 5}),
        ("size(s) > :v", {":v": 1}),
        ("size(l) < :v", {":v": 2}),
        ("attribute_type(s, :v)", {":v": "SS"}),
        ("attribute_type(n, :v)", {":v": "S"}),
        ("attribute_exists(m.k.z) AND l[0] = :v", {":v": "x"}),
        ("attribute_not_exists(m.k.y) OR n = :v", {":v": 0}),
        ("NOT (n = :a OR n = :b)", {":a": 1, ":b": 2}),
        ("n = :a OR n = :b AND t = :c", {":a": 5, ":b": 1, ":c": "x"}),
        ("(n = :a OR n = :b) AND t = :c", {":a": 5, ":b": 1, ":c": "x"}),
        ("e = :v AND b = :t", {":v": "", ":t": True}),
    ],
)
def test_conditions_decide_alike(twin: Twin, condition: str, values: dict[str, Any]) -> None:
    twin.same(lambda c, t: t.put_item(Item=ITEM))
    twin.same(lambda c, t: t.update_item(
        Key={"id": "c"}, UpdateExpression="SET touched = :one", ConditionExpression=condition,
        ExpressionAttributeValues={**values, ":one": 1}))
    twin.same(lambda c, t: t.get_item(Key={"id": "c"}))


def test_update_expressions_and_return_values(twin: Twin) -> None:
    twin.same(lambda c, t: t.put_item(Item=ITEM))
    steps = [
        ("SET c = if_not_exists(c, :z) + :one, l = list_append(l, :more), m.k.y = :one "
         "REMOVE t ADD s :s2", "UPDATED_NEW"),
        ("SET c = if_not_exists(c, :z) + :one, l[0] = :one REMOVE l[1] DELETE s :s3", "ALL_NEW"),
        ("SET c = c - :one", "UPDATED_OLD"),
        ("REMOVE m.k.z, e", "ALL_OLD"),
    ]
    values = {":z": 0, ":one": 1, ":more": ["y"], ":s2": {"r"}, ":s3": {"p"}}
    for expression, returns in steps:
        used = {k: v for k, v in values.items() if k in expression}
        extra = {"ExpressionAttributeValues": used} if used else {}
        twin.same(lambda c, t, e=expression, r=returns, x=extra: t.update_item(
            Key={"id": "c"}, UpdateExpression=e, ReturnValues=r, **x))
    twin.same(lambda c, t: t.update_item(
        Key={"id": "fresh"}, UpdateExpression="SET a = :one ADD hits :one",
        ExpressionAttributeValues={":one": 1}, ReturnValues="ALL_NEW"))
    twin.same(lambda c, t: t.get_item(Key={"id": "c"}, ProjectionExpression="m.k, l[0], s"))


def test_transactions_apply_all_or_nothing(twin: Twin) -> None:
    table = twin.table
    ok = [
        {"Put": {"TableName": table, "Item": {"id": {"S": "t1"}},
                 "ConditionExpression": "attribute_not_exists(id)"}},
        {"Update": {"TableName": table, "Key": {"id": {"S": "t2"}},
                    "UpdateExpression": "SET x = :x", "ExpressionAttributeValues": {":x": {"S": "y"}}}},
    ]
    twin.same(lambda c, t: c.transact_write_items(TransactItems=ok))
    failing = [
        {"Put": {"TableName": table, "Item": {"id": {"S": "t3"}}}},
        {"Delete": {"TableName": table, "Key": {"id": {"S": "t1"}},
                    "ConditionExpression": "attribute_not_exists(id)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
    ]

    def cancelled(c: Any, t: Any) -> Any:
        with pytest.raises(ClientError) as caught:
            c.transact_write_items(TransactItems=failing)
        return caught.value.response["Error"]["Code"], caught.value.response["CancellationReasons"]

    code, reasons = twin.same(cancelled)
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert twin.same(lambda c, t: t.get_item(Key={"id": "t3"})) == {}  # nothing applied
    got = twin.same(lambda c, t: c.transact_get_items(TransactItems=[
        {"Get": {"TableName": table, "Key": {"id": {"S": k}}}} for k in ("t1", "t2", "t9")]))
    assert got["Responses"][2] == {}
    twin.same_error(lambda c, t: c.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"id": {"S": "same"}}}},
        {"Delete": {"TableName": table, "Key": {"id": {"S": "same"}}}},
    ]), "ValidationException",
        "Transaction request cannot include multiple operations on one item")


def test_condition_failure_can_return_the_item(twin: Twin) -> None:
    twin.same(lambda c, t: put_note(t, note(1)))

    def failure(c: Any, t: Any) -> Any:
        with pytest.raises(ClientError) as caught:
            c.put_item(TableName=twin.table, Item={"id": {"S": note(1)["id"]}},
                       ConditionExpression="attribute_not_exists(id)",
                       ReturnValuesOnConditionCheckFailure="ALL_OLD")
        return caught.value.response["Error"]["Code"], caught.value.response.get("Item")

    code, item = twin.same(failure)
    assert code == "ConditionalCheckFailedException" and item["title"] == {"S": "note 1"}


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (lambda c, t: t.put_item(Item={"title": "no key"}), "ValidationException",
         "One or more parameter values were invalid: Missing the key id in the item"),
        (lambda c, t: c.put_item(TableName=t.name, Item={"id": {"N": "1"}}), "ValidationException",
         "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N"),
        (lambda c, t: t.put_item(Item={"id": "x", "kind": ""}), "ValidationException", None),
        (lambda c, t: t.put_item(Item={"id": "x", "big": "x" * 410_000}), "ValidationException",
         "Item size has exceeded the maximum allowed size"),
        (lambda c, t: t.get_item(Key={"other": "x"}), "ValidationException",
         "The provided key element does not match the schema"),
        (lambda c, t: c.get_item(TableName="no-such-table", Key={"id": {"S": "x"}}),
         "ResourceNotFoundException", "Requested resource not found"),
        (lambda c, t: c.describe_table(TableName="no-such-table"), "ResourceNotFoundException",
         "Requested resource not found: Table: no-such-table not found"),
        (lambda c, t: c.create_table(TableName=t.name, **NOTES_TABLE), "ResourceInUseException",
         None),
        (lambda c, t: t.put_item(Item={"id": "x"}, ConditionExpression="attribute_exists(name)"),
         "ValidationException",
         "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"),
        (lambda c, t: t.update_item(Key={"id": "x"}, UpdateExpression="ADD counter :v",
                                    ExpressionAttributeValues={":v": 1}), "ValidationException",
         "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: counter"),
        (lambda c, t: t.update_item(Key={"id": "x"}, UpdateExpression="SET id = :v",
                                    ExpressionAttributeValues={":v": "y"}),
         "ValidationException", "One or more parameter values were invalid: Cannot update "
                                "attribute id. This attribute is part of the key"),
        (lambda c, t: t.update_item(Key={"id": "x"}, UpdateExpression="SET a = nothing + :v",
                                    ExpressionAttributeValues={":v": 1}),
         "ValidationException",
         "The provided expression refers to an attribute that does not exist in the item"),
        (lambda c, t: t.put_item(Item={"id": "x"}, ReturnValues="ALL_NEW"), "ValidationException",
         "Return values set to invalid value"),
        (lambda c, t: t.query(IndexName="by-created", KeyConditionExpression=Key("sk").eq("x")),
         "ValidationException", "Query condition missed key schema element: kind"),
        (lambda c, t: t.query(IndexName="by-created", ConsistentRead=True,
                              KeyConditionExpression=Key("kind").eq("note")),
         "ValidationException", "Consistent reads are not supported on global secondary indexes"),
        (lambda c, t: t.query(IndexName="by-created", KeyConditionExpression="kind < :v",
                              ExpressionAttributeValues={":v": "x"}),
         "ValidationException", "Query key condition not supported"),
        (lambda c, t: t.scan(Segment=1), "ValidationException", None),
    ],
)
def test_invalid_requests_are_refused_alike(twin: Twin, call: Callable, code: str,
                                            message: str | None) -> None:
    twin.same_error(call, code, message)


def test_table_lifecycle(twin: Twin, tmp_path: Path) -> None:
    described = twin.run(lambda c, t: c.describe_table(TableName=t.name)["Table"])
    for side in ("ours", "moto"):
        table = described[side]
        assert table["TableStatus"] == "ACTIVE" and table["KeySchema"] == NOTES_TABLE["KeySchema"]
        assert table["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    for i in range(3):
        twin.same(lambda c, t, i=i: put_note(t, note(i)))
    assert twin.same(lambda c, t: c.describe_table(TableName=t.name)["Table"]["ItemCount"]) == 3
    assert twin.same(lambda c, t: twin.table in [
        n for page in c.get_paginator("list_tables").paginate() for n in page["TableNames"]])
    twin.same(lambda c, t: c.delete_table(TableName=t.name)["TableDescription"]["TableName"])
    twin.same_error(lambda c, t: t.get_item(Key={"id": "x"}), "ResourceNotFoundException")
