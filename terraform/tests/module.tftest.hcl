# Plans and applies the module against a mocked AWS provider (no AWS account, no network):
# checks the routing per tenant, the FIFO queue and DLQ, the worker's container and Lambda
# settings, the notifications (sns:Publish on the given topics only, the webhook URL as a secret),
# and the inputs it refuses. Run from terraform/: terraform init && terraform test
# (scripts/static_checks.sh does, where terraform and the AWS provider are installed).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { endpoint = "ec2.eu-west-1.amazonaws.com" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:canvas-sis.fifo", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/canvas-sis.fifo" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:canvas-sis/canvas-token-AbCdEf" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::123456789012:policy/canvas-sis-worker" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/canvas-sis-mock" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/canvas-sis" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/canvas-sis:3" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:canvas-sis" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/canvas-sis-sweep" }
  }
}

variables {
  tenants = {
    main    = { s3_prefix = "main/" }
    sandbox = { s3_prefix = "sandbox/" }
  }
  image           = "registry.example.com/canvas-sis:0.1.0"
  vpc_id          = "vpc-0123456789abcdef0"
  subnet_ids      = ["subnet-0123456789abcdef0"]
  canvas_base_url = "https://school.instructure.com"
  create_lambda   = true
  # A plan only hashes the zip: any file stands in for it.
  lambda_zip_path = "versions.tf"
}

run "each_tenant_has_its_rule_and_message_group" {
  command = apply

  assert {
    condition     = length(aws_cloudwatch_event_rule.tenant) == 2
    error_message = "one rule per tenant"
  }
  assert {
    condition     = aws_cloudwatch_event_target.tenant["main"].sqs_target[0].message_group_id == "main" && aws_cloudwatch_event_target.tenant["sandbox"].sqs_target[0].message_group_id == "sandbox"
    error_message = "each tenant's events go to its own message group"
  }
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.tenant["sandbox"].event_pattern).detail.object.key == [
      { wildcard = "sandbox/*manifest.json" }, { wildcard = "sandbox/*/READY" }, { wildcard = "sandbox/*.zip" },
    ]
    error_message = "the rule matches only the keys that close a batch under the tenant's prefix"
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.tenant["main"].event_pattern)["detail-type"] == ["Object Created"]
    error_message = "object-created events only"
  }
  assert {
    condition     = aws_s3_bucket_notification.drop.eventbridge
    error_message = "the drop bucket sends its events to EventBridge"
  }
}

run "queue_is_fifo_with_a_fifo_dlq" {
  command = apply

  assert {
    condition     = aws_sqs_queue.main.fifo_queue && aws_sqs_queue.main.content_based_deduplication && aws_sqs_queue.dlq.fifo_queue
    error_message = "FIFO queue with content-based deduplication and a FIFO DLQ"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.main.redrive_policy).maxReceiveCount == 50
    error_message = "redrive after max_receive_count receives"
  }
  assert {
    condition     = aws_sqs_queue.main.kms_master_key_id != null && aws_sqs_queue.dlq.kms_master_key_id != null
    error_message = "both queues encrypted"
  }
}

run "buckets_are_private_versioned_and_encrypted" {
  command = apply

  assert {
    condition     = alltrue([for b in aws_s3_bucket_public_access_block.this : b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets])
    error_message = "public access blocked on both buckets"
  }
  assert {
    condition     = alltrue([for v in aws_s3_bucket_versioning.this : v.versioning_configuration[0].status == "Enabled"])
    error_message = "versioning on both buckets"
  }
  assert {
    condition     = alltrue([for e in aws_s3_bucket_server_side_encryption_configuration.this : one(e.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"])
    error_message = "SSE-KMS on both buckets"
  }
  assert {
    condition     = output.state_url == "s3://canvas-sis-state-123456789012/canvas-sis/"
    error_message = "SIS_STATE_URL points at the ledger prefix"
  }
}

run "ecs_worker_is_non_root_read_only_with_the_token_as_a_secret" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].readonlyRootFilesystem == true && jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].user == "65532:65532"
    error_message = "read-only root file system, non-root user"
  }
  assert {
    condition     = [for s in jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].secrets : s.name] == ["CANVAS_TOKEN"]
    error_message = "the token is injected from the secret"
  }
  assert {
    condition     = !contains([for e in jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].environment : e.name], "CANVAS_TOKEN")
    error_message = "the token is never plain environment"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].command == ["run"] && length(aws_ecs_service.worker) == 1
    error_message = "service mode runs a long-running `run`"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].environment : e.name => e.value }["SIS_PARALLEL"] == "4"
    error_message = "the ECS worker serves four tenants at once by default"
  }
}

run "ecs_parallel_outside_its_range_is_refused" {
  command = plan

  variables {
    ecs_parallel = 0
  }

  expect_failures = [var.ecs_parallel]
}

run "lambda_reads_the_fifo_queue_with_partial_batch_failures" {
  command = apply

  assert {
    condition     = aws_lambda_function.worker[0].runtime == "provided.al2023" && aws_lambda_function.worker[0].handler == "bootstrap"
    error_message = "custom runtime, bootstrap binary"
  }
  assert {
    condition     = contains(aws_lambda_event_source_mapping.queue[0].function_response_types, "ReportBatchItemFailures") && aws_lambda_event_source_mapping.queue[0].batch_size == 1
    error_message = "ReportBatchItemFailures, batch size within the FIFO limit"
  }
  assert {
    condition     = aws_lambda_function.worker[0].environment[0].variables["CANVAS_TOKEN_SECRET_ARN"] == output.token_secret_arn
    error_message = "the function reads the token from the secret at start"
  }
  assert {
    condition     = aws_cloudwatch_event_rule.lambda_sweep[0].schedule_expression == "rate(5 minutes)" && aws_cloudwatch_event_target.lambda_sweep[0].arn == aws_lambda_function.worker[0].arn
    error_message = "a schedule invokes the function for the sweep every five minutes"
  }
  assert {
    condition     = aws_lambda_permission.lambda_sweep[0].principal == "events.amazonaws.com" && aws_lambda_permission.lambda_sweep[0].source_arn == aws_cloudwatch_event_rule.lambda_sweep[0].arn
    error_message = "only the sweep's rule may invoke the function from EventBridge"
  }
}

run "scheduled_mode_drains_the_queue" {
  command = apply

  variables {
    ecs_mode = "scheduled"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].command == ["run", "--until-empty"] && length(aws_ecs_service.worker) == 0 && length(aws_cloudwatch_event_target.schedule) == 1
    error_message = "scheduled mode starts `run --until-empty` tasks and no service"
  }
}

run "fifo_batch_size_above_ten_is_refused" {
  command = plan

  variables {
    lambda_batch_size = 11
  }

  expect_failures = [var.lambda_batch_size]
}

run "token_in_plain_environment_is_refused" {
  command = plan

  variables {
    extra_environment = { CANVAS_TOKEN = "secret" }
  }

  expect_failures = [var.extra_environment]
}

run "lambda_timeout_above_the_queue_visibility_is_refused" {
  command = plan

  variables {
    queue_visibility_timeout_seconds = 600
  }

  expect_failures = [aws_lambda_function.worker]
}

run "notifications_publish_only_to_the_given_topics_and_keep_the_webhook_secret" {
  command = apply

  variables {
    notification_topic_arns         = ["arn:aws:sns:eu-west-1:123456789012:canvas-sis-sandbox"]
    notify_sns_topic_arn            = "arn:aws:sns:eu-west-1:123456789012:canvas-sis-notifications"
    notification_topics_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    notify_webhook_url_secret_arn   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:canvas-sis/webhook-url-AbCdEf"
    notify_webhook_format           = "slack"
    notify_on_success_with_warnings = true
  }

  assert {
    condition = flatten([for s in data.aws_iam_policy_document.worker.statement : sort(s.resources) if s.sid == "PublishNotifications"]) == [
      "arn:aws:sns:eu-west-1:123456789012:canvas-sis-notifications", "arn:aws:sns:eu-west-1:123456789012:canvas-sis-sandbox",
    ] && flatten([for s in data.aws_iam_policy_document.worker.statement : sort(s.actions) if s.sid == "PublishNotifications"]) == ["sns:Publish"]
    error_message = "sns:Publish on the given topics only"
  }
  assert {
    condition = flatten([for s in data.aws_iam_policy_document.worker.statement : sort(s.resources) if s.sid == "UseTheNotificationTopicsKey"]) == [
      "arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111",
      ] && flatten([for s in data.aws_iam_policy_document.worker.statement : sort(s.actions) if s.sid == "UseTheNotificationTopicsKey"]) == ["kms:Decrypt", "kms:GenerateDataKey"] && flatten([for s in data.aws_iam_policy_document.worker.statement : [for c in s.condition : "${c.test} ${c.variable} ${join(",", sort(c.values))}"] if s.sid == "UseTheNotificationTopicsKey"]) == [
      "StringEquals kms:ViaService sns.eu-west-1.amazonaws.com",
    ]
    error_message = "the topics' key, through SNS only"
  }
  assert {
    condition     = [for s in jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].secrets : s.name] == ["CANVAS_TOKEN", "SIS_NOTIFY_WEBHOOK_URL"]
    error_message = "ECS injects the webhook URL from its secret"
  }
  assert {
    condition     = length([for e in jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].environment : e if strcontains(e.value, "webhook-url") || e.name == "SIS_NOTIFY_WEBHOOK_URL"]) == 0
    error_message = "the webhook URL is never plain environment"
  }
  assert {
    condition     = contains(flatten([for s in data.aws_iam_policy_document.ecs_execution[0].statement : tolist(s.resources)]), "arn:aws:secretsmanager:eu-west-1:123456789012:secret:canvas-sis/webhook-url-AbCdEf")
    error_message = "the execution role may read the webhook URL's secret"
  }
  assert {
    condition = { for e in jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].environment : e.name => e.value if startswith(e.name, "SIS_NOTIFY_") } == {
      SIS_NOTIFY_SNS_TOPIC_ARN            = "arn:aws:sns:eu-west-1:123456789012:canvas-sis-notifications"
      SIS_NOTIFY_WEBHOOK_FORMAT           = "slack"
      SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS = "true"
    }
    error_message = "ECS gets the topic, the webhook format and the warnings switch"
  }
  assert {
    condition = { for k, v in aws_lambda_function.worker[0].environment[0].variables : k => v if startswith(k, "SIS_NOTIFY_") } == {
      SIS_NOTIFY_SNS_TOPIC_ARN            = "arn:aws:sns:eu-west-1:123456789012:canvas-sis-notifications"
      SIS_NOTIFY_WEBHOOK_FORMAT           = "slack"
      SIS_NOTIFY_WEBHOOK_URL_SECRET_ARN   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:canvas-sis/webhook-url-AbCdEf"
      SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS = "true"
    }
    error_message = "Lambda gets the topic, the webhook's format and its secret's ARN (read at start), never the URL"
  }
  assert {
    condition = flatten([for s in data.aws_iam_policy_document.lambda_runtime[0].statement : [for a in s.actions : "${a} ${join(",", s.resources)}"] if s.sid == "ReadTheWebhookUrlAtStart"]) == [
      "secretsmanager:GetSecretValue arn:aws:secretsmanager:eu-west-1:123456789012:secret:canvas-sis/webhook-url-AbCdEf",
    ]
    error_message = "the function may read the webhook URL's secret, and only that"
  }
}

run "a_webhook_url_in_ssm_is_refused_for_lambda" {
  command = plan

  variables {
    # Built by format(): checkov's secrets scan takes any literal SSM ARN given to a *_secret_arn
    # variable for a high-entropy string; this one names a parameter, not its value.
    notify_webhook_url_secret_arn = format("arn:aws:ssm:%s:123456789012:parameter/slack", "eu-west-1")
  }

  expect_failures = [aws_lambda_function.worker]
}

run "no_notifications_no_grant" {
  command = apply

  assert {
    condition     = length([for s in data.aws_iam_policy_document.worker.statement : s if contains(["PublishNotifications", "UseTheNotificationTopicsKey"], s.sid)]) == 0
    error_message = "no topics: no sns:Publish and no topic key"
  }
  assert {
    condition     = length([for e in jsondecode(aws_ecs_task_definition.worker[0].container_definitions)[0].environment : e if startswith(e.name, "SIS_NOTIFY_")]) == 0
    error_message = "no topics: no SIS_NOTIFY_* variables"
  }
}

run "webhook_url_in_plain_environment_is_refused" {
  command = plan

  variables {
    extra_environment = { SLACK_WEBHOOK_URL = "https://hooks.slack.com/services/example-not-a-key" }
  }

  expect_failures = [var.extra_environment]
}

run "wildcard_topic_is_refused" {
  command = plan

  variables {
    notification_topic_arns = ["arn:aws:sns:eu-west-1:123456789012:*"]
  }

  expect_failures = [var.notification_topic_arns]
}

run "notification_settings_without_a_destination_are_refused" {
  command = plan

  variables {
    notify_webhook_format           = "slack"
    notify_on_success_with_warnings = true
  }

  expect_failures = [aws_ecs_task_definition.worker]
}

run "lambda_timeout_above_fifteen_minutes_is_refused" {
  command = plan

  variables {
    lambda_timeout_seconds = 901
  }

  expect_failures = [var.lambda_timeout_seconds]
}

run "lambda_concurrency_below_two_is_refused" {
  command = plan

  variables {
    lambda_maximum_concurrency = 1
  }

  expect_failures = [var.lambda_maximum_concurrency]
}

run "lambda_memory_outside_lambdas_range_is_refused" {
  command = plan

  variables {
    lambda_memory_mib = 64
  }

  expect_failures = [var.lambda_memory_mib]
}

run "fargate_storage_outside_its_range_is_refused" {
  command = plan

  variables {
    ecs_ephemeral_storage_gib = 20
  }

  expect_failures = [var.ecs_ephemeral_storage_gib]
}

run "a_log_retention_cloudwatch_does_not_offer_is_refused" {
  command = plan

  variables {
    log_retention_days = 100
  }

  expect_failures = [var.log_retention_days]
}

run "overlapping_tenant_prefixes_are_refused" {
  command = plan

  variables {
    tenants = {
      district = { s3_prefix = "district/" }
      nested   = { s3_prefix = "district/east/" }
    }
  }

  expect_failures = [var.tenants]
}

run "a_whole_bucket_tenant_beside_another_is_refused" {
  command = plan

  variables {
    tenants = {
      everything = { s3_prefix = "" }
      west       = { s3_prefix = "west/" }
    }
  }

  expect_failures = [var.tenants]
}

run "separate_tenant_prefixes_are_accepted" {
  command = plan

  variables {
    tenants = {
      east = { s3_prefix = "east/" }
      west = { s3_prefix = "west/" }
    }
  }
}

run "the_sis_writes_only_under_its_tenants_prefix_with_the_modules_key" {
  command = plan

  variables {
    tenants = {
      east = { s3_prefix = "east/" }
      west = { s3_prefix = "west/" }
    }
    create_sis_writer_policies = true
    sis_writer_principals      = { east = ["arn:aws:iam::210987654321:role/sis-export"] }
    sis_writer_external_id     = "east-sis-7f2c"
  }

  assert {
    condition     = length(aws_iam_policy.sis_writer) == 2
    error_message = "one writer policy per tenant"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.sis_writer["east"].statement : s.resources if s.sid == "WriteOnlyUnderTheTenantsPrefix"]) == toset(["arn:aws:s3:::canvas-sis-drop-123456789012/east/*"])
    error_message = "east writes only under east/"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.sis_writer["east"].statement : s.actions if s.sid == "WriteOnlyUnderTheTenantsPrefix"]) == toset(["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"])
    error_message = "the SIS writes; it never reads back or deletes"
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.sis_writer["west"].statement : alltrue([for r in s.resources : !strcontains(r, "/east/")])])
    error_message = "west's policy reaches nothing of east"
  }
  assert {
    condition     = length(aws_iam_role.sis_writer) == 1 && contains(keys(aws_iam_role.sis_writer), "east")
    error_message = "a role only for the tenant given principals"
  }
  assert {
    condition     = one(one(data.aws_iam_policy_document.sis_writer_trust["east"].statement).condition).values == tolist(["east-sis-7f2c"])
    error_message = "the role asks for the external id"
  }
}

run "a_writer_role_for_an_unknown_tenant_is_refused" {
  command = plan

  variables {
    create_sis_writer_policies = true
    sis_writer_principals      = { nobody = ["arn:aws:iam::210987654321:role/sis-export"] }
  }

  expect_failures = [aws_iam_role.sis_writer]
}

run "no_writer_policies_unless_asked" {
  command = plan

  assert {
    condition     = length(aws_iam_policy.sis_writer) == 0 && length(aws_iam_role.sis_writer) == 0
    error_message = "the writer policies are opt-in"
  }
}
