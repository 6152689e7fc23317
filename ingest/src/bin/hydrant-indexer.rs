//! The indexer Lambda: SQS FIFO batches in, `batchItemFailures` out.
//!
//! A thin adapter: settings are read and validated once at cold start (a bad setting fails
//! the init with one clear message), then every invocation is one
//! [`IndexerRuntime::run_batch`] with the invocation's deadline.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

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

async fn start() -> Result<IndexerRuntime, hydrant_ingest::IngestError> {
    let settings = IndexerSettings::from_env()?;
    IndexerRuntime::start(&settings, StorageResolver::default()).await
}

async fn handle(
    runtime: &IndexerRuntime,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let time_left = event
        .context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let deadline = Instant::now() + time_left;
    let messages: Vec<QueueMessage> = event
        .payload
        .records
        .into_iter()
        .map(|record| QueueMessage {
            message_id: record.message_id.unwrap_or_default(),
            group_id: record.attributes.get("MessageGroupId").cloned(),
            body: record.body.unwrap_or_default(),
        })
        .collect();
    let outcome = runtime.run_batch(&messages, Some(deadline)).await;
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
