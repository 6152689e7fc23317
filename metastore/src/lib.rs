//! Hydrant's persistent state and how to read it:
//!
//! - [`storage`]: the one small storage trait (S3, local disk, memory, and the fault-injecting
//!   and throttled wrappers tests use), with its own error type and a conformance suite;
//! - [`index_config`]: the index config a user writes, as plain serde types, and
//!   [`index_template`]: the templates indexes are created from on first sight;
//! - [`doc_mapper`]: the config turned into a tantivy schema, records into documents and
//!   stored documents back into hits (`datetime` parses and renders its datetimes);
//! - [`split`] and [`split_bundle`]: what a split is, and its one-file format;
//!   [`partition`]: the partition key that routes documents into splits;
//! - [`metastore`]: the index documents on storage and their compare-and-swap commits
//!   ([`Metastore`], [`IndexMetadata`]);
//! - [`scratch`] and [`clock`]: temporary files named by process, and time that tests set.

pub mod clock;
pub mod datetime;
pub mod doc_mapper;
pub mod error;
pub mod index_config;
pub mod index_template;
pub mod metastore;
pub mod partition;
pub mod scratch;
pub mod split;
pub mod split_bundle;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
pub use metastore::{
    CheckpointEntry, IndexMetadata, Metastore, PublishRequest, SourceCheckpoint, SourceObject,
    SplitFilter,
};
pub use split::{SplitMetadata, SplitState, TimeRange};
