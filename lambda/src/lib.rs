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
pub mod leaves;
pub mod metrics;
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
    Storage(#[from] hydrant_storage::StorageError),
}

/// Logs as CloudWatch wants them: one JSON object per line (`{"level", "message", fields}`),
/// unless the function's log format is `Text` (`AWS_LAMBDA_LOG_FORMAT`, set by Lambda from
/// its `LoggingConfig`); no colour codes; no timestamp (Lambda adds its own). The level comes
/// from `RUST_LOG`, else from the function's application log level (`AWS_LAMBDA_LOG_LEVEL`)
/// applied to Hydrant's crates, else `default_filter`.
pub fn init_logging(default_filter: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|level| lambda_log_filter(&level))
        })
        .and_then(|directives| tracing_subscriber::EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default_filter));
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    if text {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init();
    }
}

/// Lambda's application log level as a filter: that level for Hydrant's crates, warnings for
/// the libraries under them (whose INFO lines would cost log bytes on every invocation).
fn lambda_log_filter(level: &str) -> String {
    let level = match level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "warn" => "warn",
        "error" | "fatal" => "error",
        _ => "info",
    };
    [
        "hydrant_lambda",
        "hydrant_ingest",
        "hydrant_search",
        "hydrant_metastore",
        "hydrant_index",
        "hydrant_storage",
    ]
    .iter()
    .map(|krate| format!("{krate}={level}"))
    .chain(std::iter::once("warn".to_string()))
    .collect::<Vec<_>>()
    .join(",")
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
