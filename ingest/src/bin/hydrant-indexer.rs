//! The indexer Lambda: SQS FIFO batches in, `batchItemFailures` out.
//!
//! A thin adapter: settings are read and validated once at cold start (a bad setting fails
//! the init with one clear message), then every invocation is one
//! [`IndexerRuntime::run_batch`] with the invocation's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::settings::IndexerSettings;
use hydrant_metastore::storage::StorageResolver;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(false)
        .without_time()
        .init();
    let runtime = match start().await {
        Ok(runtime) => Arc::new(runtime),
        Err(error) => {
            // One line a person can act on; the Lambda init fails and nothing is retried in
            // a loop here.
            eprintln!("hydrant-indexer cannot start: {error}");
            return Err(error.into());
        }
    };
    lambda_runtime::run(service_fn(move |event| {
        let runtime = runtime.clone();
        async move { handle(&runtime, event).await }
    }))
    .await
}

/// Lambda sends the deadline in milliseconds since the epoch. cargo-lambda's emulator sends the
/// function timeout instead (e.g. 600000); a value that small cannot be an epoch time in this
/// century, so it is read as time left. Without a usable deadline the batch runs unbounded,
/// which is safe: a timeout publishes nothing and the batch is redelivered.
fn invocation_deadline(deadline_ms: u64) -> Option<Instant> {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    let time_left = if deadline_ms < YEAR_2001_MS {
        Duration::from_millis(deadline_ms)
    } else {
        (SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms))
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    };
    if time_left.is_zero() {
        tracing::warn!(
            deadline_ms,
            "no usable invocation deadline; running without one"
        );
        return None;
    }
    Some(Instant::now() + time_left)
}

async fn start() -> Result<IndexerRuntime, hydrant_ingest::IngestError> {
    let settings = IndexerSettings::from_env()?;
    // `/tmp` outlives a crashed or timed-out invocation, and the restarted process may have
    // the same pid: everything left there with Hydrant's prefix is stale before the first batch.
    let temp_root = settings.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    if let Err(error) = hydrant_metastore::scratch::remove_stale(&temp_root, true) {
        tracing::warn!(%error, "cannot clean scratch files");
    }
    IndexerRuntime::start(&settings, StorageResolver::from_env()?).await
}

async fn handle(
    runtime: &IndexerRuntime,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let deadline = invocation_deadline(event.context.deadline);
    let messages: Vec<QueueMessage> = event
        .payload
        .records
        .into_iter()
        .map(|record| QueueMessage {
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|count| count.parse().ok())
                .unwrap_or(1),
            message_id: record.message_id.unwrap_or_default(),
            group_id: record.attributes.get("MessageGroupId").cloned(),
            body: record.body.unwrap_or_default(),
        })
        .collect();
    let outcome = runtime.run_batch(&messages, deadline).await;
    let now_millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0);
    println!("{}", outcome.summary_line());
    println!("{}", outcome.emf_line(now_millis));
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = outcome
        .failed_message_ids
        .into_iter()
        .map(|item_identifier| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = item_identifier;
            failure
        })
        .collect();
    Ok(response)
}
