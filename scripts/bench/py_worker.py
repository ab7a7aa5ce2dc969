#!/usr/bin/env python3
"""Baseline for scripts/bench_worker.sh: one folder batch from the queue to Canvas, the way today's
cron scripts do it (boto3 + zipfile + requests), with the environment `canvas-sis run` reads.

Long-polls SIS_QUEUE_URL for one message, reads the EventBridge "Object Created" body of a
manifest, downloads every CSV of that folder to a temp dir, zips them (ZIP_DEFLATED, default
level) into a temp file, POSTs the file as a raw body to CANVAS_BASE_URL's SIS import endpoint
(streamed from the open file), polls the import every 0.2 s until it ends, then deletes the
message. Exit 0 if Canvas imported it, 1 otherwise. No validation, ledger or ordering checks:
this is the baseline to beat, not a reference for correctness.

`--lean` (issue 19's reference): no download to disk — each object's GET is streamed straight
into its zip entry (`zipfile`, level 6) — then the same streamed raw-body POST (leaner than a
multipart body, which Canvas also takes), poll and delete.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile

import boto3
import requests
from botocore.config import Config

TERMINAL_OK = ("imported", "imported_with_messages")


def receive_one(sqs, queue_url):
    while True:
        out = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=20)
        if out.get("Messages"):
            return out["Messages"][0]


def download_folder(s3, bucket, prefix, into):
    paths = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix):]
            if name.endswith(".csv") and "/" not in name:
                path = os.path.join(into, name)
                s3.download_file(bucket, obj["Key"], path)
                paths.append(path)
    return sorted(paths)


def stream_folder_into_zip(s3, bucket, prefix, zip_path):
    """Each CSV of the folder, read from its GET's stream into its zip entry: nothing on disk
    but the zip, nothing in memory but a copy buffer."""
    names = []
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix):]
                if not name.endswith(".csv") or "/" in name:
                    continue
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
                with z.open(name, "w", force_zip64=True) as entry:
                    shutil.copyfileobj(body, entry, 1 << 20)
                names.append(name)
    return names


def submit_and_wait(base, token, zip_path, lap):
    auth = {"Authorization": f"Bearer {token}"}
    with open(zip_path, "rb") as f:
        r = requests.post(f"{base}/api/v1/accounts/self/sis_imports",
                          params={"import_type": "instructure_csv", "extension": "zip"},
                          headers={**auth, "Content-Type": "application/zip"}, data=f)
    r.raise_for_status()
    lap("upload")
    import_id = r.json()["id"]
    while True:
        state = requests.get(f"{base}/api/v1/accounts/self/sis_imports/{import_id}",
                             headers=auth).json()["workflow_state"]
        if state.startswith(("imported", "failed")) or state == "aborted":
            lap("wait")
            return import_id, state
        time.sleep(0.2)


def main():
    marks = [("start", time.monotonic())]
    lap = lambda name: marks.append((name, time.monotonic()))  # noqa: E731
    queue_url = os.environ["SIS_QUEUE_URL"]
    base, token = os.environ["CANVAS_BASE_URL"].rstrip("/"), os.environ["CANVAS_TOKEN"]
    sqs = boto3.client("sqs")
    s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
    msg = receive_one(sqs, queue_url)
    lap("receive")
    detail = json.loads(msg["Body"])["detail"]
    bucket, key = detail["bucket"]["name"], detail["object"]["key"]
    prefix = key.rsplit("/", 1)[0] + "/"
    with tempfile.TemporaryDirectory() as tmp:
        zip_path = os.path.join(tmp, "batch.zip")
        if "--lean" in sys.argv[1:]:
            csvs = stream_folder_into_zip(s3, bucket, prefix, zip_path)
            lap("download+zip")
        else:
            csvs = download_folder(s3, bucket, prefix, tmp)
            lap("download")
            with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
                for path in csvs:
                    z.write(path, arcname=os.path.basename(path))
            lap("zip")
        import_id, state = submit_and_wait(base, token, zip_path, lap)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    lap("delete")
    print(f"s3://{bucket}/{prefix}: {len(csvs)} CSVs, import {import_id} {state}", file=sys.stderr)
    print("phases, s (receive includes the clients' set-up): " + ", ".join(
        f"{name} {t - marks[i][1]:.2f}" for i, (name, t) in enumerate(marks[1:])), file=sys.stderr)
    sys.exit(0 if state in TERMINAL_OK else 1)


if __name__ == "__main__":
    main()
