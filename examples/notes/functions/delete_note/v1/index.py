"""notes-delete: ``DELETE /notes/{id}`` removes a note: 204, or 404 if there was none.

One conditional DeleteItem: DynamoDB deletes nothing and raises when the note is absent,
so the answer is exact without a read before the write (which could race another delete).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

import notes_common as notes


@notes.http_handler
def handler(event: dict[str, Any], context: Any) -> notes.Response:
    note_id = notes.path_id(event)
    try:
        notes.table().delete_item(
            Key={"id": note_id},
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#id": "id"},
        )
    except ClientError as exc:
        if notes.is_condition_failure(exc):
            raise notes.HttpError(404, f"note {note_id} not found") from None
        raise
    return notes.Response(204)
