"""The emulator as the judge's metrics source: per-invocation records, counted exactly.

The emulator keeps one record per invocation (``emulator/metrics.py``) and serves them at
``GET {endpoint}/_lambdashift/metrics/{function}/records?since=&until=&qualifier=``. From
them :class:`EmulatorMetrics` builds what :class:`~lambdashift.aws.metrics.CloudWatchMetrics`
builds from CloudWatch, but better: every duration is known, and cold starts (a record with
``init_duration_ms``) count as invocations but stay out of the latency histogram, as
``VersionStats.from_invocations`` does. Throttled records count as throttles, never as
invocations or durations.

The emulator keeps the newest 200,000 records per function; an analysis longer than that
at high rates sees its oldest records vanish, and the judge then refuses counts that went
down (the analyzer waits and says so).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from lambdashift.core.judge import Invocation, VersionStats
from lambdashift.errors import AwsError, NotFoundError

__all__ = ["LOOKS", "LOOK_SECONDS", "EmulatorMetrics"]

_REUSE_SECONDS = 0.25
LOOK_SECONDS = 1.0
"""The judge's default look interval on the local stack (every record is there at once)."""
LOOKS = "every 1 s (the emulator's per-invocation records are exact and immediate)"


class EmulatorMetrics:
    """Per-version metrics from a running emulator at ``endpoint`` (``http://127.0.0.1:port``)."""

    def __init__(self, endpoint: str, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(timeout=timeout)
        self._last: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None

    def version_stats(self, function: str, alias: str, version: str, since: float,
                      until: float) -> VersionStats:
        """Counts and warm latency of ``version`` through ``alias`` in [since, until)."""
        records = [r for r in self._records(function, alias, since, until)
                   if r["executed_version"] == version]
        ran = [Invocation(float(r["duration_ms"]), r.get("init_duration_ms"), bool(r["error"]))
               for r in records if not r["throttled"]]
        throttles = sum(1 for r in records if r["throttled"])
        return VersionStats.from_invocations(ran, throttles=throttles, version=version)

    looks = LOOKS
    """The default look interval, in words (for ``status`` and ``history``)."""

    def next_look(self, now: float) -> float:
        """When to look again: records are exact and immediate, so every second."""
        return now + LOOK_SECONDS

    def invocations(self, function: str, alias: str, version: str, since: float,
                    until: float) -> int:
        """How many invocations of ``version`` ran through ``alias`` in [since, until)."""
        return sum(1 for r in self._records(function, alias, since, until)
                   if r["executed_version"] == version and not r["throttled"])

    def peak_concurrency(self, function: str, alias: str, since: float, until: float) -> int:
        """The most invocations through ``alias`` (any version) that ran at once in the window."""
        from lambdashift.rollout.prewarm import peak_concurrency

        return peak_concurrency(self._records(function, alias, since, until))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _records(self, function: str, alias: str, since: float,
                 until: float) -> list[dict[str, Any]]:
        # The analyzer asks for the candidate, then the stable, over the same window: one
        # request serves both (if asked again within a second).
        key = (function, alias, since, until)
        if self._last is not None and self._last[0][:4] == key \
                and time.monotonic() - self._last[0][4] < _REUSE_SECONDS:
            return self._last[1]
        url = f"{self.endpoint}/_lambdashift/metrics/{function}/records"
        params = {"since": repr(float(since)), "until": repr(float(until)), "qualifier": alias}
        try:
            response = self._http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise AwsError(f"emulator metrics at {self.endpoint}: {exc}",
                           operation="GetMetrics") from exc
        if response.status_code != 200:
            raise _error(response, function)
        records = list(response.json().get("Records", ()))
        self._last = ((*key, time.monotonic()), records)
        return records


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
