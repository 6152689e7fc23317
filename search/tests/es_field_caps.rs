//! `_field_caps` over two dynamic-mode indexes, from Quickwit's `es_field_capabilities`
//! scenario: mapped and dynamic fields, types that differ between splits, field and index
//! patterns, time ranges and index filters.

mod common;

use common::request;
use hydrant_ingest::testing::LocalIndex;
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

const FIELDCAPS: &str = r#"
version: "0.7"
index_id: fieldcaps
doc_mapping:
  mode: dynamic
  dynamic_mapping:
    tokenizer: default
    fast: true
  timestamp_field: date
  tag_fields: ["tags"]
  field_mappings:
    - {name: date, type: datetime, input_formats: [rfc3339], fast_precision: seconds, fast: true}
    - {name: host, type: ip, fast: true}
    - {name: tags, type: "array<text>", tokenizer: raw, fast: true}
"#;

const FIELDCAPS_2: &str = r#"
version: "0.7"
index_id: fieldcaps-2
doc_mapping:
  mode: dynamic
  dynamic_mapping:
    tokenizer: default
    fast: true
  field_mappings:
    - {name: date, type: datetime, input_formats: [rfc3339], fast_precision: seconds, fast: true}
    - {name: host, type: ip, fast: true}
"#;

/// Documents of `fieldcaps`, one object (so one split) per list.
const FIELDCAPS_OBJECTS: [&[&str]; 3] = [
    &[
        r#"{"name": "Fritz", "response": 30, "id": 5, "date": "2015-01-10T12:00:00Z", "host": "192.168.0.1", "tags": ["nice", "cool"]}"#,
        r#"{"nested": {"name": "Fritz", "response": 30}, "date": "2015-01-11T12:00:00Z", "host": "192.168.0.11", "tags": ["nice"]}"#,
    ],
    &[r#"{"id": -5.5, "date": "2018-01-10T12:00:00Z"}"#],
    &[
        r#"{"mixed": 5, "date": "2023-01-10T12:00:00Z"}"#,
        r#"{"mixed": -5.5, "date": "2024-01-10T12:00:00Z"}"#,
    ],
];

async fn fieldcaps() -> (LocalIndex, SearchService) {
    let local = LocalIndex::with_index(FIELDCAPS).await;
    local.create_index(FIELDCAPS_2).await;
    for (number, records) in FIELDCAPS_OBJECTS.iter().enumerate() {
        let key = format!("fieldcaps-{number}");
        let body: String = records.iter().map(|record| format!("{record}\n")).collect();
        local.put_object(&key, body.into_bytes()).await;
        local.index("fieldcaps", &[&key]).await;
    }
    let record = r#"{"name": "Fritz", "response": 30, "id": 6, "host": "192.168.0.1", "tags": ["nice", "cool"], "tags-2": ["awesome"]}"#;
    local
        .put_object("fieldcaps-2", format!("{record}\n").into_bytes())
        .await;
    local.index("fieldcaps-2", &["fieldcaps-2"]).await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    (local, service)
}

async fn caps(service: &SearchService, path: &str, body: Option<Value>) -> (u16, Value) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let method = if body.is_empty() { "GET" } else { "POST" };
    let response = request(
        service,
        method,
        &format!("/api/v1/_elastic/{path}"),
        Some(query),
        body.as_bytes(),
    )
    .await;
    (
        response.status,
        serde_json::from_slice(&response.body_bytes()).unwrap_or(Value::Null),
    )
}

fn capability(searchable: bool, aggregatable: bool, es_type: &str) -> Value {
    json!({"type": es_type, "metadata_field": false, "searchable": searchable, "aggregatable": aggregatable})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_and_dynamic_fields_with_their_types() {
    let (_local, service) = fieldcaps().await;
    let (status, response) = caps(&service, "fieldcaps/_field_caps", None).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["indices"], json!(["fieldcaps"]));
    let fields = &response["fields"];
    let text = json!({"keyword": capability(true, true, "keyword"), "text": capability(true, true, "text")});
    for name in ["name", "nested.name", "tags"] {
        assert_eq!(fields[name], text, "{name}: {fields}");
    }
    for name in ["response", "nested.response"] {
        assert_eq!(
            fields[name],
            json!({"long": capability(true, true, "long")}),
            "{name}"
        );
    }
    assert_eq!(fields["host"], json!({"ip": capability(true, true, "ip")}));
    assert_eq!(
        fields["date"],
        json!({"date_nanos": capability(true, true, "date_nanos")})
    );
    // 5 in one split, -5.5 in another: both types, both aggregatable.
    assert_eq!(
        fields["id"],
        json!({"long": capability(true, true, "long"), "double": capability(true, true, "double")})
    );
    // 5 and -5.5 in one split: the column holds doubles, so only `double` aggregates.
    assert_eq!(
        fields["mixed"],
        json!({"long": capability(true, false, "long"), "double": capability(true, true, "double")})
    );
    assert!(fields.get("_dynamic").is_none() && fields.get("_field_presence").is_none());
    // The newest split only (a time range in seconds, as Quickwit takes it).
    let (_, recent) = caps(
        &service,
        "fieldcaps/_field_caps?start_timestamp=1684993001",
        None,
    )
    .await;
    assert!(recent["fields"].get("id").is_none(), "{recent}");
    assert!(recent["fields"]["mixed"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_and_index_patterns() {
    let (_local, service) = fieldcaps().await;
    let (_, response) = caps(&service, "fieldcaps/_field_caps?fields=nest*", None).await;
    let names: Vec<&String> = response["fields"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["nested.name", "nested.response"]);
    let (_, response) = caps(&service, "fieldcaps/_field_caps?fields=nested.*ponse", None).await;
    let names: Vec<&String> = response["fields"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["nested.response"]);
    for path in [
        "fieldca*/_field_caps?fields=tags*",
        "_field_caps?fields=tags*",
    ] {
        let (status, response) = caps(&service, path, None).await;
        assert_eq!(status, 200);
        assert_eq!(
            response["indices"],
            json!(["fieldcaps", "fieldcaps-2"]),
            "{path}"
        );
        assert_eq!(
            response["fields"]["tags"]["keyword"],
            capability(true, true, "keyword")
        );
        let mut only_second = capability(true, true, "keyword");
        only_second["indices"] = json!(["fieldcaps-2"]);
        assert_eq!(
            response["fields"]["tags-2"]["keyword"], only_second,
            "{path}"
        );
    }
    let (status, response) = caps(&service, "fieldca*,blub*/_field_caps?fields=date", None).await;
    assert_eq!(status, 200);
    assert_eq!(response["indices"], json!(["fieldcaps", "fieldcaps-2"]));
    for (path, expected) in [
        ("fieldcaps,blub/_field_caps?fields=date", 404),
        ("doesnotexist/_field_caps?fields=date", 404),
        ("doesno*texist/_field_caps?fields=date", 200),
    ] {
        assert_eq!(caps(&service, path, None).await.0, expected, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_filters_keep_splits_with_a_match() {
    let (_local, service) = fieldcaps().await;
    let (status, response) = caps(
        &service,
        "fieldcaps/_field_caps?fields=*",
        Some(json!({"index_filter": {"term": {"name": "fritz"}}})),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let fields = response["fields"].as_object().unwrap();
    assert!(fields.contains_key("name"));
    // Only the first split has a Fritz: the other splits' fields are not listed.
    assert!(!fields.contains_key("mixed"), "{response}");
    let (status, response) = caps(
        &service,
        "fieldcaps/_field_caps?fields=response,name",
        Some(json!({"index_filter": {"bool": {"must": [{"term": {"name": "fritz"}}], "filter": [{"range": {"response": {"gte": 30}}}]}}})),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        response["fields"]["response"]["long"],
        capability(true, true, "long")
    );
    for bad in [
        json!({"index_filter": {"invalid_query_type": {"field": "value"}}}),
        json!({"index_filter": {}}),
    ] {
        let (status, _) = caps(
            &service,
            "fieldcaps/_field_caps?fields=name",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
}
