"""Fuzzing the notes API from its OpenAPI description (examples/notes/openapi.yaml).

schemathesis generates requests for every operation, valid ones and invalid ones (bodies
of the wrong shape, ids that are not UUIDs, limits out of range, odd If-Match headers),
and sends them through the HTTP API of the local stack to the real functions and the real
DynamoDB endpoint. Every answer must be no 5xx, conform to the description (status,
headers, body schema), and carry ``X-Function-Version``. Deterministic (derandomized) and
bounded, so it takes seconds; the counts go to RELIABILITY.md.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import NotesStack
from tests.reliability_log import record

OPENAPI = Path(__file__).resolve().parents[2] / "examples" / "notes" / "openapi.yaml"
#: LAMBDASHIFT_FUZZ_EXAMPLES=N runs N per case instead, for a deeper search by hand.
EXAMPLES = int(os.environ.get("LAMBDASHIFT_FUZZ_EXAMPLES", "25"))  # per operation and generation mode; a few seconds in all

STATEFUL_EXAMPLES = 12  # sequences of linked calls: create, then get/update/delete that note

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                max_examples=EXAMPLES, deterministic=True)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def tally(notes_stack: NotesStack):
    """Counts over the whole module; recorded once every operation was fuzzed."""
    counts: Counter[str] = Counter()
    yield counts
    record("fuzz: notes API", "schemathesis (OpenAPI, positive + negative, derandomized) "
           "through the local stack's HTTP API", counts["requests"],
           f"{counts['4xx']} answered 4xx ({counts['gateway']} of them by the gateway to undocumented "
           f"methods), {counts['2xx']} 2xx; 5xx: {counts['5xx']}; function answers without "
           f"X-Function-Version: {counts['no_version']}",
           counts["5xx"] + counts["no_version"])


def _answer_conforms_and_names_the_function_version(case, notes_stack: NotesStack, tally) -> None:  # noqa: ANN001
    response = case.call(base_url=notes_stack.api_url, timeout=30)
    tally["requests"] += 1
    tally[f"{response.status_code // 100}xx"] += 1
    case.validate_response(response, checks=CHECKS)
    if case.method.upper() != case.operation.method.upper():
        # A method the description does not have (schemathesis probes them): no route, so the
        # gateway itself answers, no function runs and no version is named.
        tally["gateway"] += 1
        assert response.status_code in (404, 405), response.status_code
        return
    version = {k.lower(): v for k, v in response.headers.items()}.get("x-function-version")
    if not version or not version[0]:
        tally["no_version"] += 1
    assert version and version[0], (response.status_code, response.text[:200])


_FUZZED: set[str] = set()  # the operation ids given a test by _fuzz


def _fuzz(operation_id: str):  # noqa: ANN202
    """One test per operation, so that each has a node id of its own (schemathesis gives the
    items of one parametrized test the same id, which a test runner may merge)."""
    _FUZZED.add(operation_id)

    @schema.include(operation_id=operation_id).parametrize()
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def test(case, notes_stack: NotesStack, tally) -> None:  # noqa: ANN001
        _answer_conforms_and_names_the_function_version(case, notes_stack, tally)

    return test


test_create_note_answers_conform = _fuzz("createNote")
test_list_notes_answers_conform = _fuzz("listNotes")
test_get_note_answers_conform = _fuzz("getNote")
test_update_note_answers_conform = _fuzz("updateNote")
test_delete_note_answers_conform = _fuzz("deleteNote")


def test_every_operation_is_fuzzed() -> None:
    """A new operation in the description must get its test above."""
    described = {result.ok().definition.raw["operationId"] for result in schema.get_all_operations()}
    assert described == _FUZZED


def test_linked_calls_create_read_update_and_delete_conform(notes_stack: NotesStack, tally):
    """Stateful: the description's links (id and ETag of one answer feed the next call), so
    that updates with a current or stale If-Match and reads of real notes are fuzzed too."""
    seen: Counter[int] = Counter()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):  # noqa: ANN001, ANN201
            return {"base_url": notes_stack.api_url, "timeout": 30}

        def validate_response(self, response, case, additional_checks=None, **kwargs):  # noqa: ANN001, ANN201
            tally["requests"] += 1
            tally[f"{response.status_code // 100}xx"] += 1
            seen[response.status_code] += 1
            version = {k.lower(): v for k, v in response.headers.items()}.get("x-function-version")
            if not version or not version[0]:
                tally["no_version"] += 1
            # The same checks as above; not positive_data_acceptance: a cursor is any string to
            # the description but only a next_cursor passed back is accepted (a 400 otherwise).
            case.validate_response(response, checks=CHECKS)

    Workflow.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=6,
                                   derandomize=True, deadline=None, database=None,
                                   suppress_health_check=list(HealthCheck)))
    print(f"\nnotes API, linked calls: answers by status {dict(sorted(seen.items()))}")
    assert seen[200] > 0 and seen[201] > 0  # real notes were read and changed, not only 404s
    assert not any(status >= 500 for status in seen)
