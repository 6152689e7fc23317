//! The requests Grafana's Quickwit data source (quickwit-oss/quickwit-datasource) sends, as its
//! Go client builds them, replayed against the fruit-sales index; the fields it reads from the
//! answers are checked.
//!
//! - `GET /api/v1/indexes?index_id_patterns=...`: it reads
//!   `index_config.doc_mapping.timestamp_field` and that field's `output_format`
//!   (`pkg/quickwit/timestamp_infos.go`).
//! - `POST /api/v1/_elastic/_msearch?max_concurrent_shard_requests=5`: one NDJSON pair per
//!   panel query, headers `{"ignore_unavailable": true, "index": [...]}`, bodies with an
//!   RFC 3339 range filter and a `query_string` filter (`pkg/quickwit/client/`).

mod common;

use common::{fixture, request};
use hydrant_ingest::testing::fruit_count_where as count_where;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const FIRST: u64 = 100;
const LAST: u64 = 299;

fn ts_of(i: u64) -> i64 {
    1_700_000_000 + i as i64 * 60
}

fn rfc3339(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// The bool filter every panel query has: the dashboard's time range, then the query.
fn panel_query(query: &str) -> Value {
    json!({"bool": {"filter": [
        {"range": {"ts": {"lte": rfc3339(ts_of(LAST)), "gte": rfc3339(ts_of(FIRST))}}},
        {"query_string": {"query": query, "default_operator": "AND"}},
    ]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickwit_data_source_initialises_and_draws_its_panels() {
    let fixture = fixture().await;
    let service = &fixture.service;

    // Initialisation: the timestamp field and its output format.
    let query = Some("index_id_patterns=fru*");
    let response = request(service, "GET", "/api/v1/indexes", query, b"").await;
    assert_eq!(response.status, 200);
    let indexes: Value = serde_json::from_slice(&response.body).unwrap();
    let doc_mapping = &indexes[0]["index_config"]["doc_mapping"];
    assert_eq!(indexes[0]["index_config"]["index_id"], "fruit");
    assert_eq!(doc_mapping["timestamp_field"], "ts");
    let ts_mapping = doc_mapping["field_mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mapping| mapping["name"] == "ts")
        .unwrap();
    assert_eq!(ts_mapping["type"], "datetime");
    assert_eq!(ts_mapping["output_format"], "unix_timestamp_secs");

    // A dashboard: a logs panel, a date histogram and a terms panel, in one _msearch.
    let header = json!({"ignore_unavailable": true, "index": ["fruit"]});
    let logs = json!({
        "size": 100,
        "query": panel_query("name:apple"),
        "sort": [{"ts": {"order": "desc", "format": "epoch_nanos_int"}}],
    });
    let histogram = json!({
        "size": 0,
        "query": panel_query("*"),
        "aggs": {"2": {"date_histogram": {
            "field": "ts",
            "fixed_interval": "3600000ms",
            "min_doc_count": 0,
            "extended_bounds": {"min": ts_of(FIRST) * 1000, "max": ts_of(LAST) * 1000},
        }}},
    });
    let terms = json!({
        "size": 0,
        "query": panel_query("*"),
        "aggs": {"3": {"terms": {
            "field": "price",
            "size": 5,
            "order": {"_count": "desc"},
            "min_doc_count": 1,
        }}},
    });
    let body: String = [&header, &logs, &header, &histogram, &header, &terms]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect();
    let query = Some("max_concurrent_shard_requests=5");
    let path = "/api/v1/_elastic/_msearch";
    let response = request(service, "POST", path, query, body.as_bytes()).await;
    assert_eq!(response.status, 200);
    let answer: Value = serde_json::from_slice(&response.body).unwrap();
    let responses = answer["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    for response in responses {
        assert_eq!(response["status"], 200, "{response}");
    }
    let in_range = |predicate: &dyn Fn(u64) -> bool| {
        count_where(|i| (FIRST..=LAST).contains(&i) && predicate(i))
    };

    let logs = &responses[0]["hits"];
    assert_eq!(logs["total"]["value"], in_range(&|i| i % 4 == 0));
    let times: Vec<i64> = logs["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["_source"]["ts"].as_i64().unwrap())
        .collect();
    assert_eq!(times.len() as u64, in_range(&|i| i % 4 == 0).min(100));
    assert!(
        times.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );
    assert_eq!(times[0], ts_of(LAST - LAST % 4));

    let buckets = responses[1]["aggregations"]["2"]["buckets"]
        .as_array()
        .unwrap();
    let counted: u64 = buckets
        .iter()
        .map(|bucket| bucket["doc_count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, in_range(&|_| true));
    let first_key = buckets[0]["key"].as_f64().unwrap() as i64;
    assert!(
        first_key <= ts_of(FIRST) * 1000,
        "keys are epoch milliseconds"
    );

    let terms = responses[2]["aggregations"]["3"]["buckets"]
        .as_array()
        .unwrap();
    assert_eq!(terms.len(), 5);
    assert!(
        terms
            .windows(2)
            .all(|pair| pair[0]["doc_count"].as_u64() >= pair[1]["doc_count"].as_u64())
    );
}
