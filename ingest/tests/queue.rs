//! Backfill into an SQS FIFO queue and poll-mode indexing, against moto (S3 and SQS).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use hydrant_ingest::batch::IndexerRuntime;
use hydrant_ingest::queue::{Poller, backfill, sqs_client};
use hydrant_ingest::{Indexer, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_metastore::index_config::IndexConfig;
use hydrant_metastore::storage::{PutMode, StorageResolver, StorageUri};
use hydrant_metastore::testing::{moto_endpoint, moto_s3_config};

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
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string();
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
async fn backfill_then_poll_indexes_everything_once_and_poison_goes_to_the_dlq() {
    let (_, bucket) = hydrant_metastore::testing::moto_bucket("queue").await;
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
    let report = backfill(
        &staging,
        &bucket,
        "firehose/",
        &client,
        &queue_url,
        "queued",
        |sent, total| progress.push((sent, total)),
    )
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

    // Backfilling again indexes nothing twice (SQS deduplication or the checkpoint).
    backfill(
        &staging,
        &bucket,
        "firehose/",
        &client,
        &queue_url,
        "queued",
        |_, _| {},
    )
    .await
    .unwrap();
    while poller.poll_once().await.unwrap().is_some() {}
    assert_eq!(
        metastore
            .index_metadata("queued")
            .await
            .unwrap()
            .num_published_docs(),
        200
    );

    // A poison message fails, comes back, and ends in the dead-letter queue.
    client
        .send_message()
        .queue_url(&queue_url)
        .message_body("{\"not\": \"an event\"}")
        .message_group_id("queued")
        .message_deduplication_id("poison")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the poison message never reached the DLQ"
        );
        if let Some(outcome) = poller.poll_once().await.unwrap() {
            assert_eq!(outcome.failed_message_ids.len(), 1);
        }
        if approximate_messages(&client, &dlq_url).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        metastore
            .index_metadata("queued")
            .await
            .unwrap()
            .num_published_docs(),
        200
    );
}
