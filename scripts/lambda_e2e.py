#!/usr/bin/env python3
"""The indexer Lambda end to end, under cargo-lambda, against moto S3 on loopback.

1. Puts a gzip Firehose object (mock-sales records) in a staging bucket and the index config
   in a config bucket, on the moto server named by HYDRANT_TEST_S3_ENDPOINT.
2. Runs `cargo lambda watch` with the indexer's settings in an env file.
3. Sends `cargo lambda invoke` an SQS FIFO event whose body is the EventBridge `Object Created`
   event for that object, twice (the second delivery must change nothing).
4. Searches the index with `hydrant search` and checks every record is found once.

Every wait is bounded; the function server is stopped on exit.
"""

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_RECORDS = 300


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout, process):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"cargo lambda watch exited early with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"cargo lambda watch did not listen on {port} within {timeout}s")


def main():
    endpoint = os.environ["HYDRANT_TEST_S3_ENDPOINT"]
    aws_env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    suffix = uuid.uuid4().hex[:8]
    staging_bucket, index_bucket = f"e2e-staging-{suffix}", f"e2e-index-{suffix}"
    for bucket in (staging_bucket, index_bucket):
        s3.create_bucket(Bucket=bucket)

    with open(os.path.join(ROOT, "loadtest", "datagen", "configs", "mock-sales.yaml"), "rb") as config:
        s3.put_object(Bucket=staging_bucket, Key="configs/mock-sales.yaml", Body=config.read())
    records = "".join(
        json.dumps({
            "ts": 1_700_000_000_000 + i,
            "id": i,
            "name": "kettle" if i % 3 == 0 else "teapot",
            "price": i / 10,
            "quantity": i % 10,
            "description": f"record number {i}",
        }) + "\n"
        for i in range(NUM_RECORDS)
    )
    key = "firehose/2026/11/22/19/mock-sales-1-2026-11-22-19-00-00-" + suffix
    put = s3.put_object(Bucket=staging_bucket, Key=key, Body=gzip.compress(records.encode()))
    etag = put["ETag"].strip('"')

    work = tempfile.mkdtemp(prefix="hydrant-lambda-e2e-")
    env_file = os.path.join(work, "indexer.env")
    with open(env_file, "w") as out:
        settings = dict(aws_env)
        settings.update({
            "HYDRANT_INDEX_URI": f"s3://{index_bucket}",
            "HYDRANT_INDEX_CONFIGS": f"s3://{staging_bucket}/configs/mock-sales.yaml",
            "HYDRANT_TEMP_DIR": work,
        })
        out.write("".join(f"{name}={value}\n" for name, value in settings.items()))

    eventbridge = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-22T19:00:05Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{staging_bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": staging_bucket},
            "object": {"key": key, "size": len(records), "etag": etag, "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }
    sqs_event = {"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": json.dumps(eventbridge),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1763838005000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1763838005001",
            "SequenceNumber": "18849496460467696128",
            "MessageGroupId": "mock-sales",
            "MessageDeduplicationId": etag,
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hydrant-indexing.fifo",
        "awsRegion": "us-east-1",
    }]}
    event_file = os.path.join(work, "event.json")
    with open(event_file, "w") as out:
        json.dump(sqs_event, out)

    # Build first: `cargo lambda watch` compiles on the first invocation, after the invocation's
    # deadline has started counting.
    subprocess.run(["cargo", "build", "-p", "hydrant-lambda", "--bin", "hydrant-indexer"], cwd=ROOT, check=True, timeout=1200)
    port = free_port()
    watch = subprocess.Popen(
        ["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(port), "--env-file", env_file,
         "--ignore-changes", "-p", "hydrant-lambda", "--bin", "hydrant-indexer"],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, 600, watch)
        for delivery in (1, 2):
            invoked = subprocess.run(
                ["cargo", "lambda", "invoke", "hydrant-indexer", "-A", "127.0.0.1", "-P", str(port),
                 "--data-file", event_file],
                cwd=ROOT, capture_output=True, text=True, timeout=600,
            )
            if invoked.returncode != 0:
                raise SystemExit(f"invoke failed:\n{invoked.stdout}\n{invoked.stderr}")
            response = json.loads(invoked.stdout)
            print(f"delivery {delivery}: {response}")
            if response.get("batchItemFailures"):
                raise SystemExit(f"the indexer reported failures: {response}")
    finally:
        os.killpg(watch.pid, signal.SIGTERM)
        try:
            watch.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(watch.pid, signal.SIGKILL)

    search_env = dict(os.environ)
    search_env.update(aws_env)
    found = {}
    for query in ("*", "name:kettle", "quantity:>5"):
        searched = subprocess.run(
            ["cargo", "run", "-q", "-p", "hydrant", "--", "search", "--index-uri", f"s3://{index_bucket}",
             "--index", "mock-sales", "--query", query, "--max-hits", "0"],
            cwd=ROOT, env=search_env, capture_output=True, text=True, timeout=600,
        )
        if searched.returncode != 0:
            raise SystemExit(f"search failed:\n{searched.stdout}\n{searched.stderr}")
        found[query] = json.loads(searched.stdout)["num_hits"]
    expected = {
        "*": NUM_RECORDS,
        "name:kettle": len([i for i in range(NUM_RECORDS) if i % 3 == 0]),
        "quantity:>5": len([i for i in range(NUM_RECORDS) if i % 10 > 5]),
    }
    print(f"searched: {found}")
    if found != expected:
        raise SystemExit(f"expected {expected}, found {found}")
    splits = s3.list_objects_v2(Bucket=index_bucket, Prefix="indexes/mock-sales/splits/").get("KeyCount", 0)
    if splits != 1:
        raise SystemExit(f"expected exactly one split after two deliveries, found {splits}")
    shutil.rmtree(work, ignore_errors=True)
    print("lambda e2e: ok")


if __name__ == "__main__":
    sys.exit(main())
