"""notes-get, release 1: ``GET /notes/{id}`` answers the note, or 404.

The read is strongly consistent: a client that has just created a note can read it.
Attributes this release does not know (``created_at`` of notes written by a newer
notes-create) are passed through untouched, so it keeps working during a rollout.
"""

from __future__ import annotations

from typing import Any

import notes_common as notes


@notes.http_handler
def handler(event: dict[str, Any], context: Any) -> notes.Response:
    note_id = notes.path_id(event)
    item = notes.table().get_item(Key={"id": note_id}, ConsistentRead=True).get("Item")
    if item is None:
        raise notes.HttpError(404, f"note {note_id} not found")
    note = notes.public_note(item)
    # The version an update names in If-Match to be sure it changes what was read.
    return notes.Response(200, note, notes.etag(note[notes.VERSION_ATTRIBUTE]))
