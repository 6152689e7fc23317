//! The REST API, independent of any transport: a request (method, path, query string, body)
//! in, a response (status, JSON body) out. The local HTTP server and the Lambda adapters are
//! thin layers over [`handle_request`].
//!
//! Routes, as Quickwit has them:
//! - `GET|POST /api/v1/{index_id}/search`, also over index patterns (`a,b`, `logs-*`)
//! - `GET /api/v1/{index_id}/search/stream`: a fast field's values for every match
//!   ([`crate::searcher::StreamRequest`])
//! - `GET /api/v1/indexes[?index_id_patterns=...]`, `GET /api/v1/indexes/{index_id}`,
//!   `GET /api/v1/templates[/{template_id}]`
//! - `GET /health`
//! - the Elasticsearch-compatible API under `/api/v1/_elastic/` ([`crate::elastic`])

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Value, json};

use crate::elastic;
use crate::error::SearchError;
use crate::request::{ResponseFormat, SearchRequest, SearchResponse};
use crate::searcher::{SearchService, StreamFormat, StreamRequest};

/// Largest request body accepted.
pub const MAX_REQUEST_BODY_BYTES: usize = 1 << 20;

/// A transport-independent HTTP request.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query_string: Option<&'a str>,
    pub body: &'a [u8],
}

/// A transport-independent HTTP response; the body is JSON unless a `content-type` header
/// says otherwise (an export's CSV or RowBinary).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// Headers beside `content-length`, which every transport sets, and `content-type`, which
    /// transports set to JSON unless one is given here.
    pub headers: Vec<(&'static str, &'static str)>,
}

impl HttpResponse {
    pub(crate) fn json(status: u16, value: &impl Serialize, format: ResponseFormat) -> Self {
        let body = match format {
            ResponseFormat::Json => serde_json::to_vec(value),
            ResponseFormat::PrettyJson => serde_json::to_vec_pretty(value),
        }
        .expect("responses serialize");
        HttpResponse {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// A JSON response.
    pub fn json_value(status: u16, value: &Value) -> Self {
        HttpResponse::json(status, value, ResponseFormat::Json)
    }

    /// An error response: `{"message": ...}`, as Quickwit answers.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        HttpResponse::json(
            status,
            &json!({ "message": message.into() }),
            ResponseFormat::Json,
        )
    }

    /// The `content-type` the response sets, JSON by default.
    pub fn content_type(&self) -> &'static str {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map_or("application/json; charset=utf-8", |(_, value)| value)
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Logs what an operator must see (internal errors, storage trouble): callers get only
    /// [`SearchError::public_message`].
    pub fn log_search_error(error: &SearchError) {
        match error {
            SearchError::Config(details) | SearchError::Internal(details) => {
                tracing::error!(details, "search failed")
            }
            SearchError::StorageUnavailable(details) => {
                tracing::warn!(details, "index storage unavailable")
            }
            _ => {}
        }
    }

    fn from_search_error(error: &SearchError) -> Self {
        HttpResponse::log_search_error(error);
        HttpResponse::error(error.status_code(), error.public_message())
    }
}

/// What answers REST requests: the search core ([`handle_request`]), or a layer over it
/// (the local write API of `hydrant serve`).
pub trait RestHandler: Send + Sync + 'static {
    fn handle<'a>(&'a self, request: HttpRequest<'a>) -> BoxFuture<'a, HttpResponse>;
}

impl RestHandler for SearchService {
    fn handle<'a>(&'a self, request: HttpRequest<'a>) -> BoxFuture<'a, HttpResponse> {
        Box::pin(handle_request(self, request))
    }
}

/// Routes and answers one request.
pub async fn handle_request(service: &SearchService, request: HttpRequest<'_>) -> HttpResponse {
    if request.body.len() > MAX_REQUEST_BODY_BYTES {
        return HttpResponse::error(
            413,
            format!("the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        );
    }
    // Clients percent-encode what paths carry (`a%2Cb/_search` for `a,b`).
    let decoded: Vec<std::borrow::Cow<'_, str>> = request
        .path
        .trim_matches('/')
        .split('/')
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .unwrap_or(std::borrow::Cow::Borrowed(segment))
        })
        .collect();
    let segments: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
    match (request.method, segments.as_slice()) {
        (method, ["api", "v1", "_elastic", rest @ ..]) => {
            elastic::handle(service, method, rest, request.query_string, request.body).await
        }
        ("GET", ["health"]) => {
            HttpResponse::json(200, &json!({"status": "ok"}), ResponseFormat::Json)
        }
        ("GET", ["api", "v1", "indexes"]) => {
            match list_indexes(service, request.query_string).await {
                Ok(indexes) => HttpResponse::json(200, &indexes, ResponseFormat::Json),
                Err(error) => HttpResponse::from_search_error(&error),
            }
        }
        ("GET", ["api", "v1", "templates"]) => match service.metastore().templates().await {
            Ok(templates) => HttpResponse::json(200, &templates, ResponseFormat::Json),
            Err(error) => HttpResponse::from_search_error(&error.into()),
        },
        ("GET", ["api", "v1", "templates", template_id]) => {
            match service.metastore().template(template_id).await {
                Ok(template) => HttpResponse::json(200, &template, ResponseFormat::Json),
                Err(hydrant_metastore::Error::TemplateNotFound(id)) => {
                    HttpResponse::error(404, format!("index template `{id}` not found"))
                }
                Err(error) => HttpResponse::from_search_error(&error.into()),
            }
        }
        ("GET", ["api", "v1", "indexes", index_id]) => {
            match service.metastore().index_metadata(index_id).await {
                Ok(metadata) => {
                    let mut summary = index_summary(&metadata);
                    summary["index_config"] =
                        serde_json::to_value(&metadata.index_config).expect("config serializes");
                    summary["splits"] =
                        serde_json::to_value(metadata.published_splits().collect::<Vec<_>>())
                            .expect("splits serialize");
                    HttpResponse::json(200, &summary, ResponseFormat::Json)
                }
                Err(error) => HttpResponse::from_search_error(&error.into()),
            }
        }
        (method @ ("GET" | "POST"), ["api", "v1", index_id, "search"]) => {
            let parsed = if method == "GET" {
                SearchRequest::from_query_string(request.query_string.unwrap_or(""))
            } else {
                SearchRequest::from_json(request.body)
            };
            let search_request = match parsed {
                Ok(search_request) => search_request,
                Err(error) => return HttpResponse::from_search_error(&error),
            };
            match search_native(service, index_id, &search_request).await {
                Ok(response) => HttpResponse::json(200, &response, search_request.format),
                Err(error) => HttpResponse::from_search_error(&error),
            }
        }
        (_, ["api", "v1", _, "search"]) => HttpResponse::error(405, "search takes GET or POST"),
        ("GET", ["api", "v1", index_id, "search", "stream"]) => {
            let stream = match StreamRequest::from_query_string(request.query_string.unwrap_or(""))
            {
                Ok(stream) => stream,
                Err(error) => return HttpResponse::from_search_error(&error),
            };
            match service.search_stream(index_id, &stream).await {
                Ok(body) => HttpResponse {
                    status: 200,
                    body,
                    headers: vec![(
                        "content-type",
                        match stream.output_format {
                            StreamFormat::Csv => "text/csv; charset=utf-8",
                            StreamFormat::ClickHouseRowBinary => "application/octet-stream",
                        },
                    )],
                },
                Err(error) => HttpResponse::from_search_error(&error),
            }
        }
        (_, ["api", "v1", _, "search", "stream"]) => {
            HttpResponse::error(405, "search/stream takes GET")
        }
        _ => HttpResponse::error(
            404,
            format!("no route for {} {}", request.method, request.path),
        ),
    }
}

/// A native search: one index, or every index a pattern (`a,b`, `logs-*`, `-c`) selects.
pub async fn search_native(
    service: &SearchService,
    index: &str,
    request: &SearchRequest,
) -> Result<SearchResponse, SearchError> {
    if !index.contains([',', '*']) && !index.starts_with('-') {
        return service.search(index, request).await;
    }
    let index_ids = elastic::index_ids(service, index, false).await?;
    Ok(service
        .search_indexes(&index_ids, request, None)
        .await?
        .response)
}

/// `GET /api/v1/indexes[?index_id_patterns=a,b*,-c]`: each index's summary and config (what
/// Grafana's Quickwit data source reads its timestamp field from), in id order.
async fn list_indexes(
    service: &SearchService,
    query_string: Option<&str>,
) -> Result<Vec<Value>, SearchError> {
    let mut patterns = Vec::new();
    for (key, value) in form_urlencoded::parse(query_string.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "index_id_patterns" => patterns.push(value.into_owned()),
            other => {
                return Err(SearchError::InvalidRequest(format!(
                    "unknown parameter `{other}` (the index list takes index_id_patterns)"
                )));
            }
        }
    }
    let pattern = if patterns.is_empty() {
        "*".to_string()
    } else {
        patterns.join(",")
    };
    let pattern = elastic::IndexPattern::parse(&pattern)?;
    let indexes = pattern.select(service.metastore().list_indexes().await?);
    Ok(indexes
        .iter()
        .map(|metadata| {
            let mut summary = index_summary(metadata);
            summary["index_config"] =
                serde_json::to_value(&metadata.index_config).unwrap_or(Value::Null);
            summary
        })
        .collect())
}

fn index_summary(metadata: &hydrant_metastore::IndexMetadata) -> Value {
    let published: Vec<_> = metadata.published_splits().collect();
    let start = published
        .iter()
        .filter_map(|split| split.time_range.map(|range| range.start_nanos))
        .min();
    let end = published
        .iter()
        .filter_map(|split| split.time_range.map(|range| range.end_nanos))
        .max();
    json!({
        "index_id": metadata.index_id(),
        "num_published_splits": published.len(),
        "num_published_docs": metadata.num_published_docs(),
        "size_published_splits_bytes": published.iter().map(|split| split.split_size_bytes).sum::<u64>(),
        "uncompressed_docs_size_bytes": published.iter().map(|split| split.uncompressed_docs_size_bytes).sum::<u64>(),
        "min_timestamp": start.map(|nanos| nanos.div_euclid(1_000_000_000)),
        "max_timestamp": end.map(|nanos| nanos.div_euclid(1_000_000_000)),
        "create_timestamp": metadata.create_timestamp,
    })
}
