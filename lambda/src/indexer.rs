//! The indexer behind Lambda: an SQS FIFO batch is one [`IndexerRuntime::run_batch`] with the
//! invocation's deadline, and the messages to redeliver go back as `batchItemFailures`.

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::settings::IndexerSettings;
use hydrant_storage::StorageResolver;
use lambda_runtime::LambdaEvent;

use crate::{LambdaError, metrics};

/// Opens the index storage and loads the index configs: the cold start.
pub async fn start(
    settings: &IndexerSettings,
    resolver: StorageResolver,
) -> Result<IndexerRuntime, LambdaError> {
    // `/tmp` outlives a crashed or timed-out invocation: what is left there is stale before
    // the first batch.
    let temp_root = settings.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    hydrant_storage::scratch::clean_at_start(&temp_root);
    Ok(IndexerRuntime::start(settings, resolver).await?)
}

/// The function's handler. A batch never fails as a whole: messages that must come back are
/// listed, the others are deleted by Lambda.
pub async fn handle(
    runtime: &IndexerRuntime,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, LambdaError> {
    let deadline = invocation_deadline(event.context.deadline, SystemTime::now());
    let messages: Vec<QueueMessage> = event
        .payload
        .records
        .into_iter()
        .map(queue_message)
        .collect();
    let outcome = runtime.run_batch(&messages, deadline).await;
    outcome.log_summary();
    // EMF lines go to stdout as they are: CloudWatch reads their `_aws` object.
    let function_name = metrics::function_name("hydrant-indexer");
    let now_millis = metrics::now_millis();
    for line in metrics::indexer_lines(&outcome, &function_name) {
        println!("{}", line.to_json(now_millis));
    }
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

/// The parts of an SQS record the batch core reads. A missing receive count is a first
/// delivery: only a count at the queue's `maxReceiveCount` changes what a failure does.
pub fn queue_message(record: SqsMessage) -> QueueMessage {
    QueueMessage {
        receive_count: record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse().ok())
            .unwrap_or(1),
        message_id: record.message_id.unwrap_or_default(),
        group_id: record.attributes.get("MessageGroupId").cloned(),
        body: record.body.unwrap_or_default(),
    }
}

/// Lambda sends the deadline in milliseconds since the epoch. cargo-lambda's emulator sends the
/// function timeout instead (e.g. 600000); a value that small cannot be an epoch time in this
/// century, so it is read as time left. Without a usable deadline the batch runs unbounded,
/// which is safe: a timeout publishes nothing and the batch is redelivered.
pub fn invocation_deadline(deadline_ms: u64, now: SystemTime) -> Option<Instant> {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    let time_left = if deadline_ms < YEAR_2001_MS {
        Duration::from_millis(deadline_ms)
    } else {
        (SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms))
            .duration_since(now)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_epoch_times_or_time_left() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let in_a_minute = 1_800_000_060_000;
        let left = invocation_deadline(in_a_minute, now).unwrap() - Instant::now();
        assert!(left > Duration::from_secs(59) && left <= Duration::from_secs(60));
        // cargo-lambda's emulator: the function timeout.
        let left = invocation_deadline(600_000, now).unwrap() - Instant::now();
        assert!(left > Duration::from_secs(599) && left <= Duration::from_secs(600));
        // Already past, or absent: no deadline rather than an instant one.
        assert_eq!(invocation_deadline(1_700_000_000_000, now), None);
        assert_eq!(invocation_deadline(0, now), None);
    }

    #[test]
    fn records_become_queue_messages() {
        let mut record = SqsMessage::default();
        record.message_id = Some("m-1".to_string());
        record.body = Some("{}".to_string());
        record
            .attributes
            .insert("MessageGroupId".to_string(), "logs".to_string());
        record
            .attributes
            .insert("ApproximateReceiveCount".to_string(), "3".to_string());
        let message = queue_message(record);
        assert_eq!(message.message_id, "m-1");
        assert_eq!(message.group_id.as_deref(), Some("logs"));
        assert_eq!(message.receive_count, 3);
        assert_eq!(message.body, "{}");
        assert_eq!(queue_message(SqsMessage::default()).receive_count, 1);
    }
}
