"""``lambdashift logs`` and the judge reading logs, on the local stack as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from tests.e2e.conftest import NotesStack, settle
from tests.e2e.rollout_helpers import alias_traffic, history, run
from tests.e2e.test_analysis_e2e import ANALYSIS, deploy_under_load, release


def _failing_version(stack: NotesStack) -> str:
    """Publish the probe failing every request and send all of ``live`` to it."""
    lam = stack.lam
    lam.update_function_configuration(FunctionName="probe", Environment={"Variables": {
        "FAIL_RATE": "1", "DELAY_MS": "1"}})
    settle(lam, "probe")
    version = lam.publish_version(FunctionName="probe")["Version"]
    alias = lam.get_alias(FunctionName="probe", Name="live")
    lam.update_alias(FunctionName="probe", Name="live", FunctionVersion=version,
                     RoutingConfig={"AdditionalVersionWeights": {}},
                     RevisionId=alias["RevisionId"])
    return version


def test_logs_shows_a_failing_handlers_traceback_with_request_id_and_version(probe_stack):
    version = _failing_version(probe_stack)
    assert httpx.get(probe_stack.api_url + "/probe", timeout=30).status_code == 500
    as_json = run(probe_stack, "logs", "probe", "--since", "5m", "--json")
    assert as_json.returncode == 0, as_json.stderr
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    errors = [line for line in lines if line["message"].startswith("[ERROR] RuntimeError")]
    assert len(errors) == 1 and errors[0]["version"] == version
    rid = errors[0]["requestId"]
    assert rid and {"START", "REPORT"} <= {line["message"].split()[0] for line in lines
                                           if line["requestId"] == rid}
    assert all(line["requestId"] and line["version"] for line in lines)

    text = run(probe_stack, "logs", "probe", "--since", "5m", "--version", version)
    assert text.returncode == 0, text.stderr
    trace = [line for line in text.stdout.splitlines() if rid in line]
    body = "\n".join(trace)
    assert "[ERROR] RuntimeError: injected failure" in body
    assert "Traceback (most recent call last):" in body and 'raise RuntimeError("injected failure")' in body
    assert all(f"[{version}]" in line for line in trace)
    # Every line of the traceback carries the request id and the version.
    frames = [line for line in text.stdout.splitlines() if 'File "' in line]
    assert frames and all(rid in line and f"[{version}]" in line for line in frames)

    # The AWS CLI sees the same events through the same endpoint.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    cli = subprocess.run(
        [sys.executable, "-m", "awscli", "logs", "filter-log-events", "--endpoint-url",
         probe_stack.lambda_endpoint, "--log-group-name", "/aws/lambda/probe",
         "--filter-pattern", '"[ERROR] RuntimeError"', "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=True)
    events = json.loads(cli.stdout)["events"]
    assert [e["eventId"] for e in events] == [errors[0]["eventId"]]
    assert events[0]["message"].rstrip("\n") == errors[0]["message"]
    assert f"[{version}]" in events[0]["logStreamName"]
    state = json.loads((probe_stack.root / ".lambdashift" / "local.json").read_text())
    assert state["logs_endpoint"] == probe_stack.lambda_endpoint


def test_logs_follow_prints_invocations_as_they_happen(probe_stack):
    follow = subprocess.Popen(
        [sys.executable, "-m", "lambdashift.cli.main", "logs", "probe", "--since", "1s",
         "--follow", "--config", str(probe_stack.root / "lambdashift.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1.5)
        httpx.get(probe_stack.api_url + "/probe", timeout=30)
        deadline = time.monotonic() + 30
        seen = ""
        while "REPORT RequestId" not in seen and time.monotonic() < deadline:
            seen += follow.stdout.readline()
        assert "REPORT RequestId" in seen
    finally:
        follow.terminate()
        follow.wait(10)


def test_logs_of_a_function_never_invoked_is_one_line_and_exit_1(probe_stack):
    out = run(probe_stack, "logs", "notes-delete", "--since", "1m")
    assert out.returncode == 1 and "does not exist" in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2  # the target line and the error
    bad = run(probe_stack, "logs", "probe", "--since", "ten minutes")
    assert bad.returncode == 2 and "--since" in bad.stderr
    httpx.get(probe_stack.api_url + "/probe", timeout=30)
    none = run(probe_stack, "logs", "probe", "--version", "999")
    assert none.returncode == 0 and none.stdout == ""
    assert "no log stream of version 999 has events in the last 10m" in none.stderr


def test_the_judge_reading_logs_rolls_back_a_candidate_failing_every_request(probe_stack):
    stable = release(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "2"}, [{"weight": 100}])
    assert run(probe_stack, "deploy", "probe").returncode == 0
    assert alias_traffic(probe_stack, "probe")[0] == stable
    release(probe_stack, {"FAIL_RATE": "1", "DELAY_MS": "2"},
            [{"weight": 10}, {"analysis": {**ANALYSIS, "min_invocations": 20}}, {"weight": 100}],
            metrics="logs")
    out, load = deploy_under_load(probe_stack)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
    last = history(probe_stack, "probe")[0]
    assert last["phase"] == "rolled_back"
    verdicts = [e["details"] for e in last["events"] if e["kind"] == "VerdictReceived"]
    assert verdicts[-1]["verdict"] == "rollback"
