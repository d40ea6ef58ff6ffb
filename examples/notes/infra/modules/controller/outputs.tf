output "lambda_function_name" {
  description = "Name of the controller function (what `deploy --detach` invokes)."
  value       = aws_lambda_function.this.function_name
}

output "lambda_function_arn" {
  description = "ARN of the controller function: a CI role that runs `deploy --detach` needs lambda:InvokeFunction on it."
  value       = aws_lambda_function.this.arn
}

output "lambda_role_arn" {
  description = "ARN of the controller's execution role."
  value       = aws_iam_role.this.arn
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule that starts its ticks."
  value       = aws_scheduler_schedule.this.arn
}

output "scheduler_role_arn" {
  description = "ARN of the role the schedule invokes the controller with."
  value       = aws_iam_role.scheduler.arn
}

output "log_group_name" {
  description = "The controller's log group: one JSON line per decision (`lambdashift logs lambdashift-controller`)."
  value       = aws_cloudwatch_log_group.this.name
}
