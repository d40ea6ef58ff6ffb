output "lambda_function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "lambda_function_arn" {
  description = "Unqualified ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "lambda_function_latest_version" {
  description = "The latest published version: the candidate of the next rollout."
  value       = aws_lambda_function.this.version
}

output "lambda_function_source_code_hash" {
  description = "CodeSha256 of the deployed package (base64 SHA-256 of the zip)."
  value       = aws_lambda_function.this.source_code_hash
}

output "lambda_role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "The function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "live_alias_name" {
  description = "Name of the live alias (read from the alias resource, so users of it wait for it to exist)."
  value       = local.live_alias.name
}

output "live_alias_arn" {
  description = "ARN of the live alias."
  value       = local.live_alias.arn
}

output "live_alias_invoke_arn" {
  description = "Invoke ARN of the live alias, for API Gateway integrations."
  value       = local.live_alias.invoke_arn
}

output "live_alias_primary_version" {
  description = "The version the live alias points at (as last refreshed when lambdashift manages traffic)."
  value       = local.live_alias.function_version
}

output "live_alias_canary_version" {
  description = "The live alias's additional version, or null."
  value       = try(keys(local.live_weights)[0], null)
}

output "live_alias_canary_weight" {
  description = "The share of invocations the canary version gets, 0 without a canary."
  value       = try(values(local.live_weights)[0], 0)
}

output "dev_alias_name" {
  description = "Name of the dev alias."
  value       = aws_lambda_alias.dev.name
}

output "dev_alias_arn" {
  description = "ARN of the dev alias (the latest published version)."
  value       = aws_lambda_alias.dev.arn
}

output "dev_alias_invoke_arn" {
  description = "Invoke ARN of the dev alias."
  value       = aws_lambda_alias.dev.invoke_arn
}
