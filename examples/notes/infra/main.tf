# The notes service on AWS: five functions, each with only the DynamoDB action it calls,
# behind an HTTP API (api.tf) on one table (dynamodb.tf). lambdashift.yaml describes the
# same functions for the local stack; tests/unit/test_notes_infra.py keeps the two in step.

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

locals {
  package_dir = coalesce(var.package_dir, "${path.root}/../.lambdashift/packages")
  environment = { TABLE_NAME = aws_dynamodb_table.notes.name }
  # The list reads the index only; every other handler touches the table only.
  table_arns = [aws_dynamodb_table.notes.arn]
  index_arns = ["${aws_dynamodb_table.notes.arn}/index/${local.list_index_name}"]
}

module "notes_create" {
  source = "./modules/lambda_function"

  function_name          = "notes-create"
  description            = "POST /notes: store a new note."
  filename               = "${local.package_dir}/notes-create.zip"
  handler                = "index.handler"
  runtime                = "python3.12"
  timeout                = 10
  memory_size            = 128
  environment_variables  = local.environment
  dynamodb_actions       = ["dynamodb:PutItem"]
  dynamodb_resource_arns = local.table_arns
  log_retention_in_days  = var.log_retention_in_days
  tracing_mode           = var.tracing_mode
  reserved_concurrency   = var.reserved_concurrency
  traffic_managed_by     = var.traffic_managed_by
  live_version           = try(var.traffic["notes-create"].primary, null)
  canary_version         = try(var.traffic["notes-create"].canary, null)
  canary_weight          = try(var.traffic["notes-create"].weight, 0)
}

module "notes_get" {
  source = "./modules/lambda_function"

  function_name          = "notes-get"
  description            = "GET /notes/{id}: read one note."
  filename               = "${local.package_dir}/notes-get.zip"
  handler                = "index.handler"
  runtime                = "python3.12"
  timeout                = 10
  memory_size            = 128
  environment_variables  = local.environment
  dynamodb_actions       = ["dynamodb:GetItem"]
  dynamodb_resource_arns = local.table_arns
  log_retention_in_days  = var.log_retention_in_days
  tracing_mode           = var.tracing_mode
  reserved_concurrency   = var.reserved_concurrency
  traffic_managed_by     = var.traffic_managed_by
  live_version           = try(var.traffic["notes-get"].primary, null)
  canary_version         = try(var.traffic["notes-get"].canary, null)
  canary_weight          = try(var.traffic["notes-get"].weight, 0)
}

module "notes_list" {
  source = "./modules/lambda_function"

  function_name          = "notes-list"
  description            = "GET /notes: one page of notes, newest first, from the by-created index."
  filename               = "${local.package_dir}/notes-list.zip"
  handler                = "index.handler"
  runtime                = "python3.12"
  timeout                = 10
  memory_size            = 128
  environment_variables  = local.environment
  dynamodb_actions       = ["dynamodb:Query"]
  dynamodb_resource_arns = local.index_arns
  log_retention_in_days  = var.log_retention_in_days
  tracing_mode           = var.tracing_mode
  reserved_concurrency   = var.reserved_concurrency
  traffic_managed_by     = var.traffic_managed_by
  live_version           = try(var.traffic["notes-list"].primary, null)
  canary_version         = try(var.traffic["notes-list"].canary, null)
  canary_weight          = try(var.traffic["notes-list"].weight, 0)
}

module "notes_update" {
  source = "./modules/lambda_function"

  function_name          = "notes-update"
  description            = "PUT /notes/{id}: change an existing note."
  filename               = "${local.package_dir}/notes-update.zip"
  handler                = "index.handler"
  runtime                = "python3.12"
  timeout                = 10
  memory_size            = 128
  environment_variables  = local.environment
  dynamodb_actions       = ["dynamodb:UpdateItem"]
  dynamodb_resource_arns = local.table_arns
  log_retention_in_days  = var.log_retention_in_days
  tracing_mode           = var.tracing_mode
  reserved_concurrency   = var.reserved_concurrency
  traffic_managed_by     = var.traffic_managed_by
  live_version           = try(var.traffic["notes-update"].primary, null)
  canary_version         = try(var.traffic["notes-update"].canary, null)
  canary_weight          = try(var.traffic["notes-update"].weight, 0)
}

module "notes_delete" {
  source = "./modules/lambda_function"

  function_name          = "notes-delete"
  description            = "DELETE /notes/{id}: remove a note."
  filename               = "${local.package_dir}/notes-delete.zip"
  handler                = "index.handler"
  runtime                = "python3.12"
  timeout                = 10
  memory_size            = 128
  environment_variables  = local.environment
  dynamodb_actions       = ["dynamodb:DeleteItem"]
  dynamodb_resource_arns = local.table_arns
  log_retention_in_days  = var.log_retention_in_days
  tracing_mode           = var.tracing_mode
  reserved_concurrency   = var.reserved_concurrency
  traffic_managed_by     = var.traffic_managed_by
  live_version           = try(var.traffic["notes-delete"].primary, null)
  canary_version         = try(var.traffic["notes-delete"].canary, null)
  canary_weight          = try(var.traffic["notes-delete"].weight, 0)
}
