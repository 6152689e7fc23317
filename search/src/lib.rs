//! Hydrant's searcher: Quickwit-compatible search over the published splits of an index.
//!
//! - [`query`]: the query language, parsed to an AST and bound to a doc mapping.
//! - [`searcher`]: the search core (split pruning, per-split search, merge, hit rendering).
//! - [`sort`]: hit ordering (up to two sort keys, then newest first) and its collector.
//! - [`cache`]: what a warm searcher remembers (metastore documents, per-split results).
//! - [`fetcher`]: split bytes from storage for tantivy's synchronous reads, cached;
//!   [`split_cache`]: whole splits on local disk, optional.
//! - [`request`]: the API's request and response types.
//! - [`elastic`]: the Elasticsearch-compatible API (query DSL, `_search`, `_count`).
//! - [`rest`]: routing, transport-independent; [`server`]: the local HTTP server (the Lambda
//!   adapter is the `hydrant-lambda` crate's).
//! - [`cost`]: what a request cost (splits, GETs, bytes), for metrics.
//! - [`settings`]: the searcher's deployment settings, read from the environment.
//! - [`signing`]: signed tokens for state clients carry between requests (scroll ids).

pub mod cache;
pub mod cost;
pub mod elastic;
pub mod error;
pub mod fetcher;
pub mod query;
pub mod request;
pub mod rest;
pub mod searcher;
#[cfg(feature = "server")]
pub mod server;
pub mod settings;
pub mod signing;
pub mod sort;
pub mod split_cache;

pub use error::{Result, SearchError};
pub use request::{SearchRequest, SearchResponse, SearchStats};
pub use searcher::{SearchService, SearcherConfig};
