"""Function states (issue 11): Pending after create, InProgress after an update, and AWS's
409s meanwhile, on an emulator with a real state delay; the waiting code that copes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.emulator.server import EmulatorProcess, start_process
from tests.conftest import ECHO_HANDLER, ROLE, lambda_client, make_zip

#: A delay no busy machine outlasts between two requests (the refusals are tested on it),
#: and a short one for the transitions, which the tests wait out.
LONG, SHORT = 60.0, 0.5
WAIT = {"Delay": 0.05, "MaxAttempts": 400}
SETTLED = "settled-before-restart"


@pytest.fixture(scope="module")
def slow(tmp_path_factory) -> Iterator[EmulatorProcess]:
    """An emulator with a long delay, holding a function that is already Active (created
    by an emulator without delay on the same data directory)."""
    data = tmp_path_factory.mktemp("states") / "data"
    first = start_process(data, extra_args=["--state-delay", "0"])
    try:
        create(lambda_client(first.endpoint), SETTLED)
    finally:
        first.stop()
    proc = start_process(data, extra_args=["--state-delay", str(LONG)])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Iterator[EmulatorProcess]:
    proc = start_process(tmp_path_factory.mktemp("states-quick") / "data",
                         extra_args=["--state-delay", str(SHORT)])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def lam(quick):
    return lambda_client(quick.endpoint)


@pytest.fixture(scope="module")
def held(slow):
    return lambda_client(slow.endpoint)


def create(lam, name: str, **extra) -> dict:
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                               Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})}, **extra)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_create_function_answers_pending_until_the_function_is_active(lam, fn_name):
    created = create(lam, fn_name)
    assert (created["State"], created["StateReason"], created["StateReasonCode"]) == (
        "Pending", "The function is being created.", "Creating")
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name, WaiterConfig=WAIT)
    config = lam.get_function(FunctionName=fn_name)["Configuration"]
    assert config["State"] == "Active" and config["LastUpdateStatus"] == "Successful"


def test_invoke_while_pending_is_a_conflict_and_runs_nothing(held, fn_name, lam):
    create(held, fn_name)
    with pytest.raises(ClientError) as exc:
        held.invoke(FunctionName=fn_name, Payload=b"{}")
    assert error_of(exc) == (
        "ResourceConflictException", 409, "The operation cannot be performed at this time. "
        "The function is currently in the following state: Pending")
    with pytest.raises(ClientError) as exc:
        held.update_function_configuration(FunctionName=fn_name, Timeout=5)
    assert error_of(exc)[:2] == ("ResourceConflictException", 409)
    create(lam, fn_name)  # once Active, it runs
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name, WaiterConfig=WAIT)
    assert lam.invoke(FunctionName=fn_name, Payload=b"{}")["StatusCode"] == 200


def test_a_second_update_while_one_is_in_progress_is_a_conflict(held, lam, fn_name):
    assert held.get_function(FunctionName=SETTLED)["Configuration"]["State"] == "Active"
    first = held.update_function_configuration(FunctionName=SETTLED, Description="one")
    assert first["LastUpdateStatus"] == "InProgress"
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{SETTLED}"
    busy = ("ResourceConflictException", 409, "The operation cannot be performed at this time. "
            f"An update is in progress for resource: {arn}")
    with pytest.raises(ClientError) as exc:
        held.update_function_code(FunctionName=SETTLED, ZipFile=make_zip({"index.py": ECHO_HANDLER}))
    assert error_of(exc) == busy
    with pytest.raises(ClientError) as exc:
        held.publish_version(FunctionName=SETTLED)
    assert error_of(exc) == busy
    # Once the update is done, the publish goes through.
    create(lam, fn_name)
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name, WaiterConfig=WAIT)
    lam.update_function_configuration(FunctionName=fn_name, Description="one")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name, WaiterConfig=WAIT)
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "1"


def test_lambdashift_wait_updated_rides_out_pending_and_in_progress(lam, fn_name):
    api = LambdaApi(lam, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=1, base=0.0))
    create(lam, fn_name)
    assert api.wait_updated(fn_name, interval=0.2, first_interval=0.05)["State"] == "Active"
    revision = api.update_configuration(fn_name, timeout=9, expected_revision=None)["RevisionId"]
    settled = api.wait_updated(fn_name, interval=0.2, first_interval=0.05)
    assert settled["LastUpdateStatus"] == "Successful" and settled["RevisionId"] == revision
    assert api.publish_version(fn_name, code_sha256=None, expected_revision=revision) == "1"
