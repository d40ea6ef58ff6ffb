"""DynamoDB's JSON 1.0 protocol as a bare ASGI application.

``POST /`` with ``X-Amz-Target: DynamoDB_20120810.<Operation>`` and a JSON body; the
answer is ``application/x-amz-json-1.0``, errors ``{"__type": ..., "message": ...}``
with AWS's status. No framework sits in between: at a few hundred microseconds per
request, routing and request objects would be a good part of the cost.

``GET /_lambdashift/health`` answers ``{"status": "ok"}`` for readiness checks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import traceback
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from lambdashift.dynamodb import items, partiql, policies, reads, table_updates, tables, ttl
from lambdashift.dynamodb.errors import (
    DynamoError,
    InternalServerError,
    SerializationException,
    UnknownOperationException,
)
from lambdashift.dynamodb.store import Store

Operation = Callable[[Store, dict[str, Any]], "dict[str, Any] | str"]
ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]],
                   Awaitable[None]]

TARGET_PREFIX = "DynamoDB_20120810."
OPERATIONS: dict[str, Operation] = {
    "CreateTable": tables.create_table,
    "DescribeTable": tables.describe_table,
    "ListTables": tables.list_tables,
    "DeleteTable": tables.delete_table,
    "UpdateTable": table_updates.update_table,
    "PutItem": items.put_item,
    "GetItem": items.get_item,
    "UpdateItem": items.update_item,
    "DeleteItem": items.delete_item,
    "BatchWriteItem": items.batch_write_item,
    "BatchGetItem": items.batch_get_item,
    "TransactWriteItems": items.transact_write_items,
    "TransactGetItems": items.transact_get_items,
    "Query": reads.query,
    "Scan": reads.scan,
    "UpdateTimeToLive": ttl.update_time_to_live,
    "DescribeTimeToLive": ttl.describe_time_to_live,
    "PutResourcePolicy": policies.put_resource_policy,
    "GetResourcePolicy": policies.get_resource_policy,
    "DeleteResourcePolicy": policies.delete_resource_policy,
    "ExecuteStatement": partiql.execute_statement,
    "BatchExecuteStatement": partiql.batch_execute_statement,
}
_CONTENT_TYPE = b"application/x-amz-json-1.0"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def handle(store: Store, target: str | None, body: bytes) -> tuple[int, bytes]:
    """Run one request: ``(status, response body)``. Never raises."""
    try:
        name = target[len(TARGET_PREFIX):] if target and target.startswith(TARGET_PREFIX) else None
        operation = OPERATIONS.get(name) if name else None
        if operation is None:
            raise UnknownOperationException(
                f"lambdashift's DynamoDB does not serve the operation {target!r}"
            )
        try:
            request = json.loads(body) if body else {}
        except (ValueError, RecursionError):
            raise SerializationException("The request body is not valid JSON") from None
        if not isinstance(request, dict):
            raise SerializationException(
                "Start of list found where not expected" if isinstance(request, list)
                else "Unexpected value: the request body must be a JSON object"
            )
        result = operation(store, request)
        text = result if isinstance(result, str) else _dumps(result)
        return 200, text.encode("utf-8")
    except DynamoError as exc:
        return exc.status, _dumps(exc.to_body()).encode("utf-8")
    except Exception as exc:  # a bug of ours: answer 500 as AWS would, and say why here
        traceback.print_exc(file=sys.stderr)
        error = InternalServerError(f"lambdashift dynamodb failed: {type(exc).__name__}: {exc}")
        return error.status, _dumps(error.to_body()).encode("utf-8")


async def _sweep_forever(store: Store) -> None:
    """TTL's background deletions (see ``ttl.py`` for the lag and why), between requests."""
    interval = ttl.sweep_seconds()
    while True:
        await asyncio.sleep(interval)
        try:
            for _ in ttl.sweep(store):
                await asyncio.sleep(0)  # let waiting requests in between batches
        except Exception:  # a bug of ours: say so, and keep serving (and sweeping)
            traceback.print_exc(file=sys.stderr)


def build_app(store: Store) -> ASGIApp:
    """The ASGI application serving ``store``."""
    ids = itertools.count(1)
    prefix = os.urandom(8).hex().upper()

    async def app(scope: dict, receive: Callable[[], Awaitable[dict]],
                  send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            sweeper = None
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    sweeper = asyncio.create_task(_sweep_forever(store))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if sweeper is not None:
                        sweeper.cancel()
                    # Close here, not after uvicorn returns: on SIGTERM uvicorn re-raises the
                    # signal once it has served, and the process ends before a finally runs.
                    # Closing checkpoints the WAL into the database file.
                    store.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] == "GET" and scope["path"] == "/_lambdashift/health":
            status, payload = 200, b'{"status":"ok"}'
        else:
            target = None
            for name, value in scope["headers"]:
                if name == b"x-amz-target":
                    target = value.decode("latin-1")
                    break
            status, payload = handle(store, target, b"".join(chunks))
        request_id = f"{prefix}{next(ids):036d}".encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", _CONTENT_TYPE),
                (b"content-length", str(len(payload)).encode()),
                (b"x-amzn-requestid", request_id),
                # boto3 checks the body against this, as it does with DynamoDB's answers.
                (b"x-amz-crc32", str(zlib.crc32(payload)).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": payload})

    return app
