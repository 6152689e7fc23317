//! The one error type of this crate.
//!
//! Callers match on the variant (`Storage`, `IndexNotFound`, `Conflict`, ...) to decide
//! what to do; the message says what happened, for whom it happened, and never leaks a stack
//! trace. Lower errors (I/O, the AWS SDK, tantivy) are converted at the boundary where they
//! happen, with the object path or index id attached.

use std::fmt;

use hydrant_index::IndexError;
pub use hydrant_storage::BoxError;
use hydrant_storage::StorageError;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in storage, index configuration, the metastore and split bundles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object was read, but is not what it claims to be.
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: String, reason: String },

    /// The storage answered with an error (not found, a lost conditional put, a failure).
    #[error(transparent)]
    Storage(#[from] StorageError),

    /// A URI, index config or doc mapping is not valid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The index is not in the metastore.
    #[error("index `{0}` not found")]
    IndexNotFound(String),

    /// `create_index` was called for an index that exists.
    #[error("index `{0}` already exists")]
    IndexAlreadyExists(String),

    /// The index template is not in the metastore.
    #[error("index template `{0}` not found")]
    TemplateNotFound(String),

    /// `create_template` was called for a template that exists.
    #[error("index template `{0}` already exists")]
    TemplateAlreadyExists(String),

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

/// A config or split-format error keeps its kind: callers match one set of variants.
impl From<IndexError> for Error {
    fn from(error: IndexError) -> Self {
        match error {
            IndexError::InvalidConfig(message) => Error::InvalidConfig(message),
            IndexError::Corrupt { what, reason } => Error::Corrupt { what, reason },
            IndexError::Storage(error) => Error::Storage(error),
            IndexError::Tantivy(error) => Error::Tantivy(error),
        }
    }
}

impl Error {
    pub(crate) fn corrupt(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Corrupt {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }

    /// True when the object did not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Storage(error) if error.is_not_found())
    }

    /// True when a conditional put lost a race; reload and retry.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, Error::Storage(error) if error.is_precondition_failed())
    }
}
