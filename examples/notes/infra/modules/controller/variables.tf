variable "package_path" {
  description = "Path of the controller's deployment zip, as `lambdashift controller package --output PATH` writes it (deterministic, so an unchanged package changes nothing)."
  type        = string
}

variable "managed_functions" {
  description = "The functions the controller may drive rollouts of: names (globs with * and ?, e.g. \"notes-*\") or unqualified function ARNs. Its Lambda permissions, its log reads and LAMBDASHIFT_CONTROLLER_FUNCTIONS are all scoped to these; each also covers the function's versions and aliases (NAME:*)."
  type        = list(string)

  validation {
    condition     = length(var.managed_functions) > 0
    error_message = "managed_functions must name at least one function."
  }

  validation {
    # * and ? only: IAM and the controller's fnmatch agree on these and on nothing else
    # ([...] is a character class to fnmatch and a literal to IAM). A lone "*" would be
    # every function of the account: list the service's functions or a prefix instead.
    condition = alltrue([
      for f in var.managed_functions :
      f != "*" && (can(regex("^[A-Za-z0-9_*?-]{1,64}$", f)) ||
      can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_*?-]{1,64}$", f)))
    ])
    error_message = "Each managed function must be a name or glob (letters, digits, -, _, * and ?; not \"*\" alone) or an unqualified Lambda function ARN."
  }
}

variable "state_table_name" {
  description = "Name of lambdashift's team state table (the root module's aws_dynamodb_table.lambdashift_state): LAMBDASHIFT_STATE_TABLE."
  type        = string
}

variable "state_table_arn" {
  description = "ARN of the same table: the only resource of the role's DynamoDB actions (the store reads no index)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", var.state_table_arn))
    error_message = "state_table_arn must be a DynamoDB table ARN, without wildcards."
  }
}

variable "function_name" {
  description = "Name of the controller function (what `deploy --detach` invokes)."
  type        = string
  default     = "lambdashift-controller"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "timeout" {
  description = "Timeout of one tick, in seconds: a tick drives rollouts until timeout - margin, then saves and lets its leases go."
  type        = number
  default     = 900

  validation {
    condition     = var.timeout >= 60 && var.timeout <= 900
    error_message = "timeout must be between 60 and 900 seconds."
  }
}

variable "margin" {
  description = "Seconds kept free at the end of each tick to save and let the leases go (LAMBDASHIFT_CONTROLLER_MARGIN)."
  type        = number
  default     = 60

  validation {
    condition     = var.margin >= 0 && var.margin < var.timeout
    error_message = "margin must be at least 0 and less than timeout."
  }
}

variable "memory_size" {
  description = "Memory of the controller function in MB (CPU scales with it)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "reserved_concurrency" {
  description = <<-EOT
    Concurrent ticks reserved for the controller, also their ceiling; null reserves none.
    Overlapping ticks are safe (each rollout is driven under its lease), and a tick may run
    for the whole timeout, so with one scheduled tick a minute up to 15 can be alive at
    once, plus `deploy --detach`'s asynchronous invokes. A ceiling of 1 would hold a detach
    behind a 15-minute tick; 20 leaves room for both and still caps a storm of invokes.
  EOT
  type        = number
  default     = 20

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 2, false)
    error_message = "reserved_concurrency must be null or at least 2 (a single slot would queue detached rollouts behind a running tick)."
  }
}

variable "schedule_name" {
  description = "Name of the EventBridge Scheduler schedule (in the default group)."
  type        = string
  default     = "lambdashift-controller"
}

variable "schedule_expression" {
  description = "How often the schedule starts a tick (Scheduler's shortest rate is one minute)."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be a rate(...) or cron(...) expression."
  }
}

variable "schedule_enabled" {
  description = "Whether the schedule starts ticks (false pauses the controller; `deploy --detach` still invokes it)."
  type        = bool
  default     = true
}

variable "log_retention_in_days" {
  description = "How long CloudWatch keeps the controller's log: one JSON line per decision it made."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
