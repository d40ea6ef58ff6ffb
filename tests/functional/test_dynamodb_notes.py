"""The notes handlers against lambdashift's DynamoDB instead of moto's.

``AWS_ENDPOINT_URL_DYNAMODB`` points boto3 at our server; the handlers come from their
deployment packages and are called with API Gateway events, exactly as in
``test_notes_handlers.py``, whose fixtures and helpers are imported, not copied. Only
the ``dynamodb_endpoint`` fixture differs: it starts our server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lambdashift.dynamodb.server import start_process
from tests.functional.test_notes_handlers import (  # noqa: F401 - fixtures used by name
    UNKNOWN_ID,
    Api,
    aws_env,
    create,
    releases,
    table,
    v1,
    v2,
)
from tests.functional.test_notes_handlers import (
    test_list_fills_a_page_across_dynamodb_1mb_responses as _fills_pages_across_1mb,
)
from tests.functional.test_notes_handlers import (
    test_list_paginates_newest_first_with_a_cursor as _paginates,
)


@pytest.fixture(scope="session")
def dynamodb_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """lambdashift's DynamoDB in a child process, on disk; overrides the moto one."""
    proc = start_process(tmp_path_factory.mktemp("dynamodb") / "data")
    yield proc.endpoint
    proc.stop()


def test_handlers_talk_to_our_server(dynamodb_endpoint: str, aws_env: None) -> None:
    import os

    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == dynamodb_endpoint


def test_create_get_list_update_delete_round_trip(v1: Api, v2: Api, table: Any) -> None:
    """Both releases mixed, as during a rollout of notes-create release 2."""
    old = create(v1, "written by release 1", "first")
    new = create(v2, "written by release 2", "second")
    assert "created_at" not in old and new["created_at"].endswith("Z")

    status, _, got = v2("notes-get", note_id=new["id"])
    assert status == 200 and got == new
    status, _, got = v2("notes-get", note_id=old["id"])
    assert status == 200 and got == {**old, "created_at": None}
    assert v1("notes-get", note_id=UNKNOWN_ID)[0] == 404

    status, _, page = v1("notes-list", query={"limit": "1"})
    assert status == 200 and [n["id"] for n in page["items"]] == [new["id"]]
    status, _, rest = v1("notes-list", query={"limit": "1", "cursor": page["next_cursor"]})
    assert [n["id"] for n in rest["items"]] == [old["id"]] and rest["next_cursor"] is None

    status, _, updated = v1("notes-update", note_id=old["id"], body={"content": "changed"})
    assert status == 200 and updated["content"] == "changed" and updated["updated_at"]
    assert v1("notes-update", note_id=UNKNOWN_ID, body={"title": "x"})[0] == 404
    # The update keeps the note's place in the list (sk untouched).
    assert [n["id"] for n in v2("notes-list")[2]["items"]] == [new["id"], old["id"]]

    assert v1("notes-delete", note_id=old["id"])[0] == 204
    assert v1("notes-delete", note_id=old["id"])[0] == 404
    assert v1("notes-get", note_id=old["id"])[0] == 404
    assert [n["id"] for n in v1("notes-list")[2]["items"]] == [new["id"]]
    assert table.scan()["Count"] == 1


def test_list_paginates_newest_first_with_a_cursor(v2: Api, table: Any) -> None:
    """The handlers' own pagination test, against our server."""
    _paginates(v2, table)


def test_list_fills_a_page_across_1mb_responses(v1: Api) -> None:
    """Our server stops a Query at 1 MB like DynamoDB; the handler keeps reading."""
    _fills_pages_across_1mb(v1)
