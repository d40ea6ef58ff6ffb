"""The notes service's handlers, in process, against a real DynamoDB endpoint (moto's server).

Each function is built into its deployment package (source + include, as lambdashift.yaml
says), extracted, and its ``index`` module imported in isolation per release, so these
tests also prove that the zips are complete. Events are API Gateway HTTP API payload 2.0.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import time
import types
import uuid
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from lambdashift.aws.packaging import build_zip

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"
CONFIG = yaml.safe_load((NOTES / "lambdashift.yaml").read_text())
TABLE = "notes"
ROUTE_KEYS = {function: route for route, function in CONFIG["routes"].items()}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


# ---------------------------------------------------------------------------------------
# A DynamoDB endpoint on loopback and the table from lambdashift.yaml.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(server: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def dynamodb_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server in a subprocess on a free loopback port; yields its endpoint URL."""
    log = tmp_path_factory.mktemp("moto") / "server.log"
    for _attempt in range(3):  # another process may take the free port before moto does
        port = _free_port()
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if _wait_listening(server, port, timeout=30):
            break
        server.kill()
        server.wait()
    else:
        pytest.fail(f"moto server did not start: {log.read_text()[-2000:]}")

    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def aws_env(dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point boto3 (the test's and the handlers') at the local endpoint, for one test only."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "TABLE_NAME": TABLE,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def table(aws_env: None) -> Any:
    """A fresh, empty notes table, created from lambdashift.yaml's CreateTable parameters."""
    client = boto3.client("dynamodb")
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=TABLE)
    client.create_table(TableName=TABLE, **CONFIG["tables"][TABLE])
    return boto3.resource("dynamodb").Table(TABLE)


# ---------------------------------------------------------------------------------------
# Handlers from their deployment packages, one isolated module per function and release.


def _load_handler(function: str, source: Path, workdir: Path) -> types.ModuleType:
    spec = CONFIG["functions"][function]
    package = build_zip(source, include=[NOTES / p for p in spec["include"]])
    unpacked = workdir / f"{function}-{source.name}"
    zipfile.ZipFile(io.BytesIO(package.data)).extractall(unpacked)
    module_file, _, attribute = spec["handler"].partition(".")
    assert attribute == "handler"
    # Each package brings its own notes_common: import it fresh for this package only.
    saved = sys.modules.pop("notes_common", None)
    sys.path.insert(0, str(unpacked))
    try:
        name = f"notes_{function.replace('-', '_')}_{source.name}_{module_file}"
        loader = importlib.util.spec_from_file_location(name, unpacked / f"{module_file}.py")
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    finally:
        sys.path.remove(str(unpacked))
        sys.modules.pop("notes_common", None)
        if saved is not None:
            sys.modules["notes_common"] = saved
    return module


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, types.ModuleType]]:
    """``releases["v2"]["notes-get"]``: each function's handler module per release.

    A function without its own v2 directory is unchanged in release 2.
    """
    workdir = tmp_path_factory.mktemp("packages")
    loaded: dict[str, dict[str, types.ModuleType]] = {"v1": {}, "v2": {}}
    for function, spec in CONFIG["functions"].items():
        v1 = NOTES / spec["source"]
        assert v1.name == "v1", f"{function}: lambdashift.yaml should point at release 1"
        loaded["v1"][function] = _load_handler(function, v1, workdir)
        v2 = v1.parent / "v2"
        loaded["v2"][function] = (
            _load_handler(function, v2, workdir) if v2.is_dir() else loaded["v1"][function]
        )
    return loaded


class Api:
    """Invokes handlers with payload 2.0 events, as API Gateway would, and checks the answer."""

    def __init__(self, releases: dict[str, dict[str, types.ModuleType]], release: str) -> None:
        self.releases = releases
        self.release = release
        self.version = "1" if release == "v1" else "2"

    def __call__(
        self,
        function: str,
        *,
        note_id: str | None = None,
        body: Any = None,
        raw_body: str | None = None,
        base64_body: bool = False,
        mark_base64: bool = False,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        route = ROUTE_KEYS[function]
        method, path = route.split(" ", 1)
        path_params = None
        if "{id}" in path:
            path = path.replace("{id}", note_id or "")
            path_params = {"id": note_id}
        text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        if text is not None and base64_body:
            text = base64.b64encode(text.encode()).decode()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route,
            "rawPath": path,
            "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
            "headers": {"content-type": "application/json", "host": "api.local", **(headers or {})},
            "requestContext": {
                "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                "requestId": f"api-{uuid.uuid4()}",
                "routeKey": route,
                "stage": "$default",
            },
            "isBase64Encoded": base64_body or mark_base64,
        }
        if text is not None:
            event["body"] = text
        if query is not None:
            event["queryStringParameters"] = query
        if path_params is not None:
            event["pathParameters"] = path_params
        context = types.SimpleNamespace(
            function_name=function,
            function_version=self.version,
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function}:live",
            get_remaining_time_in_millis=lambda: 10_000,
        )
        result = self.releases[self.release][function].handler(event, context)
        assert set(result) == {"statusCode", "headers", "body"}
        assert result["headers"]["X-Function-Version"] == self.version
        assert isinstance(result["body"], str)
        payload = json.loads(result["body"]) if result["body"] else None
        if result["statusCode"] >= 400:
            assert isinstance(payload["message"], str) and payload["message"]
        return result["statusCode"], result["headers"], payload


@pytest.fixture
def v1(releases: Any, table: Any) -> Api:
    return Api(releases, "v1")


@pytest.fixture
def v2(releases: Any, table: Any) -> Api:
    return Api(releases, "v2")


def create(api: Api, title: str = "a note", content: str = "text") -> dict[str, Any]:
    status, _, note = api("notes-create", body={"title": title, "content": content})
    assert status == 201
    return note


# ---------------------------------------------------------------------------------------
# Create


@pytest.mark.parametrize("release", ["v1", "v2"])
def test_create_answers_201_with_location_and_the_note(
    releases: Any, table: Any, release: str
) -> None:
    api = Api(releases, release)
    status, headers, note = api("notes-create", body={"title": "Groceries", "content": "milk"})
    assert status == 201
    assert headers["Location"] == f"/notes/{note['id']}"
    assert headers["Content-Type"].startswith("application/json")
    uuid.UUID(note["id"])
    assert note["title"] == "Groceries" and note["content"] == "milk"
    assert "kind" not in note and "sk" not in note
    stored = table.get_item(Key={"id": note["id"]})["Item"]
    assert stored["kind"] == "note" and stored["sk"].endswith(f"#{note['id']}")
    if release == "v1":
        assert "created_at" not in note and "created_at" not in stored
    else:
        assert stored["created_at"] == note["created_at"]
        assert stored["sk"] == f"{note['created_at']}#{note['id']}"
        assert note["created_at"].endswith("Z") and "T" in note["created_at"]


def test_create_without_content_stores_empty_content(v1: Api) -> None:
    status, _, note = v1("notes-create", body={"title": "only a title"})
    assert status == 201 and note["content"] == ""


def test_create_accepts_a_base64_encoded_body(v2: Api) -> None:
    status, _, note = v2("notes-create", body={"title": "ünïcode ✓"}, base64_body=True)
    assert status == 201 and note["title"] == "ünïcode ✓"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "body is required"),
        ("", "body is required"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not an array"),
        ('"a string"', "must be a JSON object, not a string"),
        ("null", "must be a JSON object, not null"),
        ('{"title": NaN}', "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("{}", "title is required"),
        ('{"content": "x"}', "title is required"),
        ('{"title": 5}', "title must be a string, not a number"),
        ('{"title": null}', "title must be a string, not null"),
        ('{"title": "   "}', "title must not be blank"),
        ('{"title": "t", "content": ["x"]}', "content must be a string, not an array"),
        ('{"title": "t", "contnet": "x"}', "unknown field(s) 'contnet'"),
        ('{"title": "\\ud800"}', "title is not valid Unicode text"),
        ('{"title": "t", "created_at": "2020-01-01"}', "unknown field(s) 'created_at'"),
        (json.dumps({"title": "x" * 201}), "title is 201 characters; at most 200"),
        (json.dumps({"title": "t", "content": "x" * 10_001}), "content is 10001 characters"),
    ],
)
def test_create_refuses_bad_bodies_with_400(v2: Api, raw: str | None, message: str) -> None:
    status, _, payload = v2("notes-create", raw_body=raw)
    assert status == 400
    assert message in payload["message"]


def test_create_reports_every_problem_at_once(v1: Api) -> None:
    status, _, payload = v1("notes-create", body={"title": 1, "content": 2, "x": 3})
    assert status == 400
    assert len(payload["errors"]) == 3


def test_limits_are_inclusive(v1: Api) -> None:
    status, _, note = v1("notes-create", body={"title": "é" * 200, "content": "✓" * 10_000})
    assert status == 201 and len(note["content"]) == 10_000


def test_bodies_that_are_not_base64_or_not_utf8_are_400(v1: Api) -> None:
    status, _, payload = v1("notes-create", raw_body="not*base64!", mark_base64=True)
    assert status == 400 and "not base64" in payload["message"]
    latin1 = base64.b64encode('{"title": "caf\xe9"}'.encode("latin-1")).decode()
    status, _, payload = v1("notes-create", raw_body=latin1, mark_base64=True)
    assert status == 400 and "not valid UTF-8" in payload["message"]
    status, _, payload = v1("notes-create", raw_body='{"title": "\ud800"}')
    assert status == 400 and "not valid UTF-8" in payload["message"]


def test_an_oversized_body_is_413_plain_or_base64(v1: Api) -> None:
    big = json.dumps({"title": "t", "content": "x" * (64 * 1024)})
    assert v1("notes-create", raw_body=big)[0] == 413
    assert v1("notes-create", raw_body=big, base64_body=True)[0] == 413
    # Multi-byte characters count as bytes: 22,000 three-byte characters are 66 KB.
    wide = json.dumps({"title": "t", "content": "✓" * 22_000}, ensure_ascii=False)
    assert v1("notes-create", raw_body=wide)[0] == 413


def test_a_non_dict_event_is_400_not_a_crash(releases: Any, table: Any) -> None:
    ctx = types.SimpleNamespace(function_version="7", function_name="notes-get", aws_request_id="r")
    result = releases["v1"]["notes-get"].handler(["not", "an", "event"], ctx)
    assert result["statusCode"] == 400 and result["headers"]["X-Function-Version"] == "7"


# ---------------------------------------------------------------------------------------
# Get


def test_get_answers_the_note_and_404_for_unknown_ids(v1: Api) -> None:
    note = create(v1, "t", "c")
    status, headers, got = v1("notes-get", note_id=note["id"])
    assert status == 200 and got == note
    assert headers["X-Function-Version"] == "1"
    status, _, payload = v1("notes-get", note_id=UNKNOWN_ID)
    assert status == 404 and UNKNOWN_ID in payload["message"]


def test_get_accepts_an_upper_case_id(v1: Api) -> None:
    note = create(v1)
    assert v1("notes-get", note_id=note["id"].upper())[2] == note


@pytest.mark.parametrize(
    "bad_id", ["", "abc", "1234", "../etc/passwd", UNKNOWN_ID + "0", "x" * 5000]
)
@pytest.mark.parametrize("function", ["notes-get", "notes-update", "notes-delete"])
def test_a_malformed_id_is_400(v2: Api, function: str, bad_id: str) -> None:
    status, _, payload = v2(function, note_id=bad_id, body={"title": "t"})
    assert status == 400 and "note id must be a UUID" in payload["message"]
    assert len(payload["message"]) < 200


def test_missing_path_parameters_are_400(releases: Any, table: Any) -> None:
    ctx = types.SimpleNamespace(function_version="1", function_name="notes-get", aws_request_id="r")
    result = releases["v1"]["notes-get"].handler({"routeKey": "GET /notes/{id}"}, ctx)
    assert result["statusCode"] == 400


def test_numbers_stored_in_dynamodb_serialize_as_json_numbers(v2: Api, table: Any) -> None:
    note = create(v2)
    table.update_item(
        Key={"id": note["id"]},
        UpdateExpression="SET stars = :i, score = :f, tags = :s",
        ExpressionAttributeValues={":i": Decimal("5"), ":f": Decimal("2.5"), ":s": {"b", "a"}},
    )
    status, _, got = v2("notes-get", note_id=note["id"])
    assert status == 200
    assert got["stars"] == 5 and isinstance(got["stars"], int)
    assert got["score"] == 2.5
    assert got["tags"] == ["a", "b"]
    status, _, page = v2("notes-list")
    assert page["items"][0]["stars"] == 5


# ---------------------------------------------------------------------------------------
# The release-2 rollout: mixed versions must read each other's notes.


def test_v1_get_reads_notes_written_by_v2_create(v1: Api, v2: Api) -> None:
    note = create(v2, "new", "from v2")
    status, headers, got = v1("notes-get", note_id=note["id"])
    assert status == 200 and headers["X-Function-Version"] == "1"
    assert got["title"] == "new" and got["content"] == "from v2"


def test_v2_get_answers_created_at_null_for_v1_notes(v1: Api, v2: Api) -> None:
    old = create(v1, "old")
    status, headers, got = v2("notes-get", note_id=old["id"])
    assert status == 200 and headers["X-Function-Version"] == "2"
    assert "created_at" in got and got["created_at"] is None
    new = create(v2, "new")
    assert v2("notes-get", note_id=new["id"])[2]["created_at"] == new["created_at"]


def test_v1_notes_appear_in_the_list_with_v2_notes_newest_first(v1: Api, v2: Api) -> None:
    first = create(v1, "first")
    second = create(v2, "second")
    third = create(v1, "third")
    for api in (v1, v2):
        status, _, page = api("notes-list")
        assert status == 200
        assert [n["title"] for n in page["items"]] == ["third", "second", "first"]
        assert page["next_cursor"] is None
        assert all("kind" not in n and "sk" not in n for n in page["items"])
    assert {first["id"], second["id"], third["id"]} == {n["id"] for n in page["items"]}


# ---------------------------------------------------------------------------------------
# List


def test_list_of_an_empty_table_is_an_empty_page(v1: Api) -> None:
    status, _, page = v1("notes-list")
    assert status == 200 and page == {"items": [], "next_cursor": None}


def test_list_paginates_newest_first_with_a_cursor(v2: Api, table: Any) -> None:
    created = [create(v2, f"note {i:02d}") for i in range(23)]
    expected = [n["id"] for n in reversed(created)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "5"} if cursor is None else {"limit": "5", "cursor": cursor}
        status, _, page = v2("notes-list", query=query)
        assert status == 200
        assert len(page["items"]) == (5 if pages < 4 else 3)
        seen += [n["id"] for n in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert all(c.isalnum() or c in "-_" for c in cursor)  # safe in a query string
    assert pages == 5
    assert seen == expected


def test_list_defaults_to_20_and_the_last_full_page_has_no_cursor(v1: Api) -> None:
    for i in range(20):
        create(v1, f"n{i}")
    status, _, page = v1("notes-list")
    assert len(page["items"]) == 20 and page["next_cursor"] is None
    create(v1, "one more")
    status, _, page = v1("notes-list")
    assert len(page["items"]) == 20 and page["next_cursor"] is not None
    status, _, rest = v1("notes-list", query={"cursor": page["next_cursor"]})
    assert [n["title"] for n in rest["items"]] == ["n0"] and rest["next_cursor"] is None


def test_list_limit_bounds(v1: Api) -> None:
    for i in range(3):
        create(v1, f"n{i}")
    assert len(v1("notes-list", query={"limit": "1"})[2]["items"]) == 1
    assert len(v1("notes-list", query={"limit": "100"})[2]["items"]) == 3


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "1.5", " 5", "5,6", "1000000"])
def test_a_bad_limit_is_400(v1: Api, limit: str) -> None:
    status, _, payload = v1("notes-list", query={"limit": limit})
    assert status == 400 and "limit must be an integer from 1 to 100" in payload["message"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor!",
        "%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(b'{"id":"x"}').decode(),
        base64.urlsafe_b64encode(b'{"id":"x","kind":"other","sk":"y"}').decode(),
        base64.urlsafe_b64encode(b'{"id":1,"kind":"note","sk":"y"}').decode(),
        "A" * 600,
    ],
)
def test_a_bad_cursor_is_400(v1: Api, cursor: str) -> None:
    status, _, payload = v1("notes-list", query={"cursor": cursor})
    assert status == 400 and "cursor is not valid" in payload["message"]


def test_list_is_a_query_on_the_index_never_a_scan(
    v1: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler must not fall back to reading the whole table."""
    create(v1)
    module = v1.releases["v1"]["notes-list"]
    calls: list[str] = []
    real_table = module.notes.table

    def spying_table() -> Any:
        table = real_table()

        class Spy:
            def query(self, **kwargs: Any) -> Any:
                calls.append(f"query {kwargs['IndexName']}")
                return table.query(**kwargs)

            def scan(self, **kwargs: Any) -> Any:
                calls.append("scan")
                return table.scan(**kwargs)

        return Spy()

    monkeypatch.setattr(module.notes, "table", spying_table)
    assert v1("notes-list")[0] == 200
    assert calls == ["query by-created"]


def test_list_fills_a_page_across_dynamodb_1mb_responses(v1: Api) -> None:
    """Large notes make DynamoDB stop at 1 MB; the page must still hold `limit` notes."""
    big = "✓" * 10_000  # 30 KB of UTF-8 each: about 34 fit in 1 MB
    for i in range(40):
        create(v1, f"big {i}", big)
    status, _, page = v1("notes-list", query={"limit": "38"})
    assert status == 200 and len(page["items"]) == 38 and page["next_cursor"]
    status, _, rest = v1("notes-list", query={"limit": "38", "cursor": page["next_cursor"]})
    assert [n["title"] for n in rest["items"]] == ["big 1", "big 0"]


# ---------------------------------------------------------------------------------------
# Update


def test_update_changes_given_fields_and_sets_updated_at(v1: Api, table: Any) -> None:
    note = create(v1, "before", "body")
    status, _, updated = v1("notes-update", note_id=note["id"], body={"title": "after"})
    assert status == 200
    assert updated["title"] == "after" and updated["content"] == "body"
    assert updated["updated_at"].endswith("Z")
    assert v1("notes-get", note_id=note["id"])[2] == updated
    stored = table.get_item(Key={"id": note["id"]})["Item"]
    assert stored["sk"].endswith(note["id"])  # still listed by creation


def test_update_of_an_unknown_or_deleted_note_is_404_and_creates_nothing(
    v1: Api, table: Any
) -> None:
    note = create(v1)
    assert v1("notes-delete", note_id=note["id"])[0] == 204
    status, _, payload = v1("notes-update", note_id=note["id"], body={"title": "zombie"})
    assert status == 404 and note["id"] in payload["message"]
    assert "Item" not in table.get_item(Key={"id": note["id"]})
    assert v1("notes-update", note_id=UNKNOWN_ID, body={"content": "x"})[0] == 404
    assert table.scan()["Count"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "nothing to update"),
        ({"title": ""}, "title must not be blank"),
        ({"content": 3}, "content must be a string"),
        ({"id": "x"}, "unknown field(s) 'id'"),
        ({"title": "x" * 201}, "title is 201 characters"),
    ],
)
def test_update_validates_its_body(v2: Api, body: dict[str, Any], message: str) -> None:
    note = create(v2)
    status, _, payload = v2("notes-update", note_id=note["id"], body=body)
    assert status == 400 and message in payload["message"]


def test_update_with_a_malformed_body_is_400_and_oversized_is_413(v1: Api) -> None:
    note = create(v1)
    assert v1("notes-update", note_id=note["id"], raw_body="{")[0] == 400
    assert v1("notes-update", note_id=note["id"], raw_body="x" * 70_000)[0] == 413


def test_update_keeps_created_at_of_v2_notes(v1: Api, v2: Api) -> None:
    note = create(v2)
    status, _, updated = v1("notes-update", note_id=note["id"], body={"content": "new"})
    assert status == 200 and updated["created_at"] == note["created_at"]


# ---------------------------------------------------------------------------------------
# Versions: an update names the version it read; a stale one is a 409, never a lost write.


def test_a_new_note_is_version_1_with_its_etag(v1: Api, v2: Api) -> None:
    for api in (v1, v2):
        status, headers, note = api("notes-create", body={"title": "t"})
        assert status == 201 and note["version"] == 1 and headers["ETag"] == '"1"'
        status, headers, got = api("notes-get", note_id=note["id"])
        assert got["version"] == 1 and headers["ETag"] == '"1"'


def test_an_update_naming_the_current_version_adds_one(v1: Api) -> None:
    note = create(v1)
    status, headers, updated = v1("notes-update", note_id=note["id"], body={"title": "b"},
                                  headers={"if-match": '"1"'})
    assert status == 200 and updated["version"] == 2 and headers["ETag"] == '"2"'
    status, _, updated = v1("notes-update", note_id=note["id"], body={"title": "c", "version": 2})
    assert status == 200 and updated["version"] == 3
    assert v1("notes-get", note_id=note["id"])[2]["version"] == 3


def test_a_stale_version_is_409_with_the_current_one_and_changes_nothing(v1: Api) -> None:
    note = create(v1, "kept")
    assert v1("notes-update", note_id=note["id"], body={"title": "second"})[0] == 200
    status, headers, payload = v1("notes-update", note_id=note["id"], body={"title": "stale"},
                                  headers={"if-match": "1"})
    assert status == 409 and payload["current_version"] == 2 and headers["ETag"] == '"2"'
    assert "read it again" in payload["message"]
    got = v1("notes-get", note_id=note["id"])[2]
    assert got["title"] == "second" and got["version"] == 2


def test_an_update_without_a_version_is_unconditional_and_still_counts(v2: Api) -> None:
    note = create(v2)
    for expected in (2, 3):
        status, _, updated = v2("notes-update", note_id=note["id"], body={"content": str(expected)})
        assert status == 200 and updated["version"] == expected
    status, _, updated = v2("notes-update", note_id=note["id"], body={"content": "x"},
                            headers={"if-match": "*"})
    assert status == 200 and updated["version"] == 4


def test_a_note_stored_before_versions_is_version_0_and_becomes_1(v1: Api, table: Any) -> None:
    note = create(v1)
    table.update_item(Key={"id": note["id"]}, UpdateExpression="REMOVE version")
    status, headers, got = v1("notes-get", note_id=note["id"])
    assert got["version"] == 0 and headers["ETag"] == '"0"'
    assert v1("notes-update", note_id=note["id"], body={"title": "x"},
              headers={"if-match": '"1"'})[0] == 409
    status, _, updated = v1("notes-update", note_id=note["id"], body={"title": "y", "version": 0})
    assert status == 200 and updated["version"] == 1


def test_a_version_on_a_deleted_note_is_404_not_409(v1: Api) -> None:
    note = create(v1)
    assert v1("notes-delete", note_id=note["id"])[0] == 204
    status, _, _ = v1("notes-update", note_id=note["id"], body={"title": "x", "version": 1})
    assert status == 404


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"if-match": "W/\"1\""}, {"title": "x"}, "If-Match must be a note version"),
        ({"if-match": "1, 2"}, {"title": "x"}, "If-Match must be a note version"),
        ({"if-match": "-1"}, {"title": "x"}, "If-Match must be a note version"),
        ({}, {"title": "x", "version": "1"}, "version must be the note's version"),
        ({}, {"title": "x", "version": True}, "not a boolean"),
        ({}, {"title": "x", "version": -1}, "not -1"),
        ({}, {"title": "x", "version": 2**60}, "an integer from 0"),
        ({"if-match": '"1"'}, {"title": "x", "version": 2}, "give one"),
        ({}, {"version": 1}, "nothing to update"),
    ],
)
def test_a_bad_version_is_400(v1: Api, headers: dict, body: dict, message: str) -> None:
    note = create(v1)
    status, _, payload = v1("notes-update", note_id=note["id"], body=body, headers=headers)
    assert status == 400 and message in payload["message"]


# ---------------------------------------------------------------------------------------
# Delete


def test_delete_is_204_then_404(v1: Api) -> None:
    note = create(v1)
    status, headers, payload = v1("notes-delete", note_id=note["id"])
    assert status == 204 and payload is None and "Content-Type" not in headers
    assert v1("notes-get", note_id=note["id"])[0] == 404
    assert v1("notes-delete", note_id=note["id"])[0] == 404
    assert v1("notes-list")[2]["items"] == []


def test_a_delete_naming_the_current_version_removes_the_note(v1: Api) -> None:
    note = create(v1)
    assert v1("notes-delete", note_id=note["id"], headers={"if-match": '"1"'})[0] == 204
    assert v1("notes-get", note_id=note["id"])[0] == 404
    other = create(v1)
    assert v1("notes-delete", note_id=other["id"], headers={"if-match": "*"})[0] == 204


def test_a_stale_delete_is_409_and_the_update_it_missed_is_kept(v1: Api) -> None:
    """A client read version 1, another updated the note: the first client's delete must not
    throw that update away unseen."""
    note = create(v1, "first")
    assert v1("notes-update", note_id=note["id"], body={"title": "second"})[0] == 200
    status, headers, payload = v1("notes-delete", note_id=note["id"], headers={"if-match": '"1"'})
    assert status == 409 and payload["current_version"] == 2 and headers["ETag"] == '"2"'
    assert "delete it again" in payload["message"]
    got = v1("notes-get", note_id=note["id"])[2]
    assert got["title"] == "second" and got["version"] == 2


def test_a_delete_with_a_version_of_a_missing_or_old_note(v1: Api, table: Any) -> None:
    """404 for a note that is gone (not 409); version 0 is a note stored before versions."""
    note = create(v1)
    assert v1("notes-delete", note_id=note["id"])[0] == 204
    assert v1("notes-delete", note_id=note["id"], headers={"if-match": '"1"'})[0] == 404
    old = create(v1)
    table.update_item(Key={"id": old["id"]}, UpdateExpression="REMOVE version")
    assert v1("notes-delete", note_id=old["id"], headers={"if-match": '"1"'})[0] == 409
    assert v1("notes-delete", note_id=old["id"], headers={"if-match": '"0"'})[0] == 204


def test_a_delete_with_a_bad_if_match_is_400_and_deletes_nothing(v1: Api) -> None:
    note = create(v1)
    status, _, payload = v1("notes-delete", note_id=note["id"], headers={"if-match": 'W/"1"'})
    assert status == 400 and "If-Match must be a note version" in payload["message"]
    assert v1("notes-get", note_id=note["id"])[0] == 200


def test_backfill_lists_notes_written_without_list_keys(v2: Api, table: Any) -> None:
    """Notes from before the list index (the article's code) appear after the backfill."""
    spec = importlib.util.spec_from_file_location(
        "notes_backfill", NOTES / "tools" / "backfill_list_keys.py"
    )
    assert spec is not None and spec.loader is not None
    backfill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backfill)

    current = create(v2, "current")
    legacy_dated = {"id": str(uuid.uuid4()), "title": "dated", "content": "",
                    "created_at": "2020-01-01T00:00:00.000000Z"}
    legacy_undated = {"id": str(uuid.uuid4()), "title": "undated", "content": ""}
    table.put_item(Item=legacy_dated)
    table.put_item(Item=legacy_undated)
    assert [n["title"] for n in v2("notes-list")[2]["items"]] == ["current"]

    assert backfill.backfill(table, dry_run=True) == 2
    assert backfill.backfill(table) == 2
    assert backfill.backfill(table) == 0
    titles = [n["title"] for n in v2("notes-list")[2]["items"]]
    assert titles == ["current", "dated", "undated"]
    assert table.get_item(Key={"id": current["id"]})["Item"]["sk"].startswith(
        current["created_at"]
    )


# ---------------------------------------------------------------------------------------
# Operations: logs, and failures that are not the client's fault.


def test_every_request_writes_one_json_log_line_with_request_id_and_version(
    v2: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    v2("notes-get", note_id=UNKNOWN_ID)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["version"] == "2" and record["function"] == "notes-get"
    assert record["request_id"] and record["api_request_id"].startswith("api-")
    assert record["status"] == 404 and record["route"] == "GET /notes/{id}"
    assert "not found" in record["reason"]


def test_an_unexpected_failure_is_logged_and_raised_so_lambda_counts_an_error(
    v1: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken release must show up in the Errors metric the canary analysis reads."""
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    capsys.readouterr()
    with pytest.raises(Exception, match="ResourceNotFoundException|not found"):
        v1("notes-get", note_id=UNKNOWN_ID)
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert record["level"] == "ERROR" and record["version"] == "1"
    assert record["error_type"] == "ResourceNotFoundException" and record["traceback"]


def test_dynamodb_throttling_is_503_with_retry_after(
    v1: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    module = v1.releases["v1"]["notes-get"]

    class Throttled:
        def get_item(self, **kwargs: Any) -> Any:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}
            raise ClientError(error, "GetItem")

    monkeypatch.setattr(module.notes, "table", lambda: Throttled())
    status, headers, payload = v1("notes-get", note_id=UNKNOWN_ID)
    assert status == 503 and headers["Retry-After"] == "1"


# ---------------------------------------------------------------------------------------
# Pre-warm (lambdashift.rollout.prewarm)


def test_every_handler_answers_the_prewarm_event_without_touching_any_note(releases: Any, table: Any) -> None:
    from lambdashift.rollout.prewarm import PREWARM_EVENT

    for release in ("v1", "v2"):
        for function, module in releases[release].items():
            result = module.handler(dict(PREWARM_EVENT), types.SimpleNamespace(function_version="2"))
            assert result == {"prewarmed": True}, (release, function)
    assert table.scan()["Items"] == []
