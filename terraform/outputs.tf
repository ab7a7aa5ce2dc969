# What the worker's deployment needs (SIS_QUEUE_URL, SIS_STATE_URL, SIS_BUCKET, the policy for an
# EKS role) and what operators look at.

output "drop_bucket" {
  description = "The drop bucket (SIS_BUCKET): the SIS writes batches under each tenant's prefix."
  value       = aws_s3_bucket.this["drop"].id
}

output "state_url" {
  description = "SIS_STATE_URL: the ledger and archives."
  value       = local.state_url
}

output "queue_url" {
  description = "SIS_QUEUE_URL: the FIFO queue the worker consumes."
  value       = aws_sqs_queue.main.url
}

output "queue_arn" {
  description = "ARN of the FIFO queue."
  value       = aws_sqs_queue.main.arn
}

output "dlq_url" {
  description = "URL of the FIFO dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "kms_key_arn" {
  description = "The module's KMS key (buckets, queues, secret, logs)."
  value       = aws_kms_key.this.arn
}

output "token_secret_arn" {
  description = "The Secrets Manager secret of the Canvas token (set its value out of band)."
  value       = local.token_secret_arn
}

output "worker_policy_arn" {
  description = "The worker's least-privilege policy: attach it to an IRSA or EKS Pod Identity role for Kubernetes."
  value       = aws_iam_policy.worker.arn
}

output "worker_policy_json" {
  description = "The same policy as JSON."
  value       = data.aws_iam_policy_document.worker.json
}

output "ecs_task_definition_arn" {
  description = "The worker's ECS task definition, if any."
  value       = try(aws_ecs_task_definition.worker[0].arn, null)
}

output "lambda_function_arn" {
  description = "The worker's Lambda function, if any."
  value       = try(aws_lambda_function.worker[0].arn, null)
}

output "tenant_rules" {
  description = "EventBridge rule name per tenant."
  value       = { for k, r in aws_cloudwatch_event_rule.tenant : k => r.name }
}

output "eks_role_arn" {
  description = "The worker's role for Kubernetes (IRSA: the chart's serviceAccount.roleArn), if any."
  value       = try(aws_iam_role.eks[0].arn, null)
}

output "sis_writer_policy_arns" {
  description = "Per tenant, the IAM policy that lets the upstream SIS write that tenant's batches (create_sis_writer_policies)."
  value       = { for k, p in aws_iam_policy.sis_writer : k => p.arn }
}

output "sis_writer_policy_json" {
  description = "Per tenant, the writer policy's JSON, to attach where the SIS's identity lives (another account, an IAM user)."
  value       = { for k, d in data.aws_iam_policy_document.sis_writer : k => d.json }
}

output "sis_writer_role_arns" {
  description = "Per tenant, the role the SIS assumes to write that tenant's batches (sis_writer_principals)."
  value       = { for k, r in aws_iam_role.sis_writer : k => r.arn }
}
