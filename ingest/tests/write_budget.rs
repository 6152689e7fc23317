//! What an indexer invocation writes to the index bucket, counted the way S3 bills requests
//! (PUTs and LISTs; deletes are free): one split and one metastore commit for a batch whose
//! records are all valid, the rejected records' file besides when some are not, nothing for a
//! redelivery, and now and then the checkpoint's inline entries moved into a segment.

use std::sync::Arc;
use std::time::Duration;

use hydrant_index::config::IndexConfig;
use hydrant_ingest::Indexer;
use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::testing::{LocalIndex, STAGING_BUCKET};
use hydrant_metastore::Metastore;
use hydrant_metastore::checkpoint::INLINE_CHECKPOINT_ENTRIES;
use hydrant_metastore::paths;
use hydrant_storage::testing::{RequestKind, RequestRecord, ThrottledStorage};
use hydrant_storage::{LocalStorage, PutMode, SharedStorage};

/// Merges are maintenance of their own (what they write is measured by `loadtest floor`'s
/// cost model): none here, so that every write counted is indexing's.
const CONFIG: &str = "index_id: logs
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: n, type: u64}
  timestamp_field: ts
indexing_settings:
  merge_policy: {type: no_merge}
";

struct Setup {
    _temp_dir: tempfile::TempDir,
    staging: SharedStorage,
    /// The index bucket, counting requests.
    index_storage: Arc<ThrottledStorage>,
    runtime: IndexerRuntime,
}

async fn setup() -> Setup {
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging: SharedStorage = Arc::new(LocalStorage::new(&staging_dir).unwrap());
    let index_storage = Arc::new(ThrottledStorage::new(
        Arc::new(LocalStorage::new(temp_dir.path().join("index")).unwrap()),
        Duration::ZERO,
    ));
    let metastore = Metastore::new(index_storage.clone());
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let indexer = Indexer::new(metastore, LocalIndex::buckets(&staging_dir));
    let runtime = IndexerRuntime::new(indexer, Vec::new()).await.unwrap();
    index_storage.record_requests(true);
    Setup {
        _temp_dir: temp_dir,
        staging,
        index_storage,
        runtime,
    }
}

/// Puts object `number` (10 records, `bad` of them not JSON) and returns its message.
async fn object(setup: &Setup, number: u64, bad: u64) -> QueueMessage {
    let mut body: String = (0..10 - bad)
        .map(|i| {
            format!(
                "{{\"ts\":{},\"n\":{}}}\n",
                1_700_000_000 + i,
                number * 10 + i
            )
        })
        .collect();
    for _ in 0..bad {
        body.push_str("{not json\n");
    }
    let key = format!("2026/12/05/10/logs-1-{number:08x}");
    setup
        .staging
        .put(&key, body.into_bytes().into(), PutMode::Overwrite)
        .await
        .unwrap();
    QueueMessage::new(
        format!("message-{number}"),
        Some("logs".to_string()),
        format!(r#"{{"bucket":"{STAGING_BUCKET}","key":"{key}"}}"#),
    )
}

/// Runs one invocation's batch; returns the billed writes it made to the index bucket.
async fn invocation(setup: &Setup, messages: &[QueueMessage]) -> Vec<RequestRecord> {
    setup.index_storage.take_requests();
    let outcome = setup.runtime.run_batch(messages, None).await;
    assert!(outcome.failed_message_ids.is_empty(), "{outcome:?}");
    setup
        .index_storage
        .take_requests()
        .into_iter()
        .filter(|request| matches!(request.kind, RequestKind::Write | RequestKind::List))
        .collect()
}

fn paths_of(writes: &[RequestRecord]) -> Vec<&str> {
    writes.iter().map(|write| write.path.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_writes_one_split_and_one_commit() {
    let setup = setup().await;

    // The index's first object, then a second: the split, then the shard document.
    let first = object(&setup, 0, 0).await;
    for number in 0..2 {
        let message = match number {
            0 => first.clone(),
            _ => object(&setup, number, 0).await,
        };
        let writes = invocation(&setup, &[message]).await;
        let written = paths_of(&writes);
        assert_eq!(writes.len(), 2, "{written:?}");
        assert!(
            written[0].starts_with(&paths::splits_prefix("logs")),
            "{written:?}"
        );
        assert_eq!(written[1], paths::shard_document("logs", 0));
    }

    // A batch of ten objects: still one split and one commit.
    let mut batch = Vec::new();
    for number in 2..12 {
        batch.push(object(&setup, number, 0).await);
    }
    assert_eq!(invocation(&setup, &batch).await.len(), 2);

    // A redelivered message writes nothing.
    let writes = invocation(&setup, &[first]).await;
    assert!(writes.is_empty(), "{:?}", paths_of(&writes));

    // Rejected records are kept: their file is the one write more.
    let with_bad = object(&setup, 12, 2).await;
    let writes = invocation(&setup, &[with_bad]).await;
    assert_eq!(writes.len(), 3, "{:?}", paths_of(&writes));
    assert!(
        paths_of(&writes)
            .iter()
            .any(|path| path.contains("/errors/"))
    );

    let metastore = setup.runtime.indexer().metastore();
    let metadata = metastore.index_metadata("logs").await.unwrap();
    assert_eq!(metadata.num_published_docs(), 12 * 10 + 8);
    assert_eq!(metadata.checkpoint.objects.len(), 13);
}

/// Every [`INLINE_CHECKPOINT_ENTRIES`] objects, the inline checkpoint entries move into a
/// segment: two writes more (the segment and its commit), amortized over those objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_moves_to_a_segment_now_and_then() {
    let setup = setup().await;
    let num_objects = INLINE_CHECKPOINT_ENTRIES as u64 + 6;
    let mut total_writes = 0;
    let mut invocations_over_budget = 0;
    for number in 0..num_objects {
        let message = object(&setup, number, 0).await;
        let writes = invocation(&setup, &[message]).await.len();
        total_writes += writes;
        if writes > 2 {
            invocations_over_budget += 1;
            assert_eq!(writes, 4, "{number}");
        }
    }
    assert_eq!(invocations_over_budget, 1);
    assert_eq!(total_writes as u64, 2 * num_objects + 2);
    let metastore = setup.runtime.indexer().metastore();
    let metadata = metastore.index_metadata("logs").await.unwrap();
    let shard = &metadata.shards[&0];
    assert_eq!(shard.checkpoint_segments.len(), 1);
    assert_eq!(shard.inline_checkpoint.len(), 6);
    assert_eq!(metadata.checkpoint.objects.len() as u64, num_objects);
    assert_eq!(metadata.num_published_docs(), num_objects * 10);
}
