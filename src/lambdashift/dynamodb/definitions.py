"""CreateTable's definitions checked as AWS checks them: keys, indexes, billing, streams.

:func:`parse_create_table` turns a CreateTable request (or a stored definition) into a
:class:`~lambdashift.dynamodb.schema.TableSchema`; UpdateTable reuses the index and
billing checks.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

from lambdashift.dynamodb.errors import ValidationException, invalid_parameter, require_shape
from lambdashift.dynamodb.schema import IndexSchema, KeySpec, TableSchema, check_table_name

_PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")


def parse_create_table(request: dict[str, Any], stored: bool = False) -> TableSchema:
    """The schema a CreateTable request defines; ValidationException as AWS would.

    ``stored``: the request is our own persisted definition, whose ``_slot`` keys say
    where each index lives (a caller's are ignored).
    """
    name = check_table_name(request.get("TableName"))
    definitions = request.get("AttributeDefinitions")
    if not isinstance(definitions, list) or not definitions:
        raise ValidationException(
            "1 validation error detected: Value null at 'attributeDefinitions' failed to "
            "satisfy constraint: Member must not be null"
        )
    types: dict[str, str] = {}
    for position, definition in enumerate(definitions, 1):
        require_shape(isinstance(definition, dict), "AttributeDefinitions")
        attribute, kind = definition.get("AttributeName"), definition.get("AttributeType")
        require_shape(isinstance(attribute, str), "AttributeDefinitions")
        if kind not in ("S", "N", "B"):
            raise ValidationException(
                f"1 validation error detected: Value '{kind}' at 'attributeDefinitions."
                f"{position}.member.attributeType' failed to satisfy constraint: Member must "
                "satisfy enum value set: [B, N, S]"
            )
        if attribute in types:
            raise invalid_parameter(f"Duplicate AttributeName found: {attribute}")
        types[attribute] = kind
    key = _key_spec(request.get("KeySchema"), types, "keySchema")
    used = set(key.names())
    indexes: list[IndexSchema] = []
    for is_global, member in ((True, "GlobalSecondaryIndexes"), (False, "LocalSecondaryIndexes")):
        for number, spec in enumerate(request.get(member) or [], 1):
            where = f"{member[0].lower()}{member[1:]}.{number}.member.keySchema"
            index = parse_index(spec, types, key, is_global, where)
            if any(i.name == index.name for i in indexes):
                raise invalid_parameter(f"Duplicate index name: {index.name}")
            indexes.append(index)
            used.update(index.key.names())
    if used != set(types):
        raise invalid_parameter(
            "Number of attributes in KeySchema does not exactly match number of attributes "
            "defined in AttributeDefinitions"
        )
    if not stored and request.get("StreamSpecification") is not None:
        refuse_streams(request["StreamSpecification"])
    # Slots: as stored, or (a new table, or one stored before slots) in order.
    indexes = [replace(index, slot=position) if index.slot < 0 or not stored else index
               for position, index in enumerate(indexes)]
    billing = request.get("BillingMode") or "PROVISIONED"
    throughput = request.get("ProvisionedThroughput")
    check_billing(billing, throughput, indexes)
    return TableSchema(
        name=name,
        key=key,
        attribute_definitions=[
            {"AttributeName": n, "AttributeType": t} for n, t in types.items()
        ],
        indexes=indexes,
        billing_mode=billing,
        throughput=throughput if billing == "PROVISIONED" else None,
        created=time.time(),
        table_id=str(uuid.uuid4()),
    )


def _key_spec(elements: Any, types: dict[str, str], member: str,
              multi: bool = False) -> KeySpec:
    if not isinstance(elements, list) or not elements:
        raise ValidationException(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    require_shape(all(isinstance(e, dict) for e in elements), member)
    if multi and len(elements) > 2:
        return _multi_key_spec(elements, types, member)
    if len(elements) > 2:
        # AWS prints the list as its Java model's toString().
        shown = ", ".join(
            f"KeySchemaElement(attributeName={e.get('AttributeName')}, keyType={e.get('KeyType')})"
            for e in elements
        )
        raise ValidationException(
            f"1 validation error detected: Value '[{shown}]' at '{member}' failed to "
            "satisfy constraint: Member must have length less than or equal to 2"
        )
    names = [e.get("AttributeName") for e in elements]
    require_shape(all(isinstance(n, str) for n in names), member)
    kinds = [e.get("KeyType") for e in elements]
    for position, kind in enumerate(kinds, 1):
        if kind not in ("HASH", "RANGE"):
            raise ValidationException(
                f"1 validation error detected: Value '{kind}' at '{member}.{position}.member."
                "keyType' failed to satisfy constraint: Member must satisfy enum value set: "
                "[HASH, RANGE]"
            )
    if kinds[0] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(kinds) == 2 and kinds[1] != "RANGE":
        raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
    if len(names) == 2 and names[0] == names[1]:
        raise ValidationException(
            "Invalid KeySchema: Some index key attribute have no definition"
        )
    missing = [n for n in names if n not in types]
    if missing:
        raise invalid_parameter(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: "
            f"[{', '.join(missing)}], AttributeDefinitions: [{', '.join(types)}]"
        )
    return KeySpec(
        (names[0], types[names[0]]),
        (names[1], types[names[1]]) if len(names) == 2 else None,
    )


def _multi_key_spec(elements: list[dict[str, Any]], types: dict[str, str],
                    member: str) -> KeySpec:
    """A global index's multi-attribute key: 1-4 HASH elements, then 0-4 RANGE ones."""
    kinds = [e.get("KeyType") for e in elements]
    names = [e.get("AttributeName") for e in elements]
    require_shape(all(isinstance(n, str) for n in names), member)
    for position, kind in enumerate(kinds, 1):
        if kind not in ("HASH", "RANGE"):
            raise ValidationException(
                f"1 validation error detected: Value '{kind}' at '{member}.{position}.member."
                "keyType' failed to satisfy constraint: Member must satisfy enum value set: "
                "[HASH, RANGE]"
            )
    hashes = kinds.count("HASH")
    if kinds != ["HASH"] * hashes + ["RANGE"] * (len(kinds) - hashes) or hashes == 0:
        raise ValidationException(
            "Invalid KeySchema: every HASH KeySchemaElement must come before the RANGE ones"
        )
    if hashes > 4 or len(kinds) - hashes > 4:
        raise invalid_parameter(
            "A global secondary index key has at most 4 partition key and 4 sort key "
            "attributes"
        )
    if len(set(names)) != len(names):
        raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
    missing = [n for n in names if n not in types]
    if missing:
        raise invalid_parameter(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: "
            f"[{', '.join(missing)}], AttributeDefinitions: [{', '.join(types)}]"
        )
    typed = [(n, types[n]) for n in names]
    first_range = typed[hashes] if len(typed) > hashes else None
    return KeySpec(typed[0], first_range, tuple(typed[1:hashes]), tuple(typed[hashes + 1:]))


def parse_index(spec: Any, types: dict[str, str], table_key: KeySpec, is_global: bool,
           where: str = "keySchema") -> IndexSchema:
    if not isinstance(spec, dict):
        raise ValidationException("Invalid index definition")
    name = check_table_name(spec.get("IndexName"), "indexName")
    key = _key_spec(spec.get("KeySchema"), types, where, multi=is_global)
    if not is_global:
        if table_key.range is None:
            raise invalid_parameter(
                "Table KeySchema does not have a range key, which is required when "
                "specifying a LocalSecondaryIndex"
            )
        if key.hash[0] != table_key.hash[0]:
            raise invalid_parameter(
                "Index KeySchema does not have the same leading hash key as table KeySchema "
                f"for index: {name}. index hash key: {key.hash[0]}, table hash key: "
                f"{table_key.hash[0]}"
            )
        if key.range is None:
            raise invalid_parameter(f"Index KeySchema does not have a range key for index: {name}")
    projection = spec.get("Projection")
    if not isinstance(projection, dict) or projection.get("ProjectionType") not in _PROJECTIONS:
        raise invalid_parameter(f"Unknown ProjectionType for index: {name}")
    non_key = tuple(projection.get("NonKeyAttributes") or ())
    if projection["ProjectionType"] == "INCLUDE" and not non_key:
        raise invalid_parameter(
            "ProjectionType is INCLUDE, but NonKeyAttributes is not specified"
        )
    if projection["ProjectionType"] != "INCLUDE" and non_key:
        raise invalid_parameter(
            f"ProjectionType is {projection['ProjectionType']}, but NonKeyAttributes is specified"
        )
    return IndexSchema(name, key, is_global, projection["ProjectionType"], non_key,
                       spec.get("ProvisionedThroughput"), spec.get("_slot", -1))


def refuse_streams(spec: Any) -> None:
    """Streams are not served: a request that turns one on is refused, clearly.

    Accepting ``StreamEnabled: true`` without a stream would let code wait forever for
    records that never come; a refusal says at once what is missing.
    """
    require_shape(isinstance(spec, dict), "StreamSpecification")
    if spec.get("StreamEnabled"):
        raise ValidationException(
            "lambdashift's DynamoDB does not serve streams (StreamSpecification with "
            "StreamEnabled: true); leave StreamSpecification out, or use --dynamodb moto "
            "or a DynamoDB endpoint of your own for code that reads a stream"
        )


def check_billing(billing: str, throughput: Any, indexes: list[IndexSchema]) -> None:
    if billing not in ("PROVISIONED", "PAY_PER_REQUEST"):
        raise ValidationException(
            f"1 validation error detected: Value '{billing}' at 'billingMode' failed to "
            "satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )
    if billing == "PAY_PER_REQUEST":
        if throughput:
            raise invalid_parameter(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                "BillingMode is PAY_PER_REQUEST"
            )
        return
    if not throughput:
        raise invalid_parameter(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode "
            "is PROVISIONED"
        )
    for index in indexes:
        if index.is_global and not index.throughput:
            raise invalid_parameter(
                f"ProvisionedThroughput must be specified for index: {index.name}"
            )


def schema_from_json(data: dict[str, Any]) -> TableSchema:
    """A schema persisted by ``TableSchema.to_json`` (already validated once)."""
    schema = parse_create_table(data, stored=True)
    schema.created = data["_created"]
    schema.table_id = data["_id"]
    schema.ttl_attribute = data.get("_ttl")
    schema.policy = tuple(data["_policy"]) if data.get("_policy") else None  # type: ignore[assignment]
    return schema
