#!/usr/bin/env python3
"""The official Elasticsearch and OpenSearch Python clients against `hydrant serve`.

1. Writes 2,500 fruit-sale records in 5 gzip objects, creates an index on local disk and
   indexes them with `hydrant index create` and `hydrant index ingest`.
2. Serves it with `hydrant serve` on a free loopback port.
3. Calls the `elasticsearch` (8.x) and `opensearch-py` clients at `/api/v1/_elastic`: info,
   ping, search (q, query DSL, sort, from/size, _source, aggs, relevance), get and exists by
   `_id`, search_after paging, a
   scroll through every document (the clients' own `helpers.scan`), count, msearch,
   field_caps, cat.indices, get_mapping, and the errors they raise; every count is checked
   against the records themselves and against Hydrant's native API on the same index.
4. Loads a second index through the local write API with `helpers.bulk` and finds it, then
   deletes part of it with the clients' `delete_by_query` and finds the rest.

Every wait is bounded; the server is stopped on exit.
"""

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import elasticsearch
import elasticsearch.helpers
import opensearchpy
import opensearchpy.helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INDEX = "es-clients"
NUM_OBJECTS = 5
RECORDS_PER_OBJECT = 500
NAMES = ["apple", "banana", "cherry", "damson"]
WORDS = ["fresh", "ripe", "organic", "juicy", "sweet"]
CONFIG = f"""
index_id: {INDEX}
doc_mapping:
  field_mappings:
    - {{name: ts, type: datetime, input_formats: [unix_timestamp], output_format: unix_timestamp_secs, fast: true}}
    - {{name: id, type: u64, fast: true}}
    - {{name: name, type: text, tokenizer: raw, fast: true}}
    - {{name: price, type: f64, fast: true}}
    - {{name: quantity, type: u64, fast: true}}
    - {{name: description, type: text, tokenizer: default, record: position}}
  timestamp_field: ts
search_settings:
  default_search_fields: [description]
"""


def record(i):
    return {
        "ts": 1_700_000_000 + i * 60,
        "id": i,
        "name": NAMES[i % 4],
        "price": i % 50 + 0.5,
        "quantity": i % 10,
        "description": f"{WORDS[i % 5]} {WORDS[(i + 1) % 5]} fruit",
    }


RECORDS = [record(i) for i in range(NUM_OBJECTS * RECORDS_PER_OBJECT)]


def count(predicate):
    return sum(1 for r in RECORDS if predicate(r))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hydrant(*args):
    subprocess.run(["cargo", "run", "-q", "-p", "hydrant", "--", *args], cwd=ROOT, check=True, timeout=1200)


def wait_for_port(port, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"hydrant serve exited early with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"hydrant serve did not listen on {port} within {timeout}s")


def native_hits(base, query, **params):
    """num_hits and hits of the native API for the same query."""
    params = {"query": query, **params}
    url = f"{base}/api/v1/{INDEX}/search?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    return body["num_hits"], body["hits"]


def check(condition, message):
    if not condition:
        raise SystemExit(f"es clients: {message}")


def search(client, **body):
    """A search with a JSON body, as each client's own API takes one."""
    if isinstance(client, elasticsearch.Elasticsearch):
        renamed = {"from": "from_", "_source": "source"}
        return client.search(index=INDEX, **{renamed.get(k, k): v for k, v in body.items()})
    return client.search(index=INDEX, body=body)


def count_with(client, query=None):
    body = {} if query is None else {"query": query}
    if isinstance(client, elasticsearch.Elasticsearch):
        return client.count(index=INDEX, **body)["count"]
    return client.count(index=INDEX, body=body or None)["count"]


def exercise(client, base, label):
    """The calls a backend service makes, on either client."""
    total = lambda response: response["hits"]["total"]["value"]

    # q= with Elasticsearch's OR default, against the records and the native API.
    response = client.search(index=INDEX, q="name:apple name:banana", size=0)
    expected = count(lambda r: r["name"] in ("apple", "banana"))
    check(total(response) == expected, f"{label} q=: {total(response)} != {expected}")
    native, _ = native_hits(base, "name:apple OR name:banana", max_hits=0)
    check(native == expected, f"{label} native: {native} != {expected}")

    # Query DSL, sort, paging and _source, page for page equal to the native API's.
    query = {
        "bool": {
            "must": [{"match": {"description": "ripe"}}],
            "filter": [{"range": {"quantity": {"gte": 2, "lte": 7}}}],
            "must_not": [{"term": {"name": "cherry"}}],
        }
    }
    response = search(
        client,
        query=query,
        sort=[{"price": {"order": "desc"}}, {"id": "asc"}],
        size=10,
        _source={"includes": ["id", "price"]},
        **{"from": 5},
    )
    expected = count(
        lambda r: "ripe" in r["description"] and 2 <= r["quantity"] <= 7 and r["name"] != "cherry"
    )
    check(total(response) == expected, f"{label} bool: {total(response)} != {expected}")
    _, native = native_hits(
        base,
        "description:ripe AND quantity:[2 TO 7] AND NOT name:cherry",
        sort_by="-price,id",
        start_offset=5,
        max_hits=10,
    )
    es_ids = [hit["_source"]["id"] for hit in response["hits"]["hits"]]
    check(es_ids == [hit["id"] for hit in native], f"{label} page: {es_ids} != native")
    check(
        all(set(hit["_source"]) == {"id", "price"} for hit in response["hits"]["hits"]),
        f"{label} _source includes",
    )

    # Aggregations in Elasticsearch's shape.
    response = search(
        client,
        size=0,
        aggs={"by_name": {"terms": {"field": "name"}}, "avg_price": {"avg": {"field": "price"}}},
    )
    buckets = {b["key"]: b["doc_count"] for b in response["aggregations"]["by_name"]["buckets"]}
    expected = {name: count(lambda r, name=name: r["name"] == name) for name in NAMES}
    check(buckets == expected, f"{label} terms agg: {buckets} != {expected}")
    average = sum(r["price"] for r in RECORDS) / len(RECORDS)
    check(abs(response["aggregations"]["avg_price"]["value"] - average) < 1e-6, f"{label} avg")

    # Relevance by default: scores best first, max_score the first; each _id reads its
    # document back with the client's get (and exists).
    response = search(client, query={"match": {"description": "ripe juicy"}}, size=5)
    scores = [hit["_score"] for hit in response["hits"]["hits"]]
    check(scores and all(s is not None for s in scores), f"{label} scores: {scores}")
    check(scores == sorted(scores, reverse=True), f"{label} ranked: {scores}")
    check(abs(response["hits"]["max_score"] - scores[0]) < 1e-6, f"{label} max_score")
    for hit in response["hits"]["hits"]:
        document = client.get(index=INDEX, id=hit["_id"])
        check(document["found"] and document["_source"] == hit["_source"], f"{label} get {hit['_id']}")
    check(client.exists(index=INDEX, id=response["hits"]["hits"][0]["_id"]), f"{label} exists")
    check(not client.exists(index=INDEX, id="no-such-split:0:0"), f"{label} exists, missing")

    # count, with a query and without.
    counted = count_with(client, {"term": {"quantity": 3}})
    check(counted == count(lambda r: r["quantity"] == 3), f"{label} count: {counted}")
    check(count_with(client) == len(RECORDS), f"{label} count all")


def paging_and_scrolls(client, helpers, base, label):
    """search_after page by page and a scroll through everything: each record exactly once."""
    sort = [{"price": {"order": "desc"}}, {"id": "asc"}]
    seen, after = [], None
    for _ in range(len(RECORDS)):
        body = {"size": 300, "sort": sort, "query": {"range": {"quantity": {"gte": 2}}}}
        if after is not None:
            body["search_after"] = after
        hits = search(client, **body)["hits"]["hits"]
        if not hits:
            break
        seen.extend(hit["_source"]["id"] for hit in hits)
        after = hits[-1]["sort"]
    expected = sorted((r for r in RECORDS if r["quantity"] >= 2), key=lambda r: (-r["price"], r["id"]))
    check(seen == [r["id"] for r in expected], f"{label} search_after: {len(seen)} ids, wrong order or set")
    check(len(seen) >= 2000, f"{label} search_after covers {len(seen)} records")
    native_total, native = native_hits(base, "quantity:>=2", sort_by="-price,id", max_hits=300)
    check(native_total == len(seen), f"{label} native count {native_total} != {len(seen)}")
    check([hit["id"] for hit in native] == seen[:300], f"{label} first page differs from the native API's")

    scanned = [
        hit["_source"]["id"]
        for hit in helpers.scan(client, index=INDEX, query={"query": {"match_all": {}}}, size=450, scroll="1m")
    ]
    check(sorted(scanned) == list(range(len(RECORDS))), f"{label} scroll: {len(scanned)} hits, not each record once")


def discovery(client, label):
    """What dashboards and tools read before they search: fields, mappings, indices, msearch."""
    caps = client.field_caps(index=INDEX, fields="*")
    fields = caps["fields"]
    check(caps["indices"] == [INDEX], f"{label} field_caps indices: {caps['indices']}")
    check(fields["price"]["double"]["aggregatable"] is True, f"{label} field_caps price: {fields.get('price')}")
    check(fields["id"]["long"]["searchable"] is True, f"{label} field_caps id")
    check(set(fields["name"]) == {"keyword", "text"}, f"{label} field_caps name: {fields.get('name')}")
    mapping = client.indices.get_mapping(index=INDEX)[INDEX]["mappings"]["properties"]
    check(mapping["price"]["type"] == "double" and mapping["name"]["type"] == "keyword", f"{label} mapping: {mapping}")
    rows = client.cat.indices(index=INDEX, format="json")
    check(rows[0]["index"] == INDEX and rows[0]["docs.count"] == str(len(RECORDS)), f"{label} cat.indices: {rows}")
    searches = [
        {"index": INDEX},
        {"size": 0, "query": {"term": {"name": "apple"}}},
        {"index": INDEX},
        {"size": 0, "query": {"range": {"quantity": {"lt": 3}}}, "aggs": {"n": {"terms": {"field": "name"}}}},
    ]
    responses = client.msearch(body=searches)["responses"]
    check(responses[0]["hits"]["total"]["value"] == count(lambda r: r["name"] == "apple"), f"{label} msearch 1")
    check(responses[1]["hits"]["total"]["value"] == count(lambda r: r["quantity"] < 3), f"{label} msearch 2")
    buckets = {b["key"]: b["doc_count"] for b in responses[1]["aggregations"]["n"]["buckets"]}
    expected = {name: count(lambda r, name=name: r["quantity"] < 3 and r["name"] == name) for name in NAMES}
    check(buckets == expected, f"{label} msearch aggs: {buckets}")


def bulk_load(base, client, helpers, label, index):
    """An index created through the write API, loaded with the client's bulk helper."""
    config = json.dumps({"index_id": index, "doc_mapping": {"mode": "dynamic"}}).encode()
    request = urllib.request.Request(f"{base}/api/v1/indexes", data=config, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        check(response.status == 200, f"{label} create index: {response.status}")
    actions = ({"_index": index, "_source": {"n": n, "word": WORDS[n % 5]}} for n in range(300))
    loaded, errors = helpers.bulk(client, actions, chunk_size=100)
    check(loaded == 300 and not errors, f"{label} bulk: {loaded} loaded, errors {errors}")
    found = client.count(index=index, body={"query": {"match": {"word": "ripe"}}})["count"]
    check(found == 60, f"{label} bulk then count: {found}")

    # delete_by_query: applied before the answer, which counts what it deleted; the other
    # documents are all still there, and Quickwit's delete-tasks API lists the task.
    deleted = client.delete_by_query(index=index, body={"query": {"match": {"word": "ripe"}}})
    check(deleted["deleted"] == 60 and not deleted["failures"], f"{label} delete_by_query: {deleted}")
    left = client.count(index=index, body={"query": {"match": {"word": "ripe"}}})["count"]
    check(left == 0, f"{label} after delete_by_query: {left} left")
    check(client.count(index=index)["count"] == 240, f"{label} the others stay")
    with urllib.request.urlopen(f"{base}/api/v1/{index}/delete-tasks", timeout=30) as response:
        tasks = json.load(response)
    check(
        len(tasks) == 1 and tasks[0]["docs_deleted"] == 60 and tasks[0]["splits_left"] == 0,
        f"{label} delete tasks: {tasks}",
    )
    # Quickwit's delete task: answered at once, applied in the background (bounded wait).
    body = json.dumps({"query": "word:fresh"}).encode()
    request = urllib.request.Request(f"{base}/api/v1/{index}/delete-tasks", data=body, method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        created = json.load(response)
    check(created["opstamp"] == 2 and created["delete_query"]["index_uid"], f"{label} delete task: {created}")
    deadline = time.time() + 60
    while True:
        with urllib.request.urlopen(f"{base}/api/v1/{index}/delete-tasks", timeout=30) as response:
            task = json.load(response)[1]
        # The searcher sees the rewrites once its metastore view is refreshed (a few seconds).
        left = client.count(index=index)["count"]
        if (task["splits_left"] == 0 and left == 180) or time.time() > deadline:
            break
        time.sleep(0.2)
    check(task["state"] == "applied" and task["docs_deleted"] == 60, f"{label} delete task applied: {task}")
    check(left == 180, f"{label} after the delete task: {left}")
    request = urllib.request.Request(f"{base}/api/v1/indexes/{index}", method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as response:
        check(response.status == 200, f"{label} delete index")


def check_errors(client, not_found, bad_request, label):
    try:
        client.search(index="no-such-index", q="*")
        raise SystemExit(f"{label}: a search of a missing index succeeded")
    except not_found:
        pass
    try:
        search(client, query={"tern": {"name": "apple"}})
        raise SystemExit(f"{label}: an unknown query type was accepted")
    except bad_request as error:
        check("tern" in str(error), f"{label}: the error does not name the query: {error}")


def main():
    work = tempfile.mkdtemp(prefix="hydrant-es-clients-")
    server = None
    try:
        index_dir = os.path.join(work, "index")
        config = os.path.join(work, "config.yaml")
        with open(config, "w") as file:
            file.write(CONFIG)
        objects = []
        for number in range(NUM_OBJECTS):
            path = os.path.join(work, f"object-{number}.gz")
            chunk = RECORDS[number * RECORDS_PER_OBJECT:(number + 1) * RECORDS_PER_OBJECT]
            with gzip.open(path, "wt") as file:
                file.writelines(json.dumps(r) + "\n" for r in chunk)
            objects.append(path)
        hydrant("index", "create", "--index-uri", index_dir, "--index-config", config)
        hydrant("index", "ingest", "--index-uri", index_dir, "--index", INDEX, *objects)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            ["cargo", "run", "-q", "-p", "hydrant", "--", "serve", "--index-uri", index_dir,
             "--listen", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        wait_for_port(port, server)

        es = elasticsearch.Elasticsearch(f"{base}/api/v1/_elastic", request_timeout=30)
        info = es.info()
        check(info["version"]["number"] == "7.17.0", f"elasticsearch info: {info}")
        check(es.ping(), "elasticsearch ping")
        exercise(es, base, "elasticsearch")
        paging_and_scrolls(es, elasticsearch.helpers, base, "elasticsearch")
        discovery(es, "elasticsearch")
        bulk_load(base, es, elasticsearch.helpers, "elasticsearch", "es-bulk")
        check_errors(es, elasticsearch.NotFoundError, elasticsearch.BadRequestError, "elasticsearch")

        opensearch = opensearchpy.OpenSearch(
            hosts=[{"host": "127.0.0.1", "port": port, "url_prefix": "/api/v1/_elastic"}],
            timeout=30,
        )
        check(opensearch.info()["tagline"] == "You Know, for Search", "opensearch info")
        exercise(opensearch, base, "opensearch-py")
        paging_and_scrolls(opensearch, opensearchpy.helpers, base, "opensearch-py")
        discovery(opensearch, "opensearch-py")
        bulk_load(base, opensearch, opensearchpy.helpers, "opensearch-py", "os-bulk")
        check_errors(opensearch, opensearchpy.NotFoundError, opensearchpy.RequestError, "opensearch-py")
        print(
            f"es clients: ok (elasticsearch {elasticsearch.__versionstr__}, "
            f"opensearch-py {opensearchpy.__versionstr__}, {len(RECORDS)} documents)"
        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
