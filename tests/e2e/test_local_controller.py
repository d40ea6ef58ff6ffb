"""``controller:`` on the local stack: ``local up`` runs the controller inside the emulator,
as a real Lambda function called by the emulator's EventBridge Scheduler, for real."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

from lambdashift.aws.clients import make_client
from lambdashift.controller.package import build_controller_package
from lambdashift.controller.settings import DEFAULT_FUNCTION, DEFAULT_SCHEDULE, ENV
from tests.e2e.conftest import cli

HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"


def project(root: Path, controller: object) -> str:
    """A one-function lambdashift.yaml with ``controller:`` as given; its path."""
    (root / "functions" / "f").mkdir(parents=True, exist_ok=True)
    (root / "functions" / "f" / "index.py").write_text(HANDLER)
    config = {"functions": {"f": {"source": "functions/f", "handler": "index.handler"}},
              "routes": {"GET /f": "f"}}
    if controller is not None:
        config["controller"] = controller
    (root / "lambdashift.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return str(root / "lambdashift.yaml")


def idle_lines(config: str) -> list[dict]:
    """The controller's ``idle`` decisions as ``lambdashift logs --json`` shows them."""
    out = cli("logs", DEFAULT_FUNCTION, "--since", "5m", "--json", "--config", config)
    if out.returncode == 1 and "not invoked yet" in out.stderr:
        return []  # no tick has run yet
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    found = []
    for line in lines:
        try:
            decision = json.loads(line["message"])
        except ValueError:
            continue  # START, END, REPORT
        if isinstance(decision, dict) and decision.get("controller") == "idle":
            found.append({**decision, "log_request_id": line["requestId"]})
    return found


def test_controller_on_runs_in_the_emulator_on_its_schedule_and_down_then_off_removes_it(
        tmp_path):
    config = project(tmp_path, {"rate": "1 second"})
    up = cli("local", "up", "--detach", "--config", config)
    try:
        assert up.returncode == 0, up.stderr
        assert f"controller   {DEFAULT_FUNCTION}  created, called rate(1 second)" in up.stderr
        state = json.loads((tmp_path / ".lambdashift" / "local.json").read_text())
        assert state["controller"]["expression"] == "rate(1 second)"
        endpoint, region = state["lambda_endpoint"], state["region"]

        # A real function from the same zip as on AWS, pointed at the stack's endpoints.
        lam = make_client("lambda", endpoint_url=endpoint, local=True)
        fn = lam.get_function(FunctionName=DEFAULT_FUNCTION)
        assert fn["Configuration"]["CodeSha256"] == build_controller_package().code_sha256
        env = fn["Configuration"]["Environment"]["Variables"]
        assert env[ENV["namespace"]] == "local" and env[ENV["table"]] == "lambdashift-state"
        assert env[ENV["dynamodb_endpoint"]] == state["dynamodb_endpoint"]
        assert env[ENV["lambda_endpoint"]] == env[ENV["logs_endpoint"]] == endpoint
        assert "lambdashift:controller" in fn["Tags"]
        # `controller: on` implied the DynamoDB state store, whose table is there already.
        dynamodb = make_client("dynamodb", endpoint_url=state["dynamodb_endpoint"], local=True)
        assert dynamodb.describe_table(TableName="lambdashift-state")["Table"]["TableStatus"] == "ACTIVE"
        scheduler = make_client("scheduler", endpoint_url=endpoint, region=region, local=True)
        schedule = scheduler.get_schedule(Name=DEFAULT_SCHEDULE)
        assert schedule["ScheduleExpression"] == "rate(1 second)"
        assert schedule["Target"]["Arn"] == fn["Configuration"]["FunctionArn"]

        # Called by the schedule, it says so in its logs: one idle line per tick, each
        # with the request id the emulator's context gave it.
        deadline = time.monotonic() + 30
        while len(found := idle_lines(config)) < 2:
            assert time.monotonic() < deadline, f"fewer than 2 idle ticks in 30 s: {found}"
            time.sleep(0.5)
        assert len({line["request_id"] for line in found}) == len(found)
        assert all(line["request_id"] == line["log_request_id"] for line in found)
        assert all(line["namespace"] == "local" for line in found)

        status = cli("local", "status", "--config", config)
        assert status.returncode == 0, status.stderr
        assert f"{DEFAULT_FUNCTION} running, called rate(1 second)" in status.stdout
        as_json = json.loads(cli("local", "status", "--json", "--config", config).stdout)
        assert as_json["controller"]["running"] is True and as_json["controller"]["delivered"] >= 2
        ticks_before_down = len(idle_lines(config))
    finally:
        down = cli("local", "down", "--config", config)
    assert down.returncode == 0 and "the controller stopped with it" in down.stderr
    assert "the schedule paused until the next `local up`" in down.stderr

    # Up again: the new emulator listens on other ports, and the schedule `down` paused fires
    # only once `up` has pointed the function at them (a tick before would call the old ones).
    back = cli("local", "up", "--detach", "--config", config)
    try:
        assert back.returncode == 0, back.stderr
        assert "by the schedule lambdashift-controller (updated)" in back.stderr, back.stderr
        deadline = time.monotonic() + 30
        while len(idle_lines(config)) <= ticks_before_down:
            assert time.monotonic() < deadline, "no tick on the restarted stack in 30 s"
            time.sleep(0.5)
        logs = cli("logs", DEFAULT_FUNCTION, "--since", "5m", "--config", config).stdout
        assert "Traceback" not in logs and "Error" not in logs, logs[-2000:]
    finally:
        assert cli("local", "down", "--config", config).returncode == 0

    # Off again: the next `up` deletes the schedule and function the last one made, and
    # starts the emulator with AWS's smallest rate again (sub-minute schedules are refused).
    config = project(tmp_path, False)
    again = cli("local", "up", "--detach", "--config", config)
    try:
        assert again.returncode == 0, again.stderr
        assert "controller   off: deleted the schedule" in again.stderr
        endpoint = json.loads((tmp_path / ".lambdashift" / "local.json").read_text())["lambda_endpoint"]
        scheduler = make_client("scheduler", endpoint_url=endpoint, local=True)
        assert scheduler.list_schedules()["Schedules"] == []
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            make_client("lambda", endpoint_url=endpoint, local=True).get_function(
                FunctionName=DEFAULT_FUNCTION)
        with pytest.raises(ClientError, match="ValidationException"):
            scheduler.create_schedule(
                Name="quick", ScheduleExpression="rate(1 second)", FlexibleTimeWindow={"Mode": "OFF"},
                Target={"Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
                        "RoleArn": "arn:aws:iam::000000000000:role/r"})
        assert "controller         off" in cli("local", "status", "--config", config).stdout
    finally:
        assert cli("local", "down", "--config", config).returncode == 0


def test_a_function_of_the_config_named_as_the_controller_is_refused_before_anything_starts(
        tmp_path):
    config = project(tmp_path, True)
    data = yaml.safe_load(Path(config).read_text())
    data["functions"][DEFAULT_FUNCTION] = data["functions"]["f"]
    Path(config).write_text(yaml.safe_dump(data))
    out = cli("local", "up", "--detach", "--config", config)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert f"functions.{DEFAULT_FUNCTION}: the name is the controller's" in out.stderr
    assert not (tmp_path / ".lambdashift" / "local.json").exists()
