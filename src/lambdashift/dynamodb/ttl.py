"""Time to Live: UpdateTimeToLive, DescribeTimeToLive, and the sweep that deletes.

AWS's rules (developer guide, "Using time to live (TTL) in DynamoDB"):

* TTL is enabled per table on one attribute; an item expires when that attribute is a
  Number holding an epoch time in seconds that has passed. Items without it, or with
  another type, never expire. Items whose time is more than five years in the past are
  not deleted either (AWS takes them for values that are not epoch seconds).
* Expired items are deleted in the background, "typically within a few days" of their
  expiry, without consuming write capacity. Until then they are still returned by
  reads, so code that must not see them filters on the attribute.

Here the sweep runs every ``LAMBDASHIFT_DYNAMODB_TTL_SWEEP`` seconds (default 60): an
expired item is gone at most about a minute after its time, not days, so a TTL-driven
flow can be tried locally without waiting, while reads between expiry and the sweep
still see the item as they would on AWS. Each sweep deletes in batches, so a large table
does not hold the endpoint up; deletions go through the same write path as DeleteItem,
indexes included.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from lambdashift.dynamodb.errors import ValidationException, detected, require_shape
from lambdashift.dynamodb.requests import table
from lambdashift.dynamodb.store import Store

DEFAULT_SWEEP_SECONDS = 60.0
FIVE_YEARS = 5 * 365 * 24 * 3600
_BATCH = 500


def sweep_seconds() -> float:
    """How often the background sweep runs (``LAMBDASHIFT_DYNAMODB_TTL_SWEEP``)."""
    try:
        value = float(os.environ.get("LAMBDASHIFT_DYNAMODB_TTL_SWEEP", DEFAULT_SWEEP_SECONDS))
    except ValueError:
        return DEFAULT_SWEEP_SECONDS
    return value if value > 0 else DEFAULT_SWEEP_SECONDS


def update_time_to_live(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """UpdateTimeToLive: enable TTL on an attribute, or disable it."""
    spec = request.get("TimeToLiveSpecification")
    if spec is None:
        raise detected("Value null at 'timeToLiveSpecification' failed to satisfy constraint: "
                       "Member must not be null")
    require_shape(isinstance(spec, dict), "TimeToLiveSpecification")
    enabled, attribute = spec.get("Enabled"), spec.get("AttributeName")
    if enabled is None:
        raise detected("Value null at 'timeToLiveSpecification.enabled' failed to satisfy "
                       "constraint: Member must not be null")
    if attribute is None:
        raise detected("Value null at 'timeToLiveSpecification.attributeName' failed to "
                       "satisfy constraint: Member must not be null")
    require_shape(isinstance(enabled, bool), "TimeToLiveSpecification.Enabled")
    require_shape(isinstance(attribute, str), "TimeToLiveSpecification.AttributeName")
    if not attribute or len(attribute) > 255:
        bound = "greater than or equal to 1" if not attribute else "less than or equal to 255"
        raise detected(f"Value '{attribute}' at 'timeToLiveSpecification.attributeName' failed "
                       f"to satisfy constraint: Member must have length {bound}")
    schema = table(store, request)
    if enabled and schema.ttl_attribute is not None:
        raise ValidationException("TimeToLive is already enabled")
    if not enabled and schema.ttl_attribute is None:
        raise ValidationException("TimeToLive is already disabled")
    store.save_schema(replace(schema, ttl_attribute=attribute if enabled else None))
    return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}


def describe_time_to_live(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """DescribeTimeToLive: ENABLED with the attribute, or DISABLED."""
    schema = table(store, request)
    if schema.ttl_attribute is None:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED",
                                      "AttributeName": schema.ttl_attribute}}


def expired(item: dict[str, Any], attribute: str, now: float) -> bool:
    """Whether TTL deletes ``item`` at ``now``: a Number of epoch seconds in the past,
    less than five years so."""
    value = item.get(attribute)
    if not isinstance(value, dict) or "N" not in value:
        return False
    try:
        at = Decimal(value["N"])
    except InvalidOperation:
        return False
    return now - FIVE_YEARS <= at < Decimal(repr(now))


def sweep(store: Store, now: float | None = None) -> Iterator[int]:
    """Delete the expired items of every table with TTL enabled, one batch at a time.

    Yields how many items each batch deleted, so the server can let requests in between
    batches; ``sum(sweep(store))`` runs it through.
    """
    now = time.time() if now is None else now
    for name in store.table_names():
        schema = store.schema(name)
        if schema is None or schema.ttl_attribute is None:
            continue
        attribute = schema.ttl_attribute
        # Items are stored as compact JSON: the attribute appears as "name":{"N":...
        needle = json.dumps(attribute, ensure_ascii=False) + ':{"N":'
        after = None
        while store.schema(name) is schema:  # the table may go, or change, between batches
            rows = store.rows_mentioning(name, needle, after, _BATCH)
            if not rows:
                break
            after = rows[-1][0]
            deleted = 0
            with store.transaction():
                for key, item in rows:
                    if expired(item, attribute, now):
                        store.write(name, key, item, None)
                        deleted += 1
            yield deleted
