# ECS Fargate: the worker as a long-running service (`canvas-sis run`) or as a task started on a
# schedule (`run --until-empty`). Read-only root file system; /work and /tmp are task volumes on
# Fargate's ephemeral storage. The token is injected from Secrets Manager as CANVAS_TOKEN by the
# ECS agent (execution role), so the task role never needs to read it for ECS; so is a webhook URL
# (notify_webhook_url_secret_arn, as notify_webhook_url_env).

locals {
  create_ecs      = var.ecs_mode != "none"
  ecs_cluster_arn = var.ecs_cluster_arn != "" ? var.ecs_cluster_arn : try(aws_ecs_cluster.this[0].arn, "")
  ecs_command     = var.ecs_mode == "scheduled" ? ["run", "--until-empty"] : ["run"]
}

resource "aws_cloudwatch_log_group" "ecs" {
  count = local.create_ecs ? 1 : 0

  name              = "/canvas-sis/${var.name}/ecs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_ecs_cluster" "this" {
  count = local.create_ecs && var.ecs_cluster_arn == "" ? 1 : 0

  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The task role: what the worker itself may do.
resource "aws_iam_role" "ecs_task" {
  count = local.create_ecs ? 1 : 0

  name               = "${var.name}-ecs-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ecs_task" {
  count = local.create_ecs ? 1 : 0

  role       = aws_iam_role.ecs_task[0].name
  policy_arn = aws_iam_policy.worker.arn
}

# The execution role: what ECS does to start the task (pull, logs, inject the token).
data "aws_iam_policy_document" "ecs_execution" {
  count = local.create_ecs ? 1 : 0

  statement {
    sid       = "WriteTheTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.ecs[0].arn}:*"]
  }

  dynamic "statement" {
    # A list, not a map: the created secret's ARN is unknown until apply.
    for_each = distinct(concat([local.token_secret_arn], values(var.extra_secrets), values(local.notify_webhook_secrets)))
    content {
      sid       = "InjectSecret${statement.key}"
      actions   = can(regex("^arn:[^:]+:ssm:", statement.value)) ? ["ssm:GetParameters"] : ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "DecryptTheCanvasToken"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role" "ecs_execution" {
  count = local.create_ecs ? 1 : 0

  name               = "${var.name}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "ecs_execution" {
  count = local.create_ecs ? 1 : 0

  name   = "start-the-worker"
  role   = aws_iam_role.ecs_execution[0].id
  policy = data.aws_iam_policy_document.ecs_execution[0].json
}

resource "aws_iam_role_policy_attachment" "ecs_execution_pull" {
  count = local.create_ecs ? 1 : 0

  role       = aws_iam_role.ecs_execution[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_ecs_task_definition" "worker" {
  count = local.create_ecs ? 1 : 0

  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.ecs_cpu
  memory                   = var.ecs_memory_mib
  task_role_arn            = aws_iam_role.ecs_task[0].arn
  execution_role_arn       = aws_iam_role.ecs_execution[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = var.ecs_ephemeral_storage_gib
  }

  volume {
    name = "work"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "canvas-sis"
    image                  = var.image
    essential              = true
    command                = local.ecs_command
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters = {
      capabilities = { drop = ["ALL"] }
    }
    environment = [for k, v in merge(local.worker_environment, local.notify_webhook_environment, { SIS_WORK_DIR = "/work", SIS_PARALLEL = tostring(var.ecs_parallel) }) : { name = k, value = v }]
    secrets     = [for k, v in merge(var.extra_secrets, local.notify_webhook_secrets, { CANVAS_TOKEN = local.token_secret_arn }) : { name = k, valueFrom = v }]
    mountPoints = [
      { sourceVolume = "work", containerPath = "/work", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    stopTimeout = 60
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.ecs[0].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "worker"
      }
    }
  }])

  lifecycle {
    precondition {
      condition     = var.image != "" && local.token_secret_arn != ""
      error_message = "ECS needs image, and a token secret (create_token_secret or token_secret_arn)."
    }
    precondition {
      condition     = var.notify_webhook_url_secret_arn == "" || !contains(concat(keys(var.extra_environment), keys(var.extra_secrets)), var.notify_webhook_url_env)
      error_message = "The webhook URL's variable (notify_webhook_url_env) comes from notify_webhook_url_secret_arn; do not also set it in extra_environment or extra_secrets."
    }
    precondition {
      condition     = var.notify_webhook_format == "" || var.notify_webhook_url_secret_arn != ""
      error_message = "notify_webhook_format describes a webhook: give its URL as notify_webhook_url_secret_arn."
    }
    precondition {
      condition     = !var.notify_on_success_with_warnings || var.notify_sns_topic_arn != "" || var.notify_webhook_url_secret_arn != ""
      error_message = "notify_on_success_with_warnings needs a destination: notify_sns_topic_arn or notify_webhook_url_secret_arn."
    }
  }

  tags = var.tags
}

resource "aws_security_group" "worker" {
  count = local.create_ecs || (var.create_lambda && var.lambda_in_vpc) ? 1 : 0

  name        = "${var.name}-worker"
  description = "canvas-sis worker: no inbound; HTTPS out to Canvas and AWS APIs"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to Canvas, S3, SQS, Secrets Manager, STS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = var.tags
}

resource "aws_ecs_service" "worker" {
  count = var.ecs_mode == "service" ? 1 : 0

  name            = var.name
  cluster         = local.ecs_cluster_arn
  task_definition = aws_ecs_task_definition.worker[0].arn
  desired_count   = var.ecs_desired_count
  launch_type     = "FARGATE"
  # A replaced task releases its message on SIGTERM and the next one resumes from the ledger, so
  # a rolling deployment may stop the old task first.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.worker[0].id]
    assign_public_ip = false
  }

  tags = var.tags
}

# Scheduled mode: EventBridge starts a drain task on a schedule.
data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
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
}

data "aws_iam_policy_document" "events_run_task" {
  count = var.ecs_mode == "scheduled" ? 1 : 0

  statement {
    sid       = "RunTheDrainTask"
    actions   = ["ecs:RunTask"]
    resources = [replace(aws_ecs_task_definition.worker[0].arn, "/:\\d+$/", ":*")]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.ecs_cluster_arn]
    }
  }

  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.ecs_task[0].arn, aws_iam_role.ecs_execution[0].arn]
  }
}

resource "aws_iam_role" "events_run_task" {
  count = var.ecs_mode == "scheduled" ? 1 : 0

  name               = "${var.name}-schedule"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "events_run_task" {
  count = var.ecs_mode == "scheduled" ? 1 : 0

  name   = "run-the-drain-task"
  role   = aws_iam_role.events_run_task[0].id
  policy = data.aws_iam_policy_document.events_run_task[0].json
}

resource "aws_cloudwatch_event_rule" "schedule" {
  count = var.ecs_mode == "scheduled" ? 1 : 0

  name                = "${var.name}-drain"
  description         = "canvas-sis: drain the queue (run --until-empty)"
  schedule_expression = var.ecs_schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  count = var.ecs_mode == "scheduled" ? 1 : 0

  rule     = aws_cloudwatch_event_rule.schedule[0].name
  arn      = local.ecs_cluster_arn
  role_arn = aws_iam_role.events_run_task[0].arn

  ecs_target {
    task_definition_arn = aws_ecs_task_definition.worker[0].arn
    task_count          = 1
    launch_type         = "FARGATE"
    network_configuration {
      subnets          = var.subnet_ids
      security_groups  = [aws_security_group.worker[0].id]
      assign_public_ip = false
    }
  }
}
