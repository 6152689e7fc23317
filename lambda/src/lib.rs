//! Hydrant's two AWS Lambda functions, as thin adapters over the cores, which know nothing of
//! Lambda: the indexer ([`hydrant_ingest::batch::IndexerRuntime`]) and the searcher
//! ([`hydrant_search::SearchService`] behind [`hydrant_search::rest::handle_request`]).
//!
//! - [`indexer`]: SQS FIFO batches in, `batchItemFailures` out (`bin/hydrant-indexer.rs`).
//! - [`searcher`]: API Gateway REST APIs (payload v1), HTTP APIs and Function URLs (payload
//!   v2) and direct invocations, translated to REST requests and back
//!   (`bin/hydrant-searcher.rs`).
//!
//! Only this crate depends on `lambda_runtime`, `aws_lambda_events` and `tracing-subscriber`,
//! so the `hydrant` CLI and the libraries link none of them. Each function reads its settings
//! once at cold start ([`hydrant_ingest::settings`], [`hydrant_search::settings`]): a bad
//! setting fails the init with one line, before the first event.

pub mod indexer;
pub mod searcher;

/// Why a function could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// A setting is wrong or the storage it names cannot be opened.
    #[error("{0}")]
    Start(String),

    #[error(transparent)]
    Ingest(#[from] hydrant_ingest::IngestError),

    #[error(transparent)]
    Search(#[from] hydrant_search::SearchError),

    #[error(transparent)]
    Metastore(#[from] hydrant_metastore::Error),

    #[error(transparent)]
    Storage(#[from] hydrant_metastore::storage::StorageError),
}

/// Logs as CloudWatch wants them: no colour codes, no timestamp (Lambda adds its own), level
/// from `RUST_LOG` or `default_filter`.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_ansi(false)
        .without_time()
        .init();
}

/// What Lambda records as the function error: the variant as its type, the message whole.
impl From<LambdaError> for lambda_runtime::Diagnostic {
    fn from(error: LambdaError) -> Self {
        let error_type = match &error {
            LambdaError::Start(_) => "Start",
            LambdaError::Ingest(_) => "Ingest",
            LambdaError::Search(_) => "Search",
            LambdaError::Metastore(_) => "Metastore",
            LambdaError::Storage(_) => "Storage",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_string(),
            error_message: error.to_string(),
        }
    }
}
