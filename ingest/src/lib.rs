//! Hydrant's indexer: Firehose objects in, published splits out.
//!
//! - [`firehose`]: decompression and record framing of staging objects.
//! - [`split_builder`]: one tantivy index on local disk, bundled into a split.
//! - [`indexer`]: the pipeline (checkpoint check, parse, build, upload, publish).
//! - [`staging`]: which storage a staging bucket name refers to.
//! - [`message`]: queue message bodies (EventBridge, S3 notifications, backfill, maintenance).
//! - [`batch`]: a batch of queue messages with SQS FIFO semantics: the core the Lambda
//!   handler and the poller call.
//! - [`settings`]: the deployment settings, from the environment, validated at start-up.
//! - [`object_reader`]: streamed, resumable reads of staging objects.
//! - [`queue`]: polling the queue without Lambda, and backfilling it.
//! - [`notifications`]: turning on an existing staging bucket's EventBridge notifications.
//! - [`error_records`]: the `errors/` record format (rejected records, set-aside messages),
//!   written and read back by the same types.
//! - [`maintenance`]: retention, merges and garbage collection; [`merge_policy`]: which
//!   splits to merge.

pub mod batch;
#[cfg(feature = "delete-tasks")]
pub mod deletes;
pub mod error;
pub mod error_records;
pub mod firehose;
pub mod indexer;
pub mod maintenance;
pub mod merge_policy;
pub mod message;
pub mod notifications;
pub mod object_reader;
pub mod queue;
pub mod settings;
pub mod split_builder;
pub mod staging;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{IngestError, Result};
pub use indexer::{Indexer, IndexingReport, ObjectOutcome};
pub use staging::{ObjectRef, StagingBuckets};
