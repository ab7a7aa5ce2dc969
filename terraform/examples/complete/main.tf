# Two tenants on ECS Fargate (a long-running service), alarms to an SNS topic, and the Lambda
# function as an alternative consumer left off. Plan with:
#   terraform init && terraform plan -var 'vpc_id=vpc-...' -var 'subnet_ids=["subnet-..."]'

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60.0, < 7.0.0"
    }
  }
}

provider "aws" {
  region = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC of the worker."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets with a route to Canvas and the AWS APIs."
  type        = list(string)
}

resource "aws_sns_topic" "alarms" {
  name              = "canvas-sis-alarms"
  kms_master_key_id = "alias/aws/sns"
}

module "canvas_sis" {
  source = "../.."

  name = "canvas-sis"
  tenants = {
    main    = { s3_prefix = "main/" }
    sandbox = { s3_prefix = "sandbox/" }
  }

  ecs_mode          = "service"
  vpc_id            = var.vpc_id
  subnet_ids        = var.subnet_ids
  ecs_desired_count = 2

  # The two tenants' config file is baked into an image derived from canvas-sis
  # (FROM registry.example.com/canvas-sis:0.1.0 / COPY canvas-sis.toml /etc/canvas-sis/); both
  # tenants read the injected CANVAS_TOKEN (token_env = "CANVAS_TOKEN" in [defaults]), or a tenant
  # with its own token names another variable filled from extra_secrets.
  image = "registry.example.com/canvas-sis-school:0.1.0"
  extra_environment = {
    CANVAS_SIS_CONFIG = "/etc/canvas-sis/canvas-sis.toml"
  }

  alarm_actions = [aws_sns_topic.alarms.arn]

  tags = {
    project = "canvas-sis"
  }
}

output "queue_url" {
  description = "SIS_QUEUE_URL"
  value       = module.canvas_sis.queue_url
}

output "state_url" {
  description = "SIS_STATE_URL"
  value       = module.canvas_sis.state_url
}
