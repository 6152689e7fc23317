//! The one error type of the ingest crate.

use hydrant_metastore::Error as MetastoreError;
use hydrant_storage::StorageError;

/// Result alias of this crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Whether trying again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Throttling, 5xx, timeouts, a busy metastore, the deadline: redeliver and try again.
    Retryable,
    /// It can never succeed (a body that never parses, an invalid key, an object that is gone,
    /// an unknown index): record it and set it aside, so that it blocks nothing behind it.
    Permanent,
}

/// What can stop an indexing run. Bad records are not errors: they are rejected one by one
/// and kept (see `IndexingReport` in the indexer module).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Storage or metastore failure (object missing, network, conflict, ...).
    #[error(transparent)]
    Metastore(#[from] MetastoreError),

    /// tantivy failed while building a split.
    #[error("tantivy: {0}")]
    Tantivy(tantivy::TantivyError),

    /// Local file-system failure (temporary split files).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Another indexer published some of these objects first; nothing of this run was
    /// published. Retrying skips what is already indexed.
    #[error("index `{index_id}`: objects were indexed concurrently: {}", source_keys.join(", "))]
    ConcurrentIndexing {
        index_id: String,
        source_keys: Vec<String>,
    },

    /// A staging object could not be read to its end (after retries); nothing of the run was
    /// published.
    #[error("cannot read staging object {source_key}: {message}")]
    Download { source_key: String, message: String },

    /// The queue (SQS) failed.
    #[error("queue: {0}")]
    Queue(String),

    /// Invalid configuration of the indexer itself.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A queue message that is none of the accepted shapes.
    #[error("{0}")]
    BadMessage(String),

    /// A message for which no index can be found.
    #[error("{0}")]
    Unroutable(String),

    /// A staging bucket's notification configuration could not be read or written.
    #[error("{0}")]
    Notifications(String),
}

impl From<hydrant_index::IndexError> for IngestError {
    fn from(error: hydrant_index::IndexError) -> Self {
        IngestError::Metastore(error.into())
    }
}

impl From<StorageError> for IngestError {
    fn from(error: StorageError) -> Self {
        IngestError::Metastore(error.into())
    }
}

impl IngestError {
    /// Whether retrying can help. See [`FailureKind`].
    pub fn kind(&self) -> FailureKind {
        match self {
            IngestError::BadMessage(_) | IngestError::Unroutable(_) => FailureKind::Permanent,
            IngestError::Metastore(
                MetastoreError::Storage(
                    StorageError::NotFound { .. } | StorageError::InvalidConfig(_),
                )
                | MetastoreError::IndexNotFound(_)
                | MetastoreError::InvalidConfig(_),
            ) => FailureKind::Permanent,
            _ => FailureKind::Retryable,
        }
    }

    /// True when the staging object does not exist (deleted, or a wrong key).
    pub fn is_not_found(&self) -> bool {
        matches!(self, IngestError::Metastore(error) if error.is_not_found())
    }
}
