"""The SQLite store's key-ordered reads against a brute-force model (in memory, no server).

Every sort key condition, both directions, every start position: the rows must be those
a sort of all items in DynamoDB's key order would give, which is what makes paging exact.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from lambdashift.dynamodb.definitions import parse_create_table
from lambdashift.dynamodb.keys import key_of
from lambdashift.dynamodb.store import Store
from lambdashift.dynamodb.types import canonical_number, encode_key

TABLE = {
    "TableName": "scores",
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": "p", "AttributeType": "S"},
        {"AttributeName": "n", "AttributeType": "N"},
        {"AttributeName": "g", "AttributeType": "S"},
        {"AttributeName": "s", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                  {"AttributeName": "n", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [{
        "IndexName": "by-s",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                      {"AttributeName": "s", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
}


@pytest.fixture(scope="module")
def loaded() -> tuple[Store, Any, list[dict[str, Any]]]:
    rng = random.Random(3)
    store = Store(None)
    schema = parse_create_table(TABLE)
    store.create_table(schema)
    items = []
    for i in range(300):
        number = canonical_number(str(rng.choice([-1, 1]) * rng.randint(0, 10**6) / 100))
        item = {"p": {"S": rng.choice(["a", "b"])}, "n": {"N": number}, "i": {"N": str(i)}}
        if rng.random() < 0.8:  # the rest are not in the (sparse) index
            item["g"] = {"S": "g"}
            item["s"] = {"S": rng.choice(["", "a", "ab", "abc", "b", "ba", "\u00e9", "z"])
                         + rng.choice(["", "x", "y"])}
        key = key_of(schema.key, item)
        assert key is not None
        old = store.get("scores", key)
        store.write("scores", key, old, item, 10)
        items.append(item)
    # Later writes with the same key replaced earlier ones.
    unique = {json.dumps(key_of(schema.key, i)[1:], default=list): i for i in items}  # type: ignore
    return store, schema, list(unique.values())


def _model(rows: list[tuple[bytes, ...]], condition: tuple, forward: bool,
           start: tuple | None) -> list[tuple[bytes, ...]]:
    """The brute-force answer: filter by condition on the first column, order, resume."""
    def matches(sk: bytes) -> bool:
        if not condition:
            return True
        op, *values = condition
        return {
            "=": lambda: sk == values[0], "<": lambda: sk < values[0],
            "<=": lambda: sk <= values[0], ">": lambda: sk > values[0],
            ">=": lambda: sk >= values[0], "BETWEEN": lambda: values[0] <= sk <= values[1],
            "begins_with": lambda: sk.startswith(values[0]),
        }[op]()

    chosen = sorted((r for r in rows if matches(r[0])), reverse=not forward)
    if start is not None:
        chosen = [r for r in chosen if (r > start if forward else r < start)]
    return chosen


def _conditions(values: list[bytes]) -> list[tuple]:
    conditions: list[tuple] = [()]
    for value in values:
        conditions += [(op, value) for op in ("=", "<", "<=", ">", ">=")]
    conditions += [("BETWEEN", values[1], values[-2]), ("BETWEEN", values[3], values[3])]
    return conditions


def test_table_queries_match_the_model(loaded: tuple[Store, Any, list[dict[str, Any]]]) -> None:
    store, schema, items = loaded
    partition = [i for i in items if i["p"] == {"S": "a"}]
    rows = sorted((encode_key(i["n"]),) for i in partition)
    values = [rows[0][0], rows[len(rows) // 3][0], rows[len(rows) // 2][0], rows[-1][0],
              encode_key({"N": "0"})]
    for condition in _conditions(values):
        for forward in (True, False):
            expected = _model(rows, condition, forward, None)
            for start in [None, *expected[:: max(1, len(expected) // 4)]]:
                got = [
                    (encode_key(json.loads(raw)["n"]),)
                    for _, raw in store.query("scores", None, b"a", condition, forward, start, None)
                ]
                assert got == _model(rows, condition, forward, start), (condition, forward, start)


def test_index_queries_with_ties_match_the_model(
    loaded: tuple[Store, Any, list[dict[str, Any]]],
) -> None:
    store, schema, items = loaded
    index = schema.indexes[0]
    rows = sorted((encode_key(i["s"]), encode_key(i["p"]), encode_key(i["n"]))
                  for i in items if "g" in i)
    assert len({r[0] for r in rows}) < len(rows) / 5  # plenty of ties on the sort key
    prefixes = [b"", b"a", b"ab", b"\xc3", b"z"]
    conditions = _conditions([b"", b"a", b"ab", b"b", b"ba", b"zz"]) + [
        ("begins_with", p) for p in prefixes]
    for condition in conditions:
        for forward in (True, False):
            expected = _model(rows, condition, forward, None)
            for start in [None, *expected[:: max(1, len(expected) // 5)]]:
                for limit in (None, 7):
                    got = []
                    for _, raw in store.query("scores", index, b"g", condition, forward, start,
                                              limit):
                        item = json.loads(raw)
                        got.append((encode_key(item["s"]), encode_key(item["p"]),
                                    encode_key(item["n"])))
                    want = _model(rows, condition, forward, start)
                    assert got == (want if limit is None else want[:limit]), (
                        condition, forward, start, limit)


def test_a_scan_in_segments_visits_each_item_once(
    loaded: tuple[Store, Any, list[dict[str, Any]]],
) -> None:
    store, schema, items = loaded
    seen = []
    for segment in range(3):
        start = None
        while True:
            rows = list(store.scan("scores", None, start, (segment, 3), 11))
            for _, raw in rows:
                item = json.loads(raw)
                seen.append((item["p"]["S"], item["n"]["N"]))
            if len(rows) < 11:
                break
            last = json.loads(rows[-1][1])
            start = key_of(schema.key, last)
    assert sorted(seen) == sorted((i["p"]["S"], i["n"]["N"]) for i in items)
