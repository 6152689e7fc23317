//! Search over splits built by the real indexer, on local disk.

use hydrant_metastore::paths;
use hydrant_search::http::HttpRequest;
use hydrant_search::router;
use hydrant_search::{SearchError, SearchRequest};
use serde_json::Value;

mod common;

use common::{Fixture, fixture};
use hydrant_ingest::testing::fruit_count_where as count_where;

async fn num_hits(fixture: &Fixture, query: &str) -> u64 {
    fixture
        .service
        .search("fruit", &SearchRequest::new(query))
        .await
        .unwrap_or_else(|error| panic!("{query}: {error}"))
        .num_hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_count_what_they_should() {
    let fixture = fixture().await;
    let cases: Vec<(&str, u64)> = vec![
        ("*", 400),
        ("name:apple", count_where(|i| i % 4 == 0)),
        ("quantity:>5", count_where(|i| i % 10 > 5)),
        ("quantity:>=5", count_where(|i| i % 10 >= 5)),
        (
            "quantity:[2 TO 4}",
            count_where(|i| (2..4).contains(&(i % 10))),
        ),
        ("price:<10", count_where(|i| (i % 50) as f64 + 0.5 < 10.0)),
        (
            "name:apple AND quantity:0",
            count_where(|i| i % 4 == 0 && i % 10 == 0),
        ),
        ("name:apple OR name:banana", count_where(|i| i % 4 < 2)),
        (
            "name:apple -quantity:0",
            count_where(|i| i % 4 == 0 && i % 10 != 0),
        ),
        ("NOT name:apple", count_where(|i| i % 4 != 0)),
        ("fresh", count_where(|i| i % 5 == 0 || (i + 1) % 5 == 0)),
        ("description:\"fresh ripe\"", count_where(|i| i % 5 == 0)),
        ("\"ripe fresh\"", 0),
        (
            "description:fre*",
            count_where(|i| i % 5 == 0 || (i + 1) % 5 == 0),
        ),
        ("name:IN [apple cherry]", count_where(|i| i % 2 == 0)),
        ("id:*", 400),
        ("extra:x1", count_where(|i| i % 3 == 1)),
        ("ts:[2023-11-14T22:13:20Z TO 2023-11-14T22:23:20Z}", 10),
        (
            "(name:apple OR name:banana) AND quantity:<2",
            count_where(|i| i % 4 < 2 && i % 10 < 2),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(num_hits(&fixture, query).await, expected, "query `{query}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_range_prunes_and_filters() {
    let fixture = fixture().await;
    // Records 100..=149 (one split holds 100..200).
    let mut request = SearchRequest::new("*");
    request.start_timestamp = Some(1_700_000_000 + 100 * 60);
    request.end_timestamp = Some(1_700_000_000 + 150 * 60);
    let response = fixture.service.search("fruit", &request).await.unwrap();
    assert_eq!(response.num_hits, 50);
    // Pruning: the other splits are never opened, so deleting them changes nothing.
    let metadata = fixture
        .service
        .metastore()
        .index_metadata("fruit")
        .await
        .unwrap();
    for split in metadata.published_splits() {
        let range = split.time_range.unwrap();
        if !range.overlaps_secs(request.start_timestamp, request.end_timestamp) {
            let path = paths::split_file("fruit", &split.split_id);
            fixture.index_storage.delete(&path).await.unwrap();
        }
    }
    let response = fixture.service.search("fruit", &request).await.unwrap();
    assert_eq!(response.num_hits, 50);
    assert!(response.errors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_are_sorted_and_paginated() {
    let fixture = fixture().await;
    // Default: newest first.
    let mut request = SearchRequest::new("name:apple");
    request.max_hits = 3;
    let response = fixture.service.search("fruit", &request).await.unwrap();
    let ids: Vec<u64> = response
        .hits
        .iter()
        .map(|hit| hit["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [396, 392, 388]);
    assert_eq!(response.hits[0]["name"], "apple");
    assert_eq!(
        response.hits[0]["ts"],
        Value::from(1_700_000_000 + 396 * 60)
    );
    // Dynamic fields come back too.
    assert_eq!(response.hits[0]["extra"], "x0");
    request.start_offset = 3;
    let page_two = fixture.service.search("fruit", &request).await.unwrap();
    let ids: Vec<u64> = page_two
        .hits
        .iter()
        .map(|hit| hit["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [384, 380, 376]);
    // Ascending by price, ties broken stably.
    request.sort_by = vec!["price".into()];
    request.start_offset = 0;
    let by_price = fixture.service.search("fruit", &request).await.unwrap();
    let prices: Vec<f64> = by_price
        .hits
        .iter()
        .map(|hit| hit["price"].as_f64().unwrap())
        .collect();
    let mut expected: Vec<f64> = (0..400u64)
        .filter(|i| i % 4 == 0)
        .map(|i| (i % 50) as f64 + 0.5)
        .collect();
    expected.sort_by(f64::total_cmp);
    assert_eq!(prices, expected[..3]);
    request.start_offset = 4;
    let after_ties = fixture.service.search("fruit", &request).await.unwrap();
    assert_eq!(after_ties.hits[0]["price"].as_f64(), Some(expected[4]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_clear_errors() {
    let fixture = fixture().await;
    let cases = [
        ("name:(apple", "position 11"),
        ("quantity.sub:1", "unknown field `quantity.sub`"),
        ("quantity:many", "`many` is not an unsigned integer"),
        ("description:\"a b\" AND name:\"x y\"", ""),
    ];
    for (query, needle) in &cases[..3] {
        let error = fixture
            .service
            .search("fruit", &SearchRequest::new(*query))
            .await
            .unwrap_err();
        assert_eq!(error.status_code(), 400, "{query}");
        assert!(error.to_string().contains(needle), "{query}: {error}");
    }
    // In dynamic mode (the default) an unmapped field is a dynamic one: no error, no match.
    assert_eq!(num_hits(&fixture, "colour:red").await, 0);
    // A multi-token value on a raw field is one token: no error, no match.
    assert_eq!(num_hits(&fixture, cases[3].0).await, 0);
    let error = fixture
        .service
        .search("nope", &SearchRequest::new("*"))
        .await
        .unwrap_err();
    assert!(matches!(error, SearchError::IndexNotFound(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_split_is_reported_and_the_rest_answers() {
    let fixture = fixture().await;
    let metadata = fixture
        .service
        .metastore()
        .index_metadata("fruit")
        .await
        .unwrap();
    let victim = metadata.published_splits().next().unwrap().split_id.clone();
    let path = paths::split_file("fruit", &victim);
    fixture.index_storage.delete(&path).await.unwrap();
    let response = fixture
        .service
        .search("fruit", &SearchRequest::new("*"))
        .await
        .unwrap();
    assert_eq!(response.num_hits, 300);
    assert_eq!(response.errors.len(), 1);
    assert!(response.errors[0].contains(&victim));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_routes() {
    let fixture = fixture().await;
    let call = |method: &'static str,
                path: &'static str,
                query: Option<&'static str>,
                body: &'static [u8]| {
        let service = &fixture.service;
        async move {
            let request = HttpRequest::new(method, path, query, body);
            let response = router::handle(service, None, request).await;
            (
                response.status,
                serde_json::from_slice::<Value>(&response.body_bytes()).unwrap(),
            )
        }
    };
    let (status, body) = call(
        "GET",
        "/api/v1/fruit/search",
        Some("query=quantity%3A%3E5&max_hits=2"),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["num_hits"], count_where(|i| i % 10 > 5));
    assert_eq!(body["hits"].as_array().unwrap().len(), 2);
    assert!(body["elapsed_time_micros"].as_u64().is_some());
    assert_eq!(body["errors"], Value::Array(vec![]));
    let (status, body) = call(
        "POST",
        "/api/v1/fruit/search",
        None,
        br#"{"query": "name:apple", "max_hits": 0}"#,
    )
    .await;
    assert_eq!((status, body["num_hits"].as_u64()), (200, Some(100)));
    let (status, body) = call("GET", "/api/v1/fruit/search", Some("query=*&bogus=1"), b"").await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("bogus"));
    let (status, _) = call("GET", "/api/v1/missing/search", Some("query=*"), b"").await;
    assert_eq!(status, 404);
    let (status, body) = call("GET", "/api/v1/indexes", None, b"").await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["num_published_docs"], 400);
    let (status, body) = call("GET", "/api/v1/indexes/fruit", None, b"").await;
    assert_eq!(status, 200);
    assert_eq!(body["splits"].as_array().unwrap().len(), 4);
    let (status, _) = call("GET", "/health", None, b"").await;
    assert_eq!(status, 200);
    let (status, _) = call("DELETE", "/api/v1/fruit/search", None, b"").await;
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregations_merge_across_splits() {
    let fixture = fixture().await;
    let mut request = SearchRequest::new("*");
    request.max_hits = 0;
    request.aggs = Some(serde_json::json!({
        "by_name": {"terms": {"field": "name", "size": 10}},
        "quantity_stats": {"stats": {"field": "price"}},
        "per_hour": {"date_histogram": {"field": "ts", "fixed_interval": "1h"}},
        "price_ranges": {"range": {"field": "price", "ranges": [{"to": 10.0}, {"from": 10.0}]}},
        "distinct_names": {"cardinality": {"field": "name"}},
        "price_percentiles": {"percentiles": {"field": "price", "percents": [50.0]}}
    }));
    // `name` is not fast in the fixture: a clear 400.
    let error = fixture.service.search("fruit", &request).await.unwrap_err();
    assert_eq!(error.status_code(), 400, "{error}");
    assert!(
        error.to_string().contains("`name` is not a fast field"),
        "{error}"
    );

    request.aggs = Some(serde_json::json!({
        "price_stats": {"stats": {"field": "price"}},
        "per_hour": {"date_histogram": {"field": "ts", "fixed_interval": "1h"}},
        "price_ranges": {"range": {"field": "price", "ranges": [{"to": 10.0}, {"from": 10.0}]}},
        "ids": {"cardinality": {"field": "id"}},
        "median_price": {"percentiles": {"field": "price", "percents": [50.0]}},
        "max_id": {"max": {"field": "id"}},
        "by_id_bucket": {"histogram": {"field": "id", "interval": 100}}
    }));
    let response = fixture.service.search("fruit", &request).await.unwrap();
    let aggregations = response.aggregations.unwrap();
    assert_eq!(aggregations["price_stats"]["count"], 400);
    let expected_sum: f64 = (0..400u64).map(|i| (i % 50) as f64 + 0.5).sum();
    assert_eq!(
        aggregations["price_stats"]["sum"].as_f64(),
        Some(expected_sum)
    );
    let hours: u64 = aggregations["per_hour"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["doc_count"].as_u64().unwrap())
        .sum();
    assert_eq!(hours, 400);
    assert_eq!(
        aggregations["price_ranges"]["buckets"][0]["doc_count"],
        count_where(|i| (i % 50) < 10)
    );
    // Cardinality is a HyperLogLog estimate.
    let distinct_ids = aggregations["ids"]["value"].as_f64().unwrap();
    assert!((392.0..=408.0).contains(&distinct_ids), "{distinct_ids}");
    assert_eq!(aggregations["max_id"]["value"], 399.0);
    let buckets = aggregations["by_id_bucket"]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 4);
    assert!(buckets.iter().all(|bucket| bucket["doc_count"] == 100));
    // Aggregations follow the query.
    request.query = "name:apple".into();
    let apples = fixture.service.search("fruit", &request).await.unwrap();
    assert_eq!(apples.aggregations.unwrap()["price_stats"]["count"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snippets_highlight_the_query_terms() {
    let fixture = fixture().await;
    let mut request = SearchRequest::new("description:juicy");
    request.snippet_fields = vec!["description".into()];
    request.max_hits = 3;
    let response = fixture.service.search("fruit", &request).await.unwrap();
    let snippets = response.snippets.unwrap();
    assert_eq!(snippets.len(), 3);
    for snippet in &snippets {
        let fragment = snippet["description"][0].as_str().unwrap();
        assert!(fragment.contains("<b>juicy</b>"), "{fragment}");
    }
    request.snippet_fields = vec!["price".into()];
    let error = fixture.service.search("fruit", &request).await.unwrap_err();
    assert!(error.to_string().contains("stored text field"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sort_keys_and_count_all() {
    let fixture = fixture().await;
    let mut request = SearchRequest::new("*");
    request.sort_by = vec!["-price".into(), "id".into()];
    request.max_hits = 5;
    let response = fixture.service.search("fruit", &request).await.unwrap();
    let pairs: Vec<(f64, u64)> = response
        .hits
        .iter()
        .map(|hit| (hit["price"].as_f64().unwrap(), hit["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [
            (49.5, 49),
            (49.5, 99),
            (49.5, 149),
            (49.5, 199),
            (49.5, 249)
        ]
    );
    request.count_all = false;
    let response = fixture.service.search("fruit", &request).await.unwrap();
    assert!(response.num_hits >= 5 && response.num_hits <= 400);
    request.sort_by = vec!["a".into(), "b".into(), "c".into()];
    assert!(fixture.service.search("fruit", &request).await.is_err());
}

/// Requests a hostile or careless client sends: each is a 400 naming the problem, or the
/// answer it means, never a crash or a silently wrong answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_answers() {
    let fixture = fixture().await;
    // A far-future end means no upper bound; a far-past start no lower bound.
    for (start, end) in [
        (None, Some(9_999_999_999)),
        (None, Some(i64::MAX)),
        (Some(i64::MIN), None),
        (Some(-9_999_999_999), Some(9_999_999_999)),
    ] {
        let mut request = SearchRequest::new("*");
        request.start_timestamp = start;
        request.end_timestamp = end;
        let response = fixture.service.search("fruit", &request).await.unwrap();
        assert_eq!(response.num_hits, 400, "{start:?}..{end:?}");
    }
    // Windows entirely outside what datetimes hold match nothing.
    for (start, end) in [
        (Some(i64::MAX - 1), Some(i64::MAX)),
        (Some(i64::MIN), Some(i64::MIN / 2)),
    ] {
        let mut request = SearchRequest::new("*");
        request.start_timestamp = start;
        request.end_timestamp = end;
        let response = fixture.service.search("fruit", &request).await.unwrap();
        assert_eq!(response.num_hits, 0, "{start:?}..{end:?}");
    }
    let nested = format!("{}apple{}", "(".repeat(20_000), ")".repeat(20_000));
    let negated = format!("{}apple", "NOT ".repeat(20_000));
    for query in [nested.as_str(), negated.as_str()] {
        let error = fixture
            .service
            .search("fruit", &SearchRequest::new(query))
            .await
            .unwrap_err();
        assert_eq!(error.status_code(), 400);
        assert!(error.to_string().contains("levels deep"), "{error}");
    }
    let bad_aggs = [
        (
            serde_json::json!({"h": {"histogram": {"field": "price", "interval": 0}}}),
            "positive",
        ),
        (
            serde_json::json!({"h": {"histogram": {"field": "price", "interval": -5}}}),
            "positive",
        ),
        (
            serde_json::json!({"h": {"date_histogram": {"field": "ts", "fixed_interval": "0s"}}}),
            "positive",
        ),
        (
            serde_json::json!({"h": {"date_histogram": {"field": "ts", "fixed_interval": "9223372036854775807d"}}}),
            "positive",
        ),
        (
            serde_json::json!({"h": {"date_histogram": {"field": "ts", "fixed_interval": "1 fortnight"}}}),
            "fixed_interval",
        ),
        (
            serde_json::json!({"h": {"date_histogram": {"field": "ts", "calendar_interval": "1M"}}}),
            "calendar_interval",
        ),
    ];
    for (aggs, needle) in bad_aggs {
        let mut request = SearchRequest::new("*");
        request.aggs = Some(aggs.clone());
        let error = fixture.service.search("fruit", &request).await.unwrap_err();
        assert_eq!(error.status_code(), 400, "{aggs}");
        assert!(error.to_string().contains(needle), "{aggs}: {error}");
    }
    let mut deep = serde_json::json!({"avg": {"avg": {"field": "price"}}});
    for level in 0..20 {
        deep = serde_json::json!({ format!("l{level}"): {"terms": {"field": "id"}, "aggs": deep} });
    }
    let mut request = SearchRequest::new("*");
    request.aggs = Some(deep);
    let error = fixture.service.search("fruit", &request).await.unwrap_err();
    assert!(error.to_string().contains("levels deep"), "{error}");
}

/// Exclusive IP bounds at the ends of the address space match nothing past them (tantivy
/// would wrap them around and match everything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_ranges_at_the_ends_of_the_address_space() {
    use std::sync::Arc;

    use hydrant_index::config::IndexConfig;
    use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
    use hydrant_metastore::Metastore;
    use hydrant_search::{SearchService, SearcherConfig};
    use hydrant_storage::{LocalStorage, PutMode, Storage, StorageUri};

    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let metastore = Metastore::new(Arc::new(
        LocalStorage::new(temp_dir.path().join("index")).unwrap(),
    ));
    metastore
        .create_index(
            IndexConfig::from_yaml(
                "index_id: hosts\ndoc_mapping:\n  field_mappings:\n    - {name: ip, type: ip, fast: true}\n",
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let body = ["::", "10.0.0.1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
        .iter()
        .map(|ip| format!("{{\"ip\":\"{ip}\"}}\n"))
        .collect::<String>();
    LocalStorage::new(&staging_dir)
        .unwrap()
        .put("hosts", body.into_bytes().into(), PutMode::Create)
        .await
        .unwrap();
    Indexer::new(
        metastore.clone(),
        StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir)),
    )
    .index_objects("hosts", &[ObjectRef::new("staging", "hosts")], None)
    .await
    .unwrap();
    let service = SearchService::new(metastore, SearcherConfig::default());
    for (query, expected) in [
        ("ip:>ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0),
        ("ip:<::", 0),
        ("ip:>10.0.0.1", 1),
        ("ip:>=10.0.0.1", 2),
        ("ip:{:: TO *]", 2),
        ("ip:[* TO 10.0.0.1}", 1),
        ("ip:{:: TO ::1}", 0),
    ] {
        let response = service
            .search("hosts", &SearchRequest::new(query))
            .await
            .unwrap();
        assert_eq!(response.num_hits, expected, "{query}");
    }
}

/// A json field named without a path (in a clause, or as a search field) is searched at its
/// root. Found by fuzzing: it reached a branch that assumed typed fields and aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_fields_without_a_path_are_searched_at_their_root() {
    use std::sync::Arc;

    use hydrant_index::config::IndexConfig;
    use hydrant_metastore::Metastore;
    use hydrant_search::{SearchService, SearcherConfig};
    use hydrant_storage::testing::MemoryStorage;

    let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
    metastore
        .create_index(
            IndexConfig::from_yaml(
                "index_id: events\ndoc_mapping:\n  field_mappings:\n    - {name: attrs, type: json, fast: true}\n    - {name: body, type: text}\n",
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let service = SearchService::new(metastore, SearcherConfig::default());
    for query in [
        "attrs:quick",
        "attrs:\"quick fox\"",
        "attrs:qu*",
        "attrs:[a TO b]",
        "attrs:IN [a b]",
        "attrs:>5",
    ] {
        // An answer, or a 400 saying what does not fit (a phrase needs positions).
        if let Err(error) = service.search("events", &SearchRequest::new(query)).await {
            assert_eq!(error.status_code(), 400, "{query}: {error}");
        }
    }
    let mut request = SearchRequest::new("quick");
    request.search_field = vec!["attrs".into(), "body".into()];
    service.search("events", &request).await.unwrap();
}
