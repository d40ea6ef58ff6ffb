"""Lambda's logs as the judge's metrics source: per-version counts within seconds.

Every invocation leaves a ``REPORT`` line (``platform.report`` in the JSON log format) in a
stream whose name carries the version, and an unhandled exception leaves the runtime's
``[ERROR]`` record before it. CloudWatch Logs delivers them seconds after the invocation,
where CloudWatch metrics come in 1-minute periods a minute or more late. :class:`LogsMetrics`
reads them with FilterLogEvents (one request per function and look for both versions, more
only past 10,000 events a page) and counts, per version:

* **invocations**: REPORT lines; **errors**: invocations whose REPORT says ``Status:
  timeout`` / ``error`` or that an ``[ERROR]`` record preceded in their stream (the text
  format's error record carries no request id; the stream runs one invocation at a time);
* **warm durations**: REPORT's Duration of the invocations without an Init Duration (cold
  starts count as invocations, not as latency, as ``VersionStats.from_invocations`` does).

What logs cannot tell: the **alias** (a REPORT line names the version only, so an invocation
of the version by number counts too); **throttles** (a throttled request runs nothing and
logs nothing: ``throttles`` is 0, as it is in CloudWatch without the ExecutedVersion
dimension). Each look re-reads the last ``overlap_s`` seconds (events are deduplicated by
id) so that events delivered late are still counted; events later than that are missed.
Events are kept for the process's lifetime from the earliest ``since`` asked.

The filter pattern only trims the download: every event is classified here, and each
stream's events are taken in the order returned, so a server whose pattern matching is
looser (moto matches every event for ``?term`` patterns) or that groups events by stream
instead of interleaving them by time (moto without ``interleaved``) gives the same counts.

:class:`EitherMetrics` (``metrics: both``) asks both sources and, per version, believes the
one that has seen more invocations: logs lead while they flow, CloudWatch fills in if they
stop (a log group deleted, a subscription or a logging config sending them elsewhere).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lambdashift.aws.logs import JUDGE_PATTERN, LambdaLogs, Report, classify, stream_version
from lambdashift.core.judge import Invocation, VersionStats

__all__ = ["EitherMetrics", "LogsMetrics"]

LOGS_LOOK_S = 5.0
LOGS_DELIVERY_S = 10.0  # CloudWatch Logs delivers an invocation's events within seconds
BOTH_LOOK_S = 60.0


@dataclass
class _Seen:
    """What one function's log group has told us so far."""

    since_ms: int
    until_ms: int = 0
    fetched_at: float = -1e18
    ids: dict[str, int] = field(default_factory=dict)  # event id -> timestamp (for dedupe)
    failing: dict[str, bool] = field(default_factory=dict)  # stream -> an error since REPORT
    # (REPORT timestamp ms, version, duration, init duration, error), in arrival order
    records: list[tuple[int, str, float, float | None, bool]] = field(default_factory=list)


class LogsMetrics:
    """Per-version metrics from ``/aws/lambda/<function>`` through boto3's logs client."""

    def __init__(self, client: Any, *, limiter: Any = None, overlap_s: float = 60.0,
                 refresh_s: float = 1.0) -> None:
        """``limiter``: taken before every request (FilterLogEvents' quota is per account and
        region, shared by every function analysed at once); ``overlap_s``: how far back each
        look re-reads; ``refresh_s``: looks closer together than this reuse the last read
        (the analyzer asks for the candidate, then the stable)."""
        self.logs = LambdaLogs(client, limiter=limiter)
        self.overlap_ms = int(overlap_s * 1000)
        self.refresh_s = refresh_s
        self._seen: dict[str, _Seen] = {}

    @property
    def requests(self) -> int:
        """CloudWatch Logs requests made so far (what the quota counts)."""
        return self.logs.requests

    looks = f"every {LOGS_LOOK_S:g} s (log events arrive seconds after each invocation)"
    """The judge's default look interval with this source, in words."""

    def next_look(self, now: float) -> float:
        """When to look again: logs arrive within seconds, FilterLogEvents has a quota."""
        return now + LOGS_LOOK_S

    def ready_at(self, t: float) -> float:
        """When the log events of invocations up to ``t`` have (nearly always) arrived."""
        return t + LOGS_DELIVERY_S

    def version_stats(self, function: str, alias: str, version: str, since: float,
                      until: float) -> VersionStats:
        """Invocations, errors and warm durations of ``version`` in [since, until)."""
        ran = [Invocation(duration, init, error)
               for ts, v, duration, init, error in self._records(function, since, until)
               if v == version]
        return VersionStats.from_invocations(ran, version=version)

    def invocations(self, function: str, alias: str, version: str, since: float,
                    until: float) -> int:
        """How many REPORT lines ``version`` left in [since, until)."""
        return sum(1 for r in self._records(function, since, until) if r[1] == version)

    def _records(self, function: str, since: float, until: float
                 ) -> list[tuple[int, str, float, float | None, bool]]:
        since_ms, until_ms = int(since * 1000), int(until * 1000)
        seen = self._seen.get(function)
        if seen is None or since_ms < seen.since_ms:
            seen = self._seen[function] = _Seen(since_ms)
        fresh = time.monotonic() - seen.fetched_at < self.refresh_s
        if not (fresh and until_ms <= seen.until_ms + int(self.refresh_s * 1000)):
            self._read(function, seen, until_ms)
        return [r for r in seen.records if since_ms <= r[0] < until_ms]

    def _read(self, function: str, seen: _Seen, until_ms: int) -> None:
        start = max(seen.since_ms, seen.until_ms - self.overlap_ms)
        # endTime is inclusive; the window is half-open: stop one ms short.
        events = self.logs.events(function, start, max(start, until_ms - 1),
                                  pattern=JUDGE_PATTERN)
        for event in events:
            event_id = str(event.get("eventId") or
                           f"{event.get('logStreamName')}@{event.get('timestamp')}@"
                           f"{event.get('message')}")
            if event_id in seen.ids:
                continue
            timestamp = int(event.get("timestamp", 0))
            seen.ids[event_id] = timestamp
            stream = event.get("logStreamName", "")
            kind = classify(event.get("message", ""))
            if kind == "error":
                seen.failing[stream] = True
            elif isinstance(kind, Report):
                version = stream_version(stream)
                if version is not None:
                    error = seen.failing.pop(stream, False) or kind.failed
                    seen.records.append((timestamp, version, kind.duration_ms,
                                         kind.init_duration_ms, error))
        seen.until_ms = max(seen.until_ms, until_ms)
        seen.fetched_at = time.monotonic()
        # Ids older than what the next look re-reads can never come back: forget them.
        horizon = seen.until_ms - self.overlap_ms - 1000
        if len(seen.ids) > 50_000:
            seen.ids = {k: ts for k, ts in seen.ids.items() if ts >= horizon}


class EitherMetrics:
    """Two sources of the same counts; per version, the one that has seen more invocations."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first = first
        self.second = second

    looks = (f"every {BOTH_LOOK_S:g} s (logs and CloudWatch metrics are both read at each look; "
             "a step's interval can make it faster)")
    """The judge's default look interval with both sources, in words."""

    def next_look(self, now: float) -> float:
        """Once a minute: every look reads CloudWatch too, whose data points are per minute."""
        return now + BOTH_LOOK_S

    def ready_at(self, t: float) -> float:
        """When both sources have every request up to ``t``."""
        return max(getattr(src, "ready_at", lambda x: x)(t) for src in (self.first, self.second))

    def version_stats(self, function: str, alias: str, version: str, since: float,
                      until: float) -> VersionStats:
        """The fuller of the two sources' stats for ``version``."""
        a = self.first.version_stats(function, alias, version, since, until)
        b = self.second.version_stats(function, alias, version, since, until)
        return a if a.invocations >= b.invocations else b

    def invocations(self, function: str, alias: str, version: str, since: float,
                    until: float) -> int:
        """The larger of the two counts."""
        return max(self.first.invocations(function, alias, version, since, until),
                   self.second.invocations(function, alias, version, since, until))
