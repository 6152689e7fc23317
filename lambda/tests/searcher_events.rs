//! The searcher's Lambda adapter with real event shapes: API Gateway REST (v1), HTTP API and
//! Function URL (v2), direct invocations; compression and base64 on the way out.

use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hydrant_ingest::testing::{LocalIndex, fruit_count_where as count_where};
use hydrant_lambda::searcher::{EventKind, Searcher, event_kind, handle, handle_event};
use hydrant_search::{SearchParams, SearchService, SearcherConfig};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

struct Fixture {
    _local: LocalIndex,
    service: SearchService,
}

async fn fixture() -> Fixture {
    let local = LocalIndex::fruit_sales().await;
    Fixture {
        service: SearchService::new(local.metastore.clone(), SearcherConfig::default()),
        _local: local,
    }
}

fn decode_body(envelope: &Value) -> Value {
    let body = envelope["body"].as_str().unwrap();
    if envelope["isBase64Encoded"] != true {
        return serde_json::from_str(body).unwrap();
    }
    let bytes = BASE64.decode(body).unwrap();
    let decompressed = match envelope["headers"]["content-encoding"].as_str() {
        Some("gzip") => {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut text)
                .unwrap();
            text
        }
        Some("zstd") => zstd::bulk::decompress(&bytes, 64 << 20).unwrap(),
        _ => bytes,
    };
    serde_json::from_slice(&decompressed).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_v1_events() {
    let fixture = fixture().await;
    let event: Value = serde_json::from_str(include_str!("fixtures/apigw-v1-search.json")).unwrap();
    assert_eq!(event_kind(&event), EventKind::ApiGatewayV1);
    let envelope = handle_event(&fixture.service, event).await;
    assert_eq!(envelope["statusCode"], 200);
    assert!(envelope.get("cookies").is_none());
    let body = decode_body(&envelope);
    assert_eq!(body["num_hits"], count_where(|i| i % 10 > 5));
    assert_eq!(body["hits"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_and_function_url_v2_events_with_base64_bodies_and_zstd() {
    let fixture = fixture().await;
    let event: Value = serde_json::from_str(include_str!("fixtures/http-v2-search.json")).unwrap();
    assert_eq!(event_kind(&event), EventKind::HttpV2);
    let envelope = handle_event(&fixture.service, event).await;
    assert_eq!(envelope["statusCode"], 200);
    assert_eq!(envelope["cookies"], json!([]));
    let body = decode_body(&envelope);
    assert_eq!(body["num_hits"], 100);
    assert_eq!(body["hits"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_responses_are_compressed_as_the_client_allows() {
    let fixture = fixture().await;
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/http-v2-search.json")).unwrap();
    event["isBase64Encoded"] = json!(false);
    event["body"] = json!(r#"{"query": "*", "max_hits": 400}"#);
    for (accept, expected) in [
        ("zstd, gzip", Some("zstd")),
        ("gzip;q=1, zstd;q=0", Some("gzip")),
        ("identity", None),
    ] {
        event["headers"]["accept-encoding"] = json!(accept);
        let envelope = handle_event(&fixture.service, event.clone()).await;
        assert_eq!(
            envelope["headers"]["content-encoding"].as_str(),
            expected,
            "{accept}"
        );
        assert_eq!(
            decode_body(&envelope)["hits"].as_array().unwrap().len(),
            400
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_their_status_through_api_gateway() {
    let fixture = fixture().await;
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/apigw-v1-search.json")).unwrap();
    event["multiValueQueryStringParameters"] = json!({"query": ["name:(apple"]});
    let envelope = handle_event(&fixture.service, event.clone()).await;
    assert_eq!(envelope["statusCode"], 400);
    assert!(
        decode_body(&envelope)["message"]
            .as_str()
            .unwrap()
            .contains("position")
    );
    event["path"] = json!("/api/v1/unknown-index/search");
    let envelope = handle_event(&fixture.service, event).await;
    assert_eq!(envelope["statusCode"], 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_invocations() {
    let fixture = fixture().await;
    let event = json!({"index_id": "fruit", "query": "name:banana", "max_hits": 1});
    assert_eq!(event_kind(&event), EventKind::Direct);
    let response = handle_event(&fixture.service, event).await;
    assert_eq!(response["num_hits"], 100);
    assert_eq!(response["hits"][0]["name"], "banana");
    let response = handle_event(
        &fixture.service,
        json!({"index_id": "fruit", "query": "colour:"}),
    )
    .await;
    assert_eq!(response["status"], 400);
    let response = handle_event(&fixture.service, json!({"query": "*"})).await;
    assert_eq!(response["status"], 400);
    assert!(response["message"].as_str().unwrap().contains("index_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_invocations_reach_every_route() {
    let fixture = fixture().await;
    let event = json!({
        "method": "POST",
        "path": "/api/v1/_elastic/fruit/_search",
        "query_string": "size=1",
        "body": {"query": {"term": {"name": "banana"}}},
    });
    assert_eq!(event_kind(&event), EventKind::Direct);
    let response = handle_event(&fixture.service, event).await;
    assert_eq!(response["status"], 200, "{response}");
    assert_eq!(response["body"]["hits"]["total"]["value"], 100);
    let ndjson = "{\"index\": \"fruit\"}\n{\"size\": 0}\n";
    let event = json!({"method": "POST", "path": "/api/v1/_elastic/_msearch", "body": ndjson});
    let response = handle_event(&fixture.service, event).await;
    assert_eq!(
        response["body"]["responses"][0]["hits"]["total"]["value"],
        400
    );
    let event = json!({"path": "/api/v1/indexes/nope"});
    let response = handle_event(&fixture.service, event).await;
    assert_eq!(response["status"], 404);
}

/// The handler as the runtime calls it, with a default context as the runtime's examples
/// test theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_answers_every_event_without_a_function_error() {
    let fixture = fixture().await;
    let mut searcher = Searcher::new(fixture.service);
    searcher.cors_allow_origin = Some("https://grafana.example.com".parse().unwrap());
    for payload in [
        serde_json::from_str(include_str!("fixtures/apigw-v1-search.json")).unwrap(),
        serde_json::from_str(include_str!("fixtures/http-v2-search.json")).unwrap(),
        json!({"index_id": "fruit", "query": "name:banana"}),
        json!({"index_id": "no-such-index", "query": "*"}),
        json!("not an object"),
    ] {
        let event = LambdaEvent::new(payload, Context::default());
        let answer = handle(&searcher, event).await.unwrap();
        assert!(answer.is_object(), "{answer}");
        // HTTP answers carry the CORS origin, as browsers need on every response.
        if answer.get("statusCode").is_some() {
            assert_eq!(
                answer["headers"]["access-control-allow-origin"],
                "https://grafana.example.com"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_events_without_multi_value_parameters_and_malformed_events() {
    let fixture = fixture().await;
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/apigw-v1-search.json")).unwrap();
    // Test invocations from the console carry only the single-value form.
    event["multiValueQueryStringParameters"] = Value::Null;
    event["queryStringParameters"] = json!({"query": "quantity:>5", "max_hits": "1"});
    let envelope = handle_event(&fixture.service, event.clone()).await;
    assert_eq!(envelope["statusCode"], 200);
    let body = decode_body(&envelope);
    assert_eq!(body["num_hits"], count_where(|i| i % 10 > 5));
    assert_eq!(body["hits"].as_array().unwrap().len(), 1);

    // A field of the wrong type is a 400 in the event's own response shape, not a crash.
    event["headers"] = json!(["not", "a", "map"]);
    let envelope = handle_event(&fixture.service, event).await;
    assert_eq!(envelope["statusCode"], 400, "{envelope}");
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/http-v2-search.json")).unwrap();
    event["body"] = json!("%%% not base64 %%%");
    event["isBase64Encoded"] = json!(true);
    let envelope = handle_event(&fixture.service, event).await;
    assert_eq!(envelope["statusCode"], 400, "{envelope}");
    assert!(envelope["cookies"].is_array(), "{envelope}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_invocations_answer_what_the_root_merges() {
    use hydrant_search::SearchRequest;
    use hydrant_search::searcher::LeafSearchResponse;

    let fixture = fixture().await;
    let request = SearchRequest::new("name:banana");
    let plan = fixture
        .service
        .plan("fruit", &SearchParams::from_native(&request).unwrap())
        .await
        .unwrap();
    let leaf_request = plan.leaf_request(&plan.splits()[1..]);
    let direct = fixture.service.leaf_search(&leaf_request).await.unwrap();
    let event = json!({ "leaf_search": leaf_request });
    assert_eq!(event_kind(&event), EventKind::Direct);
    let answer = handle_event(&fixture.service, event).await;
    let through_lambda: LeafSearchResponse =
        serde_json::from_value(answer["leaf_search_response"].clone()).unwrap();
    assert_eq!(through_lambda.num_hits, direct.num_hits);
    // Candidates come in no particular order (splits answer concurrently).
    let sorted = |response: &LeafSearchResponse| {
        let mut candidates = response.candidates.clone();
        candidates.sort_by_key(|c| (c.split_ordinal, c.segment_ord, c.doc_id));
        candidates
    };
    assert_eq!(sorted(&through_lambda), sorted(&direct));
    assert_eq!(through_lambda.splits_searched, plan.splits().len() - 1);

    // A request a leaf cannot take is answered with a status, for the root to search itself.
    let answer = handle_event(&fixture.service, json!({"leaf_search": {"index_id": 3}})).await;
    assert_eq!(answer["status"], 400, "{answer}");
    let mut unknown = leaf_request.clone();
    unknown.index_id = "no-such-index".to_string();
    let answer = handle_event(&fixture.service, json!({ "leaf_search": unknown })).await;
    assert_eq!(answer["status"], 404, "{answer}");
}
