"""The EventBridge Scheduler subset through boto3's own ``scheduler`` client.

Each test is named after the rule it shows. The emulator runs with ``--schedule-min-rate 1``
(a local-only setting) so that rate schedules fire within a test's patience.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import NO_STATE_DELAY, ROLE, lambda_client, make_zip
from lambdashift.emulator.scheduler.schedules import AWS_MIN_RATE, parse_expression
from lambdashift.emulator.errors import ValidationException
from lambdashift.emulator.server import EmulatorProcess, start_process

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
SCHEDULER_ROLE = "arn:aws:iam::000000000000:role/scheduler"
WINDOW = {"Mode": "OFF"}

#: Appends each event it gets to a file named by its environment, so tests can count them.
RECORDER = """
import json, os

def handler(event, context):
    with open(os.environ["EVENTS_FILE"], "a") as out:
        out.write(json.dumps({"event": event, "version": context.function_version}) + "\\n")
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    proc = start_process(tmp_path_factory.mktemp("scheduler") / "data",
                         extra_args=[*NO_STATE_DELAY, "--schedule-min-rate", "1"])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def scheduler(emulator: EmulatorProcess):
    return boto3.client("scheduler", endpoint_url=emulator.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture()
def recorder(emulator: EmulatorProcess, tmp_path, request) -> tuple[str, object]:
    """A function that records its events; (its name, the file they go to)."""
    lam = lambda_client(emulator.endpoint)
    name = f"rec-{uuid.uuid4().hex[:12]}"
    events = tmp_path / "events.jsonl"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.py": RECORDER})},
                        Environment={"Variables": {"EVENTS_FILE": str(events)}}, Publish=True)
    return name, events


def recorded(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_create_get_list_update_delete_a_schedule(scheduler, recorder):
    name, _ = recorder
    target = {"Arn": ARN + name, "RoleArn": SCHEDULER_ROLE, "Input": '{"tick": 1}'}
    arn = scheduler.create_schedule(Name="crud", ScheduleExpression="rate(5 minutes)",
                                    FlexibleTimeWindow=WINDOW, Target=target)["ScheduleArn"]
    assert arn == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/crud"
    got = scheduler.get_schedule(Name="crud")
    assert (got["Arn"], got["State"], got["GroupName"], got["Target"]["Input"]) == (
        arn, "ENABLED", "default", '{"tick": 1}')
    assert isinstance(got["CreationDate"], datetime)
    listed = [s["Name"] for p in scheduler.get_paginator("list_schedules").paginate() for s in p["Schedules"]]
    assert "crud" in listed
    scheduler.update_schedule(Name="crud", ScheduleExpression="rate(1 hour)", State="DISABLED",
                              FlexibleTimeWindow=WINDOW, Target=target)
    updated = scheduler.get_schedule(Name="crud")
    assert (updated["ScheduleExpression"], updated["State"]) == ("rate(1 hour)", "DISABLED")
    assert updated["CreationDate"] == got["CreationDate"]
    disabled = scheduler.list_schedules(State="DISABLED")["Schedules"]
    assert [s["Name"] for s in disabled] == ["crud"]
    scheduler.delete_schedule(Name="crud")
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name="crud")
    assert error_of(exc) == ("ResourceNotFoundException", 404)


def test_an_existing_schedule_name_is_a_conflict(scheduler, recorder):
    name, _ = recorder
    target = {"Arn": ARN + name, "RoleArn": SCHEDULER_ROLE}
    scheduler.create_schedule(Name="twice", ScheduleExpression="rate(1 hour)",
                              FlexibleTimeWindow=WINDOW, Target=target)
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name="twice", ScheduleExpression="rate(1 hour)",
                                  FlexibleTimeWindow=WINDOW, Target=target)
    assert error_of(exc) == ("ConflictException", 409)
    scheduler.delete_schedule(Name="twice")


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(5 fortnights)", "cron(0 12 * * ? *)",
                                        "every 5 minutes", "at(2030-13-01)"])
def test_a_bad_schedule_expression_is_a_validation_exception(scheduler, recorder, expression):
    name, _ = recorder
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name="bad", ScheduleExpression=expression, FlexibleTimeWindow=WINDOW,
                                  Target={"Arn": ARN + name, "RoleArn": SCHEDULER_ROLE})
    assert error_of(exc) == ("ValidationException", 400)


def test_only_the_default_group_exists(scheduler, recorder):
    name, _ = recorder
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name="grouped", GroupName="mine", ScheduleExpression="rate(1 hour)",
                                  FlexibleTimeWindow=WINDOW,
                                  Target={"Arn": ARN + name, "RoleArn": SCHEDULER_ROLE})
    assert error_of(exc) == ("ResourceNotFoundException", 404)


def test_a_rate_schedule_invokes_its_lambda_target_with_its_input_on_time(scheduler, recorder):
    name, events = recorder
    started = time.monotonic()
    scheduler.create_schedule(Name="every-second", ScheduleExpression="rate(1 second)",
                              FlexibleTimeWindow=WINDOW,
                              Target={"Arn": ARN + name + ":1", "RoleArn": SCHEDULER_ROLE,
                                      "Input": '{"from": "scheduler"}'})
    wait_for(lambda: len(recorded(events)) >= 3)
    elapsed = time.monotonic() - started
    scheduler.delete_schedule(Name="every-second")
    got = recorded(events)
    assert all(e == {"event": {"from": "scheduler"}, "version": "1"} for e in got)
    # Three firings one second apart cannot all have happened in less than two seconds.
    assert elapsed >= 2.0
    count = len(recorded(events))
    time.sleep(1.5)
    assert len(recorded(events)) <= count + 1  # deleted: at most one delivery was in flight


def test_a_disabled_schedule_never_fires(scheduler, recorder):
    name, events = recorder
    scheduler.create_schedule(Name="off", ScheduleExpression="rate(1 second)", State="DISABLED",
                              FlexibleTimeWindow=WINDOW, Target={"Arn": ARN + name, "RoleArn": SCHEDULER_ROLE})
    time.sleep(2.5)
    scheduler.delete_schedule(Name="off")
    assert recorded(events) == []


def test_an_at_schedule_fires_once_and_deletes_itself_after_completion(scheduler, recorder):
    name, events = recorder
    when = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    scheduler.create_schedule(Name="once", ScheduleExpression=f"at({when})", ActionAfterCompletion="DELETE",
                              FlexibleTimeWindow=WINDOW, Target={"Arn": ARN + name, "RoleArn": SCHEDULER_ROLE})
    wait_for(lambda: len(recorded(events)) >= 1)
    assert recorded(events)[0]["event"] == {}  # no Input: an empty event
    wait_for(lambda: "once" not in [s["Name"] for s in scheduler.list_schedules()["Schedules"]])
    time.sleep(1.0)
    assert len(recorded(events)) == 1


def test_a_target_that_is_not_a_lambda_function_is_refused(scheduler):
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name="sqs", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=WINDOW,
                                  Target={"Arn": "arn:aws:sqs:us-east-1:000000000000:q",
                                          "RoleArn": SCHEDULER_ROLE})
    assert error_of(exc) == ("ValidationException", 400)


def test_aws_smallest_rate_is_one_minute_unless_lowered_locally():
    assert parse_expression("rate(1 minute)", None, AWS_MIN_RATE).period == 60
    for text in ("rate(30 seconds)", "rate(1 second)"):
        with pytest.raises(ValidationException):
            parse_expression(text, None, AWS_MIN_RATE)
    assert parse_expression("rate(2 seconds)", None, 1.0).period == 2
    assert parse_expression("at(2030-01-01T00:00:00)", "Europe/Berlin", AWS_MIN_RATE).at == (
        datetime(2029, 12, 31, 23, 0, tzinfo=timezone.utc).timestamp())


def test_schedules_persist_across_an_emulator_restart(tmp_path):
    data = tmp_path / "data"
    first = start_process(data, extra_args=NO_STATE_DELAY)
    try:
        client = boto3.client("scheduler", endpoint_url=first.endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        client.create_schedule(Name="kept", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=WINDOW,
                               Target={"Arn": ARN + "anything", "RoleArn": SCHEDULER_ROLE})
    finally:
        first.stop()
    again = start_process(data, extra_args=NO_STATE_DELAY)
    try:
        client = boto3.client("scheduler", endpoint_url=again.endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        assert client.get_schedule(Name="kept")["ScheduleExpression"] == "rate(1 minute)"
    finally:
        again.stop()


def test_a_kept_schedule_under_a_restarts_smallest_rate_waits_unfired_instead_of_stopping_it(
        tmp_path, capsys):
    """AWS's smallest rate is a minute; a sub-minute schedule made under a local-only
    ``--schedule-min-rate`` and read back by an emulator without it is kept, never fired."""
    from lambdashift.emulator.scheduler.schedules import ScheduleRules

    data = tmp_path / "data"
    target = {"Arn": ARN + "controller", "RoleArn": SCHEDULER_ROLE}
    quick = ScheduleRules(data, region="us-east-1", account_id="000000000000", min_rate=1.0)
    quick.create("fast", {"ScheduleExpression": "rate(2 seconds)", "FlexibleTimeWindow": WINDOW,
                          "Target": target})
    quick.close()
    strict = ScheduleRules(data, region="us-east-1", account_id="000000000000")
    try:
        assert strict.get("fast", None)["ScheduleExpression"] == "rate(2 seconds)"
        assert strict.next_due() is None and strict.due(time.time() + 3600) == []
        assert "schedule fast does not fire" in capsys.readouterr().err
        strict.delete("fast", None)
        assert strict.list(None, None, None, None, None)["Schedules"] == []
    finally:
        strict.close()
