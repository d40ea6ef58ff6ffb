"""Invoke through boto3: AWS_LAMBDA_SEMANTICS.md § Invoke, with real worker processes."""

from __future__ import annotations

import base64
import json
import math
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import publish_release
from tests.functional.test_emulator_versions import error_of


def invoke(client, name, qualifier=None, payload=b"{}", **extra):
    kwargs = {"FunctionName": name, "Payload": payload, **extra}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    resp = client.invoke(**kwargs)
    body = resp["Payload"].read()
    return resp, (json.loads(body) if body else None)


def test_invoke_latest_runs_the_handler_with_the_lambda_context(client, make_function, fn_name):
    make_function()
    resp, body = invoke(client, fn_name, payload=json.dumps({"hello": "world"}).encode())
    assert resp["StatusCode"] == 200 and resp["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"hello": "world"}
    assert body["function_name"] == fn_name and body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert body["memory_limit_in_mb"] == 128 and body["log_group_name"] == f"/aws/lambda/{fn_name}"
    assert 0 < body["remaining_ms"] <= 3000
    assert body["aws_request_id"] == resp["ResponseMetadata"]["RequestId"]


def test_invoke_a_version_runs_that_versions_snapshot(client, make_function, fn_name):
    make_function(publish=True)
    publish_release(client, fn_name, "v2")
    _, one = invoke(client, fn_name, "1")
    _, two = invoke(client, fn_name, "2")
    assert (one["release"], one["function_version"], one["env_version"]) == ("v1", "1", "1")
    assert (two["release"], two["function_version"]) == ("v2", "2")
    assert one["invoked_function_arn"].endswith(f"{fn_name}:1")


def test_invoke_through_alias_carries_the_alias_in_invoked_arn(client, make_function, fn_name):
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    resp, body = invoke(client, fn_name, "live")
    assert resp["ExecutedVersion"] == "1" and body["function_version"] == "1"
    assert body["invoked_function_arn"].endswith(f"{fn_name}:live")


def test_weighted_alias_split_lies_in_the_binomial_interval_and_context_matches_header(
        client, make_function, fn_name):
    """5,000 invocations of {"2": 0.1}: the share of version 2 lies in the 99.9% interval."""
    make_function(publish=True)
    publish_release(client, fn_name, "v2")
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    n, w = 5000, 0.1

    def one(_: int) -> tuple[str, str]:
        resp, body = invoke(client, fn_name, "live")
        return resp["ExecutedVersion"], body["function_version"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(n)))
    mismatches = [r for r in results if r[0] != r[1]]
    assert mismatches == []
    k = sum(1 for executed, _ in results if executed == "2")
    half_width = 3.2905 * math.sqrt(n * w * (1 - w))  # z for a two-sided 99.9% interval
    assert abs(k - n * w) <= half_width, f"version 2 ran {k} of {n}"
    assert {executed for executed, _ in results} == {"1", "2"}


def test_handler_exception_is_200_with_unhandled_function_error(client, make_function, fn_name):
    make_function({"index.py": "def handler(event, context):\n    raise ValueError('bad note')\n"})
    resp, body = invoke(client, fn_name)
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "bad note" and body["errorType"] == "ValueError"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]


def test_timeout_returns_task_timed_out(client, make_function, fn_name):
    make_function({"index.py": "import time\ndef handler(e, c):\n    time.sleep(30)\n"}, Timeout=1)
    resp, body = invoke(client, fn_name)
    assert resp["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]


def test_log_type_tail_returns_the_last_4kb_of_logs(client, make_function, fn_name):
    make_function({"index.py": "def handler(e, c):\n    print('x' * 10000)\n    print('marker-end')\n"
                               "    return 1\n"})
    resp, body = invoke(client, fn_name, LogType="Tail")
    logs = base64.b64decode(resp["LogResult"])
    assert body == 1 and len(logs) <= 4096 and b"marker-end" in logs


def test_event_invocation_is_202_and_runs_later(client, make_function, fn_name, emulator):
    make_function(publish=True)
    resp = client.invoke(FunctionName=fn_name, Qualifier="1", InvocationType="Event", Payload=b"{}")
    assert resp["StatusCode"] == 202
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{emulator.endpoint}/_lambdashift/metrics/{fn_name}") as r:
            versions = json.load(r)["Versions"]
        if versions and versions[0]["Invocations"] == 1:
            break
        time.sleep(0.1)
    assert versions[0]["ExecutedVersion"] == "1" and versions[0]["Invocations"] == 1


def test_dry_run_is_204_without_payload(client, make_function, fn_name):
    make_function()
    resp = client.invoke(FunctionName=fn_name, InvocationType="DryRun")
    assert resp["StatusCode"] == 204 and resp["Payload"].read() == b""


def test_unknown_qualifier_is_resource_not_found(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        invoke(client, fn_name, "nope")
    assert error_of(exc)[:2] == ("ResourceNotFoundException", 404)


def test_over_the_concurrency_limit_is_too_many_requests(client, make_function, fn_name):
    make_function({"index.py": "import time\ndef handler(e, c):\n    time.sleep(1.5)\n    return 'done'\n"},
                  Timeout=10)
    client.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=2)

    def attempt(_: int) -> str:
        try:
            invoke(client, fn_name)
            return "ok"
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(attempt, range(5)))
    assert outcomes.count("ok") >= 2
    assert "TooManyRequestsException" in outcomes


def test_invalid_json_payload_is_invalid_request_content(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        invoke(client, fn_name, payload=b"{not json")
    assert error_of(exc)[:2] == ("InvalidRequestContentException", 400)


def test_metrics_count_per_qualifier_and_executed_version(client, make_function, fn_name, emulator):
    make_function({"index.py": "def handler(e, c):\n    if e.get('fail'):\n        raise RuntimeError('x')\n"
                               "    return c.function_version\n"}, publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    for payload in (b"{}", b"{}", b'{"fail": true}'):
        invoke(client, fn_name, "live", payload=payload)
    invoke(client, fn_name, "1")
    with urllib.request.urlopen(f"{emulator.endpoint}/_lambdashift/metrics/{fn_name}") as r:
        summary = {(v["Qualifier"], v["ExecutedVersion"]): v for v in json.load(r)["Versions"]}
    assert summary[("live", "1")]["Invocations"] == 3 and summary[("live", "1")]["Errors"] == 1
    assert summary[("1", "1")]["Invocations"] == 1
    assert summary[("live", "1")]["ColdStarts"] >= 1
    with urllib.request.urlopen(f"{emulator.endpoint}/_lambdashift/metrics/{fn_name}/records?qualifier=live") as r:
        records = json.load(r)["Records"]
    assert len(records) == 3 and all(rec["executed_version"] == "1" for rec in records)
    assert sum(rec["init_duration_ms"] is not None for rec in records) >= 1
