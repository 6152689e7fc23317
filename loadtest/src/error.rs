//! The one error type of the loadtest crate.

/// Result alias of this crate.
pub type Result<T, E = LoadtestError> = std::result::Result<T, E>;

/// What can stop a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    #[error(transparent)]
    Ingest(#[from] hydrant_ingest::IngestError),
    #[error(transparent)]
    Metastore(#[from] hydrant_metastore::Error),
    #[error(transparent)]
    Storage(#[from] hydrant_storage::StorageError),
    #[error(transparent)]
    Index(#[from] hydrant_index::IndexError),
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A request to a search API failed or was refused.
    #[error("http: {0}")]
    Http(String),
    /// S3 or SQS refused a request.
    #[error("aws: {0}")]
    Aws(String),
    /// A benchmark computed something other than what it should have: its figures are void.
    #[error("benchmark check failed: {0}")]
    Check(String),
}
