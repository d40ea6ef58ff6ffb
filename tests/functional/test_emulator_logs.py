"""CloudWatch Logs on the emulator's port: boto3's logs client and the AWS CLI, unchanged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import publish_release

RAISES = """
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    print("about to fail")
    logger.info("info record")
    if event.get("fail"):
        raise ValueError("the candidate is broken")
    return {"ok": True}
"""

STREAM = re.compile(r"\d{4}/\d{2}/\d{2}/\[(\$LATEST|\d+)\][0-9a-f]{32}")


@pytest.fixture(scope="module")
def logs(emulator):
    """boto3's CloudWatch Logs client against the emulator's own endpoint."""
    return boto3.client("logs", endpoint_url=emulator.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}))


def _invoke(client, name, qualifier, event):
    resp = client.invoke(FunctionName=name, Qualifier=qualifier,
                         Payload=json.dumps(event).encode())
    resp["Payload"].read()
    return resp["ResponseMetadata"]["RequestId"], resp


def test_an_unhandled_exception_leaves_the_runtimes_error_record_in_the_versions_stream(
        client, logs, make_function, fn_name):
    make_function({"index.py": RAISES}, publish=True)
    rid, resp = _invoke(client, fn_name, "1", {"fail": True})
    assert resp["FunctionError"] == "Unhandled"
    group = f"/aws/lambda/{fn_name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1 and STREAM.fullmatch(streams[0]["logStreamName"])
    assert "/[1]" in streams[0]["logStreamName"]
    events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"],
                                 startFromHead=True)["events"]
    messages = [e["message"] for e in events]
    assert messages[0] == f"START RequestId: {rid} Version: 1\n"
    assert "about to fail\n" in messages
    assert any(m.startswith("[INFO]\t") and f"\t{rid}\tinfo record" in m for m in messages)
    error = [m for m in messages if m.startswith("[ERROR] ")]
    # One event: the message, the traceback header and the frames, as the runtime frames it.
    assert len(error) == 1
    assert error[0].startswith("[ERROR] ValueError: the candidate is broken\n"
                               "Traceback (most recent call last):\n")
    assert 'raise ValueError("the candidate is broken")' in error[0]
    assert messages[-2] == f"END RequestId: {rid}\n"
    assert re.fullmatch(rf"REPORT RequestId: {rid}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms\t\n",
                        messages[-1])
    assert all(e["timestamp"] <= events[-1]["timestamp"] for e in events)


def test_each_version_writes_its_own_streams_and_filter_finds_events_across_them(
        client, logs, make_function, fn_name):
    make_function({"index.py": RAISES}, publish=True)
    publish_release(client, fn_name, "v2")
    for qualifier in ("1", "2", "2"):
        _invoke(client, fn_name, qualifier, {})
    group = f"/aws/lambda/{fn_name}"
    names = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    assert sorted(n.split("]")[0][-2:] for n in names) == ["[1", "[2"]
    reports = logs.filter_log_events(logGroupName=group, filterPattern="REPORT")["events"]
    assert len(reports) == 3 and all(e["message"].startswith("REPORT ") for e in reports)
    by_version = {}
    for event in reports:
        by_version.setdefault(event["logStreamName"].split("]")[0][-1], []).append(event)
    assert {k: len(v) for k, v in by_version.items()} == {"1": 1, "2": 2}
    either = logs.filter_log_events(logGroupName=group, filterPattern='?START ?"about to fail"')
    assert len(either["events"]) == 6
    none = logs.filter_log_events(logGroupName=group, filterPattern="REPORT -Duration")
    assert none["events"] == []


def test_filter_log_events_pages_with_next_token_until_every_event_is_read(
        client, logs, make_function, fn_name):
    make_function({"index.py": RAISES})
    for _ in range(5):
        _invoke(client, fn_name, "$LATEST", {})
    group = f"/aws/lambda/{fn_name}"
    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern="RequestId", PaginationConfig={"PageSize": 4}))
    events = [e for p in pages for e in p["events"]]
    assert len(pages) == 4 and len(events) == 15  # START, END and REPORT of each
    assert len({e["eventId"] for e in events}) == 15
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)


def test_get_log_events_tokens_walk_forward_and_repeat_at_the_end(
        client, logs, make_function, fn_name):
    make_function({"index.py": RAISES})
    for _ in range(3):
        _invoke(client, fn_name, "$LATEST", {})
    group = f"/aws/lambda/{fn_name}"
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    first = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True,
                                limit=5)
    assert first["events"][0]["message"].startswith("START ")
    rest = logs.get_log_events(logGroupName=group, logStreamName=stream,
                               nextToken=first["nextForwardToken"])
    assert len(first["events"]) + len(rest["events"]) == 15
    end = logs.get_log_events(logGroupName=group, logStreamName=stream,
                              nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    newest = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2)
    assert newest["events"][-1]["message"].startswith("REPORT ")


def test_unknown_groups_and_bad_parameters_get_aws_errors(logs, emulator):
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName="/aws/lambda/nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName="/aws/lambda/nope", orderBy="LastEventTime",
                                  logStreamNamePrefix="2024")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        logs.describe_log_groups(limit=51)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_describe_log_groups_lists_lambdas_groups_by_prefix(client, logs, make_function, fn_name):
    make_function({"index.py": RAISES})
    _invoke(client, fn_name, "$LATEST", {})
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{fn_name}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{fn_name}"]
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/{fn_name}:*"
    assert groups[0]["storedBytes"] > 0


def test_aws_cli_filter_log_events_shows_the_traceback(client, emulator, make_function, fn_name):
    make_function({"index.py": RAISES}, publish=True)
    rid, _ = _invoke(client, fn_name, "1", {"fail": True})
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        [sys.executable, "-m", "awscli", "logs", "filter-log-events", "--endpoint-url",
         emulator.endpoint, "--log-group-name", f"/aws/lambda/{fn_name}", "--filter-pattern",
         '"[ERROR]"', "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=True)
    events = json.loads(out.stdout)["events"]
    assert len(events) == 1
    assert events[0]["message"].startswith("[ERROR] ValueError: the candidate is broken\nTraceback")
    assert "/[1]" in events[0]["logStreamName"]
    report = subprocess.run(
        [sys.executable, "-m", "awscli", "logs", "filter-log-events", "--endpoint-url",
         emulator.endpoint, "--log-group-name", f"/aws/lambda/{fn_name}", "--filter-pattern",
         f'"REPORT RequestId: {rid}"', "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=True)
    assert len(json.loads(report.stdout)["events"]) == 1


def test_json_log_format_writes_platform_records_and_a_json_error(
        client, logs, make_function, fn_name):
    make_function({"index.py": RAISES}, publish=True, LoggingConfig={"LogFormat": "JSON"})
    assert client.get_function_configuration(FunctionName=fn_name)["LoggingConfig"]["LogFormat"] == "JSON"
    rid, _ = _invoke(client, fn_name, "1", {"fail": True})
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}")["events"]
    records = [json.loads(e["message"]) for e in events if e["message"].startswith("{")]
    kinds = [r.get("type") or r.get("level") for r in records]
    assert kinds == ["platform.start", "INFO", "ERROR", "platform.report"]
    report = records[-1]["record"]
    assert report["requestId"] == rid and report["metrics"]["memorySizeMB"] == 128
    assert set(report["metrics"]) >= {"durationMs", "billedDurationMs", "maxMemoryUsedMB",
                                      "initDurationMs"}
    assert records[2]["errorType"] == "ValueError" and records[2]["stackTrace"]
    assert records[1]["requestId"] == rid and records[1]["message"] == "info record"
    by_pattern = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}",
                                        filterPattern='{ $.type = "platform.report" }')
    assert len(by_pattern["events"]) == 1
    assert "about to fail\n" in [e["message"] for e in events]  # print output stays text
    with pytest.raises(ClientError) as err:
        client.update_function_configuration(FunctionName=fn_name,
                                             LoggingConfig={"LogFormat": "XML"})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
