"""Every handler path of the notes service through the HTTP API gateway on the local stack."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.e2e.conftest import NotesStack


@pytest.fixture(scope="module")
def http(notes_stack: NotesStack):
    with httpx.Client(base_url=notes_stack.api_url, timeout=30) as client:
        yield client


def create(http, title="a note", content="some text"):
    resp = http.post("/notes", json={"title": title, "content": content})
    assert resp.status_code == 201, resp.text
    return resp


def test_the_articles_steps_create_then_get_and_list(http):
    created = create(http, "first", "hello")
    note = created.json()
    assert created.headers["x-function-version"] == "1"
    assert created.headers["location"] == f"/notes/{note['id']}"
    got = http.get(f"/notes/{note['id']}")
    assert got.status_code == 200 and got.json()["title"] == "first"
    assert got.headers["x-function-version"] == "1"
    listed = http.get("/notes", params={"limit": 100})
    assert listed.status_code == 200 and note["id"] in [n["id"] for n in listed.json()["items"]]


def test_update_sets_fields_and_updated_at(http):
    note = create(http).json()
    resp = http.put(f"/notes/{note['id']}", json={"title": "renamed"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["title"] == "renamed" and resp.json()["updated_at"]
    assert http.get(f"/notes/{note['id']}").json()["title"] == "renamed"


def test_delete_then_get_update_delete_are_404(http):
    note = create(http).json()
    assert http.delete(f"/notes/{note['id']}").status_code == 204
    for resp in (http.get(f"/notes/{note['id']}"), http.put(f"/notes/{note['id']}", json={"title": "x"}),
                 http.delete(f"/notes/{note['id']}")):
        assert resp.status_code == 404, resp.text
        assert "message" in resp.json() and resp.headers["x-function-version"] == "1"


def test_list_is_newest_first_and_paginates_with_a_cursor(http):
    ids = [create(http, f"page-{i}").json()["id"] for i in range(5)]
    seen, cursor = [], None
    for _ in range(50):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = http.get("/notes", params=params).json()
        assert len(page["items"]) <= 2
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    positions = [seen.index(i) for i in ids]
    assert positions == sorted(positions, reverse=True)  # the last created comes first


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (json.dumps({"content": "no title"}).encode(), 400),
    (json.dumps({"title": 5}).encode(), 400),
    (json.dumps({"title": "x" * 201}).encode(), 400),
    (json.dumps({"title": "t", "content": "x" * 10_001}).encode(), 400),
    (json.dumps({"title": "t", "content": "x" * 70_000}).encode(), 413),
])
def test_bad_create_bodies_are_4xx_with_a_message_never_500(http, body, status):
    resp = http.post("/notes", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == status, resp.text
    assert resp.json()["message"] and resp.headers["x-function-version"] == "1"


def test_base64_encoded_bodies_are_decoded(http):
    resp = http.post("/notes", content=json.dumps({"title": "binary"}).encode(),
                     headers={"content-type": "application/octet-stream"})
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize("path", ["/notes/not-a-uuid", "/notes?limit=0", "/notes?limit=abc",
                                  "/notes?cursor=%%%"])
def test_bad_ids_limits_and_cursors_are_400(http, path):
    resp = http.get(path)
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"]


def test_unknown_route_is_404_not_found(http):
    resp = http.get("/nothing-here")
    assert resp.status_code == 404 and resp.json() == {"message": "Not Found"}


def test_dev_prefix_reaches_the_dev_alias(http, notes_stack):
    note = create(http).json()
    resp = http.get(f"/_dev/notes/{note['id']}")
    assert resp.status_code == 200
    dev = notes_stack.lam.get_alias(FunctionName="notes-get", Name="dev")["FunctionVersion"]
    assert resp.headers["x-function-version"] == dev


def test_function_version_header_names_the_version_that_ran(http, notes_stack):
    resp = http.get("/notes")
    live = notes_stack.lam.get_alias(FunctionName="notes-list", Name="live")["FunctionVersion"]
    assert resp.headers["x-function-version"] == live


def test_content_with_unicode_round_trips(http):
    note = create(http, "ünïcødé ✓", "日本語").json()
    assert http.get(f"/notes/{note['id']}").json()["content"] == "日本語"


def test_binary_body_flag_reaches_the_handler(http):
    raw = base64.b64encode(b"\x00\x01").decode()
    resp = http.post("/notes", content=raw.encode(), headers={"content-type": "image/png"})
    assert resp.status_code == 400


# --- concurrent updates: every writer names the version it read ---------------------------

WRITERS, WRITES_EACH = 8, 8


def _append_until_written(api_url: str, note_id: str, token: str, *, versioned: bool) -> int:
    """Read the note, append ``token`` to its content, PUT it back; on 409 read again.
    Returns how many 409s it took."""
    conflicts = 0
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for _ in range(200):
            got = client.get(f"/notes/{note_id}")
            assert got.status_code == 200, got.text
            headers = {"If-Match": got.headers["etag"]} if versioned else {}
            put = client.put(f"/notes/{note_id}", headers=headers,
                             json={"content": got.json()["content"] + token + "\n"})
            if put.status_code == 200:
                return conflicts
            assert put.status_code == 409, put.text
            assert put.json()["current_version"] > int(got.headers["etag"].strip('"'))
            conflicts += 1
    raise AssertionError(f"{token} was never written")


def _lost_writes(http, api_url: str, *, versioned: bool) -> tuple[int, int, int, int]:
    import concurrent.futures

    note = create(http, "counter", "").json()
    tokens = [f"w{w}-{i}" for w in range(WRITERS) for i in range(WRITES_EACH)]

    def writer(w: int) -> int:
        return sum(_append_until_written(api_url, note["id"], f"w{w}-{i}", versioned=versioned)
                   for i in range(WRITES_EACH))

    with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
        conflicts = sum(pool.map(writer, range(WRITERS)))
    final = http.get(f"/notes/{note['id']}").json()
    kept = set(final["content"].split())
    return len(tokens), len(set(tokens) - kept), conflicts, final["version"]


def test_concurrent_writers_naming_their_version_lose_no_update(http, notes_stack):
    from tests.reliability_log import record

    written, lost, conflicts, version = _lost_writes(http, notes_stack.api_url, versioned=True)
    blind_written, blind_lost, _, _ = _lost_writes(http, notes_stack.api_url, versioned=False)
    print(f"\nnotes: {WRITERS} concurrent writers, {written} read-modify-write updates with "
          f"If-Match: {conflicts} answered 409 and retried, lost writes: {lost}; "
          f"the same without If-Match: {blind_lost} of {blind_written} lost")
    record("lost updates", f"{WRITERS} concurrent writers x {WRITES_EACH} read-modify-write PUT "
           "/notes/{id} with If-Match (local stack)", written,
           f"{conflicts} stale writes answered 409 and retried; {lost} lost writes "
           f"(without If-Match, as a control: {blind_lost} of {blind_written} lost)", lost)
    assert lost == 0
    assert version == 1 + written  # every successful update added exactly one version
