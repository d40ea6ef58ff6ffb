"""The notes service's Terraform: formatted, least-privilege, and in step with lambdashift.yaml.

Providers cannot be downloaded here, so ``terraform validate`` is out of reach; the
configuration is parsed with python-hcl2 instead and checked for what matters.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"
INFRA = NOTES / "infra"
MODULE = INFRA / "modules" / "lambda_function"
CONFIG = yaml.safe_load((NOTES / "lambdashift.yaml").read_text())

# What each handler calls, and so the only DynamoDB action its role may have.
LEAST_PRIVILEGE = {
    "notes-create": ["dynamodb:PutItem"],
    "notes-get": ["dynamodb:GetItem"],
    "notes-list": ["dynamodb:Query"],
    "notes-update": ["dynamodb:UpdateItem"],
    "notes-delete": ["dynamodb:DeleteItem"],
}


def _plain(value: Any) -> Any:
    """python-hcl2 output without its markers: quoted literals unquoted, no __is_block__."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return _plain(hcl2.load(handle))


def blocks(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """Blocks of one kind: resource/data as {"type.name": body}, others as {name: body}."""
    found: dict[str, Any] = {}
    for entry in doc.get(kind, []):
        for first, body in entry.items():
            if kind in ("resource", "data"):
                for name, inner in body.items():
                    found[f"{first}.{name}"] = inner
            else:
                found[first] = body
    return found


def merged(directory: Path) -> dict[str, list[Any]]:
    """Every .tf file of a directory merged, as Terraform itself sees one module."""
    doc: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, entries in load(path).items():
            doc.setdefault(kind, []).extend(entries)
    return doc


def all_locals(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for entry in doc.get("locals", []):
        result.update(entry)
    return result


ROOT = merged(INFRA)
MOD = merged(MODULE)
# The service's functions; the controller's module (test_controller_infra.py) is the other one.
MODULES = {name: body for name, body in blocks(ROOT, "module").items()
           if body["source"] == "./modules/lambda_function"}
MODULE_BY_FUNCTION = {body["function_name"]: name for name, body in MODULES.items()}
ROOT_LOCALS = all_locals(ROOT)
RESOURCES = blocks(ROOT, "resource")
MOD_RESOURCES = blocks(MOD, "resource")


def test_terraform_fmt_check_passes() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform binary not on PATH")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_module_has_the_standard_files() -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (MODULE / name).is_file(), name
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "dynamodb.tf", "api.tf"):
        assert (INFRA / name).is_file(), name


# ---------------------------------------------------------------------------------------
# Functions: one module each, agreeing with lambdashift.yaml.


def test_one_module_per_function_of_lambdashift_yaml() -> None:
    assert sorted(MODULE_BY_FUNCTION) == sorted(CONFIG["functions"])
    assert len(MODULES) == len(CONFIG["functions"])
    others = {name: body["source"] for name, body in blocks(ROOT, "module").items()
              if name not in MODULES}
    assert others == {"controller": "./modules/controller"}


@pytest.mark.parametrize("function", sorted(CONFIG["functions"]))
def test_module_settings_match_lambdashift_yaml(function: str) -> None:
    spec = CONFIG["functions"][function]
    module = MODULES[MODULE_BY_FUNCTION[function]]
    assert module["handler"] == spec["handler"]
    assert module["runtime"] == spec["runtime"]
    assert module["timeout"] == spec["timeout"]
    assert module["memory_size"] == spec["memory"]
    assert module["filename"].endswith(f"/{function}.zip")
    assert module["environment_variables"] == "${local.environment}"
    environment = ROOT_LOCALS["environment"]
    assert set(environment) == set(spec["environment"])
    assert "aws_dynamodb_table.notes.name" in environment["TABLE_NAME"]
    assert spec["environment"]["TABLE_NAME"] in CONFIG["tables"]
    # Traffic comes from the `traffic` map, keyed by this function's name.
    for argument in ("live_version", "canary_version", "canary_weight"):
        assert f'var.traffic["{function}"]' in module[argument]
    assert module["traffic_managed_by"] == "${var.traffic_managed_by}"


# ---------------------------------------------------------------------------------------
# Least privilege.


@pytest.mark.parametrize("function", sorted(LEAST_PRIVILEGE))
def test_each_role_allows_only_its_handlers_dynamodb_actions(function: str) -> None:
    module = MODULES[MODULE_BY_FUNCTION[function]]
    assert module["dynamodb_actions"] == LEAST_PRIVILEGE[function]
    arns = module["dynamodb_resource_arns"]
    expected = "${local.index_arns}" if function == "notes-list" else "${local.table_arns}"
    assert arns == expected


def test_table_and_index_arns_name_the_notes_table_exactly() -> None:
    assert ROOT_LOCALS["table_arns"] == ["${aws_dynamodb_table.notes.arn}"]
    assert ROOT_LOCALS["index_arns"] == [
        "${aws_dynamodb_table.notes.arn}/index/${local.list_index_name}"
    ]


def test_the_module_policy_has_logs_and_the_given_dynamodb_actions_only() -> None:
    policy = blocks(MOD, "data")["aws_iam_policy_document.this"]
    statements = policy["statement"]
    assert len(statements) == 1
    logs = statements[0]
    assert logs["actions"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["resources"] == ["${aws_cloudwatch_log_group.this.arn}:*"]
    xray, dynamodb = (d["statement"] for d in policy["dynamic"])
    # X-Ray's two write actions take no resource ARN: the one "*" of the policy, and only
    # with active tracing.
    assert xray["for_each"] == '${var.tracing_mode == "Active" ? [1] : []}'
    assert xray["content"][0]["actions"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    assert xray["content"][0]["resources"] == ["*"]
    content = dynamodb["content"][0]
    assert content["actions"] == "${var.dynamodb_actions}"
    assert content["resources"] == "${var.dynamodb_resource_arns}"
    text = (MODULE / "main.tf").read_text()
    assert '"dynamodb:*"' not in text and text.count('"*"') == 1


def test_module_variables_refuse_wildcard_actions_and_resources() -> None:
    variables = blocks(MOD, "variable")
    assert "dynamodb:" in variables["dynamodb_actions"]["validation"][0]["condition"]
    assert '"*"' in variables["dynamodb_resource_arns"]["validation"][0]["condition"]


def test_role_policy_is_attached_to_the_functions_own_role() -> None:
    attachment = MOD_RESOURCES["aws_iam_role_policy.this"]
    assert attachment["role"] == "${aws_iam_role.this.id}"
    assert MOD_RESOURCES["aws_lambda_function.this"]["role"] == "${aws_iam_role.this.arn}"
    assert "aws_iam_role_policy_attachment" not in " ".join(MOD_RESOURCES)


# ---------------------------------------------------------------------------------------
# The Lambda module: publishing, aliases, logs.


def test_function_publishes_versions_from_the_packaged_zip() -> None:
    function = MOD_RESOURCES["aws_lambda_function.this"]
    assert function["publish"] is True
    assert function["filename"] == "${var.filename}"
    assert function["source_code_hash"] == "${local.source_code_hash}"
    assert "filebase64sha256(var.filename)" in all_locals(MOD)["source_code_hash"]


def test_log_group_has_retention() -> None:
    group = MOD_RESOURCES["aws_cloudwatch_log_group.this"]
    assert group["name"] == "/aws/lambda/${var.function_name}"
    assert group["retention_in_days"] == "${var.log_retention_in_days}"
    # checkov's CKV_AWS_338: a production service keeps its logs for a year.
    assert blocks(MOD, "variable")["log_retention_in_days"]["default"] >= 365
    assert blocks(ROOT, "variable")["log_retention_in_days"]["default"] >= 365


def test_functions_trace_with_xray_and_reserve_concurrency_by_default() -> None:
    function = MOD_RESOURCES["aws_lambda_function.this"]
    assert function["tracing_config"] == [{"mode": "${var.tracing_mode}"}]
    assert function["reserved_concurrent_executions"] == "${var.reserved_concurrency}"
    for doc in (MOD, ROOT):
        variables = blocks(doc, "variable")
        assert variables["tracing_mode"]["default"] == "Active"
        assert variables["reserved_concurrency"]["default"] > 0
    for name in LEAST_PRIVILEGE:
        module = blocks(ROOT, "module")[name.replace("-", "_")]
        assert module["tracing_mode"] == "${var.tracing_mode}"
        assert module["reserved_concurrency"] == "${var.reserved_concurrency}"


def test_routes_take_the_optional_jwt_authorizer() -> None:
    route = blocks(ROOT, "resource")["aws_apigatewayv2_route.notes"]
    assert route["authorization_type"] == '${var.jwt_authorizer == null ? "NONE" : "JWT"}'
    assert "aws_apigatewayv2_authorizer.jwt[0].id" in route["authorizer_id"]
    authorizer = blocks(ROOT, "resource")["aws_apigatewayv2_authorizer.jwt"]
    assert authorizer["authorizer_type"] == "JWT"
    assert blocks(ROOT, "variable")["jwt_authorizer"]["default"] is None


SKIP = re.compile(r"#checkov:skip=(CKV_[A-Z0-9_]+)(?::(.*))?")


def test_every_checkov_skip_gives_its_reason() -> None:
    """A finding is fixed or skipped in the HCL with a one-line reason, never silently."""
    skips = []
    for path in sorted(INFRA.rglob("*.tf")):
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in text:
                match = SKIP.search(text)
                assert match and len((match.group(2) or "").strip()) >= 20, f"{path}:{number}"
                skips.append(match.group(1))
    # What a production service may do without here; each reason sits beside its skip.
    # CKV_AWS_297 (the schedule's key) and CKV_AWS_356 (DescribeAlarms on "*") are the
    # controller's (modules/controller).
    assert sorted(set(skips)) == ["CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_119", "CKV_AWS_158",
                                  "CKV_AWS_173", "CKV_AWS_272", "CKV_AWS_297", "CKV_AWS_309",
                                  "CKV_AWS_356"]


def test_lambdashift_managed_alias_ignores_versions_and_weights() -> None:
    alias = MOD_RESOURCES["aws_lambda_alias.live_lambdashift"]
    assert alias["name"] == "${var.alias_name}"
    assert "lambdashift_manages_traffic ? 1 : 0" in alias["count"]
    [lifecycle] = alias["lifecycle"]
    assert sorted(lifecycle["ignore_changes"]) == ["function_version", "routing_config"]
    default = blocks(MOD, "variable")["traffic_managed_by"]["default"]
    assert default == "lambdashift"
    assert blocks(MOD, "variable")["alias_name"]["default"] == "live"


def test_terraform_managed_alias_follows_the_traffic_variables() -> None:
    alias = MOD_RESOURCES["aws_lambda_alias.live_terraform"]
    assert "lambdashift_manages_traffic ? 0 : 1" in alias["count"]
    assert "var.live_version" in alias["function_version"]
    assert "ignore_changes" not in alias.get("lifecycle", [{}])[0]
    weights = alias["dynamic"][0]["routing_config"]["content"][0]["additional_version_weights"]
    assert weights == {"${(var.canary_version)}": "${var.canary_weight}"}


def test_dev_alias_follows_the_latest_version() -> None:
    alias = MOD_RESOURCES["aws_lambda_alias.dev"]
    assert alias["function_version"] == "${aws_lambda_function.this.version}"
    assert blocks(MOD, "variable")["dev_alias_name"]["default"] == "dev"


def test_module_outputs_read_the_alias_resources() -> None:
    outputs = blocks(MOD, "output")
    for name in (
        "lambda_function_name",
        "lambda_function_arn",
        "lambda_function_latest_version",
        "live_alias_name",
        "live_alias_arn",
        "live_alias_invoke_arn",
        "live_alias_primary_version",
        "live_alias_canary_version",
        "live_alias_canary_weight",
        "dev_alias_name",
        "dev_alias_arn",
        "dev_alias_invoke_arn",
    ):
        assert outputs[name]["description"], name
    assert outputs["live_alias_name"]["value"] == "${local.live_alias.name}"
    live_alias = all_locals(MOD)["live_alias"]
    assert "aws_lambda_alias.live_lambdashift" in live_alias
    assert "aws_lambda_alias.live_terraform" in live_alias


@pytest.mark.parametrize("doc", [ROOT, MOD], ids=["root", "module"])
def test_every_variable_has_description_and_type(doc: dict[str, Any]) -> None:
    for name, variable in blocks(doc, "variable").items():
        assert variable.get("description"), name
        assert variable.get("type"), name


@pytest.mark.parametrize("doc", [ROOT, MOD], ids=["root", "module"])
def test_every_output_has_a_description(doc: dict[str, Any]) -> None:
    for name, output in blocks(doc, "output").items():
        assert output.get("description"), name


# ---------------------------------------------------------------------------------------
# The API: routes, integrations and permissions through the live aliases.


def test_routes_match_lambdashift_yaml() -> None:
    assert ROOT_LOCALS["routes"] == CONFIG["routes"]
    route = RESOURCES["aws_apigatewayv2_route.notes"]
    assert route["for_each"] == "${local.routes}"
    assert route["route_key"] == "${each.key}"
    assert "aws_apigatewayv2_integration.lambda[each.value].id" in route["target"]


def test_live_aliases_come_from_each_functions_module() -> None:
    aliases = ROOT_LOCALS["live_aliases"]
    assert sorted(aliases) == sorted(CONFIG["functions"])
    for function, alias in aliases.items():
        module = MODULE_BY_FUNCTION[function]
        assert alias["name"] == f"${{module.{module}.live_alias_name}}"
        assert alias["invoke_arn"] == f"${{module.{module}.live_alias_invoke_arn}}"
        assert alias["function_name"] == f"${{module.{module}.lambda_function_name}}"


def test_integrations_use_payload_2_0_and_the_live_alias_invoke_arn() -> None:
    integration = RESOURCES["aws_apigatewayv2_integration.lambda"]
    assert integration["for_each"] == "${local.live_aliases}"
    assert integration["integration_type"] == "AWS_PROXY"
    assert integration["payload_format_version"] == "2.0"
    assert integration["integration_uri"] == "${each.value.invoke_arn}"


def test_one_lambda_permission_per_route_through_the_alias_output_not_a_literal() -> None:
    permissions = {k: v for k, v in RESOURCES.items() if k.startswith("aws_lambda_permission.")}
    assert list(permissions) == ["aws_lambda_permission.api_invoke"]
    permission = permissions["aws_lambda_permission.api_invoke"]
    assert permission["for_each"] == "${local.routes}"
    # Every function has exactly one route, so one permission per function and alias.
    assert sorted(CONFIG["routes"].values()) == sorted(CONFIG["functions"])
    assert permission["qualifier"] == "${local.live_aliases[each.value].name}"
    assert permission["function_name"] == "${local.live_aliases[each.value].function_name}"
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert "aws_apigatewayv2_api.notes.execution_arn" in permission["source_arn"]
    assert not re.search(r'qualifier\s*=\s*"', (INFRA / "api.tf").read_text())


def test_default_stage_throttles_and_writes_access_logs() -> None:
    stage = RESOURCES["aws_apigatewayv2_stage.default"]
    assert stage["name"] == "$default"
    assert stage["auto_deploy"] is True
    settings = stage["default_route_settings"][0]
    assert settings["throttling_rate_limit"] == "${var.throttling_rate_limit}"
    assert settings["throttling_burst_limit"] == "${var.throttling_burst_limit}"
    logs = stage["access_log_settings"][0]
    assert logs["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    assert "$context.requestId" in logs["format"]
    assert RESOURCES["aws_cloudwatch_log_group.api_access"]["retention_in_days"]


# ---------------------------------------------------------------------------------------
# The table.


def test_table_matches_lambdashift_yaml_tables() -> None:
    spec = CONFIG["tables"]["notes"]
    table = RESOURCES["aws_dynamodb_table.notes"]
    assert blocks(ROOT, "variable")["table_name"]["default"] == "notes"
    assert table["billing_mode"] == spec["BillingMode"] == "PAY_PER_REQUEST"
    [hash_key] = [k["AttributeName"] for k in spec["KeySchema"] if k["KeyType"] == "HASH"]
    assert table["hash_key"] == hash_key
    assert not [k for k in spec["KeySchema"] if k["KeyType"] == "RANGE"]
    assert "range_key" not in table
    attributes = {a["name"]: a["type"] for a in table["attribute"]}
    declared = {a["AttributeName"]: a["AttributeType"] for a in spec["AttributeDefinitions"]}
    assert attributes == declared

    [index_spec] = spec["GlobalSecondaryIndexes"]
    [index] = table["global_secondary_index"]
    assert index["name"] == "${local.list_index_name}"
    assert ROOT_LOCALS["list_index_name"] == index_spec["IndexName"]
    keys = {k["KeyType"]: k["AttributeName"] for k in index_spec["KeySchema"]}
    assert index["hash_key"] == keys["HASH"]
    assert index["range_key"] == keys["RANGE"]
    assert index["projection_type"] == index_spec["Projection"]["ProjectionType"]


def test_table_has_point_in_time_recovery() -> None:
    table = RESOURCES["aws_dynamodb_table.notes"]
    assert table["point_in_time_recovery"][0]["enabled"] is True


def test_handlers_use_the_index_the_table_declares() -> None:
    common = (NOTES / "shared" / "notes_common.py").read_text()
    assert f'LIST_INDEX = "{ROOT_LOCALS["list_index_name"]}"' in common


# ---------------------------------------------------------------------------------------
# Versions, outputs, and the files lambdashift and operators fill in.


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.mark.parametrize("directory", [INFRA, MODULE], ids=["root", "module"])
def test_versions_are_pinned(directory: Path) -> None:
    [terraform] = load(directory / "versions.tf")["terraform"]
    required = terraform["required_version"]
    match = re.fullmatch(r">=\s*([0-9.]+)", required)
    assert match and _version_tuple(match.group(1)) >= (1, 10), required
    [providers] = terraform["required_providers"]
    aws = providers["aws"]
    assert aws["source"] == "hashicorp/aws"
    constraint = aws["version"].replace(" ", "")
    assert constraint in ("~>5.0", ">=5.0,<7.0", ">=5,<7"), aws["version"]


def test_root_outputs_api_url_and_traffic_per_function() -> None:
    outputs = blocks(ROOT, "output")
    assert "aws_apigatewayv2_stage.default.invoke_url" in outputs["api_url"]["value"]
    functions = outputs["functions"]["value"]
    for field in ("latest_version", "live_primary", "live_canary", "live_weight"):
        assert field in functions
    for function, module in MODULE_BY_FUNCTION.items():
        assert f"module.{module}" in functions, function


def test_traffic_example_matches_the_traffic_variable() -> None:
    example = json.loads((INFRA / "traffic.auto.tfvars.json.example").read_text())
    assert list(example) == ["traffic"]
    assert sorted(example["traffic"]) == sorted(CONFIG["functions"])
    for entry in example["traffic"].values():
        assert set(entry) == {"primary", "canary", "weight"}
        assert entry["primary"].isdigit()
        canary = entry["canary"]
        assert canary is None or (canary.isdigit() and canary != entry["primary"])
        assert 0 <= entry["weight"] <= 1
    variable = blocks(ROOT, "variable")["traffic"]
    for field in ("primary", "canary", "weight"):
        assert field in variable["type"]
    assert variable["default"] == {}


def test_backend_example_uses_s3_native_locking() -> None:
    [terraform] = load(INFRA / "backend.tf.example")["terraform"]
    [backend] = terraform["backend"]
    s3 = backend["s3"]
    assert s3["use_lockfile"] is True
    assert s3["encrypt"] is True
    assert "dynamodb_table" not in s3


def test_state_table_has_the_key_schema_the_dynamodb_store_uses() -> None:
    from lambdashift.store.dynamodb import ATTRIBUTES, KEY_SCHEMA
    from lambdashift.store.settings import DEFAULT_TABLE

    table = RESOURCES["aws_dynamodb_table.lambdashift_state"]
    keys = {k["KeyType"]: k["AttributeName"] for k in KEY_SCHEMA}
    assert (table["hash_key"], table["range_key"]) == (keys["HASH"], keys["RANGE"])
    assert {a["name"]: a["type"] for a in table["attribute"]} == {
        a["AttributeName"]: a["AttributeType"] for a in ATTRIBUTES}
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert blocks(ROOT, "variable")["state_table_name"]["default"] == DEFAULT_TABLE


def test_state_policy_grants_exactly_the_calls_the_dynamodb_store_makes() -> None:
    import re

    # The store reaches its table only through the AWS edge's wrapper: its calls are these.
    edge = Path(__file__).resolve().parents[2] / "src" / "lambdashift" / "aws"
    source = (edge / "dynamodb_table.py").read_text()
    called = set(re.findall(r"self\.client\.(\w+)\(", source))
    # TransactWriteItems is authorised by the actions of its parts (Put, Update, Delete);
    # CreateTable is for the local stack only (create=True), never on AWS.
    needed = {"dynamodb:" + "".join(p.capitalize() for p in m.split("_"))
              for m in called - {"transact_write_items", "create_table"}}
    [statement] = blocks(ROOT, "data")["aws_iam_policy_document.lambdashift_state"]["statement"]
    assert set(statement["actions"]) == needed
    assert statement["resources"] == ["${aws_dynamodb_table.lambdashift_state[0].arn}"]
