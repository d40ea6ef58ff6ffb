variable "function_name" {
  description = "Name of the Lambda function (as in lambdashift.yaml)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""
}

variable "filename" {
  description = "Path of the deployment zip built by `lambdashift package` (deterministic, so an unchanged function keeps its CodeSha256 and publishes no new version)."
  type        = string
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the zip (AWS's CodeSha256), as `lambdashift package` prints it. Null: computed from filename."
  type        = string
  default     = null
}

variable "handler" {
  description = "Handler entry point, module.function."
  type        = string
  default     = "index.handler"
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.12"
}

variable "architectures" {
  description = "Instruction set architecture: [\"x86_64\"] or [\"arm64\"]."
  type        = list(string)
  default     = ["x86_64"]
}

variable "timeout" {
  description = "Timeout of one invocation, in seconds."
  type        = number
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU scales with it)."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function."
  type        = map(string)
  default     = {}
}

variable "dynamodb_actions" {
  description = "The only DynamoDB actions the function's role may perform, e.g. [\"dynamodb:GetItem\"]. No wildcards: list each action the handler calls."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for action in var.dynamodb_actions : can(regex("^dynamodb:[A-Za-z]+$", action))])
    error_message = "Each DynamoDB action must be one named action such as dynamodb:GetItem; wildcards are not allowed."
  }
}

variable "dynamodb_resource_arns" {
  description = "ARNs of the tables and indexes (TABLE_ARN/index/NAME) the actions apply to."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.dynamodb_resource_arns : !strcontains(arn, "*")])
    error_message = "DynamoDB resource ARNs must name a table or index; wildcards are not allowed."
  }
}

variable "log_retention_in_days" {
  description = "How long CloudWatch keeps the function's logs (a year by default, for audits)."
  type        = number
  default     = 365
}

variable "tracing_mode" {
  description = "X-Ray tracing of the function: \"Active\" (sample and send traces) or \"PassThrough\" (only when the caller traces)."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be \"Active\" or \"PassThrough\"."
  }
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for (and the most allowed to) the function; null reserves none. The account must keep 100 unreserved."
  type        = number
  default     = 20

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 0, false)
    error_message = "reserved_concurrency must be null or at least 0."
  }
}

variable "alias_name" {
  description = "The alias API Gateway invokes and lambdashift shifts traffic on."
  type        = string
  default     = "live"
}

variable "dev_alias_name" {
  description = "An alias that always points at the latest published version, for internal tests."
  type        = string
  default     = "dev"
}

variable "traffic_managed_by" {
  description = "Who sets the live alias's versions and weights after it is created: \"lambdashift\" (Terraform ignores function_version and routing_config) or \"terraform\" (live_version, canary_version, canary_weight). Switching moves the alias between two resource addresses: run `terraform state mv` for it rather than letting Terraform recreate the alias."
  type        = string
  default     = "lambdashift"

  validation {
    condition     = contains(["lambdashift", "terraform"], var.traffic_managed_by)
    error_message = "traffic_managed_by must be \"lambdashift\" or \"terraform\"."
  }
}

variable "live_version" {
  description = "When Terraform manages traffic: the primary version of the live alias. Null: the latest published version."
  type        = string
  default     = null

  validation {
    condition     = var.live_version == null || can(regex("^[0-9]+$", var.live_version))
    error_message = "live_version must be a published version number such as \"3\" (never $LATEST)."
  }
}

variable "canary_version" {
  description = "When Terraform manages traffic: the additional version of the live alias, or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.canary_version == null || can(regex("^[0-9]+$", var.canary_version))
    error_message = "canary_version must be a published version number such as \"4\"."
  }
}

variable "canary_weight" {
  description = "When Terraform manages traffic: the share of invocations canary_version gets, in [0, 1]."
  type        = number
  default     = 0

  validation {
    condition     = var.canary_weight >= 0 && var.canary_weight <= 1
    error_message = "canary_weight must be between 0 and 1."
  }
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
