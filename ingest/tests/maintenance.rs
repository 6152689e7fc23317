//! Merges, garbage collection and retention, with an injectable clock.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::maintenance::{GcSettings, Maintainer, MaintenanceReport};
use hydrant_ingest::merge_policy::MergePolicy;
use hydrant_ingest::testing::LocalIndex;
use hydrant_ingest::{Indexer, ObjectRef};
use hydrant_metastore::clock::ManualClock;
use hydrant_metastore::paths;
use hydrant_metastore::{SplitMetadata, SplitState};
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use hydrant_storage::{PutMode, SharedStorage};

const CONFIG: &str = r#"
index_id: logs
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64}
    - {name: level, type: text, tokenizer: raw}
  timestamp_field: ts
indexing_settings:
  merge_policy:
    type: stable_log
    merge_factor: 10
    max_merge_factor: 12
    min_level_num_docs: 100000
retention:
  period: 30 days
"#;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Setup {
    _local: LocalIndex,
    staging: SharedStorage,
    index_storage: SharedStorage,
    clock: Arc<ManualClock>,
    indexer: Indexer,
    maintainer: Maintainer,
}

fn gc_settings() -> GcSettings {
    GcSettings {
        grace_period: Duration::from_secs(600),
        staged_expiry: Duration::from_secs(3600),
        orphan_min_age: Duration::from_secs(3600),
    }
}

/// The shared fixture with a manual clock, this file's index and a maintainer.
async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(now_secs()));
    let local = LocalIndex::with_clock(clock.clone()).await;
    local.create_index(CONFIG).await;
    let maintainer = Maintainer::new(local.metastore.clone()).with_gc_settings(gc_settings());
    Setup {
        staging: local.staging.clone(),
        index_storage: local.index_storage.clone(),
        indexer: Indexer::new(
            local.metastore.clone(),
            LocalIndex::buckets(&local.staging_dir),
        ),
        clock,
        maintainer,
        _local: local,
    }
}

/// Indexes object `number`: 10 records, ids `number * 10 ..`, timestamps `start_secs + id`.
async fn index_object(setup: &Setup, number: u64, start_secs: i64) {
    let body: String = (number * 10..number * 10 + 10)
        .map(|id| {
            format!(
                "{{\"ts\":{},\"id\":{id},\"level\":\"{}\"}}\n",
                start_secs + id as i64,
                ["info", "warn", "error"][(id % 3) as usize]
            )
        })
        .collect();
    let key = format!("object-{number:03}");
    setup
        .staging
        .put(&key, body.into_bytes().into(), PutMode::Create)
        .await
        .unwrap();
    setup
        .indexer
        .index_objects("logs", &[ObjectRef::new("staging", key)], None)
        .await
        .unwrap();
}

async fn search_ids(service: &SearchService, query: &str) -> (u64, BTreeSet<u64>) {
    let mut request = SearchRequest::new(query);
    request.max_hits = 10_000;
    let response = service.search("logs", &request).await.unwrap();
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let ids: BTreeSet<u64> = response
        .hits
        .iter()
        .map(|hit| hit["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids.len() as u64,
        response.num_hits.min(10_000),
        "duplicated hits for {query}"
    );
    (response.num_hits, ids)
}

fn fresh_searcher(setup: &Setup) -> SearchService {
    SearchService::new(
        setup.maintainer.metastore().clone(),
        SearcherConfig::default(),
    )
}

async fn split_files(setup: &Setup) -> usize {
    setup
        .index_storage
        .list("indexes/logs/splits/")
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_small_splits_merge_by_the_policy_and_lose_nothing() {
    let setup = setup().await;
    let start = now_secs() - 3_600;
    for number in 0..100 {
        index_object(&setup, number, start).await;
    }
    let metastore = setup.maintainer.metastore();
    assert_eq!(
        metastore
            .index_metadata("logs")
            .await
            .unwrap()
            .published_splits()
            .count(),
        100
    );
    let queries = [
        "*",
        "level:error",
        "id:[100 TO 499]",
        "level:warn AND id:<50",
    ];
    let before = {
        let service = fresh_searcher(&setup);
        let mut results = Vec::new();
        for query in queries {
            results.push(search_ids(&service, query).await);
        }
        results
    };
    assert_eq!(before[0].0, 1_000);

    let report = setup.maintainer.run("logs", None).await.unwrap();
    // 100 splits of 10 docs: eight merges of twelve (max_merge_factor), then one of those
    // eight with the four left over.
    assert_eq!(report.merges, 9);
    assert_eq!(report.splits_merged, 108);
    let metadata = metastore.index_metadata("logs").await.unwrap();
    let published: Vec<SplitMetadata> = metadata.published_splits().cloned().collect();
    let policy = MergePolicy::from_settings(&metadata.index_config.spec.indexing_settings)
        .unwrap()
        .unwrap();
    assert!(
        policy.operations(&published, setup.clock.now()).is_empty(),
        "the policy has merges left"
    );
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].num_docs, 1_000);
    assert_eq!(published[0].num_merge_ops, 2);

    let service = fresh_searcher(&setup);
    for (query, expected) in queries.iter().zip(&before) {
        assert_eq!(
            &search_ids(&service, query).await,
            expected,
            "{query} changed after merging"
        );
    }
    // The replaced splits wait for the grace period, then their files go.
    assert_eq!(
        metadata
            .splits
            .values()
            .filter(|split| split.state == SplitState::MarkedForDeletion)
            .count(),
        108
    );
    assert_eq!(split_files(&setup).await, 109);
    setup.clock.advance_secs(601);
    let report = setup.maintainer.run("logs", None).await.unwrap();
    assert_eq!(report.splits_deleted, 108);
    assert_eq!(split_files(&setup).await, 1);
    assert_eq!(
        metastore.index_metadata("logs").await.unwrap().splits.len(),
        1
    );
    assert_eq!(search_ids(&fresh_searcher(&setup), "*").await.0, 1_000);
}

trait ClockExt {
    fn now(&self) -> i64;
}

impl ClockExt for ManualClock {
    fn now(&self) -> i64 {
        hydrant_metastore::clock::Clock::now_secs(self)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_collected_after_the_grace_period_and_never_before() {
    let setup = setup().await;
    let metastore = setup.maintainer.metastore();
    let start = now_secs() - 3_600;
    for number in 0..3 {
        index_object(&setup, number, start).await;
    }
    let metadata = metastore.index_metadata("logs").await.unwrap();
    let tombstoned = metadata.published_splits().next().unwrap().split_id.clone();
    metastore
        .mark_splits_for_deletion("logs", std::slice::from_ref(&tombstoned))
        .await
        .unwrap();
    // An upload that was staged and never published, and a file nobody knows.
    let mut abandoned = metadata.published_splits().nth(1).unwrap().clone();
    abandoned.split_id = SplitMetadata::new_split_id();
    metastore
        .stage_splits("logs", 0, vec![abandoned.clone()])
        .await
        .unwrap();
    setup
        .index_storage
        .put(
            &paths::split_file("logs", &abandoned.split_id),
            "partial".into(),
            PutMode::Create,
        )
        .await
        .unwrap();
    let orphan_path = paths::split_file("logs", "0000000000orphan0000000000000000");
    setup
        .index_storage
        .put(&orphan_path, "orphan".into(), PutMode::Create)
        .await
        .unwrap();

    // Before the grace period: nothing goes, and the tombstoned split is still readable.
    let mut report = MaintenanceReport::default();
    setup
        .maintainer
        .collect_garbage("logs", &mut report)
        .await
        .unwrap();
    assert_eq!(report, MaintenanceReport::default());
    let tombstoned_path = paths::split_file("logs", &tombstoned);
    setup.index_storage.head(&tombstoned_path).await.unwrap();

    setup.clock.advance_secs(599);
    setup
        .maintainer
        .collect_garbage("logs", &mut report)
        .await
        .unwrap();
    assert_eq!(report.splits_deleted, 0);
    setup.index_storage.head(&tombstoned_path).await.unwrap();

    setup.clock.advance_secs(2);
    setup
        .maintainer
        .collect_garbage("logs", &mut report)
        .await
        .unwrap();
    assert_eq!(report.splits_deleted, 1);
    assert!(
        setup
            .index_storage
            .head(&tombstoned_path)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // The staged upload and the orphan are younger than their thresholds.
    assert_eq!(report.staged_splits_expired, 0);
    assert_eq!(report.orphan_files_deleted, 0);

    // An hour on: the staged upload is expired (marked), the orphan deleted; a grace period
    // later the expired upload's file goes too.
    setup.clock.advance_secs(3_600);
    setup
        .maintainer
        .collect_garbage("logs", &mut report)
        .await
        .unwrap();
    assert_eq!(report.staged_splits_expired, 1);
    assert_eq!(report.orphan_files_deleted, 1);
    assert!(
        setup
            .index_storage
            .head(&orphan_path)
            .await
            .unwrap_err()
            .is_not_found()
    );
    setup.clock.advance_secs(601);
    setup
        .maintainer
        .collect_garbage("logs", &mut report)
        .await
        .unwrap();
    assert_eq!(report.splits_deleted, 2);
    let metadata = metastore.index_metadata("logs").await.unwrap();
    assert_eq!(metadata.splits.len(), 2);
    assert!(
        metadata
            .splits
            .values()
            .all(|split| split.state == SplitState::Published)
    );
    assert_eq!(split_files(&setup).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_past_retention_leave_results_then_storage() {
    let setup = setup().await;
    let metastore = setup.maintainer.metastore();
    let now = now_secs();
    index_object(&setup, 0, now - 40 * 86_400).await;
    index_object(&setup, 1, now - 20 * 86_400).await;
    let service = fresh_searcher(&setup);
    assert_eq!(search_ids(&service, "*").await.0, 20);

    let report = setup.maintainer.run("logs", None).await.unwrap();
    assert_eq!(report.splits_expired_by_retention, 1);
    // Gone from results at once (a new view of the metastore)...
    assert_eq!(search_ids(&fresh_searcher(&setup), "*").await.0, 10);
    // ...from storage after the grace period.
    assert_eq!(split_files(&setup).await, 2);
    setup.clock.advance_secs(601);
    setup.maintainer.run("logs", None).await.unwrap();
    assert_eq!(split_files(&setup).await, 1);
    // Ten days later the other split passes retention too.
    setup.clock.advance_secs(11 * 86_400);
    setup.maintainer.run("logs", None).await.unwrap();
    setup.clock.advance_secs(601);
    setup.maintainer.run("logs", None).await.unwrap();
    assert_eq!(split_files(&setup).await, 0);
    assert_eq!(
        metastore.index_metadata("logs").await.unwrap().splits.len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_index_is_cleaned_by_maintenance_messages_alone() {
    let setup = setup().await;
    let metastore = setup.maintainer.metastore().clone();
    let start = now_secs() - 3_600;
    for number in 0..12 {
        index_object(&setup, number, start).await;
    }
    let runtime = IndexerRuntime::new(setup.indexer.clone(), Vec::new())
        .await
        .unwrap()
        .with_maintainer(setup.maintainer.clone());
    let maintenance =
        |id: &str| QueueMessage::new(id, Some("logs".to_string()), r#"{"type": "maintenance"}"#);
    // No data arrives; maintenance messages only.
    let outcome = runtime.run_batch(&[maintenance("m1")], None).await;
    assert!(
        outcome.failed_message_ids.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.maintenance[0].merges, 1);
    assert_eq!(outcome.maintenance[0].splits_merged, 12);
    setup.clock.advance_secs(601);
    let outcome = runtime.run_batch(&[maintenance("m2")], None).await;
    assert_eq!(outcome.maintenance[0].splits_deleted, 12);
    assert_eq!(
        metastore.index_metadata("logs").await.unwrap().splits.len(),
        1
    );
    assert_eq!(split_files(&setup).await, 1);
}
