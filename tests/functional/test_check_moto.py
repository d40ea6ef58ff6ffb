"""``lambdashift check`` against moto's Lambda, API Gateway v2 and CloudWatch (``mock_aws``):
the AWS code path of the check, in-process. A clean setup passes; each broken setup
(integration on the unqualified function, missing permission, split alias, mismatched
role, missing alarm) is found with its fix (issue 11).

moto has no GetAccountSettings and no provisioned concurrency: the check says it could
not look (a warning) instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from lambdashift.cli.main import main
from tests.conftest import ECHO_HANDLER, make_zip

REGION, ACCOUNT = "us-east-1", "123456789012"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
FUNCTIONS = {"notes-get": "GET /notes/{id}", "notes-list": "GET /notes"}


def invoke_arn(function: str, qualifier: str | None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}" + (f":{qualifier}" if qualifier else "")
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"


class World:
    """The moto account the checks read, and the config that names it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lam = boto3.client("lambda", region_name=REGION)
        self.gw = boto3.client("apigatewayv2", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        self.roles = [iam.create_role(RoleName=n, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
                      for n in ("notes", "other")]
        boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
            AlarmName="notes-errors", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
        self.api = self.gw.create_api(Name="notes", ProtocolType="HTTP")["ApiId"]
        self.integrations: dict[str, str] = {}
        config: dict[str, Any] = {"alias": "live", "target": "aws", "region": REGION, "functions": {},
                                  "routes": {}, "rollout": {"strategy": "canary", "alarms": ["notes-errors"]}}
        for name, route in FUNCTIONS.items():
            (root / name).mkdir()
            (root / name / "index.py").write_text(ECHO_HANDLER)
            config["functions"][name] = {"source": name, "handler": "index.handler", "runtime": "python3.12"}
            config["routes"][route] = name
            self.lam.create_function(FunctionName=name, Runtime="python3.12", Role=self.roles[0],
                                     Handler="index.handler", Publish=True,
                                     Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})})
            self.lam.update_function_configuration(FunctionName=name, Description="release 2")
            assert self.lam.publish_version(FunctionName=name)["Version"] == "2"
            self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
            integration = self.gw.create_integration(
                ApiId=self.api, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
                IntegrationUri=invoke_arn(name, "live"))["IntegrationId"]
            self.integrations[name] = integration
            self.gw.create_route(ApiId=self.api, RouteKey=route, Target=f"integrations/{integration}")
            self.grant(name, route)
        (root / "lambdashift.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def grant(self, name: str, route: str) -> None:
        path = route.replace(" ", "", 1).replace("{id}", "*")
        self.lam.add_permission(
            FunctionName=name, Qualifier="live", StatementId="http-api", Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{self.api}/*/{path}")

    def check(self, capsys, *names: str) -> tuple[int, str]:
        code = main(["check", "--config", str(self.root / "lambdashift.yaml"), *names])
        out = capsys.readouterr()
        return code, out.out


@pytest.fixture
def world(tmp_path, monkeypatch) -> Iterator[World]:
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        yield World(tmp_path)


def test_check_passes_a_clean_setup_on_moto(world, capsys):
    code, out = world.check(capsys)
    assert code == 0, out
    # The one thing moto cannot answer is said, not failed.
    assert out.splitlines() == [
        "account: warning [storage] code storage not checked: GetAccountSettings is not available "
        "on this endpoint."]


def test_check_finds_an_integration_on_the_unqualified_function_on_moto(world, capsys):
    world.gw.update_integration(ApiId=world.api, IntegrationId=world.integrations["notes-get"],
                                IntegrationUri=invoke_arn("notes-get", None))
    code, out = world.check(capsys, "notes-get")
    assert code == 1 and "notes-get: BLOCKS [integration]" in out
    assert "invokes the unqualified function" in out
    assert f"--integration-uri arn:aws:lambda:{REGION}:{ACCOUNT}:function:notes-get:live" in out


def test_check_finds_an_integration_on_a_version_on_moto(world, capsys):
    world.gw.update_integration(ApiId=world.api, IntegrationId=world.integrations["notes-list"],
                                IntegrationUri=invoke_arn("notes-list", "1"))
    code, out = world.check(capsys, "notes-list")
    assert code == 1 and "invokes version 1 of notes-list, not the live alias" in out


def test_check_finds_a_missing_permission_on_moto(world, capsys):
    world.lam.remove_permission(FunctionName="notes-list", Qualifier="live", StatementId="http-api")
    code, out = world.check(capsys, "notes-list")
    assert code == 1 and "notes-list: BLOCKS [permission]" in out
    assert (f"--principal apigateway.amazonaws.com --source-arn "
            f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{world.api}/*/GET/notes") in out


def test_check_finds_an_alias_split_by_someone_else_on_moto(world, capsys):
    world.lam.update_alias(FunctionName="notes-get", Name="live",
                           RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    code, out = world.check(capsys, "notes-get")
    assert code == 1 and "notes-get: BLOCKS [alias]" in out and "25% to version 2" in out


def test_check_finds_versions_with_different_roles_on_moto(world, capsys):
    """moto itself accepts such a weighted alias (AWS does not): the check catches it first."""
    world.lam.update_function_configuration(FunctionName="notes-get", Role=world.roles[1])
    world.lam.publish_version(FunctionName="notes-get")
    code, out = world.check(capsys, "notes-get")
    assert code == 1 and "notes-get: BLOCKS [versions]" in out
    assert f"({world.roles[0]} / {world.roles[1]})" in out


def test_check_finds_a_configured_alarm_that_does_not_exist_on_moto(world, capsys):
    boto3.client("cloudwatch", region_name=REGION).delete_alarms(AlarmNames=["notes-errors"])
    code, out = world.check(capsys, "notes-get")
    assert code == 1 and "notes-get: BLOCKS [alarms] CloudWatch alarm 'notes-errors' does not exist" in out
