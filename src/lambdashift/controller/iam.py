"""The controller's IAM documents: its execution role's policy and the scheduler's.

Plain data from :mod:`lambdashift.controller.permissions`, scoped by resource wherever the
service allows it, so that ``controller install`` grants nothing the controller does not call:

* Lambda actions on the functions it may manage (``--functions`` globs), their versions and
  aliases (``NAME:*``), and nothing else; the two account-wide reads on ``*`` (they have no
  resource);
* DynamoDB actions on the state table only;
* CloudWatch reads (GetMetricData and DescribeAlarms take no useful resource) on ``*``; the
  logs the judge reads (FilterLogEvents) on the managed functions' log groups only;
* log writes to the controller's own log group only (install creates the group, so the role
  needs no CreateLogGroup).

The scheduler's role may invoke the controller function and nothing else, and only EventBridge
Scheduler of the same account may assume it (``aws:SourceAccount``: the confused deputy).
"""

from __future__ import annotations

from typing import Any

from lambdashift.controller.permissions import ACTIONS, LOG_WRITE_ACTIONS

__all__ = ["execution_policy", "partition", "policy_actions", "scheduler_policy",
           "trust_policy"]

_VERSION = "2012-10-17"


def partition(region: str) -> str:
    """The ARN partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def trust_policy(service: str, account: str | None = None) -> dict[str, Any]:
    """A role that ``service`` (``lambda.amazonaws.com``) may assume, for ``account`` only."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service},
                                 "Action": "sts:AssumeRole"}
    if account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": _VERSION, "Statement": [statement]}


def execution_policy(*, region: str, account: str, function: str, table: str,
                     functions: tuple[str, ...]) -> dict[str, Any]:
    """The controller role's inline policy: every action of ``permissions``, scoped."""
    part = partition(region)
    lam = f"arn:{part}:lambda:{region}:{account}:function"
    logs = f"arn:{part}:logs:{region}:{account}:log-group"
    table_arn = f"arn:{part}:dynamodb:{region}:{account}:table/{table}"
    managed = [arn for glob in functions for arn in (f"{lam}:{glob}", f"{lam}:{glob}:*")]
    managed_logs = [arn for glob in functions
                    for arn in (f"{logs}:/aws/lambda/{glob}", f"{logs}:/aws/lambda/{glob}:*")]
    statements = [
        ("ManagedFunctions", ACTIONS["lambda"], managed),
        ("AccountReads", ACTIONS["lambda_account"], ["*"]),
        ("StateTable", ACTIONS["dynamodb"], [table_arn]),
        ("JudgeMetrics", ACTIONS["cloudwatch"], ["*"]),
        ("JudgeLogs", ACTIONS["logs_read"], managed_logs),
        ("OwnLogs", LOG_WRITE_ACTIONS, [f"{logs}:/aws/lambda/{function}:*"]),
    ]
    return {"Version": _VERSION, "Statement": [
        {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
        for sid, actions, resources in statements]}


def scheduler_policy(function_arn: str) -> dict[str, Any]:
    """The schedule's role: invoke the controller function, nothing else."""
    return {"Version": _VERSION, "Statement": [{
        "Sid": "InvokeController", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
        "Resource": [function_arn]}]}


def policy_actions(document: dict[str, Any]) -> set[str]:
    """Every action an Allow statement of ``document`` names."""
    found: set[str] = set()
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        found |= {actions} if isinstance(actions, str) else set(actions)
    return found
