//! Scrolls over the fruit-sales index: every document exactly once, ties included, even when
//! each page is served by another searcher (another Lambda container) and while new splits
//! are published; altered or expired ids are refused.

mod common;

use std::collections::BTreeSet;

use common::{fixture, request};
use hydrant_ingest::testing::{FRUIT_RECORDS, fruit_count_where, fruit_record};
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

async fn call(
    service: &SearchService,
    path: &str,
    query: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let text = body.to_string();
    let response = request(service, "POST", path, query, text.as_bytes()).await;
    (
        response.status,
        serde_json::from_slice(&response.body_bytes()).unwrap_or(Value::Null),
    )
}

fn ids(page: &Value) -> Vec<u64> {
    page["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["_source"]["id"].as_u64().unwrap())
        .collect()
}

/// Scrolls `body` to the end, each page on a fresh searcher over the same storage; returns the
/// ids in the order served.
async fn scroll_all(services: &[SearchService], body: Value, page_size: usize) -> Vec<u64> {
    let (status, mut page) = call(
        &services[0],
        "/api/v1/_elastic/fruit/_search",
        Some(&format!("scroll=1m&size={page_size}")),
        body,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let mut seen = Vec::new();
    for turn in 1.. {
        let page_ids = ids(&page);
        assert!(page_ids.len() <= page_size);
        if page_ids.is_empty() {
            break;
        }
        seen.extend(page_ids);
        assert!(
            seen.len() <= FRUIT_RECORDS as usize * 2,
            "the scroll does not end"
        );
        let scroll_id = page["_scroll_id"].as_str().unwrap().to_string();
        let service = &services[turn % services.len()];
        let (status, next) = call(
            service,
            "/api/v1/_elastic/_search/scroll",
            None,
            json!({"scroll": "1m", "scroll_id": scroll_id}),
        )
        .await;
        assert_eq!(status, 200, "{next}");
        assert_eq!(
            next["hits"]["total"]["value"],
            page["hits"]["total"]["value"]
        );
        page = next;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolls_serve_every_document_once_across_searchers() {
    let fixture = fixture().await;
    let other = SearchService::new(fixture.local.metastore.clone(), SearcherConfig::default());
    let services = [
        SearchService::new(fixture.local.metastore.clone(), SearcherConfig::default()),
        other,
    ];
    // Document order, price order with many ties (50 prices over 400 documents), and a query.
    let all = scroll_all(&services, json!({"query": {"match_all": {}}}), 37).await;
    assert_eq!(all.len(), FRUIT_RECORDS as usize);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len());
    let by_price = scroll_all(
        &services,
        json!({"sort": [{"price": "desc"}], "query": {"match_all": {}}}),
        29,
    )
    .await;
    assert_eq!(by_price.len(), FRUIT_RECORDS as usize);
    assert_eq!(
        by_price.iter().collect::<BTreeSet<_>>().len(),
        by_price.len()
    );
    let prices: Vec<u64> = by_price.iter().map(|id| id % 50).collect();
    assert!(prices.windows(2).all(|pair| pair[0] >= pair[1]));
    let cherries = scroll_all(
        &services,
        json!({"query": {"term": {"name": "cherry"}}}),
        16,
    )
    .await;
    assert_eq!(cherries.len() as u64, fruit_count_where(|i| i % 4 == 2));
    assert!(cherries.iter().all(|id| id % 4 == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scroll_keeps_the_splits_it_started_on() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let (_, first) = call(
        service,
        "/api/v1/_elastic/fruit/_search",
        Some("scroll=1m&size=100"),
        json!({"aggs": {"names": {"terms": {"field": "price"}}}}),
    )
    .await;
    assert_eq!(first["hits"]["total"]["value"], FRUIT_RECORDS);
    assert!(first["aggregations"]["names"].is_object());
    // New documents are published while the scroll runs: it neither counts nor serves them.
    let body: String = (FRUIT_RECORDS..FRUIT_RECORDS + 50)
        .map(|i| fruit_record(i) + "\n")
        .collect();
    fixture.local.put_object("late", body.into_bytes()).await;
    fixture.local.index("fruit", &["late"]).await;
    let fresh = SearchService::new(fixture.local.metastore.clone(), SearcherConfig::default());
    let mut seen = ids(&first);
    let mut scroll_id = first["_scroll_id"].as_str().unwrap().to_string();
    loop {
        let (status, page) = call(
            &fresh,
            "/api/v1/_elastic/_search/scroll",
            Some("scroll=1m"),
            json!({"scroll_id": scroll_id}),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["hits"]["total"]["value"], FRUIT_RECORDS);
        assert!(page.get("aggregations").is_none());
        let page_ids = ids(&page);
        if page_ids.is_empty() {
            break;
        }
        seen.extend(page_ids);
        scroll_id = page["_scroll_id"].as_str().unwrap().to_string();
    }
    assert_eq!(seen.len() as u64, FRUIT_RECORDS);
    assert!(seen.iter().all(|id| *id < FRUIT_RECORDS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_expired_and_overlong_scrolls_are_refused() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let (status, page) = call(
        service,
        "/api/v1/_elastic/fruit/_search",
        Some("scroll=1s&size=5"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let scroll_id = page["_scroll_id"].as_str().unwrap().to_string();
    let (head, tail) = scroll_id.split_once('.').unwrap();
    let mut altered = head.as_bytes().to_vec();
    altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
    let altered = format!("{}.{tail}", String::from_utf8(altered).unwrap());
    for bad in [altered.as_str(), "not-a-scroll-id", ""] {
        let (status, error) = call(
            service,
            "/api/v1/_elastic/_search/scroll",
            None,
            json!({"scroll_id": bad}),
        )
        .await;
        assert!(status == 404 || status == 400, "{bad}: {status} {error}");
        assert!(error["error"]["type"].is_string(), "{error}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (status, error) = call(
        service,
        "/api/v1/_elastic/_search/scroll",
        None,
        json!({"scroll_id": scroll_id}),
    )
    .await;
    assert_eq!(status, 404, "{error}");
    assert_eq!(error["error"]["type"], "search_context_missing_exception");
    let (status, error) = call(
        service,
        "/api/v1/_elastic/fruit/_search",
        Some("scroll=31m"),
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    let response = request(
        service,
        "DELETE",
        "/api/v1/_elastic/_search/scroll",
        None,
        json!({"scroll_id": [scroll_id]}).to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200);
}
