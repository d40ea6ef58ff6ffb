"""The article's release, v1 → v2, with a mixed fleet at each stage (issue 3's walkthrough).

v2 of notes-create stamps created_at; v2 of notes-get always returns created_at (null for
notes v1 wrote). The walkthrough ships create v2 alone first, so get v1 must read v2 notes,
then get v2, which must read v1 notes. The list must show notes of both releases.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import NotesStack


@pytest.fixture(scope="module")
def http(notes_stack: NotesStack):
    with httpx.Client(base_url=notes_stack.api_url, timeout=30) as client:
        yield client


def test_release_v2_create_first_then_get_with_mixed_fleets(notes_stack, http):
    v1_note = http.post("/notes", json={"title": "from v1", "content": "old"})
    assert v1_note.headers["x-function-version"] == "1"
    v1_id = v1_note.json()["id"]
    assert "created_at" not in v1_note.json()

    # Stage 1: create on v2, get still on v1.
    assert notes_stack.ship("notes-create", "v2", "create_note") == "2"
    v2_note = http.post("/notes", json={"title": "from v2", "content": "new"})
    assert v2_note.status_code == 201 and v2_note.headers["x-function-version"] == "2"
    v2_id = v2_note.json()["id"]
    assert v2_note.json()["created_at"].endswith(("Z", "+00:00"))
    got = http.get(f"/notes/{v2_id}")
    assert got.status_code == 200 and got.headers["x-function-version"] == "1"
    assert got.json()["title"] == "from v2"  # v1 returns the stored note, whatever it holds
    v1_reads_v1 = http.get(f"/notes/{v1_id}").json()
    assert "created_at" not in v1_reads_v1  # v1 never invents a field

    # Stage 2: get on v2 as well: created_at always present, null for notes v1 wrote.
    assert notes_stack.ship("notes-get", "v2", "get_note") == "2"
    old = http.get(f"/notes/{v1_id}")
    new = http.get(f"/notes/{v2_id}")
    assert old.headers["x-function-version"] == new.headers["x-function-version"] == "2"
    assert old.json()["created_at"] is None
    assert new.json()["created_at"] == v2_note.json()["created_at"]

    # The list (still v1) shows notes of both releases, newest first.
    listed = [n["id"] for n in http.get("/notes", params={"limit": 100}).json()["items"]]
    assert v1_id in listed and v2_id in listed and listed.index(v2_id) < listed.index(v1_id)


def test_rolling_back_create_to_v1_keeps_every_note_readable(notes_stack, http):
    lam = notes_stack.lam
    alias = lam.get_alias(FunctionName="notes-create", Name="live")
    lam.update_alias(FunctionName="notes-create", Name="live", FunctionVersion="1",
                     RevisionId=alias["RevisionId"])
    back = http.post("/notes", json={"title": "after rollback"})
    assert back.headers["x-function-version"] == "1"
    got = http.get(f"/notes/{back.json()['id']}")
    assert got.status_code == 200 and got.json()["created_at"] is None
