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
//! - `GET /api/v1/_elastic/{index}/_field_caps?start_timestamp=&end_timestamp=` for its field
//!   pickers and ad-hoc filters (`src/datasource/base.ts`, `getFields`): it reads each type's
//!   `type`, `aggregatable` and `searchable`.
//! - Log context: the logs query again, sorted by the timestamp as `epoch_nanos_int`, with
//!   `search_after` the sort value of the line the user opened (`pkg/quickwit/data_query.go`).

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
    let indexes: Value = serde_json::from_slice(&response.body_bytes()).unwrap();
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
    let answer: Value = serde_json::from_slice(&response.body_bytes()).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_pickers_and_log_context_work() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let query = format!(
        "start_timestamp={}&end_timestamp={}",
        ts_of(FIRST),
        ts_of(LAST) + 1
    );
    let response = request(
        service,
        "GET",
        "/api/v1/_elastic/fruit/_field_caps",
        Some(&query),
        b"",
    )
    .await;
    assert_eq!(response.status, 200);
    let caps: Value = serde_json::from_slice(&response.body_bytes()).unwrap();
    let fields = &caps["fields"];
    // The types the data source sorts into its categories (`categorizeFieldType`).
    assert_eq!(fields["ts"]["date_nanos"]["aggregatable"], true);
    assert_eq!(fields["price"]["double"]["aggregatable"], true);
    assert_eq!(fields["id"]["long"]["searchable"], true);
    assert!(fields["name"]["keyword"].is_object() && fields["name"]["text"].is_object());
    for (name, types) in fields.as_object().unwrap() {
        for (es_type, capability) in types.as_object().unwrap() {
            assert_eq!(&capability["type"], es_type, "{name}");
            assert!(
                capability["searchable"].is_boolean() && capability["aggregatable"].is_boolean()
            );
        }
    }

    // Log context: the lines after the one opened, newest first, by nanosecond sort values.
    let logs = |search_after: Option<Value>| {
        let mut body = json!({
            "size": 3,
            "query": panel_query("name:apple"),
            "sort": [{"ts": {"order": "desc", "format": "epoch_nanos_int"}}],
        });
        if let Some(search_after) = search_after {
            body["search_after"] = search_after;
        }
        body
    };
    let path = "/api/v1/_elastic/fruit/_search";
    let first = request(
        service,
        "POST",
        path,
        None,
        logs(None).to_string().as_bytes(),
    )
    .await;
    let first: Value = serde_json::from_slice(&first.body_bytes()).unwrap();
    let opened = &first["hits"]["hits"][1];
    let nanos = opened["sort"][0].as_i64().unwrap();
    assert_eq!(
        nanos,
        opened["_source"]["ts"].as_i64().unwrap() * 1_000_000_000
    );
    let context = logs(Some(json!([nanos])));
    let after = request(service, "POST", path, None, context.to_string().as_bytes()).await;
    let after: Value = serde_json::from_slice(&after.body_bytes()).unwrap();
    let times: Vec<i64> = after["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["_source"]["ts"].as_i64().unwrap())
        .collect();
    let opened_ts = opened["_source"]["ts"].as_i64().unwrap();
    assert_eq!(times, [opened_ts - 240, opened_ts - 480, opened_ts - 720]);
}
