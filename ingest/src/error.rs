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

    /// A delete task's query cannot run on the index (its mapping changed since, say).
    #[error("delete task {opstamp}: {message}")]
    DeleteTask { opstamp: u64, message: String },

    /// Indexing one staging object of a run failed: the error, and which object.
    #[error("{source_key}: {source}")]
    AtObject {
        /// Position of the object in the run's input.
        position: usize,
        source_key: String,
        source: Box<IngestError>,
    },
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
    /// Whether retrying can help. See [`FailureKind`]. Every variant is decided here, none by
    /// default: an error nobody expected (tantivy refusing a document, a corrupt file) is
    /// permanent, so its message is set aside with the reason instead of being retried until
    /// it reaches the dead-letter queue.
    pub fn kind(&self) -> FailureKind {
        match self {
            IngestError::Metastore(error) => metastore_failure_kind(error),
            IngestError::Tantivy(error) => tantivy_failure_kind(error),
            IngestError::AtObject { source, .. } => source.kind(),
            // Scratch space on local disk, a download cut short, the queue, a bucket's
            // notification settings: the environment, which may be fine on the next try.
            IngestError::Io { .. }
            | IngestError::Download { .. }
            | IngestError::Queue(_)
            | IngestError::Notifications(_) => FailureKind::Retryable,
            // Another writer got there first: the retry skips what it indexed.
            IngestError::ConcurrentIndexing { .. } => FailureKind::Retryable,
            IngestError::Config(_)
            | IngestError::BadMessage(_)
            | IngestError::Unroutable(_)
            | IngestError::DeleteTask { .. } => FailureKind::Permanent,
        }
    }

    /// True when the staging object does not exist (deleted, or a wrong key).
    pub fn is_not_found(&self) -> bool {
        match self {
            IngestError::Metastore(error) => error.is_not_found(),
            IngestError::AtObject { source, .. } => source.is_not_found(),
            _ => false,
        }
    }

    /// This error, said to have happened while indexing the object at `position` of a run.
    pub fn at_object(self, position: usize, source_key: &str) -> Self {
        IngestError::AtObject {
            position,
            source_key: source_key.to_string(),
            source: Box::new(self),
        }
    }

    /// The position in its run of the object this error happened on, when it is known.
    pub fn object_position(&self) -> Option<usize> {
        match self {
            IngestError::AtObject { position, .. } => Some(*position),
            _ => None,
        }
    }
}

fn metastore_failure_kind(error: &MetastoreError) -> FailureKind {
    match error {
        MetastoreError::Storage(error) => match error {
            // Throttling, 5xx, timeouts; a conditional write that lost a race.
            StorageError::Backend { .. } | StorageError::PreconditionFailed { .. } => {
                FailureKind::Retryable
            }
            StorageError::NotFound { .. } | StorageError::InvalidConfig(_) => {
                FailureKind::Permanent
            }
        },
        // Another writer is busy or got there first: the next attempt sees its result. A
        // conflict (a staged split collected during a very slow run) is redone from scratch by
        // a retry, with new splits.
        MetastoreError::Contention { .. }
        | MetastoreError::CheckpointConflict { .. }
        | MetastoreError::Conflict { .. }
        | MetastoreError::IndexAlreadyExists(_)
        | MetastoreError::TemplateAlreadyExists(_) => FailureKind::Retryable,
        MetastoreError::Corrupt { .. }
        | MetastoreError::InvalidConfig(_)
        | MetastoreError::IndexNotFound(_)
        | MetastoreError::TemplateNotFound(_) => FailureKind::Permanent,
        MetastoreError::Tantivy(error) => tantivy_failure_kind(error),
    }
}

/// tantivy's I/O is the scratch disk, which may pass; anything else it refuses (a document, a
/// corrupt or incompatible index) it will refuse again.
fn tantivy_failure_kind(error: &tantivy::TantivyError) -> FailureKind {
    match error {
        tantivy::TantivyError::IoError(_) => FailureKind::Retryable,
        _ => FailureKind::Permanent,
    }
}

/// A named point where tests inject failures (`failpoints` feature); a no-op otherwise. The
/// configured action's value picks the failure: `return(tantivy)` is tantivy refusing the
/// work (permanent), anything else a crash of the local disk (retryable).
pub(crate) fn fail_point(name: &str) -> Result<()> {
    #[cfg(feature = "failpoints")]
    {
        fail::fail_point!(name, |value: Option<String>| Err(match value.as_deref() {
            Some("tantivy") => IngestError::Tantivy(tantivy::TantivyError::InternalError(format!(
                "injected at fail point {name}"
            ),)),
            _ => IngestError::Io {
                context: format!("fail point {name}"),
                source: std::io::Error::other("injected crash"),
            },
        }));
    }
    let _ = name;
    Ok(())
}
