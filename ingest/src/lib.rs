//! Hydrant's indexer: Firehose objects in, published splits out.
//!
//! - [`firehose`]: decompression and record framing of staging objects.
//! - [`split_builder`]: one tantivy index on local disk, bundled into a split.
//! - [`indexer`]: the pipeline (checkpoint check, parse, build, upload, publish).
//! - [`staging`]: which storage a staging bucket name refers to.

pub mod error;
pub mod firehose;
pub mod indexer;
pub mod split_builder;
pub mod staging;

pub use error::{IngestError, Result};
pub use indexer::{Indexer, IndexingReport, ObjectOutcome};
pub use staging::{ObjectRef, StagingBuckets};
