//! The Elasticsearch-compatible API, under `/api/v1/_elastic/` as Quickwit serves it, so that
//! Elasticsearch and OpenSearch clients work with Hydrant unchanged.
//!
//! Routes (the rest of the path after `_elastic`):
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
mod query_dsl;
mod scroll;
mod search;

pub use indexes::{IndexPattern, resolve_indexes};
pub use query_dsl::{MAX_TERMS, query_from_dsl, query_from_query_string};
pub use scroll::{MAX_KEEP_ALIVE, parse_keep_alive};
pub use search::{EsSearchParams, MAX_MULTI_SEARCHES, index_ids};

pub(crate) use hydrant_index::template::glob_matches;
use serde_json::{Value, json};

use crate::error::SearchError;
use crate::request::ResponseFormat;
use crate::rest::HttpResponse;
use crate::searcher::SearchService;

/// The Elasticsearch version announced: what Quickwit announces, the last 7.x, which every
/// client of 7.x and 8.x (and OpenSearch's) accepts.
pub const ANNOUNCED_VERSION: &str = "7.17.0";

/// Answers one request whose path starts with `/api/v1/_elastic`; `path` is the rest.
pub async fn handle(
    service: &SearchService,
    method: &str,
    path: &[&str],
    query_string: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let path: Vec<&str> = path
        .iter()
        .copied()
        .filter(|segment| !segment.is_empty())
        .collect();
    let response = route(service, method, &path, query_string, body).await;
    let response = if method == "HEAD" {
        HttpResponse {
            body: Vec::new(),
            ..response
        }
    } else {
        response
    };
    response.with_header("x-elastic-product", "Elasticsearch")
}

async fn route(
    service: &SearchService,
    method: &str,
    path: &[&str],
    query_string: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let query_string = query_string.unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", []) => ok(&cluster_info()),
        (_, [.., "_bulk"]) | (_, [_, "_doc" | "_create" | "_update", ..]) | ("PUT", [_]) => {
            error_response(
                405,
                "illegal_argument_exception",
                "Hydrant has no write API: it indexes the objects Firehose delivers to its \
                 staging bucket (see the README)",
            )
        }
        ("POST", ["_msearch"]) => {
            respond(search::multi_search(service, None, query_string, body).await)
        }
        ("POST", [index, "_msearch"]) => {
            respond(search::multi_search(service, Some(index), query_string, body).await)
        }
        ("GET", ["_cat", "indices"]) => {
            respond(indexes::cat_indices(service, "*", query_string).await)
        }
        ("GET", ["_cat", "indices", pattern]) => {
            respond(indexes::cat_indices(service, pattern, query_string).await)
        }
        ("GET", ["_resolve", "index", pattern]) => {
            respond(indexes::resolve_index(service, pattern).await)
        }
        ("GET" | "POST", ["_field_caps"]) => {
            respond(field_caps::field_caps(service, "*", query_string, body).await)
        }
        ("GET" | "POST", [pattern, "_field_caps"]) => {
            respond(field_caps::field_caps(service, pattern, query_string, body).await)
        }
        ("GET", ["_mapping" | "_mappings"]) => respond(indexes::mappings(service, "*").await),
        ("GET", [pattern, "_mapping" | "_mappings"]) => {
            respond(indexes::mappings(service, pattern).await)
        }
        ("GET", ["_cluster", "health"]) => respond(indexes::cluster_health(service).await),
        ("GET", ["_stats"]) => respond(indexes::stats(service, "*").await),
        ("GET", [pattern, "_stats"]) => respond(indexes::stats(service, pattern).await),
        ("GET" | "POST", ["_search", "scroll"]) => {
            respond(scroll::next_page(service, query_string, body).await)
        }
        ("DELETE", ["_search", "scroll"]) => ok(&scroll::clear(service, query_string, body).await),
        ("GET" | "POST", ["_search"]) => {
            respond(search::search(service, "*", query_string, body).await)
        }
        ("GET" | "POST", ["_count"]) => {
            respond(search::count(service, "*", query_string, body).await)
        }
        ("GET" | "POST", [index, "_search"]) => {
            let result = search::search(service, index, query_string, body).await;
            respond(result)
        }
        ("GET" | "POST", [index, "_count"]) => {
            let result = search::count(service, index, query_string, body).await;
            respond(result)
        }
        (_, [_, "_search" | "_count"]) => error_response(
            405,
            "illegal_argument_exception",
            "this route takes GET or POST",
        ),
        _ => error_response(
            404,
            "no_handler_found_exception",
            &format!(
                "no handler found for {method} /api/v1/_elastic/{}",
                path.join("/")
            ),
        ),
    }
}

fn cluster_info() -> Value {
    json!({
        "name": "hydrant",
        "cluster_name": "hydrant",
        "cluster_uuid": "hydrant",
        "version": {
            "distribution": "hydrant",
            "number": ANNOUNCED_VERSION,
            "build_flavor": "default",
            "build_type": "hydrant",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_date": env!("HYDRANT_BUILD_DATE"),
            "build_snapshot": false,
            "lucene_version": "8.11.1",
            "minimum_wire_compatibility_version": "6.8.0",
            "minimum_index_compatibility_version": "6.0.0-beta1",
        },
        "tagline": "You Know, for Search",
    })
}

fn ok(value: &Value) -> HttpResponse {
    HttpResponse::json(200, value, ResponseFormat::Json)
}

fn respond(result: Result<Value, SearchError>) -> HttpResponse {
    match result {
        Ok(value) => ok(&value),
        Err(error) => HttpResponse::json(
            error.status_code(),
            &search_error_body(&error),
            ResponseFormat::Json,
        ),
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

/// An error as Elasticsearch writes one.
pub fn error_response(status: u16, kind: &str, reason: &str) -> HttpResponse {
    HttpResponse::json(
        status,
        &error_body(status, kind, reason),
        ResponseFormat::Json,
    )
}

/// The body of an Elasticsearch error: alone, or as one answer of an `_msearch`.
pub(crate) fn error_body(status: u16, kind: &str, reason: &str) -> Value {
    let cause = json!({"type": kind, "reason": reason});
    json!({
        "error": {"root_cause": [cause], "type": kind, "reason": reason},
        "status": status,
    })
}

/// The Elasticsearch error for a failed search, logged as the native API logs it.
pub(crate) fn search_error_body(error: &SearchError) -> Value {
    HttpResponse::log_search_error(error);
    error_body(
        error.status_code(),
        error_type(error),
        &error.public_message(),
    )
}
