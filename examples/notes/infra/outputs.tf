output "api_url" {
  description = "Base URL of the notes API (the $default stage), e.g. $api_url/notes."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "table_name" {
  description = "Name of the notes table."
  value       = aws_dynamodb_table.notes.name
}

output "functions" {
  description = "Per function: latest published version, and the live alias's primary version, canary version (or null) and canary weight, as of the last refresh."
  value = {
    for name, m in {
      "notes-create" = module.notes_create
      "notes-get"    = module.notes_get
      "notes-list"   = module.notes_list
      "notes-update" = module.notes_update
      "notes-delete" = module.notes_delete
      } : name => {
      latest_version = m.lambda_function_latest_version
      live_primary   = m.live_alias_primary_version
      live_canary    = m.live_alias_canary_version
      live_weight    = m.live_alias_canary_weight
      live_alias_arn = m.live_alias_arn
      dev_alias_arn  = m.dev_alias_arn
    }
  }
}

output "state_table_name" {
  description = "lambdashift's team state table (null when state_table_name is null)."
  value       = one(aws_dynamodb_table.lambdashift_state[*].name)
}

output "state_policy_arn" {
  description = "ARN of the IAM policy giving a CI role access to the team state table."
  value       = one(aws_iam_policy.lambdashift_state[*].arn)
}

output "controller" {
  description = "lambdashift's controller when controller_enabled: function name and ARN, role ARN, schedule ARN (null when off)."
  value = one([
    for c in module.controller : {
      function_name = c.lambda_function_name
      function_arn  = c.lambda_function_arn
      role_arn      = c.lambda_role_arn
      schedule_arn  = c.schedule_arn
    }
  ])
}
