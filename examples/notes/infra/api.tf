# The HTTP API: each route invokes its function through the function's live alias, so
# lambdashift moves traffic by changing the alias, never the API.

locals {
  # Route key -> function, as in lambdashift.yaml's `routes:`.
  routes = {
    "POST /notes"        = "notes-create"
    "GET /notes"         = "notes-list"
    "GET /notes/{id}"    = "notes-get"
    "PUT /notes/{id}"    = "notes-update"
    "DELETE /notes/{id}" = "notes-delete"
  }

  # "GET /notes/{id}" -> "GET/notes/*": the method and path of an execute-api source ARN,
  # each path parameter matching any one segment.
  route_arn_paths = {
    for key in keys(local.routes) : key => replace(replace(key, " ", ""), "/\\{[^}]+\\}/", "*")
  }

  # Function -> its live alias, from the alias resources themselves (module outputs):
  # whatever refers to an alias then waits until Terraform has created it.
  live_aliases = {
    "notes-create" = {
      function_name = module.notes_create.lambda_function_name
      name          = module.notes_create.live_alias_name
      invoke_arn    = module.notes_create.live_alias_invoke_arn
    }
    "notes-get" = {
      function_name = module.notes_get.lambda_function_name
      name          = module.notes_get.live_alias_name
      invoke_arn    = module.notes_get.live_alias_invoke_arn
    }
    "notes-list" = {
      function_name = module.notes_list.lambda_function_name
      name          = module.notes_list.live_alias_name
      invoke_arn    = module.notes_list.live_alias_invoke_arn
    }
    "notes-update" = {
      function_name = module.notes_update.lambda_function_name
      name          = module.notes_update.live_alias_name
      invoke_arn    = module.notes_update.live_alias_invoke_arn
    }
    "notes-delete" = {
      function_name = module.notes_delete.lambda_function_name
      name          = module.notes_delete.live_alias_name
      invoke_arn    = module.notes_delete.live_alias_invoke_arn
    }
  }
}

resource "aws_apigatewayv2_api" "notes" {
  name          = "notes"
  description   = "The notes service; every route invokes a function's live alias."
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "lambda" {
  for_each = local.live_aliases

  api_id                 = aws_apigatewayv2_api.notes.id
  description            = "${each.key}, alias ${each.value.name}"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = each.value.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 12000
}

# Optional: with jwt_authorizer set, API Gateway checks each request's bearer token
# before any function runs.
resource "aws_apigatewayv2_authorizer" "jwt" {
  count = var.jwt_authorizer == null ? 0 : 1

  api_id           = aws_apigatewayv2_api.notes.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_authorizer.issuer
    audience = var.jwt_authorizer.audience
  }
}

resource "aws_apigatewayv2_route" "notes" {
  #checkov:skip=CKV_AWS_309:the example API is public unless jwt_authorizer is set, which makes every route JWT
  for_each = local.routes

  api_id             = aws_apigatewayv2_api.notes.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.lambda[each.value].id}"
  authorization_type = var.jwt_authorizer == null ? "NONE" : "JWT"
  authorizer_id      = var.jwt_authorizer == null ? null : aws_apigatewayv2_authorizer.jwt[0].id
}

# API Gateway may invoke the live alias (the qualified ARN API Gateway calls), and only
# through this API and this route's method and path. The
# qualifier comes from the alias resource: a literal "live" would let Terraform create
# the permission before the alias exists on the first apply, and fail.
resource "aws_lambda_permission" "api_invoke" {
  for_each = local.routes

  statement_id  = "http-api-${trim(lower(replace(each.key, "/[^A-Za-z0-9]+/", "-")), "-")}"
  action        = "lambda:InvokeFunction"
  principal     = "apigateway.amazonaws.com"
  function_name = local.live_aliases[each.value].function_name
  qualifier     = local.live_aliases[each.value].name
  source_arn    = "${aws_apigatewayv2_api.notes.execution_arn}/*/${local.route_arn_paths[each.key]}"
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:CloudWatch encrypts every log group at rest; a customer KMS key adds a key policy to run and nothing the logs need
  name              = "/aws/apigateway/notes/access"
  retention_in_days = var.log_retention_in_days
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.notes.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit    = var.throttling_rate_limit
    throttling_burst_limit   = var.throttling_burst_limit
    detailed_metrics_enabled = true
  }

  # One JSON line per request. integrationStatus and integrationError tell a function
  # error (the signal a rollback acts on) from an API Gateway error.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationError   = "$context.integrationErrorMessage"
      errorMessage       = "$context.error.message"
    })
  }
}
