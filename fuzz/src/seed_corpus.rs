//! Writes a seed corpus for every fuzz target under the directory given (default `corpus`):
//! real inputs of each kind, so that fuzzing starts from what Hydrant actually receives.
//!
//! ```sh
//! cargo run --release --bin seed_corpus -- corpus
//! ```

use std::io::Write;
use std::path::Path;

fn write(root: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

/// Writes every target's seeds: real inputs, one function per target.
fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "corpus".to_string());
    let root = Path::new(&root);

    seed_query_parser(root);
    seed_record_framing(root);
    seed_queue_message(root);
    seed_lambda_event(root);
    seed_http_request(root);
    seed_elastic_request(root);
    seed_delete_request(root);
    seed_index_config(root);
    seed_split_bundle(root);
    println!("seed corpus written to {}", root.display());
}

/// Query strings: every clause kind of the language.
fn seed_query_parser(root: &Path) {
    let queries = [
        "*",
        "quick",
        "body:fox AND -name:n1",
        "id:>5 OR price:[1 TO 2.5}",
        "name:IN [n0 n1 \"n 2\"]",
        "body:\"quick brown\"~2",
        "qui*",
        "ts:>=2023-11-14T22:13:20Z",
        "ip:[10.0.0.0 TO 10.0.0.255]",
        "attrs.k:v1 AND attrs.n:<4",
        "user.login:u1",
        "extra:x3",
        "user:*",
        "NOT (a OR (b AND c))",
        "ok:true",
        "blob:aGk=",
        "delta:<-2",
        "body:(quick OR lazy) AND name:n*",
    ];
    for (number, query) in queries.iter().enumerate() {
        write(
            root,
            "query_parser",
            &format!("q{number}"),
            query.as_bytes(),
        );
    }
}

/// Staging objects: each framing, gzip members, and broken records.
fn seed_record_framing(root: &Path) {
    let ndjson: String = (0..20).map(|i| hydrant_fuzz::record(i) + "\n").collect();
    let concatenated: String = (0..20).map(hydrant_fuzz::record).collect();
    let broken = format!(
        "{}\n{{\"ts\":1,\"id\":\"x\"}}\ngarbage {{\"a\":1}}\n[1,2]\n{{\"a\":",
        hydrant_fuzz::record(0)
    );
    let multi = [gzip(ndjson.as_bytes()), gzip(concatenated.as_bytes())].concat();
    let single = gzip(ndjson.as_bytes());
    let objects: [(&str, Vec<u8>); 6] = [
        ("ndjson", ndjson.clone().into_bytes()),
        ("concatenated", concatenated.into_bytes()),
        ("broken", broken.into_bytes()),
        ("gzip", single.clone()),
        ("gzip-members", multi),
        ("gzip-truncated", single[..single.len() / 2].to_vec()),
    ];
    for (name, bytes) in &objects {
        write(root, "record_framing", name, bytes);
    }
}

/// Queue message bodies: each kind the indexer reads.
fn seed_queue_message(root: &Path) {
    let messages = [
        include_str!("../../ingest/tests/fixtures/eventbridge-object-created.json"),
        include_str!("../../ingest/tests/fixtures/s3-notification.json"),
        r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-22T19:00:00.000Z","Bucket":"b"}"#,
        r#"{"bucket":"b","key":"a+b%20c","etag":"e","index_id":"logs"}"#,
        r#"{"type":"maintenance","index_id":"logs"}"#,
    ];
    for (number, message) in messages.iter().enumerate() {
        write(
            root,
            "queue_message",
            &format!("m{number}"),
            message.as_bytes(),
        );
    }
}

/// Searcher events: API Gateway shapes and direct invocations.
fn seed_lambda_event(root: &Path) {
    let events = [
        include_str!("../../lambda/tests/fixtures/apigw-v1-search.json").to_string(),
        include_str!("../../lambda/tests/fixtures/http-v2-search.json").to_string(),
        r#"{"index_id":"fuzz","query":"body:fox","max_hits":3,"sort_by":"-id"}"#.to_string(),
        r#"{"index_id":"fuzz","query":"*","aggs":{"h":{"histogram":{"field":"price","interval":1}},"t":{"terms":{"field":"name"},"aggs":{"a":{"avg":{"field":"id"}}}}}}"#.to_string(),
        r#"{"index_id":"fuzz","query":"*","start_timestamp":1700000000,"end_timestamp":1700003000,"snippet_fields":["body"]}"#.to_string(),
    ];
    for (number, event) in events.iter().enumerate() {
        let event = event.replace("mock-sales", "fuzz");
        write(
            root,
            "lambda_event",
            &format!("e{number}"),
            event.as_bytes(),
        );
    }
}

/// HTTP requests: plain, chunked, pipelined and odd framing.
fn seed_http_request(root: &Path) {
    let requests: [&[u8]; 5] = [
        b"GET /api/v1/fuzz/search?query=id:>5 HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\n\r\n",
        b"POST /api/v1/fuzz/search HTTP/1.1\r\nContent-Length: 16\r\n\r\n{\"query\": \"n:1\"}",
        b"POST /api/v1/fuzz/search HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"a\":\r\n3\r\n1}\n\r\n0\r\n\r\n",
        b"\r\nGET /health HTTP/1.0\r\n\r\n",
        b"GET /api/v1/indexes HTTP/1.1\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.1\r\n\r\n",
    ];
    for (number, request) in requests.iter().enumerate() {
        write(root, "http_request", &format!("r{number}"), request);
    }
}

/// Elasticsearch requests: a route byte, the query string's line, the body.
fn seed_elastic_request(root: &Path) {
    // Elasticsearch requests: a route byte, the query string's line, the body.
    let elastic: [&[u8]; 5] = [
        b"\x00size=2&sort=id:desc\n{\"query\": {\"bool\": {\"must\": [{\"match\": {\"body\": \"fox\"}}], \"should\": [{\"term\": {\"name\": \"a\"}}, {\"range\": {\"ts\": {\"gte\": \"2023-11-14T22:13:20Z\"}}}], \"minimum_should_match\": 1}}}",
        b"\x00\n{\"query\": {\"multi_match\": {\"query\": \"quick fo\", \"fields\": [\"body^2\", \"name\"], \"type\": \"phrase_prefix\"}}, \"_source\": {\"excludes\": [\"attrs.*\"]}, \"aggs\": {\"n\": {\"terms\": {\"field\": \"name\"}}}}",
        b"\x01q=body:fox%20-name:b\n{\"query\": {\"regexp\": {\"attrs.k\": {\"value\": \"v.*\", \"case_insensitive\": true}}}}",
        b"\x02extra_filters=id:>1\n{\"index\": \"fuzz\"}\n{\"query\": {\"wildcard\": {\"name\": \"a*?\"}}}\n{\"index\": [\"nope\"]}\n{}\n",
        b"\x83format=json&h=index,docs.count\n",
    ];
    for (number, request) in elastic.iter().enumerate() {
        write(root, "elastic_request", &format!("q{number}"), request);
    }
}

/// Delete requests: a kind byte (even: Quickwit's, odd: `_delete_by_query`), then the body.
fn seed_delete_request(root: &Path) {
    let requests: [&[u8]; 4] = [
        b"\x00{\"query\": \"name:a AND body:fox\", \"start_timestamp\": 1700000000}",
        b"\x00{\"query\": \"fox\", \"search_field\": [\"body\"], \"end_timestamp\": 1800000000}",
        b"\x01{\"query\": {\"bool\": {\"filter\": [{\"term\": {\"name\": \"a\"}}], \"must\": {\"exists\": {\"field\": \"attrs.k\"}}}}}",
        b"\x01",
    ];
    for (number, request) in requests.iter().enumerate() {
        write(root, "delete_request", &format!("d{number}"), request);
    }
}

/// Index configs: the fuzz index's, the datasets', and an update's JSON.
fn seed_index_config(root: &Path) {
    let configs: [&str; 4] = [
        hydrant_fuzz::CONFIG,
        include_str!("../../loadtest/datagen/configs/mock-sales.yaml"),
        include_str!("../../loadtest/datagen/configs/web-logs.yaml"),
        r#"{"version": "0.8", "index_id": "fuzz", "doc_mapping": {"mode": "lenient", "field_mappings": [
            {"name": "ts", "type": "datetime", "fast": true},
            {"name": "level", "type": "text", "tokenizer": "raw", "fast": true},
            {"name": "tags", "type": "array<text>", "tokenizer": "raw"},
            {"name": "all", "type": "concatenate", "concatenate_fields": ["level"]}],
            "timestamp_field": "ts", "tag_fields": ["level"], "partition_key": "hash_mod(level, 4)",
            "tokenizers": [{"name": "words", "type": "simple", "filters": ["lower_caser"]}]},
          "search_settings": {"default_search_fields": ["level"]},
          "retention": {"period": "30 days"}}"#,
    ];
    for (number, config) in configs.iter().enumerate() {
        write(
            root,
            "index_config",
            &format!("c{number}"),
            config.as_bytes(),
        );
    }
}

/// A real split of the fuzz index.
fn seed_split_bundle(root: &Path) {
    // A real split of the fuzz index.
    let service = hydrant_fuzz::service();
    let runtime = hydrant_fuzz::runtime();
    runtime.block_on(async {
        let metastore = service.metastore();
        let metadata = metastore.index_metadata("fuzz").await.expect("index");
        for (number, split) in metadata.published_splits().enumerate() {
            let path = hydrant_metastore::paths::split_file("fuzz", &split.split_id);
            let bytes = metastore.storage().get(&path).await.expect("split").bytes;
            write(root, "split_bundle", &format!("s{number}"), &bytes);
        }
    });
}
