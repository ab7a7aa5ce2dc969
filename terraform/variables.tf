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

  validation {
    condition = alltrue([
      for a, ta in var.tenants : alltrue([
        for b, tb in var.tenants : a == b || !startswith(tb.s3_prefix, ta.s3_prefix)
      ])
    ])
    error_message = "tenants: no tenant's s3_prefix may start with another's (\"\" takes the whole bucket, so it stands alone): a key under both would be routed to two tenants."
  }
}

variable "create_sis_writer_policies" {
  description = "Create, per tenant, the IAM policy the upstream SIS needs to drop batches: write (and list) only under the tenant's s3_prefix of the drop bucket, encrypted with this module's key (outputs sis_writer_policy_arns, sis_writer_policy_json)."
  type        = bool
  default     = false
}

variable "sis_writer_principals" {
  description = "Per tenant (a key of tenants), the AWS principals (role or account ARNs, in this or another account) that may assume a role holding that tenant's writer policy (output sis_writer_role_arns). Needs create_sis_writer_policies."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.sis_writer_principals : length(v) > 0 && alltrue([for p in v : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", p))])])
    error_message = "sis_writer_principals: each tenant's list holds one or more IAM ARNs (arn:aws:iam::<account>:role/... or :root)."
  }
}

variable "sis_writer_external_id" {
  description = "An external id the SIS must give when it assumes a writer role (recommended when the principal is another organisation's account); empty: none asked."
  type        = string
  default     = ""
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

# ── Notifications (docs/notifications.md) ──────────────────────────────────────────────────────

variable "notification_topic_arns" {
  description = "SNS topics the worker's notifications publish to: every sns_topic_arn of the config file's notify tables (sns:Publish is granted on these, and on notify_sns_topic_arn, only)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.notification_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", a))])
    error_message = "notification_topic_arns: SNS topic ARNs (arn:aws:sns:<region>:<account>:<topic>), no wildcards."
  }
}

variable "notification_topics_kms_key_arn" {
  description = "The customer managed KMS key the notification topics are encrypted with (SNS server-side encryption). Set: the worker may use it (GenerateDataKey, Decrypt) through SNS only. Empty: topics unencrypted or on the AWS managed key alias/aws/sns, which needs no grant."
  type        = string
  default     = ""

  validation {
    condition     = var.notification_topics_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.notification_topics_kms_key_arn))
    error_message = "notification_topics_kms_key_arn: a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias."
  }
}

variable "notify_sns_topic_arn" {
  description = "No config file only: SIS_NOTIFY_SNS_TOPIC_ARN, the topic the single tenant notifies (ECS and Lambda); added to the sns:Publish grant. With a config file write sns_topic_arn in its notify tables and list the topics in notification_topic_arns."
  type        = string
  default     = ""

  validation {
    condition     = var.notify_sns_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", var.notify_sns_topic_arn))
    error_message = "notify_sns_topic_arn: an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)."
  }
}

variable "notify_webhook_url_secret_arn" {
  description = "A Secrets Manager secret (or, for ECS only, an SSM SecureString parameter) holding a webhook URL. ECS: injected by the execution role as the variable notify_webhook_url_env. Lambda (no secret injection): its ARN is the variable <notify_webhook_url_env>_SECRET_ARN and the function reads the URL at start. The URL carries a key: never put it in extra_environment."
  type        = string
  default     = ""

  validation {
    condition     = var.notify_webhook_url_secret_arn == "" || can(regex("^arn:aws[a-z-]*:(secretsmanager|ssm):", var.notify_webhook_url_secret_arn))
    error_message = "notify_webhook_url_secret_arn: a Secrets Manager secret or SSM parameter ARN (the URL itself never goes in Terraform)."
  }
}

variable "notify_webhook_url_env" {
  description = "The variable the webhook URL secret is injected as: SIS_NOTIFY_WEBHOOK_URL without a config file, or the name a webhook's url_env gives in the config file (e.g. SLACK_WEBHOOK_URL)."
  type        = string
  default     = "SIS_NOTIFY_WEBHOOK_URL"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.notify_webhook_url_env)) && var.notify_webhook_url_env != "CANVAS_TOKEN"
    error_message = "notify_webhook_url_env: an environment variable name (not CANVAS_TOKEN)."
  }
}

variable "notify_webhook_format" {
  description = "No config file only: SIS_NOTIFY_WEBHOOK_FORMAT (json, slack or teams; empty: json), ECS only like the webhook."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "json", "slack", "teams"], var.notify_webhook_format)
    error_message = "notify_webhook_format: json, slack, teams or empty."
  }
}

variable "notify_on_success_with_warnings" {
  description = "No config file only: SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS=true (also notify batches imported with warnings)."
  type        = bool
  default     = false
}

variable "extra_environment" {
  description = "More environment variables for the worker (ECS and Lambda), e.g. CANVAS_SIS_CONFIG or OTEL_EXPORTER_OTLP_ENDPOINT. Never the token."
  type        = map(string)
  default     = {}

  validation {
    condition     = !contains(keys(var.extra_environment), "CANVAS_TOKEN")
    error_message = "The token goes in the secret, never in plain environment."
  }

  validation {
    condition     = !contains(keys(var.extra_environment), "SIS_NOTIFY_WEBHOOK_URL") && !anytrue([for v in values(var.extra_environment) : can(regex("^https?://", v)) && can(regex("(hooks\\.slack\\.com|webhook\\.office\\.com|logic\\.azure\\.com)", v))])
    error_message = "A webhook URL carries a key: give it as notify_webhook_url_secret_arn (or in extra_secrets), never in plain environment."
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

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of CloudWatch Logs' retentions (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
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

variable "ecs_parallel" {
  description = "Messages the ECS worker handles at once (SIS_PARALLEL, `run --parallel`): up to this many tenants import side by side, so one tenant's long import holds back none of the others. Size ecs_memory_mib and the ephemeral storage for that many batches at once."
  type        = number
  default     = 4

  validation {
    condition     = var.ecs_parallel >= 1 && var.ecs_parallel <= 64 && floor(var.ecs_parallel) == var.ecs_parallel
    error_message = "ecs_parallel is a whole number from 1 to 64."
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

  validation {
    condition     = var.ecs_ephemeral_storage_gib >= 21 && var.ecs_ephemeral_storage_gib <= 200 && floor(var.ecs_ephemeral_storage_gib) == var.ecs_ephemeral_storage_gib
    error_message = "ecs_ephemeral_storage_gib: 21 to 200 GiB (Fargate's range)."
  }
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

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 900 && floor(var.lambda_timeout_seconds) == var.lambda_timeout_seconds
    error_message = "lambda_timeout_seconds: a whole number of seconds from 1 to 900 (Lambda's longest)."
  }
}

variable "lambda_memory_mib" {
  description = "Function memory (MiB); CPU grows with it."
  type        = number
  default     = 2048

  validation {
    condition     = var.lambda_memory_mib >= 128 && var.lambda_memory_mib <= 10240 && floor(var.lambda_memory_mib) == var.lambda_memory_mib
    error_message = "lambda_memory_mib: 128 to 10240 MiB (Lambda's range)."
  }
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

  validation {
    condition     = var.lambda_maximum_concurrency >= 2 && var.lambda_maximum_concurrency <= 1000 && floor(var.lambda_maximum_concurrency) == var.lambda_maximum_concurrency
    error_message = "lambda_maximum_concurrency: 2 to 1000 (the SQS event source's maximum concurrency)."
  }
}

variable "lambda_sweep_minutes" {
  description = "Minutes between the scheduled invocations that sweep on batches whose messages are gone (parked, approved, dead-lettered)."
  type        = number
  default     = 5

  validation {
    condition     = var.lambda_sweep_minutes >= 1 && floor(var.lambda_sweep_minutes) == var.lambda_sweep_minutes
    error_message = "The sweep runs every whole number of minutes, 1 or more."
  }
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
