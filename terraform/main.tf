# The drop: where batches arrive and how they reach the worker, in order, per tenant.
#
#   S3 drop bucket --(EventBridge notifications)--> one rule per tenant prefix
#     --(target: SQS FIFO, MessageGroupId = tenant)--> <name>.fifo --(redrive)--> <name>-dlq.fifo
#
# S3 cannot notify a FIFO queue directly; EventBridge can, with a static message group per target,
# hence one rule per tenant (the same layout as the worker's tests build in moto:
# tests/it/common/moto.rs route_prefix_to_fifo). The queue deduplicates on content (a rule target
# cannot set a deduplication id). Everything is encrypted with the module's KMS key.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  # The provider's region, read from its EC2 endpoint (ec2.<region>.amazonaws.com[.cn]): `name`
  # is deprecated from provider 6 on and its replacement `region` does not exist in 5.x (`id` is
  # deprecated too); `endpoint` is neither, so the module reads the same in both.
  region    = split(".", data.aws_region.current.endpoint)[1]
  partition = data.aws_partition.current.partition

  drop_bucket  = var.drop_bucket_name != "" ? var.drop_bucket_name : "${var.name}-drop-${local.account_id}"
  state_bucket = var.state_bucket_name != "" ? var.state_bucket_name : "${var.name}-state-${local.account_id}"
  state_url    = "s3://${local.state_bucket}/${var.state_prefix}"

  token_secret_arn = var.create_token_secret ? aws_secretsmanager_secret.token[0].arn : var.token_secret_arn

  # The worker's environment, shared by the ECS task and the Lambda function (docs/cloud-worker.md, docs/configuration.md).
  worker_environment = merge(
    {
      SIS_QUEUE_URL         = aws_sqs_queue.main.url
      SIS_STATE_URL         = local.state_url
      SIS_BUCKET            = local.drop_bucket
      CANVAS_ACCOUNT_ID     = var.canvas_account_id
      CANVAS_SIS_LOG_FORMAT = "json"
    },
    var.canvas_base_url != "" ? { CANVAS_BASE_URL = var.canvas_base_url } : {},
    local.notify_environment,
    var.extra_environment,
  )

  # Notifications of the no-config tenant (SIS_NOTIFY_*; with a config file its notify tables say
  # it all). The webhook URL is a secret: ECS injects it (ecs.tf), it is never a value here.
  notify_sns_topic_arns = distinct(compact(concat(var.notification_topic_arns, [var.notify_sns_topic_arn])))
  notify_environment = var.notify_sns_topic_arn == "" ? {} : merge(
    { SIS_NOTIFY_SNS_TOPIC_ARN = var.notify_sns_topic_arn },
    var.notify_on_success_with_warnings ? { SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS = "true" } : {},
  )
  # ECS only, with the webhook they describe (the worker refuses settings without a destination,
  # and the Lambda function has no webhook).
  notify_webhook_environment = var.notify_webhook_url_secret_arn == "" ? {} : merge(
    var.notify_webhook_format != "" ? { SIS_NOTIFY_WEBHOOK_FORMAT = var.notify_webhook_format } : {},
    var.notify_on_success_with_warnings ? { SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS = "true" } : {},
  )
  notify_webhook_secrets = var.notify_webhook_url_secret_arn != "" ? { (var.notify_webhook_url_env) = var.notify_webhook_url_secret_arn } : {}

  buckets = {
    drop  = local.drop_bucket
    state = local.state_bucket
  }
}

# ── Encryption key ────────────────────────────────────────────────────────────────────────────

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:The key policy's root statement is the AWS default that delegates to IAM; resource "*" in a key policy means this key
  # checkov:skip=CKV_AWS_111:Same: "*" in a key policy is the key itself
  # checkov:skip=CKV_AWS_356:Same: "*" in a key policy is the key itself
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "EventBridgeSendsToTheEncryptedQueue"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheWorkerLogs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/canvas-sis/${var.name}/*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "canvas-sis ${var.name}: drop and state buckets, queues, token secret, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# ── Buckets: drop (batches in) and state (ledger, archives) ───────────────────────────────────

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the operator; the ledger and archives are versioned in-region
  # checkov:skip=CKV2_AWS_62:The drop bucket sends its events to EventBridge (aws_s3_bucket_notification.drop); the state bucket needs none
  # checkov:skip=CKV2_AWS_61:Both buckets have lifecycle rules (aws_s3_bucket_lifecycle_configuration.drop and .state); the graph check cannot match them to for_each instances
  # checkov:skip=CKV_AWS_18:Access logging is on when access_log_bucket is given (a log bucket cannot log to itself, and the module does not own one)
  for_each = local.buckets

  bucket = each.value
  tags   = merge(var.tags, { "canvas-sis/role" = each.key })
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each = var.access_log_bucket != "" ? aws_s3_bucket.this : {}

  bucket        = each.value.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${each.value.id}/"
}

# TLS only, on both buckets.
data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket[each.key].json
}

resource "aws_s3_bucket_lifecycle_configuration" "drop" {
  bucket = aws_s3_bucket.this["drop"].id

  rule {
    id     = "expire-dropped-batches"
    status = "Enabled"
    filter {}
    expiration {
      days = var.drop_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.this["state"].id

  # Archives (zips and errors files) move to infrequent access; ledger records are small objects,
  # which S3 does not transition, and are never expired: they are the once-only record.
  rule {
    id     = "archives-to-infrequent-access"
    status = "Enabled"
    filter {
      prefix = var.state_prefix
    }
    transition {
      days          = var.archive_transition_days
      storage_class = "STANDARD_IA"
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_notification" "drop" {
  bucket      = aws_s3_bucket.this["drop"].id
  eventbridge = true
}

# ── Queues ────────────────────────────────────────────────────────────────────────────────────

resource "aws_sqs_queue" "dlq" {
  name                        = "${var.name}-dlq.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  message_retention_seconds   = var.message_retention_seconds
  kms_master_key_id           = aws_kms_key.this.id
  tags                        = var.tags
}

resource "aws_sqs_queue" "main" {
  name                        = "${var.name}.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  visibility_timeout_seconds  = var.queue_visibility_timeout_seconds
  message_retention_seconds   = var.message_retention_seconds
  receive_wait_time_seconds   = 20
  kms_master_key_id           = aws_kms_key.this.id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main.arn]
  })
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "TenantRulesSendToTheQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.main.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for r in aws_cloudwatch_event_rule.tenant : r.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "main" {
  queue_url = aws_sqs_queue.main.id
  policy    = data.aws_iam_policy_document.queue.json
}

# ── EventBridge: one rule per tenant, its own message group ───────────────────────────────────

resource "aws_cloudwatch_event_rule" "tenant" {
  for_each = var.tenants

  name        = "${var.name}-drop-${each.key}"
  description = "canvas-sis: batches closed under s3://${local.drop_bucket}/${each.value.s3_prefix} go to ${var.name}.fifo, group ${each.key}"
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [local.drop_bucket] }
      object = { key = [for s in var.trigger_suffixes : { wildcard = "${each.value.s3_prefix}*${s}" }] }
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "tenant" {
  for_each = var.tenants

  rule      = aws_cloudwatch_event_rule.tenant[each.key].name
  target_id = "fifo"
  arn       = aws_sqs_queue.main.arn
  sqs_target {
    message_group_id = each.key
  }
}

# ── The Canvas token ──────────────────────────────────────────────────────────────────────────

resource "aws_secretsmanager_secret" "token" {
  # checkov:skip=CKV2_AWS_57:A Canvas token is issued by a Canvas admin, not by an AWS rotation Lambda; rotating it is a runbook step (docs/runbook.md)
  count = var.create_token_secret ? 1 : 0

  name        = "${var.name}/canvas-token"
  description = "Canvas API token of canvas-sis ${var.name}. Value set out of band; never in Terraform state."
  kms_key_id  = aws_kms_key.this.arn
  tags        = var.tags
}
