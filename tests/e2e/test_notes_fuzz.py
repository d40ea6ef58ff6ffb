"""Fuzzing the notes API from its OpenAPI description (examples/notes/openapi.yaml).

schemathesis generates requests for every operation, valid ones and invalid ones (bodies
of the wrong shape, ids that are not UUIDs, limits out of range, odd If-Match headers),
and sends them through the HTTP API of the local stack to the real functions and the real
DynamoDB endpoint. Every answer must be no 5xx, conform to the description (status,
headers, body schema), and carry ``X-Function-Version``. Deterministic (derandomized) and
bounded, so it takes seconds; the counts go to RELIABILITY.md.
"""

from __future__ import annotations

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
EXAMPLES = 40  # per operation and generation mode; a few seconds in all

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


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_conforms_and_names_the_function_version(case, notes_stack: NotesStack, tally):
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
