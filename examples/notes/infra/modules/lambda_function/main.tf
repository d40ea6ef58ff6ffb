# One Lambda function of the service, published as an immutable version on every code
# change, with its own least-privilege role and two aliases: `live` (what API Gateway
# invokes, whose traffic lambdashift shifts) and `dev` (always the latest version).

locals {
  lambdashift_manages_traffic = var.traffic_managed_by == "lambdashift"
  source_code_hash            = coalesce(var.source_code_hash, filebase64sha256(var.filename))
}

# The log group exists before the function, so Lambda never creates one without
# retention, and the role's log permission can name it exactly.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch encrypts every log group at rest; a customer KMS key adds a key policy to run and nothing the logs need
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_role" {
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
  description        = "Execution role of ${var.function_name}: its own log group and the DynamoDB actions it calls."
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # Active tracing sends segments to X-Ray; these two actions take no resource ARN.
  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []

    content {
      sid       = "XRayTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.dynamodb_actions) > 0 ? [1] : []

    content {
      sid       = "DynamoDB"
      actions   = var.dynamodb_actions
      resources = var.dynamodb_resource_arns
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:API Gateway invokes synchronously and gets the error back; a DLQ only ever receives asynchronous events
  #checkov:skip=CKV_AWS_117:the functions reach only DynamoDB and CloudWatch, public AWS endpoints; a VPC would add NAT or endpoints and no private resource
  #checkov:skip=CKV_AWS_173:the environment holds only the table name, no secret; Lambda encrypts it at rest with its AWS-managed key
  #checkov:skip=CKV_AWS_272:lambdashift package builds deterministic zips whose CodeSha256 is checked on publish; code signing needs an AWS Signer profile this example does not own
  function_name    = var.function_name
  description      = var.description
  role             = aws_iam_role.this.arn
  handler          = var.handler
  runtime          = var.runtime
  architectures    = var.architectures
  timeout          = var.timeout
  memory_size      = var.memory_size
  filename         = var.filename
  source_code_hash = local.source_code_hash
  # Every change of code or configuration becomes a new immutable version: the unit
  # lambdashift shifts traffic to. Nothing ever invokes $LATEST.
  publish = true

  # A ceiling per function: a traffic spike on one route cannot take the account's whole
  # concurrency from the others (null: no reservation, share the account's pool).
  reserved_concurrent_executions = var.reserved_concurrency

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "environment" {
    for_each = length(var.environment_variables) > 0 ? [1] : []

    content {
      variables = var.environment_variables
    }
  }

  tags = var.tags

  # The role must be able to write logs before the first invocation.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

# The live alias, when lambdashift shifts its traffic: Terraform creates it on the
# version just published and never touches its versions or weights again, so an apply
# in the middle of a rollout does not reset it.
resource "aws_lambda_alias" "live_lambdashift" {
  count = local.lambdashift_manages_traffic ? 1 : 0

  name             = var.alias_name
  description      = "Traffic managed by lambdashift."
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

# The live alias, when Terraform owns traffic (for instance after `lambdashift
# export-tfvars` handed the current split over in traffic.auto.tfvars.json).
resource "aws_lambda_alias" "live_terraform" {
  count = local.lambdashift_manages_traffic ? 0 : 1

  name             = var.alias_name
  description      = "Traffic managed by Terraform."
  function_name    = aws_lambda_function.this.function_name
  function_version = coalesce(var.live_version, aws_lambda_function.this.version)

  dynamic "routing_config" {
    for_each = var.canary_version != null && var.canary_weight > 0 ? [1] : []

    content {
      additional_version_weights = {
        (var.canary_version) = var.canary_weight
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.canary_version == null || var.canary_version != coalesce(var.live_version, aws_lambda_function.this.version)
      error_message = "canary_version must differ from the live (primary) version."
    }
  }
}

resource "aws_lambda_alias" "dev" {
  name             = var.dev_alias_name
  description      = "The latest published version, for internal tests."
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version
}

locals {
  live_alias = one(concat(aws_lambda_alias.live_lambdashift, aws_lambda_alias.live_terraform))
  # routing_config is a list of at most one block; no block means no canary.
  live_weights = try(one(local.live_alias.routing_config).additional_version_weights, {})
}
