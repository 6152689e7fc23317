//! The Elasticsearch-compatible API, under `/api/v1/_elastic/` as Quickwit serves it, so that
//! Elasticsearch and OpenSearch clients work with Hydrant unchanged.
//!
//! Routes (the rest of the path after `_elastic`; the router, `crate::router`, tells them
//! apart):
//! - `GET|HEAD /` — cluster info, which clients read to tell what they talk to;
//! - `GET|POST [/{pattern}]/_search`, `GET|POST [/{pattern}]/_count`,
//!   `POST [/{pattern}]/_msearch`, over every index a pattern (`a,b`, `logs-*`, `-c`) selects;
//! - `GET|POST /_search/scroll` after `_search?scroll=`, `DELETE /_search/scroll` ([`scroll`]);
//! - `GET|POST [/{pattern}]/_field_caps`, the fields the splits hold ([`field_caps`]), and
//!   `GET [/{pattern}]/_mapping[s]`;
//! - `GET /_cat/indices[/{pattern}]`, `GET /_resolve/index/{pattern}`, `GET /_cluster/health`,
//!   `GET [/{pattern}]/_stats`;
//! - writes (`_bulk`, `_doc`, `_create`, `_update`, index creation) answer 405: Hydrant
//!   indexes what Firehose delivers to S3.
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch`, which the official clients check;
//! errors have Elasticsearch's shape (`error.type`, `error.reason`, `status`).

mod field_caps;
mod indexes;
pub mod model;
mod query_dsl;
mod scroll;
mod search;

pub use query_dsl::{MAX_TERMS, query_from_dsl, query_from_query_string};
pub use scroll::{MAX_KEEP_ALIVE, parse_keep_alive};
pub use search::MAX_MULTI_SEARCHES;

use self::model::{ClusterInfo, ClusterVersion, ElasticError};
use crate::error::SearchError;
use crate::http::{HttpResponse, RequestBody};
use crate::searcher::SearchService;

/// The Elasticsearch version announced: what Quickwit announces, the last 7.x, which every
/// client of 7.x and 8.x (and OpenSearch's) accepts.
pub const ANNOUNCED_VERSION: &str = "7.17.0";

/// A route of the Elasticsearch API, as the router tells it from the method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElasticRoute<'a> {
    ClusterInfo,
    /// `_search` over an index pattern (`*` when the path names none).
    Search(&'a str),
    Count(&'a str),
    /// `_msearch`, with the path's index pattern if any.
    MultiSearch(Option<&'a str>),
    ScrollNextPage,
    ClearScroll,
    FieldCaps(&'a str),
    Mapping(&'a str),
    CatIndices(&'a str),
    ResolveIndex(&'a str),
    Stats(&'a str),
    ClusterHealth,
    /// `GET {index}/_doc/{id}`: one hit by its `_id`.
    GetDocument {
        index: &'a str,
        id: &'a str,
    },
}

/// Answers one Elasticsearch route. Every answer carries `X-Elastic-Product: Elasticsearch`,
/// which the official clients check; errors have Elasticsearch's shape.
pub async fn answer(
    service: &SearchService,
    route: ElasticRoute<'_>,
    query_string: &str,
    body: &RequestBody<'_>,
) -> HttpResponse {
    let response = match route {
        ElasticRoute::ClusterInfo => HttpResponse::json(200, &cluster_info()),
        ElasticRoute::Search(pattern) => {
            respond(search_or_scroll(service, pattern, query_string, body).await)
        }
        ElasticRoute::Count(pattern) => {
            respond(search::count(service, pattern, query_string, body).await)
        }
        ElasticRoute::MultiSearch(index) => {
            respond(search::multi_search(service, index, query_string, body).await)
        }
        ElasticRoute::ScrollNextPage => {
            respond(scroll::next_page(service, query_string, body).await)
        }
        ElasticRoute::ClearScroll => {
            HttpResponse::json(200, &scroll::clear(service, query_string, body).await)
        }
        ElasticRoute::FieldCaps(pattern) => {
            respond(field_caps::field_caps(service, pattern, query_string, body).await)
        }
        ElasticRoute::Mapping(pattern) => respond(indexes::mappings(service, pattern).await),
        ElasticRoute::CatIndices(pattern) => {
            respond(indexes::cat_indices(service, pattern, query_string).await)
        }
        ElasticRoute::ResolveIndex(pattern) => {
            respond(indexes::resolve_index(service, pattern).await)
        }
        ElasticRoute::Stats(pattern) => respond(indexes::stats(service, pattern).await),
        ElasticRoute::ClusterHealth => respond(indexes::cluster_health(service).await),
        ElasticRoute::GetDocument { index, id } => get_document(service, index, id).await,
    };
    with_product_header(response)
}

/// `GET {index}/_doc/{id}`: the document, or `found: false` with a 404, as Elasticsearch
/// answers.
async fn get_document(service: &SearchService, index: &str, id: &str) -> HttpResponse {
    match service.get_document(index, id).await {
        Ok(found) => {
            let mut answer =
                serde_json::json!({"_index": index, "_id": id, "found": found.is_some()});
            if let Some(source) = found {
                answer["_version"] = 1.into();
                answer["_seq_no"] = 0.into();
                answer["_primary_term"] = 1.into();
                answer["_source"] = source;
            }
            let status = if answer["found"] == true { 200 } else { 404 };
            HttpResponse::json(status, &answer)
        }
        Err(error) => HttpResponse::json(error.status_code(), &search_error_body(&error)),
    }
}

/// `_search`, or with `scroll=`, the first page of a scroll.
async fn search_or_scroll(
    service: &SearchService,
    pattern: &str,
    query_string: &str,
    body: &RequestBody<'_>,
) -> Result<model::SearchResponse, SearchError> {
    let route = search::SearchRoute::read(service, pattern, query_string, body).await?;
    match &route.url.scroll {
        Some(keep_alive) => {
            let keep_alive = parse_keep_alive(keep_alive)?;
            scroll::start(service, route.index_ids, route.search, keep_alive).await
        }
        None => search::search(service, route).await,
    }
}

/// An answer as the Elasticsearch clients expect it: with the header they check.
pub fn with_product_header(response: HttpResponse) -> HttpResponse {
    response.with_header("x-elastic-product", "Elasticsearch")
}

fn cluster_info() -> ClusterInfo {
    ClusterInfo {
        name: "hydrant",
        cluster_name: "hydrant",
        cluster_uuid: "hydrant",
        version: ClusterVersion {
            distribution: "hydrant",
            number: ANNOUNCED_VERSION,
            build_flavor: "default",
            build_type: "hydrant",
            build_hash: env!("CARGO_PKG_VERSION"),
            build_date: env!("HYDRANT_BUILD_DATE"),
            build_snapshot: false,
            lucene_version: "8.11.1",
            minimum_wire_compatibility_version: "6.8.0",
            minimum_index_compatibility_version: "6.0.0-beta1",
        },
        tagline: "You Know, for Search",
    }
}

fn respond(result: Result<impl serde::Serialize, SearchError>) -> HttpResponse {
    match result {
        Ok(value) => HttpResponse::json(200, &value),
        Err(error) => HttpResponse::json(error.status_code(), &search_error_body(&error)),
    }
}

/// The Elasticsearch exception type clients map a status to.
fn error_type(error: &SearchError) -> &'static str {
    if let SearchError::ScrollNotFound(_) = error {
        return "search_context_missing_exception";
    }
    match error.status_code() {
        404 => "index_not_found_exception",
        400 => "parsing_exception",
        413 => "content_too_long_exception",
        429 | 503 => "es_rejected_execution_exception",
        _ => "search_phase_execution_exception",
    }
}

/// An error as Elasticsearch writes one, with the header clients check.
pub fn error_response(status: u16, kind: &str, reason: &str) -> HttpResponse {
    with_product_header(HttpResponse::json(
        status,
        &ElasticError::new(status, kind, reason),
    ))
}

/// The Elasticsearch error for a failed search, logged as the native API logs it.
pub(crate) fn search_error_body(error: &SearchError) -> ElasticError {
    crate::http::log_search_error(error);
    ElasticError::new(
        error.status_code(),
        error_type(error),
        &error.public_message(),
    )
}
