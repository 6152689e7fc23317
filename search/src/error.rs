//! The one error type of the search crate, with the HTTP status each error maps to.

use crate::query::{BuildError, QueryParseError};

/// Result alias of this crate.
pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// Why a search request failed as a whole. A split that cannot be read does not fail the
/// request: it is listed in the response's `errors`.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("index `{0}` not found")]
    IndexNotFound(String),

    /// The query string does not parse.
    #[error("invalid query: {0}")]
    InvalidQuery(#[from] QueryParseError),

    /// The query parses but does not fit the index (unknown field, wrong value type, ...).
    #[error("invalid query: {0}")]
    QueryDoesNotFit(#[from] BuildError),

    /// A request parameter is missing, unknown or out of range.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A scroll id that is expired, tampered with, or whose splits are gone (garbage-collected
    /// after a merge replaced them).
    #[error("scroll context not found: {0}")]
    ScrollNotFound(String),

    /// The index storage could not be reached, did not answer in time, or refused the
    /// searcher's credentials. Retrying later may help. The message is for logs and operators.
    #[error("index storage unavailable: {0}")]
    StorageUnavailable(String),

    /// The answer would be larger than a response can carry (an export past its bound).
    #[error("response too large: {0}")]
    ResponseTooLarge(String),

    /// A leaf search sent to another invocation failed (throttled, timed out, a function
    /// error, an answer that does not parse). The root searches those splits itself, so
    /// callers never see it.
    #[error("leaf invocation failed: {0}")]
    LeafInvocation(String),

    /// A deployment setting is missing or invalid (the searcher does not start).
    #[error("{0}")]
    Config(String),

    /// Something else failed (a corrupt split, a bug). The message is for logs; callers see a
    /// generic one.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SearchError {
    /// HTTP status code of this error.
    pub fn status_code(&self) -> u16 {
        match self {
            SearchError::IndexNotFound(_) | SearchError::ScrollNotFound(_) => 404,
            SearchError::InvalidQuery(_)
            | SearchError::QueryDoesNotFit(_)
            | SearchError::InvalidRequest(_) => 400,
            SearchError::ResponseTooLarge(_) => 413,
            SearchError::StorageUnavailable(_) => 503,
            SearchError::Config(_) | SearchError::Internal(_) | SearchError::LeafInvocation(_) => {
                500
            }
        }
    }

    /// The message a caller sees: precise for their mistakes, generic for ours (no paths,
    /// no internals).
    pub fn public_message(&self) -> String {
        match self {
            SearchError::StorageUnavailable(_) => {
                "the index storage is unavailable; try again (the details are in the searcher's logs)"
                    .to_string()
            }
            SearchError::Config(_) | SearchError::Internal(_) | SearchError::LeafInvocation(_) => {
                "internal error while searching; the details are in the searcher's logs".to_string()
            }
            other => other.to_string(),
        }
    }
}

impl From<hydrant_index::IndexError> for SearchError {
    fn from(error: hydrant_index::IndexError) -> Self {
        hydrant_metastore::Error::from(error).into()
    }
}

impl From<hydrant_metastore::Error> for SearchError {
    fn from(error: hydrant_metastore::Error) -> Self {
        match error {
            hydrant_metastore::Error::IndexNotFound(index_id) => {
                SearchError::IndexNotFound(index_id)
            }
            error @ hydrant_metastore::Error::Storage(hydrant_storage::StorageError::Backend {
                ..
            }) => SearchError::StorageUnavailable(error.to_string()),
            other => SearchError::Internal(other.to_string()),
        }
    }
}
