//! Failures that can never pass set their message aside with the reason, instead of being
//! retried until the message reaches the dead-letter queue: tantivy refusing the work while an
//! object is indexed (injected at a fail point), and corrupt data met by maintenance (a split
//! file whose bytes were damaged). The messages around them are indexed, every document once.
//!
//! Fail points are process-wide, so this binary holds one test that runs the scenarios in turn.

use hydrant_ingest::batch::QueueMessage;
use hydrant_ingest::testing::{LocalIndex, STAGING_BUCKET};
use hydrant_metastore::paths;
use hydrant_storage::PutMode;

const CONFIG: &str = r#"
index_id: logs
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: n, type: u64}
  timestamp_field: ts
indexing_settings:
  merge_policy: {type: stable_log, merge_factor: 3, max_merge_factor: 3, maturation_period: 2 days}
"#;

const RECORDS_PER_OBJECT: u64 = 10;

async fn object_message(local: &LocalIndex, number: usize) -> QueueMessage {
    let key = format!("object-{number}");
    let body: String = (0..RECORDS_PER_OBJECT)
        .map(|i| format!("{{\"ts\":{},\"n\":{number}}}\n", 1_700_000_000 + i))
        .collect();
    local.put_object(&key, body.into_bytes()).await;
    QueueMessage::new(
        format!("message-{number}"),
        Some("logs".to_string()),
        format!(r#"{{"bucket":"{STAGING_BUCKET}","key":"{key}"}}"#),
    )
}

#[tokio::test]
async fn permanent_failures_set_their_message_aside() {
    a_tantivy_error_sets_aside_its_object_and_the_rest_is_indexed().await;
    corrupt_split_data_sets_the_maintenance_message_aside().await;
}

async fn a_tantivy_error_sets_aside_its_object_and_the_rest_is_indexed() {
    let local = LocalIndex::with_index(CONFIG).await;
    let runtime = local.runtime(Vec::new()).await;
    let mut messages = Vec::new();
    for number in 0..5 {
        messages.push(object_message(&local, number).await);
    }
    // The third object indexed fails after its records entered the split; later ones pass.
    fail::cfg(
        "indexer:after_object_records",
        "2*off->1*return(tantivy)->off",
    )
    .unwrap();
    let outcome = runtime.run_batch(&messages, None).await;
    fail::remove("indexer:after_object_records");

    assert!(
        outcome.failed_message_ids.is_empty(),
        "nothing is retried: {:?}",
        outcome.failure
    );
    assert_eq!(outcome.set_aside.len(), 1);
    let set_aside = &outcome.set_aside[0];
    assert_eq!(set_aside.message_id, "message-2");
    assert!(set_aside.reason.contains("tantivy"), "{}", set_aside.reason);
    assert!(
        set_aside.reason.contains("object-2"),
        "{}",
        set_aside.reason
    );
    let record = local
        .index_storage
        .get(&set_aside.record)
        .await
        .expect("the set-aside record is written");
    let record: serde_json::Value = serde_json::from_slice(&record.bytes).unwrap();
    assert_eq!(record["body"], messages[2].body);
    assert_eq!(record["object"]["key"], "object-2");
    // Four objects, none of the failed one's records: they were in the split when it failed.
    assert_eq!(outcome.num_docs, 4 * RECORDS_PER_OBJECT);
    assert_eq!(local.published_docs("logs").await, 4 * RECORDS_PER_OBJECT);

    // Redelivered after the cause is gone, the set-aside message indexes, and only it.
    let outcome = runtime.run_batch(&messages, None).await;
    assert!(outcome.failed_message_ids.is_empty());
    assert_eq!(outcome.num_docs, RECORDS_PER_OBJECT);
    assert_eq!(local.published_docs("logs").await, 5 * RECORDS_PER_OBJECT);
}

async fn corrupt_split_data_sets_the_maintenance_message_aside() {
    let local = LocalIndex::with_index(CONFIG).await;
    let runtime = local.runtime(Vec::new()).await;
    // Three splits, indexed without the batch core's merge afterwards: a merge of three is
    // due, and one of its inputs is damaged before maintenance runs.
    for number in 0..3 {
        object_message(&local, number).await;
        local.index("logs", &[&format!("object-{number}")]).await;
    }
    let metadata = local.metastore.index_metadata("logs").await.unwrap();
    assert_eq!(metadata.published_splits().count(), 3, "{metadata:?}");
    let victim = metadata.published_splits().next().unwrap().clone();
    let path = paths::split_file("logs", &victim.split_id);
    let mut bytes = local.index_storage.get(&path).await.unwrap().bytes.to_vec();
    let end = bytes.len();
    bytes[end - 60..].fill(0xAB);
    local
        .index_storage
        .put(&path, bytes.into(), PutMode::Overwrite)
        .await
        .unwrap();

    let maintenance = QueueMessage::new(
        "maintenance-1".to_string(),
        Some("logs".to_string()),
        r#"{"type": "maintenance", "index_id": "logs"}"#,
    );
    let outcome = runtime.run_batch(&[maintenance], None).await;
    assert!(
        outcome.failed_message_ids.is_empty(),
        "not retried into the dead-letter queue: {:?}",
        outcome.failure
    );
    assert_eq!(outcome.set_aside.len(), 1);
    assert!(
        outcome.set_aside[0].reason.contains("corrupt"),
        "{}",
        outcome.set_aside[0].reason
    );
    // Nothing was lost: the three splits are still published, every document in them.
    assert_eq!(local.published_docs("logs").await, 3 * RECORDS_PER_OBJECT);
}
