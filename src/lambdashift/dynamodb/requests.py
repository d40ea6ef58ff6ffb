"""What every operation reads from its request: the table, keys, expressions, options.

Each helper checks its part the way DynamoDB does and raises its ValidationException,
worded as AWS words it, so the operations read as the rules they implement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdashift.dynamodb.errors import (
    ResourceNotFoundException,
    ValidationException,
    invalid_parameter,
)
from lambdashift.dynamodb.expressions import Path, Placeholders
from lambdashift.dynamodb.parser import parse_condition, parse_projection, parse_update
from lambdashift.dynamodb.schema import KeySpec, TableSchema, check_table_name
from lambdashift.dynamodb.keys import RowKey, key_of
from lambdashift.dynamodb.store import Store
from lambdashift.dynamodb.types import check_value, value_size

_KEY_MISMATCH = "The provided key element does not match the schema"
_LEGACY = (
    "Expected", "AttributeUpdates", "QueryFilter", "ScanFilter", "ConditionalOperator",
)


def table(store: Store, request: dict[str, Any]) -> TableSchema:
    """The schema of the request's ``TableName``; ResourceNotFoundException if none."""
    name = check_table_name(request.get("TableName"))
    schema = store.schema(name)
    if schema is None:
        raise ResourceNotFoundException("Requested resource not found")
    for legacy in _LEGACY:
        if legacy in request:
            raise ValidationException(
                f"lambdashift's DynamoDB does not support the legacy parameter {legacy}; "
                "use the expression parameters instead"
            )
    return schema


def request_key(schema: TableSchema, key: Any) -> tuple[dict[str, Any], RowKey]:
    """A ``Key`` parameter: exactly the table's key attributes, of the right types."""
    if not isinstance(key, dict) or set(key) != set(schema.key.names()):
        raise ValidationException(_KEY_MISMATCH)
    checked = {name: check_value(value) for name, value in key.items()}
    for name, kind in _key_types(schema.key):
        if kind not in checked[name]:
            raise ValidationException(_KEY_MISMATCH)
        _not_empty(checked[name], kind, name)
    _key_size(schema.key, checked)
    row = key_of(schema.key, checked)
    assert row is not None
    return checked, row


def item_key(schema: TableSchema, item: dict[str, Any]) -> RowKey:
    """The key of an item to write, which must hold the table's key (and valid index keys)."""
    for name, kind in _key_types(schema.key):
        value = item.get(name)
        if value is None:
            raise invalid_parameter(f"Missing the key {name} in the item")
        if kind not in value:
            raise invalid_parameter(
                f"Type mismatch for key {name} expected: {kind} actual: {next(iter(value))}"
            )
        _not_empty(value, kind, name)
    _key_size(schema.key, item)
    check_index_keys(schema, item)
    row = key_of(schema.key, item)
    assert row is not None
    return row


def check_index_keys(schema: TableSchema, item: dict[str, Any]) -> None:
    """An index key attribute, when present, must have the type the index declares."""
    for index in schema.indexes:
        for name, kind in _key_types(index.key):
            value = item.get(name)
            if value is None:
                continue
            if kind not in value:
                raise invalid_parameter(
                    f"Type mismatch for Index Key {name} Expected: {kind} Actual: "
                    f"{next(iter(value))} IndexName: {index.name}"
                )
            if value[kind] == "":
                raise ValidationException(
                    "One or more parameter values are not valid. A value specified for a "
                    "secondary index key is not supported. The AttributeValue for a key "
                    f"attribute cannot contain an empty {'string' if kind == 'S' else 'binary'}"
                    f" value. IndexName: {index.name}, IndexKey: {name}"
                )


def _key_types(spec: KeySpec) -> list[tuple[str, str]]:
    return spec.typed()


#: DynamoDB's limits on key values (developer guide, "Service, account, and table quotas":
#: partition key 1 to 2048 bytes, sort key 1 to 1024 bytes).
HASH_KEY_BYTES = 2048
RANGE_KEY_BYTES = 1024


def _key_size(spec: KeySpec, item: dict[str, Any]) -> None:
    """Key values past DynamoDB's limits are refused, in AWS's words (its spacing too)."""
    if value_size(item[spec.hash[0]]) > HASH_KEY_BYTES:
        raise invalid_parameter(
            f"Size of hashkey has exceeded the maximum size limit of{HASH_KEY_BYTES} bytes"
        )
    if spec.range is not None and value_size(item[spec.range[0]]) > RANGE_KEY_BYTES:
        raise invalid_parameter(
            "Aggregated size of all range keys has exceeded the size limit of "
            f"{RANGE_KEY_BYTES} bytes"
        )


def _not_empty(value: dict[str, Any], kind: str, name: str) -> None:
    if value[kind] == "":
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty {'string' if kind == 'S' else 'binary'} value. "
            f"Key: {name}"
        )


def key_attributes(schema: TableSchema, item: dict[str, Any], index_spec: KeySpec | None = None
                   ) -> dict[str, Any]:
    """The attributes of ``item`` that make a LastEvaluatedKey (table key + index key)."""
    names = list(schema.key.names())
    if index_spec is not None:
        names += [n for n in index_spec.names() if n not in names]
    return {name: item[name] for name in names}


@dataclass
class Expressions:
    """The parsed expressions of one request; placeholders all checked as used."""

    condition: Any = None
    filter: Any = None
    key_condition: Any = None
    update: Any = None
    projection: list[Path] | None = None
    placeholders: Placeholders | None = field(default=None, repr=False)


def expressions(request: dict[str, Any], *allowed: str, write: bool = False,
                transaction: bool = False) -> Expressions:
    """Parse the request's expression parameters among ``allowed`` ones.

    ``allowed`` names the parameters: ``ConditionExpression``, ``FilterExpression``,
    ``KeyConditionExpression``, ``UpdateExpression``, ``ProjectionExpression``.
    ``write`` (PutItem, UpdateItem, DeleteItem) and ``transaction`` choose where AWS
    words its errors with the ``1 validation error detected: `` prefix.

    Operations call this before they look the table up: AWS checks the request itself
    (syntax, placeholders) first, so a bad expression on a missing table is a
    ValidationException, not a ResourceNotFoundException.
    """
    names = request.get("ExpressionAttributeNames")
    values = request.get("ExpressionAttributeValues")
    present = [p for p in allowed if request.get(p) is not None]
    if not present and (names is not None or values is not None):
        which = "ExpressionAttributeNames" if names is not None else "ExpressionAttributeValues"
        null = " and ".join(allowed)
        verb = "is" if len(allowed) == 1 else "are"
        raise ValidationException(
            f"{which} can only be specified when using expressions: {null} {verb} null"
        )
    found = Expressions()
    if not present:
        return found
    placeholders = Placeholders(names, values, transaction=transaction)
    found.placeholders = placeholders
    for parameter in present:
        text = request[parameter]
        if parameter == "UpdateExpression":
            found.update = parse_update(text, placeholders)
        elif parameter == "ProjectionExpression":
            found.projection = parse_projection(text, placeholders)
        else:
            tree = parse_condition(text, parameter, placeholders)
            setattr(found, _FIELDS[parameter], tree)
    placeholders.check_all_used(prefixed=write and not transaction)
    return found


_FIELDS = {
    "ConditionExpression": "condition",
    "FilterExpression": "filter",
    "KeyConditionExpression": "key_condition",
}


def projection_of(request: dict[str, Any], parsed: Expressions) -> list[Path] | None:
    """ProjectionExpression, or the legacy AttributesToGet (top-level names)."""
    legacy = request.get("AttributesToGet")
    if legacy is not None:
        if parsed.projection is not None:
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same "
                "request: Non-expression parameters: {AttributesToGet} Expression "
                "parameters: {ProjectionExpression}"
            )
        return [Path((name,)) for name in legacy]
    return parsed.projection


def choice(request: dict[str, Any], parameter: str, allowed: tuple[str, ...],
           shown: tuple[str, ...] | None = None) -> str:
    """An enum parameter (``allowed[0]`` by default); ``shown``: AWS's order in its message."""
    value = request.get(parameter) or allowed[0]
    if value not in allowed:
        if parameter == "ReturnValues":
            raise ValidationException("Return values set to invalid value")
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{parameter[0].lower()}"
            f"{parameter[1:]}' failed to satisfy constraint: Member must satisfy enum value "
            f"set: [{', '.join(shown or allowed)}]"
        )
    return value


def positive(request: dict[str, Any], parameter: str) -> int | None:
    """An optional integer parameter that must be at least 1 (``Limit``)."""
    value = request.get(parameter)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{parameter.lower()}' failed to "
            "satisfy constraint: Member must have value greater than or equal to 1"
        )
    return value


def consumed(schema: TableSchema, request: dict[str, Any],
             units: Callable[[], float]) -> dict[str, Any]:
    """``ConsumedCapacity`` when the request asks for it (TOTAL or INDEXES).

    The units are an estimate after DynamoDB's rules (1 KB per write unit, 4 KB per read
    unit, half for eventually consistent reads); nothing is throttled.
    """
    if request.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        capacity: dict[str, Any] = {"TableName": schema.name, "CapacityUnits": units()}
        if request["ReturnConsumedCapacity"] == "INDEXES":
            capacity["Table"] = {"CapacityUnits": capacity["CapacityUnits"]}
        return {"ConsumedCapacity": capacity}
    return {}
