//! Hydrant's two AWS Lambda functions, as thin adapters over the cores, which know nothing of
//! Lambda: the indexer ([`hydrant_ingest::batch::IndexerRuntime`]) and the searcher
//! ([`hydrant_search::SearchService`] behind [`hydrant_search::router::Router`]).
//!
//! - [`indexer`]: SQS FIFO batches in, `batchItemFailures` out (`bin/hydrant-indexer.rs`).
//! - [`searcher`]: API Gateway REST APIs (payload v1), HTTP APIs and Function URLs (payload
//!   v2) and direct invocations, turned into the router's requests and back
//!   (`bin/hydrant-searcher.rs`).
//!
//! Only this crate depends on `lambda_runtime` and `aws_lambda_events`, so the `hydrant` CLI
//! and the libraries link neither. Each function reads its settings once at cold start
//! ([`hydrant_ingest::settings`], [`hydrant_search::settings`]): a bad setting fails the init
//! with one line, before the first event.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[cfg(feature = "bench")]
pub mod bench;
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
    // `Targets`, not `EnvFilter`: a function's filters name crates and levels, and EnvFilter's
    // span and field matching would link a regex DFA builder into every package.
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|level| lambda_log_filter(&level))
        })
        .and_then(|directives| directives.parse().ok())
        .or_else(|| default_filter.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time()
        .with_target(false);
    if text {
        builder.finish().with(filter).init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .finish()
            .with(filter)
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

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::{LevelFilter, Targets};

    use super::lambda_log_filter;

    #[test]
    fn filters_parse_as_targets() {
        let filter: Targets = lambda_log_filter("DEBUG").parse().unwrap();
        assert!(filter.would_enable("hydrant_search::searcher", &tracing::Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &tracing::Level::INFO));
        assert!(filter.would_enable("aws_smithy_runtime", &tracing::Level::WARN));
        let default: Targets = "warn,hydrant_lambda=info,hydrant_search=info"
            .parse()
            .unwrap();
        assert!(default.would_enable("hydrant_lambda::searcher", &tracing::Level::INFO));
        assert!(!default.would_enable("hydrant_ingest", &tracing::Level::INFO));
        assert_eq!(default.default_level(), Some(LevelFilter::WARN));
    }
}
