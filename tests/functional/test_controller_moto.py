"""``lambdashift controller install|status|uninstall`` against moto (``mock_aws``), in-process.

Lambda, IAM, EventBridge Scheduler, DynamoDB, CloudWatch Logs and STS are moto's; the CLI
runs through its ``main()``. Nothing invokes the function (moto would need Docker for that).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambdashift.cli.main import main
from lambdashift.controller import install as install_module
from lambdashift.controller.install import TAG, Controller
from lambdashift.controller.package import build_controller_package
from lambdashift.controller.permissions import all_actions
from lambdashift.controller.settings import HANDLER, RUNTIME, ControllerSettings
from lambdashift.controller.spec import Spec
from lambdashift.errors import AwsError
from lambdashift.store.dynamodb import KEY_SCHEMA

REGION, ACCOUNT = "us-east-1", "123456789012"
FN, TABLE = "lambdashift-controller", "lambdashift-state"
FN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FN}"


class Aws:
    """moto's clients, to look at what the CLI made."""

    def __init__(self) -> None:
        self.lam = boto3.client("lambda", region_name=REGION)
        self.iam = boto3.client("iam", region_name=REGION)
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.logs = boto3.client("logs", region_name=REGION)

    def policy(self, role: str) -> dict[str, Any]:
        return self.iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]

    def gone(self, call: Any, **params: Any) -> bool:
        try:
            call(**params)
        except ClientError as exc:
            return exc.response["Error"]["Code"] in ("ResourceNotFoundException", "NoSuchEntity")
        return False


@pytest.fixture
def aws(monkeypatch, tmp_path) -> Iterator[Aws]:
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", REGION), ("AWS_CONFIG_FILE", str(tmp_path / "none"))):
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        yield Aws()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["controller", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_install_creates_every_resource_with_the_permissions_actions_only(aws, capsys):
    code, out, err = run(capsys, "install", "--functions", "notes-*,billing")
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == [
        f"table {TABLE}", f"log group /aws/lambda/{FN}", f"role {FN}-role", f"function {FN}",
        f"role {FN}-scheduler-role", f"schedule {FN}"]
    assert all("created" in line for line in out.splitlines())

    config = aws.lam.get_function(FunctionName=FN)["Configuration"]
    assert (config["Handler"], config["Runtime"], config["Timeout"], config["MemorySize"]) == (
        HANDLER, RUNTIME, 900, 512)
    settings = ControllerSettings(namespace=f"aws:{REGION}", table=TABLE, region=REGION,
                                  functions=("notes-*", "billing"))
    assert config["Environment"]["Variables"] == settings.environment()
    assert config["CodeSha256"] == build_controller_package().code_sha256
    assert config["Role"].endswith(f":role/{FN}-role")

    role = aws.iam.get_role(RoleName=f"{FN}-role")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"}
    policy = {s["Sid"]: s for s in aws.policy(f"{FN}-role")["Statement"]}
    assert {a for s in policy.values() for a in s["Action"]} == all_actions()
    lam = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
    assert policy["ManagedFunctions"]["Resource"] == [
        f"{lam}:notes-*", f"{lam}:notes-*:*", f"{lam}:billing", f"{lam}:billing:*"]
    assert policy["StateTable"]["Resource"] == [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"]
    assert policy["OwnLogs"]["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{FN}:*"]

    scheduler_role = aws.iam.get_role(RoleName=f"{FN}-scheduler-role")["Role"]
    trust = scheduler_role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert aws.policy(f"{FN}-scheduler-role")["Statement"] == [{
        "Sid": "InvokeController", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
        "Resource": [FN_ARN]}]

    schedule = aws.scheduler.get_schedule(Name=FN)
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (
        FN_ARN, scheduler_role["Arn"])
    assert aws.dynamodb.describe_table(TableName=TABLE)["Table"]["KeySchema"] == KEY_SCHEMA
    group = aws.logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FN}")["logGroups"][0]
    assert group["retentionInDays"] == 30


def test_the_policy_scopes_every_statement_that_aws_lets_scope(aws):
    """Only GetAccountSettings/ListFunctions and the CloudWatch reads stand on ``*``."""
    ctl = Controller(Spec(region=REGION, functions=("notes-*",)))
    on_everything = {a for s in ctl.execution_policy()["Statement"] if s["Resource"] == ["*"]
                     for a in s["Action"]}
    assert on_everything == {"lambda:GetAccountSettings", "lambda:ListFunctions",
                             "cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"}


def _record_calls(monkeypatch) -> list[str]:
    """The operations (``lambda.UpdateFunctionCode``) every client install makes will call."""
    calls: list[str] = []
    real = install_module.make_client

    def recording(service: str, **kwargs: Any) -> Any:
        client = real(service, **kwargs)
        client.meta.events.register(
            "before-call", lambda model, **_: calls.append(f"{service}.{model.name}"))
        return client

    monkeypatch.setattr(install_module, "make_client", recording)
    return calls


def test_a_second_install_changes_nothing_and_says_so(aws, capsys, monkeypatch):
    assert run(capsys, "install", "--functions", "notes-*")[0] == 0
    calls = _record_calls(monkeypatch)
    code, out, err = run(capsys, "install")
    assert code == 0, err
    assert [line.split(": ", 1)[1] for line in out.splitlines()] == [
        "exists, kept", "exists, kept", "unchanged", "unchanged", "unchanged", "unchanged"]
    assert "nothing changed" in err
    writes = [c for c in calls if c.split(".")[1].startswith(("Create", "Update", "Put", "Delete"))]
    assert calls and writes == []
    config = aws.lam.get_function(FunctionName=FN)["Configuration"]
    # A flag left out keeps the installed scope: the second install did not widen it to `*`.
    assert config["Environment"]["Variables"]["LAMBDASHIFT_CONTROLLER_FUNCTIONS"] == "notes-*"


def test_a_changed_flag_is_applied_and_named(aws, capsys):
    assert run(capsys, "install")[0] == 0
    code, out, _ = run(capsys, "install", "--rate", "rate(5 minutes)", "--timeout", "300",
                       "--functions", "notes-*")
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines[f"function {FN}"] == "updated (environment, timeout)"
    assert lines[f"role {FN}-role"] == "updated (policy)"
    assert lines[f"schedule {FN}"] == "updated (ScheduleExpression)"
    assert aws.scheduler.get_schedule(Name=FN)["ScheduleExpression"] == "rate(5 minutes)"
    assert aws.lam.get_function(FunctionName=FN)["Configuration"]["Timeout"] == 300


def test_status_is_0_when_everything_is_there_and_1_naming_what_is_missing(aws, capsys):
    code, out, err = run(capsys, "status")
    assert code == 1 and "lambdashift controller install --region us-east-1" in err
    assert run(capsys, "install")[0] == 0
    code, out, err = run(capsys, "status")
    assert code == 0, err
    assert f"function {FN}: version $LATEST" in out and "state Active" in out
    assert "code as this lambdashift's" in out and "rate(1 minute), ENABLED" in out
    aws.scheduler.delete_schedule(Name=FN)
    code, out, err = run(capsys, "status")
    assert code == 1
    assert f"schedule {FN}: missing" in out and f"schedule {FN}; run `" in err


def test_status_shows_the_last_decisions_the_controller_logged(aws, capsys):
    assert run(capsys, "install")[0] == 0
    group = f"/aws/lambda/{FN}"
    aws.logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    aws.logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now + i, "message": message} for i, message in enumerate([
            "START RequestId: 1", json.dumps({"controller": "idle", "request_id": "1"}),
            json.dumps({"controller": "adopted", "rollout": "r-1"})])])
    code, out, _ = run(capsys, "status")
    assert code == 0
    decisions = out.split("last decisions:\n", 1)[1].splitlines()
    assert [json.loads(line)["controller"] for line in decisions] == ["idle", "adopted"]


def test_uninstall_removes_all_but_the_table_and_delete_table_removes_it(aws, capsys):
    assert run(capsys, "install")[0] == 0
    code, out, _ = run(capsys, "uninstall")
    assert code == 0
    assert f"schedule {FN}: deleted" in out and f"function {FN}: deleted" in out
    assert f"role {FN}-role: deleted" in out and f"role {FN}-scheduler-role: deleted" in out
    assert f"table {TABLE}: kept" in out
    assert aws.gone(aws.scheduler.get_schedule, Name=FN)
    assert aws.gone(aws.lam.get_function, FunctionName=FN)
    assert aws.gone(aws.iam.get_role, RoleName=f"{FN}-role")
    assert aws.gone(aws.iam.get_role, RoleName=f"{FN}-scheduler-role")
    assert aws.dynamodb.describe_table(TableName=TABLE)["Table"]["TableName"] == TABLE
    code, out, _ = run(capsys, "uninstall", "--delete-table")
    assert code == 0 and f"function {FN}: not there" in out and f"table {TABLE}: deleted" in out
    assert aws.gone(aws.dynamodb.describe_table, TableName=TABLE)


def test_a_role_of_that_name_lambdashift_did_not_make_is_neither_taken_nor_deleted(aws, capsys):
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    aws.iam.create_role(RoleName=f"{FN}-role", AssumeRolePolicyDocument=trust)
    code, _, err = run(capsys, "install")
    assert code == 2 and f"role {FN}-role exists and was not made by" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert aws.gone(aws.lam.get_function, FunctionName=FN)
    code, out, _ = run(capsys, "uninstall")
    assert code == 0 and f"role {FN}-role: left: not made by" in out
    assert aws.iam.get_role(RoleName=f"{FN}-role")["Role"]["RoleName"] == f"{FN}-role"


@pytest.mark.parametrize("argv, words", [
    (["install", "--functions", "notes *"], "--functions 'notes *'"),
    (["install", "--functions", ","], "--functions ','"),
    (["install", "--rate", "every minute"], "--rate 'every minute'"),
    (["install", "--rate", "rate(1 minutes)"], "rate(1 minute)"),
    (["install", "--timeout", "30"], "--timeout 30"),
    (["install", "--timeout", "901"], "--timeout 901"),
    (["status", "--function-name", "x" * 48], "--function-name"),
    (["status", "--table", "a/b"], "--table 'a/b'"),
])
def test_bad_input_is_exit_2_and_one_line(aws, capsys, argv, words):
    code, _, err = run(capsys, *argv)
    assert code == 2 and words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_no_region_is_a_clear_error(aws, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    code, _, err = run(capsys, "status")
    assert code == 2 and "no AWS region: pass --region or set AWS_REGION" in err


def test_create_function_is_retried_while_the_new_role_cannot_be_assumed(aws, monkeypatch):
    """IAM is eventually consistent: Lambda refuses a role for seconds after CreateRole."""
    lam = boto3.client("lambda", region_name=REGION)
    real, refusals = lam.create_function, [2]

    def young_role(**params: Any) -> Any:
        if refusals[0]:
            refusals[0] -= 1
            raise ClientError({"Error": {"Code": "InvalidParameterValueException", "Message":
                               "The role defined for the function cannot be assumed by Lambda."}},
                              "CreateFunction")
        return real(**params)

    lam.create_function = young_role
    made = {"lambda": lam}
    slept: list[float] = []
    ctl = Controller(Spec(region=REGION), sleep=slept.append,
                     client=lambda s: made.get(s) or boto3.client(s, region_name=REGION))
    ctl.install(build_controller_package())
    assert len(slept) == 2 and refusals == [0]
    assert lam.get_function(FunctionName=FN)["Configuration"]["Handler"] == HANDLER

    monkeypatch.setattr(install_module, "ROLE_ATTEMPTS", 3)
    lam.delete_function(FunctionName=FN)
    refusals[0], slept[:] = 99, []
    with pytest.raises(AwsError, match="cannot be assumed"):
        ctl.install(build_controller_package())
    assert len(slept) == 2  # bounded: 3 attempts, 2 waits between them


def test_install_tags_what_it_makes_with_the_controllers_name(aws, capsys):
    assert run(capsys, "install")[0] == 0
    tags = aws.iam.get_role(RoleName=f"{FN}-role")["Role"]["Tags"]
    assert {"Key": TAG, "Value": FN} in tags
    assert aws.lam.list_tags(Resource=FN_ARN)["Tags"] == {TAG: FN}
