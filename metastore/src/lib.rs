//! The metastore: what each index holds, kept on the index storage and changed only by
//! compare-and-swap commits.
//!
//! - [`metastore`]: the per-index documents and their commits ([`Metastore`],
//!   [`IndexMetadata`]): create, stage, publish with the checkpoint, mark, delete; templates;
//! - [`split`]: what the metastore knows of a split without opening it ([`SplitMetadata`],
//!   its states, time range and tags);
//! - [`paths`]: where everything lives in the index storage, defined once;
//! - [`clock`]: time that tests set, for grace periods and retention.
//!
//! Storage is `hydrant-storage`'s; configs, doc mappings and the split file format are
//! `hydrant-index`'s.

pub mod clock;
mod document;
pub mod error;
pub mod metastore;
pub mod paths;
pub mod split;

pub use error::{Error, Result};
pub use metastore::{
    CheckpointEntry, IndexMetadata, Metastore, PublishRequest, SourceCheckpoint, SourceObject,
    SplitFilter,
};
pub use split::{SplitMetadata, SplitState, TimeRange};
