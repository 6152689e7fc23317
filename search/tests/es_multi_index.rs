//! Searches over several indexes whose mappings differ (a dynamic one and a strict one), from
//! Quickwit's `multi-indices` scenario: patterns, exclusions, merged sort order, hits named by
//! their index, aggregations, scrolls, missing indexes; on both APIs.

mod common;

use common::request;
use hydrant_ingest::testing::LocalIndex;
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

const GHARCHIVE_1: &str = r#"
version: "0.7"
index_id: gharchive-1
doc_mapping:
  index_field_presence: true
  timestamp_field: created_at
  mode: dynamic
  field_mappings:
    - {name: created_at, type: datetime, fast: true}
  dynamic_mapping:
    expand_dots: true
    tokenizer: default
    fast:
      normalizer: lowercase
    record: position
"#;

const GHARCHIVE_2: &str = r#"
version: "0.7"
index_id: gharchive-2
doc_mapping:
  index_field_presence: true
  timestamp_field: created_at
  mode: strict
  field_mappings:
    - {name: created_at, type: datetime, fast: true}
    - {name: id, type: u64, fast: true}
    - {name: type, type: text, fast: true}
    - name: actor
      type: object
      field_mappings:
        - {name: id, type: u64, fast: true}
        - {name: login, type: text, fast: true}
"#;

async fn gharchives() -> (LocalIndex, SearchService) {
    let local = LocalIndex::with_index(GHARCHIVE_1).await;
    local.create_index(GHARCHIVE_2).await;
    let objects = [
        (
            "gharchive-1",
            [
                r#"{"id": 1, "created_at":"2015-02-01T00:00:14Z", "type": "CreateEvent", "actor": { "id": 1, "login": "fmassot" } }"#,
                r#"{"id": 2, "created_at":"2015-02-01T00:00:16Z", "type": "CreateEvent", "actor": { "id": 2, "login": "fulmicoton" } }"#,
            ],
        ),
        (
            "gharchive-2",
            [
                r#"{"id": 3, "created_at":"2015-02-01T00:00:15Z", "type": "CreateEvent", "actor": { "id": 3, "login": "guilload" } }"#,
                r#"{"id": 4, "created_at":"2015-02-01T00:00:17Z", "type": "CreateEvent", "actor": { "id": 4, "login": "trinity" } }"#,
            ],
        ),
    ];
    for (index_id, records) in objects {
        let body: String = records.iter().map(|record| format!("{record}\n")).collect();
        local.put_object(index_id, body.into_bytes()).await;
        local.index(index_id, &[index_id]).await;
    }
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    (local, service)
}

async fn call(
    service: &SearchService,
    method: &str,
    path: &str,
    query: &str,
    body: Value,
) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let response = request(service, method, path, Some(query), body.as_bytes()).await;
    (
        response.status,
        serde_json::from_slice(&response.body_bytes()).unwrap_or(Value::Null),
    )
}

async fn es(service: &SearchService, pattern: &str, query: &str, body: Value) -> (u16, Value) {
    call(
        service,
        "POST",
        &format!("/api/v1/_elastic/{pattern}/_search"),
        query,
        body,
    )
    .await
}

fn total(response: &Value) -> u64 {
    response["hits"]["total"]["value"].as_u64().unwrap()
}

fn logins(response: &Value) -> Vec<String> {
    response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            hit["_source"]["actor"]["login"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_select_and_merge_indexes() {
    let (_local, service) = gharchives().await;
    let either = "q=actor.login:fmassot OR actor.login:guilload";
    for (pattern, query, expected) in [
        ("gharchive-*", "q=*", 4),
        ("gharchive-*", either, 2),
        ("gharchive-1,gharchive-2", either, 2),
        ("gharchive-1%2Cgharchive-2", either, 2),
        ("gharchive-*,-gharchive-2", "q=*", 2),
        ("gharchive-*,-*-2", "q=*", 2),
        ("invalidptn-*", "q=*", 0),
        ("invalidptn*-,gharchive*", "q=*", 4),
        ("idontexist", "q=*&ignore_unavailable=true", 0),
        ("gharchive-*,idontexist", "q=*&ignore_unavailable=true", 4),
    ] {
        let (status, response) = es(&service, pattern, query, Value::Null).await;
        assert_eq!(status, 200, "{pattern} {query}: {response}");
        assert_eq!(total(&response), expected, "{pattern} {query}");
        assert_eq!(
            response["hits"]["hits"].as_array().unwrap().len() as u64,
            expected
        );
    }
    for pattern in [
        "idontexist",
        "gharchive-*,idontexist",
        "invalidptn*-,nonexistingindex",
    ] {
        let (status, _) = es(&service, pattern, "q=*", Value::Null).await;
        assert_eq!(status, 404, "{pattern}");
    }
    // One sort across both indexes, each hit named by its own index.
    let (_, response) = es(
        &service,
        "gharchive-1%2Cgharchive-2",
        "size=2",
        json!({"query": {"match_all": {}}, "sort": {"created_at": {"order": "desc"}}}),
    )
    .await;
    assert_eq!(total(&response), 4);
    assert_eq!(logins(&response), ["trinity", "fulmicoton"]);
    let indexes: Vec<&Value> = response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| &hit["_index"])
        .collect();
    assert_eq!(indexes, ["gharchive-2", "gharchive-1"]);
    // Counting too.
    let (status, count) = call(
        &service,
        "GET",
        "/api/v1/_elastic/gharchive-*/_count",
        "q=*",
        Value::Null,
    )
    .await;
    assert_eq!((status, count["count"].as_u64()), (200, Some(4)));
    let (status, count) = call(
        &service,
        "GET",
        "/api/v1/_elastic/_count",
        "q=type:createevent",
        Value::Null,
    )
    .await;
    assert_eq!((status, count["count"].as_u64()), (200, Some(4)), "{count}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregations_and_scrolls_span_indexes() {
    let (_local, service) = gharchives().await;
    let aggs = json!({"logins": {"terms": {"field": "actor.login", "order": {"_key": "asc"}}}});
    let (status, response) = es(
        &service,
        "gharchive-*",
        "",
        json!({"query": {"match_all": {}}, "aggs": aggs}),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let keys: Vec<&Value> = response["aggregations"]["logins"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| &bucket["key"])
        .collect();
    assert_eq!(keys, ["fmassot", "fulmicoton", "guilload", "trinity"]);
    let (_, response) = es(&service, "noindexmatching-*", "", json!({"aggs": aggs})).await;
    assert!(response.get("aggregations").is_none(), "{response}");
    // A scroll over both, one hit per page, by descending actor id.
    let body = json!({"query": {"match_all": {}}, "sort": [{"actor.id": {"order": "desc"}}]});
    let (status, mut page) = es(&service, "gharchive-*", "size=1&scroll=30m", body.clone()).await;
    assert_eq!(status, 200, "{page}");
    let mut seen = logins(&page);
    for _ in 0..5 {
        let scroll_id = page["_scroll_id"].as_str().unwrap().to_string();
        let (status, next) = call(
            &service,
            "GET",
            "/api/v1/_elastic/_search/scroll",
            "scroll=30m",
            json!({"scroll_id": scroll_id}),
        )
        .await;
        assert_eq!(status, 200, "{next}");
        assert_eq!(total(&next), 4);
        seen.extend(logins(&next));
        page = next;
    }
    assert_eq!(seen, ["trinity", "guilload", "fulmicoton", "fmassot"]);
    let (status, _) = es(
        &service,
        "gharchive-*,non-existing-index",
        "size=1&scroll=30m",
        body.clone(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, response) = es(&service, "non-existing-index-*", "size=1&scroll=30m", body).await;
    assert_eq!(status, 200);
    assert!(response["_scroll_id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_api_takes_patterns_too() {
    let (_local, service) = gharchives().await;
    let (status, response) = call(
        &service,
        "GET",
        "/api/v1/gharchive-*/search",
        "query=actor.login:fmassot OR actor.login:trinity",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["num_hits"], 2);
    let (_, response) = call(
        &service,
        "POST",
        "/api/v1/gharchive-1,gharchive-2/search",
        "",
        json!({"query": "*", "sort_by": "-created_at", "max_hits": 3}),
    )
    .await;
    assert_eq!(response["num_hits"], 4);
    let ids: Vec<&Value> = response["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| &hit["id"])
        .collect();
    assert_eq!(ids, [4, 2, 3]);
    let (status, _) = call(
        &service,
        "GET",
        "/api/v1/gharchive-*,nope/search",
        "query=*",
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
}
