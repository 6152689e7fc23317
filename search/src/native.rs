//! Quickwit's native REST API (the read side; the router, [`crate::router`], tells its routes
//! apart):
//! - `GET|POST /api/v1/{index_id}/search`, also over index patterns (`a,b`, `logs-*`)
//! - `GET /api/v1/{index_id}/search/stream`: a fast field's values for every match
//!   ([`crate::searcher::StreamRequest`])
//! - `GET /api/v1/indexes[?index_id_patterns=...]`, `GET /api/v1/indexes/{index_id}`,
//!   `GET /api/v1/templates[/{template_id}]`
//! - `GET /health`

use hydrant_index::config::IndexConfig;
use hydrant_metastore::{IndexMetadata, SplitMetadata};
use serde::Serialize;

use crate::error::{Result, SearchError};
use crate::http::{HttpResponse, RequestBody};
use crate::index_pattern::{IndexPattern, index_ids};
use crate::request::{ResponseFormat, SearchRequest, SearchResponse};
use crate::searcher::{SearchParams, SearchService, StreamFormat, StreamRequest};

/// A route of the native API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeRoute<'a> {
    Health,
    ListIndexes,
    Index(&'a str),
    /// `GET /api/v1/{index_id}/delete-tasks`.
    DeleteTasks(&'a str),
    ListTemplates,
    Template(&'a str),
    /// A search over an index pattern, by `GET` (parameters) or `POST` (a JSON body).
    Search {
        pattern: &'a str,
        post: bool,
    },
    SearchStream(&'a str),
}

/// Answers one native route.
pub async fn answer(
    service: &SearchService,
    route: NativeRoute<'_>,
    query_string: &str,
    body: &RequestBody<'_>,
) -> HttpResponse {
    match route {
        NativeRoute::Health => HttpResponse::json(200, &Health { status: "ok" }),
        NativeRoute::ListIndexes => respond(list_indexes(service, query_string).await),
        NativeRoute::Index(index_id) => respond(describe_index(service, index_id).await),
        NativeRoute::DeleteTasks(index_id) => {
            respond(crate::delete::list_delete_tasks(service, index_id).await)
        }
        NativeRoute::ListTemplates => {
            respond(service.metastore().templates().await.map_err(Into::into))
        }
        NativeRoute::Template(template_id) => {
            match service.metastore().template(template_id).await {
                Ok(template) => HttpResponse::json(200, &template),
                Err(hydrant_metastore::Error::TemplateNotFound(id)) => {
                    HttpResponse::error(404, format!("index template `{id}` not found"))
                }
                Err(error) => HttpResponse::search_error(&error.into()),
            }
        }
        NativeRoute::Search { pattern, post } => {
            let parsed = if post {
                body.parse_json::<SearchRequest>()
                    .map_err(|error| SearchError::InvalidRequest(format!("request body: {error}")))
            } else {
                SearchRequest::from_query_string(query_string)
            };
            let request = match parsed {
                Ok(request) => request,
                Err(error) => return HttpResponse::search_error(&error),
            };
            let pretty = request.format == ResponseFormat::PrettyJson;
            match search(service, pattern, &request).await {
                Ok(response) => HttpResponse::json_formatted(200, &response, pretty),
                Err(error) => HttpResponse::search_error(&error),
            }
        }
        NativeRoute::SearchStream(index_id) => stream(service, index_id, query_string).await,
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

fn respond(result: Result<impl Serialize>) -> HttpResponse {
    match result {
        Ok(value) => HttpResponse::json(200, &value),
        Err(error) => HttpResponse::search_error(&error),
    }
}

/// A native search: one index, or every index a pattern (`a,b`, `logs-*`, `-c`) selects.
pub async fn search(
    service: &SearchService,
    pattern: &str,
    request: &SearchRequest,
) -> Result<SearchResponse> {
    if IndexPattern::parse(pattern)?.single_name() == Some(pattern) {
        return service.search(pattern, request).await;
    }
    let index_ids = index_ids(service, pattern, false).await?;
    let params = SearchParams::from_native(request)?;
    let answer = service
        .search_indexes(&index_ids, &params, None)
        .await?
        .answer;
    Ok(answer.into_native(request.stats))
}

async fn stream(service: &SearchService, index_id: &str, query_string: &str) -> HttpResponse {
    let stream = match StreamRequest::from_query_string(query_string) {
        Ok(stream) => stream,
        Err(error) => return HttpResponse::search_error(&error),
    };
    match service.search_stream(index_id, &stream).await {
        Ok(body) => {
            let content_type = match stream.output_format {
                StreamFormat::Csv => "text/csv; charset=utf-8",
                StreamFormat::ClickHouseRowBinary => "application/octet-stream",
            };
            HttpResponse::bytes(200, content_type, body)
        }
        Err(error) => HttpResponse::search_error(&error),
    }
}

/// What the index routes say of an index: what Grafana's Quickwit data source reads its
/// timestamp field from, and what an operator checks first.
#[derive(Clone, Debug, Serialize)]
pub struct IndexSummary<'a> {
    pub index_id: &'a str,
    pub num_published_splits: usize,
    pub num_published_docs: u64,
    pub size_published_splits_bytes: u64,
    pub uncompressed_docs_size_bytes: u64,
    /// Unix seconds of the oldest and newest document.
    pub min_timestamp: Option<i64>,
    pub max_timestamp: Option<i64>,
    pub create_timestamp: i64,
    pub index_config: &'a IndexConfig,
    /// The published splits, for one index's description only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub splits: Option<Vec<&'a SplitMetadata>>,
}

impl<'a> IndexSummary<'a> {
    pub fn new(metadata: &'a IndexMetadata) -> Self {
        let published: Vec<&SplitMetadata> = metadata.published_splits().collect();
        let ranges = || published.iter().filter_map(|split| split.time_range);
        let seconds = |nanos: i64| nanos.div_euclid(1_000_000_000);
        IndexSummary {
            index_id: metadata.index_id(),
            num_published_splits: published.len(),
            num_published_docs: metadata.num_published_docs(),
            size_published_splits_bytes: published.iter().map(|s| s.split_size_bytes).sum(),
            uncompressed_docs_size_bytes: published
                .iter()
                .map(|split| split.uncompressed_docs_size_bytes)
                .sum(),
            min_timestamp: ranges().map(|range| range.start_nanos).min().map(seconds),
            max_timestamp: ranges().map(|range| range.end_nanos).max().map(seconds),
            create_timestamp: metadata.create_timestamp,
            index_config: &metadata.index_config,
            splits: None,
        }
    }
}

/// `GET /api/v1/indexes/{index_id}`: the summary, the config and the published splits.
async fn describe_index(service: &SearchService, index_id: &str) -> Result<serde_json::Value> {
    let metadata = service.metastore().index_splits(index_id).await?;
    let mut summary = IndexSummary::new(&metadata);
    summary.splits = Some(metadata.published_splits().collect());
    Ok(serde_json::to_value(summary).expect("a summary serializes"))
}

/// `GET /api/v1/indexes[?index_id_patterns=a,b*,-c]`: each index's summary and config, in id
/// order.
async fn list_indexes(
    service: &SearchService,
    query_string: &str,
) -> Result<Vec<serde_json::Value>> {
    let mut patterns = Vec::new();
    for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
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
    let pattern = IndexPattern::parse(&pattern)?;
    let indexes = pattern.select(service.metastore().list_indexes().await?);
    Ok(indexes
        .iter()
        .map(|metadata| {
            serde_json::to_value(IndexSummary::new(metadata)).expect("a summary serializes")
        })
        .collect())
}
