//! The one error type of this crate.
//!
//! Callers match on the variant (`NotFound`, `PreconditionFailed`, `Conflict`, ...) to decide
//! what to do; the message says what happened, for whom it happened, and never leaks a stack
//! trace. Lower errors (I/O, the AWS SDK, tantivy) are converted at the boundary where they
//! happen, with the object path or index id attached.

use std::fmt;

/// A boxed lower-level error kept as the `source` of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in storage, index configuration, the metastore and split bundles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist.
    #[error("object not found: {path}")]
    NotFound { path: String },

    /// A conditional put lost: the object exists (create) or changed (update).
    #[error("precondition failed for {path}: {reason}")]
    PreconditionFailed { path: String, reason: String },

    /// An object was read, but is not what it claims to be.
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: String, reason: String },

    /// The storage backend failed (I/O, network, service).
    #[error("storage error on {path}: {message}")]
    Storage {
        path: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },

    /// A URI, index config or doc mapping is not valid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The index is not in the metastore.
    #[error("index `{0}` not found")]
    IndexNotFound(String),

    /// `create_index` was called for an index that exists.
    #[error("index `{0}` already exists")]
    IndexAlreadyExists(String),

    /// A metastore operation contradicts the current state (e.g. publishing a split that is not
    /// staged). Unlike `PreconditionFailed`, retrying does not help.
    #[error("metastore conflict on index `{index_id}`: {reason}")]
    Conflict { index_id: String, reason: String },

    /// A commit kept losing compare-and-swap races to other writers. Retrying later helps.
    #[error(
        "metastore of index `{index_id}` is too busy: gave up after {attempts} concurrent commit attempts"
    )]
    Contention { index_id: String, attempts: u32 },

    /// Some staging objects of a publish are already in the checkpoint: their records are
    /// already searchable, and publishing again would duplicate them.
    #[error("index `{index_id}`: already indexed: {}", source_keys.join(", "))]
    CheckpointConflict {
        index_id: String,
        source_keys: Vec<String>,
    },

    /// tantivy failed while building or reading an index.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

impl Error {
    pub(crate) fn storage(
        path: impl fmt::Display,
        message: impl fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Storage {
            path: path.to_string(),
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn corrupt(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Corrupt {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Converts an I/O error on `path`, keeping "not found" distinguishable.
    pub(crate) fn from_io(path: impl fmt::Display, error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                path: path.to_string(),
            }
        } else {
            Error::storage(path, "i/o error", error)
        }
    }

    /// True when the object did not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True when a conditional put lost a race; reload and retry.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, Error::PreconditionFailed { .. })
    }
}
