variable "region" {
  description = "AWS region of the service."
  type        = string
  default     = "eu-west-1"
}

variable "table_name" {
  description = "Name of the notes table (TABLE_NAME of every function; lambdashift.yaml's `tables:` key)."
  type        = string
  default     = "notes"
}

variable "table_deletion_protection" {
  description = "Refuse to delete the notes table (set false to destroy a test stack)."
  type        = bool
  default     = true
}

variable "package_dir" {
  description = "Directory holding <function>.zip as written by `lambdashift package`. Null: ../.lambdashift/packages next to lambdashift.yaml."
  type        = string
  default     = null
}

variable "log_retention_in_days" {
  description = "Retention of the functions' logs and the API's access logs (a year by default, for audits)."
  type        = number
  default     = 365
}

variable "tracing_mode" {
  description = "X-Ray tracing of every function: \"Active\" or \"PassThrough\"."
  type        = string
  default     = "Active"
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for each function, also its ceiling; null reserves none (the account must keep 100 unreserved)."
  type        = number
  default     = 20
}

variable "jwt_authorizer" {
  description = "Require a JWT on every route: {issuer, audience} of the identity provider (e.g. a Cognito user pool). Null: the API is public."
  type = object({
    issuer   = string
    audience = list(string)
  })
  default = null
}

variable "traffic_managed_by" {
  description = "\"lambdashift\": lambdashift shifts the live aliases and Terraform leaves their versions alone. \"terraform\": the `traffic` variable sets them."
  type        = string
  default     = "lambdashift"

  validation {
    condition     = contains(["lambdashift", "terraform"], var.traffic_managed_by)
    error_message = "traffic_managed_by must be \"lambdashift\" or \"terraform\"."
  }
}

variable "traffic" {
  description = <<-EOT
    Traffic of each function's live alias when traffic_managed_by = "terraform", as
    `lambdashift export-tfvars` writes it to traffic.auto.tfvars.json:
    {"traffic": {"notes-create": {"primary": "2", "canary": "3", "weight": 0.1}}}.
    primary: the version the alias points at; canary: the additional version or null;
    weight: the canary's share in [0, 1]. A function without an entry points at its
    latest version.
  EOT
  type = map(object({
    primary = string
    canary  = optional(string)
    weight  = optional(number, 0)
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.traffic) : contains(["notes-create", "notes-get", "notes-list", "notes-update", "notes-delete"], name)])
    error_message = "traffic keys must be function names: notes-create, notes-get, notes-list, notes-update, notes-delete."
  }

  validation {
    condition = alltrue([
      for t in values(var.traffic) :
      can(regex("^[0-9]+$", t.primary)) && (t.canary == null || can(regex("^[0-9]+$", t.canary)))
    ])
    error_message = "primary and canary must be published version numbers such as \"3\" ($LATEST is never in traffic)."
  }

  validation {
    condition = alltrue([
      for t in values(var.traffic) :
      t.weight >= 0 && t.weight <= 1 && (t.canary == null ? t.weight == 0 : t.canary != t.primary)
    ])
    error_message = "weight must be in [0, 1], 0 without a canary, and the canary must differ from the primary."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the API accepts (across all routes of the stage)."
  type        = number
  default     = 100
}

variable "throttling_burst_limit" {
  description = "Burst of requests the API accepts above the rate limit."
  type        = number
  default     = 200
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default = {
    service = "notes"
  }
}

variable "state_table_name" {
  description = "Name of lambdashift's team state table (lambdashift.yaml `state.table`). Null: no table; runners keep state in SQLite."
  type        = string
  default     = "lambdashift-state"
}

variable "controller_enabled" {
  description = "Run lambdashift's controller (modules/controller): a Lambda function, started every minute, that drives detached and orphaned rollouts. Needs the state table (state_table_name)."
  type        = bool
  default     = false

  validation {
    condition     = !var.controller_enabled || var.state_table_name != null
    error_message = "controller_enabled needs the team state table: set state_table_name."
  }
}

variable "controller_package_path" {
  description = "The controller's zip, as `lambdashift controller package --output PATH` writes it. Null: lambdashift-controller.zip in package_dir."
  type        = string
  default     = null
}
