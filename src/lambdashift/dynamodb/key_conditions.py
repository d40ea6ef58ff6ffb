"""Query's key conditions: the partition to read and the sort key range within it.

A KeyConditionExpression (or the legacy ``KeyConditions`` map, turned into the same tree)
becomes the encoded partition key and a condition on the encoded sort key that
``Store.query`` turns into one B-tree range: equality on the partition key, at most one
condition on the sort key; for a multi-attribute key, equality on every partition
attribute and left-to-right conditions on the sort attributes.
"""

from __future__ import annotations

from typing import Any

from lambdashift.dynamodb.errors import ValidationException, invalid_parameter, require_shape
from lambdashift.dynamodb.expressions import Between, Call, Compare, Literal, Logic, Path
from lambdashift.dynamodb.schema import KeySpec
from lambdashift.dynamodb.keys import component
from lambdashift.dynamodb.types import check_value, encode_key, prefix_end, type_of


def key_condition(tree: Any, spec: KeySpec) -> tuple[bytes, tuple]:
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


def legacy_key_conditions(conditions: Any) -> Any:
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
