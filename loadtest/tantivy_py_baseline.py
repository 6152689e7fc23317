"""The baseline of `loadtest floor`: indexing Firehose objects with tantivy-py, as a person
would script it in an afternoon.

Decompress each gzip object, hand every line to tantivy's JSON parser, one indexing thread,
one commit. The schema is the web-logs index config's (loadtest/datagen/configs/web-logs.yaml):
the same fields, tokenizers, positions and fast fields, so both sides build the same index.
Lines tantivy refuses are counted and dropped (Hydrant keeps them; this script does not).

Usage: python tantivy_py_baseline.py INDEX_DIR OBJECT...
Prints one JSON line: {"num_docs": N, "num_rejected": N, "index_bytes": N}.
"""

import gzip
import json
import os
import sys

import tantivy

HEAP_BYTES = 256 << 20


def web_logs_schema():
    builder = tantivy.SchemaBuilder()
    builder.add_date_field("timestamp", stored=True, indexed=True, fast=True)
    builder.add_ip_addr_field("client_ip", stored=True, indexed=True, fast=True)
    builder.add_text_field("method", stored=True, fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("path", stored=True, index_option="basic")
    builder.add_unsigned_field("status", stored=True, indexed=True, fast=True)
    builder.add_unsigned_field("bytes", stored=True, indexed=True, fast=True)
    builder.add_float_field("latency_ms", stored=True, indexed=True, fast=True)
    builder.add_text_field("user_agent", stored=True, index_option="basic")
    builder.add_text_field("message", stored=True, index_option="position")
    builder.add_json_field("geo", stored=True, fast=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


def directory_bytes(path):
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def main():
    index_dir, objects = sys.argv[1], sys.argv[2:]
    os.makedirs(index_dir, exist_ok=True)
    index = tantivy.Index(web_logs_schema(), path=index_dir, reuse=False)
    writer = index.writer(heap_size=HEAP_BYTES, num_threads=1)
    num_docs = num_rejected = 0
    for path in objects:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    writer.add_json(line)
                    num_docs += 1
                except ValueError:
                    num_rejected += 1
    writer.commit()
    writer.wait_merging_threads()
    print(json.dumps({
        "num_docs": num_docs,
        "num_rejected": num_rejected,
        "index_bytes": directory_bytes(index_dir),
    }))


if __name__ == "__main__":
    main()
