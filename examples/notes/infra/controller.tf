# lambdashift's controller (modules/controller), off by default: with controller_enabled,
# `lambdashift deploy --detach` hands rollouts over and they outlive the CI job, and a
# rollout whose CLI was killed is adopted within a tick. It keeps its state on the team
# state table of state.tf: that table is defined once, here, and passed in.

locals {
  # The functions the controller may release: this service's five, from their modules.
  controller_functions = [
    module.notes_create.lambda_function_name,
    module.notes_get.lambda_function_name,
    module.notes_list.lambda_function_name,
    module.notes_update.lambda_function_name,
    module.notes_delete.lambda_function_name,
  ]
}

module "controller" {
  source = "./modules/controller"
  count  = var.controller_enabled ? 1 : 0

  package_path      = coalesce(var.controller_package_path, "${local.package_dir}/lambdashift-controller.zip")
  managed_functions = local.controller_functions
  state_table_name  = aws_dynamodb_table.lambdashift_state[0].name
  state_table_arn   = aws_dynamodb_table.lambdashift_state[0].arn
  # Its decisions are the record of who moved traffic and why: kept as long as the
  # functions' own logs (a year by default, for audits).
  log_retention_in_days = var.log_retention_in_days
  tags                  = var.tags
}
