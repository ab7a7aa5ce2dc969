# Inputs of the canvas-sis module. Names follow the terraform-aws-modules conventions: `create_*`
# switches, `*_arn` for existing resources, units in the names (`_seconds`, `_days`, `_mib`).

variable "name" {
  description = "Name prefix of every resource (queue names get `.fifo` appended)."
  type        = string
  default     = "canvas-sis"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}$", var.name))
    error_message = "name: 2-41 lower-case letters, digits and dashes."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# ── Tenants and the drop ──────────────────────────────────────────────────────────────────────

variable "tenants" {
  description = <<-EOT
    Tenants by name: each gets one EventBridge rule for the keys under its `s3_prefix` and its own
    SQS message group (the tenant name), so each tenant's batches stay in order and tenants run in
    parallel. Mirror the `s3_prefix` of each tenant in the worker's config file. One tenant with
    prefix "" takes the whole bucket (the worker's single-tenant mode names it `default`).
  EOT
  type = map(object({
    s3_prefix = string
  }))
  default = {
    default = { s3_prefix = "" }
  }

  validation {
    condition     = length(var.tenants) > 0 && alltrue([for k, t in var.tenants : can(regex("^[A-Za-z0-9_.-]{1,64}$", k)) && !strcontains(t.s3_prefix, "*")])
    error_message = "tenants: at least one; names of letters, digits, '_', '.', '-' (they become message group ids); prefixes without '*'."
  }
}

variable "trigger_suffixes" {
  description = "Keys that close a batch and so trigger the worker: a folder's manifest.json or READY, or a .zip. Other objects (the CSVs of a folder) send no event."
  type        = list(string)
  default     = ["manifest.json", "/READY", ".zip"]
}

variable "drop_bucket_name" {
  description = "Name of the drop bucket the SIS writes batches to. Empty: `<name>-drop-<account id>`."
  type        = string
  default     = ""
}

variable "state_bucket_name" {
  description = "Name of the bucket holding the worker's ledger and archives. Empty: `<name>-state-<account id>`."
  type        = string
  default     = ""
}

variable "state_prefix" {
  description = "Key prefix of the ledger in the state bucket (SIS_STATE_URL = s3://<state bucket>/<prefix>). Ends with '/'."
  type        = string
  default     = "canvas-sis/"

  validation {
    condition     = can(regex("^([^/*][^*]*/)$", var.state_prefix))
    error_message = "state_prefix must be non-empty, end with '/', and not start with '/'."
  }
}

variable "drop_retention_days" {
  description = "Days a dropped batch is kept in the drop bucket (the ledger keeps its own copy of what was sent)."
  type        = number
  default     = 90
}

variable "archive_transition_days" {
  description = "Days after which the archives (uploaded zips, errors files) in the state bucket move to STANDARD_IA. Ledger records are kept (small objects are not transitioned)."
  type        = number
  default     = 30
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept in either bucket."
  type        = number
  default     = 30
}

variable "access_log_bucket" {
  description = "Bucket receiving S3 server access logs of both buckets (an existing log bucket). Empty: no access logging."
  type        = string
  default     = ""
}

# ── Queue ─────────────────────────────────────────────────────────────────────────────────────

variable "queue_visibility_timeout_seconds" {
  description = "Default visibility of the FIFO queue. The ECS/Kubernetes worker sets its own per receive and heartbeats it; Lambda needs at least the function timeout (AWS advises 6x)."
  type        = number
  default     = 5400

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200
    error_message = "SQS allows 0 to 43200 seconds."
  }
}

variable "max_receive_count" {
  description = "Receives after which a message goes to the dead-letter queue. The worker releases a message it cannot finish yet (Canvas busy), so keep this generous."
  type        = number
  default     = 50
}

variable "message_retention_seconds" {
  description = "Retention of the queue and the dead-letter queue (SQS maximum: 14 days)."
  type        = number
  default     = 1209600
}

# ── Worker ────────────────────────────────────────────────────────────────────────────────────

variable "canvas_base_url" {
  description = "CANVAS_BASE_URL for a single institution (without a config file)."
  type        = string
  default     = ""
}

variable "canvas_account_id" {
  description = "CANVAS_ACCOUNT_ID (a Canvas account id, self, or sis_account_id:X)."
  type        = string
  default     = "self"
}

variable "create_token_secret" {
  description = "Create the Secrets Manager secret for the Canvas token (its value is set out of band: `aws secretsmanager put-secret-value`). False: give token_secret_arn."
  type        = bool
  default     = true
}

variable "token_secret_arn" {
  description = "ARN of an existing Secrets Manager secret (or SSM SecureString parameter, for ECS only) holding the Canvas token, when create_token_secret is false."
  type        = string
  default     = ""
}

variable "notification_topic_arns" {
  description = "SNS topics the worker's per-tenant notifications publish to (sns:Publish is granted on these only)."
  type        = list(string)
  default     = []
}

variable "extra_environment" {
  description = "More environment variables for the worker (ECS and Lambda), e.g. CANVAS_SIS_CONFIG or OTEL_EXPORTER_OTLP_ENDPOINT. Never the token."
  type        = map(string)
  default     = {}

  validation {
    condition     = !contains(keys(var.extra_environment), "CANVAS_TOKEN")
    error_message = "The token goes in the secret, never in plain environment."
  }
}

variable "extra_secrets" {
  description = "ECS only: more secrets injected as environment variables (name => Secrets Manager or SSM ARN), e.g. a second tenant's token named by its token_env."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of the worker's CloudWatch log groups."
  type        = number
  default     = 365
}

# ── ECS Fargate ───────────────────────────────────────────────────────────────────────────────

variable "ecs_mode" {
  description = "\"service\": a long-running `canvas-sis run` ECS service; \"scheduled\": `run --until-empty` started by an EventBridge schedule; \"none\": no ECS resources."
  type        = string
  default     = "service"

  validation {
    condition     = contains(["service", "scheduled", "none"], var.ecs_mode)
    error_message = "ecs_mode is one of service, scheduled, none."
  }
}

variable "image" {
  description = "Container image of canvas-sis (pin a tag, or a digest: repo@sha256:...)."
  type        = string
  default     = ""
}

variable "ecs_cluster_arn" {
  description = "Existing ECS cluster. Empty: the module creates one (with Container Insights)."
  type        = string
  default     = ""
}

variable "subnet_ids" {
  description = "Private subnets of the ECS tasks (and of the Lambda function when lambda_in_vpc)."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "VPC of the subnets (for the worker's security group)."
  type        = string
  default     = ""
}

variable "ecs_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 1024
}

variable "ecs_memory_mib" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 2048
}

variable "ecs_desired_count" {
  description = "Workers of the ECS service; parallelism beyond the number of tenants is idle."
  type        = number
  default     = 1
}

variable "ecs_schedule_expression" {
  description = "Schedule of the scheduled task (ecs_mode = scheduled)."
  type        = string
  default     = "rate(10 minutes)"
}

variable "ecs_ephemeral_storage_gib" {
  description = "Fargate ephemeral storage for downloads and zips (21-200 GiB)."
  type        = number
  default     = 30
}

# ── Lambda ────────────────────────────────────────────────────────────────────────────────────

variable "create_lambda" {
  description = "Create the Lambda function with the SQS event source (custom runtime provided.al2023, the binary named bootstrap in lambda_zip_path)."
  type        = bool
  default     = false
}

variable "lambda_zip_path" {
  description = "Path of the Lambda zip (bootstrap = canvas-sis built with RUSTFLAGS=\"-C target-feature=+crt-static\")."
  type        = string
  default     = ""
}

variable "lambda_timeout_seconds" {
  description = "Function timeout (at most 900). The queue's visibility must be at least this."
  type        = number
  default     = 900
}

variable "lambda_memory_mib" {
  description = "Function memory (MiB); CPU grows with it."
  type        = number
  default     = 2048
}

variable "lambda_batch_size" {
  description = "Messages per invocation. SQS FIFO allows at most 10; 1 keeps a long import from holding later messages of the batch."
  type        = number
  default     = 1

  validation {
    condition     = var.lambda_batch_size >= 1 && var.lambda_batch_size <= 10
    error_message = "An SQS FIFO event source takes a batch size of 1 to 10."
  }
}

variable "lambda_maximum_concurrency" {
  description = "Most concurrent invocations the event source starts (2-1000); useful parallelism is the number of tenants."
  type        = number
  default     = 2
}

variable "lambda_in_vpc" {
  description = "Run the function in subnet_ids (needs NAT or VPC endpoints for Canvas, S3, SQS, Secrets Manager)."
  type        = bool
  default     = false
}

# ── Alarms ────────────────────────────────────────────────────────────────────────────────────

variable "alarm_actions" {
  description = "SNS topic ARNs notified when an alarm fires or clears."
  type        = list(string)
  default     = []
}

variable "oldest_message_age_threshold_seconds" {
  description = "Alarm when the oldest message of the queue is older than this (a tenant's stream is stuck: held batch, halted tenant, worker down)."
  type        = number
  default     = 21600
}

variable "no_import_alarm_hours" {
  description = "Alarm when no import has succeeded for this many hours (0 disables it). Needs the worker's logs in the module's log groups."
  type        = number
  default     = 36
}

variable "import_success_log_pattern" {
  description = "CloudWatch Logs filter pattern matching one log line per successful import (JSON logs, CANVAS_SIS_LOG_FORMAT=json)."
  type        = string
  default     = "{ $.fields.message = \"batch finished\" && $.fields.outcome = \"imported*\" }"
}

# ── Kubernetes (EKS) ──────────────────────────────────────────────────────────────────────────

variable "eks_oidc_provider_arn" {
  description = "IRSA: the EKS cluster's IAM OIDC provider ARN. Set: a role `<name>-eks` for the chart's service account (put its ARN in serviceAccount.roleArn)."
  type        = string
  default     = ""
}

variable "eks_pod_identity_cluster_name" {
  description = "EKS Pod Identity: the cluster name. Set: the role `<name>-eks` and a pod identity association for the chart's service account."
  type        = string
  default     = ""
}

variable "eks_namespace" {
  description = "Namespace of the Helm release."
  type        = string
  default     = "canvas-sis"
}

variable "eks_service_account" {
  description = "The chart's service account name (the release's full name unless serviceAccount.name is set)."
  type        = string
  default     = "canvas-sis"
}
