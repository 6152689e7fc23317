//! Hydrant's persistent state and how to read it: storage backends, index configuration and
//! doc mapping, split metadata, the metastore, and the split bundle format.

pub mod clock;
pub mod datetime;
pub mod doc_mapper;
pub mod error;
pub mod index_config;
pub mod metastore;
pub mod scratch;
pub mod split;
pub mod split_bundle;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
pub use metastore::{IndexMetadata, Metastore, PublishRequest, SourceObject, SplitFilter};
pub use split::{SplitMetadata, SplitState, TimeRange};
