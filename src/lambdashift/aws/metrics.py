"""CloudWatch as the judge's metrics source, and CloudWatch alarms.

:class:`CloudWatchMetrics` reads Lambda's ``AWS/Lambda`` metrics of one version behind an
alias: the dimensions ``FunctionName``, ``Resource`` (``function:alias``) and
``ExecutedVersion``, which Lambda sets when a weighted alias runs an invocation.

What CloudWatch can give the judge, and what it cannot:

* **Counts** are exact: ``Invocations``, ``Errors`` and ``Throttles`` summed over every
  period of the window. ``Throttles`` count only where Lambda publishes them with the
  ``ExecutedVersion`` dimension (a throttled request runs no version); where it does not,
  they read 0 and throttling is seen only by alias-wide alarms.
* **Latency** as a histogram of counts, not as percentiles. The judge needs the number of
  requests slower than a threshold, added up over the whole window. Percentiles (``p99``)
  of one-minute periods cannot be added up or merged, and a histogram made up from a few
  of them (half the samples below p50, 9% between p90 and p99, ...) holds guessed counts,
  not observed ones, which would void the judge's error bound. The *percentile rank*
  ``PR(:b)`` (the percentage of samples ≤ ``b``) times the period's ``SampleCount`` is an
  observed count, and counts add up. So each bucket bound ``b`` is one ``PR(:b)`` query;
  buckets are ``(previous bound, b]``, as CloudWatch's PR and the judge's histogram both
  have them. The cost: one metric per bound and version on the bill (60 queries per
  version and look with the default grid), and buckets coarser than the judge's own. The
  default grid (:data:`CLOUDWATCH_BOUNDS_MS`: every fifth judge bound, 56 bounds from
  1.1 ms to 13 min, 28% apart) puts the latency threshold up to 28% above the stable's
  true p99, so fewer requests count as slow and the latency test needs more of them; the
  p50/p99 it reports are interpolated inside 28%-wide buckets. For 5% buckets pass
  ``bounds_ms=judge.DEFAULT_BOUNDS_MS[45:329]`` (about 290 queries per version and look).
* **Cold starts cannot be told apart.** Lambda's ``Duration`` leaves out the Init Duration,
  but the handler run of a cold invocation is often slower too (lazy imports, first
  connections), and CloudWatch does not say which samples were cold. A new candidate has
  more cold starts than the warm stable, which biases the latency comparison against it
  when traffic is low. ``VersionStats.cold_starts`` is 0 here. The REPORT lines in
  CloudWatch Logs carry per-invocation durations with their Init Duration, for a future
  source that needs exactness.
* Metrics arrive a minute or more late, so the newest period is usually incomplete, for
  both versions alike. The window is widened to whole periods: it starts at the period
  holding ``since``, so it may take in up to one period of traffic from before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.core.judge import DEFAULT_BOUNDS_MS, LatencyHistogram, VersionStats
from lambdashift.errors import AwsError, NotFoundError, ThrottledError

__all__ = ["CLOUDWATCH_BOUNDS_MS", "CloudWatchAlarms", "CloudWatchMetrics"]

NAMESPACE = "AWS/Lambda"
#: Bucket bounds asked of CloudWatch: every fifth judge bound, 1.1 ms to 13 min (56 bounds).
CLOUDWATCH_BOUNDS_MS: tuple[float, ...] = DEFAULT_BOUNDS_MS[50:329:5]
#: GetMetricData's limits: queries per request, data points per request.
MAX_QUERIES = 500
MAX_DATAPOINTS = 100_800
#: Lambda sends its metrics in 1-minute intervals and they can be read about a minute
#: after the period ends; a look sooner would see the same (incomplete) newest period.
PUBLICATION_DELAY_S = 60.0
_COUNTS = (("inv", "Invocations"), ("err", "Errors"), ("thr", "Throttles"))
_THROTTLING = {"Throttling", "ThrottlingException", "TooManyRequestsException",
               "RequestLimitExceeded", "LimitExceededException"}


def _translate(exc: Exception, operation: str) -> AwsError:
    """A botocore error as the most specific lambdashift error."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        cls = ThrottledError if code in _THROTTLING else AwsError
        return cls(f"CloudWatch {operation}: {code}: {message}", code=code, operation=operation)
    return AwsError(f"CloudWatch {operation}: {exc}", operation=operation)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


class CloudWatchMetrics:
    """Per-version Lambda metrics from CloudWatch's GetMetricData.

    ``client`` is a boto3 CloudWatch client; ``period`` the period in seconds (a multiple of
    60); ``bounds_ms`` the latency bucket bounds (one ``PR`` query each); ``latency=False``
    reads counts only (the judge then compares error rates alone); ``publication_delay``
    how long after a period ends its data points are read (:meth:`next_look`).
    """

    def __init__(self, client: Any, *, period: int = 60,
                 bounds_ms: Sequence[float] = CLOUDWATCH_BOUNDS_MS, latency: bool = True,
                 publication_delay: float = PUBLICATION_DELAY_S) -> None:
        if period < 60 or period % 60:
            raise ValueError(f"period must be a multiple of 60 seconds, got {period!r}")
        bounds = tuple(float(b) for b in bounds_ms)
        if latency and (not bounds or len(bounds) + 5 > MAX_QUERIES):
            raise ValueError(f"need 1 to {MAX_QUERIES - 5} latency bounds, got {len(bounds)}")
        self.client = client
        self.period = period
        self.bounds_ms = bounds
        self.latency = latency
        self.publication_delay = float(publication_delay)

    @property
    def recent(self) -> tuple[float, float]:
        """How far back ``deploy --dry-run`` reads the alias's recent traffic, and how late:
        ten minutes of periods, up to the last one published (``rollout.forecasting``)."""
        return 600.0, float(self.period) + self.publication_delay

    @property
    def looks(self) -> str:
        """The default look interval, in words (for ``status`` and ``history``)."""
        return (f"every {self.period // 60} min, {self.publication_delay:g} s after each "
                "CloudWatch period ends (when its data points are published)")

    def next_look(self, now: float) -> float:
        """The first moment after ``now`` at which a new period's data can be read: a
        period boundary plus the publication delay. Looking between two such moments would
        read the same data points again."""
        ready = math.floor((now - self.publication_delay) / self.period) * self.period
        return ready + self.period + self.publication_delay

    def ready_at(self, t: float) -> float:
        """When every data point up to ``t`` can be read: the end of the period holding
        ``t`` plus the publication delay (the bake waits for it before it ends)."""
        return math.ceil(t / self.period) * self.period + self.publication_delay

    # -- the two questions ---------------------------------------------------------------

    def version_stats(self, function: str, alias: str, version: str, since: float,
                      until: float) -> VersionStats:
        """Cumulative counts and warm-latency histogram of ``version`` behind ``alias``."""
        queries = [self._query(qid, metric, "Sum", function, alias, version)
                   for qid, metric in _COUNTS]
        if self.latency:
            queries.append(self._query("n", "Duration", "SampleCount", function, alias, version))
            queries += [self._query(f"pr{i}", "Duration", f"PR(:{_bound(b)})", function, alias,
                                    version) for i, b in enumerate(self.bounds_ms)]
        series = self._fetch(queries, since, until)
        invocations = _total(series.get("inv"))
        errors = min(_total(series.get("err")), invocations)  # Errors may lead Invocations
        latency = self._histogram(series) if self.latency else None
        return VersionStats(invocations, errors, _total(series.get("thr")), latency,
                            version=version)

    def invocations(self, function: str, alias: str, version: str, since: float,
                    until: float) -> int:
        """How many invocations of ``version`` came through ``alias`` in the window."""
        query = self._query("inv", "Invocations", "Sum", function, alias, version)
        return _total(self._fetch([query], since, until).get("inv"))

    # -- GetMetricData -------------------------------------------------------------------

    def _query(self, qid: str, metric: str, stat: str, function: str, alias: str,
               version: str) -> dict[str, Any]:
        dimensions = [
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:{alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ]
        return {"Id": qid, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
            "Period": self.period, "Stat": stat}}

    def _window(self, since: float, until: float, queries: int) -> tuple[int, int, int]:
        """Start, end and period: whole periods, few enough points for one request's limit."""
        period = self.period
        while queries * math.ceil((until - since) / period + 1) > MAX_DATAPOINTS:
            period *= 2
        start = int(since // period * period)
        end = max(int(math.ceil(until / period) * period), start + period)
        return start, end, period

    def _fetch(self, queries: list[dict[str, Any]], since: float,
               until: float) -> dict[str, list[tuple[datetime, float]]]:
        """Every query's (timestamp, value) pairs over the window, all pages read."""
        start, end, period = self._window(since, until, len(queries))
        for q in queries:
            q["MetricStat"]["Period"] = period
        out: dict[str, list[tuple[datetime, float]]] = {}
        try:
            pages = self.client.get_paginator("get_metric_data").paginate(
                MetricDataQueries=queries, StartTime=_utc(start), EndTime=_utc(end),
                ScanBy="TimestampAscending")
            for page in pages:
                for result in page.get("MetricDataResults", ()):
                    if result.get("StatusCode") == "InternalError":
                        raise AwsError(f"CloudWatch GetMetricData: {result['Id']}: internal error",
                                       code="InternalError", operation="GetMetricData")
                    out.setdefault(result["Id"], []).extend(
                        zip(result.get("Timestamps", ()), result.get("Values", ())))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "GetMetricData") from exc
        return out

    def _histogram(self, series: dict[str, list[tuple[datetime, float]]]) -> LatencyHistogram:
        """Add up, period by period, the samples at or below each bound into bucket counts."""
        samples = dict(series.get("n", ()))
        ranks = [dict(series.get(f"pr{i}", ())) for i in range(len(self.bounds_ms))]
        counts = [0] * (len(self.bounds_ms) + 1)
        for at, n in samples.items():
            total = int(round(n))
            if total and all(at not in by_time for by_time in ranks):
                raise AwsError(f"CloudWatch gave Duration samples but no percentile ranks at {at}",
                               code="NoPercentileRanks", operation="GetMetricData")
            below = 0  # samples at or below the previous bound in this period
            for i, by_time in enumerate(ranks):
                pct = by_time.get(at)
                at_or_below = below if pct is None else min(total, int(round(pct * total / 100)))
                at_or_below = max(at_or_below, below)
                counts[i] += at_or_below - below
                below = at_or_below
            counts[-1] += total - below
        return LatencyHistogram(self.bounds_ms, tuple(counts))


def _bound(value: float) -> str:
    """A bound as CloudWatch's statistic syntax takes it (at most 10 decimals, no exponent)."""
    return f"{value:.10f}".rstrip("0").rstrip(".")


def _total(points: Iterable[tuple[datetime, float]] | None) -> int:
    return int(round(sum(v for _, v in points or ())))


class CloudWatchAlarms:
    """Which of some CloudWatch alarms (metric or composite) are in ALARM."""

    #: DescribeAlarms takes at most this many names per request.
    BATCH = 100

    def __init__(self, client: Any) -> None:
        self.client = client

    def firing(self, names: Sequence[str]) -> list[str]:
        """The names among ``names`` whose state is ALARM, in the order given.

        Raises NotFoundError naming every alarm that does not exist: a misspelt alarm
        must not pass as a quiet one.
        """
        wanted = list(dict.fromkeys(names))
        states: dict[str, str] = {}
        try:
            paginator = self.client.get_paginator("describe_alarms")
            for i in range(0, len(wanted), self.BATCH):
                for page in paginator.paginate(AlarmNames=wanted[i:i + self.BATCH],
                                               AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
                    for alarm in (*page.get("MetricAlarms", ()), *page.get("CompositeAlarms", ())):
                        states[alarm["AlarmName"]] = alarm.get("StateValue", "")
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "DescribeAlarms") from exc
        missing = [n for n in wanted if n not in states]
        if missing:
            raise NotFoundError(
                f"CloudWatch alarm{'s' if len(missing) > 1 else ''} not found: "
                f"{', '.join(missing)} (check the names under `alarms:` and the region)",
                code="ResourceNotFound", operation="DescribeAlarms")
        return [n for n in wanted if states[n] == "ALARM"]
