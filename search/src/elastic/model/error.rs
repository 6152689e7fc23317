//! Elasticsearch's error body: `{"error": {"root_cause", "type", "reason"}, "status"}`, alone
//! or as one answer of an `_msearch`.

use serde::{Deserialize, Serialize};

/// An error as Elasticsearch writes one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElasticError {
    pub error: ErrorDetails,
    pub status: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetails {
    pub root_cause: Vec<ErrorCause>,
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCause {
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
}

impl ElasticError {
    /// An error of one cause, `kind` being the exception type clients map a status to.
    pub fn new(status: u16, kind: &str, reason: &str) -> Self {
        let cause = ErrorCause {
            kind: kind.to_string(),
            reason: reason.to_string(),
        };
        ElasticError {
            error: ErrorDetails {
                root_cause: vec![cause],
                kind: kind.to_string(),
                reason: reason.to_string(),
            },
            status,
        }
    }
}
