# Lambda: `canvas-sis lambda` (automatic under the Lambda runtime) on the custom runtime
# provided.al2023, fed by the FIFO queue. The zip holds the binary named `bootstrap`, built
# statically (RUSTFLAGS="-C target-feature=+crt-static": AL2023's glibc 2.34 is older than the
# build machine's). The function reads the token from Secrets Manager at start
# (CANVAS_TOKEN_SECRET_ARN) and reports partial batch failures (ReportBatchItemFailures): for FIFO
# it stops at the first message it cannot finish and returns it with every later one.
# Notifications: SNS (SIS_NOTIFY_SNS_TOPIC_ARN or the config file's topics) and the webhook of
# notify_webhook_url_secret_arn: Lambda has no secret injection, so the function gets the
# secret's ARN as <notify_webhook_url_env>_SECRET_ARN and reads the URL from Secrets Manager at
# start, as it reads the token (an SSM parameter is for ECS only).
# A message the function reports (an import still running at the invocation's end) is made
# visible again by the function itself after SIS_LAMBDA_RETRY_AFTER_SECS, not after the queue's
# visibility timeout; poison goes to the DLQ as in `run`.

locals {
  lambda_environment = merge(
    local.worker_environment,
    local.notify_webhook_environment,
    {
      CANVAS_TOKEN_SECRET_ARN = local.token_secret_arn
      SIS_WORK_DIR            = "/tmp"
    },
    var.notify_webhook_url_secret_arn != "" ? { "${var.notify_webhook_url_env}_SECRET_ARN" = var.notify_webhook_url_secret_arn } : {},
  )
}

resource "aws_cloudwatch_log_group" "lambda" {
  count = var.create_lambda ? 1 : 0

  name              = "/canvas-sis/${var.name}/lambda"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "lambda_runtime" {
  count = var.create_lambda ? 1 : 0

  statement {
    sid       = "WriteTheFunctionLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[0].arn}:*"]
  }

  statement {
    sid       = "ReadTheCanvasTokenAtStart"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.token_secret_arn]
  }

  dynamic "statement" {
    for_each = var.notify_webhook_url_secret_arn != "" ? [var.notify_webhook_url_secret_arn] : []
    content {
      sid       = "ReadTheWebhookUrlAtStart"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions
  }

  dynamic "statement" {
    for_each = var.lambda_in_vpc ? [1] : []
    content {
      sid = "AttachToTheVpc"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"] # ENI management cannot be scoped to resources
    }
  }
}

resource "aws_iam_role" "lambda" {
  count = var.create_lambda ? 1 : 0

  name               = "${var.name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "lambda_worker" {
  count = var.create_lambda ? 1 : 0

  role       = aws_iam_role.lambda[0].name
  policy_arn = aws_iam_policy.worker.arn
}

resource "aws_iam_role_policy" "lambda_runtime" {
  count = var.create_lambda ? 1 : 0

  name   = "function-runtime"
  role   = aws_iam_role.lambda[0].id
  policy = data.aws_iam_policy_document.lambda_runtime[0].json
}

resource "aws_lambda_function" "worker" {
  # checkov:skip=CKV_AWS_116:An SQS event source retries through the queue and its redrive policy to the FIFO DLQ; a function DLQ applies to asynchronous invocations only
  # checkov:skip=CKV_AWS_272:Code signing needs a signing profile the operator owns; the zip is built from the locked sources in CI
  # checkov:skip=CKV_AWS_117:The function runs in a VPC when lambda_in_vpc is set; it only calls HTTPS APIs (Canvas, S3, SQS, Secrets Manager)
  count = var.create_lambda ? 1 : 0

  function_name                  = var.name
  description                    = "canvas-sis worker: SQS FIFO batches to Canvas SIS Imports"
  role                           = aws_iam_role.lambda[0].arn
  filename                       = var.lambda_zip_path
  source_code_hash               = filebase64sha256(var.lambda_zip_path)
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = ["x86_64"]
  timeout                        = var.lambda_timeout_seconds
  memory_size                    = var.lambda_memory_mib
  reserved_concurrent_executions = var.lambda_maximum_concurrency
  kms_key_arn                    = aws_kms_key.this.arn

  ephemeral_storage {
    size = 10240
  }

  environment {
    variables = local.lambda_environment
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda[0].name
  }

  tracing_config {
    mode = "Active"
  }

  dynamic "vpc_config" {
    for_each = var.lambda_in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = [aws_security_group.worker[0].id]
    }
  }

  lifecycle {
    precondition {
      condition     = var.lambda_timeout_seconds <= var.queue_visibility_timeout_seconds
      error_message = "The queue's visibility timeout must be at least the function timeout (AWS advises 6x)."
    }
    precondition {
      condition     = local.token_secret_arn != ""
      error_message = "Lambda needs a token secret (create_token_secret or token_secret_arn)."
    }
    precondition {
      condition     = !can(regex("^arn:[^:]+:ssm:", var.notify_webhook_url_secret_arn))
      error_message = "The Lambda function reads a webhook URL from a Secrets Manager secret only: give notify_webhook_url_secret_arn as a secret's ARN (an SSM parameter is injected into ECS tasks only)."
    }
  }

  tags = var.tags
}

resource "aws_lambda_event_source_mapping" "queue" {
  count = var.create_lambda ? 1 : 0

  event_source_arn        = aws_sqs_queue.main.arn
  function_name           = aws_lambda_function.worker[0].arn
  batch_size              = var.lambda_batch_size
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.lambda_maximum_concurrency
  }
}

# The sweep's schedule. Lambda has no idle worker: a batch whose message is gone (parked behind a
# blackout or a halt since resumed, approved, or recorded before its message went to the DLQ)
# would wait for its tenant's next upload. Every lambda_sweep_minutes this rule invokes the
# function with a "Scheduled Event", and that invocation runs the worker's sweep.
resource "aws_cloudwatch_event_rule" "lambda_sweep" {
  count = var.create_lambda ? 1 : 0

  name                = "${var.name}-sweep"
  description         = "canvas-sis: the Lambda worker's sweep of batches whose messages are gone"
  schedule_expression = var.lambda_sweep_minutes == 1 ? "rate(1 minute)" : "rate(${var.lambda_sweep_minutes} minutes)"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "lambda_sweep" {
  count = var.create_lambda ? 1 : 0

  rule      = aws_cloudwatch_event_rule.lambda_sweep[0].name
  target_id = "sweep"
  arn       = aws_lambda_function.worker[0].arn
}

resource "aws_lambda_permission" "lambda_sweep" {
  count = var.create_lambda ? 1 : 0

  statement_id  = "SweepOnSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.worker[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.lambda_sweep[0].arn
}
