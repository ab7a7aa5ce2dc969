# The SIS side of the drop (docs/deploying.md, "The SIS's upload"): per tenant, an IAM policy that
# lets the upstream SIS write only under that tenant's prefix of the drop bucket, encrypted with
# this module's KMS key (the bucket's default encryption), and list only that prefix; and, for the
# tenants given principals, a role in this account that those principals (an SIS host's role, or
# another AWS account) assume to get it, optionally only with an external id. The SIS never reads
# back objects, never deletes, and never touches another tenant's prefix or the state bucket.

locals {
  sis_writers = var.create_sis_writer_policies ? var.tenants : {}
}

data "aws_iam_policy_document" "sis_writer" {
  for_each = local.sis_writers

  statement {
    sid       = "WriteOnlyUnderTheTenantsPrefix"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["arn:${local.partition}:s3:::${local.drop_bucket}/${each.value.s3_prefix}*"]
  }

  statement {
    sid       = "ListOnlyTheTenantsPrefix"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.drop_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${each.value.s3_prefix}*"]
    }
  }

  statement {
    sid       = "EncryptWithTheModulesKeyThroughS3"
    actions   = ["kms:GenerateDataKey", "kms:Encrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "sis_writer" {
  for_each = local.sis_writers

  name        = "${var.name}-sis-writer-${each.key}"
  description = "canvas-sis ${var.name}: the SIS writes tenant ${each.key}'s batches under s3://${local.drop_bucket}/${each.value.s3_prefix}"
  policy      = data.aws_iam_policy_document.sis_writer[each.key].json
  tags        = var.tags
}

data "aws_iam_policy_document" "sis_writer_trust" {
  for_each = var.sis_writer_principals

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = each.value
    }
    dynamic "condition" {
      for_each = var.sis_writer_external_id != "" ? [var.sis_writer_external_id] : []
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "sis_writer" {
  for_each = var.sis_writer_principals

  name               = "${var.name}-sis-writer-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.sis_writer_trust[each.key].json
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = var.create_sis_writer_policies && contains(keys(var.tenants), each.key)
      error_message = "sis_writer_principals names tenant ${each.key}: it must be a key of tenants, with create_sis_writer_policies = true."
    }
  }
}

resource "aws_iam_role_policy_attachment" "sis_writer" {
  for_each = { for k, v in var.sis_writer_principals : k => v if contains(keys(local.sis_writers), k) }

  role       = aws_iam_role.sis_writer[each.key].name
  policy_arn = aws_iam_policy.sis_writer[each.key].arn
}
