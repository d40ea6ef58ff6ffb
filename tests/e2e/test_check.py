"""``lambdashift check`` on the local stack: a clean stack passes; each broken setup is found
with its fix; ``deploy`` runs the check before its first write (issue 11)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from lambdashift.aws.clients import make_client
from tests.e2e.conftest import NotesStack, cli, copy_notes, settle

ROLE = "arn:aws:iam::000000000000:role/lambdashift-local"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[NotesStack]:
    root = copy_notes(tmp_path_factory.mktemp("check") / "notes")
    up = cli("local", "up", "--detach", "--config", str(root / "lambdashift.yaml"))
    assert up.returncode == 0, up.stderr
    state = json.loads((root / ".lambdashift" / "local.json").read_text())
    try:
        yield NotesStack(root, state["api_url"], state["lambda_endpoint"], state["dynamodb_endpoint"])
    finally:
        cli("local", "down", "--config", str(root / "lambdashift.yaml"))


def check(stack: NotesStack, *args: str):
    return cli("check", "--config", str(stack.root / "lambdashift.yaml"), *args)


def apigw(stack: NotesStack):
    return make_client("apigatewayv2", endpoint_url=stack.api_url + "/_lambdashift/apigatewayv2",
                       local=True)


def test_check_passes_on_a_clean_local_stack(stack):
    result = check(stack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "" and "5 functions, 0 blocking" in result.stderr


def test_check_finds_an_integration_on_the_unqualified_function(stack):
    gw = apigw(stack)
    api = gw.get_apis()["Items"][0]["ApiId"]
    integration = next(i for i in gw.get_integrations(ApiId=api)["Items"]
                       if i["IntegrationUri"].endswith(":notes-get:live"))
    live_uri = integration["IntegrationUri"]
    gw.update_integration(ApiId=api, IntegrationId=integration["IntegrationId"],
                          IntegrationUri=live_uri.rsplit(":", 1)[0])
    try:
        # API Gateway then invokes $LATEST, whose (empty) policy refuses it: a 500.
        assert httpx.get(stack.api_url + "/notes/x", timeout=30).status_code == 500
        result = check(stack, "notes-get")
        assert result.returncode == 1
        assert "notes-get: BLOCKS [integration]" in result.stdout
        assert "invokes the unqualified function" in result.stdout
        assert f"--integration-uri {live_uri}" in result.stdout  # the fix
    finally:
        gw.update_integration(ApiId=api, IntegrationId=integration["IntegrationId"],
                              IntegrationUri=live_uri)
    assert check(stack, "notes-get").returncode == 0


def test_check_finds_a_missing_invoke_permission(stack):
    lam = stack.lam
    lam.remove_permission(FunctionName="notes-list", Qualifier="live", StatementId="http-api-get-notes")
    try:
        assert httpx.get(stack.api_url + "/notes", timeout=30).status_code == 500
        result = check(stack, "notes-list")
        assert result.returncode == 1 and "notes-list: BLOCKS [permission]" in result.stdout
        assert ("aws lambda add-permission --function-name notes-list --qualifier live "
                "--statement-id http-api-get-notes") in result.stdout
    finally:
        lam.add_permission(FunctionName="notes-list", Qualifier="live",
                           StatementId="http-api-get-notes", Action="lambda:InvokeFunction",
                           Principal="apigateway.amazonaws.com",
                           SourceArn="arn:aws:execute-api:us-east-1:000000000000:local/*/GET/notes")
    assert httpx.get(stack.api_url + "/notes", timeout=30).status_code == 200


def test_check_finds_an_alias_split_by_someone_else_and_deploy_changes_nothing(stack):
    lam = stack.lam
    lam.update_function_configuration(FunctionName="notes-create", Description="someone's")
    settle(lam, "notes-create")
    version = lam.publish_version(FunctionName="notes-create")["Version"]
    lam.update_alias(FunctionName="notes-create", Name="live",
                     RoutingConfig={"AdditionalVersionWeights": {version: 0.2}})
    try:
        result = check(stack, "notes-create")
        assert result.returncode == 1 and "notes-create: BLOCKS [alias]" in result.stdout
        assert "is split" in result.stdout and "lambdashift rollback notes-create" in result.stdout
        before = lam.get_alias(FunctionName="notes-create", Name="live")
        deploy = cli("deploy", "notes-create", "--config", str(stack.root / "lambdashift.yaml"))
        assert deploy.returncode == 1 and "block the release" in deploy.stderr
        assert lam.get_alias(FunctionName="notes-create", Name="live")["RevisionId"] == before["RevisionId"]
    finally:
        lam.update_alias(FunctionName="notes-create", Name="live", FunctionVersion=version,
                         RoutingConfig={"AdditionalVersionWeights": {}})


def test_check_finds_versions_with_different_execution_roles(stack):
    lam = stack.lam
    lam.update_function_configuration(FunctionName="notes-delete",
                                      Role="arn:aws:iam::000000000000:role/someone-else")
    settle(lam, "notes-delete")
    lam.publish_version(FunctionName="notes-delete")
    try:
        result = check(stack, "notes-delete")
        assert result.returncode == 1 and "notes-delete: BLOCKS [versions]" in result.stdout
        assert "different execution roles" in result.stdout and "--role" in result.stdout
        skipped = cli("deploy", "notes-delete", "--no-check", "--dry-run",
                      "--config", str(stack.root / "lambdashift.yaml"))
        assert skipped.returncode == 0 and "BLOCKS" not in skipped.stderr
    finally:
        lam.update_function_configuration(FunctionName="notes-delete", Role=ROLE)
        settle(lam, "notes-delete")
        lam.publish_version(FunctionName="notes-delete")


def test_check_knows_a_split_made_by_lambdashift_shift_and_rollback_json_errors_are_json(stack):
    """Issue 22: a split the user's own `shift` made is in `history`; `check` says so instead
    of blaming someone else. Then `rollback --json` with nothing left to roll back answers
    with a JSON error object on stdout, in the words of its stderr line, exit 1."""
    lam, config = stack.lam, str(stack.root / "lambdashift.yaml")
    lam.update_function_configuration(FunctionName="notes-update", Description="mine")
    settle(lam, "notes-update")
    version = lam.publish_version(FunctionName="notes-update")["Version"]
    shifted = cli("shift", "notes-update", "--to", version, "--weight", "20", "--config", config)
    assert shifted.returncode == 0, shifted.stderr
    result = check(stack, "notes-update")
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [x for x in result.stdout.splitlines() if "[alias]" in x]
    assert "by `lambdashift shift` (shift-" in line and "`lambdashift history notes-update`" in line
    assert "someone else" not in line
    assert f"`lambdashift promote notes-update` (all to version {version})" in line

    back = cli("rollback", "notes-update", "--json", "--config", config)
    assert back.returncode == 0, back.stderr
    again = cli("rollback", "notes-update", "--json", "--config", config)
    assert again.returncode == 1
    error = json.loads(again.stdout)
    assert error["code"] == 1 and error["error"].startswith("nothing to roll back")
    assert again.stderr.strip().splitlines()[-1] == f"lambdashift: {error['error']}"
    assert check(stack, "notes-update").returncode == 0  # the split is over
