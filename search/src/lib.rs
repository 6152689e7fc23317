//! Hydrant's searcher: Quickwit-compatible search over the published splits of an index.
//!
//! - [`query`]: the query language, parsed to an AST and bound to a doc mapping.
//! - [`searcher`]: the search core (split pruning, per-split search, merge, hit rendering).
//! - [`sort`]: hit ordering (up to two sort keys, then newest first) and its collector.
//! - [`cache`]: what a warm searcher remembers (metastore documents, per-split results).
//! - [`fetcher`]: split bytes from storage for tantivy's synchronous reads, cached;
//!   [`split_cache`]: whole splits on local disk, optional.
//! - [`router`]: the one route table every transport goes through, over [`http`]'s
//!   transport-independent requests and responses; [`server`]: the local HTTP server (the
//!   Lambda adapter is the `hydrant-lambda` crate's).
//! - [`native`]: Quickwit's native API, with [`request`]: its request and response types.
//! - [`elastic`]: the Elasticsearch-compatible API (typed models, query DSL, `_search`, ...).
//! - [`index_pattern`]: index patterns (`logs-*,-logs-debug`), as both APIs take them.
//! - [`delete`]: delete tasks' queries, checked at creation and built for the indexer.
//! - [`cost`]: what a request cost (splits, GETs, bytes), for metrics.
//! - [`settings`]: the searcher's deployment settings, read from the environment.
//! - [`ui`]: the search page at `/ui`.
//! - [`signing`]: signed tokens for state clients carry between requests (scroll ids).

pub mod cache;
pub mod cost;
pub mod delete;
pub mod elastic;
pub mod error;
pub mod fetcher;
pub mod http;
pub mod index_pattern;
pub mod native;
pub mod query;
pub mod request;
pub mod router;
pub mod searcher;
#[cfg(feature = "server")]
pub mod server;
pub mod settings;
pub mod signing;
pub mod sort;
pub mod split_cache;
pub mod ui;

pub use cost::SearchStats;
pub use error::{Result, SearchError};
pub use request::{SearchRequest, SearchResponse};
pub use searcher::{SearchAnswer, SearchParams, SearchService, SearcherConfig};
