//! Query DSL and route behaviours from Quickwit's `es_compatibility` scenarios, each on a small
//! dataset whose answers are known: fast-only fields, `lenient`, wildcards and ranges in
//! `query_string`, `bool` corner cases, string ranges on dynamic fields, `zero_terms_query`,
//! `analyzer`, datetime bounds at the column's precision, `_stats`, `_cluster/health` and
//! `_mapping`.

mod common;

use common::request;
use hydrant_ingest::testing::LocalIndex;
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

const EVENTS: &str = r#"
version: "0.7"
index_id: events
doc_mapping:
  mode: dynamic
  dynamic_mapping:
    tokenizer: default
    fast:
      normalizer: lowercase
  field_mappings:
    - {name: fast_text, type: text, fast: true, indexed: false}
    - name: obj
      type: object
      field_mappings:
        - {name: nested_text, type: text, fast: true, indexed: false}
    - {name: public, type: bool, fast: true}
    - {name: created_at, type: datetime, input_formats: [rfc3339], fast: true, fast_precision: milliseconds}
"#;

const RECORDS: [&str; 4] = [
    r#"{"fast_text": "abc-123", "obj": {"nested_text": "abc-123"}, "public": true, "type": "PushEvent", "login": "Alice", "id": 10, "description": "journal for unix", "created_at": "2015-02-01T00:00:00.001999Z"}"#,
    r#"{"fast_text": "def-456", "obj": {"nested_text": "ghi-789"}, "public": true, "type": "PushEvent", "login": "bob", "id": 20, "description": "a journey"}"#,
    r#"{"fast_text": "xyz", "public": false, "type": "IssueCommentEvent", "login": "Zed", "id": 30, "description": "unix journal"}"#,
    r#"{"public": true, "type": "CreateEvent", "login": "harry", "id": 40}"#,
];

async fn events() -> (LocalIndex, SearchService) {
    let local = LocalIndex::with_index(EVENTS).await;
    for (number, record) in RECORDS.iter().enumerate() {
        let key = format!("object-{number}");
        local
            .put_object(&key, format!("{record}\n").into_bytes())
            .await;
        local.index("events", &[&key]).await;
    }
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    (local, service)
}

async fn call(service: &SearchService, method: &str, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let response = request(service, method, path, None, body.as_bytes()).await;
    (
        response.status,
        serde_json::from_slice(&response.body_bytes()).unwrap_or(Value::Null),
    )
}

async fn total(service: &SearchService, query: Value) -> u64 {
    let (status, response) = call(
        service,
        "POST",
        "/api/v1/_elastic/events/_search",
        json!({"query": query}),
    )
    .await;
    assert_eq!(status, 200, "{query} -> {response}");
    response["hits"]["total"]["value"].as_u64().unwrap()
}

async fn status_of(service: &SearchService, query: Value) -> u16 {
    call(
        service,
        "POST",
        "/api/v1/_elastic/events/_search",
        json!({"query": query}),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_on_fast_only_fields_read_the_column() {
    let (_local, service) = events().await;
    for (query, expected) in [
        (json!({"term": {"fast_text": "abc-123"}}), 1),
        (json!({"term": {"fast_text": "zzz"}}), 0),
        (json!({"terms": {"fast_text": ["abc-123", "def-456"]}}), 2),
        (json!({"term": {"obj.nested_text": "ghi-789"}}), 1),
        (
            json!({"terms": {"obj.nested_text": ["abc-123", "ghi-789"]}}),
            2,
        ),
    ] {
        assert_eq!(total(&service, query.clone()).await, expected, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_string_wildcards_ranges_and_leniency() {
    let (_local, service) = events().await;
    let query_string = |body: Value| json!({"query_string": body});
    for (body, expected) in [
        // Wildcards inside words, lowercased as the default tokenizer lowercased the text.
        (
            json!({"query": "Jou*al AND unix", "default_field": "description"}),
            2,
        ),
        (
            json!({"query": "jour?al", "default_field": "description"}),
            2,
        ),
        (json!({"query": "jou*", "default_field": "description"}), 3),
        // A range with no field searches the default field.
        (json!({"query": ">=20", "default_field": "id"}), 3),
        (json!({"query": ">20", "default_field": "id"}), 2),
        (json!({"query": "id:(>10 AND <40)"}), 2),
        // Lenient: fields that do not exist match nothing instead of failing.
        (
            json!({"query": "true", "fields": ["public", "public.notdefined", "notdefined"], "lenient": true}),
            3,
        ),
    ] {
        assert_eq!(
            total(&service, query_string(body.clone())).await,
            expected,
            "{body}"
        );
    }
    for body in [
        json!({"query": "true", "fields": ["public.notdefined"]}),
        json!({"query": "PushEvent", "fields": "type"}),
        json!({"query": "a", "fields": ["type"], "default_field": "type"}),
    ] {
        assert_eq!(
            status_of(&service, query_string(body.clone())).await,
            400,
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bool_corner_cases_and_string_ranges() {
    let (_local, service) = events().await;
    let should = json!([
        {"query_string": {"query": "type:PushEvent"}},
        {"query_string": {"query": "login:zed"}},
    ]);
    for (query, expected) in [
        (
            json!({"bool": {"must": null, "must_not": null, "should": null, "filter": null}}),
            4,
        ),
        // With only should clauses one must match, whatever a smaller minimum says.
        (
            json!({"bool": {"should": should, "minimum_should_match": 0}}),
            3,
        ),
        (
            json!({"bool": {"should": should, "minimum_should_match": -10}}),
            3,
        ),
        (
            json!({"bool": {"should": should, "minimum_should_match": 2}}),
            0,
        ),
        // Bounds go through the fast normalizer (lowercase) as the values did.
        (json!({"range": {"login": {"gte": "B", "lte": "Y"}}}), 2),
    ] {
        assert_eq!(total(&service, query.clone()).await, expected, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_health_and_mappings() {
    let (_local, service) = events().await;
    let (status, stats) = call(
        &service,
        "GET",
        "/api/v1/_elastic/events/_stats",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stats["_all"]["total"]["segments"]["count"], 4);
    assert_eq!(stats["indices"]["events"]["primaries"]["docs"]["count"], 4);
    let (status, health) = call(
        &service,
        "GET",
        "/api/v1/_elastic/_cluster/health",
        Value::Null,
    )
    .await;
    assert_eq!((status, health["status"].as_str()), (200, Some("green")));
    let (status, mappings) = call(
        &service,
        "GET",
        "/api/v1/_elastic/events/_mappings",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{mappings}");
    let properties = &mappings["events"]["mappings"]["properties"];
    assert_eq!(properties["public"]["type"], "boolean");
    assert_eq!(
        properties["obj"]["properties"]["nested_text"]["type"],
        "text"
    );
    // Dynamic paths, from the splits.
    assert_eq!(properties["id"]["type"], "long");
    assert_eq!(properties["login"]["type"], "text");
    let (status, _) = call(
        &service,
        "GET",
        "/api/v1/_elastic/nope/_mapping",
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_terms_analyzers_and_datetime_precision() {
    let (_local, service) = events().await;
    for (query, expected) in [
        (
            json!({"match": {"type": {"query": ", ", "zero_terms_query": "all"}}}),
            4,
        ),
        (json!({"match": {"type": {"query": ", "}}}), 0),
        (
            json!({"match_phrase_prefix": {"description": {"query": "Jour"}}}),
            3,
        ),
        // `raw`: the text is one token as written, which no lowercased term starts with.
        (
            json!({"match_phrase_prefix": {"description": {"query": "Jour", "analyzer": "raw"}}}),
            0,
        ),
        (
            json!({"match_phrase_prefix": {"description": {"query": "jour", "analyzer": "raw"}}}),
            3,
        ),
        (
            json!({"range": {"created_at": {"gte": "2015-02-01T00:00:00.001999Z", "lte": "2015-02-01T00:00:00.001999Z"}}}),
            1,
        ),
        (
            json!({"range": {"created_at": {
                "gte": "2015|02|01 T00:00:00.001999Z",
                "lte": "2015|02|01 T00:00:00.001999Z",
                "format": "yyyy|MM|dd 'T'HH:mm:ss.SSSSSS'Z'",
            }}}),
            1,
        ),
        (
            json!({"range": {"created_at": {"gte": 1422748800001i64, "format": "epoch_millis"}}}),
            1,
        ),
        (
            json!({"range": {"created_at": {"gt": "2015-02-01T00:00:00.002Z"}}}),
            0,
        ),
    ] {
        assert_eq!(total(&service, query.clone()).await, expected, "{query}");
    }
    let unknown =
        json!({"match_phrase_prefix": {"description": {"query": "a", "analyzer": "nope"}}});
    assert_eq!(status_of(&service, unknown).await, 400);
    let (status, info) = call(&service, "GET", "/api/v1/_elastic", Value::Null).await;
    assert_eq!(status, 200);
    assert!(
        info["version"]["build_date"]
            .as_str()
            .is_some_and(|date| date.len() == 20),
        "{info}"
    );
}
