"""Table operations: CreateTable, DescribeTable, ListTables, DeleteTable.

Tables are created ACTIVE at once (there is nothing to provision locally), so code that
waits with boto3's ``table_exists`` waiter and code that does not both work.
"""

from __future__ import annotations

from typing import Any

from lambdashift.dynamodb.errors import (
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from lambdashift.dynamodb.policies import check_policy, new_revision
from lambdashift.dynamodb.definitions import parse_create_table
from lambdashift.dynamodb.schema import TableSchema, check_table_name
from lambdashift.dynamodb.store import Store


def create_table(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """CreateTable: validate the definition, then create the table and its indexes."""
    schema = parse_create_table(request)
    if request.get("ResourcePolicy") is not None:
        schema.policy = (check_policy(request["ResourcePolicy"]), new_revision())
    if store.schema(schema.name) is not None:
        raise ResourceInUseException(f"Table already exists: {schema.name}")
    store.create_table(schema)
    return {"TableDescription": _describe(store, schema)}


def describe_table(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """DescribeTable: the definition, status ACTIVE, item counts and sizes."""
    return {"Table": _describe(store, _existing(store, request))}


def delete_table(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """DeleteTable: the table goes at once; the answer describes it as DELETING."""
    schema = _existing(store, request)
    description = _describe(store, schema, "DELETING")
    store.drop_table(schema.name)
    return {"TableDescription": description}


def list_tables(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """ListTables: names in order, paged by ``Limit`` and ``ExclusiveStartTableName``."""
    limit = request.get("Limit", 100)
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ValidationException(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            "constraint: Member must have value less than or equal to 100"
        )
    after = request.get("ExclusiveStartTableName")
    names = [n for n in store.table_names() if after is None or n > after]
    result: dict[str, Any] = {"TableNames": names[:limit]}
    if len(names) > limit:
        result["LastEvaluatedTableName"] = names[limit - 1]
    return result


def _existing(store: Store, request: dict[str, Any]) -> TableSchema:
    name = check_table_name(request.get("TableName"))
    schema = store.schema(name)
    if schema is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return schema


def _describe(store: Store, schema: TableSchema, status: str = "ACTIVE") -> dict[str, Any]:
    count, size, indexes = store.stats(schema.name)
    return schema.describe(count, size, indexes, status)
