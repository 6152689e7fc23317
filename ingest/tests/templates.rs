//! A Firehose stream partitioned by tenant (dynamic partitioning writes `tenant=acme/` into
//! the object keys) fans out into one index per tenant: a prefix rule with a `*` routes each
//! object by its partition, and an index template creates each tenant's index on first sight,
//! in the same serialized batches; each index holds exactly its tenant's records. Once on
//! local disk through the batch core, once as the stack runs it (S3, EventBridge events on a
//! FIFO queue, the poll-mode indexer) on moto.

use hydrant_index::template::IndexTemplate;
use hydrant_ingest::ObjectRef;
use hydrant_ingest::batch::QueueMessage;
use hydrant_ingest::testing::{LocalIndex, STAGING_BUCKET};

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const OBJECTS: usize = 20;

/// The stream's objects (key under its tenant's partition, NDJSON body), round robin over
/// the tenants with 10, 11, ... records, and the records each tenant should end with.
fn tenant_objects() -> (
    Vec<(String, String)>,
    std::collections::BTreeMap<&'static str, u64>,
) {
    let mut expected = std::collections::BTreeMap::new();
    let objects = (0..OBJECTS)
        .map(|number| {
            let tenant = TENANTS[number % TENANTS.len()];
            let records = 10 + number as u64;
            *expected.entry(tenant).or_default() += records;
            let body: String = (0..records)
                .map(|n| format!("{{\"tenant\": \"{tenant}\", \"n\": {n}}}\n"))
                .collect();
            let key = format!("firehose/tenant={tenant}/2026/12/02/03/stream-1-{number:03}.json");
            (key, body)
        })
        .collect();
    (objects, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_objects_fan_out_into_one_index_per_tenant() {
    let local = LocalIndex::new().await;
    let template = IndexTemplate::from_yaml(
        r#"
template_id: tenant-logs
index_id_patterns: [logs-*]
doc_mapping:
  mode: dynamic
  field_mappings:
    - {name: tenant, type: text, tokenizer: raw, fast: true}
    - {name: n, type: u64, fast: true}
"#,
    )
    .unwrap();
    local.metastore.create_template(template).await.unwrap();
    let runtime = local
        .runtime(vec![(
            format!("{STAGING_BUCKET}/firehose/tenant=*/"),
            "logs-*".to_string(),
        )])
        .await;

    let (objects, expected) = tenant_objects();
    let mut messages = Vec::new();
    for (key, body) in objects {
        local.put_object(&key, body.into_bytes()).await;
        messages.push(QueueMessage::backfill(
            &ObjectRef::new(STAGING_BUCKET, key),
            None,
        ));
    }
    // FIFO batches of ten, as the queue delivers them.
    for batch in messages.chunks(10) {
        let outcome = runtime.run_batch(batch, None).await;
        assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
        assert!(outcome.set_aside.is_empty(), "{:?}", outcome.set_aside);
    }

    let index_ids = local.metastore.list_index_ids().await.unwrap();
    let expected_ids: Vec<String> = TENANTS.iter().map(|t| format!("logs-{t}")).collect();
    assert_eq!(index_ids, expected_ids);
    for (tenant, records) in expected {
        let index_id = format!("logs-{tenant}");
        assert_eq!(local.published_docs(&index_id).await, records, "{index_id}");
    }
    // Redelivered, nothing is indexed twice.
    let outcome = runtime.run_batch(&messages[..10], None).await;
    assert_eq!(outcome.num_docs, 0);
    assert_eq!(outcome.num_objects_already_indexed, 10);
}

/// The same stream as the stack runs it, on moto: objects land in an S3 staging bucket, their
/// EventBridge `Object Created` events reach a FIFO queue, and the poll-mode indexer (the
/// Lambda's batch core) drains it into indexes on S3, creating one per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_stream_fans_out_through_s3_and_sqs() {
    use aws_sdk_sqs::types::QueueAttributeName;
    use hydrant_ingest::batch::IndexerRuntime;
    use hydrant_ingest::queue::{Poller, sqs_client};
    use hydrant_ingest::testing::eventbridge_body;
    use hydrant_ingest::{Indexer, StagingBuckets};
    use hydrant_metastore::Metastore;
    use hydrant_storage::testing::{moto_bucket, moto_endpoint, moto_s3_config};
    use hydrant_storage::{PutMode, StorageResolver, StorageUri};
    use std::time::{Duration, Instant};

    let (_, bucket) = moto_bucket("tenants").await;
    let resolver = StorageResolver::new(moto_s3_config());
    let storage_at = |prefix: &str| StorageUri::S3 {
        bucket: bucket.clone(),
        prefix: prefix.to_string(),
    };
    let staging = resolver.resolve(&storage_at("")).await.unwrap();
    let metastore = Metastore::new(resolver.resolve(&storage_at("index")).await.unwrap());
    metastore
        .create_template(
            IndexTemplate::from_yaml(
                "template_id: tenant-logs\nindex_id_patterns: [logs-*]\ndoc_mapping:\n  \
                 field_mappings:\n    - {name: tenant, type: text, tokenizer: raw}\n    - \
                 {name: n, type: u64}\n",
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let runtime = IndexerRuntime::new(
        Indexer::new(metastore.clone(), StagingBuckets::new(resolver)),
        vec![(format!("{bucket}/firehose/tenant=*/"), "logs-*".to_string())],
    )
    .await
    .unwrap();

    let sqs = sqs_client(Some(&moto_endpoint())).await;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("tenants-{}.fifo", &bucket[bucket.len() - 8..]))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let (objects, expected) = tenant_objects();
    let mut keys = Vec::new();
    for (key, body) in objects {
        staging
            .put(&key, body.into_bytes().into(), PutMode::Create)
            .await
            .unwrap();
        keys.push(key);
    }
    // Every event twice (a redelivery), in one message group as the stack's pattern route
    // sends them: the group is the index id pattern, which the template's pattern matches but
    // which no index can be named, so the prefix rule routes each object.
    for (round, key) in keys.iter().chain(keys.iter()).enumerate() {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_group_id("logs-*")
            .message_deduplication_id(format!("{round}"))
            .message_body(eventbridge_body(&bucket, key))
            .send()
            .await
            .unwrap();
    }
    let poller = Poller {
        client: sqs.clone(),
        queue_url: queue_url.clone(),
        runtime: &runtime,
        visibility_timeout: Duration::from_secs(30),
        wait_time: Duration::from_secs(1),
        retry_backoff: Duration::from_secs(1),
        batch_size: 10,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut drained = 0;
    while drained < 2 * OBJECTS {
        assert!(Instant::now() < deadline, "the queue did not drain");
        if let Some(outcome) = poller.poll_once().await.unwrap() {
            assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
            assert!(outcome.set_aside.is_empty(), "{:?}", outcome.set_aside);
            drained += outcome.num_messages;
        }
    }

    let expected_ids: Vec<String> = TENANTS.iter().map(|t| format!("logs-{t}")).collect();
    assert_eq!(metastore.list_index_ids().await.unwrap(), expected_ids);
    for (tenant, records) in expected {
        let index_id = format!("logs-{tenant}");
        let metadata = metastore.index_metadata(&index_id).await.unwrap();
        assert_eq!(metadata.num_published_docs(), records, "{index_id}");
    }
}
