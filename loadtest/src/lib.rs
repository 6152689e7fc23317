//! Load generation and measurement for Hydrant: Firehose-shaped objects and the datasets
//! that fill them.
//!
//! - [`mock_sales`]: the dataset of Quickwit's serverless tutorial.
//! - [`web_logs`]: web/HTTP access logs, the benchmark's main dataset.
//! - [`firehose`]: object keys, framing and compression as Firehose writes them.
//! - [`generator`]: objects with a share of bad records of every kind, and their expected reasons.
//! - [`rng`]: a deterministic generator, so every run with a seed produces the same data.
//! - [`bench`]: the whole measurement (`loadtest bench`): indexing, freshness, queries cold and
//!   warm against a raw scan, maintenance, and [`cost`] of it all.
//! - [`cold_start`]: the searcher binary's start to its first answer, over the Lambda Runtime API.
//! - [`query_mix`]: the benchmark's queries, each with the predicate a raw scan evaluates.
//! - [`indexing_bench`]: indexing throughput and memory against raw tantivy, same run.
//! - [`memory`]: peak resident memory of the process.
//! - [`stream`]: a Firehose stream into a [`target`] (embedded, S3+SQS endpoints such as moto,
//!   or a deployed stack), measured end to end (`loadtest stream`).
//! - [`http_search`]: the search API over HTTP(S), with the API key.

pub mod bench;
pub mod cold_start;
pub mod cost;
pub mod error;
pub mod firehose;
pub mod generator;
pub mod http_search;
pub mod indexing_bench;
pub mod memory;
pub mod mock_sales;
pub mod query_mix;
pub mod rng;
pub mod stream;
pub mod target;
pub mod web_logs;
