"""What every function of the notes service shares: HTTP plumbing, validation, storage keys.

This one module is copied into the root of each function's deployment package (the
``include`` key of lambdashift.yaml), next to the function's ``index.py``, so a handler
simply does ``import notes_common as notes``. It is the same file for every release: a
change here changes every function's package and ships as a release of all five, so it
holds only what does not differ between releases.

The contract with API Gateway (HTTP API, payload format 2.0):

* a handler decorated with :func:`http_handler` receives the event and the Lambda context
  and returns a :class:`Response` (or raises :class:`HttpError`); the decorator renders
  ``{"statusCode", "headers", "body"}`` with a JSON body and the header
  ``X-Function-Version`` naming the version that ran, and writes one JSON log line;
* client mistakes are :class:`HttpError` (4xx, ``{"message": ...}``), never a traceback.

An exception the handler did not expect is logged and *raised again*: Lambda then counts
an error for the version that ran, which is the signal a canary rollout is judged by.
Turning it into a 500 response here would hide a broken release from the rollback.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import Binary
from botocore.config import Config
from botocore.exceptions import ClientError

#: Largest request body accepted, after base64 decoding. A note is at most about
#: 40 KB of UTF-8 (10,000 characters of up to 4 bytes) plus the title.
MAX_BODY_BYTES = 64 * 1024
MAX_TITLE_CHARS = 200
MAX_CONTENT_CHARS = 10_000
NOTE_FIELDS = ("title", "content")

#: The global secondary index the list reads, newest first: partition key ``kind``
#: (always ``"note"``), sort key ``sk`` = creation time + ``#`` + id. Every release
#: writes both, so every note is listed whether or not it exposes ``created_at``.
LIST_INDEX = "by-created"
NOTE_KIND = "note"
#: Attributes that exist for the index only and are never shown to clients.
INTERNAL_ATTRIBUTES = frozenset({"kind", "sk"})

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
# Fail fast: a DynamoDB call that hangs must not eat the function's whole timeout.
_BOTO_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)


class HttpError(Exception):
    """A client-visible error: rendered as ``status`` with ``{"message": message}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.headers = dict(headers or {})
        self.details = dict(details or {})

    def response(self) -> Response:
        body: dict[str, Any] = {"message": self.message, **self.details}
        if self.errors:
            body["errors"] = self.errors
        return Response(self.status, body, self.headers)


@dataclass
class Response:
    """What a handler returns: status, a JSON-serializable body (None: empty), headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# The handler decorator: one place renders responses and writes the request log line.

_cold_start = True
#: The event lambdashift pre-warms a version with (lambdashift.rollout.prewarm.PREWARM_EVENT).
PREWARM_EVENT = {"lambdashift": "prewarm"}
# The invocation being served, for log(). Lambda runs one invocation at a time per
# execution environment, so a module global is exact here.
_invocation: dict[str, Any] = {}


def function_version(context: Any) -> str:
    """The version of the function that is running (``"3"``, or ``"$LATEST"``)."""
    return (
        getattr(context, "function_version", None)
        or os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        or "unknown"
    )


def http_handler(
    func: Callable[[dict[str, Any], Any], Response],
) -> Callable[..., dict[str, Any]]:
    """Turn ``func(event, context) -> Response`` into an API Gateway payload 2.0 handler."""

    @functools.wraps(func)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        global _cold_start
        if event == PREWARM_EVENT:
            # lambdashift starts this version's environments before traffic moves to it:
            # make the DynamoDB client and send it one cheap read now (botocore resolves the
            # endpoint, credentials and connection on the first call), so that the first
            # real request finds all of it ready.
            table().get_item(Key={"id": "lambdashift-prewarm"})
            _cold_start = False
            return {"prewarmed": True}
        started = time.perf_counter()
        version = function_version(context)
        request = event.get("requestContext") if isinstance(event, dict) else None
        request = request if isinstance(request, dict) else {}
        _invocation.clear()
        _invocation.update(
            function=getattr(context, "function_name", None)
            or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            version=version,
            request_id=getattr(context, "aws_request_id", None),
            api_request_id=request.get("requestId"),
        )
        cold_start, _cold_start = _cold_start, False
        route = event.get("routeKey") if isinstance(event, dict) else None
        try:
            if not isinstance(event, dict):
                raise HttpError(400, "the event is not an API Gateway HTTP API request")
            response = func(event, context)
        except HttpError as exc:
            response = exc.response()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in _THROTTLING_CODES:
                _log_failure(exc, route, started, cold_start)
                raise
            response = Response(
                503, {"message": "the notes table is busy; retry shortly"}, {"Retry-After": "1"}
            )
        except Exception as exc:
            _log_failure(exc, route, started, cold_start)
            raise

        log(
            "INFO" if response.status < 500 else "ERROR",
            "request",
            route=route,
            status=response.status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            cold_start=cold_start,
            **(
                {"reason": response.body.get("message")}
                if response.status >= 400 and isinstance(response.body, dict)
                else {}
            ),
        )
        return render(response, version)

    return handler


def render(response: Response, version: str) -> dict[str, Any]:
    """The payload 2.0 result API Gateway expects, with ``X-Function-Version``."""
    headers = {"X-Function-Version": version, **response.headers}
    if response.body is None:
        body = ""
    else:
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        body = dumps(response.body)
    return {"statusCode": response.status, "headers": headers, "body": body}


def _log_failure(exc: BaseException, route: Any, started: float, cold_start: bool) -> None:
    log(
        "ERROR",
        "unhandled exception",
        route=route,
        error_type=type(exc).__name__,
        error=str(exc),
        traceback=traceback.format_exception(exc),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        cold_start=cold_start,
    )


def log(level: str, message: str, **fields: Any) -> None:
    """Write one JSON log line with the current function, version and request ids."""
    record = {
        "timestamp": utc_now(),
        "level": level,
        "message": message,
        **{k: v for k, v in _invocation.items() if v is not None},
        **fields,
    }
    # ASCII-only: a log line must never fail to encode, whatever a client sent.
    sys.stdout.write(dumps(record, ascii_only=True) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------
# JSON: DynamoDB returns numbers as Decimal and sets as Python sets.


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Integral numbers stay exact integers; others become the nearest float.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode("ascii")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, ascii_only: bool = False) -> str:
    """JSON text for a response body or log line; Decimal-, set- and bytes-safe."""
    return json.dumps(
        value, default=_json_default, ensure_ascii=ascii_only, separators=(",", ":")
    )


# ---------------------------------------------------------------------------------------
# Request parsing and validation: every failure is a 400 or 413 that says what is wrong.


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """The request body as a JSON object; 400/413 with a clear message otherwise."""
    raw = event.get("body")
    if raw is None or raw == "":
        raise HttpError(400, "the request body is required: a JSON object")
    if not isinstance(raw, str):
        raise HttpError(400, "the request body must be text")
    if event.get("isBase64Encoded"):
        # Refuse an oversized body before decoding it: base64 is 4 characters per 3 bytes.
        if len(raw) > (MAX_BODY_BYTES + 2) // 3 * 4:
            raise _too_large()
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(
                400, "the request body is marked base64-encoded but is not base64"
            ) from None
    else:
        if len(raw) > MAX_BODY_BYTES:  # every character is at least one byte
            raise _too_large()
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError:
            raise HttpError(400, "the request body is not valid UTF-8") from None
    if len(data) > MAX_BODY_BYTES:
        raise _too_large()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "the request body is not valid UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise HttpError(400, f"the request body is not valid JSON: {exc.msg} ({where})") from None
    except ValueError as exc:
        raise HttpError(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise HttpError(400, "the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise HttpError(400, f"the request body must be a JSON object, not {_json_type(body)}")
    return body


def _too_large() -> HttpError:
    return HttpError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def note_fields(body: Mapping[str, Any], *, require_title: bool) -> dict[str, str]:
    """The note fields of a request body, validated; every problem listed in one 400.

    ``title``: a string of 1 to 200 characters, not blank; ``content``: a string of at
    most 10,000 characters. Other fields are refused rather than silently dropped, so a
    typo (``"contnet"``) or a field the server owns (``"created_at"``) is reported.
    """
    errors: list[str] = []
    unknown = sorted(set(body) - set(NOTE_FIELDS))
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        errors.append(f"unknown field(s) {shown}: a note has only title and content")
    fields: dict[str, str] = {}
    if "title" in body:
        title = body["title"]
        if not isinstance(title, str):
            errors.append(f"title must be a string, not {_json_type(title)}")
        elif not title.strip():
            errors.append("title must not be blank")
        elif len(title) > MAX_TITLE_CHARS:
            errors.append(
                f"title is {len(title)} characters; at most {MAX_TITLE_CHARS} are allowed"
            )
        else:
            fields["title"] = title
    elif require_title:
        errors.append("title is required")
    if "content" in body:
        content = body["content"]
        if not isinstance(content, str):
            errors.append(f"content must be a string, not {_json_type(content)}")
        elif len(content) > MAX_CONTENT_CHARS:
            errors.append(
                f"content is {len(content)} characters; at most {MAX_CONTENT_CHARS} are allowed"
            )
        else:
            fields["content"] = content
    for name, value in fields.items():
        # JSON escapes can spell lone surrogates (\ud800), which are not Unicode text:
        # DynamoDB could not store them and the SDK would fail with a 500.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            errors.append(f"{name} is not valid Unicode text (it holds a lone surrogate)")
    if errors:
        raise HttpError(400, "invalid note: " + "; ".join(errors), errors=errors)
    return fields


def path_id(event: Mapping[str, Any]) -> str:
    """The ``{id}`` path parameter, a UUID (normalized to lower case); 400 otherwise."""
    params = event.get("pathParameters") or {}
    raw = params.get("id") if isinstance(params, dict) else None
    if not isinstance(raw, str) or not _ID.fullmatch(raw.lower()):
        shown = raw[:64] if isinstance(raw, str) else raw
        raise HttpError(
            400, f"note id must be a UUID like 9b2f6a4e-0c1d-4e5f-8a9b-0c1d2e3f4a5b, got {shown!r}"
        )
    return raw.lower()


def query_params(event: Mapping[str, Any]) -> dict[str, str]:
    """The query string parameters (API Gateway joins repeated ones with commas)."""
    params = event.get("queryStringParameters") or {}
    return params if isinstance(params, dict) else {}


# ---------------------------------------------------------------------------------------
# Storage.

_dynamodb: Any = None


def table() -> Any:
    """The notes table (boto3 resource), named by ``TABLE_NAME``.

    The endpoint is boto3's own business: ``AWS_ENDPOINT_URL_DYNAMODB`` points it at a
    local DynamoDB. The resource is created once per execution environment and reused
    by warm invocations.
    """
    global _dynamodb
    name = os.environ.get("TABLE_NAME")
    if not name:
        raise RuntimeError("environment variable TABLE_NAME is not set")
    if _dynamodb is None:
        _dynamodb = boto3.resource("dynamodb", config=_BOTO_CONFIG)
    return _dynamodb.Table(name)


def is_condition_failure(exc: ClientError) -> bool:
    """Whether a write failed its ConditionExpression (e.g. the note does not exist)."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def utc_now() -> str:
    """The UTC time now, fixed-width ISO-8601 that sorts as text: 2024-05-01T12:00:00.000000Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def list_keys(note_id: str, created: str) -> dict[str, str]:
    """The attributes that put a note in the list index, newest first by ``sk``."""
    return {"kind": NOTE_KIND, "sk": f"{created}#{note_id}"}


def public_note(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored note as clients see it: every attribute except the index's own, with its
    ``version`` (0 for a note stored before notes had versions)."""
    note = {k: v for k, v in item.items() if k not in INTERNAL_ATTRIBUTES}
    note[VERSION_ATTRIBUTE] = note_version(item)
    return note


# ---------------------------------------------------------------------------------------
# Versions: no lost updates. Every write of a note adds 1 to its ``version``; an update
# that names the version it read (``If-Match: "3"`` or ``"version": 3`` in the body) is
# a conditional write, and a stale one is a 409 (see README.md, "Concurrent updates").

VERSION_ATTRIBUTE = "version"
#: Larger than any note will reach, small enough to be exact in every JSON parser.
MAX_VERSION = 2**53 - 1
_IF_MATCH = re.compile(r'\s*(?:"(\d{1,16})"|(\d{1,16}))\s*')


def note_version(item: Mapping[str, Any]) -> int:
    """The stored note's version; 0 when it has none (written before versions existed)."""
    value = item.get(VERSION_ATTRIBUTE)
    return int(value) if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else 0


def etag(version: int) -> dict[str, str]:
    """The ``ETag`` header for a note at ``version``: ``"3"``, quoted as HTTP wants."""
    return {"ETag": f'"{version}"'}


def version_condition(expected: int | None, names: dict[str, str],
                      values: dict[str, Any]) -> str:
    """The write's ConditionExpression: the note exists and, if named, is at ``expected``.

    Adds what it uses to ``names`` and ``values``. A note stored before versions existed has
    no version attribute: version 0.
    """
    condition = "attribute_exists(#id)"
    names["#id"] = "id"
    if expected is None:
        return condition
    names["#version"] = VERSION_ATTRIBUTE
    if expected == 0:
        return condition + " AND attribute_not_exists(#version)"
    values[":expected"] = expected
    return condition + " AND #version = :expected"


def missing_or_changed(note_id: str, expected: int | None,
                       current: Mapping[str, Any] | None, action: str) -> HttpError:
    """404 if the note is gone, else 409: it changed since the version the client read.

    ``current`` is the item DynamoDB returned with the failed condition, in its wire format
    (``{"version": {"N": "4"}, ...}``): the resource API does not convert errors.
    """
    if expected is None or not current:
        return HttpError(404, f"note {note_id} not found")
    raw = (current.get(VERSION_ATTRIBUTE) or {}).get("N")
    version = int(raw) if raw is not None else 0
    return HttpError(
        409,
        f"note {note_id} is at version {version}, not {expected}: it changed since you read "
        f"it; read it again and {action}",
        headers=etag(version),
        details={"current_version": version},
    )


def expected_version(event: Mapping[str, Any], body: dict[str, Any]) -> int | None:
    """The version an update was based on, or None for an unconditional update.

    From the ``If-Match`` header (``"3"`` or ``3``; ``*`` means any version) or the body's
    ``version`` field, which is taken out of ``body``. Both given and different: 400.
    """
    from_body: int | None = None
    if VERSION_ATTRIBUTE in body:
        raw = body.pop(VERSION_ATTRIBUTE)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_VERSION:
            shown = raw if isinstance(raw, int) and not isinstance(raw, bool) else _json_type(raw)
            raise HttpError(400, f"version must be the note's version, an integer from 0 to "
                                 f"{MAX_VERSION}, not {shown}")
        from_body = raw
    headers = event.get("headers") or {}
    header = headers.get("if-match") if isinstance(headers, dict) else None
    from_header: int | None = None
    if isinstance(header, str) and header.strip() != "*":
        match = _IF_MATCH.fullmatch(header)
        if match is None or int(match[1] or match[2]) > MAX_VERSION:
            shown = header[:40]
            raise HttpError(400, f'If-Match must be a note version like "3" (or *), got {shown!r}')
        from_header = int(match[1] or match[2])
    if from_body is not None and from_header is not None and from_body != from_header:
        raise HttpError(400, f"If-Match says version {from_header} but the body says "
                             f"version {from_body}: give one")
    return from_header if from_header is not None else from_body
