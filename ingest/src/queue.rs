//! The indexing queue without Lambda: polling it (for containers, and for end-to-end tests
//! against moto) and backfilling it with existing staging objects.
//!
//! The poller runs the same [`IndexerRuntime::run_batch`] as the Lambda handler and acts on
//! the outcome as Lambda's event source mapping does with `ReportBatchItemFailures`:
//! successful messages are deleted, failed ones stay in the queue and come back after a
//! backoff, until the redrive policy moves a poison message to the dead-letter queue.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use hydrant_metastore::ShardId;
use hydrant_metastore::shard::{
    message_group, parse_message_group, shard_for, validate_num_shards,
};
use hydrant_storage::SharedStorage;
use hydrant_storage::aws_env::{SdkSettings, load_sdk_config};
use serde_json::json;
use tracing::warn;

use crate::batch::{BatchOutcome, IndexerRuntime, QueueMessage};
use crate::error::{IngestError, Result};

/// Messages per receive and per send (the SQS maximum).
const SQS_BATCH_SIZE: usize = 10;

/// Builds an SQS client from the AWS environment, optionally pointed at a local endpoint with
/// static test credentials. Every request is bounded in time: a receive long-polls for up to
/// 20 s, so an answer may take that long, and no longer than 30 s.
pub async fn sqs_client(endpoint: Option<&str>) -> Client {
    let timeouts = aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(90))
        .build();
    let mut settings = SdkSettings {
        timeouts: Some(timeouts),
        ..SdkSettings::for_service("SQS")
    };
    if let Some(endpoint) = endpoint {
        settings.endpoint = Some(endpoint.to_string());
        settings.region = Some("us-east-1".to_string());
        settings.credentials = Some(Credentials::new("testing", "testing", None, None, "static"));
    }
    Client::new(&load_sdk_config(settings).await)
}

fn queue_error(context: &str, error: impl std::fmt::Display) -> IngestError {
    IngestError::Queue(format!("{context}: {error}"))
}

/// Polls an SQS queue and indexes what arrives.
pub struct Poller<'a> {
    pub client: Client,
    pub queue_url: String,
    pub runtime: &'a IndexerRuntime,
    /// How long a received message stays invisible; a batch must finish well within it.
    pub visibility_timeout: Duration,
    /// Long-polling wait per receive.
    pub wait_time: Duration,
    /// A failed message becomes visible again after this, doubled with every delivery (capped
    /// by the visibility timeout), instead of after the whole visibility timeout.
    pub retry_backoff: Duration,
    /// Messages per receive, 1 to 10 (Lambda's FIFO event source sends up to 10).
    pub batch_size: usize,
}

impl Poller<'_> {
    /// Receives one batch (waiting up to `wait_time`), processes it, deletes what succeeded.
    /// Returns `None` when the queue had nothing.
    pub async fn poll_once(&self) -> Result<Option<BatchOutcome>> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, SQS_BATCH_SIZE) as i32)
            .wait_time_seconds(self.wait_time.as_secs() as i32)
            .visibility_timeout(self.visibility_timeout.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|error| {
                queue_error(
                    "cannot receive messages",
                    aws_sdk_sqs::error::DisplayErrorContext(error),
                )
            })?;
        let sqs_messages = received.messages.unwrap_or_default();
        if sqs_messages.is_empty() {
            return Ok(None);
        }
        let mut messages = Vec::with_capacity(sqs_messages.len());
        let mut receipts = Vec::with_capacity(sqs_messages.len());
        for message in sqs_messages {
            let attributes = message.attributes.unwrap_or_default();
            let receive_count: u32 = attributes
                .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            messages.push(QueueMessage {
                message_id: message.message_id.unwrap_or_default(),
                group_id: attributes
                    .get(&MessageSystemAttributeName::MessageGroupId)
                    .cloned(),
                body: message.body.unwrap_or_default(),
                receive_count,
            });
            receipts.push((message.receipt_handle.unwrap_or_default(), receive_count));
        }
        // Finish before the messages become visible to another consumer.
        let deadline = Instant::now() + self.visibility_timeout.mul_f64(0.8);
        let outcome = self.runtime.run_batch(&messages, Some(deadline)).await;
        self.delete_succeeded(&messages, &receipts, &outcome)
            .await?;
        self.back_off_failed(&messages, &receipts, &outcome).await;
        Ok(Some(outcome))
    }

    /// Deletes the messages the batch did not report failed, as the event source mapping does.
    async fn delete_succeeded(
        &self,
        messages: &[QueueMessage],
        receipts: &[(String, u32)],
        outcome: &BatchOutcome,
    ) -> Result<()> {
        let succeeded: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .zip(receipts)
            .enumerate()
            .filter(|(_, (message, _))| !outcome.failed_message_ids.contains(&message.message_id))
            .map(|(position, (_, (receipt, _)))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(position.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        if !succeeded.is_empty() {
            self.client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(succeeded))
                .send()
                .await
                .map_err(|error| {
                    queue_error(
                        "cannot delete processed messages",
                        aws_sdk_sqs::error::DisplayErrorContext(error),
                    )
                })?;
        }
        Ok(())
    }

    /// Makes failed messages visible again after a backoff that grows with their receive
    /// count, instead of after the whole visibility timeout.
    async fn back_off_failed(
        &self,
        messages: &[QueueMessage],
        receipts: &[(String, u32)],
        outcome: &BatchOutcome,
    ) {
        for (message, (receipt, receive_count)) in messages.iter().zip(receipts) {
            if !outcome.failed_message_ids.contains(&message.message_id) {
                continue;
            }
            // Back off exponentially with the receive count instead of waiting for the whole
            // visibility timeout.
            let backoff = self
                .retry_backoff
                .saturating_mul(1u32 << receive_count.saturating_sub(1).min(6))
                .min(self.visibility_timeout);
            let backoff_secs = backoff.as_secs();
            if let Err(error) = self
                .client
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(backoff_secs as i32)
                .send()
                .await
            {
                let error = aws_sdk_sqs::error::DisplayErrorContext(error);
                warn!(message_id = message.message_id, %error, "cannot shorten visibility");
            }
        }
    }

    /// Polls until `shutdown` completes, logging a summary line per batch.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            let outcome = tokio::select! {
                () = &mut shutdown => return Ok(()),
                outcome = self.poll_once() => outcome,
            };
            match outcome {
                Ok(Some(outcome)) => outcome.log_summary(),
                Ok(None) => {}
                Err(error) => {
                    warn!(%error, "polling failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }
}

/// The `maxReceiveCount` of a queue's redrive policy, if it has one: what
/// [`IndexerRuntime::with_max_receive_count`] needs to send a failing message to the
/// dead-letter queue alone.
pub async fn max_receive_count(client: &Client, queue_url: &str) -> Result<Option<u32>> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|error| {
            queue_error(
                "cannot read the queue's redrive policy",
                aws_sdk_sqs::error::DisplayErrorContext(error),
            )
        })?;
    let Some(policy) = attributes.attributes().and_then(|attributes| {
        attributes.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
    }) else {
        return Ok(None);
    };
    let policy: serde_json::Value = serde_json::from_str(policy)
        .map_err(|error| queue_error("the queue's redrive policy is not JSON", error))?;
    // SQS writes it as a number; CloudFormation templates often as a string.
    let count = match &policy["maxReceiveCount"] {
        serde_json::Value::Number(number) => number.as_u64(),
        serde_json::Value::String(text) => text.parse().ok(),
        _ => None,
    };
    Ok(count.and_then(|count| u32::try_from(count).ok()))
}

/// What a backfill sends: the objects under `prefix` of the staging `bucket`, to the shards of
/// `index_id`.
#[derive(Debug, Clone, Copy)]
pub struct Backfill<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub index_id: &'a str,
    /// The index's shard count (a power of two): each object goes to its shard's message group,
    /// the group the stack's rules route its events to.
    pub num_shards: u32,
}

/// What a backfill sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackfillReport {
    pub objects_listed: usize,
    pub messages_sent: usize,
    /// Messages sent per shard.
    pub messages_per_shard: BTreeMap<ShardId, usize>,
}

/// Sends one message per staging object of `request` to a FIFO queue: group the object's shard
/// ([`message_group`]), deduplication id from key and etag (so a repeated backfill within
/// SQS's five minutes sends nothing twice, and the checkpoint covers the rest).
pub async fn backfill(
    staging: &SharedStorage,
    request: &Backfill<'_>,
    client: &Client,
    queue_url: &str,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<BackfillReport> {
    validate_num_shards(request.num_shards).map_err(IngestError::Config)?;
    let objects = staging.list(request.prefix).await?;
    let mut report = BackfillReport {
        objects_listed: objects.len(),
        ..BackfillReport::default()
    };
    on_progress(0, objects.len());
    for chunk in objects.chunks(SQS_BATCH_SIZE) {
        let mut pending: Vec<SendMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(position, object)| backfill_entry(request, position, object))
            .collect();
        for attempt in 0..3 {
            let sent = client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(pending.clone()))
                .send()
                .await
                .map_err(|error| {
                    queue_error(
                        "cannot send messages",
                        aws_sdk_sqs::error::DisplayErrorContext(error),
                    )
                })?;
            let failed: Vec<String> = sent
                .failed()
                .iter()
                .map(|failure| failure.id().to_string())
                .collect();
            report.messages_sent += pending.len() - failed.len();
            for entry in pending
                .iter()
                .filter(|entry| !failed.iter().any(|id| id == entry.id()))
            {
                let (_, shard) = parse_message_group(entry.message_group_id().unwrap_or_default());
                *report.messages_per_shard.entry(shard).or_default() += 1;
            }
            pending.retain(|entry| failed.iter().any(|id| id == entry.id()));
            if pending.is_empty() {
                break;
            }
            if attempt == 2 {
                return Err(IngestError::Queue(format!(
                    "{} messages were refused three times; the first: {:?}",
                    pending.len(),
                    sent.failed()
                        .first()
                        .map(|failure| failure.message().unwrap_or_default().to_string())
                )));
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        on_progress(report.messages_sent, objects.len());
    }
    Ok(report)
}

/// The message of one staging object: its key and etag, to its shard's group.
fn backfill_entry(
    request: &Backfill<'_>,
    position: usize,
    object: &hydrant_storage::ObjectMeta,
) -> SendMessageBatchRequestEntry {
    let etag = object.version.0.trim_matches('"');
    let shard = shard_for(&object.path, request.num_shards);
    let body = json!({
        "bucket": request.bucket,
        "key": object.path,
        "etag": etag,
        "index_id": request.index_id,
    });
    SendMessageBatchRequestEntry::builder()
        .id(position.to_string())
        .message_body(body.to_string())
        .message_group_id(message_group(request.index_id, shard))
        .message_deduplication_id(deduplication_id(&object.path, etag))
        .build()
        .expect("id and body are set")
}

/// At most 128 characters of `[A-Za-z0-9-]`, stable for a key and etag.
fn deduplication_id(key: &str, etag: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let etag: String = etag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(100)
        .collect();
    format!("{hash:016x}-{etag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deduplication_ids_are_stable_and_valid() {
        let id = deduplication_id(
            "2026/11/22/19/object",
            "\"9b2cf535f27731c974343645a3985328-2\"",
        );
        assert_eq!(
            id,
            deduplication_id(
                "2026/11/22/19/object",
                "\"9b2cf535f27731c974343645a3985328-2\""
            )
        );
        assert!(
            id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{id}"
        );
        assert_ne!(
            id,
            deduplication_id("2026/11/22/19/other", "9b2cf535f27731c974343645a3985328-2")
        );
    }
}
