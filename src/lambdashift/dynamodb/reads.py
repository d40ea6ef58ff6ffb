"""Query and Scan: one page read in key order, DynamoDB's way.

A page ends at ``Limit`` items read or at 1 MB of them, whichever comes first, and then
carries ``LastEvaluatedKey`` (the table's key of the last item read, plus the index's key
when reading an index), even if no item follows: DynamoDB only knows it stopped. The
FilterExpression is applied to the items read, after the limit, so ``Count`` can be less
than ``ScannedCount`` and a page can be empty yet not the last.
"""

from __future__ import annotations

import json
from typing import Any

from lambdashift.dynamodb import requests as req
from lambdashift.dynamodb.errors import ValidationException, detected, invalid_parameter
from lambdashift.dynamodb.evaluate import holds, project
from lambdashift.dynamodb.expressions import Path
from lambdashift.dynamodb.key_conditions import key_condition, legacy_key_conditions
from lambdashift.dynamodb.schema import IndexSchema, TableSchema
from lambdashift.dynamodb.keys import key_of
from lambdashift.dynamodb.store import Store
from lambdashift.dynamodb.types import check_value

PAGE_BYTES = 1024 * 1024
_SELECT = ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT")
_SELECT_SHOWN = ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES")
_BAD_START = "The provided starting key is invalid: The provided key element does not match the schema"


def query(store: Store, request: dict[str, Any]) -> dict[str, Any] | str:
    """Query: one partition of the table or of an index, in sort key order."""
    parsed = req.expressions(
        request, "KeyConditionExpression", "FilterExpression", "ProjectionExpression"
    )
    if request.get("KeyConditions") is not None:
        if parsed.key_condition is not None:
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same "
                "request: Non-expression parameters: {KeyConditions} Expression parameters: "
                "{KeyConditionExpression}"
            )
        parsed.key_condition = legacy_key_conditions(request["KeyConditions"])
    schema, index = _source(store, request)
    spec = index.key if index is not None else schema.key
    if parsed.key_condition is None:
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified "
            "in the request."
        )
    pk, condition = key_condition(parsed.key_condition, spec)
    start = None
    if request.get("ExclusiveStartKey") is not None:
        position = _start_key(schema, index, request["ExclusiveStartKey"])
        if position[1] != pk:
            raise ValidationException(
                "The provided starting key is outside query boundaries based on provided "
                "conditions"
            )
        start = position[2:] if index is not None else position[2:3]
    forward = request.get("ScanIndexForward", True) is not False
    limit = req.positive(request, "Limit")
    rows = store.query(schema.name, index, pk, condition, forward, start, limit)
    return _page(schema, index, request, parsed, rows, limit)


def scan(store: Store, request: dict[str, Any]) -> dict[str, Any] | str:
    """Scan: a whole table or index (or one segment of it), in the table's hash order."""
    parsed = req.expressions(request, "FilterExpression", "ProjectionExpression")
    schema, index = _source(store, request)
    segment = _segment(request)
    start = None
    if request.get("ExclusiveStartKey") is not None:
        start = _start_key(schema, index, request["ExclusiveStartKey"])
    limit = req.positive(request, "Limit")
    rows = store.scan(schema.name, index, start, segment, limit)
    return _page(schema, index, request, parsed, rows, limit)


def _source(store: Store, request: dict[str, Any]) -> tuple[TableSchema, IndexSchema | None]:
    schema = req.table(store, request)
    name = request.get("IndexName")
    if name is None:
        return schema, None
    index = schema.index(name)
    if index.is_global and request.get("ConsistentRead"):
        raise ValidationException("Consistent reads are not supported on global secondary indexes")
    return schema, index


def _segment(request: dict[str, Any]) -> tuple[int, int] | None:
    segment, total = request.get("Segment"), request.get("TotalSegments")
    if segment is None and total is None:
        return None
    if total is None:
        raise ValidationException(
            "The TotalSegments parameter is required but was not present in the request when "
            "Segment parameter is present"
        )
    if segment is None:
        raise ValidationException(
            "The Segment parameter is required but was not present in the request when "
            "parameter TotalSegments is present"
        )
    if not isinstance(total, int) or not 1 <= total <= 1_000_000:
        raise ValidationException(
            f"1 validation error detected: Value '{total}' at 'totalSegments' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000000"
        )
    if not isinstance(segment, int) or not 0 <= segment < total:
        raise ValidationException(
            f"The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total}"
        )
    return segment, total


def _start_key(schema: TableSchema, index: IndexSchema | None, start: Any) -> tuple:
    """ExclusiveStartKey as a position: ``(ph, pk, sk)`` (+ ``tpk, tsk`` for an index)."""
    if not isinstance(start, dict):
        raise ValidationException(_BAD_START)
    names = set(schema.key.names()) | (set(index.key.names()) if index is not None else set())
    if set(start) != names:
        raise ValidationException(_BAD_START)
    checked = {name: check_value(value) for name, value in start.items()}
    table_key = key_of(schema.key, checked)
    if table_key is None:
        raise ValidationException(_BAD_START)
    if index is None:
        return table_key
    index_key = key_of(index.key, checked)
    if index_key is None:
        raise ValidationException(_BAD_START)
    return (*index_key, table_key[1], table_key[2])


# ---------------------------------------------------------------------------------------
# The page


def _page(schema: TableSchema, index: IndexSchema | None, request: dict[str, Any],
          parsed: req.Expressions, rows: Any, limit: int | None) -> dict[str, Any] | str:
    select = req.choice(request, "Select", _SELECT, _SELECT_SHOWN)
    projection = req.projection_of(request, parsed)
    given = request.get("Select")
    if projection is not None and given not in (None, "SPECIFIC_ATTRIBUTES"):
        which = "AttributesToGet" if request.get("AttributesToGet") is not None \
            else "ProjectionExpression"
        raise detected(
            f"Cannot specify the {which} when choosing to get "
            f"{'only the Count' if select == 'COUNT' else select}"
        )
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise detected(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
            "SPECIFIC_ATTRIBUTES"
        )
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        raise detected(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
        )
    narrowed = index is not None and index.projection != "ALL"
    if narrowed and given == "ALL_ATTRIBUTES" and index.is_global:
        raise invalid_parameter(
            f"Select type ALL_ATTRIBUTES is not supported for global secondary index "
            f"{index.name} because its projection type is not ALL"
        )
    if narrowed and not index.is_global and (given == "ALL_ATTRIBUTES" or projection):
        # A local index lives beside its table's partition: DynamoDB fetches what the
        # index does not hold from the table (at extra read cost), so nothing is narrowed.
        narrowed = False
    index_paths = _index_paths(schema, index) if narrowed else None
    decode = parsed.filter is not None or projection is not None or narrowed
    raws: list[str] = []
    items: list[dict[str, Any]] = []
    read = 0
    total = 0
    last: str | None = None
    stopped = False
    for size, raw in rows:
        if read and total + size > PAGE_BYTES:
            stopped = True
            break
        read += 1
        total += size
        last = raw
        if not decode:
            raws.append(raw)
            continue
        item = json.loads(raw)
        if parsed.filter is not None and not holds(parsed.filter, item):
            continue
        if index_paths is not None:
            item = project(item, index_paths)
        items.append(project(item, projection) if projection else item)
    stopped = stopped or (limit is not None and read == limit)
    count = len(raws) if not decode else len(items)
    tail = f',"Count":{count},"ScannedCount":{read}'
    if stopped and last is not None:
        key = req.key_attributes(schema, json.loads(last), index.key if index else None)
        tail += ',"LastEvaluatedKey":' + json.dumps(key, ensure_ascii=False)
    extra = req.consumed(schema, request, lambda: max(0.5, total / 8192))
    if extra:
        tail += ',"ConsumedCapacity":' + json.dumps(extra["ConsumedCapacity"])
    if select == "COUNT":
        return "{" + tail[1:] + "}"
    body = ",".join(raws) if not decode else ",".join(
        json.dumps(item, ensure_ascii=False) for item in items
    )
    return '{"Items":[' + body + "]" + tail + "}"


def _index_paths(schema: TableSchema, index: IndexSchema) -> list[Path]:
    """What a KEYS_ONLY or INCLUDE index holds of an item."""
    names = list(dict.fromkeys([*schema.key.names(), *index.key.names(), *index.non_key_attributes]))
    return [Path((name,)) for name in names]

