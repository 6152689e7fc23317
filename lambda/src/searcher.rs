//! The searcher behind Lambda: API Gateway REST APIs (payload v1), HTTP APIs and Function URLs
//! (payload v2), and direct invocations from backend services, all translated to the one
//! router ([`router::handle`]) and back. A direct invocation's JSON goes to the router as JSON
//! and comes back as JSON: no bytes in between.
//!
//! The event's shape is told from its JSON first (direct invocations have none), then it is
//! read through `aws_lambda_events`' API Gateway types, which know every header and query
//! parameter encoding API Gateway uses; they cost the package about 47 KB (BENCHMARKS.md).
//!
//! Responses are compressed as the client's `Accept-Encoding` allows (zstd, then gzip) and
//! base64-encoded for API Gateway. A response that would exceed Lambda's 6 MB payload limit is
//! replaced by a 413 that says how to ask for less.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{
    ACCEPT_ENCODING, ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_ENCODING, CONTENT_TYPE, VARY,
};
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hydrant_metastore::Metastore;
use hydrant_search::SearchService;
use hydrant_search::delete::create_delete_task;
use hydrant_search::http::{HttpRequest, HttpResponse, RequestBody, ResponseBody};
use hydrant_search::router::{self, WriteApi, WriteRoute};
use hydrant_search::searcher::LeafSearchRequest;
use hydrant_search::searcher::fan_out::FanOut;
use hydrant_search::settings::SearcherSettings;
use hydrant_search::split_cache::SplitCache;
use hydrant_storage::{SharedStorage, StorageResolver};
use lambda_runtime::LambdaEvent;
use serde_json::{Map, Value, json};

use crate::leaves::{LEAF_SEARCH, LEAF_SEARCH_RESPONSE, LambdaLeafInvoker};
use crate::{LambdaError, metrics};

/// Lambda's limit on a synchronous response, with room for the envelope around the body.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 - 16 * 1024;
/// Bodies smaller than this are not worth compressing.
const MIN_COMPRESSED_BYTES: usize = 1024;

/// The shape of an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// API Gateway REST API proxy integration.
    ApiGatewayV1,
    /// HTTP API or Function URL.
    HttpV2,
    /// A direct `Invoke` with a search request.
    Direct,
}

/// An HTTP request carried by an event.
#[derive(Debug, Default)]
struct EventRequest {
    method: String,
    path: String,
    query_string: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Tells the event's shape.
pub fn event_kind(event: &Value) -> EventKind {
    if event.get("version").and_then(Value::as_str) == Some("2.0")
        && event.pointer("/requestContext/http/method").is_some()
    {
        EventKind::HttpV2
    } else if event.get("httpMethod").is_some() {
        EventKind::ApiGatewayV1
    } else {
        EventKind::Direct
    }
}

/// The searcher function: the search core, and what the adapter adds to its answers.
pub struct Searcher {
    pub service: Arc<SearchService>,
    /// The one write a deployed searcher may take, when its stack allows it.
    pub writes: Option<DeleteTaskWrites>,
    /// `Access-Control-Allow-Origin` for browser callers (`HYDRANT_CORS_ALLOW_ORIGIN`): API
    /// Gateway answers the preflight, but a proxy integration's answers carry only the
    /// headers the function sets.
    pub cors_allow_origin: Option<HeaderValue>,
    /// The metric lines' `FunctionName`.
    pub function_name: String,
    #[cfg(feature = "bench")]
    pub bench: Option<crate::bench::BenchInstruments>,
}

impl Searcher {
    pub fn new(service: SearchService) -> Self {
        Searcher {
            service: Arc::new(service),
            writes: None,
            cors_allow_origin: None,
            function_name: metrics::function_name("hydrant-searcher"),
            #[cfg(feature = "bench")]
            bench: None,
        }
    }
}

/// The search service the settings describe, over the index storage.
pub fn search_service(settings: &SearcherSettings, storage: SharedStorage) -> SearchService {
    let mut service = SearchService::new(Metastore::new(storage), settings.config.clone());
    if let Some((function_name, splits_per_leaf)) = &settings.leaf_fan_out {
        service = service.with_fan_out(FanOut {
            invoker: Arc::new(LambdaLeafInvoker::new(function_name.clone())),
            splits_per_leaf: *splits_per_leaf,
        });
    }
    service
}

/// Opens the index storage the settings name, with the caches they ask for: the cold start.
pub async fn start(
    settings: &SearcherSettings,
    resolver: StorageResolver,
) -> Result<Searcher, LambdaError> {
    let storage = resolver
        .resolve(&settings.index_uri)
        .await
        .map_err(|error| {
            LambdaError::Start(format!("cannot open {}: {error}", settings.index_uri))
        })?;
    #[cfg(feature = "bench")]
    let (bench, storage) = crate::bench::BenchInstruments::from_env(settings, storage)?;
    let mut service = search_service(settings, storage);
    if let Some((dir, capacity_bytes)) = &settings.split_cache {
        let cache = SplitCache::open(dir, *capacity_bytes).map_err(|error| {
            LambdaError::Start(format!(
                "cannot use {} for the split cache: {error}",
                dir.display()
            ))
        })?;
        service = service.with_split_cache(cache);
    }
    let mut searcher = Searcher::new(service);
    #[cfg(feature = "bench")]
    {
        searcher.bench = Some(bench);
    }
    if settings.allow_delete_tasks {
        searcher.writes = Some(DeleteTaskWrites {
            search: searcher.service.clone(),
        });
    }
    if let Ok(origin) = std::env::var("HYDRANT_CORS_ALLOW_ORIGIN")
        && !origin.trim().is_empty()
    {
        searcher.cors_allow_origin = Some(HeaderValue::from_str(origin.trim()).map_err(|_| {
            LambdaError::Start(format!(
                "HYDRANT_CORS_ALLOW_ORIGIN `{origin}` is not a header value"
            ))
        })?);
    }
    Ok(searcher)
}

/// The function's handler: every invocation is answered, errors included, so the runtime
/// never sees an `Err` (which Lambda would report as a function error, not an HTTP status).
/// Each invocation logs one line (what was asked, answered and read) and one metric line.
pub async fn handle(searcher: &Searcher, event: LambdaEvent<Value>) -> Result<Value, LambdaError> {
    let started = Instant::now();
    #[cfg(feature = "bench")]
    let (cold_service, reads_before) = match &searcher.bench {
        Some(bench) => (
            bench
                .cold_start()
                .map(|(settings, storage)| search_service(settings, storage)),
            bench.reads(),
        ),
        None => (None, 0),
    };
    #[cfg(feature = "bench")]
    let service = cold_service.as_ref().unwrap_or(&searcher.service);
    #[cfg(not(feature = "bench"))]
    let service = &searcher.service;
    let writes = searcher
        .writes
        .as_ref()
        .map(|writes| writes as &dyn WriteApi);
    let (answer, cost) = hydrant_search::cost::measure(answer(
        service,
        writes,
        event.payload,
        searcher.cors_allow_origin.as_ref(),
    ))
    .await;
    let latency_millis = started.elapsed().as_millis() as u64;
    #[cfg(feature = "bench")]
    if let Some(bench) = &searcher.bench {
        let gets = bench.reads() - reads_before;
        println!("{}", bench.line(answer.leaf, latency_millis, gets));
    }
    tracing::info!(
        method = answer.method,
        path = answer.path,
        status = answer.status,
        duration_ms = latency_millis,
        index = cost.index_id(),
        splits_searched = cost.stats.splits_searched,
        splits_pruned = cost.stats.splits_pruned,
        gets = cost.stats.reads.storage_gets,
        bytes_fetched = cost.stats.reads.storage_bytes,
        round_trips = cost.stats.reads.round_trips,
        "request"
    );
    let line = if answer.leaf {
        metrics::leaf_line(
            &searcher.function_name,
            cost.index_id(),
            answer.status,
            latency_millis,
        )
    } else {
        metrics::searcher_line(
            &searcher.function_name,
            answer.status,
            latency_millis,
            &cost,
        )
    };
    println!("{}", line.to_json(metrics::now_millis()));
    Ok(answer.envelope)
}

/// Answers one event.
pub async fn handle_event(service: &SearchService, event: Value) -> Value {
    answer(service, None, event, None).await.envelope
}

/// Answers one event with `writes` taking the write routes it takes.
pub async fn handle_event_with_writes(
    service: &SearchService,
    writes: &DeleteTaskWrites,
    event: Value,
) -> Value {
    answer(service, Some(writes), event, None).await.envelope
}

/// The write a deployed searcher takes when its stack sets `AllowDeleteTasks`
/// (`HYDRANT_ALLOW_DELETE_TASKS=true`): `POST /api/v1/{index}/delete-tasks`, which records a
/// delete task (its query checked first) for the indexer's maintenance to apply. Every other
/// write is refused, as without it: documents arrive through Firehose.
pub struct DeleteTaskWrites {
    pub search: Arc<SearchService>,
}

impl WriteApi for DeleteTaskWrites {
    fn write<'a>(
        &'a self,
        route: WriteRoute<'a>,
        request: &'a HttpRequest<'a>,
    ) -> futures::future::BoxFuture<'a, HttpResponse> {
        Box::pin(async move {
            let WriteRoute::CreateDeleteTask(index_id) = route else {
                return HttpResponse::error(
                    405,
                    "this API takes one write, POST /api/v1/{index}/delete-tasks: Hydrant \
                     indexes the objects Firehose delivers to its staging bucket",
                );
            };
            let body = request.body.bytes();
            match create_delete_task(&self.search, index_id, &body).await {
                Ok((task, answer)) => {
                    tracing::info!(index_id, opstamp = task.opstamp, "delete task created");
                    HttpResponse::json(200, &answer)
                }
                Err(error) => HttpResponse::search_error(&error),
            }
        })
    }
}

/// An event's answer, and what the invocation's log line says of it.
struct Answer {
    envelope: Value,
    method: String,
    path: String,
    status: u16,
    /// A leaf search for a root in another invocation.
    leaf: bool,
}

async fn answer(
    service: &SearchService,
    writes: Option<&dyn WriteApi>,
    event: Value,
    cors: Option<&HeaderValue>,
) -> Answer {
    let kind = event_kind(&event);
    match kind {
        EventKind::Direct if event.get(LEAF_SEARCH).is_some() => answer_leaf(service, event).await,
        EventKind::Direct => {
            let (method, path) = direct_route(&event);
            let envelope = handle_direct(service, writes, event).await;
            let status = direct_status(&envelope);
            Answer {
                envelope,
                method,
                path,
                status,
                leaf: false,
            }
        }
        EventKind::ApiGatewayV1 | EventKind::HttpV2 => {
            let request = match parse_http_event(kind, event) {
                Ok(request) => request,
                Err(message) => {
                    let response = HttpResponse::error(400, message);
                    return Answer {
                        envelope: http_envelope(kind, response, None, cors),
                        method: String::new(),
                        path: String::new(),
                        status: 400,
                        leaf: false,
                    };
                }
            };
            let path = api_path(&request.path);
            let request_to_route = HttpRequest::new(
                &request.method,
                path,
                request.query_string.as_deref(),
                &request.body,
            );
            let response = router::handle(service, writes, request_to_route).await;
            let status = response.status;
            let envelope = http_envelope(
                kind,
                response,
                request
                    .headers
                    .get(ACCEPT_ENCODING)
                    .and_then(|value| value.to_str().ok()),
                cors,
            );
            Answer {
                status: envelope
                    .get("statusCode")
                    .and_then(Value::as_u64)
                    .and_then(|status| u16::try_from(status).ok())
                    .unwrap_or(status),
                envelope,
                method: request.method,
                path: path.to_string(),
                leaf: false,
            }
        }
    }
}

/// A leaf search from a root in another invocation: `{"leaf_search": <LeafSearchRequest>}`.
/// The answer is `{"leaf_search_response": ...}`, or `{"status", "message"}`, which the root
/// takes as a failed invocation and searches those splits itself.
async fn answer_leaf(service: &SearchService, mut event: Value) -> Answer {
    let request = event
        .get_mut(LEAF_SEARCH)
        .map(Value::take)
        .unwrap_or_default();
    let envelope = match serde_json::from_value::<LeafSearchRequest>(request) {
        Err(error) => {
            json!({"status": 400, "message": format!("a leaf search request that does not parse: {error}")})
        }
        Ok(request) => match service.leaf_search(&request).await {
            Ok(response) => {
                // For this invocation's log line; its metrics are counted by the root.
                hydrant_search::cost::add(
                    &[request.index_id.as_str()],
                    &response.stats(request.splits.len()),
                );
                json!({ LEAF_SEARCH_RESPONSE: response })
            }
            Err(error) => {
                // The root sees the public message; the details stay in this log.
                hydrant_search::http::log_search_error(&error);
                json!({"status": error.status_code(), "message": error.public_message()})
            }
        },
    };
    let envelope = match serde_json::to_vec(&envelope) {
        Ok(bytes) if bytes.len() > MAX_RESPONSE_BYTES => {
            json!({"status": 413, "message": too_large_message(bytes.len())})
        }
        _ => envelope,
    };
    Answer {
        status: direct_status(&envelope),
        envelope,
        method: "INVOKE".to_string(),
        path: LEAF_SEARCH.to_string(),
        leaf: true,
    }
}

/// The status of a direct invocation's answer: the one it names (errors, named routes), or 200
/// for a bare search response.
fn direct_status(envelope: &Value) -> u16 {
    envelope
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .unwrap_or(200)
}

/// The route a direct invocation names, for its log line.
fn direct_route(event: &Value) -> (String, String) {
    let text = |key: &str| event.get(key).and_then(Value::as_str);
    match (text("path"), text("index_id")) {
        (Some(path), _) => (
            text("method").unwrap_or("GET").to_string(),
            path.to_string(),
        ),
        (None, Some(index_id)) => ("POST".to_string(), format!("/api/v1/{index_id}/search")),
        (None, None) => ("INVOKE".to_string(), String::new()),
    }
}

/// A direct invocation: `{"index_id": "...", <search request fields>}`. The answer is the
/// search response, or `{"status", "message"}` on error.
///
/// A direct invocation may also name any route of the REST API:
/// `{"method": "POST", "path": "/api/v1/_elastic/logs/_search", "query_string": "q=...",
/// "body": {...}}`; the answer is then `{"status", "body"}` whatever the status.
async fn handle_direct(
    service: &SearchService,
    writes: Option<&dyn WriteApi>,
    event: Value,
) -> Value {
    let Value::Object(mut fields) = event else {
        let message = r#"a direct invocation takes a JSON object: {"index_id": ..., "query": ...}"#;
        return json!({"status": 400, "message": message});
    };
    if fields.contains_key("path") {
        return handle_direct_route(service, writes, fields).await;
    }
    let Some(Value::String(index_id)) = fields.remove("index_id") else {
        return json!({"status": 400, "message": "a direct invocation needs `index_id`"});
    };
    let path = format!("/api/v1/{index_id}/search");
    let request = HttpRequest {
        method: "POST",
        path: &path,
        query_string: None,
        body: RequestBody::Json(Value::Object(fields)),
    };
    let response = router::handle(service, None, request).await;
    let size = response.body_len();
    if size > MAX_RESPONSE_BYTES {
        return json!({"status": 413, "message": too_large_message(size)});
    }
    let status = response.status;
    let body = match response.body {
        ResponseBody::Json { value, .. } => value,
        ResponseBody::Bytes(_) => Value::Null,
    };
    if status == 200 {
        return body;
    }
    let message = body.get("message").cloned().unwrap_or(Value::Null);
    json!({"status": status, "message": message})
}

/// A direct invocation that names its route: method, path, query string and body, as an
/// HTTP request would carry them (the body as JSON, or as a string for NDJSON). The answer's
/// body is JSON, a string (CSV), or `body_base64` (binary).
async fn handle_direct_route(
    service: &SearchService,
    writes: Option<&dyn WriteApi>,
    fields: Map<String, Value>,
) -> Value {
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let (Some(path), method) = (text("path"), text("method").unwrap_or("GET")) else {
        return json!({"status": 400, "body": {"message": "`path` must be a string"}});
    };
    let body = fields.get("body").cloned().unwrap_or(Value::Null);
    let request = HttpRequest {
        method,
        path,
        query_string: text("query_string"),
        body: RequestBody::Json(body),
    };
    let response = router::handle(service, writes, request).await;
    let size = response.body_len();
    if size > MAX_RESPONSE_BYTES {
        let message = too_large_message(size);
        return json!({"status": 413, "body": {"message": message}});
    }
    // JSON bodies as JSON; an export's CSV as a string, its RowBinary base64-encoded.
    match response.body {
        ResponseBody::Json { value, .. } => json!({"status": response.status, "body": value}),
        ResponseBody::Bytes(bytes) => match String::from_utf8(bytes) {
            Ok(text) => json!({"status": response.status, "body": text}),
            Err(binary) => {
                json!({"status": response.status, "body_base64": BASE64.encode(binary.into_bytes())})
            }
        },
    }
}

fn parse_http_event(kind: EventKind, event: Value) -> Result<EventRequest, String> {
    if kind == EventKind::HttpV2 {
        let request: ApiGatewayV2httpRequest = serde_json::from_value(event)
            .map_err(|error| format!("not an HTTP API event: {error}"))?;
        return Ok(EventRequest {
            method: request.request_context.http.method.to_string(),
            path: request.raw_path.unwrap_or_else(|| "/".to_string()),
            query_string: request.raw_query_string.filter(|query| !query.is_empty()),
            body: decode_body(request.body, request.is_base64_encoded)?,
            headers: request.headers,
        });
    }
    let request: ApiGatewayProxyRequest = serde_json::from_value(event)
        .map_err(|error| format!("not an API Gateway event: {error}"))?;
    // REST APIs hand over decoded parameters; encode them back into a query string. The
    // multi-value form, when present, holds every repetition of a parameter.
    let parameters = if request.multi_value_query_string_parameters.is_empty() {
        &request.query_string_parameters
    } else {
        &request.multi_value_query_string_parameters
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(parameters.iter())
        .finish();
    Ok(EventRequest {
        method: request.http_method.to_string(),
        path: request.path.unwrap_or_else(|| "/".to_string()),
        query_string: (!query.is_empty()).then_some(query),
        body: decode_body(request.body, request.is_base64_encoded)?,
        headers: request.headers,
    })
}

fn decode_body(body: Option<String>, is_base64: bool) -> Result<Vec<u8>, String> {
    match body {
        None => Ok(Vec::new()),
        Some(body) if is_base64 => BASE64
            .decode(body)
            .map_err(|_| "the request body is not valid base64".to_string()),
        Some(body) => Ok(body.into_bytes()),
    }
}

/// The API part of a path, whatever stage or base path API Gateway put before it.
fn api_path(path: &str) -> &str {
    path.find("/api/v1/")
        .or_else(|| {
            path.ends_with("/health")
                .then(|| path.len() - "/health".len())
        })
        .map_or(path, |start| &path[start..])
}

/// Content encodings Hydrant can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Zstd,
    Gzip,
}

impl Encoding {
    fn header(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }
}

/// Picks the best encoding `Accept-Encoding` allows: zstd, then gzip; `None` for identity.
pub fn negotiate_encoding(accept_encoding: Option<&str>) -> Option<Encoding> {
    let accept_encoding = accept_encoding?;
    let mut accepted: HashMap<String, f32> = HashMap::new();
    for part in accept_encoding.split(',') {
        let mut pieces = part.split(';');
        let name = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = pieces
            .find_map(|parameter| {
                parameter
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        accepted.insert(name, quality);
    }
    let allows = |name: &str| {
        accepted
            .get(name)
            .or_else(|| accepted.get("*"))
            .is_some_and(|quality| *quality > 0.0)
    };
    if allows("zstd") {
        Some(Encoding::Zstd)
    } else if allows("gzip") {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

/// Compresses `body`.
pub fn compress(encoding: Encoding, body: &[u8]) -> Vec<u8> {
    match encoding {
        Encoding::Zstd => zstd::bulk::compress(body, 3).expect("compressing to memory cannot fail"),
        Encoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            encoder
                .write_all(body)
                .expect("writing to memory cannot fail");
            encoder.finish().expect("writing to memory cannot fail")
        }
    }
}

fn too_large_message(size: usize) -> String {
    format!(
        "the response is {:.1} MB, over Lambda's 6 MB response limit: ask for fewer hits (max_hits, \
         start_offset to page), fewer aggregation buckets, or send Accept-Encoding: gzip",
        size as f64 / 1e6
    )
}

/// Wraps a response in the event's response shape, compressed if the client allows.
fn http_envelope(
    kind: EventKind,
    response: HttpResponse,
    accept_encoding: Option<&str>,
    cors_allow_origin: Option<&HeaderValue>,
) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(origin) = cors_allow_origin {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    for (name, value) in &response.headers {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    let response_body = response.body_bytes();
    let encoding =
        negotiate_encoding(accept_encoding).filter(|_| response_body.len() >= MIN_COMPRESSED_BYTES);
    let (mut status, mut body, mut is_base64) = match encoding {
        Some(encoding) => {
            let compressed = compress(encoding, &response_body);
            headers.insert(
                CONTENT_ENCODING,
                HeaderValue::from_static(encoding.header()),
            );
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
            (response.status, BASE64.encode(compressed), true)
        }
        // A binary body (an export's RowBinary) travels base64-encoded, as API Gateway
        // expects binary bodies.
        None => match String::from_utf8(response_body) {
            Ok(text) => (response.status, text, false),
            Err(binary) => (response.status, BASE64.encode(binary.into_bytes()), true),
        },
    };
    if body.len() > MAX_RESPONSE_BYTES {
        headers.remove(CONTENT_ENCODING);
        let error = HttpResponse::error(413, too_large_message(body.len()));
        (status, body, is_base64) = (
            413,
            String::from_utf8(error.body_bytes()).unwrap_or_default(),
            false,
        );
    }
    // The response types are non-exhaustive: built from their defaults.
    let envelope = if kind == EventKind::HttpV2 {
        let mut envelope = ApiGatewayV2httpResponse::default();
        envelope.status_code = i64::from(status);
        envelope.headers = headers;
        envelope.body = Some(Body::Text(body));
        envelope.is_base64_encoded = is_base64;
        serde_json::to_value(envelope)
    } else {
        let mut envelope = ApiGatewayProxyResponse::default();
        envelope.status_code = i64::from(status);
        envelope.headers = headers;
        envelope.body = Some(Body::Text(body));
        envelope.is_base64_encoded = is_base64;
        serde_json::to_value(envelope)
    };
    envelope.unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_negotiated() {
        assert_eq!(negotiate_encoding(None), None);
        assert_eq!(
            negotiate_encoding(Some("gzip, deflate, br")),
            Some(Encoding::Gzip)
        );
        assert_eq!(negotiate_encoding(Some("gzip, zstd")), Some(Encoding::Zstd));
        assert_eq!(
            negotiate_encoding(Some("zstd;q=0, gzip;q=0.5")),
            Some(Encoding::Gzip)
        );
        assert_eq!(negotiate_encoding(Some("identity")), None);
        assert_eq!(negotiate_encoding(Some("*")), Some(Encoding::Zstd));
        assert_eq!(negotiate_encoding(Some("br")), None);
    }

    #[test]
    fn api_paths_survive_stages_and_base_paths() {
        assert_eq!(api_path("/api/v1/logs/search"), "/api/v1/logs/search");
        assert_eq!(api_path("/prod/api/v1/logs/search"), "/api/v1/logs/search");
        assert_eq!(api_path("/search-base/health"), "/health");
        assert_eq!(api_path("/elsewhere"), "/elsewhere");
    }

    #[test]
    fn oversized_responses_become_a_413_that_says_what_to_do() {
        let body = vec![b'x'; MAX_RESPONSE_BYTES + 10];
        let response = HttpResponse {
            status: 200,
            body: ResponseBody::Bytes(body),
            headers: Vec::new(),
        };
        let envelope = http_envelope(EventKind::HttpV2, response, None, None);
        assert_eq!(envelope["statusCode"], 413);
        assert!(envelope["body"].as_str().unwrap().contains("max_hits"));
    }

    #[test]
    fn binary_bodies_travel_base64_with_their_content_type() {
        let response = HttpResponse {
            status: 200,
            body: ResponseBody::Bytes(vec![0xff, 0, 1, 2]),
            headers: vec![("content-type", "application/octet-stream")],
        };
        for kind in [EventKind::ApiGatewayV1, EventKind::HttpV2] {
            let envelope = http_envelope(kind, response.clone(), None, None);
            assert_eq!(envelope["isBase64Encoded"], true);
            assert_eq!(envelope["body"], BASE64.encode([0xff, 0, 1, 2]));
            assert_eq!(
                envelope["headers"]["content-type"],
                "application/octet-stream"
            );
        }
    }
}
