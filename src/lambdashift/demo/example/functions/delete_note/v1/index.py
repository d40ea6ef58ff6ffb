"""notes-delete: ``DELETE /notes/{id}`` removes a note: 204, or 404 if there was none.

One conditional DeleteItem: DynamoDB deletes nothing and raises when the note is absent,
so the answer is exact without a read before the write (which could race another delete).
A delete that names the version it read (``If-Match: "3"``) adds ``version = 3`` to the
condition: if another writer changed the note since, nothing is deleted and the answer is
409 with the version the note is at now, so an update is never lost to a stale delete.
Without If-Match (or with ``*``) the delete is unconditional, as before.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

import notes_common as notes


@notes.http_handler
def handler(event: dict[str, Any], context: Any) -> notes.Response:
    note_id = notes.path_id(event)
    expected = notes.expected_version(event, {})  # If-Match only: a DELETE has no body
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    condition = notes.version_condition(expected, names, values)
    try:
        notes.table().delete_item(
            Key={"id": note_id},
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            **({"ExpressionAttributeValues": values} if values else {}),
            # On a failed condition, the note as it is: 404 or 409 without a second read.
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if notes.is_condition_failure(exc):
            raise notes.missing_or_changed(note_id, expected, exc.response.get("Item"),
                                           "delete it again if you still mean to") from None
        raise
    return notes.Response(204)
