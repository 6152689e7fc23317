//! Crash safety: crashes injected after staging and after uploading (indexing), after the
//! merged split's upload (merging), and between file deletion and metastore cleanup (garbage
//! collection). Each leaves a consistent metastore, no lost and no duplicated document, and
//! leftovers the next maintenance collects.
//!
//! Fail points are process-wide, so this binary holds one test that runs the scenarios in turn.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hydrant_index::config::IndexConfig;
use hydrant_ingest::maintenance::{GcSettings, Maintainer};
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::clock::{Clock, ManualClock};
use hydrant_metastore::{Metastore, SplitState};
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, StorageUri};

const CONFIG: &str = r#"
index_id: logs
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64}
  timestamp_field: ts
indexing_settings:
  merge_policy: {type: stable_log, merge_factor: 10, max_merge_factor: 12}
"#;

struct Setup {
    _temp_dir: tempfile::TempDir,
    staging: SharedStorage,
    index_storage: SharedStorage,
    clock: Arc<ManualClock>,
    indexer: Indexer,
    maintainer: Maintainer,
}

async fn setup() -> Setup {
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging: SharedStorage = Arc::new(LocalStorage::new(&staging_dir).unwrap());
    let index_storage: SharedStorage =
        Arc::new(LocalStorage::new(temp_dir.path().join("index")).unwrap());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let clock = Arc::new(ManualClock::new(now));
    let metastore = Metastore::with_clock(index_storage.clone(), clock.clone());
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let indexer = Indexer::new(
        metastore.clone(),
        StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir)),
    );
    let maintainer = Maintainer::new(metastore).with_gc_settings(GcSettings {
        grace_period: Duration::from_secs(600),
        staged_expiry: Duration::from_secs(3_600),
        orphan_min_age: Duration::from_secs(3_600),
    });
    Setup {
        _temp_dir: temp_dir,
        staging,
        index_storage,
        clock,
        indexer,
        maintainer,
    }
}

async fn put_object(setup: &Setup, number: u64) -> ObjectRef {
    let body: String = (number * 10..number * 10 + 10)
        .map(|id| format!("{{\"ts\":{},\"id\":{id}}}\n", 1_700_000_000 + id))
        .collect();
    let key = format!("object-{number:03}");
    setup
        .staging
        .put(&key, body.into_bytes().into(), PutMode::Overwrite)
        .await
        .unwrap();
    ObjectRef::new("staging", key)
}

/// Every id the index returns, checking none is returned twice and the count agrees.
async fn all_ids(setup: &Setup) -> BTreeSet<u64> {
    let service = SearchService::new(
        setup.maintainer.metastore().clone(),
        SearcherConfig::default(),
    );
    let mut request = SearchRequest::new("*");
    request.max_hits = 10_000;
    let response = service.search("logs", &request).await.unwrap();
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let ids: Vec<u64> = response
        .hits
        .iter()
        .map(|hit| hit["id"].as_u64().unwrap())
        .collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicated documents");
    assert_eq!(response.num_hits, ids.len() as u64);
    unique
}

fn expected_ids(objects: std::ops::Range<u64>) -> BTreeSet<u64> {
    objects
        .flat_map(|number| number * 10..number * 10 + 10)
        .collect()
}

async fn split_files(setup: &Setup) -> usize {
    setup
        .index_storage
        .list("indexes/logs/splits/")
        .await
        .unwrap()
        .len()
}

/// Collects everything collectable: expiry of staged uploads, then the grace period.
async fn collect_everything(setup: &Setup) {
    setup.clock.advance_secs(3_601);
    setup.maintainer.run("logs", None).await.unwrap();
    setup.clock.advance_secs(601);
    setup.maintainer.run("logs", None).await.unwrap();
}

async fn crash_during_indexing(fail_point_name: &str) {
    let setup = setup().await;
    let object = put_object(&setup, 0).await;
    fail::cfg(fail_point_name, "return").unwrap();
    let error = setup
        .indexer
        .index_objects("logs", std::slice::from_ref(&object), None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains(fail_point_name), "{error}");
    fail::remove(fail_point_name);

    // Consistent: nothing published (an indexer does not stage: an uploaded split is a file
    // no document knows), the object not checkpointed.
    let metadata = setup
        .maintainer
        .metastore()
        .index_metadata("logs")
        .await
        .unwrap();
    assert!(metadata.splits.is_empty(), "{:?}", metadata.splits);
    assert!(metadata.checkpoint.objects.is_empty());
    assert!(all_ids(&setup).await.is_empty());

    // The redelivery indexes the object once.
    let report = setup
        .indexer
        .index_objects("logs", &[object], None)
        .await
        .unwrap();
    assert_eq!(report.num_docs, 10);
    assert_eq!(all_ids(&setup).await, expected_ids(0..1));

    // The unpublished upload is collected; the published split stays.
    collect_everything(&setup).await;
    let metadata = setup
        .maintainer
        .metastore()
        .index_metadata("logs")
        .await
        .unwrap();
    assert_eq!(metadata.splits.len(), 1);
    assert_eq!(split_files(&setup).await, 1);
    assert_eq!(all_ids(&setup).await, expected_ids(0..1));
}

async fn crash_during_merge_then_during_gc() {
    let setup = setup().await;
    for number in 0..12 {
        let object = put_object(&setup, number).await;
        setup
            .indexer
            .index_objects("logs", &[object], None)
            .await
            .unwrap();
    }
    let all = expected_ids(0..12);
    assert_eq!(all_ids(&setup).await, all);

    // Crash after the merged split is uploaded, before it is published.
    fail::cfg("merge:after_upload", "return").unwrap();
    let error = setup.maintainer.run("logs", None).await.unwrap_err();
    assert!(error.to_string().contains("merge:after_upload"), "{error}");
    fail::remove("merge:after_upload");
    let metadata = setup
        .maintainer
        .metastore()
        .index_metadata("logs")
        .await
        .unwrap();
    assert_eq!(metadata.published_splits().count(), 12);
    assert_eq!(
        metadata
            .splits
            .values()
            .filter(|split| split.state == SplitState::Staged)
            .count(),
        1
    );
    assert_eq!(
        all_ids(&setup).await,
        all,
        "a crashed merge changes no result"
    );

    // The next maintenance merges for real.
    let report = setup.maintainer.run("logs", None).await.unwrap();
    assert_eq!(report.merges, 1);
    assert_eq!(all_ids(&setup).await, all);

    // Crash in garbage collection, after the first file is deleted.
    setup.clock.advance_secs(601);
    fail::cfg("gc:after_file_deletion", "return").unwrap();
    let error = setup.maintainer.run("logs", None).await.unwrap_err();
    assert!(
        error.to_string().contains("gc:after_file_deletion"),
        "{error}"
    );
    fail::remove("gc:after_file_deletion");
    let metadata = setup
        .maintainer
        .metastore()
        .index_metadata("logs")
        .await
        .unwrap();
    // Still marked in the metastore, though one file is gone; results are whole.
    assert_eq!(
        metadata
            .splits
            .values()
            .filter(|split| split.state == SplitState::MarkedForDeletion)
            .count(),
        12
    );
    assert_eq!(split_files(&setup).await, 1 + 11 + 1);
    assert_eq!(all_ids(&setup).await, all);

    // Everything left over is collected by the next runs.
    collect_everything(&setup).await;
    let metadata = setup
        .maintainer
        .metastore()
        .index_metadata("logs")
        .await
        .unwrap();
    assert_eq!(metadata.splits.len(), 1);
    assert_eq!(metadata.published_splits().count(), 1);
    assert_eq!(split_files(&setup).await, 1);
    assert_eq!(all_ids(&setup).await, all);
    assert!(setup.clock.now_secs() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_leave_a_consistent_index_and_collectable_leftovers() {
    let scenario = fail::FailScenario::setup();
    crash_during_indexing("indexer:before_upload").await;
    crash_during_indexing("indexer:after_upload").await;
    crash_during_merge_then_during_gc().await;
    scenario.teardown();
}
