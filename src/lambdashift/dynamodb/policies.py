"""Resource-based policies: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy.

AWS attaches an IAM policy document to a table (developer guide, "Using resource-based
policies for DynamoDB"), versioned by a revision id that ``ExpectedRevisionId`` guards
(``NO_POLICY``: only if the table has none yet). CreateTable takes one too, as
``ResourcePolicy``. Here the documents are kept with the table, versioned and answered
exactly so, but not enforced: the local endpoint has no IAM and every caller may do
everything, which is what a local stack is for.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from lambdashift.dynamodb.errors import (
    PolicyNotFoundException,
    ResourceNotFoundException,
    ValidationException,
)
from lambdashift.dynamodb.schema import TableSchema, parse_table_arn
from lambdashift.dynamodb.store import Store

_NOT_FOUND = "Resource-based policy not found for the provided ResourceArn: "
_last_revision = 0


def check_policy(document: Any) -> str:
    """A policy document: a JSON object of at most 20 KB (AWS's limit), kept as sent."""
    if not isinstance(document, str) or not document:
        raise ValidationException("1 validation error detected: Value null at 'policy' failed "
                                  "to satisfy constraint: Member must not be null")
    try:
        parsed = json.loads(document)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or "Statement" not in parsed:
        raise ValidationException("Invalid policy document: a JSON object with a Statement "
                                  "is required")
    if len(document.encode("utf-8")) > 20 * 1024:
        raise ValidationException("Resource-based policy document exceeds the maximum "
                                  "allowed size of 20 KB")
    return document


def new_revision() -> str:
    """A revision id: milliseconds since the epoch, as AWS's look, never repeated."""
    global _last_revision
    _last_revision = max(_last_revision + 1, time.time_ns() // 1_000_000)
    return str(_last_revision)


def _table(store: Store, request: dict[str, Any]) -> tuple[str, TableSchema]:
    arn = request.get("ResourceArn")
    if not isinstance(arn, str):
        raise ValidationException("1 validation error detected: Value null at 'resourceArn' "
                                  "failed to satisfy constraint: Member must not be null")
    if not arn.startswith("arn:aws:dynamodb:") or ":table/" not in arn:
        raise ValidationException(f"Invalid ResourceArn provided as input {arn}: a table ARN "
                                  "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME) is required")
    name = parse_table_arn(arn)  # None: another account's or region's table, not here
    if name is None:
        raise ResourceNotFoundException(f"Requested resource not found: {arn} not found")
    schema = store.schema(name)
    if schema is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return arn, schema


def _expect(schema: TableSchema, expected: Any) -> None:
    current = schema.policy[1] if schema.policy else None
    if expected == "NO_POLICY" and current is not None:
        raise PolicyNotFoundException(
            f"{_NOT_FOUND}Requested policy update expecting none to be present for table "
            f"{schema.name}, but a policy exists with revision id {current}."
        )
    if expected not in (None, "NO_POLICY") and expected != current:
        raise PolicyNotFoundException(
            f"{_NOT_FOUND}Requested update for policy with revision id {expected}, but the "
            f"policy associated to target table {schema.name} has revision id {current}."
        )


def put_resource_policy(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """PutResourcePolicy: attach or replace the table's policy; its new revision id."""
    _, schema = _table(store, request)
    document = check_policy(request.get("Policy"))
    _expect(schema, request.get("ExpectedRevisionId"))
    if schema.policy is not None and schema.policy[0] == document:
        return {"RevisionId": schema.policy[1]}  # the same document: no new revision
    revision = new_revision()
    store.save_schema(replace(schema, policy=(document, revision)))
    return {"RevisionId": revision}


def get_resource_policy(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """GetResourcePolicy: the document and its revision id."""
    arn, schema = _table(store, request)
    if schema.policy is None:
        raise PolicyNotFoundException(f"{_NOT_FOUND}{arn}")
    return {"Policy": schema.policy[0], "RevisionId": schema.policy[1]}


def delete_resource_policy(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """DeleteResourcePolicy: remove the policy (a table without one: not found)."""
    _, schema = _table(store, request)
    if schema.policy is None:
        raise ResourceNotFoundException(
            f"Requested resource not found: Table: {schema.name} not found"
        )
    _expect(schema, request.get("ExpectedRevisionId"))
    store.save_schema(replace(schema, policy=None))
    return {"RevisionId": new_revision()}
