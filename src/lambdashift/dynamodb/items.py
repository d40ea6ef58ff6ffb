"""Item operations: PutItem, UpdateItem, DeleteItem, GetItem, the batches, transactions.

A write is prepared first (request checked, expressions parsed, key encoded) into an
:class:`Action`, then applied inside a store transaction: read the current item, check
the condition, compute the new item, write. TransactWriteItems prepares every action,
checks every condition, and writes only if all of them hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdashift.dynamodb import requests as req
from lambdashift.dynamodb.errors import (
    ConditionalCheckFailedException,
    TransactionCanceledException,
    ValidationException,
    invalid_parameter,
    require_shape,
)
from lambdashift.dynamodb.evaluate import apply_update, holds, project
from lambdashift.dynamodb.expressions import Path, Update
from lambdashift.dynamodb.schema import TableSchema
from lambdashift.dynamodb.keys import RowKey
from lambdashift.dynamodb.store import Store
from lambdashift.dynamodb.types import check_item, check_item_size, item_size

_FAILURE_RETURNS = ("NONE", "ALL_OLD")


@dataclass
class Action:
    """One prepared write: what to do to which item, under which condition."""

    kind: str  # "put" | "update" | "delete" | "check"
    schema: TableSchema
    key: RowKey
    key_item: dict[str, Any]
    condition: Any = None
    item: dict[str, Any] | None = None
    update: Update | None = None
    return_old_on_failure: bool = False
    #: The new item's size, once known (a put knows it from the start).
    size: int = 0

    def new_item(self, old: dict[str, Any] | None) -> dict[str, Any] | None:
        """The item after this action, from the one before it (None: no item)."""
        if self.kind == "put":
            return self.item
        if self.kind == "delete":
            return None
        if self.kind == "check":
            return old
        base = old if old is not None else dict(self.key_item)
        new = apply_update(self.update, base) if self.update is not None else base
        req.check_index_keys(self.schema, new)
        self.size = check_item_size(new)
        return new

    def passes(self, old: dict[str, Any] | None) -> bool:
        """Whether the condition (if any) holds for the current item."""
        return self.condition is None or holds(self.condition, old or {})


def _prepare(store: Store, request: dict[str, Any], kind: str, *,
             transaction: bool = False, single: bool = False) -> Action:
    """Check one write and parse it into an :class:`Action`.

    AWS's order: the request on its own (expressions, placeholders, the item's values)
    first, then the table, then the key against the table's schema. ``single``: a
    PutItem/UpdateItem/DeleteItem call (not a batch or transaction entry).
    """
    allowed = ["ConditionExpression"] + (["UpdateExpression"] if kind == "update" else [])
    if kind == "check" and not request.get("ConditionExpression"):
        raise ValidationException(
            "The ConditionExpression parameter is required for a ConditionCheck"
        )
    parsed = req.expressions(request, *allowed, write=single, transaction=transaction)
    item = check_item(request.get("Item")) if kind == "put" else None
    schema = req.table(store, request)
    if item is not None:
        key = req.item_key(schema, item)
        size = check_item_size(item)
        key_item = {name: item[name] for name in schema.key.names()}
    else:
        key_item, key = req.request_key(schema, request.get("Key"))
        size = 0
    update = parsed.update
    if update is not None:
        keys = set(schema.key.names())
        for path in update.paths():
            if path.parts[0] in keys:
                raise ValidationException(
                    f"One or more parameter values were invalid: Cannot update attribute "
                    f"{path.parts[0]}. This attribute is part of the key"
                )
    on_failure = req.choice(request, "ReturnValuesOnConditionCheckFailure", _FAILURE_RETURNS)
    return Action(kind, schema, key, key_item, parsed.condition, item, update,
                  on_failure == "ALL_OLD", size)


def _apply(store: Store, action: Action) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Run one action in a transaction; ``(old, new)`` items."""
    name = action.schema.name
    with store.transaction():
        old = store.get(name, action.key)
        if not action.passes(old):
            raise ConditionalCheckFailedException(
                old if action.return_old_on_failure and old is not None else None
            )
        new = action.new_item(old)
        if old is not None or new is not None:
            store.write(name, action.key, old, new, action.size)
    return old, new


def _write_units(*items: dict[str, Any] | None) -> Callable[[], float]:
    """Write capacity units, the larger item's KB rounded up (computed only if asked for)."""
    return lambda: float(max([1] + [math.ceil(item_size(i) / 1024) for i in items if i]))


# ---------------------------------------------------------------------------------------
# Single-item writes


def put_item(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """PutItem: create or replace an item, optionally under a condition."""
    returns = req.choice(request, "ReturnValues", ("NONE", "ALL_OLD"))
    action = _prepare(store, request, "put", single=True)
    old, new = _apply(store, action)
    result = {"Attributes": old} if returns == "ALL_OLD" and old else {}
    return {**result, **req.consumed(action.schema, request, _write_units(old, new))}


def delete_item(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """DeleteItem: remove an item (no error if there is none, unless a condition says so)."""
    returns = req.choice(request, "ReturnValues", ("NONE", "ALL_OLD"))
    action = _prepare(store, request, "delete", single=True)
    old, _ = _apply(store, action)
    result = {"Attributes": old} if returns == "ALL_OLD" and old else {}
    return {**result, **req.consumed(action.schema, request, _write_units(old))}


def update_item(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """UpdateItem: change an item's attributes, creating the item if it does not exist."""
    returns = req.choice(
        request, "ReturnValues", ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")
    )
    action = _prepare(store, request, "update", single=True)
    old, new = _apply(store, action)
    paths = action.update.paths() if action.update is not None else []
    attributes = {
        "NONE": None,
        "ALL_OLD": old,
        "ALL_NEW": new,
        "UPDATED_OLD": _updated(old, paths),
        "UPDATED_NEW": _updated(new, paths),
    }[returns]
    result = {"Attributes": attributes} if attributes else {}
    return {**result, **req.consumed(action.schema, request, _write_units(old, new))}


def _updated(item: dict[str, Any] | None, paths: list[Path]) -> dict[str, Any] | None:
    return project(item, paths) if item is not None else None


# ---------------------------------------------------------------------------------------
# Reads


def get_item(store: Store, request: dict[str, Any]) -> dict[str, Any] | str:
    """GetItem; answered from the stored JSON as is when nothing is projected."""
    parsed = req.expressions(request, "ProjectionExpression")
    schema = req.table(store, request)
    _, key = req.request_key(schema, request.get("Key"))
    projection = req.projection_of(request, parsed)
    extra = req.consumed(schema, request, lambda: 1.0 if request.get("ConsistentRead") else 0.5)
    raw = store.get_raw(schema.name, key)
    if raw is None:
        return extra
    if projection is None and not extra:
        return '{"Item":' + raw + "}"
    item = store.get(schema.name, key) or {}
    return {"Item": project(item, projection) if projection else item, **extra}


def batch_get_item(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """BatchGetItem: up to 100 keys over several tables; nothing is ever left unprocessed."""
    tables = request.get("RequestItems")
    if not isinstance(tables, dict) or not tables:
        raise ValidationException("The requestItems parameter is required for BatchGetItem")
    for spec in tables.values():
        require_shape(isinstance(spec, dict) and isinstance(spec.get("Keys"), list),
                      "RequestItems")
    if sum(len(spec.get("Keys") or []) for spec in tables.values()) > 100:
        raise ValidationException("Too many items requested for the BatchGetItem call")
    responses: dict[str, list[dict[str, Any]]] = {}
    for name, spec in tables.items():
        parsed = req.expressions(spec, "ProjectionExpression")
        schema = req.table(store, {**spec, "TableName": name})
        projection = req.projection_of(spec, parsed)
        keys = [req.request_key(schema, key)[1] for key in spec.get("Keys") or []]
        if len(set(keys)) != len(keys):
            raise ValidationException("Provided list of item keys contains duplicates")
        found = responses.setdefault(name, [])
        for key in keys:
            item = store.get(schema.name, key)
            if item is not None:
                found.append(project(item, projection) if projection else item)
    return {"Responses": responses, "UnprocessedKeys": {}}


# ---------------------------------------------------------------------------------------
# Batches and transactions


def batch_write_item(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """BatchWriteItem: up to 25 puts and deletes, checked first, then written together."""
    tables = request.get("RequestItems")
    if not isinstance(tables, dict) or not tables:
        raise ValidationException("The requestItems parameter is required for BatchWriteItem")
    for writes in tables.values():
        require_shape(isinstance(writes, list) and all(isinstance(w, dict) for w in writes),
                      "RequestItems")
    if sum(len(writes) for writes in tables.values()) > 25:
        raise ValidationException(
            "1 validation error detected: Value at 'requestItems' failed to satisfy "
            "constraint: Map value must satisfy constraint: [Member must have length less "
            "than or equal to 25, Member must have length greater than or equal to 1]"
        )
    actions: list[Action] = []
    for name, writes in tables.items():
        seen: set[RowKey] = set()
        for write in writes:
            require_shape(all(isinstance(v, dict) for v in write.values()), "RequestItems")
            if set(write) == {"PutRequest"}:
                action = _prepare(store, {**write["PutRequest"], "TableName": name}, "put")
            elif set(write) == {"DeleteRequest"}:
                action = _prepare(store, {**write["DeleteRequest"], "TableName": name}, "delete")
            else:
                raise ValidationException(
                    "Supplied AttributeValue has more than one datatypes set, must contain "
                    "exactly one of the supported datatypes"
                )
            if action.key in seen:
                raise ValidationException("Provided list of item keys contains duplicates")
            seen.add(action.key)
            actions.append(action)
    with store.transaction():
        for action in actions:
            _apply(store, action)
    return {"UnprocessedItems": {}}


_TRANSACT_KINDS = {"Put": "put", "Update": "update", "Delete": "delete", "ConditionCheck": "check"}


def transact_write_items(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """TransactWriteItems: every action's condition holds and all are written, or none."""
    entries = request.get("TransactItems")
    if not isinstance(entries, list) or not 1 <= len(entries) <= 100:
        raise ValidationException(
            "1 validation error detected: Value at 'transactItems' failed to satisfy "
            "constraint: Member must have length less than or equal to 100"
        )
    actions = []
    for entry in entries:
        if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in _TRANSACT_KINDS:
            raise ValidationException(
                "TransactItems can only contain one of Check, Put, Update or Delete"
            )
        operation, body = next(iter(entry.items()))
        require_shape(isinstance(body, dict), f"TransactItems.{operation}")
        actions.append(_prepare(store, body, _TRANSACT_KINDS[operation], transaction=True))
    targets = [(a.schema.name, a.key) for a in actions]
    if len(set(targets)) != len(targets):
        raise ValidationException(
            "Transaction request cannot include multiple operations on one item"
        )
    with store.transaction():
        olds = [store.get(a.schema.name, a.key) for a in actions]
        reasons: list[dict[str, Any]] = []
        for action, old in zip(actions, olds):
            if action.passes(old):
                reasons.append({"Code": "None"})
                continue
            reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
            if action.return_old_on_failure and old is not None:
                reason["Item"] = old
            reasons.append(reason)
        if any(reason["Code"] != "None" for reason in reasons):
            raise TransactionCanceledException(reasons)
        for action, old in zip(actions, olds):
            new = action.new_item(old)
            if action.kind != "check" and (old is not None or new is not None):
                store.write(action.schema.name, action.key, old, new, action.size)
    return {}


def transact_get_items(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """TransactGetItems: up to 100 Gets, read together."""
    entries = request.get("TransactItems")
    if not isinstance(entries, list) or not 1 <= len(entries) <= 100:
        raise invalid_parameter("TransactItems must hold 1 to 100 Get actions")
    responses = []
    for entry in entries:
        body = entry.get("Get") if isinstance(entry, dict) else None
        if not isinstance(body, dict):
            raise ValidationException("TransactGetItems can only contain Get actions")
        parsed = req.expressions(body, "ProjectionExpression", transaction=True)
        schema = req.table(store, body)
        _, key = req.request_key(schema, body.get("Key"))
        projection = req.projection_of(body, parsed)
        item = store.get(schema.name, key)
        if item is None:
            responses.append({})
        else:
            responses.append({"Item": project(item, projection) if projection else item})
    return {"Responses": responses}
