"""The emulator as the judge's metrics source: per-invocation records, counted exactly.

The emulator keeps one record per invocation (``emulator/awslambda/invocation_records.py``)
and serves them at
``GET {endpoint}/_lambdashift/metrics/{function}/records?since=&until=&qualifier=``. From
them :class:`EmulatorMetrics` builds what :class:`~lambdashift.aws.metrics.CloudWatchMetrics`
builds from CloudWatch, but better: every duration is known, and cold starts (a record with
``init_duration_ms``) count as invocations but stay out of the latency histogram, as
``VersionStats.from_invocations`` does. Throttled records count as throttles, never as
invocations or durations.

The emulator keeps the newest 200,000 records per function; the source keeps running
totals, so an analysis longer than that keeps counting (a new source, after a restart,
reads what is left).
"""

from __future__ import annotations

import bisect
import time
from typing import Any

import httpx

from lambdashift.core.judge import DEFAULT_BOUNDS_MS, LatencyHistogram, VersionStats
from lambdashift.core.observations import peak_concurrency
from lambdashift.errors import AwsError, NotFoundError

__all__ = ["LOOKS", "LOOK_SECONDS", "EmulatorMetrics"]

_WINDOWS = 16  # windows kept (one per analysis step being judged, a few to spare)
LOOK_SECONDS = 0.2
"""The judge's default look interval on the local stack: records are there at once, and a
look reads only the new ones."""
LOOKS = ("every 0.2 s, on each batch of new records (the emulator's per-invocation records "
         "are exact and immediate)")


class EmulatorMetrics:
    """Per-version metrics from a running emulator at ``endpoint`` (``http://127.0.0.1:port``).

    A look reads only the records that arrived since the last look of the same window
    (function, alias, start) and adds them to running totals, so looking every fraction of
    a second costs what the new records cost. Exact: the emulator stamps a record when it
    stores it, on the same event loop that answers the query, so a record stamped before a
    query's ``until`` is already there when the query is answered.
    """

    looks = LOOKS
    """The default look interval, in words (for ``status`` and ``history``)."""
    recent = (10.0, 0.0)
    """The alias's "recent traffic" is its last 10 s, read at once: the records are exact and
    immediate (``rollout.forecasting``: what a step can catch at the traffic it sees)."""

    def __init__(self, endpoint: str, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(timeout=timeout)
        self._windows: dict[tuple[str, str, float], _Window] = {}

    def version_stats(self, function: str, alias: str, version: str, since: float,
                      until: float) -> VersionStats:
        """Counts and warm latency of ``version`` through ``alias`` in [since, until)."""
        return self._window(function, alias, since, until).stats(version)

    def next_look(self, now: float) -> float:
        """When to look again: records are exact and immediate, so a few times a second."""
        return now + LOOK_SECONDS

    def invocations(self, function: str, alias: str, version: str, since: float,
                    until: float) -> int:
        """How many invocations of ``version`` ran through ``alias`` in [since, until)."""
        return self._window(function, alias, since, until).stats(version).invocations

    def peak_concurrency(self, function: str, alias: str, since: float, until: float) -> int:
        """The most invocations through ``alias`` (any version) that ran at once in the window."""
        return peak_concurrency(self._records(function, alias, since, until))

    def concurrency_limit(self, function: str) -> int | None:
        """The most invocations of ``function`` the emulator runs at once (its reserved
        concurrency, else the emulator's per-function limit), once it has run the function;
        None before that or when the emulator cannot say."""
        try:
            response = self._http.get(f"{self.endpoint}/_lambdashift/runtime")
            limits = response.json().get("limits", {}) if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return None
        value = limits.get(function)
        return int(value) if isinstance(value, int) else None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _window(self, function: str, alias: str, since: float, until: float) -> _Window:
        key = (function, alias, float(since))
        window = self._windows.get(key)
        if window is None or min(until, time.time()) < window.until:  # new, or asked backwards
            window = _Window(float(since))
            self._windows.pop(key, None)
            while len(self._windows) >= _WINDOWS:
                self._windows.pop(next(iter(self._windows)))
            self._windows[key] = window
        # Never past the present: a record of [now, until) may still arrive, and a window
        # that had moved past it would never read it.
        upto = min(float(until), time.time())
        if upto > window.until:
            window.add(self._records(function, alias, window.until, upto))
            window.until = upto
        return window

    def _records(self, function: str, alias: str, since: float,
                 until: float) -> list[dict[str, Any]]:
        url = f"{self.endpoint}/_lambdashift/metrics/{function}/records"
        params = {"since": repr(float(since)), "until": repr(float(until)), "qualifier": alias}
        try:
            response = self._http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise AwsError(f"emulator metrics at {self.endpoint}: {exc}",
                           operation="GetMetrics") from exc
        if response.status_code != 200:
            raise _error(response, function)
        return list(response.json().get("Records", ()))


class _Window:
    """Running totals per executed version of the records in [start, until)."""

    def __init__(self, start: float) -> None:
        self.until = start
        self._totals: dict[str, list[int]] = {}  # version → [ran, errors, throttles, cold]
        self._buckets: dict[str, list[int]] = {}  # version → warm-duration bucket counts

    def add(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            version = r["executed_version"]
            totals = self._totals.setdefault(version, [0, 0, 0, 0])
            if r["throttled"]:  # a throttle is neither an invocation nor a duration
                totals[2] += 1
                continue
            totals[0] += 1
            totals[1] += bool(r["error"])
            if r.get("init_duration_ms") is not None:  # cold: counted, but not as latency
                totals[3] += 1
                continue
            buckets = self._buckets.setdefault(version, [0] * (len(DEFAULT_BOUNDS_MS) + 1))
            buckets[bisect.bisect_left(DEFAULT_BOUNDS_MS, float(r["duration_ms"]))] += 1

    def stats(self, version: str) -> VersionStats:
        ran, errors, throttles, cold = self._totals.get(version, (0, 0, 0, 0))
        buckets = self._buckets.get(version, [0] * (len(DEFAULT_BOUNDS_MS) + 1))
        latency = LatencyHistogram(DEFAULT_BOUNDS_MS, tuple(buckets))
        return VersionStats(ran, errors, throttles, latency, cold, version)


def _error(response: httpx.Response, function: str) -> AwsError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = str(body.get("Type") or body.get("__type") or response.status_code)
    message = body.get("Message") or body.get("message") or response.text[:200]
    cls = NotFoundError if response.status_code == 404 else AwsError
    return cls(f"emulator metrics of {function}: {code}: {message}", code=code,
               operation="GetMetrics")
