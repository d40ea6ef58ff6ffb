"""notes-update: ``PUT /notes/{id}`` changes a note's title and/or content; 404 if absent.

One conditional UpdateItem does it: ``attribute_exists(id)`` makes a note deleted in the
meantime a 404 instead of an UpdateItem that silently creates a half note (UpdateItem
upserts by default). Fields not given keep their value; ``updated_at`` is set to now.
The creation key ``sk`` is left alone, so an update does not move a note in the list.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

import notes_common as notes


@notes.http_handler
def handler(event: dict[str, Any], context: Any) -> notes.Response:
    note_id = notes.path_id(event)
    fields = notes.note_fields(notes.json_body(event), require_title=False)
    if not fields:
        raise notes.HttpError(400, "nothing to update: give title and/or content")
    changes = {**fields, "updated_at": notes.utc_now()}
    names = {"#id": "id", **{f"#{name}": name for name in changes}}
    values = {f":{name}": value for name, value in changes.items()}
    try:
        result = notes.table().update_item(
            Key={"id": note_id},
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in changes),
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if notes.is_condition_failure(exc):
            raise notes.HttpError(404, f"note {note_id} not found") from None
        raise
    return notes.Response(200, notes.public_note(result["Attributes"]))
