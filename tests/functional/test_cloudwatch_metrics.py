"""CloudWatch metrics and alarms: moto for sums and alarms, botocore's Stubber for percentile ranks.

moto computes Sum and SampleCount from PutMetricData but not extended statistics such as
``PR(:b)``, and it does not paginate; the Stubber checks the exact requests and feeds the
responses AWS would give.
"""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from lambdashift.aws.metrics import CloudWatchAlarms, CloudWatchMetrics
from lambdashift.errors import AwsError, NotFoundError, ThrottledError

T0 = 1_700_000_040.0  # a whole minute
FN = "notes-get"


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def dims(version: str, alias: str = "live") -> list[dict[str, str]]:
    return [{"Name": "FunctionName", "Value": FN}, {"Name": "Resource", "Value": f"{FN}:{alias}"},
            {"Name": "ExecutedVersion", "Value": version}]


@pytest.fixture
def cloudwatch():
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test")


def put(cw, at: float, version: str, *, alias: str = "live", **counts: float) -> None:
    cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": name, "Dimensions": dims(version, alias), "Timestamp": utc(at),
         "Value": value, "Unit": "Count"} for name, value in counts.items()])


# --- sums through moto ------------------------------------------------------------------------


def test_counts_are_summed_per_executed_version_behind_the_alias(cloudwatch):
    for minute in range(3):
        at = T0 + 60 * minute + 10
        put(cloudwatch, at, "2", Invocations=10, Errors=2, Throttles=1)
        put(cloudwatch, at, "1", Invocations=90, Errors=1)
    put(cloudwatch, T0 + 20, "2", alias="dev", Invocations=500, Errors=500)  # another alias
    source = CloudWatchMetrics(cloudwatch, latency=False)
    candidate = source.version_stats(FN, "live", "2", T0, T0 + 180)
    stable = source.version_stats(FN, "live", "1", T0, T0 + 180)
    assert (candidate.invocations, candidate.errors, candidate.throttles) == (30, 6, 3)
    assert (stable.invocations, stable.errors, stable.throttles) == (270, 3, 0)
    assert candidate.latency is None and candidate.version == "2" and candidate.cold_starts == 0


def test_invocations_counts_only_the_window(cloudwatch):
    put(cloudwatch, T0 - 120, "2", Invocations=1000)  # before the window's first period
    put(cloudwatch, T0 + 30, "2", Invocations=7)
    put(cloudwatch, T0 + 90, "2", Invocations=5)
    put(cloudwatch, T0 + 400, "2", Invocations=1000)  # after it
    source = CloudWatchMetrics(cloudwatch, latency=False)
    assert source.invocations(FN, "live", "2", T0 + 15, T0 + 100) == 12
    assert source.invocations(FN, "live", "1", T0, T0 + 100) == 0


# --- percentile ranks through the Stubber -----------------------------------------------------


def stubbed(**kwargs) -> tuple[CloudWatchMetrics, Stubber]:
    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    return CloudWatchMetrics(client, **kwargs), Stubber(client)


def result(qid: str, *points: tuple[float, float]) -> dict:
    return {"Id": qid, "Label": qid, "StatusCode": "Complete",
            "Timestamps": [utc(t) for t, _ in points], "Values": [v for _, v in points]}


def test_histogram_is_built_from_percentile_ranks_period_by_period():
    source, stub = stubbed(bounds_ms=(10.0, 20.0, 50.0))
    p1, p2 = T0, T0 + 60
    stub.add_response("get_metric_data", {"MetricDataResults": [
        result("inv", (p1, 40), (p2, 60)),
        result("err", (p1, 1), (p2, 2)),
        result("thr", (p2, 3)),
        result("n", (p1, 40), (p2, 60)),
        result("pr0", (p1, 25.0), (p2, 50.0)),    # ≤ 10 ms: 10 and 30
        result("pr1", (p1, 75.0), (p2, 90.0)),    # ≤ 20 ms: 30 and 54
        result("pr2", (p1, 100.0), (p2, 95.0)),   # ≤ 50 ms: 40 and 57
    ]}, {"MetricDataQueries": ANY, "StartTime": utc(T0), "EndTime": utc(T0 + 120),
         "ScanBy": "TimestampAscending"})
    with stub:
        stats = source.version_stats(FN, "live", "2", T0 + 5, T0 + 100)
    stub.assert_no_pending_responses()
    assert (stats.invocations, stats.errors, stats.throttles) == (100, 3, 3)
    assert stats.latency.bounds_ms == (10.0, 20.0, 50.0)
    assert stats.latency.counts == (40, 44, 13, 3)
    assert stats.latency.count_above(20.0) == 16


def test_queries_name_the_three_dimensions_and_one_pr_per_bound():
    source, stub = stubbed(bounds_ms=(1.5, 250.0), period=300)
    captured = {}

    def capture(queries):
        captured["queries"] = queries
        return True

    class Matcher:
        def __eq__(self, other):
            return capture(other)

    stub.add_response("get_metric_data", {"MetricDataResults": []},
                      {"MetricDataQueries": Matcher(), "StartTime": utc(T0 - 240),
                       "EndTime": utc(T0 + 360), "ScanBy": "TimestampAscending"})
    with stub:
        stats = source.version_stats(FN, "live", "7", T0, T0 + 100)
    assert stats.invocations == 0 and stats.latency.total == 0
    stats_by_id = {q["Id"]: q["MetricStat"]["Stat"] for q in captured["queries"]}
    assert stats_by_id == {"inv": "Sum", "err": "Sum", "thr": "Sum", "n": "SampleCount",
                           "pr0": "PR(:1.5)", "pr1": "PR(:250)"}
    metric = captured["queries"][4]["MetricStat"]
    assert metric["Metric"] == {"Namespace": "AWS/Lambda", "MetricName": "Duration",
                                "Dimensions": dims("7")}
    assert metric["Period"] == 300


def test_pages_of_one_query_are_joined():
    source, stub = stubbed(latency=False)
    stub.add_response("get_metric_data", {"NextToken": "page2", "MetricDataResults": [
        result("inv", (T0, 5)), result("err", (T0, 1))]})
    stub.add_response("get_metric_data", {"MetricDataResults": [
        result("inv", (T0 + 60, 7)), result("thr", (T0 + 60, 2))]},
        {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY,
         "ScanBy": "TimestampAscending", "NextToken": "page2"})
    with stub:
        stats = source.version_stats(FN, "live", "2", T0, T0 + 120)
    assert (stats.invocations, stats.errors, stats.throttles) == (12, 1, 2)


def test_duration_samples_without_percentile_ranks_are_an_error_not_slow_requests():
    source, stub = stubbed(bounds_ms=(10.0,))
    stub.add_response("get_metric_data", {"MetricDataResults": [
        result("inv", (T0, 5)), result("n", (T0, 5)), result("pr0")]})
    with stub, pytest.raises(AwsError, match="no percentile ranks"):
        source.version_stats(FN, "live", "2", T0, T0 + 60)


def test_errors_are_translated_throttling_to_throttled_error():
    source, stub = stubbed()
    stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)
    stub.add_client_error("get_metric_data", "InvalidParameterValue", "bad stat", 400)
    with stub:
        with pytest.raises(ThrottledError, match="Rate exceeded"):
            source.invocations(FN, "live", "2", T0, T0 + 60)
        with pytest.raises(AwsError, match="InvalidParameterValue: bad stat") as exc:
            source.invocations(FN, "live", "2", T0, T0 + 60)
    assert exc.value.code == "InvalidParameterValue"


def test_a_long_window_gets_a_longer_period_to_stay_within_one_request():
    source = CloudWatchMetrics(object())
    start, end, period = source._window(T0, T0 + 3 * 86400, 60)
    assert period == 240 and 60 * ((end - start) / period + 1) <= 100_800
    assert source._window(T0 + 1, T0 + 61, 60) == (T0, T0 + 120, 60)


# --- alarms -------------------------------------------------------------------------------


def alarm(cw, name: str, state: str) -> None:
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=dims("2"), Statistic="Sum", Period=60, EvaluationPeriods=1,
                        Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def test_firing_lists_the_alarms_in_alarm_in_the_order_asked(cloudwatch):
    alarm(cloudwatch, "v2-errors", "ALARM")
    alarm(cloudwatch, "v2-latency", "OK")
    alarm(cloudwatch, "v2-throttles", "ALARM")
    alarm(cloudwatch, "v2-quiet", "INSUFFICIENT_DATA")
    alarms = CloudWatchAlarms(cloudwatch)
    names = ["v2-throttles", "v2-latency", "v2-errors", "v2-quiet"]
    assert alarms.firing(names) == ["v2-throttles", "v2-errors"]
    assert alarms.firing(["v2-latency"]) == []


def test_alarm_names_that_do_not_exist_are_named_in_the_error(cloudwatch):
    alarm(cloudwatch, "v2-errors", "OK")
    with pytest.raises(NotFoundError, match="alarms not found: v2-eror, v2-latncy") as exc:
        CloudWatchAlarms(cloudwatch).firing(["v2-eror", "v2-errors", "v2-latncy"])
    assert exc.value.code == "ResourceNotFound"


def test_alarms_are_read_over_pages_and_in_batches_of_a_hundred():
    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    names = [f"alarm-{i:03}" for i in range(150)]
    stub = Stubber(client)

    def alarms(chosen, state="OK"):
        firing = ("alarm-007", "alarm-120")
        return [{"AlarmName": n, "StateValue": "ALARM" if n in firing else state} for n in chosen]
    types = ["MetricAlarm", "CompositeAlarm"]
    stub.add_response("describe_alarms", {"MetricAlarms": alarms(names[:60]), "NextToken": "t"},
                      {"AlarmNames": names[:100], "AlarmTypes": types})
    stub.add_response("describe_alarms", {"MetricAlarms": alarms(names[60:99]),
                                          "CompositeAlarms": alarms(names[99:100])},
                      {"AlarmNames": names[:100], "AlarmTypes": types, "NextToken": "t"})
    stub.add_response("describe_alarms", {"MetricAlarms": alarms(names[100:])},
                      {"AlarmNames": names[100:], "AlarmTypes": types})
    with stub:
        assert CloudWatchAlarms(client).firing(names) == ["alarm-007", "alarm-120"]
    stub.assert_no_pending_responses()


# --- recent traffic for `deploy --dry-run` (issue 17 item 4) ------------------------------------


def test_recent_traffic_reads_the_last_ten_published_minutes(cloudwatch):
    """10 minutes of periods up to the last one published (a period + 60 s late): 600
    requests a minute through the alias is 10/s; the minutes not yet published are not read."""
    from lambdashift.rollout.forecasting import recent_traffic

    now = T0 + 1200.0
    source = CloudWatchMetrics(cloudwatch, latency=False)
    span, lag = source.recent
    assert (span, lag) == (600.0, 120.0)
    for minute in range(10):  # the ten minutes before now - lag, all published
        put(cloudwatch, now - lag - span + 60 * minute + 5, "1", Invocations=594, Errors=6)
        put(cloudwatch, now - lag - span + 60 * minute + 5, "2", Invocations=6)
    put(cloudwatch, now - 30, "1", Invocations=100_000)  # not yet published on AWS: not read
    rate, stable_errors = recent_traffic(source, FN, "live", ("1", "2"), now)
    assert rate == pytest.approx(10.0) and stable_errors == pytest.approx(6 / 594)
