"""UpdateTable: global secondary indexes added or removed, billing mode and throughput.

AWS's rules (API reference, UpdateTable; developer guide, "Managing global secondary
indexes"): one index created or deleted per call; a new index's key attributes come with
``AttributeDefinitions``; on a PROVISIONED table a new index needs its own
``ProvisionedThroughput``, and switching to PROVISIONED needs the table's and every
index's. The answer shows the table ``UPDATING`` and a new index ``CREATING`` (a removed
one ``DELETING``); AWS then backfills the index from the table's items and turns it
``ACTIVE``. Here the backfill runs within the call (one SQLite pass over the table), so
the next DescribeTable already says ``ACTIVE`` and the index answers queries.

Streams are not served: ``StreamSpecification`` with ``StreamEnabled: true`` is refused
(see :func:`lambdashift.dynamodb.definitions.refuse_streams`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lambdashift.dynamodb.errors import (
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
    invalid_parameter,
    require_shape,
)
from lambdashift.dynamodb.definitions import check_billing, parse_index, refuse_streams
from lambdashift.dynamodb.schema import IndexSchema, TableSchema, check_table_name
from lambdashift.dynamodb.store import Store

_NOTHING = (
    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
    "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
)


def update_table(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """UpdateTable: apply the index changes and the billing mode, then describe."""
    name = check_table_name(request.get("TableName"))
    schema = store.schema(name)
    if schema is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    if request.get("StreamSpecification") is not None:
        refuse_streams(request["StreamSpecification"])
    if request.get("DeletionProtectionEnabled"):
        raise ValidationException("lambdashift's DynamoDB does not serve deletion protection")
    updates = request.get("GlobalSecondaryIndexUpdates")
    billing = request.get("BillingMode")
    throughput = request.get("ProvisionedThroughput")
    if not updates and billing is None and throughput is None:
        raise ValidationException(_NOTHING)
    require_shape(updates is None or isinstance(updates, list), "GlobalSecondaryIndexUpdates")
    types = _definitions(schema, request.get("AttributeDefinitions"))
    indexes = list(schema.indexes)
    created: IndexSchema | None = None
    deleted: IndexSchema | None = None
    for update in updates or []:
        require_shape(isinstance(update, dict) and len(update) == 1, "GlobalSecondaryIndexUpdates")
        action, body = next(iter(update.items()))
        require_shape(isinstance(body, dict), f"GlobalSecondaryIndexUpdates.{action}")
        if action in ("Create", "Delete") and (created or deleted):
            raise LimitExceededException(
                "Subscriber limit exceeded: Only 1 online index can be created or deleted "
                "simultaneously per table"
            )
        if action == "Create":
            created = _create(schema, body, types, indexes)
            indexes.append(created)
        elif action == "Delete":
            deleted = _global(indexes, body.get("IndexName"))
            indexes.remove(deleted)
        elif action == "Update":
            index = _global(indexes, body.get("IndexName"))
            indexes[indexes.index(index)] = replace(
                index, throughput=body.get("ProvisionedThroughput"))
        else:
            raise ValidationException(
                f"Invalid GlobalSecondaryIndexUpdate: {action}; use Create, Update or Delete"
            )
    mode = billing or schema.billing_mode
    if mode == "PAY_PER_REQUEST":
        indexes = [replace(i, throughput=None) for i in indexes]
        table_throughput = throughput  # must be absent: check_billing says so
    else:
        table_throughput = throughput or schema.throughput
    check_billing(mode, table_throughput, indexes)
    used = {n for n in schema.key.names()} | {n for i in indexes for n in i.key.names()}
    new = replace(
        schema, indexes=indexes, billing_mode=mode,
        throughput=table_throughput if mode == "PROVISIONED" else None,
        attribute_definitions=[{"AttributeName": n, "AttributeType": t}
                               for n, t in types.items() if n in used],
    )
    if created is not None:
        store.add_index(new, next(i for i in indexes if i.name == created.name))
    elif deleted is not None:
        store.remove_index(new, deleted)
    else:
        store.save_schema(new)
    count, size, stats = store.stats(name)
    described = replace(new, indexes=[
        replace(i, status="CREATING") if created and i.name == created.name else i
        for i in indexes
    ]).describe(count, size, stats, "UPDATING")
    if deleted is not None:
        gone = replace(deleted, status="DELETING")
        described.setdefault("GlobalSecondaryIndexes", []).append(
            replace(new, indexes=[gone]).describe(0, 0, {})["GlobalSecondaryIndexes"][0])
    return {"TableDescription": described}


def _definitions(schema: TableSchema, given: Any) -> dict[str, str]:
    """The table's attribute types with the request's added (a type never changes)."""
    types = {d["AttributeName"]: d["AttributeType"] for d in schema.attribute_definitions}
    if given is None:
        return types
    require_shape(isinstance(given, list), "AttributeDefinitions")
    for definition in given:
        require_shape(isinstance(definition, dict), "AttributeDefinitions")
        name, kind = definition.get("AttributeName"), definition.get("AttributeType")
        require_shape(isinstance(name, str), "AttributeDefinitions")
        if kind not in ("S", "N", "B"):
            raise ValidationException(
                f"1 validation error detected: Value '{kind}' at 'attributeDefinitions."
                "member.attributeType' failed to satisfy constraint: Member must satisfy enum "
                "value set: [B, N, S]"
            )
        if types.get(name, kind) != kind:
            raise invalid_parameter(
                f"Cannot change the type of attribute {name} from {types[name]} to {kind}"
            )
        types[name] = kind
    return types


def _create(schema: TableSchema, body: dict[str, Any], types: dict[str, str],
            indexes: list[IndexSchema]) -> IndexSchema:
    index = parse_index(body, types, schema.key, True,
                        "globalSecondaryIndexUpdates.1.member.create.keySchema")
    if any(i.name == index.name for i in indexes):
        raise invalid_parameter(f"Index with name {index.name} already exists on this table")
    slot = 1 + max([i.slot for i in schema.indexes] + [-1])
    return replace(index, slot=slot)


def _global(indexes: list[IndexSchema], name: Any) -> IndexSchema:
    for index in indexes:
        if index.name == name and index.is_global:
            return index
    raise ResourceNotFoundException(f"Requested resource not found: Index: {name} not found")
