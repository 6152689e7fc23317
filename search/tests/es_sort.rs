//! Sorting and `search_after` on the Elasticsearch API, over a dynamic-mode index whose
//! documents spread over several splits: values of one field differ in type (`10` and `-2.5`)
//! and some documents have none, as in Quickwit's `sort_orders` and `search_after` scenarios.

mod common;

use common::request;
use hydrant_ingest::testing::LocalIndex;
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

const SORT_CONFIG: &str = r#"
version: "0.7"
index_id: sortorder
doc_mapping:
  mode: dynamic
  dynamic_mapping:
    tokenizer: default
    fast: true
"#;

/// The documents, in the objects (so splits) they are indexed from.
const SORT_OBJECTS: [&[&str]; 3] = [
    &[r#"{"count": 10, "id": 1}"#, r#"{"count": 10, "id": 2}"#],
    &[
        r#"{"count": 15, "id": 2}"#,
        r#"{"id": 3}"#,
        r#"{"count": 10, "id": 0}"#,
    ],
    &[r#"{"count": -2.5, "id": 4}"#, r#"{"id": 5}"#],
];

async fn sortorder() -> (LocalIndex, SearchService) {
    let local = LocalIndex::with_index(SORT_CONFIG).await;
    for (number, records) in SORT_OBJECTS.iter().enumerate() {
        let key = format!("object-{number}");
        let body: String = records.iter().map(|record| format!("{record}\n")).collect();
        local.put_object(&key, body.into_bytes()).await;
        local.index("sortorder", &[&key]).await;
    }
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    (local, service)
}

async fn search(service: &SearchService, body: Value) -> Value {
    let text = body.to_string();
    let response = request(
        service,
        "POST",
        "/api/v1/_elastic/sortorder/_search",
        None,
        text.as_bytes(),
    )
    .await;
    let json: Value = serde_json::from_slice(&response.body_bytes()).unwrap();
    assert_eq!(response.status, 200, "{body} -> {json}");
    json
}

fn sources(response: &Value) -> Vec<Value> {
    response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["_source"].clone())
        .collect()
}

fn sorts(response: &Value) -> Vec<Value> {
    response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["sort"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_fields_sort_across_types_with_missing_values_last() {
    let (_local, service) = sortorder().await;
    let response = search(
        &service,
        json!({"query": {"match_all": {}}, "sort": [{"id": {"order": "asc"}}, {"count": {"order": "asc"}}]}),
    )
    .await;
    assert_eq!(
        sources(&response),
        [
            json!({"count": 10, "id": 0}),
            json!({"count": 10, "id": 1}),
            json!({"count": 10, "id": 2}),
            json!({"count": 15, "id": 2}),
            json!({"id": 3}),
            json!({"count": -2.5, "id": 4}),
            json!({"id": 5}),
        ]
    );
    let response = search(
        &service,
        json!({"query": {"match_all": {}}, "sort": [{"count": {"order": "desc"}}, {"id": {"order": "desc"}}]}),
    )
    .await;
    assert_eq!(
        sources(&response),
        [
            json!({"count": 15, "id": 2}),
            json!({"count": 10, "id": 2}),
            json!({"count": 10, "id": 1}),
            json!({"count": 10, "id": 0}),
            json!({"count": -2.5, "id": 4}),
            json!({"id": 5}),
            json!({"id": 3}),
        ]
    );
    let response = search(
        &service,
        json!({"query": {"bool": {"must_not": {"match": {"count": 10}}}}, "sort": [{"id": {"order": "desc"}}]}),
    )
    .await;
    assert_eq!(response["hits"]["total"]["value"], 4);
    assert_eq!(
        sources(&response),
        [
            json!({"id": 5}),
            json!({"count": -2.5, "id": 4}),
            json!({"id": 3}),
            json!({"count": 15, "id": 2}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_after_resumes_strictly_after_the_values() {
    let (_local, service) = sortorder().await;
    let sort = json!([{"count": {"order": "asc"}}]);
    let first = search(&service, json!({"size": 2, "sort": sort})).await;
    assert_eq!(sorts(&first), [json!([-2.5]), json!([10])]);
    // Without a tie-break, the other documents with count 10 are skipped, as Elasticsearch
    // skips them; the total still counts every match.
    let next = search(
        &service,
        json!({"size": 10, "sort": sort, "search_after": [10]}),
    )
    .await;
    assert_eq!(next["hits"]["total"]["value"], 7);
    assert_eq!(sorts(&next), [json!([15]), json!([null]), json!([null])]);
    // Strings holding numbers, and numbers of another type than the column's, are read.
    let next = search(
        &service,
        json!({"size": 1, "sort": sort, "search_after": ["0.5"]}),
    )
    .await;
    assert_eq!(sorts(&next), [json!([10])]);
    let next = search(
        &service,
        json!({"size": 1, "sort": sort, "search_after": [-10]}),
    )
    .await;
    assert_eq!(sorts(&next), [json!([-2.5])]);
    // After a missing value: only documents without one remain.
    let after_missing = search(
        &service,
        json!({"size": 10, "sort": sort, "search_after": [null]}),
    )
    .await;
    assert!(sorts(&after_missing).is_empty(), "{after_missing}");
    let desc = json!([{"id": {"order": "desc"}}]);
    let next = search(
        &service,
        json!({"size": 2, "sort": desc, "search_after": [18_000_000_000_000_000_000u128]}),
    )
    .await;
    assert_eq!(sorts(&next), [json!([5]), json!([4])]);
    let asc = json!([{"id": "asc"}]);
    let next = search(
        &service,
        json!({"size": 2, "sort": asc, "search_after": [18_000_000_000_000_000_000u128]}),
    )
    .await;
    assert!(sorts(&next).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_doc_pages_through_ties_without_skipping_or_repeating() {
    let (_local, service) = sortorder().await;
    let sort = json!([{"count": "desc"}, "_shard_doc"]);
    let mut seen = Vec::new();
    let mut after: Option<Value> = None;
    for _ in 0..10 {
        let mut body = json!({"size": 2, "sort": sort});
        if let Some(after) = &after {
            body["search_after"] = after.clone();
        }
        let page = search(&service, body).await;
        let hits = page["hits"]["hits"].as_array().unwrap().clone();
        if hits.is_empty() {
            break;
        }
        after = Some(hits.last().unwrap()["sort"].clone());
        seen.extend(hits.iter().map(|hit| hit["_source"].clone()));
    }
    let all = search(&service, json!({"size": 10, "sort": sort})).await;
    assert_eq!(seen, sources(&all));
    assert_eq!(seen.len(), 7);
    let bad = request(
        &service,
        "POST",
        "/api/v1/_elastic/sortorder/_search",
        None,
        json!({"sort": sort, "search_after": [10, "not a position"]})
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doc_order_is_indexing_order_and_reverses() {
    let (_local, service) = sortorder().await;
    let ids = |response: &Value| -> Vec<u64> {
        sources(response)
            .iter()
            .map(|source| source["id"].as_u64().unwrap())
            .collect()
    };
    let indexing_order = [1, 2, 2, 3, 0, 4, 5];
    for sort in [
        json!({"_doc": {}}),
        json!({"_doc": {"order": "asc"}}),
        json!("_doc"),
    ] {
        let response = search(&service, json!({"size": 10, "sort": sort})).await;
        assert_eq!(ids(&response), indexing_order, "{sort}");
    }
    let response = search(&service, json!({"size": 3, "sort": {"_doc": "desc"}})).await;
    assert_eq!(ids(&response), [5, 4, 0]);
    // Ties on a field follow the document order asked for.
    let response = search(
        &service,
        json!({"size": 3, "sort": [{"count": "asc"}, {"_doc": "asc"}]}),
    )
    .await;
    assert_eq!(ids(&response), [4, 1, 2]);
    let response = search(
        &service,
        json!({"size": 3, "sort": [{"count": "asc"}, {"_doc": "desc"}]}),
    )
    .await;
    assert_eq!(ids(&response), [4, 0, 2]);
    // Paging oldest first with positions repeats and skips nothing.
    let sort = json!([{"_doc": "asc"}, "_shard_doc"]);
    let mut seen = Vec::new();
    let mut body = json!({"size": 3, "sort": sort});
    loop {
        let page = search(&service, body.clone()).await;
        let hits = page["hits"]["hits"].as_array().unwrap().clone();
        let Some(last) = hits.last() else { break };
        body["search_after"] = last["sort"].clone();
        seen.extend(ids(&page));
        assert!(seen.len() <= 7);
    }
    assert_eq!(seen, indexing_order);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_mixing_numbers_and_bools_orders_bools_as_zero_and_one() {
    let local = LocalIndex::with_index(&SORT_CONFIG.replace("sortorder", "mixed")).await;
    let objects: [&[&str]; 3] = [
        &[r#"{"mixed_type": 0}"#, r#"{"mixed_type": -10}"#],
        &[r#"{"mixed_type": true}"#, r#"{"mixed_type": 10.5}"#],
        &[r#"{"mixed_type": 18000000000000000000}"#],
    ];
    for (number, records) in objects.iter().enumerate() {
        let key = format!("mixed-{number}");
        let body: String = records.iter().map(|record| format!("{record}\n")).collect();
        local.put_object(&key, body.into_bytes()).await;
        local.index("mixed", &[&key]).await;
    }
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let search = |body: Value| {
        let service = &service;
        async move {
            let response = request(
                service,
                "POST",
                "/api/v1/_elastic/mixed/_search",
                None,
                body.to_string().as_bytes(),
            )
            .await;
            serde_json::from_slice::<Value>(&response.body_bytes()).unwrap()
        }
    };
    let ascending =
        search(json!({"size": 5, "sort": [{"mixed_type": "asc"}], "search_after": [-10]})).await;
    assert_eq!(
        sorts(&ascending),
        [
            json!([0]),
            json!([true]),
            json!([10.5]),
            json!([18000000000000000000u64])
        ]
    );
    let descending =
        search(json!({"size": 5, "sort": [{"mixed_type": "desc"}], "search_after": [2]})).await;
    assert_eq!(
        sorts(&descending),
        [json!([true]), json!([0]), json!([-10])]
    );
}
