# lambdashift's controller: lambdashift itself as a Lambda function, started every minute by
# EventBridge Scheduler (and at once by `deploy --detach`), that adopts and drives the
# rollouts no CLI process drives any more. Its role names exactly the actions of
# src/lambdashift/controller/permissions.py (tests/unit/test_controller_infra.py compares
# them); the state table is the root module's, passed in, so there is one definition of it.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  # src/lambdashift/controller/settings.py: HANDLER and RUNTIME.
  handler = "lambdashift.controller.handler.handler"
  runtime = "python3.11"

  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  # Each managed function as [partition, region, account, name]: a bare name or glob is in
  # this account and region, an ARN says where it is.
  managed = [
    for f in var.managed_functions : startswith(f, "arn:")
    ? [split(":", f)[1], split(":", f)[3], split(":", f)[4], split(":", f)[6]]
    : [local.partition, local.region, local.account, f]
  ]
  managed_names = [for m in local.managed : m[3]]
  # The function itself and every version and alias of it (NAME:QUALIFIER): the controller
  # reads and moves aliases and invokes candidate versions.
  managed_function_arns = flatten([
    for m in local.managed : [
      "arn:${m[0]}:lambda:${m[1]}:${m[2]}:function:${m[3]}",
      "arn:${m[0]}:lambda:${m[1]}:${m[2]}:function:${m[3]}:*",
    ]
  ])
  # The judge's log source reads /aws/lambda/NAME of the functions it releases, nothing else.
  managed_log_group_arns = flatten([
    for m in local.managed : [
      "arn:${m[0]}:logs:${m[1]}:${m[2]}:log-group:/aws/lambda/${m[3]}",
      "arn:${m[0]}:logs:${m[1]}:${m[2]}:log-group:/aws/lambda/${m[3]}:*",
    ]
  ])

  # The schedule's group: Scheduler assumes the role with aws:SourceArn = the group's ARN
  # (never the schedule's: AWS, "Confused deputy prevention in EventBridge Scheduler"). The
  # default group, where `lambdashift controller status` looks for the schedule by name.
  schedule_group_arn = "arn:${local.partition}:scheduler:${local.region}:${local.account}:schedule-group/default"
}

# The log group exists before the function, so Lambda never creates one without retention,
# and the role's log permission can name it exactly.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch encrypts every log group at rest; a customer KMS key adds a key policy to run and nothing the logs need
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-lambda"
  description        = "Execution role of lambdashift's controller: the managed functions, the state table, the judge's reads and its own log group."
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_356:the only restrictable action on "*" is cloudwatch:DescribeAlarms, which returns composite alarms (the judge asks for both types) only when scoped to "*"

  # permissions.ACTIONS["lambda"]: aliases read and moved, versions listed, candidates
  # invoked (gate, pre-warm, hooks), concurrency and tags read; only on managed functions.
  statement {
    sid = "ManagedFunctions"
    actions = [
      "lambda:GetAlias",
      "lambda:UpdateAlias",
      "lambda:ListVersionsByFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionConcurrency",
      "lambda:InvokeFunction",
      "lambda:ListTags",
    ]
    resources = local.managed_function_arns
  }

  # permissions.ACTIONS["lambda_account"]: these two take no resource ARN at all (the
  # account's unreserved concurrency; the function list `select:` expands over).
  statement {
    sid       = "AccountWideLambdaReads"
    actions   = ["lambda:GetAccountSettings", "lambda:ListFunctions"]
    resources = ["*"]
  }

  # permissions.ACTIONS["dynamodb"]: the state store, on its table only (no index is read).
  statement {
    sid = "StateTable"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:Query",
      "dynamodb:BatchGetItem",
    ]
    resources = [var.state_table_arn]
  }

  # permissions.ACTIONS["cloudwatch"]: GetMetricData takes no resource ARN; DescribeAlarms
  # could name alarms, but returns composite alarms only when allowed on "*".
  statement {
    sid       = "JudgeMetricsAndAlarms"
    actions   = ["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"]
    resources = ["*"]
  }

  # permissions.ACTIONS["logs_read"]: the judge's log source, on the managed functions' groups.
  statement {
    sid       = "JudgeLogs"
    actions   = ["logs:FilterLogEvents"]
    resources = local.managed_log_group_arns
  }

  # permissions.LOG_WRITE_ACTIONS: its own decisions, to its own log group.
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:a tick's event carries nothing (the rollouts are in the state table) and the next tick redoes a lost one within a minute; a DLQ would only collect empty events
  #checkov:skip=CKV_AWS_117:the controller reaches only Lambda, DynamoDB, CloudWatch and webhook URLs, public endpoints; a VPC would add NAT or endpoints and no private resource
  #checkov:skip=CKV_AWS_173:the environment holds only the namespace, table name, margin and function globs, no secret; Lambda encrypts it at rest with its AWS-managed key
  #checkov:skip=CKV_AWS_272:lambdashift controller package builds a deterministic zip whose hash Terraform checks; code signing needs an AWS Signer profile this example does not own
  function_name    = var.function_name
  description      = "lambdashift controller: adopts and drives detached and orphaned rollouts."
  role             = aws_iam_role.this.arn
  handler          = local.handler
  runtime          = local.runtime
  timeout          = var.timeout
  memory_size      = var.memory_size
  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)

  # Not null by default: see the variable. Never 1: a detached rollout would wait for a tick.
  reserved_concurrent_executions = var.reserved_concurrency

  # PassThrough: the controller's own calls are not traced (the role has no X-Ray action,
  # it names exactly what the controller calls), but a caller's trace passes through.
  tracing_config {
    mode = "PassThrough"
  }

  # src/lambdashift/controller/settings.py ENV (the local-stack endpoints stay unset on AWS).
  environment {
    variables = {
      LAMBDASHIFT_NAMESPACE            = "aws:${local.region}"
      LAMBDASHIFT_STATE_TABLE          = var.state_table_name
      LAMBDASHIFT_CONTROLLER_MARGIN    = tostring(var.margin)
      LAMBDASHIFT_CONTROLLER_FUNCTIONS = join(",", local.managed_names)
    }
  }

  tags = var.tags

  # The role must be able to write logs before the first tick.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

# Asynchronous invokes (the schedule's and `deploy --detach`'s): a failed or throttled tick
# is not retried, and an event older than a minute is dropped, because the next scheduled
# tick finds the same rollouts in the state table anyway.
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}

# The schedule's role may invoke the controller function, nothing else, and only this
# account's schedules (of the default group) may assume it.
data "aws_iam_policy_document" "assume_scheduler" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.schedule_group_arn]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.schedule_name}-scheduler"
  description        = "EventBridge Scheduler's role for ${var.schedule_name}: invoke the controller function only."
  assume_role_policy = data.aws_iam_policy_document.assume_scheduler.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeController"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-controller"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:the schedule holds only the function's ARN and the rate, no data; Scheduler encrypts it with an AWS-owned key
  name                = var.schedule_name
  description         = "Starts a tick of ${var.function_name}."
  schedule_expression = var.schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"

  # On the minute, not spread over a window: the tick is the controller's heartbeat.
  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this.arn
    role_arn = aws_iam_role.scheduler.arn

    # A tick missed is made up by the next one; retrying it would only overlap it.
    retry_policy {
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 60
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}
