//! The one router: every route of Hydrant's API, told apart here from a request's method and
//! path, whatever carried the request (the local HTTP server, API Gateway, a Function URL or a
//! direct Lambda invocation).
//!
//! [`Route::parse`] is the route table: the native API ([`NativeRoute`]), the Elasticsearch
//! API ([`ElasticRoute`]), and the write routes ([`WriteRoute`]), which only a local server
//! answers (`hydrant serve` gives a [`WriteApi`]); without one they answer 405, as the
//! deployed API does: Hydrant indexes what Firehose delivers. `GET /ui` is the search page
//! ([`crate::ui`]).
//!
//! ```
//! use hydrant_search::elastic::ElasticRoute;
//! use hydrant_search::native::NativeRoute;
//! use hydrant_search::router::{Route, WriteRoute};
//!
//! assert_eq!(
//!     Route::parse("GET", "/api/v1/logs-*/search"),
//!     Route::Native(NativeRoute::Search { pattern: "logs-*", post: false })
//! );
//! assert_eq!(
//!     Route::parse("POST", "/api/v1/_elastic/logs/_search"),
//!     Route::Elastic(ElasticRoute::Search("logs"))
//! );
//! assert_eq!(
//!     Route::parse("POST", "/api/v1/logs/ingest"),
//!     Route::Write(WriteRoute::Ingest("logs"))
//! );
//! assert_eq!(Route::parse("GET", "/ui"), Route::Page);
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::elastic::{self, ElasticRoute};
use crate::http::{HttpRequest, HttpResponse, MAX_REQUEST_BODY_BYTES};
use crate::native::{self, NativeRoute};
use crate::searcher::SearchService;

/// A route that changes what is indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteRoute<'a> {
    /// `POST /api/v1/indexes`: a config, JSON or YAML.
    CreateIndex,
    /// `DELETE /api/v1/indexes/{index_id}`.
    DeleteIndex(&'a str),
    /// `PUT /api/v1/indexes/{index_id}`: a whole new config, JSON or YAML (Quickwit's update).
    UpdateIndex(&'a str),
    /// `POST /api/v1/templates`.
    CreateTemplate,
    /// `PUT /api/v1/templates/{template_id}`.
    PutTemplate(&'a str),
    /// `DELETE /api/v1/templates/{template_id}`.
    DeleteTemplate(&'a str),
    /// `POST /api/v1/{index_id}/ingest`: NDJSON.
    Ingest(&'a str),
    /// `POST|PUT /api/v1/_elastic/[{index}/]_bulk`.
    ElasticBulk(Option<&'a str>),
    /// `DELETE /api/v1/_elastic/{pattern}`.
    ElasticDeleteIndexes(&'a str),
    /// `POST /api/v1/{index_id}/delete-tasks`: a delete task (Quickwit's request).
    CreateDeleteTask(&'a str),
    /// `POST /api/v1/_elastic/{index}/_delete_by_query`.
    ElasticDeleteByQuery(&'a str),
}

impl WriteRoute<'_> {
    fn is_elastic(self) -> bool {
        matches!(
            self,
            WriteRoute::ElasticBulk(_)
                | WriteRoute::ElasticDeleteIndexes(_)
                | WriteRoute::ElasticDeleteByQuery(_)
        )
    }
}

/// What a request asks, told from its method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Native(NativeRoute<'a>),
    Elastic(ElasticRoute<'a>),
    Write(WriteRoute<'a>),
    /// A path that exists, with another method (or a write no API here takes).
    NotAllowed {
        message: &'static str,
        elastic: bool,
    },
    NotFound {
        elastic: bool,
    },
    /// `GET /ui`: the search page.
    Page,
}

/// Writes Elasticsearch's document API has and Hydrant never takes one by one.
const ELASTIC_WRITE_REFUSAL: &str = "Hydrant has no write API: it indexes the objects Firehose \
                                     delivers to its staging bucket (see the README)";

impl<'a> Route<'a> {
    /// The route of `method` on `path`, whose segments are already percent-decoded.
    pub fn parse(method: &str, path: &'a str) -> Route<'a> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        Route::from_segments(method, &segments)
    }

    /// The route of `method` on a path given as its segments.
    pub fn from_segments(method: &str, segments: &[&'a str]) -> Route<'a> {
        match segments {
            ["api", "v1", "_elastic", rest @ ..] => Route::elastic(method, rest),
            ["health"] if method == "GET" => Route::Native(NativeRoute::Health),
            ["ui"] if matches!(method, "GET" | "HEAD") => Route::Page,
            ["api", "v1", rest @ ..] => Route::native(method, rest),
            _ => Route::NotFound { elastic: false },
        }
    }

    /// Routes under `/api/v1/`.
    fn native(method: &str, path: &[&'a str]) -> Route<'a> {
        let not_allowed = |message| Route::NotAllowed {
            message,
            elastic: false,
        };
        match (method, path) {
            ("GET", ["indexes"]) => Route::Native(NativeRoute::ListIndexes),
            ("POST", ["indexes"]) => Route::Write(WriteRoute::CreateIndex),
            ("GET", ["indexes", index_id]) => Route::Native(NativeRoute::Index(index_id)),
            ("DELETE", ["indexes", index_id]) => Route::Write(WriteRoute::DeleteIndex(index_id)),
            ("PUT", ["indexes", index_id]) => Route::Write(WriteRoute::UpdateIndex(index_id)),
            ("GET", ["templates"]) => Route::Native(NativeRoute::ListTemplates),
            ("POST", ["templates"]) => Route::Write(WriteRoute::CreateTemplate),
            ("GET", ["templates", id]) => Route::Native(NativeRoute::Template(id)),
            ("PUT", ["templates", id]) => Route::Write(WriteRoute::PutTemplate(id)),
            ("DELETE", ["templates", id]) => Route::Write(WriteRoute::DeleteTemplate(id)),
            ("POST", [index_id, "ingest"]) => Route::Write(WriteRoute::Ingest(index_id)),
            ("GET", [index_id, "delete-tasks"]) => {
                Route::Native(NativeRoute::DeleteTasks(index_id))
            }
            ("POST", [index_id, "delete-tasks"]) => {
                Route::Write(WriteRoute::CreateDeleteTask(index_id))
            }
            (_, [_, "delete-tasks"]) => not_allowed("delete-tasks takes GET or POST"),
            (method @ ("GET" | "POST"), [pattern, "search"]) => {
                Route::Native(NativeRoute::Search {
                    pattern,
                    post: method == "POST",
                })
            }
            (_, [_, "search"]) => not_allowed("search takes GET or POST"),
            ("GET", [index_id, "search", "stream"]) => {
                Route::Native(NativeRoute::SearchStream(index_id))
            }
            (_, [_, "search", "stream"]) => not_allowed("search/stream takes GET"),
            _ => Route::NotFound { elastic: false },
        }
    }

    /// Routes under `/api/v1/_elastic/` (empty segments ignored, as Elasticsearch does).
    fn elastic(method: &str, path: &[&'a str]) -> Route<'a> {
        let path: Vec<&'a str> = path.iter().copied().filter(|s| !s.is_empty()).collect();
        let read = |route| Route::Elastic(route);
        let not_allowed = |message| Route::NotAllowed {
            message,
            elastic: true,
        };
        match (method, path.as_slice()) {
            ("GET" | "HEAD", []) => read(ElasticRoute::ClusterInfo),
            ("POST" | "PUT", ["_bulk"]) => Route::Write(WriteRoute::ElasticBulk(None)),
            ("POST" | "PUT", [index, "_bulk"]) => {
                Route::Write(WriteRoute::ElasticBulk(Some(index)))
            }
            ("POST", [index, "_delete_by_query"]) => {
                Route::Write(WriteRoute::ElasticDeleteByQuery(index))
            }
            ("GET" | "HEAD", [index, "_doc", id]) => read(ElasticRoute::GetDocument { index, id }),
            (_, [.., "_bulk"]) | (_, [_, "_doc" | "_create" | "_update", ..]) | ("PUT", [_]) => {
                not_allowed(ELASTIC_WRITE_REFUSAL)
            }
            ("DELETE", [pattern]) if !pattern.starts_with('_') => {
                Route::Write(WriteRoute::ElasticDeleteIndexes(pattern))
            }
            ("POST", ["_msearch"]) => read(ElasticRoute::MultiSearch(None)),
            ("POST", [index, "_msearch"]) => read(ElasticRoute::MultiSearch(Some(index))),
            ("GET", ["_cat", "indices"]) => read(ElasticRoute::CatIndices("*")),
            ("GET", ["_cat", "indices", pattern]) => read(ElasticRoute::CatIndices(pattern)),
            ("GET", ["_resolve", "index", pattern]) => read(ElasticRoute::ResolveIndex(pattern)),
            ("GET" | "POST", ["_field_caps"]) => read(ElasticRoute::FieldCaps("*")),
            ("GET" | "POST", [pattern, "_field_caps"]) => read(ElasticRoute::FieldCaps(pattern)),
            ("GET", ["_mapping" | "_mappings"]) => read(ElasticRoute::Mapping("*")),
            ("GET", [pattern, "_mapping" | "_mappings"]) => read(ElasticRoute::Mapping(pattern)),
            ("GET", ["_cluster", "health"]) => read(ElasticRoute::ClusterHealth),
            ("GET", ["_stats"]) => read(ElasticRoute::Stats("*")),
            ("GET", [pattern, "_stats"]) => read(ElasticRoute::Stats(pattern)),
            ("GET" | "POST", ["_search", "scroll"]) => read(ElasticRoute::ScrollNextPage),
            ("DELETE", ["_search", "scroll"]) => read(ElasticRoute::ClearScroll),
            ("GET" | "POST", ["_search"]) => read(ElasticRoute::Search("*")),
            ("GET" | "POST", ["_count"]) => read(ElasticRoute::Count("*")),
            ("GET" | "POST", [pattern, "_search"]) => read(ElasticRoute::Search(pattern)),
            ("GET" | "POST", [pattern, "_count"]) => read(ElasticRoute::Count(pattern)),
            (_, [_, "_search" | "_count"]) => not_allowed("this route takes GET or POST"),
            _ => Route::NotFound { elastic: true },
        }
    }
}

/// What answers the write routes: `hydrant serve`'s local write API (in the `hydrant`
/// binary, over the indexer core). Deployed, there is none.
pub trait WriteApi: Send + Sync {
    fn write<'a>(
        &'a self,
        route: WriteRoute<'a>,
        request: &'a HttpRequest<'a>,
    ) -> BoxFuture<'a, HttpResponse>;
}

/// The search core behind the router, and the write API if this server takes writes.
#[derive(Clone)]
pub struct Router {
    search: Arc<SearchService>,
    writes: Option<Arc<dyn WriteApi>>,
}

impl Router {
    pub fn new(search: Arc<SearchService>) -> Self {
        Router {
            search,
            writes: None,
        }
    }

    /// Answers the write routes with `writes` instead of refusing them.
    pub fn with_writes(mut self, writes: Arc<dyn WriteApi>) -> Self {
        self.writes = Some(writes);
        self
    }

    pub fn search(&self) -> &Arc<SearchService> {
        &self.search
    }

    /// Routes and answers one request.
    pub async fn handle(&self, request: HttpRequest<'_>) -> HttpResponse {
        handle(&self.search, self.writes.as_deref(), request).await
    }
}

/// Routes and answers one request, with the write API if there is one.
pub async fn handle(
    service: &SearchService,
    writes: Option<&dyn WriteApi>,
    request: HttpRequest<'_>,
) -> HttpResponse {
    if request.body.len() > MAX_REQUEST_BODY_BYTES {
        return HttpResponse::error(
            413,
            format!("the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        );
    }
    // Clients percent-encode what paths carry (`a%2Cb/_search` for `a,b`).
    let decoded: Vec<Cow<'_, str>> = request
        .path
        .trim_matches('/')
        .split('/')
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .unwrap_or(Cow::Borrowed(segment))
        })
        .collect();
    let segments: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
    let route = Route::from_segments(request.method, &segments);
    let query_string = request.query_string.unwrap_or("");
    // Each API's future is boxed: the router's own stays small, and the type of a transport's
    // future (a Lambda handler's, the server's) stays shallow enough for rustc's layout
    // queries in release builds.
    let response = match route {
        Route::Native(route) => {
            Box::pin(native::answer(service, route, query_string, &request.body)).await
        }
        Route::Elastic(route) => {
            Box::pin(elastic::answer(service, route, query_string, &request.body)).await
        }
        Route::Page if request.method == "HEAD" => crate::ui::page().without_body(),
        Route::Page => crate::ui::page(),
        Route::Write(route) => match writes {
            Some(writes) => writes.write(route, &request).await,
            None if route.is_elastic() => {
                elastic::error_response(405, "illegal_argument_exception", ELASTIC_WRITE_REFUSAL)
            }
            None => HttpResponse::error(
                405,
                "this API is read-only: Hydrant indexes the objects Firehose delivers to its \
                 staging bucket (see the README)",
            ),
        },
        Route::NotAllowed { message, elastic } if elastic => {
            elastic::error_response(405, "illegal_argument_exception", message)
        }
        Route::NotAllowed { message, .. } => HttpResponse::error(405, message),
        Route::NotFound { elastic: true } => elastic::error_response(
            404,
            "no_handler_found_exception",
            &format!("no handler found for {} {}", request.method, request.path),
        ),
        Route::NotFound { .. } => HttpResponse::error(
            404,
            format!("no route for {} {}", request.method, request.path),
        ),
    };
    let is_elastic = segments.starts_with(&["api", "v1", "_elastic"]);
    if request.method == "HEAD" && is_elastic {
        return response.without_body();
    }
    response
}
