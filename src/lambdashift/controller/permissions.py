"""The AWS actions the controller calls: its role allows these and nothing else.

``controller install`` builds its inline policy from this table, and the Terraform module
(``examples/notes/infra/modules/controller``) must name the same actions (a test compares
them). Scoped by resource where the service allows: Lambda actions to the functions the
controller may manage, DynamoDB actions to the state table, Logs writes to its own group.
"""

from __future__ import annotations

__all__ = ["ACTIONS", "LOG_WRITE_ACTIONS", "all_actions"]

#: Service → actions, by what they serve.
ACTIONS: dict[str, tuple[str, ...]] = {
    # Aliases moved, versions listed, candidates invoked (gate, pre-warm, hooks), concurrency
    # read (pre-warm's limit), tags and functions listed (`select:` expansion).
    "lambda": (
        "lambda:GetAlias",
        "lambda:UpdateAlias",
        "lambda:ListVersionsByFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:GetFunctionConcurrency",
        "lambda:InvokeFunction",
        "lambda:ListTags",
    ),
    # Account-wide reads (no resource scoping exists for these).
    "lambda_account": (
        "lambda:GetAccountSettings",
        "lambda:ListFunctions",
    ),
    # The state store (store/dynamodb.py, dynamodb_coordination.py, ledger.py). Its
    # TransactWriteItems calls are authorised by their parts' actions (Put, Update, Delete;
    # AWS: "Using IAM with DynamoDB transactions"), so none of that name is listed (as in
    # the state table policy of examples/notes/infra/state.tf).
    "dynamodb": (
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
    ),
    # The judge's sources: CloudWatch metrics and alarms, or the functions' logs.
    "cloudwatch": (
        "cloudwatch:GetMetricData",
        "cloudwatch:DescribeAlarms",
    ),
    "logs_read": (
        "logs:FilterLogEvents",
    ),
}

#: The controller's own log group (what AWSLambdaBasicExecutionRole grants, scoped).
LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def all_actions() -> set[str]:
    """Every action the controller's role must allow."""
    return {a for actions in ACTIONS.values() for a in actions} | set(LOG_WRITE_ACTIONS)
