# The worker's permissions, least privilege, shared by every place it runs (ECS task role, Lambda
# execution role, an EKS role through outputs.worker_policy_json):
#   drop bucket   read the tenants' prefixes (GetObject, GetObjectVersion: a batch is fetched at
#                 the version its event names; ListBucket on those prefixes, and
#                 ListBucketVersions: a folder's CSV is read at the version its manifest's
#                 sha256 names)
#   state bucket  read and write the ledger prefix (GetObject, PutObject, ListBucket on it)
#   queue         receive, delete, change visibility, read attributes (the redrive policy)
#   DLQ           send (poison messages are copied there before they are deleted)
#   KMS           decrypt / generate data keys with the module's key
#   SNS           publish to the notification topics (notification_topic_arns and
#                 notify_sns_topic_arn), if any; with notification_topics_kms_key_arn, use that
#                 key through SNS only (an encrypted topic needs GenerateDataKey and Decrypt)
# The token is not here: ECS's execution role injects it, the Lambda role reads it (lambda.tf), and
# on Kubernetes it is a mounted Secret.

locals {
  drop_prefixes = distinct([for t in var.tenants : t.s3_prefix])
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "ReadTheDropPrefixes"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [for p in local.drop_prefixes : "${aws_s3_bucket.this["drop"].arn}/${p}*"]
  }

  statement {
    sid       = "ListTheDropPrefixes"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [aws_s3_bucket.this["drop"].arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for p in local.drop_prefixes : "${p}*"]
    }
  }

  statement {
    sid       = "ReadWriteTheLedger"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.this["state"].arn}/${var.state_prefix}*"]
  }

  statement {
    sid       = "ListTheLedger"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this["state"].arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.state_prefix}*"]
    }
  }

  statement {
    sid = "ConsumeTheQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [aws_sqs_queue.main.arn]
  }

  statement {
    sid       = "CopyPoisonToTheDeadLetterQueue"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "UseTheModuleKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }

  dynamic "statement" {
    for_each = length(local.notify_sns_topic_arns) > 0 ? [local.notify_sns_topic_arns] : []
    content {
      sid       = "PublishNotifications"
      actions   = ["sns:Publish"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.notify_sns_topic_arns) > 0 && var.notification_topics_kms_key_arn != "" ? [var.notification_topics_kms_key_arn] : []
    content {
      sid       = "UseTheNotificationTopicsKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_policy" "worker" {
  name        = "${var.name}-worker"
  description = "canvas-sis worker: drop prefixes, ledger prefix, queue, DLQ, key, notification topics"
  policy      = data.aws_iam_policy_document.worker.json
  tags        = var.tags
}
