"""Creates on a local moto server what terraform/ creates in AWS, the same way.

The drop bucket with EventBridge notifications on, the state bucket, the FIFO dead-letter queue,
the FIFO queue (content-based deduplication, redrive to the DLQ after MAX_RECEIVE receives), and
for each tenant one EventBridge rule matching the keys that close a batch under its prefix
(`<prefix>*manifest.json`, `<prefix>*/READY`, `<prefix>*.zip`) whose target is the queue with the
tenant as its MessageGroupId: terraform/main.tf's aws_cloudwatch_event_rule.tenant.

Usage: python setup_aws.py ENDPOINT DROP_BUCKET STATE_BUCKET QUEUE_NAME TENANT=PREFIX...
Prints the queue URL. Needs boto3 (tests/python/requirements.txt pins it).
"""

from __future__ import annotations

import json
import sys

import boto3

REGION = "us-east-1"
MAX_RECEIVE = 50
TRIGGER_SUFFIXES = ["manifest.json", "/READY", ".zip"]  # terraform/variables.tf trigger_suffixes


def client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def rule_pattern(bucket: str, prefix: str) -> dict:
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket]},
            "object": {"key": [{"wildcard": f"{prefix}*{s}"} for s in TRIGGER_SUFFIXES]},
        },
    }


def main(endpoint: str, drop: str, state: str, queue: str, tenants: list[tuple[str, str]]) -> str:
    s3, sqs, events = client("s3", endpoint), client("sqs", endpoint), client("events", endpoint)
    for bucket in (drop, state):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=drop, NotificationConfiguration={"EventBridgeConfiguration": {}})
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    dlq_url = sqs.create_queue(QueueName=queue.replace(".fifo", "-dlq.fifo"), Attributes=fifo)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE})
    url = sqs.create_queue(QueueName=queue, Attributes={
        **fifo, "VisibilityTimeout": "300", "RedrivePolicy": redrive})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for tenant, prefix in tenants:
        name = f"canvas-sis-drop-{tenant}"
        events.put_rule(Name=name, EventPattern=json.dumps(rule_pattern(drop, prefix)))
        events.put_targets(Rule=name, Targets=[
            {"Id": "fifo", "Arn": arn, "SqsParameters": {"MessageGroupId": tenant}}])
    return url


if __name__ == "__main__":
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    pairs = [tuple(a.split("=", 1)) for a in sys.argv[5:]]
    print(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], pairs))
