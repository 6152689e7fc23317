//! The Elasticsearch-compatible routes over the fruit-sales index: every count checked against
//! the dataset's own (`fruit_count_where`) or against the native API on the same index.

mod common;

use common::{fixture, request};
use hydrant_ingest::testing::fruit_count_where as count_where;
use hydrant_search::SearchService;
use hydrant_search::http::HttpResponse;
use serde_json::{Value, json};

async fn call(
    service: &SearchService,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, HttpResponse) {
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let response = request(service, method, path, query, body.as_bytes()).await;
    let json = serde_json::from_slice(&response.body_bytes()).unwrap_or(Value::Null);
    (response.status, json, response)
}

async fn es_search(service: &SearchService, body: Value) -> Value {
    let (status, json, _) = call(
        service,
        "POST",
        "/api/v1/_elastic/fruit/_search",
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body} -> {json}");
    json
}

fn total(response: &Value) -> u64 {
    response["hits"]["total"]["value"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_info_carries_the_product_header_clients_check() {
    let fixture = fixture().await;
    for method in ["GET", "HEAD"] {
        let (status, json, response) =
            call(&fixture.service, method, "/api/v1/_elastic", None, None).await;
        assert_eq!(status, 200);
        assert!(
            response
                .headers
                .contains(&("x-elastic-product", "Elasticsearch"))
        );
        if method == "GET" {
            assert_eq!(json["version"]["number"], "7.17.0");
            assert_eq!(json["tagline"], "You Know, for Search");
        } else {
            assert!(response.body_bytes().is_empty());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_dsl_counts_match_the_dataset() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let cases: Vec<(Value, u64)> = vec![
        (json!({"match_all": {}}), count_where(|_| true)),
        (json!({"match_none": {}}), 0),
        (
            json!({"term": {"name": "banana"}}),
            count_where(|i| i % 4 == 1),
        ),
        // Not tokenized: the raw-tokenized name keeps its case, so `Banana` matches nothing.
        (json!({"term": {"name": "Banana"}}), 0),
        (
            json!({"term": {"name": {"value": "BANANA", "case_insensitive": true}}}),
            count_where(|i| i % 4 == 1),
        ),
        (
            json!({"terms": {"name": ["apple", "cherry"]}}),
            count_where(|i| i % 4 == 0 || i % 4 == 2),
        ),
        (
            json!({"term": {"quantity": 3}}),
            count_where(|i| i % 10 == 3),
        ),
        (
            json!({"match": {"description": "ripe organic"}}),
            count_where(|i| [1, 2, 0].contains(&(i % 5))),
        ),
        (
            json!({"match": {"description": {"query": "ripe organic", "operator": "and"}}}),
            count_where(|i| i % 5 == 1),
        ),
        (json!({"match_phrase": {"description": "organic ripe"}}), 0),
        (
            json!({"match_phrase": {"description": "ripe organic"}}),
            count_where(|i| i % 5 == 1),
        ),
        (
            json!({"match_phrase_prefix": {"description": "ripe org"}}),
            count_where(|i| i % 5 == 1),
        ),
        (
            json!({"match_bool_prefix": {"description": {"query": "juicy swe", "operator": "and"}}}),
            count_where(|i| i % 5 == 3),
        ),
        (
            json!({"multi_match": {"query": "cherry", "fields": ["name", "description^2"]}}),
            count_where(|i| i % 4 == 2),
        ),
        (
            json!({"range": {"quantity": {"gte": 3, "lt": 5}}}),
            count_where(|i| (3..5).contains(&(i % 10))),
        ),
        (
            json!({"range": {"ts": {"gte": "2023-11-14T22:13:20Z", "lt": 1_700_000_000 + 60 * 10}}}),
            10,
        ),
        (json!({"exists": {"field": "price"}}), count_where(|_| true)),
        // `extra` is not mapped: it lives in the dynamic json field.
        (
            json!({"term": {"extra": "x1"}}),
            count_where(|i| i % 3 == 1),
        ),
        (json!({"term": {"extra": "X1"}}), 0),
        (
            json!({"match": {"extra": "x1"}}),
            count_where(|i| i % 3 == 1),
        ),
        (json!({"wildcard": {"extra": "x*"}}), count_where(|_| true)),
        // An empty prefix on a json path (found by fuzzing: it once built a term of no type).
        (
            json!({"match_phrase_prefix": {"extra": ""}}),
            count_where(|_| true),
        ),
        (
            json!({"match_bool_prefix": {"extra": ""}}),
            count_where(|_| true),
        ),
        (
            json!({"regexp": {"extra": "x[02]"}}),
            count_where(|i| i % 3 != 1),
        ),
        (
            json!({"prefix": {"name": "ch"}}),
            count_where(|i| i % 4 == 2),
        ),
        (
            json!({"wildcard": {"name": {"value": "*an?na"}}}),
            count_where(|i| i % 4 == 1),
        ),
        (
            json!({"regexp": {"name": "(apple|damson)"}}),
            count_where(|i| i % 4 == 0 || i % 4 == 3),
        ),
        (
            json!({"query_string": {"query": "fresh juicy", "default_field": "description"}}),
            count_where(|i| [0, 4, 3, 2].contains(&(i % 5))),
        ),
        (
            json!({"query_string": {"query": "fresh juicy", "default_operator": "AND"}}),
            0,
        ),
        (
            json!({"bool": {
                "must": {"term": {"name": "apple"}},
                "filter": [{"range": {"quantity": {"gt": 4}}}],
                "must_not": [{"term": {"quantity": 8}}],
            }}),
            count_where(|i| i % 4 == 0 && i % 10 > 4 && i % 10 != 8),
        ),
        (
            json!({"bool": {
                "should": [
                    {"term": {"name": "apple"}},
                    {"term": {"quantity": 1}},
                    {"match": {"description": "sweet"}},
                ],
                "minimum_should_match": 2,
            }}),
            count_where(|i| {
                [i % 4 == 0, i % 10 == 1, [4, 3].contains(&(i % 5))]
                    .iter()
                    .filter(|hit| **hit)
                    .count()
                    >= 2
            }),
        ),
    ];
    for (query, expected) in cases {
        let response = es_search(service, json!({"query": query.clone(), "size": 0})).await;
        assert_eq!(total(&response), expected, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_responses_have_elasticsearch_shapes() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let response = es_search(
        service,
        json!({
            "query": {"term": {"name": "cherry"}},
            "from": 2,
            "size": 3,
            "sort": [{"price": {"order": "desc"}}, "_doc"],
            "_source": {"includes": ["id", "pri*"]},
            "aggs": {"quantities": {"terms": {"field": "price", "size": 2}}},
        }),
    )
    .await;
    assert_eq!(response["timed_out"], false);
    assert_eq!(response["hits"]["total"]["relation"], "eq");
    assert_eq!(response["_shards"]["failed"], 0);
    assert!(response["_shards"]["total"].as_u64().unwrap() >= 1);
    let hits = response["hits"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    for hit in hits {
        assert_eq!(hit["_index"], "fruit");
        let source = hit["_source"].as_object().unwrap();
        let mut keys: Vec<&String> = source.keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "price"]);
        assert_eq!(hit["sort"], json!([hit["_source"]["price"]]));
    }
    // The same page from the native API: same documents, same order.
    let (_, native, _) = call(
        service,
        "POST",
        "/api/v1/fruit/search",
        None,
        Some(
            json!({"query": "name:cherry", "start_offset": 2, "max_hits": 3, "sort_by": "-price,_doc"}),
        ),
    )
    .await;
    let native_ids: Vec<&Value> = native["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| &hit["id"])
        .collect();
    let es_ids: Vec<&Value> = hits.iter().map(|hit| &hit["_source"]["id"]).collect();
    assert_eq!(es_ids, native_ids);
    assert_eq!(
        response["aggregations"]["quantities"]["buckets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let no_total = es_search(
        service,
        json!({"track_total_hits": false, "_source": false}),
    )
    .await;
    assert!(no_total["hits"].get("total").is_none());
    assert!(no_total["hits"]["hits"][0].get("_source").is_none());
    assert!(no_total["hits"]["hits"][0].get("sort").is_none());
    assert_eq!(no_total["hits"]["hits"].as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_parameters_q_size_sort_and_count() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let (status, response, _) = call(
        service,
        "GET",
        "/api/v1/_elastic/fruit/_search",
        Some("q=name:apple%20name:banana&size=4&sort=id:desc&_source_includes=id"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(total(&response), count_where(|i| i % 4 < 2));
    let ids: Vec<u64> = response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["_source"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [397, 396, 393, 392]);

    for (method, body) in [
        ("GET", None),
        ("POST", Some(json!({"query": {"term": {"quantity": 7}}}))),
    ] {
        let (status, response, _) = call(
            service,
            method,
            "/api/v1/_elastic/fruit/_count",
            None,
            body.clone(),
        )
        .await;
        assert_eq!(status, 200, "{response}");
        let expected = if body.is_some() {
            count_where(|i| i % 10 == 7)
        } else {
            count_where(|_| true)
        };
        assert_eq!(response["count"], expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_elasticsearch_shapes_and_statuses() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let cases = [
        (
            "POST",
            "/api/v1/_elastic/nope/_search",
            None,
            404,
            "index_not_found_exception",
        ),
        (
            "POST",
            "/api/v1/_elastic/fruit/_search",
            Some(json!({"query": {"tern": {}}})),
            400,
            "parsing_exception",
        ),
        (
            "POST",
            "/api/v1/_elastic/fruit/_search",
            Some(json!({"query": {"range": {"ts": {"gte": "last tuesday"}}}})),
            400,
            "parsing_exception",
        ),
        (
            "POST",
            "/api/v1/_elastic/fruit/_search",
            Some(json!({"query": {"regexp": {"name": "(unclosed"}}})),
            400,
            "parsing_exception",
        ),
        (
            "POST",
            "/api/v1/_elastic/_bulk",
            Some(json!({"index": {}})),
            405,
            "illegal_argument_exception",
        ),
        (
            "PUT",
            "/api/v1/_elastic/fruit/_doc/1",
            Some(json!({})),
            405,
            "illegal_argument_exception",
        ),
        (
            "GET",
            "/api/v1/_elastic/fruit/_unknown",
            None,
            404,
            "no_handler_found_exception",
        ),
    ];
    for (method, path, body, status, kind) in cases {
        let (answered, response, raw) = call(service, method, path, None, body).await;
        assert_eq!(answered, status, "{path}: {response}");
        assert_eq!(response["status"], status);
        assert_eq!(response["error"]["type"], kind, "{path}: {response}");
        assert_eq!(response["error"]["root_cause"][0]["type"], kind);
        assert!(
            raw.headers
                .contains(&("x-elastic-product", "Elasticsearch"))
        );
    }
}

async fn call_ndjson(
    service: &SearchService,
    path: &str,
    query: Option<&str>,
    lines: &[Value],
) -> Value {
    let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let response = request(service, "POST", path, query, body.as_bytes()).await;
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_search_answers_each_search_in_order_with_its_own_errors() {
    let fixture = fixture().await;
    let service = &fixture.service;
    let response = call_ndjson(
        service,
        "/api/v1/_elastic/_msearch",
        Some("max_concurrent_shard_requests=5&extra_filters=quantity:>4"),
        &[
            json!({"index": "fruit"}),
            json!({"query": {"term": {"name": "apple"}}, "size": 0}),
            json!({"index": "nope"}),
            json!({"query": {"match_all": {}}}),
            json!({"index": ["fruit"]}),
            json!({"size": 2, "aggs": {"q": {"max": {"field": "price"}}}}),
        ],
    )
    .await;
    let responses = response["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0]["status"], 200);
    assert_eq!(
        total(&responses[0]),
        count_where(|i| i % 4 == 0 && i % 10 > 4)
    );
    assert_eq!(responses[1]["status"], 404);
    assert_eq!(responses[1]["error"]["type"], "index_not_found_exception");
    assert_eq!(responses[2]["hits"]["hits"].as_array().unwrap().len(), 2);
    assert_eq!(responses[2]["aggregations"]["q"]["value"], 49.5);

    // The index may come from the path instead of the header.
    let response = call_ndjson(
        service,
        "/api/v1/_elastic/fruit/_msearch",
        None,
        &[json!({}), json!({"size": 0})],
    )
    .await;
    assert_eq!(total(&response["responses"][0]), count_where(|_| true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_routes_resolve_patterns() {
    let fixture = fixture().await;
    fixture
        .local
        .create_index(
            &hydrant_ingest::testing::FRUIT_CONFIG
                .replace("index_id: fruit", "index_id: fruit-empty"),
        )
        .await;
    let service = &fixture.service;
    let cat = |pattern: &'static str, query: &'static str| async move {
        let path = format!("/api/v1/_elastic/_cat/indices{pattern}");
        let (status, json, _) = call(service, "GET", &path, Some(query), None).await;
        assert_eq!(status, 200, "{json}");
        json
    };
    let all = cat("", "format=json").await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["index"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fruit", "fruit-empty"]);
    assert_eq!(all[0]["docs.count"], count_where(|_| true).to_string());
    assert_eq!(all[0]["health"], "green");
    let picked = cat("/fru*,-fruit-empty", "format=json&h=index,docs.count").await;
    assert_eq!(
        picked,
        json!([{"index": "fruit", "docs.count": count_where(|_| true).to_string()}])
    );
    assert_eq!(cat("/fruit", "format=json&health=red").await, json!([]));

    let (status, json, _) = call(
        service,
        "GET",
        "/api/v1/_elastic/_cat/indices/nope",
        Some("format=json"),
        None,
    )
    .await;
    assert_eq!(
        (status, json["error"]["type"].as_str()),
        (404, Some("index_not_found_exception"))
    );

    let (_, resolved, _) = call(
        service,
        "GET",
        "/api/v1/_elastic/_resolve/index/fruit*",
        None,
        None,
    )
    .await;
    assert_eq!(resolved["indices"].as_array().unwrap().len(), 2);
    assert_eq!(resolved["indices"][1]["name"], "fruit-empty");

    let (status, stats, _) =
        call(service, "GET", "/api/v1/_elastic/fruit*/_stats", None, None).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        stats["_all"]["primaries"]["docs"]["count"],
        count_where(|_| true)
    );
    assert_eq!(stats["indices"]["fruit-empty"]["total"]["docs"]["count"], 0);
    assert!(
        stats["indices"]["fruit"]["total"]["store"]["size_in_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_field_names_are_refused() {
    let fixture = fixture().await;
    for query in [
        json!({"range": {"extra\u{0}x": {"gte": "1"}}}),
        json!({"term": {"extra\u{1}x": "1"}}),
        json!({"exists": {"field": "\u{0}"}}),
    ] {
        let (status, response, _) = call(
            &fixture.service,
            "POST",
            "/api/v1/_elastic/fruit/_search",
            None,
            Some(json!({"query": query})),
        )
        .await;
        assert_eq!(status, 400, "{query}: {response}");
    }
    // The native API's query strings reach the same resolution.
    let (status, response, _) = call(
        &fixture.service,
        "GET",
        "/api/v1/fruit/search",
        Some("query=extra%00x:>1"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{response}");
}
