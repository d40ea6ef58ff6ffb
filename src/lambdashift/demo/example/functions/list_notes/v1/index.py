"""notes-list: ``GET /notes?limit=20&cursor=...`` answers one page of notes, newest first.

The page is read from the ``by-created`` global secondary index (partition ``kind``,
sort ``sk`` = creation time + id), in descending ``sk`` order: its cost depends on the
page size, not on the size of the table, unlike a Scan, which reads every note and
returns them in no useful order. Every release of notes-create writes ``kind`` and
``sk``, so notes without ``created_at`` are listed like the others.

``limit`` is 1..100 (default 20). ``next_cursor`` is null on the last page; otherwise
pass it back as ``cursor`` to get the next page. It is the URL-safe base64 of the index
key of the last note on the page (DynamoDB's ``LastEvaluatedKey``) and is opaque to
clients. The index is eventually consistent: a note created a moment ago may be
missing from the list for a moment, never from ``GET /notes/{id}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from boto3.dynamodb.conditions import Key

import notes_common as notes

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_MAX_CURSOR_CHARS = 512
_LIMIT = re.compile(r"[0-9]{1,3}")
_KEY_ATTRIBUTES = ("id", "kind", "sk")


@notes.http_handler
def handler(event: dict[str, Any], context: Any) -> notes.Response:
    params = notes.query_params(event)
    limit = parse_limit(params.get("limit"))
    start = decode_cursor(params.get("cursor"))
    items, more = read_page(notes.table(), limit, start)
    next_cursor = encode_cursor(items[-1]) if more else None
    return notes.Response(
        200, {"items": [notes.public_note(item) for item in items], "next_cursor": next_cursor}
    )


def read_page(
    table: Any, limit: int, start: dict[str, str] | None
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` notes, newest first, after ``start``; and whether more follow.

    Asking for one note more than the page tells whether another page exists, so the last
    page carries no cursor that would lead to an empty page. DynamoDB may stop a query
    early at 1 MB of data (about 25 notes of 10,000 four-byte characters), so keep
    querying until the page is full or the index is exhausted.
    """
    items: list[dict[str, Any]] = []
    while True:
        query: dict[str, Any] = {
            "IndexName": notes.LIST_INDEX,
            "KeyConditionExpression": Key("kind").eq(notes.NOTE_KIND),
            "ScanIndexForward": False,
            "Limit": limit + 1 - len(items),
        }
        if start is not None:
            query["ExclusiveStartKey"] = start
        result = table.query(**query)
        items.extend(result.get("Items", []))
        start = result.get("LastEvaluatedKey")
        if len(items) > limit or start is None:
            return items[:limit], len(items) > limit


def parse_limit(raw: str | None) -> int:
    """The ``limit`` query parameter: an integer in 1..100; 400 otherwise."""
    if raw is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise notes.HttpError(
            400, f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw[:20]!r}"
        )
    return int(raw)


def encode_cursor(item: dict[str, Any]) -> str:
    """The opaque cursor that resumes the listing after ``item``."""
    key = {name: item[name] for name in _KEY_ATTRIBUTES}
    text = json.dumps(key, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(raw: str | None) -> dict[str, str] | None:
    """The index key a ``cursor`` query parameter stands for; 400 if it is not one of ours."""
    if raw is None:
        return None
    invalid = notes.HttpError(400, "cursor is not valid: pass back a next_cursor unchanged")
    if not raw or len(raw) > _MAX_CURSOR_CHARS:
        raise invalid
    try:
        padded = raw + "=" * (-len(raw) % 4)
        key = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise invalid from None
    if (
        not isinstance(key, dict)
        or sorted(key) != sorted(_KEY_ATTRIBUTES)
        or not all(isinstance(value, str) and value for value in key.values())
        or key["kind"] != notes.NOTE_KIND
    ):
        raise invalid
    return key
