#!/usr/bin/env python3
"""The search page (`/ui`) in headless Chromium, against `hydrant serve`.

1. Writes 4,000 mock-sales records over two days in 4 gzip objects, creates an index on local
   disk (the tutorial's config, with its keyword and number fields fast so that they have top
   values) and indexes them, a split each, with `hydrant index create` and `hydrant index ingest`.
2. Serves it with `hydrant serve` on a free loopback port, and drives the page: every count it
   shows (hits, the histogram's total, a field's top values) is checked against the API's own
   answer to the same search; it runs a query, drags across the histogram to select a time
   range, expands a hit, opens a field's top values, adds a column, shows a query error where
   it occurs, and is read at a phone's width.
3. Serves the index again with `--api-key` and enters the key in the page.

Screenshots go to `target/ui-screenshots/`; `--readme-screenshot PATH` also writes the one the
README shows (a query, a dragged time range, a field's top values and a column). Every wait is bounded; the servers are stopped on exit.
"""

import argparse
import gzip
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import launch, wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, "target", "ui-screenshots")
INDEX = "mock-sales"
NUM_OBJECTS = 4
RECORDS_PER_OBJECT = 1000
START_MILLIS = 1_793_491_200_000  # 2026-11-01T00:00:00Z
SPAN_MILLIS = 48 * 3_600_000
PRODUCTS = ["apple", "banana", "cherry", "kettle", "lamp", "notebook", "pencil", "scarf",
            "teapot", "umbrella", "wallet", "yoyo"]
WORDS = ["the", "quality", "fresh", "handmade", "classic", "durable", "organic", "premium",
         "small", "large", "blue", "red", "green", "gift", "sale", "limited", "edition", "eco"]
CONFIG = f"""
index_id: {INDEX}
doc_mapping:
  field_mappings:
    - {{name: ts, type: datetime, input_formats: [unix_timestamp], output_format: unix_timestamp_millis, precision: milliseconds, fast: true}}
    - {{name: id, type: u64, fast: true}}
    - {{name: name, type: text, tokenizer: raw, fast: true}}
    - {{name: price, type: f64, fast: true}}
    - {{name: quantity, type: u64, fast: true}}
    - {{name: description, type: text, tokenizer: default}}
  timestamp_field: ts
search_settings:
  default_search_fields: [description]
"""


def timestamps(rng, count):
    """`count` times over two days, sorted: busy afternoons, quiet nights, a histogram with a
    shape."""
    times = []
    while len(times) < count:
        millis = rng.randrange(SPAN_MILLIS)
        hour = millis // 3_600_000 % 24
        if rng.random() < (1.0 if 12 <= hour < 18 else 0.5 if 8 <= hour < 22 else 0.15):
            times.append(START_MILLIS + millis)
    return sorted(times)


def records():
    rng = random.Random(7)
    count = NUM_OBJECTS * RECORDS_PER_OBJECT
    for i, ts in enumerate(timestamps(rng, count)):
        product = rng.choice(PRODUCTS)
        yield {
            "ts": ts,
            "id": i,
            "name": product,
            "price": rng.randrange(100, 10_000) / 100,
            "quantity": rng.randrange(1, 11),
            "description": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 9))),
        }


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def hydrant(*args):
    subprocess.run(["cargo", "run", "-q", "-p", "hydrant", "--", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, timeout=600)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(index_dir, *extra):
    port = free_port()
    server = subprocess.Popen(
        ["cargo", "run", "-q", "-p", "hydrant", "--", "serve", "--index-uri", index_dir,
         "--listen", f"127.0.0.1:{port}", *extra],
        cwd=ROOT, env={**os.environ, "RUST_LOG": "warn"}, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"hydrant serve did not start on port {port}")
            time.sleep(0.2)


def stop(server):
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def api_search(base, body):
    request = urllib.request.Request(f"{base}/api/v1/{INDEX}/search", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def searches(page):
    return page.evaluate("Number(document.body.dataset.searches || 0)")


def after_search(page, before, what):
    wait_until(page, f"Number(document.body.dataset.searches || 0) > {before}", what)


def shown_hits(page):
    text = page.inner_text("#summary")
    check(text.split()[1] == "hits", f"summary: {text!r}")
    return int(text.split()[0].replace(",", ""))


def histogram_total(page):
    return int(page.get_attribute("#histogram", "data-total"))


def shown_range(page):
    """The custom range the page searches, as Unix seconds."""
    return page.evaluate("[document.getElementById('from').value, document.getElementById('to').value]"
                         ".map((v) => Math.floor(new Date(v).getTime() / 1000))")


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name)
    page.screenshot(path=path, full_page=False)
    return path


def drive(page, base, readme_screenshot):
    page.goto(f"{base}/ui#index={INDEX}")
    after_search(page, 0, "the first search")
    total = NUM_OBJECTS * RECORDS_PER_OBJECT
    check(shown_hits(page) == total, f"all hits: {shown_hits(page)}")
    check(histogram_total(page) == total, f"histogram total {histogram_total(page)} != {total}")
    cost = page.inner_text("#cost")
    check(f"{NUM_OBJECTS} of {NUM_OBJECTS} splits searched" in cost, f"cost line: {cost!r}")
    rows = page.locator("tr.hit")
    check(rows.count() == 50, f"rows: {rows.count()}")
    first, second = (int(rows.nth(i).locator("td.time").get_attribute("title")) for i in (0, 1))
    newest = max(record["ts"] for record in records())
    check(first >= second and first == newest, f"newest first: {first}, {second}")
    shot(page, "01-all.png")
    unlabelled = page.evaluate("Array.from(document.querySelectorAll('input, select'))"
                               ".filter((e) => !e.labels.length && !e.getAttribute('aria-label')).map((e) => e.id)")
    check(not unlabelled, f"controls without a label: {unlabelled}")
    page.locator("h1").click()
    page.keyboard.press("/")
    check(page.evaluate("document.activeElement.id") == "query", "/ focuses the query")

    # A query, typed and run with Enter: the count and the histogram agree with the API's.
    query = "name:kettle OR name:teapot"
    before = searches(page)
    page.fill("#query", query)
    page.press("#query", "Enter")
    after_search(page, before, "the query")
    expected = api_search(base, {"query": query, "max_hits": 0})["num_hits"]
    check(0 < expected < total, f"the query matches some: {expected}")
    check(shown_hits(page) == expected, f"query hits {shown_hits(page)} != {expected}")
    check(histogram_total(page) == expected, f"query histogram {histogram_total(page)} != {expected}")
    shot(page, "02-query.png")

    # Dragging across the histogram searches that time range.
    box = page.locator("#histogram").bounding_box()
    y = box["y"] + box["height"] / 2
    before = searches(page)
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    after_search(page, before, "the dragged range")
    check(page.input_value("#range") == "custom", "the range is absolute after a drag")
    start, end = shown_range(page)
    span = 48 * 3600
    check(abs((end - start) - span * 0.35) < span * 0.03, f"dragged range {start}..{end}")
    expected = api_search(base, {"query": query, "max_hits": 0, "start_timestamp": start,
                                 "end_timestamp": end})["num_hits"]
    check(shown_hits(page) == expected, f"range hits {shown_hits(page)} != {expected}")
    check(histogram_total(page) == expected, f"range histogram {histogram_total(page)} != {expected}")
    shot(page, "03-range.png")

    # A hit expands to its JSON, with Enter as with a click.
    page.locator("tr.hit").first.click()
    detail = page.locator("tr.detail").first
    check(detail.is_visible(), "the first hit's JSON is shown")
    document = json.loads(detail.inner_text())
    check(document["name"] in ("kettle", "teapot"), f"expanded hit: {document}")
    page.locator("tr.hit").nth(1).focus()
    page.keyboard.press("Enter")
    check(page.locator("tr.detail").nth(1).is_visible(), "Enter expands a hit")
    shot(page, "04-hit.png")

    # A field's top values: a terms aggregation, equal to the API's.
    page.locator("#fields li[data-field='quantity'] .field-name").click()
    wait_until(page, "document.querySelectorAll(\"li[data-field='quantity'] .top-values button\").length > 0",
               "the top values of quantity")
    shown = page.evaluate("Array.from(document.querySelectorAll(\"li[data-field='quantity'] .top-values li\"))"
                          ".map((li) => [li.querySelector('button').textContent, li.querySelector('.type').textContent])")
    answer = api_search(base, {"query": query, "max_hits": 0, "start_timestamp": start, "end_timestamp": end,
                               "aggs": {"top": {"terms": {"field": "quantity", "size": 10}}}})
    buckets = [[str(b["key"]), f"{b['doc_count']:,}"] for b in answer["aggregations"]["top"]["buckets"]]
    check(shown == buckets, f"top values {shown} != {buckets}")
    # A field shown as a column.
    page.locator("#fields li[data-field='price'] button[aria-pressed]").click()
    headers = page.locator("#hits thead th").all_inner_texts()
    check("price" in headers, f"the price column: {headers}")
    path = shot(page, "05-fields.png")
    if readme_screenshot:
        shutil.copyfile(path, readme_screenshot)
    # Clicking a top value adds it to the query.
    before = searches(page)
    page.locator("li[data-field='quantity'] .top-values button").first.click()
    after_search(page, before, "the filter by a top value")
    check(f"quantity:{shown[0][0]}" in page.input_value("#query"), page.input_value("#query"))
    check(shown_hits(page) == int(shown[0][1].replace(",", "")), "the top value's count")

    # A query error is shown where it occurs.
    before = searches(page)
    page.fill("#query", "name:(kettle OR")
    page.press("#query", "Enter")
    after_search(page, before, "the bad query")
    error = page.locator("#query-error")
    check(error.is_visible(), "the query error is shown")
    check("position" in error.inner_text() and page.locator("#query-error mark").count() == 1,
          f"the error marks its position: {error.inner_text()!r}")
    check(page.get_attribute("#query", "aria-invalid") == "true", "the query box is marked invalid")
    shot(page, "06-error.png")

    # A phone's width: nothing wider than the screen but the hits table's own scroll.
    page.set_viewport_size({"width": 390, "height": 844})
    page.fill("#query", "*")
    before = searches(page)
    page.press("#query", "Enter")
    after_search(page, before, "the search at a phone's width")
    overflow = page.evaluate("document.documentElement.scrollWidth")
    check(overflow <= 390, f"the page is {overflow} px wide at 390")
    shot(page, "07-phone.png")
    check(not page.script_errors, f"script errors: {page.script_errors}")


def with_api_key(page, index_dir):
    server, base = serve(index_dir, "--api-key", "s3cret-key")
    try:
        page.goto(f"{base}/ui#index={INDEX}")
        wait_until(page, "!document.getElementById('auth').hidden", "the API key form")
        page.fill("#api-key", "s3cret-key")
        before = searches(page)
        page.press("#api-key", "Enter")
        after_search(page, before, "the search with the key")
        check(shown_hits(page) == NUM_OBJECTS * RECORDS_PER_OBJECT, "hits with the key")
        check(page.evaluate("sessionStorage.getItem('hydrant-api-key')") == "s3cret-key", "the key is kept")
    finally:
        stop(server)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme-screenshot", help="also write the first screenshot here")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="hydrant-ui-")
    server = None
    try:
        index_dir = os.path.join(work, "index")
        config = os.path.join(work, "config.yaml")
        with open(config, "w") as file:
            file.write(CONFIG)
        all_records = list(records())
        objects = []
        for number in range(NUM_OBJECTS):
            path = os.path.join(work, f"object-{number}.gz")
            chunk = all_records[number * RECORDS_PER_OBJECT:(number + 1) * RECORDS_PER_OBJECT]
            with gzip.open(path, "wt") as file:
                file.writelines(json.dumps(r) + "\n" for r in chunk)
            objects.append(path)
        hydrant("index", "create", "--index-uri", index_dir, "--index-config", config)
        for path in objects:  # a split each
            hydrant("index", "ingest", "--index-uri", index_dir, "--index", INDEX, path)
        server, base = serve(index_dir)
        with launch() as page:
            drive(page, base, args.readme_screenshot)
            with_api_key(page, index_dir)
        print(f"ui browser: ok ({len(all_records)} documents; screenshots in {os.path.relpath(SHOTS, ROOT)})")
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
