#!/usr/bin/env python3
"""Both Lambdas end to end, under cargo-lambda, against moto S3 on loopback.

1. Puts a gzip Firehose object (mock-sales records) in a staging bucket and the index config
   in a config bucket, on the moto server named by HYDRANT_TEST_S3_ENDPOINT.
2. Runs `cargo lambda watch` with both functions' settings in an env file, its output kept.
3. Sends `cargo lambda invoke` an SQS FIFO event whose body is the EventBridge `Object Created`
   event for that object, twice (the second delivery must change nothing).
4. Searches the index with `hydrant search` and checks every record is found once; searches
   it through the searcher function with an API Gateway event and a direct invocation.
5. Reads what the functions printed: one JSON log line per invocation with its fields, and
   EMF metric lines with the function and index dimensions; prints the log bytes per
   invocation (BENCHMARKS.md records them).
6. Indexes a second object (a second split) and searches again: with `HYDRANT_SPLITS_PER_LEAF=1`
   the searcher keeps one split and sends the other, through the Lambda Invoke API that
   `cargo lambda watch` serves, to a second instance of itself (`--concurrency 2`); the
   merged count must be both objects', and the lines must show the leaf and the root.
7. Opens the search page in headless Chromium through the function's URL (`/lambda-url/...`)
   and checks the hits and histogram it shows for two queries.
8. Creates a delete task through the Function URL (the searcher runs with the stack's
   `AllowDeleteTasks`), sends the indexer the scheduled maintenance message, and checks through
   the API that the task was applied; the final `hydrant search` counts are without its records.

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
import urllib.request
import uuid

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import launch, wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_RECORDS = 300
# The delete task of step 8 removes the records of this quantity.
DELETED_QUANTITY = 9


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
    def put_records(ids, key):
        records = "".join(
            json.dumps({
                "ts": 1_700_000_000_000 + i,
                "id": i,
                "name": "kettle" if i % 3 == 0 else "teapot",
                "price": i / 10,
                "quantity": i % 10,
                "description": f"record number {i}",
            }) + "\n"
            for i in ids
        )
        put = s3.put_object(Bucket=staging_bucket, Key=key, Body=gzip.compress(records.encode()))
        return key, put["ETag"].strip('"'), len(records)

    first = put_records(range(NUM_RECORDS), "firehose/2026/11/22/19/mock-sales-1-2026-11-22-19-00-00-" + suffix)
    second = put_records(range(NUM_RECORDS, 2 * NUM_RECORDS), "firehose/2026/11/22/20/mock-sales-1-2026-11-22-20-00-00-" + suffix)

    work = tempfile.mkdtemp(prefix="hydrant-lambda-e2e-")
    env_file = os.path.join(work, "indexer.env")
    with open(env_file, "w") as out:
        settings = dict(aws_env)
        settings.update({
            "HYDRANT_INDEX_URI": f"s3://{index_bucket}",
            "HYDRANT_INDEX_CONFIGS": f"s3://{staging_bucket}/configs/mock-sales.yaml",
            "HYDRANT_TEMP_DIR": work,
            "HYDRANT_CORS_ALLOW_ORIGIN": "https://grafana.example.com",
            # A search of two splits keeps one and sends one to a leaf invocation, through the
            # Invoke API of the function server (the port is filled in below).
            "HYDRANT_SPLITS_PER_LEAF": "1",
            "HYDRANT_LEAF_FUNCTION": "hydrant-searcher",
            # The stack's AllowDeleteTasks: the searcher takes POST .../delete-tasks.
            "HYDRANT_ALLOW_DELETE_TASKS": "true",
            # As Lambda sets them from the stack's LoggingConfig (JSON, INFO).
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
        })
        out.write("".join(f"{name}={value}\n" for name, value in settings.items()))

    def write_sqs_event(name, key, etag, size):
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
                "object": {"key": key, "size": size, "etag": etag, "sequencer": "00617F08299329D189"},
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "123456789012",
                "reason": "PutObject",
            },
        }
        sqs_event = {"Records": [{
            "messageId": str(uuid.uuid4()),
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
        path = os.path.join(work, f"{name}.json")
        with open(path, "w") as out:
            json.dump(sqs_event, out)
        return path

    event_file = write_sqs_event("event", *first)
    second_event_file = write_sqs_event("second-event", *second)

    # Build first: `cargo lambda watch` compiles on the first invocation, after the invocation's
    # deadline has started counting.
    subprocess.run(["cargo", "build", "-p", "hydrant-lambda", "--bins"], cwd=ROOT, check=True, timeout=1200)
    port = free_port()
    with open(env_file, "a") as out:
        out.write(f"AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:{port}\n")
    output_path = os.path.join(work, "functions.log")
    output = open(output_path, "w")
    watch = subprocess.Popen(
        ["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(port), "--env-file", env_file,
         "--ignore-changes", "--concurrency", "2", "-p", "hydrant-lambda"],
        cwd=ROOT,
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    answers = []

    def deliver(name, path):
        invoked = subprocess.run(
            ["cargo", "lambda", "invoke", "hydrant-indexer", "-A", "127.0.0.1", "-P", str(port),
             "--data-file", path],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        if invoked.returncode != 0:
            raise SystemExit(f"invoke failed:\n{invoked.stdout}\n{invoked.stderr}")
        response = json.loads(invoked.stdout)
        print(f"{name}: {response}")
        if response.get("batchItemFailures"):
            raise SystemExit(f"the indexer reported failures: {response}")

    try:
        wait_for_port(port, 600, watch)
        for delivery in (1, 2):
            deliver(f"delivery {delivery}", event_file)
        answers = search_through_the_function(port, work)
        # cargo lambda relays each function's output on its own: wait (bounded) until the two
        # searches' metric lines have arrived before the first phase's lines are counted.
        first_phase_lines = wait_for_lines(
            output_path, lambda lines: sum('"Requests":1' in line for line in lines) >= 2, 30)
        # A second split, then a search that fans out.
        deliver("second object", second_event_file)
        # The warm searcher trusts its metastore document for 3 s (METASTORE_TTL) before it
        # revalidates it and sees the new split.
        time.sleep(4)
        fanned_out = search_through_the_function(port, work, kinds=("direct",))
        fan_out_lines = wait_for_lines(
            output_path, lambda lines: any('"LeafSearches"' in line for line in lines)
            and any('"LeafInvocations"' in line for line in lines), 30)
        search_page_through_the_function(port, {"*": 2 * NUM_RECORDS, "name:kettle": len(
            [i for i in range(2 * NUM_RECORDS) if i % 3 == 0])})
        splits = s3.list_objects_v2(Bucket=index_bucket, Prefix="indexes/mock-sales/splits/").get("KeyCount", 0)
        if splits != 2:
            raise SystemExit(f"expected one split per object (the redelivery made none), found {splits}")
        # A delete task through the searcher's Function URL, applied by the indexer's scheduled
        # maintenance message.
        delete_through_the_functions(port, work, deliver)
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
    # Every id but those the delete task removed.
    every_id = [i for i in range(2 * NUM_RECORDS) if i % 10 != DELETED_QUANTITY]
    expected = {
        "*": len(every_id),
        "name:kettle": len([i for i in every_id if i % 3 == 0]),
        "quantity:>5": len([i for i in every_id if i % 10 > 5]),
    }
    print(f"searched: {found}")
    if found != expected:
        raise SystemExit(f"expected {expected}, found {found}")
    kettles = len([i for i in range(NUM_RECORDS) if i % 3 == 0])
    if answers != [kettles, kettles]:
        raise SystemExit(f"the searcher function found {answers}, expected {kettles} twice")
    all_kettles = len([i for i in range(2 * NUM_RECORDS) if i % 3 == 0])
    if fanned_out != [all_kettles]:
        raise SystemExit(f"the fanned-out search found {fanned_out}, expected {all_kettles}")
    output.close()
    with open(output_path) as printed:
        lines = printed.read().splitlines()
    check_function_output(lines[:first_phase_lines])
    check_fan_out_output(lines[first_phase_lines:fan_out_lines])
    shutil.rmtree(work, ignore_errors=True)
    print("lambda e2e: ok")


def search_through_the_function(port, work, kinds=("apigw", "direct")):
    """The searcher function, as API Gateway and a backend service call it; its hit counts."""
    with open(os.path.join(ROOT, "lambda", "tests", "fixtures", "apigw-v1-search.json")) as fixture:
        apigw = json.load(fixture)
    apigw["path"] = "/prod/api/v1/mock-sales/search"
    apigw["pathParameters"] = {"proxy": "mock-sales/search"}
    apigw["queryStringParameters"] = {"query": "name:kettle", "max_hits": "1"}
    apigw["multiValueQueryStringParameters"] = {"query": ["name:kettle"], "max_hits": ["1"]}
    direct = {"index_id": "mock-sales", "query": "name:kettle", "max_hits": 1}
    counts = []
    for name, event in (("apigw", apigw), ("direct", direct)):
        if name not in kinds:
            continue
        event_file = os.path.join(work, f"search-{name}.json")
        with open(event_file, "w") as out:
            json.dump(event, out)
        invoked = subprocess.run(
            ["cargo", "lambda", "invoke", "hydrant-searcher", "-A", "127.0.0.1", "-P", str(port),
             "--data-file", event_file],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        if invoked.returncode != 0:
            raise SystemExit(f"search invoke failed:\n{invoked.stdout}\n{invoked.stderr}")
        answer = json.loads(invoked.stdout)
        if name == "apigw":
            if answer["headers"].get("access-control-allow-origin") != "https://grafana.example.com":
                raise SystemExit(f"no CORS header on the API answer: {answer['headers']}")
            answer = json.loads(answer["body"])
        counts.append(answer["num_hits"])
    return counts


def delete_through_the_functions(port, work, deliver):
    """`POST /api/v1/mock-sales/delete-tasks` through the Function URL (the searcher runs with
    HYDRANT_ALLOW_DELETE_TASKS, as the stack's AllowDeleteTasks sets it), then the maintenance
    message the schedule sends, to the indexer; the task's state through the API after."""
    base = f"http://127.0.0.1:{port}/lambda-url/hydrant-searcher/api/v1/mock-sales/delete-tasks"
    body = json.dumps({"query": f"quantity:{DELETED_QUANTITY}"}).encode()
    request = urllib.request.Request(base, data=body, method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        created = json.load(answer)
    if created.get("opstamp") != 1:
        raise SystemExit(f"the delete task was not created: {created}")
    maintenance = {"Records": [{
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "AQEBmaintenance",
        "body": json.dumps({"type": "maintenance", "index_id": "mock-sales"}),
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "mock-sales",
                       "MessageDeduplicationId": str(uuid.uuid4())},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hydrant-indexing.fifo",
        "awsRegion": "us-east-1",
    }]}
    path = os.path.join(work, "maintenance.json")
    with open(path, "w") as out:
        json.dump(maintenance, out)
    deliver("maintenance", path)
    with urllib.request.urlopen(base, timeout=120) as answer:
        tasks = json.load(answer)
    deleted = len([i for i in range(2 * NUM_RECORDS) if i % 10 == DELETED_QUANTITY])
    task = tasks[0]
    if task["docs_deleted"] != deleted or task["splits_left"] != 0:
        raise SystemExit(f"the indexer did not apply the task: {task}")
    print(f"delete task through the functions: ok ({deleted} documents, state {task['state']})")


def search_page_through_the_function(port, expected):
    """The search page in Chromium, served by the searcher function through the Function URL
    that `cargo lambda watch` emulates, searching through the same URL (its leaves too)."""
    base = f"http://127.0.0.1:{port}/lambda-url/hydrant-searcher"
    with launch() as page:
        page.goto(f"{base}/ui#index=mock-sales")
        wait_until(page, "Number(document.body.dataset.searches || 0) >= 1", "the page's first search")
        for number, (query, count) in enumerate(expected.items()):
            if number:
                page.fill("#query", query)
                page.press("#query", "Enter")
                wait_until(page, f"Number(document.body.dataset.searches) > {number}", f"the search {query}")
            summary = page.inner_text("#summary")
            total = page.get_attribute("#histogram", "data-total")
            if summary != f"{count} hits" or total != str(count):
                raise SystemExit(f"the page through the function shows {summary!r}, histogram {total}; expected {count}")
        if page.script_errors:
            raise SystemExit(f"script errors in the page: {page.script_errors}")
    print(f"search page through the function: ok ({expected})")


def wait_for_lines(path, complete, timeout):
    """The number of lines in `path` once `complete(lines)` holds, within `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        with open(path) as printed:
            lines = printed.read().splitlines()
        if complete(lines):
            return len(lines)
        if time.time() > deadline:
            raise SystemExit(f"the functions' lines did not arrive within {timeout}s: {lines[-5:]}")
        time.sleep(0.2)


def json_lines(lines):
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            value = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(value, dict):
            yield line[start:], value


def check_function_output(lines):
    """The log and metric lines both functions printed: fields, dimensions, bytes."""
    logs = {"hydrant-indexer": [], "hydrant-searcher": []}
    metrics = {"hydrant-indexer": [], "hydrant-searcher": []}
    for text, value in json_lines(lines):
        if "_aws" in value:
            directive = value["_aws"]["CloudWatchMetrics"][0]
            if directive["Namespace"] != "Hydrant":
                raise SystemExit(f"unexpected namespace: {text}")
            for dimension_set in directive["Dimensions"]:
                for name in dimension_set:
                    if name not in value:
                        raise SystemExit(f"dimension {name} has no value: {text}")
            if directive["Dimensions"][0] != ["FunctionName"]:
                raise SystemExit(f"the first dimension set must be the function's: {text}")
            metrics.setdefault(value["FunctionName"], []).append((text, value))
        elif "level" in value and "message" in value:
            owner = "hydrant-searcher" if value["message"] == "request" else "hydrant-indexer"
            logs[owner].append((text, value))
    batches = [value for _, value in logs["hydrant-indexer"] if value["message"] == "batch"]
    if [batch["docs"] for batch in batches] != [NUM_RECORDS, 0] or [batch["already_indexed"] for batch in batches] != [0, 1]:
        raise SystemExit(f"expected two batch lines, {NUM_RECORDS} docs then one already indexed object: {batches}")
    if any(batch["level"] != "INFO" or batch["indexes"] != "mock-sales" for batch in batches):
        raise SystemExit(f"batch lines: {batches}")
    per_index = [value for _, value in metrics["hydrant-indexer"] if value.get("IndexId") == "mock-sales"]
    if len(per_index) != 2 or sum(value["DocsIndexed"] for value in per_index) != NUM_RECORDS or sum(value["SplitsPublished"] for value in per_index) != 1:
        raise SystemExit(f"the indexer's per-index metrics: {per_index}")
    if [value["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for value in per_index][0] != [["FunctionName"], ["FunctionName", "IndexId"]]:
        raise SystemExit(f"the per-index line must count for the function and the index: {per_index[0]}")
    requests = [value for _, value in logs["hydrant-searcher"]]
    if [(request["status"], request["path"]) for request in requests] != [(200, "/api/v1/mock-sales/search")] * 2:
        raise SystemExit(f"expected two request lines: {requests}")
    searches = [value for _, value in metrics["hydrant-searcher"]]
    if len(searches) != 2 or any(value["IndexId"] != "mock-sales" or value["Requests"] != 1 or value["SplitsSearched"] != 1 or value["ServerErrors"] != 0 for value in searches):
        raise SystemExit(f"the searcher's metric lines: {searches}")
    if searches[0]["StorageGets"] < 1:
        raise SystemExit(f"a cold search reads from storage: {searches[0]}")
    # Bytes per invocation: its own log line and metric lines. Lines printed once per cold
    # start (the runtime's, an index created) are listed apart.
    per_invocation = {"hydrant-indexer": "batch", "hydrant-searcher": "request"}
    for function, invocations in (("hydrant-indexer", 2), ("hydrant-searcher", 2)):
        log_bytes = sum(len(text) + 1 for text, value in logs[function] if value["message"] == per_invocation[function])
        metric_bytes = sum(len(text) + 1 for text, _ in metrics[function])
        print(f"{function}: {(log_bytes + metric_bytes) / invocations:.0f} bytes per invocation "
              f"({log_bytes / invocations:.0f} log, {metric_bytes / invocations:.0f} metric; "
              f"{len(metrics[function])} metric lines over {invocations} invocations)")
    cold_start = [text for function in logs for text, value in logs[function] if value["message"] not in per_invocation.values()]
    print("what the functions printed (log lines, then metric lines):")
    for function in logs:
        for text, _ in logs[function] + metrics[function]:
            print(f"  {function}: {text}")
    print(f"lines printed at cold start, not per invocation: {len(cold_start)}")


def check_fan_out_output(lines):
    """What the second object's batch and the fanned-out search printed."""
    logs = [value for _, value in json_lines(lines) if "level" in value and "message" in value]
    metrics = [value for _, value in json_lines(lines) if "_aws" in value]
    # Two processes' lines, relayed each on its own: compared without their order.
    requests = sorted((value["path"], value.get("splits_searched")) for value in logs if value["message"] == "request")
    if requests != [("/api/v1/mock-sales/search", 2), ("leaf_search", 1)]:
        raise SystemExit(f"expected a leaf's request line, then its root's: {requests}")
    leaves = [value for value in metrics if "LeafSearches" in value]
    roots = [value for value in metrics if "Requests" in value]
    if len(leaves) != 1 or leaves[0]["LeafErrors"] != 0 or leaves[0]["IndexId"] != "mock-sales":
        raise SystemExit(f"the leaf's metric line: {leaves}")
    if len(roots) != 1 or roots[0]["LeafInvocations"] != 1 or roots[0]["LeafFailures"] != 0 or roots[0]["SplitsSearched"] != 2:
        raise SystemExit(f"the root's metric line: {roots}")
    print("fan-out lines:")
    for text, _ in json_lines(lines):
        if '"request"' in text or "Leaf" in text:
            print(f"  {text}")


if __name__ == "__main__":
    sys.exit(main())
