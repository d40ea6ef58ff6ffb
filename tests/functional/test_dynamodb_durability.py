"""Persistence: data survives a restart, and a ``kill -9`` mid-writes leaves a consistent table.

Every write of the server is one SQLite transaction (WAL): after a crash each write is
either wholly there, index rows included, or not at all, and every write the server
acknowledged is there.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.dynamodb.server import start_process
from tests.functional.test_notes_handlers import CONFIG
from tests.reliability_log import record

NOTES_TABLE = CONFIG["tables"]["notes"]


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def _list_ids(endpoint: str) -> list[str]:
    table = boto3.resource(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    ).Table("notes")
    ids, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = table.query(IndexName="by-created", KeyConditionExpression=Key("kind").eq("note"),
                           ScanIndexForward=False, Limit=50, **extra)
        ids += [item["id"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return ids


def _all_items(client: Any) -> dict[str, dict[str, Any]]:
    items, start = {}, None
    while True:
        page = client.scan(TableName="notes", **({"ExclusiveStartKey": start} if start else {}))
        items.update({item["id"]["S"]: item for item in page["Items"]})
        start = page.get("LastEvaluatedKey")
        if start is None:
            return items


def test_tables_items_and_indexes_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_process(data)
    client = _client(server.endpoint)
    client.create_table(TableName="notes", **NOTES_TABLE)
    for i in range(30):
        client.put_item(TableName="notes", Item={
            "id": {"S": f"n{i:02d}"}, "kind": {"S": "note"}, "sk": {"S": f"2024-{i:02d}"},
            "n": {"N": f"{i}.5"}})
    client.delete_item(TableName="notes", Key={"id": {"S": "n00"}})
    before = _list_ids(server.endpoint)
    server.stop()
    assert (data / "dynamodb.sqlite3").is_file()

    again = start_process(data)
    try:
        client = _client(again.endpoint)
        assert client.list_tables()["TableNames"] == ["notes"]
        table = client.describe_table(TableName="notes")["Table"]
        assert table["ItemCount"] == 29 and table["GlobalSecondaryIndexes"][0]["ItemCount"] == 29
        assert _list_ids(again.endpoint) == before == [f"n{i:02d}" for i in range(29, 0, -1)]
        assert client.get_item(TableName="notes", Key={"id": {"S": "n07"}})["Item"]["n"] == {
            "N": "7.5"}
    finally:
        again.stop()


def test_in_memory_keeps_nothing_after_a_restart() -> None:
    server = start_process(None)
    _client(server.endpoint).create_table(TableName="notes", **NOTES_TABLE)
    server.stop()
    again = start_process(None)
    try:
        assert _client(again.endpoint).list_tables()["TableNames"] == []
    finally:
        again.stop()


def test_kill_9_mid_writes_leaves_every_write_whole(tmp_path: Path) -> None:
    """Writers hammer the server; SIGKILL; after a restart nothing is half-written.

    Each round of a writer is one TransactWriteItems writing the same round number into
    its two items (``a``, ``b``) and moving both in the list index, and one UpdateItem that
    changes an index key. After the crash each pair must agree, the index must hold exactly
    the items with index keys, in order, and every acknowledged round must be there.
    """
    data = tmp_path / "data"
    server = start_process(data)
    client = _client(server.endpoint)
    client.create_table(TableName="notes", **NOTES_TABLE)
    writers = 2  # two clients at once, each with its own pair of items
    acknowledged = [-1] * writers
    stop = threading.Event()

    def write(writer_number: int) -> None:
        writer = _client(server.endpoint)
        number = 0
        while not stop.is_set():
            item = {"kind": {"S": "note"}, "sk": {"S": f"{number:09d}-{writer_number}"},
                    "round": {"N": str(number)}, "pad": {"S": "x" * 2000}}
            try:
                writer.transact_write_items(TransactItems=[
                    {"Put": {"TableName": "notes", "Item": {"id": {"S": f"a{writer_number}"}, **item}}},
                    {"Put": {"TableName": "notes", "Item": {"id": {"S": f"b{writer_number}"}, **item}}},
                ])
                writer.update_item(
                    TableName="notes", Key={"id": {"S": f"u{writer_number}-{number % 50}"}},
                    UpdateExpression="SET kind = :k, sk = :s, round = :r",
                    ExpressionAttributeValues={":k": {"S": "note"}, ":s": {"S": f"{number:09d}"},
                                               ":r": {"N": str(number)}})
            except (ClientError, BotoCoreError):
                return  # the server is gone
            acknowledged[writer_number] = number
            number += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    server.kill()  # SIGKILL, mid-write
    stop.set()
    for thread in threads:
        thread.join(10)
    assert min(acknowledged) > 20, "the writers did not get going"

    with sqlite3.connect(data / "dynamodb.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    again = start_process(data)
    try:
        client = _client(again.endpoint)
        items = _all_items(client)
        for writer_number, last in enumerate(acknowledged):
            a, b = items[f"a{writer_number}"], items[f"b{writer_number}"]
            assert a["round"] == b["round"], "a transaction was applied in half"
            assert int(a["round"]["N"]) >= last, "an acknowledged write was lost"
        # The index holds exactly the items with index keys, in the order of their sk (ties
        # in the order of the table's key).
        listed = _list_ids(again.endpoint)
        expected = sorted((i for i in items.values() if "kind" in i),
                          key=lambda i: (i["sk"]["S"], i["id"]["S"]), reverse=True)
        assert listed == [i["id"]["S"] for i in expected]
        described = client.describe_table(TableName="notes")["Table"]
        assert described["ItemCount"] == len(items)
        assert described["GlobalSecondaryIndexes"][0]["ItemCount"] == len(expected)
        record("kill -9", "SIGKILL of the DynamoDB server mid TransactWriteItems + UpdateItem, then restart",
               sum(n + 1 for n in acknowledged), "0 transactions applied in half, 0 acknowledged rounds "
               "lost, the index matches the table", 0)
    finally:
        again.stop()


def test_a_stopped_server_folds_its_journal_into_the_database(tmp_path: Path) -> None:
    """After SIGTERM the database file alone holds everything (no WAL left behind)."""
    data = tmp_path / "data"
    server = start_process(data)
    client = _client(server.endpoint)
    client.create_table(TableName="notes", **NOTES_TABLE)
    client.put_item(TableName="notes", Item={"id": {"S": "x"}})
    server.stop()
    assert not (data / "dynamodb.sqlite3-wal").exists() or (
        data / "dynamodb.sqlite3-wal").stat().st_size == 0
    with sqlite3.connect(data / "dynamodb.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM tables").fetchone() == (1,)
