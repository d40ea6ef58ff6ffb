"""The judge's logs source: per-version counts from REPORT lines and error records, read with
boto3 from the emulator's CloudWatch Logs and from moto's."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from lambdashift.aws.logs_metrics import EitherMetrics, LogsMetrics
from lambdashift.core.judge import VersionStats
from lambdashift.errors import NotFoundError
from tests.conftest import publish_release

FLAKY = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("broken")
    return {"ok": True}
"""


def _logs_client(endpoint=None):
    return boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}))


def test_counts_per_version_from_the_emulators_log_streams(client, emulator, make_function, fn_name):
    make_function({"index.py": FLAKY}, publish=True)
    publish_release(client, fn_name, "v2")
    since = time.time() - 1
    for qualifier, event in [("1", {})] * 4 + [("2", {"fail": True})] * 3 + [("2", {})]:
        client.invoke(FunctionName=fn_name, Qualifier=qualifier,
                      Payload=json.dumps(event).encode())["Payload"].read()
    source = LogsMetrics(_logs_client(emulator.endpoint))
    until = time.time() + 1
    one = source.version_stats(fn_name, "live", "1", since, until)
    two = source.version_stats(fn_name, "live", "2", since, until)
    assert (one.invocations, one.errors, one.cold_starts, one.warm) == (4, 0, 1, 3)
    assert (two.invocations, two.errors, two.cold_starts, two.warm) == (4, 3, 1, 3)
    assert source.invocations(fn_name, "live", "2", since, until) == 4
    assert source.requests == 1  # both versions, one FilterLogEvents page, reused


def test_a_missing_log_group_is_a_not_found_error(emulator):
    source = LogsMetrics(_logs_client(emulator.endpoint))
    with pytest.raises(NotFoundError):
        source.version_stats("never-invoked", "live", "1", time.time() - 60, time.time())


def _report(rid, duration, *, init=None, status=None):
    line = (f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\tBilled Duration: "
            f"{int(duration) + 1} ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t")
    if init is not None:
        line += f"Init Duration: {init:.2f} ms\t"
    if status:
        line += f"Status: {status}"
    return line + "\n"


@pytest.fixture
def moto_logs():
    with mock_aws():
        yield _logs_client()


def test_moto_error_records_timeouts_and_json_reports_are_counted_per_version(moto_logs):
    group, now = "/aws/lambda/shop", int(time.time() * 1000)
    moto_logs.create_log_group(logGroupName=group)
    day = time.strftime("%Y/%m/%d", time.gmtime())
    one, two = f"{day}/[1]{'a' * 32}", f"{day}/[2]{'b' * 32}"
    for stream in (one, two):
        moto_logs.create_log_stream(logGroupName=group, logStreamName=stream)
    moto_logs.put_log_events(logGroupName=group, logStreamName=one, logEvents=[
        {"timestamp": now - 900 + i, "message": m} for i, m in enumerate([
            "START RequestId: r1 Version: 1\n", _report("r1", 5.0, init=120.0),
            "START RequestId: r2 Version: 1\n", "[ERROR]\t2024-01-01T00:00:00.000Z\tr2\tlogged, not raised\n",
            _report("r2", 4.0),
        ])])
    moto_logs.put_log_events(logGroupName=group, logStreamName=two, logEvents=[
        {"timestamp": now - 800 + i, "message": m} for i, m in enumerate([
            "START RequestId: r3 Version: 2\n",
            "[ERROR] KeyError: 'id'\nTraceback (most recent call last):\n  File \"/var/task/a.py\", line 1, in h",
            _report("r3", 3.0),
            "START RequestId: r4 Version: 2\n", _report("r4", 3000.0, status="timeout"),
            json.dumps({"time": "x", "type": "platform.report", "record": {
                "requestId": "r5", "status": "success",
                "metrics": {"durationMs": 2.5, "billedDurationMs": 3, "memorySizeMB": 128,
                            "maxMemoryUsedMB": 40}}}),
        ])])
    source = LogsMetrics(moto_logs)
    since, until = (now - 5000) / 1000, (now + 1000) / 1000
    v1 = source.version_stats("shop", "live", "1", since, until)
    v2 = source.version_stats("shop", "live", "2", since, until)
    # A logging.error() line is not an unhandled error; a cold start is not warm latency.
    assert (v1.invocations, v1.errors, v1.cold_starts, v1.warm) == (2, 0, 1, 1)
    assert (v2.invocations, v2.errors, v2.warm) == (3, 2, 3)

    # The next look re-reads an overlap: nothing is counted twice, new lines are added.
    moto_logs.put_log_events(logGroupName=group, logStreamName=two, logEvents=[
        {"timestamp": now + 100, "message": _report("r6", 3.0)}])
    time.sleep(source.refresh_s + 0.05)
    later = source.version_stats("shop", "live", "2", since, (now + 2000) / 1000)
    assert (later.invocations, later.errors) == (4, 2)


def test_either_believes_the_source_that_has_seen_more(moto_logs):
    class Fixed:
        def __init__(self, n):
            self.n = n

        def version_stats(self, *args):
            return VersionStats(self.n, 0, version="2")

        def invocations(self, *args):
            return self.n

    both = EitherMetrics(Fixed(40), Fixed(25))
    assert both.version_stats("f", "live", "2", 0, 1).invocations == 40
    assert EitherMetrics(Fixed(3), Fixed(25)).invocations("f", "live", "2", 0, 1) == 25


def test_the_config_chooses_the_judges_source_on_aws(tmp_path, monkeypatch):
    from lambdashift.config import parse_config
    from lambdashift.aws.metrics import CloudWatchMetrics
    from lambdashift.connections import open_target

    (tmp_path / "fn").mkdir()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    kinds = {}
    for source in ("cloudwatch", "logs", "both"):
        config = parse_config({"target": "aws", "region": "eu-west-1", "metrics": source,
                               "functions": {"f": {"source": "fn", "handler": "index.handler"}}},
                              file=tmp_path / "lambdashift.yaml")
        target = open_target(config)
        kinds[source] = type(target.metrics)
        assert target.counter is target.metrics and target.logs is not None
        if source == "logs":
            assert target.metrics.logs.limiter.rate == 5.0  # FilterLogEvents' quota
    assert kinds == {"cloudwatch": CloudWatchMetrics, "logs": LogsMetrics, "both": EitherMetrics}


def test_every_page_of_filter_log_events_is_read_and_the_judges_pattern_is_sent():
    from botocore.stub import ANY, Stubber

    from lambdashift.aws.logs import JUDGE_PATTERN

    client = _logs_client()
    stream = "2026/12/03/[7]" + "c" * 32
    stubber = Stubber(client)
    page = {"logGroupName": "/aws/lambda/f", "startTime": ANY, "endTime": ANY,
            "filterPattern": JUDGE_PATTERN}
    stubber.add_response("filter_log_events", {"events": [
        {"logStreamName": stream, "timestamp": 1000, "message": _report("a", 2.0), "eventId": "1"}],
        "nextToken": "t1"}, page)
    stubber.add_response("filter_log_events", {"events": [], "nextToken": "t2"},
                         {**page, "nextToken": "t1"})  # empty pages may still carry a token
    stubber.add_response("filter_log_events", {"events": [
        {"logStreamName": stream, "timestamp": 1001, "message": _report("b", 3.0), "eventId": "2"}]},
        {**page, "nextToken": "t2"})
    with stubber:
        stats = LogsMetrics(client).version_stats("f", "live", "7", 0.5, 2.0)
    assert (stats.invocations, stats.warm) == (2, 2)
    stubber.assert_no_pending_responses()
