"""notes-update: ``PUT /notes/{id}`` changes a note's title and/or content; 404 if absent.

One conditional UpdateItem does it: ``attribute_exists(id)`` makes a note deleted in the
meantime a 404 instead of an UpdateItem that silently creates a half note (UpdateItem
upserts by default). Fields not given keep their value; ``updated_at`` is set to now.
The creation key ``sk`` is left alone, so an update does not move a note in the list.

No lost updates: every update adds 1 to the note's ``version``. An update that names the
version it read (``If-Match: "3"``, or ``"version": 3`` in the body) adds
``version = 3`` to the condition, so when another writer got there first it changes
nothing and answers 409 with the version the note is at now. An update that names no
version is unconditional (last writer wins), as it was before notes had versions.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

import notes_common as notes


@notes.http_handler
def handler(event: dict[str, Any], context: Any) -> notes.Response:
    note_id = notes.path_id(event)
    body = notes.json_body(event)
    expected = notes.expected_version(event, body)
    fields = notes.note_fields(body, require_title=False)
    if not fields:
        raise notes.HttpError(400, "nothing to update: give title and/or content")
    changes = {**fields, "updated_at": notes.utc_now()}
    names = {"#version": notes.VERSION_ATTRIBUTE, **{f"#{n}": n for n in changes}}
    values: dict[str, Any] = {f":{name}": value for name, value in changes.items()}
    values[":one"] = 1
    condition = notes.version_condition(expected, names, values)
    try:
        result = notes.table().update_item(
            Key={"id": note_id},
            # ADD treats a missing version as 0: a note from before versions becomes 1.
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in changes)
            + " ADD #version :one",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            # On a failed condition, the note as it is: 404 or 409 without a second read.
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if not notes.is_condition_failure(exc):
            raise
        raise notes.missing_or_changed(note_id, expected, exc.response.get("Item"),
                                       "re-apply your change") from None
    note = notes.public_note(result["Attributes"])
    return notes.Response(200, note, notes.etag(note[notes.VERSION_ATTRIBUTE]))

