"""Checks the plain JSON deploy files that checkov has no runner for.

deploy/ecs/task-definition.json (for `aws ecs register-task-definition --cli-input-json`):
  non-root numeric user, read-only root file system, every capability dropped, not privileged,
  scratch volumes at /work and /tmp with SIS_WORK_DIR=/work, the token only as a `secrets` entry
  (never in `environment`), every environment name one the worker reads, logs to awslogs; the
  notifications: a webhook URL only as a `secrets` entry (never SIS_NOTIFY_WEBHOOK_URL or a
  webhook-looking URL in `environment`), SIS_NOTIFY_WEBHOOK_FORMAT only with that secret and one
  of json/slack/teams, and SIS_NOTIFY_SNS_TOPIC_ARN a topic the policy lets the worker publish to.
deploy/iam/worker-policy.json (the minimal worker policy, the same statements as
terraform/iam.tf):
  Allow only, no wildcard action or resource, every action one the worker calls, and every
  statement id that terraform/iam.tf or terraform/lambda.tf also grants; sns:Publish on SNS topic
  ARNs only, in its own statement.

Run: python deploy/check_json.py  (exit 1 and one line per finding).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER_ENV = {
    "SIS_QUEUE_URL", "SIS_STATE_URL", "SIS_BUCKET", "SIS_WORK_DIR", "SIS_LISTEN_ADDR", "SIS_S3_CHECKSUMS",
    "SIS_PARALLEL",
    "CANVAS_BASE_URL", "CANVAS_ACCOUNT_ID", "CANVAS_TOKEN_FILE", "CANVAS_TOKEN_SECRET_ARN", "CANVAS_SIS_CONFIG",
    "CANVAS_SIS_LOG_FORMAT", "RUST_LOG", "AWS_REGION", "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    # crates/core/src/notify/config.rs raw_from_env; SIS_NOTIFY_WEBHOOK_URL is a secret, never plain environment.
    "SIS_NOTIFY_SNS_TOPIC_ARN", "SIS_NOTIFY_WEBHOOK_FORMAT", "SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS",
}
# The secrets ECS may inject: the token, and the no-config webhook URL (a config file's url_env
# may name another variable: add it here with the file).
WORKER_SECRETS = {"CANVAS_TOKEN", "SIS_NOTIFY_WEBHOOK_URL"}
WEBHOOK_FORMATS = {"json", "slack", "teams"}
# Incoming-webhook hosts whose URLs carry their key (Slack, Teams, Power Automate / Logic Apps).
WEBHOOK_URL = re.compile(r"^https?://([^/]*\.)?(hooks\.slack\.com|webhook\.office\.com|logic\.azure\.com)", re.I)
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\.fifo)?$")
POLICY = "deploy/iam/worker-policy.json"
# What the worker calls (crates/aws/src/ledger/, crates/aws/src/store/, crates/aws/src/queue/sqs.rs), plus the
# token read of the Lambda mode and the SNS notifications.
WORKER_ACTIONS = {
    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:ListBucket", "s3:ListBucketVersions",
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl", "sqs:SendMessage",
    "kms:Decrypt", "kms:GenerateDataKey", "secretsmanager:GetSecretValue", "sns:Publish",
}


def as_list(x) -> list:
    return x if isinstance(x, list) else [x]


def published_topics() -> set[str]:
    """The topics the worker policy grants sns:Publish on."""
    policy = json.loads((ROOT / POLICY).read_text())
    return {r for st in policy["Statement"] if "sns:Publish" in as_list(st["Action"]) for r in as_list(st["Resource"])}


def check_task_definition(findings: list[str]) -> None:
    where = "deploy/ecs/task-definition.json"
    td = json.loads((ROOT / where).read_text())
    (c,) = td["containerDefinitions"]
    user = c.get("user", "")
    if not user.split(":")[0].isdigit() or user.split(":")[0] == "0":
        findings.append(f"{where}: user {user!r} is not a non-root numeric uid")
    if c.get("readonlyRootFilesystem") is not True:
        findings.append(f"{where}: readonlyRootFilesystem is not true")
    if c.get("privileged", False):
        findings.append(f"{where}: privileged")
    if c.get("linuxParameters", {}).get("capabilities", {}).get("drop") != ["ALL"]:
        findings.append(f"{where}: capabilities are not all dropped")
    env = {e["name"]: e["value"] for e in c.get("environment", [])}
    for name in env:
        if name not in WORKER_ENV:
            findings.append(f"{where}: environment {name} is not a variable the worker reads")
    if "CANVAS_TOKEN" in env:
        findings.append(f"{where}: the token is in plain environment")
    secrets = [s["name"] for s in c.get("secrets", [])]
    if "CANVAS_TOKEN" not in secrets:
        findings.append(f"{where}: the token must come from `secrets` (CANVAS_TOKEN)")
    for name in secrets:
        if name not in WORKER_SECRETS:
            findings.append(f"{where}: secret {name} is not a variable the worker reads")
        if name in env:
            findings.append(f"{where}: {name} is both a secret and plain environment")
    if len(set(secrets)) != len(secrets):
        findings.append(f"{where}: a secret is injected twice")
    if "SIS_NOTIFY_WEBHOOK_URL" in env:
        findings.append(f"{where}: the webhook URL is in plain environment (give it in `secrets`)")
    for name, value in env.items():
        if WEBHOOK_URL.match(value):
            findings.append(f"{where}: {name} holds a webhook URL, a secret, in plain environment")
    fmt = env.get("SIS_NOTIFY_WEBHOOK_FORMAT")
    if fmt is not None and (fmt not in WEBHOOK_FORMATS or "SIS_NOTIFY_WEBHOOK_URL" not in secrets):
        findings.append(f"{where}: SIS_NOTIFY_WEBHOOK_FORMAT needs the SIS_NOTIFY_WEBHOOK_URL secret and json/slack/teams")
    if env.get("SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS", "false") not in ("true", "false"):
        findings.append(f"{where}: SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS is not true or false")
    topic = env.get("SIS_NOTIFY_SNS_TOPIC_ARN")
    if topic is not None and topic not in published_topics():
        findings.append(f"{where}: SIS_NOTIFY_SNS_TOPIC_ARN {topic} is not a topic {POLICY} grants sns:Publish on")
    mounts = {m["containerPath"] for m in c.get("mountPoints", [])}
    if mounts != {"/work", "/tmp"} or env.get("SIS_WORK_DIR") != "/work":
        findings.append(f"{where}: scratch volumes must be /work (SIS_WORK_DIR) and /tmp")
    if c.get("logConfiguration", {}).get("logDriver") != "awslogs":
        findings.append(f"{where}: logs do not go to awslogs")


def check_policy(findings: list[str]) -> None:
    where = POLICY
    policy = json.loads((ROOT / where).read_text())
    terraform = (ROOT / "terraform" / "iam.tf").read_text() + (ROOT / "terraform" / "lambda.tf").read_text()
    for st in policy["Statement"]:
        sid = st.get("Sid", "?")
        if st.get("Effect") != "Allow":
            findings.append(f"{where} {sid}: not an Allow statement")
        for action in as_list(st["Action"]):
            if "*" in action:
                findings.append(f"{where} {sid}: wildcard action {action}")
            elif action not in WORKER_ACTIONS:
                findings.append(f"{where} {sid}: {action} is not an action the worker calls")
        for resource in as_list(st["Resource"]):
            if resource == "*" or resource.endswith(":*"):
                findings.append(f"{where} {sid}: wildcard resource {resource}")
        if "sns:Publish" in as_list(st["Action"]):
            if as_list(st["Action"]) != ["sns:Publish"] or "Condition" in st:
                findings.append(f"{where} {sid}: sns:Publish belongs in its own unconditional statement")
            for resource in as_list(st["Resource"]):
                if not SNS_TOPIC_ARN.match(resource):
                    findings.append(f"{where} {sid}: {resource} is not an SNS topic ARN")
        base = sid.removesuffix("LambdaOnly")
        if base not in terraform and f"{base}AtStart" not in terraform:
            findings.append(f"{where} {sid}: no such statement in terraform/iam.tf or lambda.tf")


def main() -> int:
    findings: list[str] = []
    check_task_definition(findings)
    check_policy(findings)
    for f in findings:
        print(f"finding: {f}", file=sys.stderr)
    print(f"check_json: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
