//! Backfill into an SQS FIFO queue and poll-mode indexing, against moto (S3 and SQS), with the
//! stack's redrive policy (`maxReceiveCount` 5): poison messages are set aside wherever they are
//! in their group, and a message that keeps failing reaches the dead-letter queue alone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::IndexerRuntime;
use hydrant_ingest::queue::{Backfill, Poller, backfill, max_receive_count, sqs_client};
use hydrant_ingest::{Indexer, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, Operation};
use hydrant_storage::testing::{moto_endpoint, moto_s3_config};
use hydrant_storage::{PutMode, SharedStorage, Storage, StorageResolver, StorageUri};

/// The stack's redrive policy (infra/template.yaml).
const MAX_RECEIVE_COUNT: u32 = 5;

const CONFIG: &str = "index_id: queued\ndoc_mapping:\n  field_mappings:\n    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}\n    - {name: n, type: u64}\n  timestamp_field: ts\n";

async fn fifo_queue_with_dlq(client: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_string();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
            .to_string();
    let queue = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap();
    (queue.queue_url().unwrap().to_string(), dlq_url)
}

async fn approximate_messages(client: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    let attributes: HashMap<QueueAttributeName, String> = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    let visible: u64 = attributes[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .unwrap();
    let in_flight: u64 = attributes[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
        .parse()
        .unwrap();
    visible + in_flight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_poll_indexes_everything_once() {
    let (_, bucket) = hydrant_storage::testing::moto_bucket("queue").await;
    let resolver = StorageResolver::new(moto_s3_config());
    let staging = resolver
        .resolve(&StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: String::new(),
        })
        .await
        .unwrap();
    for object in 0..25u64 {
        let body: String = (0..8)
            .map(|i| format!("{{\"ts\":{},\"n\":{i}}}\n", 1_700_000_000 + object * 10 + i))
            .collect();
        staging
            .put(
                &format!("firehose/2026/11/22/19/object-{object:02}"),
                body.into_bytes().into(),
                PutMode::Create,
            )
            .await
            .unwrap();
    }
    let index_storage = resolver
        .resolve(&StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: "index".into(),
        })
        .await
        .unwrap();
    let metastore = Metastore::new(index_storage);
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let runtime = IndexerRuntime::new(
        Indexer::new(metastore.clone(), StagingBuckets::new(resolver)),
        Vec::new(),
    )
    .await
    .unwrap();

    let client = sqs_client(Some(&moto_endpoint())).await;
    let (queue_url, dlq_url) = fifo_queue_with_dlq(
        &client,
        &format!("indexing-{}", &bucket[bucket.len() - 8..]),
    )
    .await;
    let mut progress = Vec::new();
    let one_shard = Backfill {
        bucket: &bucket,
        prefix: "firehose/",
        index_id: "queued",
        num_shards: 1,
    };
    let report = backfill(&staging, &one_shard, &client, &queue_url, |sent, total| {
        progress.push((sent, total))
    })
    .await
    .unwrap();
    assert_eq!((report.objects_listed, report.messages_sent), (25, 25));
    assert_eq!(progress.last(), Some(&(25, 25)));

    let poller = Poller {
        client: client.clone(),
        queue_url: queue_url.clone(),
        runtime: &runtime,
        visibility_timeout: Duration::from_secs(30),
        wait_time: Duration::from_secs(1),
        retry_backoff: Duration::from_secs(1),
        batch_size: 10,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while approximate_messages(&client, &queue_url).await > 0 {
        assert!(Instant::now() < deadline, "the queue did not drain");
        poller.poll_once().await.unwrap();
    }
    assert_eq!(
        metastore
            .index_metadata("queued")
            .await
            .unwrap()
            .num_published_docs(),
        200
    );

    // Backfilling again indexes nothing twice (SQS deduplication or the checkpoint), even
    // over 4 shards (the shard count raised since): each shard looks the objects up in every
    // shard they may have been indexed in before.
    let four_shards = Backfill {
        num_shards: 4,
        ..one_shard
    };
    let report = backfill(&staging, &four_shards, &client, &queue_url, |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.messages_per_shard.values().sum::<usize>(), 25);
    assert!(report.messages_per_shard.len() > 1, "{report:?}");
    while poller.poll_once().await.unwrap().is_some() {}
    assert_eq!(
        metastore
            .index_metadata("queued")
            .await
            .unwrap()
            .num_published_docs(),
        200
    );

    assert_eq!(approximate_messages(&client, &dlq_url).await, 0);
}

/// A bucket with staging objects, an index, a FIFO queue with the stack's DLQ, and a runtime
/// reading staging through a storage that can be told to fail.
struct QueueSetup {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
    bucket: String,
    staging: Arc<FaultyStorage>,
    metastore: Metastore,
    runtime: IndexerRuntime,
}

async fn queue_setup(name: &str) -> QueueSetup {
    let (_, bucket) = hydrant_storage::testing::moto_bucket(name).await;
    let resolver = StorageResolver::new(moto_s3_config());
    let s3_staging: SharedStorage = resolver
        .resolve(&StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: String::new(),
        })
        .await
        .unwrap();
    let staging = Arc::new(FaultyStorage::new(s3_staging));
    let index_storage = resolver
        .resolve(&StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: "index".into(),
        })
        .await
        .unwrap();
    let metastore = Metastore::new(index_storage);
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let client = sqs_client(Some(&moto_endpoint())).await;
    let (queue_url, dlq_url) =
        fifo_queue_with_dlq(&client, &format!("{name}-{}", &bucket[bucket.len() - 8..])).await;
    let runtime = IndexerRuntime::new(
        Indexer::new(
            metastore.clone(),
            StagingBuckets::new(resolver).bind_storage(bucket.clone(), staging.clone()),
        ),
        Vec::new(),
    )
    .await
    .unwrap()
    .with_max_receive_count(max_receive_count(&client, &queue_url).await.unwrap());
    QueueSetup {
        client,
        queue_url,
        dlq_url,
        bucket,
        staging,
        metastore,
        runtime,
    }
}

impl QueueSetup {
    /// Puts an object of 8 records and returns the EventBridge body announcing it.
    async fn object(&self, key: &str) -> String {
        let body: String = (0..8)
            .map(|i| format!("{{\"ts\":{},\"n\":{i}}}\n", 1_700_000_000 + i))
            .collect();
        self.staging
            .put(key, body.into_bytes().into(), PutMode::Create)
            .await
            .unwrap();
        event_body(&self.bucket, key)
    }

    /// Sends `bodies` to one message group, in order.
    async fn send(&self, bodies: &[String]) {
        let entries: Vec<SendMessageBatchRequestEntry> = bodies
            .iter()
            .enumerate()
            .map(|(position, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(position.to_string())
                    .message_body(body)
                    .message_group_id("queued")
                    .message_deduplication_id(format!("{position}-{}", uuid_like(body)))
                    .build()
                    .unwrap()
            })
            .collect();
        let sent = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(sent.failed().is_empty());
    }

    /// Polls until the queue is empty (bounded), as the event source mapping would, with
    /// failed messages visible again at once.
    async fn drain(&self) -> Vec<hydrant_ingest::batch::BatchOutcome> {
        let poller = Poller {
            client: self.client.clone(),
            queue_url: self.queue_url.clone(),
            runtime: &self.runtime,
            visibility_timeout: Duration::from_secs(30),
            wait_time: Duration::from_secs(1),
            retry_backoff: Duration::ZERO,
            batch_size: 10,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut outcomes = Vec::new();
        while approximate_messages(&self.client, &self.queue_url).await > 0 {
            assert!(Instant::now() < deadline, "the queue did not drain");
            if let Some(outcome) = poller.poll_once().await.unwrap() {
                outcomes.push(outcome);
            }
        }
        outcomes
    }

    async fn published_docs(&self) -> u64 {
        self.metastore
            .index_metadata("queued")
            .await
            .unwrap()
            .num_published_docs()
    }

    /// Bodies of the dead-letter queue's messages (moto moves them there on a later receive
    /// of the main queue, which `drain` has done).
    async fn dead_letters(&self) -> Vec<String> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received
            .messages()
            .iter()
            .filter_map(|message| message.body().map(str::to_string))
            .collect()
    }
}

fn event_body(bucket: &str, key: &str) -> String {
    serde_json::json!({
        "version": "0", "id": uuid_like(key), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 1},
                   "request-id": "r", "requester": "firehose", "reason": "PutObject"}
    })
    .to_string()
}

fn uuid_like(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Poison first, in the middle, last: nine good objects indexed every time, nothing in the
/// dead-letter queue, the poison message recorded whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_anywhere_in_a_group_starves_nobody() {
    let poisons = [
        (0, "{\"not\": \"an event\"}".to_string()),
        (5, String::new()), // filled below: an object that does not exist
        (9, "\u{1f}\u{8b} garbage".to_string()),
    ];
    for (position, poison) in poisons {
        let setup = queue_setup(&format!("poison-{position}")).await;
        let mut bodies = Vec::new();
        for number in 0..9 {
            bodies.push(
                setup
                    .object(&format!("2026/12/01/10/object-{number}"))
                    .await,
            );
        }
        let poison = if poison.is_empty() {
            event_body(&setup.bucket, "2026/12/01/10/never-written")
        } else {
            poison
        };
        bodies.insert(position, poison.clone());
        setup.send(&bodies).await;
        let outcomes = setup.drain().await;
        let context = format!("poison at {position}");
        assert_eq!(setup.published_docs().await, 9 * 8, "{context}");
        let set_aside: Vec<_> = outcomes
            .iter()
            .flat_map(|outcome| &outcome.set_aside)
            .collect();
        assert_eq!(set_aside.len(), 1, "{context}");
        let record = setup
            .metastore
            .storage()
            .get(&set_aside[0].record)
            .await
            .unwrap();
        let record: serde_json::Value = serde_json::from_slice(&record.bytes).unwrap();
        assert_eq!(record["body"], poison, "{context}: kept whole");
        assert!(
            outcomes
                .iter()
                .all(|outcome| outcome.failed_message_ids.is_empty()),
            "{context}: nothing is retried"
        );
        assert!(setup.dead_letters().await.is_empty(), "{context}");
    }
}

/// A message whose object keeps failing to download (a 5xx every time) is retried, reaches the
/// dead-letter queue on its fifth failure, and alone: the messages behind it are indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_reaches_the_dlq_alone() {
    let setup = queue_setup("keeps-failing").await;
    let mut bodies = Vec::new();
    for number in 0..10 {
        bodies.push(
            setup
                .object(&format!("2026/12/01/10/object-{number}"))
                .await,
        );
    }
    setup.staging.inject(
        FaultRule::new(Operation::Read, Fault::Unavailable)
            .path_contains("object-3")
            .times(u64::MAX),
    );
    setup.send(&bodies).await;
    let outcomes = setup.drain().await;
    assert_eq!(setup.published_docs().await, 9 * 8);
    let dead_lettered: Vec<_> = outcomes
        .iter()
        .flat_map(|outcome| &outcome.dead_lettered)
        .collect();
    assert_eq!(dead_lettered.len(), 1);
    assert!(
        dead_lettered[0].reason.contains("object-3"),
        "{}",
        dead_lettered[0].reason
    );
    let dead_letters = setup.dead_letters().await;
    assert_eq!(
        dead_letters,
        [bodies[3].clone()],
        "only the failing message"
    );
    // Delivered five times: the first four failures kept FIFO order behind it.
    let failures = outcomes
        .iter()
        .filter(|outcome| outcome.failure.is_some())
        .count();
    assert_eq!(failures, MAX_RECEIVE_COUNT as usize - 1);
}
