//! Hydrant's benchmark driver: it loads Hydrant with data from `hydrant-datagen` (re-exported
//! here as [`firehose`], [`generator`], [`mock_sales`], [`web_logs`] and [`rng`]) and measures.
//!
//! - [`bench`]: the whole measurement (`loadtest bench`): indexing, freshness, queries cold and
//!   warm against a raw scan, maintenance, and [`cost`] of it all.
//! - [`dashboard`]: a Grafana dashboard's `_msearch` (logs, date histogram, terms) cold and
//!   warm over one split per object, against a raw scan computing the same panels.
//! - [`fanout`]: one searcher alone against leaf invocations of itself over many splits,
//!   through the Lambda Invoke API of `cargo lambda watch` (`loadtest fanout`).
//! - [`cold_start`]: the searcher binary's start to its first answer, over the Lambda Runtime API.
//! - [`query_mix`]: the benchmark's queries, each with the predicate a raw scan evaluates.
//! - [`floor`]: CPU-seconds per MB of Hydrant's pipeline against a tantivy-py script, each a
//!   process of its own, also pinned to one core (`loadtest floor`), and [`floor_cost`], what
//!   a TB costs to index by the shape of a stream.
//! - [`indexing_bench`]: indexing throughput and memory against raw tantivy, same run.
//! - [`measure`]: the vocabulary of every measurement (percentiles, dataset figures, checks).
//! - [`memory`]: peak resident memory of the process.
//! - [`metastore_bench`]: publish rate as shards scale out, and metastore size as objects
//!   accumulate, against one document per index (`loadtest metastore`).
//! - [`stream`]: a Firehose stream into a [`target`] (embedded, S3+SQS endpoints such as moto,
//!   or a deployed stack), measured end to end (`loadtest stream`).
//! - [`http_search`]: the search API over HTTP(S), with the API key or [`sigv4`] signatures.

pub mod bench;
pub mod cold_start;
pub mod cost;
pub mod dashboard;
pub mod error;
pub mod fanout;
pub mod floor;
pub mod floor_cost;
pub mod http_search;
pub mod indexing_bench;
pub mod measure;
pub mod memory;
pub mod metastore_bench;
pub mod query_mix;
pub mod sigv4;
pub mod stream;
pub mod target;

pub use hydrant_datagen::{firehose, generator, mock_sales, rng, web_logs};
