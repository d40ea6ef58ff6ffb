"""The controller's Terraform module (examples/notes/infra/modules/controller).

Its role must allow exactly what the controller calls (``lambdashift.controller.permissions``)
and its function must carry the environment the handler reads (``controller.settings.ENV``).
Providers cannot be downloaded here, so the HCL is parsed with python-hcl2 (as in
``test_notes_infra.py``); the module's locals and variable validations, which use no
provider, are also evaluated for real with ``terraform console``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lambdashift.controller import permissions, settings
from lambdashift.controller.settings import ControllerSettings
from tests.unit.test_notes_infra import all_locals, blocks, merged

INFRA = Path(__file__).resolve().parents[2] / "examples" / "notes" / "infra"
MODULE = INFRA / "modules" / "controller"
MOD = merged(MODULE)
ROOT = merged(INFRA)
RESOURCES = blocks(MOD, "resource")
DATA = blocks(MOD, "data")
VARIABLES = blocks(MOD, "variable")
LOCALS = all_locals(MOD)
POLICY = {s["sid"]: s for s in DATA["aws_iam_policy_document.this"]["statement"]}
# Actions the Service Authorization Reference gives no resource type (so "*" is the only
# resource possible), and DescribeAlarms, whose composite alarms need "*" (its API reference).
ON_STAR = {"lambda:GetAccountSettings", "lambda:ListFunctions", "cloudwatch:GetMetricData",
           "cloudwatch:DescribeAlarms"}


def statements() -> list[dict[str, Any]]:
    """Every statement of every IAM policy document of the module."""
    return [s for name, doc in DATA.items() if name.startswith("aws_iam_policy_document.")
            for s in doc["statement"]]


# ---------------------------------------------------------------------------------------
# The execution role: exactly the controller's actions, each as narrow as AWS allows.


def test_the_module_has_the_standard_files() -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (MODULE / name).is_file(), name


def test_role_policy_names_exactly_the_actions_of_controller_permissions() -> None:
    named = [a for s in POLICY.values() for a in s["actions"]]
    assert len(named) == len(set(named)), "an action is allowed twice"
    assert set(named) == permissions.all_actions()


def test_each_statement_holds_one_group_of_controller_permissions() -> None:
    groups = {
        "ManagedFunctions": permissions.ACTIONS["lambda"],
        "AccountWideLambdaReads": permissions.ACTIONS["lambda_account"],
        "StateTable": permissions.ACTIONS["dynamodb"],
        "JudgeMetricsAndAlarms": permissions.ACTIONS["cloudwatch"],
        "JudgeLogs": permissions.ACTIONS["logs_read"],
        "WriteOwnLogs": permissions.LOG_WRITE_ACTIONS,
    }
    assert {sid: sorted(s["actions"]) for sid, s in POLICY.items()} == {
        sid: sorted(actions) for sid, actions in groups.items()}


def test_no_policy_of_the_module_allows_a_wildcard_action() -> None:
    actions = [a for s in statements() for a in s["actions"]]
    assert actions and not [a for a in actions if "*" in a]
    assert all(s.get("effect", "Allow") == "Allow" for s in statements())


def test_resource_star_only_for_actions_that_cannot_be_scoped() -> None:
    on_star = {a for s in POLICY.values() if s["resources"] == ["*"] for a in s["actions"]}
    assert on_star == ON_STAR
    for s in POLICY.values():
        assert s["resources"] == ["*"] or "*" not in s["resources"], s["sid"]
    # The one restrictable action among them is skipped in checkov with its reason.
    text = (MODULE / "main.tf").read_text()
    assert re.search(r"#checkov:skip=CKV_AWS_356:.*cloudwatch:DescribeAlarms", text)


def test_lambda_actions_are_scoped_to_the_managed_functions_and_their_qualifiers() -> None:
    assert POLICY["ManagedFunctions"]["resources"] == "${local.managed_function_arns}"
    arns = LOCALS["managed_function_arns"]
    assert "function:${m[3]}" in arns and "function:${m[3]}:*" in arns
    assert "for f in var.managed_functions" in LOCALS["managed"]
    assert "default" not in VARIABLES["managed_functions"], "no silent default scope"


def test_dynamodb_actions_only_on_the_state_table_the_root_module_defines() -> None:
    assert POLICY["StateTable"]["resources"] == ["${var.state_table_arn}"]
    module = blocks(ROOT, "module")["controller"]
    assert module["state_table_arn"] == "${aws_dynamodb_table.lambdashift_state[0].arn}"
    assert module["state_table_name"] == "${aws_dynamodb_table.lambdashift_state[0].name}"
    # The module creates no table of its own: the state table is defined once (state.tf).
    assert not [r for r in RESOURCES if r.startswith("aws_dynamodb_table.")]


def test_the_controller_and_a_ci_runner_get_the_same_state_table_actions() -> None:
    [statement] = blocks(ROOT, "data")["aws_iam_policy_document.lambdashift_state"]["statement"]
    assert set(statement["actions"]) == set(permissions.ACTIONS["dynamodb"])


def test_log_reads_on_the_managed_functions_groups_and_writes_on_its_own() -> None:
    assert POLICY["JudgeLogs"]["resources"] == "${local.managed_log_group_arns}"
    assert "log-group:/aws/lambda/${m[3]}" in LOCALS["managed_log_group_arns"]
    assert POLICY["WriteOwnLogs"]["resources"] == ["${aws_cloudwatch_log_group.this.arn}:*"]


def test_the_role_policy_is_inline_on_the_functions_own_role() -> None:
    assert RESOURCES["aws_iam_role_policy.this"]["role"] == "${aws_iam_role.this.id}"
    assert RESOURCES["aws_lambda_function.this"]["role"] == "${aws_iam_role.this.arn}"
    assert not [r for r in RESOURCES if r.startswith("aws_iam_role_policy_attachment.")]
    [trust] = DATA["aws_iam_policy_document.assume_lambda"]["statement"]
    assert trust["principals"] == [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]


# ---------------------------------------------------------------------------------------
# The schedule and its role.


def test_the_scheduler_role_can_only_invoke_the_controller_function() -> None:
    [statement] = DATA["aws_iam_policy_document.scheduler"]["statement"]
    assert statement["actions"] == ["lambda:InvokeFunction"]
    assert statement["resources"] == ["${aws_lambda_function.this.arn}"]
    policy = RESOURCES["aws_iam_role_policy.scheduler"]
    assert policy["role"] == "${aws_iam_role.scheduler.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.scheduler.json}"


def test_only_this_accounts_schedules_may_assume_the_scheduler_role() -> None:
    [trust] = DATA["aws_iam_policy_document.assume_scheduler"]["statement"]
    assert trust["principals"] == [{"type": "Service",
                                    "identifiers": ["scheduler.amazonaws.com"]}]
    conditions = {c["variable"]: c["values"] for c in trust["condition"]}
    assert conditions == {"aws:SourceAccount": ["${local.account}"],
                          "aws:SourceArn": ["${local.schedule_group_arn}"]}
    # Scheduler sets aws:SourceArn to the schedule group's ARN; a schedule's would never match.
    assert ":schedule-group/default" in LOCALS["schedule_group_arn"]


def test_the_schedule_invokes_the_controller_every_minute_on_time() -> None:
    schedule = RESOURCES["aws_scheduler_schedule.this"]
    assert VARIABLES["schedule_expression"]["default"] == settings.DEFAULT_RATE
    assert VARIABLES["schedule_name"]["default"] == settings.DEFAULT_SCHEDULE
    assert schedule["flexible_time_window"] == [{"mode": "OFF"}]
    [target] = schedule["target"]
    assert target["arn"] == "${aws_lambda_function.this.arn}"
    assert target["role_arn"] == "${aws_iam_role.scheduler.arn}"
    # A missed tick is made up by the next one: no retry to overlap it.
    assert target["retry_policy"] == [{"maximum_retry_attempts": 0,
                                       "maximum_event_age_in_seconds": 60}]


# ---------------------------------------------------------------------------------------
# The function: settings.py's contract.


def test_function_runs_the_controller_handler_from_the_packaged_zip() -> None:
    function = RESOURCES["aws_lambda_function.this"]
    assert LOCALS["handler"] == settings.HANDLER
    assert LOCALS["runtime"] == settings.RUNTIME
    assert function["handler"] == "${local.handler}"
    assert function["runtime"] == "${local.runtime}"
    assert function["filename"] == "${var.package_path}"
    assert function["source_code_hash"] == "${filebase64sha256(var.package_path)}"
    assert function["timeout"] == "${var.timeout}"
    assert VARIABLES["timeout"]["default"] == settings.DEFAULT_TIMEOUT
    assert VARIABLES["margin"]["default"] == settings.DEFAULT_MARGIN
    assert VARIABLES["memory_size"]["default"] == 512
    assert VARIABLES["function_name"]["default"] == settings.DEFAULT_FUNCTION


def test_environment_variable_names_are_those_of_settings_env() -> None:
    [environment] = RESOURCES["aws_lambda_function.this"]["environment"]
    names = set(environment["variables"])
    assert names <= set(settings.ENV.values())
    # On AWS: everything ControllerSettings.environment() writes, no local-stack endpoint.
    on_aws = ControllerSettings(namespace="aws:eu-west-1", table="t", region="eu-west-1")
    assert names == set(on_aws.environment())
    assert environment["variables"][settings.ENV["namespace"]] == "aws:${local.region}"


def test_reserved_concurrency_caps_the_ticks_without_queueing_a_detach() -> None:
    function = RESOURCES["aws_lambda_function.this"]
    assert function["reserved_concurrent_executions"] == "${var.reserved_concurrency}"
    # One tick a minute, each alive for up to the timeout, plus detach invokes.
    assert VARIABLES["reserved_concurrency"]["default"] >= settings.DEFAULT_TIMEOUT // 60
    assert ">= 2" in VARIABLES["reserved_concurrency"]["validation"][0]["condition"]
    config = RESOURCES["aws_lambda_function_event_invoke_config.this"]
    assert config["maximum_retry_attempts"] == 0


def test_the_log_group_exists_first_and_has_retention() -> None:
    group = RESOURCES["aws_cloudwatch_log_group.this"]
    assert group["name"] == "/aws/lambda/${var.function_name}"
    assert group["retention_in_days"] == "${var.log_retention_in_days}"
    assert VARIABLES["log_retention_in_days"]["default"] == 30
    function = RESOURCES["aws_lambda_function.this"]
    assert "${aws_cloudwatch_log_group.this}" in function["depends_on"]
    # The root module keeps the controller's decisions as long as its functions' logs.
    module = blocks(ROOT, "module")["controller"]
    assert module["log_retention_in_days"] == "${var.log_retention_in_days}"


def test_every_variable_and_output_is_described() -> None:
    for name, variable in VARIABLES.items():
        assert variable.get("description") and variable.get("type"), name
    outputs = blocks(MOD, "output")
    assert {"lambda_function_name", "lambda_function_arn", "lambda_role_arn",
            "schedule_arn"} <= set(outputs)
    for name, output in outputs.items():
        assert output.get("description"), name


# ---------------------------------------------------------------------------------------
# The root module: off by default, on for the service's own functions.


def test_the_root_modules_controller_is_off_by_default() -> None:
    variables = blocks(ROOT, "variable")
    assert variables["controller_enabled"]["default"] is False
    module = blocks(ROOT, "module")["controller"]
    assert module["source"] == "./modules/controller"
    assert module["count"] == "${var.controller_enabled ? 1 : 0}"
    assert "var.controller_package_path" in module["package_path"]
    # Everything the module creates hangs off that count: the root names its outputs only
    # through a for over the (possibly empty) list of instances.
    output = blocks(ROOT, "output")["controller"]["value"]
    assert "for c in module.controller" in output


def test_the_root_module_lets_the_controller_manage_the_services_functions_only() -> None:
    module = blocks(ROOT, "module")["controller"]
    assert module["managed_functions"] == "${local.controller_functions}"
    services = sorted(name for name, body in blocks(ROOT, "module").items()
                      if body["source"] == "./modules/lambda_function")
    assert sorted(all_locals(ROOT)["controller_functions"]) == sorted(
        f"${{module.{name}.lambda_function_name}}" for name in services)


# ---------------------------------------------------------------------------------------
# What Terraform itself computes: the module's locals and validations (no provider needed).

REQUIRED = {"package_path": "controller.zip", "state_table_name": "lambdashift-state",
            "state_table_arn": "arn:aws:dynamodb:eu-west-1:111122223333:table/lambdashift-state"}
# The data sources' values, as an account in eu-west-1 would give them.
DATA_VALUES = {"data.aws_partition.current.partition": '"aws"',
               "data.aws_region.current.name": '"eu-west-1"',
               "data.aws_caller_identity.current.account_id": '"111122223333"'}


def _braced(text: str, opening: str) -> str:
    """``opening`` and the balanced ``{...}`` that follows it."""
    start = text.index(opening)
    depth = 0
    for i in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
    raise AssertionError(f"unbalanced {opening!r}")


def console(tmp_path: Path, files: dict[str, str], expression: str,
            tfvars: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``terraform console`` on ``files`` with ``tfvars``: prints ``expression``."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform binary not on PATH")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "test.auto.tfvars.json").write_text(json.dumps(tfvars))
    return subprocess.run([terraform, "console", "-no-color"], input=expression, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def module_console(tmp_path: Path, expression: str,
                   **tfvars: Any) -> subprocess.CompletedProcess[str]:
    """``expression`` (as JSON) on the module's variables and locals, data sources replaced."""
    main = (MODULE / "main.tf").read_text()
    locals_block = _braced(main, "locals {")
    environment = _braced(main, "variables = {")[len("variables = "):]
    for reference, value in DATA_VALUES.items():
        locals_block = locals_block.replace(reference, value)
    files = {"variables.tf": (MODULE / "variables.tf").read_text(),
             "locals.tf": locals_block + "\nlocals {\n  environment = " + environment + "\n}\n"}
    return console(tmp_path, files, f"jsonencode({expression})", {**REQUIRED, **tfvars})


def module_value(tmp_path: Path, expression: str, **tfvars: Any) -> Any:
    """What ``expression`` evaluates to in the module."""
    result = module_console(tmp_path, expression, **tfvars)
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout))


def refused(result: subprocess.CompletedProcess[str], variable: str) -> bool:
    """True when Terraform refused ``variable``'s value by its validation (console exits 0
    even then: the error on stderr says it)."""
    return ("Error: Invalid value for variable" in result.stderr
            and f"var.{variable} is " in result.stderr)


def test_managed_names_and_arns_become_function_and_qualifier_arns(tmp_path: Path) -> None:
    other = "arn:aws:lambda:us-east-1:444455556666:function:billing"
    arns, logs, schedule = module_value(
        tmp_path,
        "[local.managed_function_arns, local.managed_log_group_arns, local.schedule_group_arn]",
        managed_functions=["notes-*", other])
    assert arns == ["arn:aws:lambda:eu-west-1:111122223333:function:notes-*",
                    "arn:aws:lambda:eu-west-1:111122223333:function:notes-*:*",
                    other, other + ":*"]
    assert logs == ["arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/notes-*",
                    "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/notes-*:*",
                    "arn:aws:logs:us-east-1:444455556666:log-group:/aws/lambda/billing",
                    "arn:aws:logs:us-east-1:444455556666:log-group:/aws/lambda/billing:*"]
    assert schedule == "arn:aws:scheduler:eu-west-1:111122223333:schedule-group/default"


def test_the_functions_environment_is_read_back_by_controller_settings(tmp_path: Path) -> None:
    other = "arn:aws:lambda:us-east-1:444455556666:function:billing"
    environment = module_value(tmp_path, "local.environment",
                                 managed_functions=["notes-*", other], margin=90)
    read = ControllerSettings.from_env({**environment, "AWS_REGION": "eu-west-1"})
    assert read == ControllerSettings(namespace="aws:eu-west-1", table="lambdashift-state",
                                      region="eu-west-1", margin=90.0,
                                      functions=("notes-*", "billing"))
    assert read.manages("notes-get") and read.manages("billing") and not read.manages("other")


@pytest.mark.parametrize("value", [["*"], [], ["notes-[ab]"], ["notes-get:live"],
                                   ["arn:aws:lambda:eu-west-1:1:function:x"]],
                         ids=["star-alone", "empty", "fnmatch-class", "qualified", "bad-arn"])
def test_managed_functions_refuses_what_iam_and_fnmatch_would_read_apart(
        tmp_path: Path, value: list[str]) -> None:
    result = module_console(tmp_path, "var.managed_functions", managed_functions=value)
    assert refused(result, "managed_functions"), result.stderr


def test_managed_functions_takes_names_globs_and_function_arns(tmp_path: Path) -> None:
    value = ["notes-get", "notes-?ist", "svc_*", "arn:aws:lambda:eu-west-1:111122223333:function:x"]
    assert module_value(tmp_path, "var.managed_functions", managed_functions=value) == value


@pytest.mark.parametrize(("name", "value"), [("reserved_concurrency", 1), ("margin", 900),
                                             ("timeout", 901)])
def test_settings_that_would_stall_the_controller_are_refused(
        tmp_path: Path, name: str, value: int) -> None:
    result = module_console(tmp_path, f"var.{name}", managed_functions=["notes-*"],
                            **{name: value})
    assert refused(result, name), result.stderr


def test_the_root_refuses_the_controller_without_a_state_table(tmp_path: Path) -> None:
    files = {"variables.tf": (INFRA / "variables.tf").read_text()}
    without = console(tmp_path, files, "var.controller_enabled",
                      {"controller_enabled": True, "state_table_name": None})
    assert refused(without, "controller_enabled"), without.stderr
    assert "needs the team state table" in " ".join(without.stderr.split())
    accepted = console(tmp_path, files, "var.controller_enabled", {"controller_enabled": True})
    assert accepted.returncode == 0 and accepted.stdout.strip() == "true", accepted.stderr
