"""notes-create, release 2: ``POST /notes`` stores a new note stamped with ``created_at``.

The note gets a fresh UUID; ``title`` is required, ``content`` defaults to "". The list
index keys (``kind``, ``sk``) are written too, so the note is listed newest first.
A new note is ``version`` 1 (the answer's ``ETag``); every update adds 1.
``created_at`` (UTC ISO-8601) is the same instant that orders the list.
"""

from __future__ import annotations

import uuid
from typing import Any

import notes_common as notes


@notes.http_handler
def handler(event: dict[str, Any], context: Any) -> notes.Response:
    fields = notes.note_fields(notes.json_body(event), require_title=True)
    note_id = str(uuid.uuid4())
    now = notes.utc_now()
    item = {
        "id": note_id,
        "title": fields["title"],
        "content": fields.get("content", ""),
        notes.VERSION_ATTRIBUTE: 1,
        "created_at": now,
        **notes.list_keys(note_id, now),
    }
    # The condition makes an (astronomically unlikely) UUID collision fail loudly
    # instead of overwriting somebody's note.
    notes.table().put_item(
        Item=item,
        ConditionExpression="attribute_not_exists(#id)",
        ExpressionAttributeNames={"#id": "id"},
    )
    return notes.Response(
        201, notes.public_note(item), {"Location": f"/notes/{note_id}", **notes.etag(1)}
    )
