"""``controller.local`` against a real emulator and DynamoDB server: a second deploy changes
nothing that did not change, a new rate updates the schedule, and turning the controller
off deletes only what the stack made (never a function or schedule of the user's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambdashift.aws.clients import make_client
from lambdashift.controller import local
from lambdashift.controller.settings import DEFAULT_FUNCTION, DEFAULT_SCHEDULE
from lambdashift.emulator.server import EmulatorProcess, start_process
from lambdashift.local.processes import start_dynamodb, stop_pid
from lambdashift.store.settings import StateConfig
from tests.conftest import NO_STATE_DELAY, ROLE, make_zip

DYNAMO_STATE = StateConfig(store="dynamodb")


@pytest.fixture()
def servers(tmp_path) -> Iterator[tuple[EmulatorProcess, str]]:
    dynamodb, endpoint = start_dynamodb(tmp_path / "dynamodb.log", detach=False)
    emulator = start_process(tmp_path / "lambda",
                             extra_args=[*NO_STATE_DELAY, "--schedule-min-rate", "2"])
    try:
        yield emulator, endpoint
    finally:
        emulator.stop()
        stop_pid(dynamodb.pid)


def deploy(emulator: EmulatorProcess, dynamodb: str, expression: str, said: list[str]) -> dict:
    return local.deploy(lambda_endpoint=emulator.endpoint, dynamodb_endpoint=dynamodb,
                        logs_endpoint=emulator.endpoint, region="us-east-1", state=DYNAMO_STATE,
                        expression=expression, say=said.append)


def test_min_rate_is_lowered_only_under_aws_minute():
    assert local.min_rate(2) == 2.0 and local.min_rate(59) == 59.0
    assert local.min_rate(60) is None and local.min_rate(300) is None


def test_redeploy_keeps_what_did_not_change_and_updates_a_new_rate(servers):
    emulator, dynamodb = servers
    said: list[str] = []
    first = deploy(emulator, dynamodb, "rate(2 seconds)", said)
    assert "created, called rate(2 seconds)" in said[-1] and "(created)" in said[-1]
    lam = make_client("lambda", endpoint_url=emulator.endpoint, local=True)
    before = lam.get_function_configuration(FunctionName=DEFAULT_FUNCTION)["RevisionId"]
    again = deploy(emulator, dynamodb, "rate(2 seconds)", said)
    assert "unchanged" in said[-1] and "(kept)" in said[-1]
    assert again == first
    assert lam.get_function_configuration(FunctionName=DEFAULT_FUNCTION)["RevisionId"] == before
    deploy(emulator, dynamodb, "rate(3 seconds)", said)
    assert "unchanged" in said[-1] and "(updated)" in said[-1]
    # A restart gives the stack new ports: the function's settings follow them.
    local.deploy(lambda_endpoint=emulator.endpoint, dynamodb_endpoint=dynamodb,
                 logs_endpoint="http://127.0.0.1:9", region="us-east-1", state=DYNAMO_STATE,
                 expression="rate(3 seconds)", say=said.append)
    assert "updated (settings)" in said[-1] and "(kept)" in said[-1]
    env = lam.get_function_configuration(FunctionName=DEFAULT_FUNCTION)["Environment"]["Variables"]
    assert env["LAMBDASHIFT_LOGS_ENDPOINT"] == "http://127.0.0.1:9"
    scheduler = make_client("scheduler", endpoint_url=emulator.endpoint, local=True)
    assert scheduler.get_schedule(Name=DEFAULT_SCHEDULE)["ScheduleExpression"] == "rate(3 seconds)"
    # Off: both were the stack's own, both go.
    assert local.remove_stale(lambda_endpoint=emulator.endpoint, region="us-east-1",
                              keep_function=False, say=said.append)
    assert scheduler.list_schedules()["Schedules"] == []
    assert DEFAULT_FUNCTION not in {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    # Nothing left: nothing to say, and no error.
    assert not local.remove_stale(lambda_endpoint=emulator.endpoint, region="us-east-1",
                                  keep_function=False, say=said.append)


def test_off_never_deletes_a_function_or_schedule_of_the_users(servers):
    emulator, _ = servers
    lam = make_client("lambda", endpoint_url=emulator.endpoint, local=True)
    lam.create_function(FunctionName=DEFAULT_FUNCTION, Runtime="python3.12", Role=ROLE,
                        Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.py": "def handler(e, c):\n    return 1\n"})})
    scheduler = make_client("scheduler", endpoint_url=emulator.endpoint, local=True)
    other = "arn:aws:lambda:us-east-1:000000000000:function:someone-else"
    scheduler.create_schedule(Name=DEFAULT_SCHEDULE, ScheduleExpression="rate(1 minute)",
                              FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": other, "RoleArn": local.SCHEDULER_ROLE})
    said: list[str] = []
    # Untagged function, schedule calling another function: neither is the stack's.
    assert not local.remove_stale(lambda_endpoint=emulator.endpoint, region="us-east-1",
                                  keep_function=False, say=said.append)
    assert said == []
    assert lam.get_function(FunctionName=DEFAULT_FUNCTION)["Configuration"]["Runtime"] == "python3.12"
    assert scheduler.get_schedule(Name=DEFAULT_SCHEDULE)["Target"]["Arn"] == other
