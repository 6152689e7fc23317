//! The storage contract's error type. Callers match on the variant: `NotFound` and
//! `PreconditionFailed` are answers (the object is not there, a conditional put lost), the
//! others are failures. The metastore's error wraps it (`hydrant_metastore::Error::Storage`).

use std::fmt;

/// A boxed lower-level error kept as the `source` of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias of the storage contract.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What a storage operation can answer instead of its result.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("object not found: {path}")]
    NotFound { path: String },

    /// A conditional put lost: the object exists (create) or changed (update).
    #[error("precondition failed for {path}: {reason}")]
    PreconditionFailed { path: String, reason: String },

    /// The backend failed (I/O, network, service, credentials, a timeout).
    #[error("storage error on {path}: {message}")]
    Backend {
        path: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },

    /// A URI, key or storage setting that no backend can use.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl StorageError {
    /// A backend failure on `path`, with its cause.
    pub fn backend(
        path: impl fmt::Display,
        message: impl fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        StorageError::Backend {
            path: path.to_string(),
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    /// Converts an I/O error on `path`, keeping "not found" distinguishable.
    pub(crate) fn from_io(path: impl fmt::Display, error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::NotFound {
            StorageError::NotFound {
                path: path.to_string(),
            }
        } else {
            StorageError::backend(path, "i/o error", error)
        }
    }

    /// True when the object did not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }

    /// True when a conditional put lost a race; reload and retry.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, StorageError::PreconditionFailed { .. })
    }
}
