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
from lambdashift.dynamodb.errors import (
    ValidationException,
    detected,
    invalid_parameter,
    require_shape,
)
from lambdashift.dynamodb.evaluate import holds, project
from lambdashift.dynamodb.expressions import Between, Call, Compare, Literal, Logic, Path
from lambdashift.dynamodb.schema import IndexSchema, KeySpec, TableSchema
from lambdashift.dynamodb.store import Store, component, key_of
from lambdashift.dynamodb.types import check_value, encode_key, prefix_end, type_of

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
        parsed.key_condition = _legacy_key_conditions(request["KeyConditions"])
    schema, index = _source(store, request)
    spec = index.key if index is not None else schema.key
    if parsed.key_condition is None:
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified "
            "in the request."
        )
    pk, condition = _key_condition(parsed.key_condition, spec)
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


# ---------------------------------------------------------------------------------------
# The key condition


def _key_condition(tree: Any, spec: KeySpec) -> tuple[bytes, tuple]:
    """The encoded partition key and the sort key condition (``()`` if none)."""
    parts = [tree]
    while any(isinstance(p, Logic) for p in parts):
        node = next(p for p in parts if isinstance(p, Logic))
        if node.op != "AND":
            raise ValidationException(f"Invalid operator used in KeyConditionExpression: {node.op}")
        parts.remove(node)
        parts += [node.left, node.right]
    by_name: dict[str, Any] = {}
    for part in parts:
        name = _condition_attribute(part)
        if name in by_name:
            raise ValidationException(
                "KeyConditionExpressions must only contain one condition per key"
            )
        by_name[name] = part
    if spec.multi:
        return _multi_key_condition(by_name, spec)
    hash_name, hash_type = spec.hash
    if hash_name not in by_name:
        raise ValidationException(f"Query condition missed key schema element: {hash_name}")
    unknown = set(by_name) - set(spec.names())
    if unknown:
        raise ValidationException(
            f"Query condition missed key schema element: {spec.range[0]}"
            if spec.range is not None
            else "Query key condition not supported"
        )
    partition = by_name[hash_name]
    if not isinstance(partition, Compare) or partition.op != "=":
        raise ValidationException("Query key condition not supported")
    pk = _encoded(partition.right, hash_type)
    if spec.range is None or spec.range[0] not in by_name:
        return pk, ()
    node, kind = by_name[spec.range[0]], spec.range[1]
    if isinstance(node, Compare):
        if node.op == "<>":
            raise ValidationException("Unsupported operator on KeyCondition: NE")
        return pk, (node.op, _encoded(node.right, kind))
    if isinstance(node, Between):
        low, high = _encoded(node.low, kind), _encoded(node.high, kind)
        if low > high:
            raise ValidationException(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be "
                "greater than or equal to lower bound"
            )
        return pk, ("BETWEEN", low, high)
    if isinstance(node, Call) and node.name == "begins_with":
        if kind == "N":
            raise ValidationException(
                "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
                "operator or function: begins_with, operand type: N"
            )
        return pk, ("begins_with", _encoded(node.args[1], kind))
    raise ValidationException("Query key condition not supported")


_LEGACY_OPERATORS = {"EQ": ("=", 1), "LE": ("<=", 1), "LT": ("<", 1), "GE": (">=", 1),
                     "GT": (">", 1), "BEGINS_WITH": ("begins_with", 1), "BETWEEN": ("BETWEEN", 2)}


def _legacy_key_conditions(conditions: Any) -> Any:
    """The legacy ``KeyConditions`` map as the tree a KeyConditionExpression gives.

    ``{"attr": {"ComparisonOperator": "EQ", "AttributeValueList": [value]}}`` per key
    attribute; the operators a key condition allows are EQ, LE, LT, GE, GT, BEGINS_WITH and
    BETWEEN (DynamoDB API reference, Query, KeyConditions).
    """
    if not isinstance(conditions, dict) or not conditions:
        raise ValidationException("Either the KeyConditions or KeyConditionExpression "
                                  "parameter must be specified in the request.")
    tree: Any = None
    for name, condition in conditions.items():
        require_shape(isinstance(condition, dict), "KeyConditions")
        operator = condition.get("ComparisonOperator")
        values = condition.get("AttributeValueList") or []
        require_shape(isinstance(values, list), "KeyConditions")
        if operator not in _LEGACY_OPERATORS:
            raise ValidationException(
                "Attempted conditional constraint is not an indexable operation"
            )
        op, count = _LEGACY_OPERATORS[operator]
        if len(values) != count:
            raise invalid_parameter(
                f"Invalid number of argument(s) for the {operator} ComparisonOperator"
            )
        path, args = Path((name,)), [Literal(check_value(v)) for v in values]
        if op == "BETWEEN":
            node: Any = Between(path, args[0], args[1])
        elif op == "begins_with":
            node = Call("begins_with", (path, args[0]))
        else:
            node = Compare(op, path, args[0])
        tree = node if tree is None else Logic("AND", tree, node)
    return tree


def _multi_key_condition(by_name: dict[str, Any], spec: KeySpec) -> tuple[bytes, tuple]:
    """A multi-attribute key's condition: equality on every partition key attribute; on
    the sort key attributes, equalities on the first ones and at most one other condition
    on the next, left to right (developer guide, multi-attribute keys)."""
    unknown = set(by_name) - set(spec.names())
    if unknown:
        raise ValidationException(f"Query key condition not supported: {sorted(unknown)[0]} "
                                  "is not a key attribute of the index")
    parts = []
    for name, kind in spec.hashes():
        node = by_name.get(name)
        if node is None:
            raise ValidationException(f"Query condition missed key schema element: {name}")
        if not isinstance(node, Compare) or node.op != "=":
            raise ValidationException("Query key condition not supported")
        parts.append(component(_encoded(node.right, kind)))
    pk = b"".join(parts)
    prefix, last = b"", None
    ranges = spec.ranges()
    for position, (name, kind) in enumerate(ranges):
        node = by_name.get(name)
        if node is None:
            later = [n for n, _ in ranges[position + 1:] if n in by_name]
            if later:
                raise ValidationException(
                    f"Query key condition not supported: a condition on {later[0]} needs "
                    f"one on {name} before it"
                )
            break
        if isinstance(node, Compare) and node.op == "=" and last is None:
            prefix += component(_encoded(node.right, kind))
            continue
        if last is not None:
            raise ValidationException(
                f"Query key condition not supported: only the last sort key attribute given "
                f"may have a condition other than =; {name} follows one"
            )
        last = (node, kind)
    end = prefix_end(prefix) if prefix else None
    if last is None:
        return pk, (("begins_with", prefix) if prefix else ())
    node, kind = last
    if isinstance(node, Compare):
        if node.op == "<>":
            raise ValidationException("Unsupported operator on KeyCondition: NE")
        edge = prefix + component(_encoded(node.right, kind))
        bounds = {
            ">": ((prefix_end(edge), True), _open(end)),
            ">=": ((edge, True), _open(end)),
            "<": ((prefix, True), (edge, False)),
            "<=": ((prefix, True), (prefix_end(edge), False)),
        }[node.op]
        return pk, ("RANGE", *bounds)
    if isinstance(node, Between):
        low = prefix + component(_encoded(node.low, kind))
        high = prefix + component(_encoded(node.high, kind))
        if low > high:
            raise ValidationException(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be "
                "greater than or equal to lower bound"
            )
        return pk, ("RANGE", (low, True), (prefix_end(high), False))
    value = _encoded(node.args[1], kind)  # begins_with, checked by _condition_attribute
    return pk, ("begins_with", prefix + value.replace(b"\x00", b"\x00\xff"))


def _open(bound: bytes | None) -> tuple[bytes, bool] | None:
    return None if bound is None else (bound, False)


def _condition_attribute(node: Any) -> str:
    """The key attribute one part of a key condition is about."""
    if isinstance(node, Compare):
        subject = node.left
        if not isinstance(node.right, Literal):
            raise ValidationException("Query key condition not supported")
    elif isinstance(node, Between):
        subject = node.operand
        if not isinstance(node.low, Literal) or not isinstance(node.high, Literal):
            raise ValidationException("Query key condition not supported")
    elif isinstance(node, Call) and node.name == "begins_with":
        subject = node.args[0]
        if not isinstance(node.args[1], Literal):
            raise ValidationException("Query key condition not supported")
    elif isinstance(node, Call):
        raise ValidationException(
            f"Invalid operator used in KeyConditionExpression: {node.name}"
        )
    else:
        raise ValidationException("Query key condition not supported")
    if not isinstance(subject, Path) or len(subject.parts) != 1:
        raise ValidationException("Query key condition not supported")
    return str(subject.parts[0])


def _encoded(node: Literal, kind: str) -> bytes:
    if type_of(node.value) != kind:
        raise invalid_parameter("Condition parameter type does not match schema type")
    return encode_key(node.value)


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

