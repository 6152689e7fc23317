//! The metastore: what each index holds, kept on the index storage and changed only by
//! compare-and-swap commits.
//!
//! - [`metastore`]: the documents of each index and their commits ([`Metastore`]): create,
//!   stage, publish with the checkpoint, mark, delete; templates;
//! - [`index_document`]: the documents as stored (index, shard) and the view readers get
//!   ([`IndexMetadata`]);
//! - [`checkpoint`]: which staging objects are indexed: the newest inline in each shard
//!   document, the rest in immutable segments per shard;
//! - [`shard`]: which shard a staging object belongs to, and the message groups of shards;
//! - [`split`]: what the metastore knows of a split without opening it ([`SplitMetadata`],
//!   its states, time range and tags);
//! - [`delete_task`]: delete tasks and what applying them did ([`delete_task::DeleteTasks`]);
//! - [`paths`]: where everything lives in the index storage, defined once;
//! - [`clock`]: time that tests set, for grace periods and retention.
//!
//! Storage is `hydrant-storage`'s; configs, doc mappings and the split file format are
//! `hydrant-index`'s.

pub mod checkpoint;
pub mod clock;
pub mod delete_task;
mod document;
pub mod error;
pub mod index_document;
pub mod metastore;
pub mod paths;
pub mod shard;
pub mod split;

pub use checkpoint::{CheckpointEntry, SourceCheckpoint, SourceObject};
pub use error::{Error, Result};
pub use index_document::{IndexInfo, IndexMetadata, IndexVersion, ShardSummary, SplitFilter};
pub use metastore::{MAX_UNPUBLISHED_SPLIT_AGE_SECS, Metastore, PublishRequest};
pub use shard::ShardId;
pub use split::{SplitMetadata, SplitState, TimeRange};
