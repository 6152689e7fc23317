//! Data for Hydrant to index: objects shaped as Firehose delivers them, filled with
//! deterministic datasets. Used by `hydrant local` (its simulated stream), by the tests and by
//! the benchmark driver (`hydrant-loadtest`), which is why it is a crate of its own: the CLI
//! links this and not the driver.
//!
//! - [`firehose`]: object keys, framing and compression as Firehose writes them.
//! - [`mock_sales`]: the dataset of Quickwit's serverless tutorial.
//! - [`web_logs`]: web/HTTP access logs, the benchmark's main dataset.
//! - [`generator`]: objects with a share of bad records of every kind, and their expected reasons.
//! - [`rng`]: a deterministic generator, so every run with a seed produces the same data.

pub mod firehose;
pub mod generator;
pub mod mock_sales;
pub mod rng;
pub mod web_logs;
