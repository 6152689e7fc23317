//! Load generation and measurement for Hydrant: Firehose-shaped objects and the datasets
//! that fill them.
//!
//! - [`mock_sales`]: the dataset of Quickwit's serverless tutorial.
//! - [`firehose`]: object keys, framing and compression as Firehose writes them.
//! - [`generator`]: objects with a share of bad records of every kind, and their expected reasons.
//! - [`rng`]: a deterministic generator, so every run with a seed produces the same data.

pub mod firehose;
pub mod generator;
pub mod mock_sales;
pub mod rng;
