"""notes-get, release 2: ``GET /notes/{id}`` answers the note with ``created_at``, or 404.

The read is strongly consistent: a client that has just created a note can read it.
``created_at`` is always present: null for notes written before notes-create release 2.
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
    note = {**notes.public_note(item), "created_at": item.get("created_at")}
    # The version an update names in If-Match to be sure it changes what was read.
    return notes.Response(200, note, notes.etag(note[notes.VERSION_ATTRIBUTE]))
