"""Reading a Lambda function's logs through boto3's CloudWatch Logs client (AWS or the stack).

Lambda writes to ``/aws/lambda/<function>``, one stream per execution environment, named
``YYYY/MM/DD/[<version>]<id>``: the version is in the stream name. An environment runs one
invocation at a time, so within a stream everything from ``START RequestId: X`` to
``REPORT RequestId: X`` belongs to X, and the lines before a ``START`` (a cold start's init
output) belong to the invocation that triggered the init. :class:`LambdaLogs` reads events
with FilterLogEvents and :class:`Attributor` gives every line its version and request id;
:func:`classify` tells REPORT lines (with their numbers) and error records apart, in both
the text and the JSON log format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.errors import AwsError, NotFoundError, ThrottledError

__all__ = ["Attributor", "LambdaLogs", "LogLine", "Report", "classify", "log_group",
           "stream_version"]

_STREAM_VERSION = re.compile(r"\[(\$LATEST|\d+)\]")
_START = re.compile(r"START RequestId: (\S+)")
_END = re.compile(r"END RequestId: (\S+)")
_REPORT = re.compile(
    r"REPORT RequestId: (?P<rid>\S+)\s+Duration: (?P<dur>[\d.]+) ms.*?"
    r"(?:Init Duration: (?P<init>[\d.]+) ms)?\s*(?:Status: (?P<status>\w+))?\s*$", re.S)
_LOG_RECORD = re.compile(r"\[[A-Z]+\]\t\S+\t(?P<rid>[0-9a-f-]{8,})\t")
_THROTTLING = {"ThrottlingException", "Throttling", "LimitExceededException",
               "TooManyRequestsException"}
#: Lines with these words are the ones the judge needs (REPORT lines and error records, in
#: both log formats); FilterLogEvents then returns few events besides them.
JUDGE_PATTERN = ('?REPORT ?"[ERROR]" ?"Task timed out" ?"platform.report" ?"errorType"')


def log_group(function: str) -> str:
    """Lambda's default log group of a function."""
    return f"/aws/lambda/{function}"


def stream_version(stream: str) -> str | None:
    """The version in a Lambda log stream name (``2024/01/02/[3]abc…`` → ``"3"``)."""
    match = _STREAM_VERSION.search(stream)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Report:
    """One invocation's REPORT line (text) or ``platform.report`` record (JSON)."""

    request_id: str
    duration_ms: float
    init_duration_ms: float | None
    status: str  # "success", "timeout", "error", ...

    @property
    def failed(self) -> bool:
        """The platform itself saw the invocation fail (timeout, runtime exit, init error)."""
        return self.status not in ("", "success")


def classify(message: str) -> Report | str | None:
    """A Report, ``"error"`` for the runtime's unhandled-error record, ``"start"`` /
    ``"end"``, or None for any other line."""
    if message.startswith("REPORT "):
        match = _REPORT.match(message)
        if match:
            init = match["init"]
            return Report(match["rid"], float(match["dur"]), float(init) if init else None,
                          (match["status"] or "success").lower())
    if message.startswith("START "):
        return "start"
    if message.startswith("END "):
        return "end"
    # "[ERROR] Type: message" (a space) is the runtime's record; "[ERROR]\t" is logging's.
    if message.startswith("[ERROR] ") or " Task timed out after " in message[:120]:
        return "error"
    if message.startswith("{"):
        try:
            record = json.loads(message)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        if record.get("type") == "platform.report":
            body = record.get("record") or {}
            metrics = body.get("metrics") or {}
            init = metrics.get("initDurationMs")
            return Report(str(body.get("requestId", "")), float(metrics.get("durationMs", 0.0)),
                          float(init) if init is not None else None,
                          str(body.get("status", "success")).lower())
        if record.get("type") == "platform.start":
            return "start"
        if record.get("level") == "ERROR" and "errorType" in record and "stackTrace" in record:
            return "error"
    return None


def _request_id(message: str) -> tuple[str, str] | None:
    """(kind, request id) when the line names its own invocation."""
    for kind, pattern in (("start", _START), ("end", _END)):
        match = pattern.match(message)
        if match:
            return kind, match.group(1)
    found = classify(message) if message.startswith(("REPORT ", "{")) else None
    if isinstance(found, Report):
        return "report", found.request_id
    if message.startswith("{"):
        try:
            record = json.loads(message)
        except ValueError:
            return None
        if isinstance(record, dict):
            rid = record.get("requestId") or (record.get("record") or {}).get("requestId")
            if record.get("type") == "platform.start" and rid:
                return "start", str(rid)
            if rid:
                return "line", str(rid)
        return None
    match = _LOG_RECORD.match(message)
    return ("line", match.group("rid")) if match else None


@dataclass(frozen=True)
class LogLine:
    """One event with the invocation it belongs to."""

    timestamp: int  # ms since the epoch
    stream: str
    version: str
    request_id: str  # "" when it cannot be known (the stream's start was not read)
    message: str
    event_id: str = ""

    def to_json(self, function: str) -> dict[str, Any]:
        """The shape ``lambdashift logs --json`` prints."""
        return {"timestamp": self.timestamp, "function": function, "version": self.version,
                "requestId": self.request_id, "stream": self.stream,
                "message": self.message.rstrip("\n"), "eventId": self.event_id}


@dataclass
class _StreamState:
    current: str = ""  # the request id running in this stream, between START and REPORT
    waiting: list[dict[str, Any]] = field(default_factory=list)  # init lines before a START


class Attributor:
    """Gives each event (as FilterLogEvents returns them) its version and request id."""

    def __init__(self) -> None:
        self._streams: dict[str, _StreamState] = {}

    def feed(self, events: Iterable[dict[str, Any]]) -> Iterator[LogLine]:
        """Events in the order CloudWatch returns them → lines, in the same order (init lines
        are held back until their invocation's START)."""
        for event in events:
            stream = event.get("logStreamName", "")
            state = self._streams.setdefault(stream, _StreamState())
            message = event.get("message", "")
            named = _request_id(message)
            if named is not None and named[0] == "start":
                state.current = named[1]
                for held in state.waiting:
                    yield self._line(held, state.current)
                state.waiting.clear()
            rid = named[1] if named is not None else state.current
            if not rid and named is None:
                state.waiting.append(event)
                continue
            yield self._line(event, rid)
            if named is not None and named[0] == "report":
                state.current = ""

    def flush(self) -> Iterator[LogLine]:
        """Lines still waiting for a START that never came (shown without a request id)."""
        for state in self._streams.values():
            for held in state.waiting:
                yield self._line(held, "")
            state.waiting.clear()

    @staticmethod
    def _line(event: dict[str, Any], rid: str) -> LogLine:
        stream = event.get("logStreamName", "")
        return LogLine(int(event.get("timestamp", 0)), stream, stream_version(stream) or "?",
                       rid, event.get("message", ""), str(event.get("eventId", "")))


def _translate(exc: Exception, operation: str) -> AwsError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        cls = (NotFoundError if code == "ResourceNotFoundException"
               else ThrottledError if code in _THROTTLING else AwsError)
        return cls(f"CloudWatch Logs {operation}: {code}: {message}", code=code,
                   operation=operation)
    return AwsError(f"CloudWatch Logs {operation}: {exc}", operation=operation)


class LambdaLogs:
    """FilterLogEvents over a function's log group, every page read; errors translated."""

    def __init__(self, client: Any, *, limiter: Any = None) -> None:
        """``client``: boto3's ``logs`` client; ``limiter``: anything with ``acquire()``,
        taken before each request (FilterLogEvents has a per-account request quota)."""
        self.client = client
        self.limiter = limiter
        self.requests = 0  # FilterLogEvents / DescribeLogStreams pages asked for

    def events(self, function: str, start_ms: int, end_ms: int | None = None, *,
               pattern: str = "", streams: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Raw events of ``function``'s group in [start_ms, end_ms], all pages."""
        params: dict[str, Any] = {"logGroupName": log_group(function), "startTime": int(start_ms)}
        if end_ms is not None:
            params["endTime"] = int(end_ms)
        if pattern:
            params["filterPattern"] = pattern
        chunks: list[Sequence[str] | None] = [None]
        if streams is not None:
            if not streams:
                return
            chunks = [streams[i:i + 100] for i in range(0, len(streams), 100)]
        for chunk in chunks:
            token = None
            while True:
                call = dict(params, **({"logStreamNames": list(chunk)} if chunk else {}))
                if token:
                    call["nextToken"] = token
                page = self._call("FilterLogEvents", self.client.filter_log_events, call)
                yield from page.get("events", ())
                token = page.get("nextToken")
                if not token:
                    break

    def version_streams(self, function: str, version: str, since_ms: int) -> list[str]:
        """The names of ``version``'s streams with events since ``since_ms`` (newest first)."""
        names: list[str] = []
        token = None
        while True:
            call: dict[str, Any] = {"logGroupName": log_group(function),
                                    "orderBy": "LastEventTime", "descending": True}
            if token:
                call["nextToken"] = token
            page = self._call("DescribeLogStreams", self.client.describe_log_streams, call)
            old = False
            for stream in page.get("logStreams", ()):
                last = stream.get("lastEventTimestamp")
                if last is not None and last < since_ms:
                    old = True  # ordered by last event: every stream after this is older
                    break
                if stream_version(stream["logStreamName"]) == version:
                    names.append(stream["logStreamName"])
            token = page.get("nextToken")
            if old or not token:
                return names

    def _call(self, operation: str, method: Any, params: dict[str, Any]) -> dict[str, Any]:
        if self.limiter is not None:
            self.limiter.acquire()
        self.requests += 1
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, operation) from exc
