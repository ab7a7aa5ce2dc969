# CloudWatch alarms: what an operator must hear about.
#   dead letters        the DLQ holds a message (poison, or one that failed max_receive_count times)
#   oldest message age  a tenant's stream is stuck (held batch, halted tenant, worker down)
#   no import           no successful import for no_import_alarm_hours (from the worker's logs)

locals {
  worker_log_groups = merge(
    local.create_ecs ? { ecs = aws_cloudwatch_log_group.ecs[0].name } : {},
    var.create_lambda ? { lambda = aws_cloudwatch_log_group.lambda[0].name } : {},
  )
  metric_namespace = "canvas-sis/${var.name}"
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${var.name}-dlq-not-empty"
  alarm_description   = "canvas-sis: the dead-letter queue holds messages. Runbook: docs/runbook.md > Messages in the DLQ."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  alarm_name          = "${var.name}-oldest-message-age"
  alarm_description   = "canvas-sis: a message has waited longer than ${var.oldest_message_age_threshold_seconds} s. Runbook: docs/runbook.md > A halted tenant / A held batch."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.main.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.oldest_message_age_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# One success per matching log line, summed over every log group the worker writes to.
resource "aws_cloudwatch_log_metric_filter" "import_succeeded" {
  for_each = var.no_import_alarm_hours > 0 ? local.worker_log_groups : {}

  name           = "${var.name}-import-succeeded-${each.key}"
  log_group_name = each.value
  pattern        = var.import_success_log_pattern

  metric_transformation {
    name          = "ImportsSucceeded"
    namespace     = local.metric_namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "no_import" {
  count = var.no_import_alarm_hours > 0 && length(local.worker_log_groups) > 0 ? 1 : 0

  alarm_name          = "${var.name}-no-successful-import"
  alarm_description   = "canvas-sis: no import succeeded for ${var.no_import_alarm_hours} h. Check the worker, the queue and the SIS export."
  namespace           = local.metric_namespace
  metric_name         = "ImportsSucceeded"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = var.no_import_alarm_hours
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  # No data at all (no worker logs) is as bad as no import.
  treat_missing_data = "breaching"
  alarm_actions      = var.alarm_actions
  ok_actions         = var.alarm_actions
  tags               = var.tags
}
