//! Queue batches with SQS FIFO semantics: partial failures, redeliveries, deadlines, routing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::testing::{LocalIndex, STAGING_BUCKET};
use hydrant_ingest::{Indexer, StagingBuckets};
use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, Operation};
use hydrant_storage::{PutMode, SharedStorage, Storage};

fn config(index_id: &str) -> IndexConfig {
    IndexConfig::from_yaml(&format!(
        "index_id: {index_id}\ndoc_mapping:\n  field_mappings:\n    - {{name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}}\n    - {{name: n, type: u64}}\n  timestamp_field: ts\n"
    ))
    .unwrap()
}

struct Setup {
    _local: LocalIndex,
    staging: SharedStorage,
    runtime: IndexerRuntime,
}

async fn setup(indexes: &[&str], prefix_rules: Vec<(String, String)>) -> Setup {
    let local = LocalIndex::new().await;
    for index_id in indexes {
        local
            .metastore
            .create_index(config(index_id))
            .await
            .unwrap();
    }
    Setup {
        staging: local.staging.clone(),
        runtime: local.runtime(prefix_rules).await,
        _local: local,
    }
}

/// Puts an object of `count` records and returns a backfill-style message for it.
async fn object_message(setup: &Setup, key: &str, count: u64, group: &str) -> QueueMessage {
    let body: String = (0..count)
        .map(|i| format!("{{\"ts\":{},\"n\":{i}}}\n", 1_700_000_000 + i))
        .collect();
    setup
        .staging
        .put(key, body.into_bytes().into(), PutMode::Overwrite)
        .await
        .unwrap();
    message(&format!(r#"{{"bucket":"staging","key":"{key}"}}"#), group)
}

fn message(body: &str, group: &str) -> QueueMessage {
    QueueMessage::new(
        format!("id-{}", uuid_like(body)),
        Some(group.to_string()),
        body,
    )
}

fn uuid_like(text: &str) -> String {
    format!(
        "{:016x}",
        text.bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ byte as u64)
                .wrapping_mul(0x100_0000_01b3))
    )
}

async fn published_docs(setup: &Setup, index_id: &str) -> u64 {
    setup
        .runtime
        .indexer()
        .metastore()
        .index_metadata(index_id)
        .await
        .unwrap()
        .num_published_docs()
}

#[tokio::test]
async fn a_missing_object_is_set_aside_and_the_rest_indexed() {
    let setup = setup(&["logs"], Vec::new()).await;
    let mut messages = Vec::new();
    for number in 0..5 {
        messages.push(object_message(&setup, &format!("object-{number}"), 10, "logs").await);
    }
    // The third message names an object that does not exist, and never will.
    messages[2] = message(r#"{"bucket":"staging","key":"missing"}"#, "logs");
    let outcome = setup.runtime.run_batch(&messages, None).await;
    assert!(
        outcome.failed_message_ids.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.num_docs, 40);
    assert_eq!(published_docs(&setup, "logs").await, 40);
    assert_eq!(outcome.set_aside.len(), 1);
    let set_aside = &outcome.set_aside[0];
    assert_eq!(set_aside.message_id, messages[2].message_id);
    assert!(set_aside.reason.contains("missing"), "{}", set_aside.reason);
    let record = set_aside_record(&setup, &set_aside.record).await;
    assert!(
        set_aside
            .record
            .starts_with("indexes/logs/errors/set-aside/")
    );
    assert_eq!(record["body"], messages[2].body);
    assert_eq!(record["object"]["key"], "missing");
    assert_eq!(set_aside.index_id.as_deref(), Some("logs"));
    assert_eq!(outcome.by_index()["logs"].messages_set_aside, 1);
}

#[tokio::test]
async fn a_transient_failure_fails_its_message_and_everything_after() {
    let (setup, staging) = setup_with_faulty_staging().await;
    let mut messages = Vec::new();
    for number in 0..5 {
        messages.push(object_message(&setup, &format!("object-{number}"), 10, "logs").await);
    }
    staging.inject(
        FaultRule::new(Operation::Read, Fault::Unavailable)
            .path_contains("object-2")
            .times(u64::MAX),
    );
    let outcome = setup.runtime.run_batch(&messages, None).await;
    let expected: Vec<String> = messages[2..]
        .iter()
        .map(|message| message.message_id.clone())
        .collect();
    assert_eq!(outcome.failed_message_ids, expected);
    assert!(outcome.failure_reason().unwrap().contains("object-2"));
    assert!(outcome.set_aside.is_empty());
    assert_eq!(published_docs(&setup, "logs").await, 20);
}

/// On its last delivery, a message that still fails is reported alone, and the messages
/// behind it are indexed instead of following it into the dead-letter queue.
#[tokio::test]
async fn a_message_failing_on_its_last_delivery_goes_alone() {
    let (setup, staging) = setup_with_faulty_staging().await;
    let runtime = setup.runtime.with_max_receive_count(Some(5));
    let mut messages = Vec::new();
    for number in 0..4 {
        let mut message =
            object_message_in(&staging, &format!("object-{number}"), 10, "logs").await;
        message.receive_count = 5;
        messages.push(message);
    }
    staging.inject(
        FaultRule::new(Operation::Read, Fault::Unavailable)
            .path_contains("object-1")
            .times(u64::MAX),
    );
    let outcome = runtime.run_batch(&messages, None).await;
    assert_eq!(outcome.failed_message_ids, [messages[1].message_id.clone()]);
    assert_eq!(outcome.dead_lettered.len(), 1);
    assert!(outcome.failure.is_none());
    assert_eq!(outcome.num_docs, 30);
    // Earlier deliveries keep FIFO order: the failure and everything after are redelivered.
    for message in &mut messages {
        message.receive_count = 4;
    }
    let outcome = runtime.run_batch(&messages, None).await;
    assert_eq!(outcome.failed_message_ids.len(), 3);
}

async fn set_aside_record(setup: &Setup, path: &str) -> serde_json::Value {
    let storage = setup.runtime.indexer().metastore().storage();
    serde_json::from_slice(&storage.get(path).await.unwrap().bytes).unwrap()
}

/// A runtime whose staging bucket fails reads on demand.
async fn setup_with_faulty_staging() -> (Setup, Arc<FaultyStorage>) {
    let local = LocalIndex::new().await;
    let faulty = Arc::new(FaultyStorage::new(local.staging.clone()));
    local.metastore.create_index(config("logs")).await.unwrap();
    let indexer = Indexer::new(
        local.metastore.clone(),
        StagingBuckets::default().bind_storage(STAGING_BUCKET, faulty.clone()),
    );
    let runtime = IndexerRuntime::new(indexer, Vec::new()).await.unwrap();
    let setup = Setup {
        _local: local,
        staging: faulty.clone(),
        runtime,
    };
    (setup, faulty)
}

async fn object_message_in(
    staging: &Arc<FaultyStorage>,
    key: &str,
    count: u64,
    group: &str,
) -> QueueMessage {
    let body: String = (0..count)
        .map(|i| format!("{{\"ts\":{},\"n\":{i}}}\n", 1_700_000_000 + i))
        .collect();
    staging
        .put(key, body.into_bytes().into(), PutMode::Overwrite)
        .await
        .unwrap();
    message(&format!(r#"{{"bucket":"staging","key":"{key}"}}"#), group)
}

#[tokio::test]
async fn a_poison_body_is_set_aside_whole() {
    let setup = setup(&["logs"], Vec::new()).await;
    let messages = vec![
        object_message(&setup, "a", 5, "logs").await,
        message("this is not an event", "logs"),
        object_message(&setup, "b", 5, "logs").await,
    ];
    let outcome = setup.runtime.run_batch(&messages, None).await;
    assert!(
        outcome.failed_message_ids.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.set_aside.len(), 1);
    assert!(
        outcome.set_aside[0]
            .reason
            .contains("unrecognized message body")
    );
    let record = set_aside_record(&setup, &outcome.set_aside[0].record).await;
    assert_eq!(record["body"], "this is not an event");
    assert_eq!(record["group_id"], "logs");
    assert_eq!(published_docs(&setup, "logs").await, 10);
}

#[tokio::test]
async fn redelivery_and_replay_change_nothing() {
    let setup = setup(&["logs"], Vec::new()).await;
    let mut messages = Vec::new();
    for number in 0..4 {
        messages.push(object_message(&setup, &format!("object-{number}"), 25, "logs").await);
    }
    let first = setup.runtime.run_batch(&messages, None).await;
    assert!(first.failed_message_ids.is_empty());
    assert_eq!(published_docs(&setup, "logs").await, 100);
    let metadata_before = setup
        .runtime
        .indexer()
        .metastore()
        .index_metadata("logs")
        .await
        .unwrap();

    // The whole batch again, as after a crash between publish and acknowledgement.
    let replay = setup.runtime.run_batch(&messages, None).await;
    assert!(replay.failed_message_ids.is_empty());
    assert_eq!(replay.num_docs, 0);
    assert_eq!(replay.num_objects_already_indexed, 4);
    // Every message delivered twice within one batch.
    let doubled: Vec<QueueMessage> = messages
        .iter()
        .flat_map(|message| [message.clone(), message.clone()])
        .collect();
    let outcome = setup.runtime.run_batch(&doubled, None).await;
    assert!(outcome.failed_message_ids.is_empty());
    assert_eq!(outcome.num_docs, 0);
    let metadata_after = setup
        .runtime
        .indexer()
        .metastore()
        .index_metadata("logs")
        .await
        .unwrap();
    assert_eq!(metadata_after.splits, metadata_before.splits);
    assert_eq!(metadata_after.num_published_docs(), 100);

    // New objects duplicated inside one batch are indexed once.
    let fresh = object_message(&setup, "fresh", 10, "logs").await;
    let outcome = setup.runtime.run_batch(&[fresh.clone(), fresh], None).await;
    assert_eq!(outcome.num_docs, 10);
    assert_eq!(published_docs(&setup, "logs").await, 110);
}

#[tokio::test]
async fn a_near_deadline_leaves_messages_for_redelivery() {
    let setup = setup(&["logs"], Vec::new()).await;
    let messages = vec![
        object_message(&setup, "a", 5, "logs").await,
        object_message(&setup, "b", 5, "logs").await,
    ];
    // No time left: nothing is started.
    let deadline = Instant::now();
    let outcome = setup.runtime.run_batch(&messages, Some(deadline)).await;
    assert_eq!(outcome.failed_message_ids.len(), 2);
    assert!(outcome.failure_reason().unwrap().contains("deadline"));
    assert_eq!(published_docs(&setup, "logs").await, 0);
    // With time, everything goes through.
    let deadline = Instant::now() + Duration::from_secs(600);
    let outcome = setup.runtime.run_batch(&messages, Some(deadline)).await;
    assert!(outcome.failed_message_ids.is_empty());
    assert_eq!(published_docs(&setup, "logs").await, 10);
}

#[tokio::test]
async fn messages_are_routed_by_group_or_prefix_and_runs_publish_per_index() {
    let rules = vec![("staging/web/".to_string(), "web".to_string())];
    let setup = setup(&["sales", "web"], rules).await;
    let messages = vec![
        object_message(&setup, "s1", 3, "sales").await,
        object_message(&setup, "web/w1", 4, "not-an-index").await,
        object_message(&setup, "s2", 5, "sales").await,
        message(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#, "sales"),
    ];
    let outcome = setup.runtime.run_batch(&messages, None).await;
    assert!(
        outcome.failed_message_ids.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.num_ignored, 1);
    assert_eq!(published_docs(&setup, "sales").await, 8);
    assert_eq!(published_docs(&setup, "web").await, 4);
    // Three runs: sales, web, sales.
    assert_eq!(outcome.splits.len(), 3);

    // No index can be told: set aside at the storage's root, not retried.
    let lost = object_message(&setup, "elsewhere/x", 1, "not-an-index").await;
    let outcome = setup.runtime.run_batch(&[lost], None).await;
    assert!(outcome.failed_message_ids.is_empty());
    assert!(
        outcome.set_aside[0]
            .reason
            .contains("cannot tell which index")
    );
    assert!(outcome.set_aside[0].record.starts_with("errors/set-aside/"));
}

#[tokio::test]
async fn a_batch_of_two_message_groups_counts_each_index_apart() {
    let setup = setup(&["logs", "audit"], Vec::new()).await;
    let messages = vec![
        object_message(&setup, "a", 5, "logs").await,
        object_message(&setup, "b", 3, "audit").await,
        object_message(&setup, "c", 2, "logs").await,
    ];
    let outcome = setup.runtime.run_batch(&messages, None).await;
    let by_index = outcome.by_index();
    assert_eq!(
        by_index.keys().copied().collect::<Vec<_>>(),
        ["audit", "logs"]
    );
    assert_eq!(
        (by_index["logs"].objects_indexed, by_index["logs"].docs),
        (2, 7)
    );
    assert_eq!(
        (by_index["audit"].objects_indexed, by_index["audit"].docs),
        (1, 3)
    );
    let total: u64 = by_index.values().map(|activity| activity.docs).sum();
    assert_eq!(total, outcome.num_docs);
    assert!(
        by_index
            .values()
            .all(|activity| activity.splits_published >= 1)
    );
    assert!(by_index.values().all(|activity| activity.bytes_read > 0));
}

#[tokio::test]
async fn start_up_applies_configs_and_refuses_bad_ones() {
    use hydrant_ingest::settings::IndexerSettings;
    use hydrant_storage::StorageResolver;

    let temp_dir = tempfile::tempdir().unwrap();
    let good = temp_dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "index_id: from-config\ndoc_mapping:\n  field_mappings:\n    - {name: n, type: u64}\n",
    )
    .unwrap();
    let bad = temp_dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "index_id: broken\ndoc_mapping:\n  field_mappings:\n    - {name: n, type: float}\n",
    )
    .unwrap();
    let settings = |configs: &str| {
        let index_uri = temp_dir.path().join("index").display().to_string();
        let configs = configs.to_string();
        IndexerSettings::from_lookup(move |name| match name {
            "HYDRANT_INDEX_URI" => Some(index_uri.clone()),
            "HYDRANT_INDEX_CONFIGS" => Some(configs.clone()),
            _ => None,
        })
        .unwrap()
    };
    let runtime = IndexerRuntime::start(
        &settings(&good.display().to_string()),
        StorageResolver::default(),
    )
    .await
    .unwrap();
    let indexes = runtime.indexer().metastore().list_indexes().await.unwrap();
    assert_eq!(indexes[0].index_id(), "from-config");
    // Starting again finds the index and changes nothing.
    IndexerRuntime::start(
        &settings(&good.display().to_string()),
        StorageResolver::default(),
    )
    .await
    .unwrap();

    let error = IndexerRuntime::start(
        &settings(&bad.display().to_string()),
        StorageResolver::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("bad.yaml") && error.contains("unknown type `float`"),
        "{error}"
    );
    // A mapping that parses but cannot be built is refused too, even for an index that
    // already exists.
    let unmappable = temp_dir.path().join("unmappable.yaml");
    std::fs::write(
        &unmappable,
        "index_id: from-config\ndoc_mapping:\n  field_mappings:\n    - {name: n, type: u64}\n  timestamp_field: n\n",
    )
    .unwrap();
    let error = IndexerRuntime::start(
        &settings(&unmappable.display().to_string()),
        StorageResolver::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("unmappable.yaml") && error.contains("must be of type datetime"),
        "{error}"
    );
    let missing = temp_dir.path().join("missing.yaml").display().to_string();
    let error = IndexerRuntime::start(&settings(&missing), StorageResolver::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing.yaml"), "{error}");
}
