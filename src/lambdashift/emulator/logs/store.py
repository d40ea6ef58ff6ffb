"""The emulator's CloudWatch Logs: every invocation's log lines, kept as Lambda sends them.

Lambda writes a function's logs to the log group ``/aws/lambda/<function>``, one log stream
per execution environment, named ``YYYY/MM/DD/[<version>]<32 hex digits>`` (the day the
environment started, the version it runs). Each invocation leaves ``START``, its own output
line by line, for an unhandled exception the runtime's ``[ERROR]`` record with its traceback
as *one* event, and ``END`` + ``REPORT``. :class:`LogStore` keeps those events per group and
stream, in memory and bounded: past :attr:`LogStore.max_bytes` per group (8 MiB by default)
the oldest events go first, as retention would drop them; an emptied stream goes too.
Logs do not survive a restart of the emulator.

With ``LoggingConfig.LogFormat = JSON`` the platform lines become ``platform.start`` and
``platform.report`` records, the error record and the runtime's ``logging`` records become
JSON objects, and plain ``print`` output stays text, as on AWS.

The invoke path only splits the invocation's text into events and appends them; every
query (``api.py``) scans the bounded group.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from lambdashift.emulator.errors import InvalidParameterValueException

__all__ = ["LogEvent", "LogGroup", "LogStore", "LogStream", "check_logging_config",
           "split_events", "to_json_format"]

#: Bytes kept per log group before the oldest events are dropped.
MAX_GROUP_BYTES = 8 << 20
#: CloudWatch counts 26 bytes of overhead per event against its quotas; we count the same.
EVENT_OVERHEAD = 26

_REPORT = re.compile(
    r"REPORT RequestId: (?P<rid>\S+)\tDuration: (?P<dur>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<mem>\d+) MB\t"
    r"Max Memory Used: (?P<used>\d+) MB\t(?:Init Duration: (?P<init>[\d.]+) ms\t)?"
    r"(?:Status: (?P<status>\w+))?")
_START = re.compile(r"START RequestId: (?P<rid>\S+) Version: (?P<version>\S+)")
_LOG_RECORD = re.compile(r"\[(?P<level>[A-Z]+)\]\t(?P<ts>\S+)\t(?P<rid>\S*)\t(?P<msg>.*)", re.S)


class LogEvent(NamedTuple):
    """One event as CloudWatch Logs returns it (times in milliseconds since the epoch).
    Never changed once stored. Streams keep each as a plain ``tuple`` of its values, which
    CPython's collector stops tracking, so a full log store costs no pause of a full
    collection on the invoke path; reads build events again (:meth:`LogStream.all`)."""

    seq: int  # the group's ingestion order; the eventId is made from it
    timestamp: int
    ingestion_time: int
    message: str
    stream: str
    size: int  # bytes this event counts for, as CloudWatch measures a batch

    @classmethod
    def of(cls, seq: int, timestamp: int, ingestion_time: int, message: str,
           stream: str) -> LogEvent:
        """An event, its size counted as CloudWatch counts a batch's."""
        return cls(seq, timestamp, ingestion_time, message, stream,
                   len(message.encode()) + EVENT_OVERHEAD)

    @property
    def event_id(self) -> str:
        """A decimal id that sorts in ingestion order, as CloudWatch's long ids do."""
        return f"{self.seq:056d}"


@dataclass
class LogStream:
    """One execution environment's stream: its events in ingestion order."""

    name: str
    created: int
    events: deque[tuple[Any, ...]] = field(default_factory=deque)  # LogEvent's values
    stored_bytes: int = 0

    @property
    def first_timestamp(self) -> int | None:
        """The oldest event kept, if any."""
        return min((e[1] for e in self.events), default=None)

    @property
    def last_timestamp(self) -> int | None:
        """The newest event kept, if any."""
        return self.events[-1][1] if self.events else None

    @property
    def last_ingestion(self) -> int | None:
        """When the newest event was ingested."""
        return self.events[-1][2] if self.events else None

    def all(self) -> list[LogEvent]:
        """The stream's events in ingestion order."""
        return [LogEvent._make(e) for e in self.events]


@dataclass
class LogGroup:
    """A function's log group: streams by name, and the arrival order for eviction."""

    name: str
    created: int
    streams: dict[str, LogStream] = field(default_factory=dict)
    arrivals: deque[LogStream] = field(default_factory=deque)
    stored_bytes: int = 0
    next_seq: int = 1

    def events(self, streams: Iterable[LogStream] | None = None) -> list[LogEvent]:
        """Events of the given streams (default: all), by timestamp then ingestion order."""
        chosen = self.streams.values() if streams is None else streams
        out = [e for s in chosen for e in s.all()]
        out.sort(key=lambda e: (e.timestamp, e.seq))
        return out


class LogStore:
    """Log groups of the emulated account, bounded in bytes per group. Thread-safe."""

    def __init__(self, *, max_bytes: int = MAX_GROUP_BYTES,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._groups: dict[str, LogGroup] = {}
        self._lock = threading.Lock()

    # -- writing (the invoke path) -------------------------------------------------------

    def put(self, group_name: str, stream_name: str,
            events: Iterable[tuple[int, str]]) -> None:
        """Append ``(timestamp_ms, message)`` events to a stream, creating group and stream."""
        now = int(self._clock() * 1000)
        with self._lock:
            group = self._groups.get(group_name)
            if group is None:
                group = self._groups[group_name] = LogGroup(group_name, now)
            stream = group.streams.get(stream_name)
            if stream is None:
                stream = group.streams[stream_name] = LogStream(stream_name, now)
            for timestamp, message in events:
                event = LogEvent.of(group.next_seq, timestamp, now, message, stream_name)
                group.next_seq += 1
                stream.events.append(tuple(event))
                group.arrivals.append(stream)
                size = event.size
                stream.stored_bytes += size
                group.stored_bytes += size
            self._evict(group)

    def _evict(self, group: LogGroup) -> None:
        while group.stored_bytes > self.max_bytes and group.arrivals:
            stream = group.arrivals.popleft()
            size = stream.events.popleft()[5]
            stream.stored_bytes -= size
            group.stored_bytes -= size
            if not stream.events:
                group.streams.pop(stream.name, None)

    def record_invocation(self, function_name: str, stream_name: str, logs: str,
                          duration_ms: float, log_format: str = "Text",
                          ended_at: float | None = None) -> None:
        """Store one invocation's log text (the runtime's, START to REPORT) as events."""
        end = int((self._clock() if ended_at is None else ended_at) * 1000)
        messages = split_events(logs)
        if log_format == "JSON":
            messages = to_json_format(messages, end)
        # Init output and START when the handler began, the rest when it ended: we know the two.
        start, first = end - int(duration_ms), _first_start(messages)
        stamped = [(start if i <= first else end, m) for i, m in enumerate(messages)]
        self.put(f"/aws/lambda/{function_name}", stream_name, stamped)

    # -- reading (the API) ---------------------------------------------------------------

    def groups(self) -> list[LogGroup]:
        """Every group, by name."""
        with self._lock:
            return [self._groups[n] for n in sorted(self._groups)]

    def group(self, name: str) -> LogGroup | None:
        """The group called ``name``, if it exists."""
        with self._lock:
            return self._groups.get(name)

    def snapshot(self, name: str, stream_names: Iterable[str] | None = None,
                 stream_prefix: str | None = None) -> tuple[list[LogStream], list[LogEvent]]:
        """The chosen streams of a group and their events, copied under the lock."""
        with self._lock:
            group = self._groups.get(name)
            if group is None:
                return [], []
            if stream_names is not None:
                wanted = set(stream_names)
                streams = [s for s in group.streams.values() if s.name in wanted]
            elif stream_prefix:
                streams = [s for s in group.streams.values() if s.name.startswith(stream_prefix)]
            else:
                streams = list(group.streams.values())
            return streams, group.events(streams)

    def stream_events(self, group_name: str, stream_name: str) -> list[LogEvent] | None:
        """A stream's events in order, or None when the group or stream does not exist."""
        with self._lock:
            group = self._groups.get(group_name)
            stream = group.streams.get(stream_name) if group else None
            return None if stream is None else stream.all()


def check_logging_config(value: object) -> str:
    """``LoggingConfig`` of CreateFunction / UpdateFunctionConfiguration → its LogFormat.

    Only ``LogFormat`` is emulated; a custom ``LogGroup`` or log levels are refused rather
    than ignored, so nobody looks for logs where the emulator never puts them.
    """
    if value is None:
        return "Text"
    if not isinstance(value, dict):
        raise InvalidParameterValueException("LoggingConfig must be an object")
    unsupported = sorted(set(value) - {"LogFormat", "LogGroup"})
    if unsupported:
        raise InvalidParameterValueException(
            f"The emulator supports LoggingConfig.LogFormat only, not {', '.join(unsupported)}")
    fmt = value.get("LogFormat", "Text")
    if fmt not in ("Text", "JSON"):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{fmt}' at 'loggingConfig.logFormat' failed "
            "to satisfy constraint: Member must satisfy enum value set: [Text, JSON]")
    group = value.get("LogGroup")
    if group is not None and not str(group).startswith("/aws/lambda/"):
        raise InvalidParameterValueException(
            "The emulator writes logs to /aws/lambda/<function> only; LogGroup cannot change")
    return str(fmt)


def _first_start(messages: list[str]) -> int:
    for i, m in enumerate(messages):
        if m.startswith("START ") or m.startswith('{"time"') and '"platform.start"' in m[:80]:
            return i
    return -1


def split_events(logs: str) -> list[str]:
    """An invocation's log text as CloudWatch events: one per line, except that the runtime's
    ``[ERROR]`` record keeps its traceback in one event (the runtime frames it whole)."""
    out: list[str] = []
    in_error = False
    for line in logs.splitlines(keepends=True):
        if in_error and (line.startswith((" ", "\t")) or
                         line.startswith("Traceback (most recent call last):")):
            out[-1] += line
            continue
        in_error = line.startswith("[ERROR] ")
        out.append(line)
    # The error record is framed without its final newline; plain lines keep theirs.
    return [m[:-1] if m.startswith("[ERROR] ") and m.endswith("\n") else m for m in out]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_json_format(messages: list[str], at_ms: int) -> list[str]:
    """Text-format events as the JSON log format writes them."""
    out = []
    for message in messages:
        converted = _json_event(message, _iso(at_ms))
        if converted is not _DROP:
            out.append(message if converted is None else json.dumps(converted))
    return out


_DROP = object()


def _json_event(message: str, stamp: str) -> object:
    """The JSON record for one text event; None keeps it as text; _DROP drops it."""
    if message.startswith("START "):
        match = _START.match(message)
        if match:
            return {"time": stamp, "type": "platform.start",
                    "record": {"requestId": match["rid"], "version": match["version"]}}
    if message.startswith("END RequestId: "):
        return _DROP  # the JSON format has no END line: platform.report closes the invocation
    if message.startswith("REPORT "):
        match = _REPORT.match(message)
        if match:
            metrics: dict[str, float | int] = {
                "durationMs": float(match["dur"]), "billedDurationMs": int(match["billed"]),
                "memorySizeMB": int(match["mem"]), "maxMemoryUsedMB": int(match["used"])}
            if match["init"]:
                metrics["initDurationMs"] = float(match["init"])
            return {"time": stamp, "type": "platform.report",
                    "record": {"requestId": match["rid"], "metrics": metrics,
                               "status": match["status"] or "success"}}
    if message.startswith("[ERROR] "):
        head, _, trace = message.partition("\nTraceback (most recent call last):\n")
        error_type, _, error_message = head[len("[ERROR] "):].partition(": ")
        frames = [f"{line}\n" for line in _frames(trace)]
        return {"timestamp": stamp, "level": "ERROR", "message": error_message,
                "errorType": error_type, "errorMessage": error_message, "stackTrace": frames}
    match = _LOG_RECORD.match(message)
    if match:
        return {"timestamp": match["ts"], "level": match["level"],
                "message": match["msg"].rstrip("\n"), "requestId": match["rid"]}
    return None


def _frames(trace: str) -> Iterator[str]:
    """Traceback lines regrouped into ``File ..., line N, in f\\n    code`` elements."""
    lines = trace.splitlines()
    i = 0
    while i < len(lines):
        element = lines[i]
        if i + 1 < len(lines) and lines[i + 1].startswith("    "):
            element += "\n" + lines[i + 1]
            i += 1
        yield element
        i += 1
