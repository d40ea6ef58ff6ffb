"""A CloudWatch Logs API subset on the emulator's port: AWS JSON 1.1, ``POST /``.

boto3's ``logs`` client and ``aws logs ... --endpoint-url`` send ``POST /`` with
``X-Amz-Target: Logs_20140328.<Operation>`` and an ``application/x-amz-json-1.1`` body; the
Lambda API never uses ``POST /``, so both share one endpoint. Operations: DescribeLogGroups,
DescribeLogStreams, GetLogEvents and FilterLogEvents, with AWS's parameters, limits,
pagination tokens and error types (``ResourceNotFoundException``,
``InvalidParameterException``, ``UnknownOperationException``).

Filter patterns (FilterLogEvents' ``filterPattern``), the subset of CloudWatch's syntax that
matters for Lambda's lines: terms (``ERROR``), quoted phrases (``"Task timed out"``), all of
which must appear; ``?term``: at least one of the ``?`` terms must appear; ``-term``: must not
appear; a JSON condition ``{ $.a.b = "value" }`` or ``!=`` on events that are JSON objects.
Matching is case-sensitive, as on AWS. Anything else is refused with
``InvalidParameterException`` rather than silently matching everything.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response

from lambdashift.emulator.logs.store import LogEvent, LogStore

__all__ = ["LogsApiError", "compile_pattern", "handle"]

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"
#: AWS returns at most 1 MB of events per GetLogEvents / FilterLogEvents response.
MAX_RESPONSE_BYTES = 1 << 20
MAX_EVENTS = 10_000


class LogsApiError(Exception):
    """An error as CloudWatch Logs returns it: HTTP 400 and ``{"__type", "message"}``."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


def _invalid(message: str) -> LogsApiError:
    return LogsApiError("InvalidParameterException", message)


def _no_group() -> LogsApiError:
    return LogsApiError("ResourceNotFoundException", "The specified log group does not exist.")


def _no_stream() -> LogsApiError:
    return LogsApiError("ResourceNotFoundException", "The specified log stream does not exist.")


async def handle(request: Request, logs: LogStore, region: str, account_id: str) -> Response:
    """Serve one CloudWatch Logs request."""
    request_id = str(uuid.uuid4())
    target = request.headers.get("x-amz-target", "")
    try:
        if not target.startswith(TARGET_PREFIX):
            raise LogsApiError("UnknownOperationException", f"Unknown operation {target!r}")
        operation = _OPERATIONS.get(target[len(TARGET_PREFIX):])
        if operation is None:
            raise LogsApiError("UnknownOperationException",
                               f"The emulator does not serve {target[len(TARGET_PREFIX):]} "
                               f"(it serves {', '.join(sorted(_OPERATIONS))})")
        try:
            raw = await request.body()
            params = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise LogsApiError("SerializationException", "The request body is not JSON") from None
        if not isinstance(params, dict):
            raise LogsApiError("SerializationException", "The request body must be an object")
        body = operation(logs, params, _Arns(region, account_id))
        status = 200
    except LogsApiError as err:
        body, status = {"__type": err.error_type, "message": err.message}, err.status
    return Response(json.dumps(body).encode(), status_code=status, media_type=CONTENT_TYPE,
                    headers={"x-amzn-RequestId": request_id})


class _Arns:
    def __init__(self, region: str, account_id: str) -> None:
        self.base = f"arn:aws:logs:{region}:{account_id}:log-group:"

    def group(self, name: str) -> str:
        return self.base + name


# -- parameters ------------------------------------------------------------------------------


def _int(params: dict[str, Any], key: str, low: int, high: int | None = None) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"1 validation error detected: Value '{value}' at '{key}' failed to "
                       "satisfy constraint: Member must be a number")
    if value < low or (high is not None and value > high):
        bound = (f"greater than or equal to {low}" if value < low
                 else f"less than or equal to {high}")
        raise _invalid(f"1 validation error detected: Value '{value}' at '{key}' failed to "
                       f"satisfy constraint: Member must have value {bound}")
    return value


def _str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{key} must be a string")
    return value


def _group_name(params: dict[str, Any]) -> str:
    """logGroupName, or logGroupIdentifier (a name or an ARN): exactly one of them."""
    name, ident = _str(params, "logGroupName"), _str(params, "logGroupIdentifier")
    if name and ident:
        raise _invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if ident:
        match = re.fullmatch(r"arn:aws[\w-]*:logs:[^:]*:\d*:log-group:([^:]+)(?::\*)?", ident)
        return match.group(1) if match else ident
    if not name:
        raise _invalid("Either logGroupName or logGroupIdentifier must be provided.")
    return name


def _page(items: list[Any], token: str | None, limit: int) -> tuple[list[Any], str | None]:
    """Offset tokens for the Describe operations (their lists are small and sorted)."""
    start = 0
    if token:
        if not token.isdigit():
            raise _invalid("The specified nextToken is invalid.")
        start = int(token)
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    return chunk, (str(start + limit) if more else None)


# -- operations ------------------------------------------------------------------------------


def _describe_log_groups(logs: LogStore, params: dict[str, Any], arns: _Arns) -> dict[str, Any]:
    prefix = _str(params, "logGroupNamePrefix")
    pattern = _str(params, "logGroupNamePattern")
    if prefix and pattern:
        raise _invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive "
                       "parameters.")
    limit = _int(params, "limit", 1, 50) or 50
    groups = [g for g in logs.groups()
              if (not prefix or g.name.startswith(prefix))
              and (not pattern or pattern.lower() in g.name.lower())]
    chunk, token = _page(groups, _str(params, "nextToken"), limit)
    body: dict[str, Any] = {"logGroups": [{
        "logGroupName": g.name,
        "creationTime": g.created,
        "metricFilterCount": 0,
        "arn": arns.group(g.name) + ":*",
        "storedBytes": g.stored_bytes,
        "logGroupClass": "STANDARD",
        "logGroupArn": arns.group(g.name),
    } for g in chunk]}
    if token:
        body["nextToken"] = token
    return body


def _describe_log_streams(logs: LogStore, params: dict[str, Any], arns: _Arns) -> dict[str, Any]:
    name = _group_name(params)
    prefix = _str(params, "logStreamNamePrefix")
    order = _str(params, "orderBy") or "LogStreamName"
    if order not in ("LogStreamName", "LastEventTime"):
        raise _invalid(f"1 validation error detected: Value '{order}' at 'orderBy' failed to "
                       "satisfy constraint: Member must satisfy enum value set: "
                       "[LogStreamName, LastEventTime]")
    if prefix and order == "LastEventTime":
        raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
    limit = _int(params, "limit", 1, 50) or 50
    if logs.group(name) is None:
        raise _no_group()
    streams, _ = logs.snapshot(name, stream_prefix=prefix)
    if order == "LastEventTime":
        streams.sort(key=lambda s: (s.last_timestamp or 0, s.name))
    else:
        streams.sort(key=lambda s: s.name)
    if params.get("descending"):
        streams.reverse()
    chunk, token = _page(streams, _str(params, "nextToken"), limit)
    out = []
    for s in chunk:
        item: dict[str, Any] = {"logStreamName": s.name, "creationTime": s.created,
                                "arn": f"{arns.group(name)}:log-stream:{s.name}",
                                "storedBytes": 0}  # AWS deprecated it: always 0
        if s.events:
            item.update(firstEventTimestamp=s.first_timestamp, lastEventTimestamp=s.last_timestamp,
                        lastIngestionTime=s.last_ingestion)
        out.append(item)
    body: dict[str, Any] = {"logStreams": out}
    if token:
        body["nextToken"] = token
    return body


def _in_window(event: LogEvent, start: int | None, end: int | None) -> bool:
    return (start is None or event.timestamp >= start) and (end is None or event.timestamp <= end)


def _get_log_events(logs: LogStore, params: dict[str, Any], arns: _Arns) -> dict[str, Any]:
    name = _group_name(params)
    stream = _str(params, "logStreamName")
    if not stream:
        raise _invalid("logStreamName is required.")
    start, end = _int(params, "startTime", 0), _int(params, "endTime", 0)
    limit = _int(params, "limit", 1, MAX_EVENTS) or MAX_EVENTS
    token = _str(params, "nextToken")
    if logs.group(name) is None:
        raise _no_group()
    events = logs.stream_events(name, stream)
    if events is None:
        raise _no_stream()
    events = [e for e in events if _in_window(e, start, end)]
    forward = params.get("startFromHead", False)
    after = before = None
    if token:
        match = re.fullmatch(r"([fb])/(\d{56})", token)
        if not match:
            raise _invalid("The specified nextToken is invalid.")
        forward = match.group(1) == "f"
        if forward:
            after = int(match.group(2))
        else:
            before = int(match.group(2))
    if forward:
        chosen = [e for e in events if after is None or e.seq > after]
        chosen = _cap(chosen[:limit])
    else:
        chosen = [e for e in events if before is None or e.seq < before]
        chosen = _cap(chosen[-limit:], from_end=True)
    if chosen:
        first, last = chosen[0].seq, chosen[-1].seq
    elif token:  # nothing more that way: the same token back, which ends boto3's paginator
        first = last = int(token[2:])
        if forward:
            first += 1
        else:
            last -= 1
    else:
        first = last = (events[-1].seq if events else 0)
    return {
        "events": [{"timestamp": e.timestamp, "message": e.message,
                    "ingestionTime": e.ingestion_time} for e in chosen],
        "nextForwardToken": f"f/{last:056d}",
        "nextBackwardToken": f"b/{first:056d}",
    }


def _cap(events: list[LogEvent], *, from_end: bool = False) -> list[LogEvent]:
    """As many events as fit in AWS's 1 MB response."""
    total, kept = 0, 0
    for event in (reversed(events) if from_end else events):
        total += event.size
        if total > MAX_RESPONSE_BYTES:
            break
        kept += 1
    return events[len(events) - kept:] if from_end else events[:kept]


def _filter_log_events(logs: LogStore, params: dict[str, Any], arns: _Arns) -> dict[str, Any]:
    name = _group_name(params)
    names = params.get("logStreamNames")
    prefix = _str(params, "logStreamNamePrefix")
    if names is not None and prefix:
        raise _invalid("logStreamNames and logStreamNamePrefix are mutually exclusive.")
    if names is not None and (not isinstance(names, list) or not 1 <= len(names) <= 100):
        raise _invalid("logStreamNames must be a list of 1 to 100 names.")
    start, end = _int(params, "startTime", 0), _int(params, "endTime", 0)
    limit = _int(params, "limit", 1, MAX_EVENTS) or MAX_EVENTS
    matches = compile_pattern(_str(params, "filterPattern") or "")
    token = _str(params, "nextToken")
    position = (-1, -1)
    if token:
        match = re.fullmatch(r"(\d+):(\d+)", token)
        if not match:
            raise _invalid("The specified nextToken is invalid.")
        position = (int(match.group(1)), int(match.group(2)))
    if logs.group(name) is None:
        raise _no_group()
    streams, events = logs.snapshot(name, names, prefix)
    found = [e for e in events if (e.timestamp, e.seq) > position
             and _in_window(e, start, end) and matches(e.message)]
    page = _cap(found[:limit])
    body: dict[str, Any] = {
        "events": [{"logStreamName": e.stream, "timestamp": e.timestamp, "message": e.message,
                    "ingestionTime": e.ingestion_time, "eventId": e.event_id} for e in page],
        "searchedLogStreams": [{"logStreamName": s.name, "searchedCompletely": True}
                               for s in streams],
    }
    if len(page) < len(found):
        body["nextToken"] = f"{page[-1].timestamp}:{page[-1].seq}"
    return body


_OPERATIONS: dict[str, Callable[[LogStore, dict[str, Any], _Arns], dict[str, Any]]] = {
    "DescribeLogGroups": _describe_log_groups,
    "DescribeLogStreams": _describe_log_streams,
    "GetLogEvents": _get_log_events,
    "FilterLogEvents": _filter_log_events,
}


# -- filter patterns -------------------------------------------------------------------------

_JSON_CONDITION = re.compile(
    r"\{\s*\$\.(?P<path>[A-Za-z_][\w.]*)\s*(?P<op>=|!=)\s*(?P<value>\"[^\"]*\"|[^\s}]+)\s*\}")


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A predicate on event messages for the filter-pattern subset described above."""
    pattern = pattern.strip()
    if not pattern:
        return lambda message: True
    if pattern.startswith("{"):
        return _json_condition(pattern)
    if pattern.startswith("["):  # space-delimited field patterns: not in the subset
        raise _invalid(f"Invalid filter pattern {pattern!r}: the emulator supports terms, "
                       "\"phrases\", ?terms, -terms and { $.key = value }")
    try:
        words = shlex.split(pattern, posix=True)
    except ValueError as exc:
        raise _invalid(f"Invalid filter pattern {pattern!r}: {exc}") from None
    required, optional, excluded = [], [], []
    for word in words:
        if word.startswith("?") and len(word) > 1:
            optional.append(word[1:])
        elif word.startswith("-") and len(word) > 1:
            excluded.append(word[1:])
        else:
            required.append(word)

    def matches(message: str) -> bool:
        return (all(t in message for t in required)
                and (not optional or any(t in message for t in optional))
                and not any(t in message for t in excluded))
    return matches


def _json_condition(pattern: str) -> Callable[[str], bool]:
    match = _JSON_CONDITION.fullmatch(pattern)
    if not match:
        raise _invalid(f"Invalid filter pattern {pattern!r}: the emulator supports one "
                       "condition, { $.key = value } or { $.key != value }")
    path = match["path"].split(".")
    raw = match["value"]
    wanted: Any = raw[1:-1] if raw.startswith('"') else _scalar(raw)
    negate = match["op"] == "!="

    def matches(message: str) -> bool:
        if not message.startswith("{"):
            return False
        try:
            value: Any = json.loads(message)
        except ValueError:
            return False
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return False
            value = value[key]
        return (value != wanted) if negate else (value == wanted)
    return matches


def _scalar(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw
