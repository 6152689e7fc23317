//! The one error type of this crate: what is wrong with a config, a record's mapping or a split
//! file. The metastore's error takes these over variant for variant.

use std::fmt;

use hydrant_storage::{BoxError, StorageError};

/// Result alias of this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// What can go wrong with an index config, a doc mapping or a split bundle.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// An index config, template or doc mapping is not valid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A split file was read, but is not what it claims to be.
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: String, reason: String },

    /// Reading or writing a split file failed.
    #[error(transparent)]
    Storage(#[from] StorageError),

    /// tantivy failed while building or reading an index.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

impl IndexError {
    /// True when the object read did not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, IndexError::Storage(error) if error.is_not_found())
    }

    pub(crate) fn storage(
        path: impl fmt::Display,
        message: impl fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        IndexError::Storage(StorageError::backend(path, message, source))
    }

    pub(crate) fn corrupt(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        IndexError::Corrupt {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}
