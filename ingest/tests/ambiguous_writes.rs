//! Exactly-once under S3's ambiguous writes: every write of a whole index lifecycle (indexing
//! three objects, merging them, collecting garbage) is failed in turn, in each of the three
//! ways a write fails (not applied; applied with its response lost; applied, lost, and retried
//! into a 412), on local disk and on S3 (moto). Steps that fail are retried as SQS would
//! redeliver them. Each run must end with exactly the documents written, every rejected record
//! kept, and no split, staged upload or file left over.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hydrant_index::config::IndexConfig;
use hydrant_ingest::maintenance::{GcSettings, Maintainer};
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::clock::ManualClock;
use hydrant_metastore::{Metastore, SplitState};
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, Operation};
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, Storage, StorageUri};

const CONFIG: &str = r#"
index_id: logs
doc_mapping:
  mode: strict
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64}
  timestamp_field: ts
indexing_settings:
  merge_policy: {type: stable_log, merge_factor: 3, max_merge_factor: 3}
"#;

const OBJECTS: u64 = 3;
const DOCS_PER_OBJECT: u64 = 20;
/// How often a failed step is retried (SQS redelivery); one injected fault needs one retry.
const ATTEMPTS: usize = 4;

enum Backend {
    Local,
    S3,
}

struct Setup {
    _temp_dir: tempfile::TempDir,
    index_storage: Arc<FaultyStorage>,
    clock: Arc<ManualClock>,
    indexer: Indexer,
    maintainer: Maintainer,
    objects: Vec<ObjectRef>,
}

async fn setup(backend: &Backend) -> Setup {
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging = LocalStorage::new(&staging_dir).unwrap();
    let inner: SharedStorage = match backend {
        Backend::Local => Arc::new(LocalStorage::new(temp_dir.path().join("index")).unwrap()),
        Backend::S3 => Arc::new(hydrant_storage::testing::moto_storage("ambiguous", "index").await),
    };
    let index_storage = Arc::new(FaultyStorage::new(inner));
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
    let mut objects = Vec::new();
    for number in 0..OBJECTS {
        // One bad record per object, so that keeping rejections is among the writes.
        let mut body: String = (number * DOCS_PER_OBJECT..(number + 1) * DOCS_PER_OBJECT)
            .map(|id| format!("{{\"ts\":{},\"id\":{id}}}\n", 1_700_000_000 + id))
            .collect();
        body.push_str("{\"ts\":1700000000,\"id\":\"not a number\"}\n");
        let key = format!("2026/12/01/10/object-{number}");
        staging
            .put(&key, body.into_bytes().into(), PutMode::Create)
            .await
            .unwrap();
        objects.push(ObjectRef::new("staging", key));
    }
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
        index_storage,
        clock,
        indexer,
        maintainer,
        objects,
    }
}

/// Runs `step` until it succeeds, as a redelivered message would, counting the retries.
macro_rules! until_ok {
    ($retries:ident, $what:expr, $step:expr) => {{
        let mut last_error = String::new();
        let mut succeeded = false;
        for attempt in 0..ATTEMPTS {
            match $step.await {
                Ok(_) => {
                    succeeded = true;
                    $retries += attempt;
                    break;
                }
                Err(error) => last_error = error.to_string(),
            }
        }
        assert!(succeeded, "{} kept failing: {last_error}", $what);
    }};
}

/// Indexing one object per run, a merge, then garbage collection of everything collectable.
/// Returns how many steps had to be retried.
async fn lifecycle(setup: &Setup) -> usize {
    let mut retries = 0;
    for object in &setup.objects {
        until_ok!(
            retries,
            "indexing",
            setup
                .indexer
                .index_objects("logs", std::slice::from_ref(object), None)
        );
    }
    until_ok!(retries, "maintenance", setup.maintainer.run("logs", None));
    // Past the expiry of abandoned uploads and the age of orphans, then past the grace period
    // of what that marked.
    setup.clock.advance_secs(3_601);
    until_ok!(retries, "maintenance", setup.maintainer.run("logs", None));
    setup.clock.advance_secs(601);
    until_ok!(retries, "maintenance", setup.maintainer.run("logs", None));
    retries
}

async fn check(setup: &Setup, context: &str) {
    let metastore = setup.maintainer.metastore();
    let service = SearchService::new(metastore.clone(), SearcherConfig::default());
    let mut request = SearchRequest::new("*");
    request.max_hits = 10_000;
    let response = service.search("logs", &request).await.unwrap();
    assert!(
        response.errors.is_empty(),
        "{context}: {:?}",
        response.errors
    );
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for hit in &response.hits {
        *counts.entry(hit["id"].as_u64().unwrap()).or_default() += 1;
    }
    let expected: BTreeMap<u64, usize> = (0..OBJECTS * DOCS_PER_OBJECT).map(|id| (id, 1)).collect();
    assert_eq!(
        counts, expected,
        "{context}: the documents are exactly those written"
    );
    assert_eq!(response.num_hits, OBJECTS * DOCS_PER_OBJECT, "{context}");

    let metadata = metastore.index_metadata("logs").await.unwrap();
    assert_eq!(
        metadata.checkpoint.objects.len(),
        OBJECTS as usize,
        "{context}"
    );
    assert!(
        metadata
            .splits
            .values()
            .all(|split| split.state == SplitState::Published),
        "{context}: nothing staged or marked is left: {:?}",
        metadata
            .splits
            .values()
            .map(|split| split.state)
            .collect::<Vec<_>>()
    );
    assert_eq!(metadata.splits.len(), 1, "{context}: merged into one split");
    let files: Vec<String> = setup
        .index_storage
        .list("indexes/logs/splits/")
        .await
        .unwrap()
        .into_iter()
        .map(|object| object.path)
        .collect();
    let published: Vec<String> = metadata
        .splits
        .keys()
        .map(|split_id| format!("indexes/logs/splits/{split_id}.split"))
        .collect();
    assert_eq!(files, published, "{context}: no orphan split file");

    let error_files = setup
        .index_storage
        .list("indexes/logs/errors/")
        .await
        .unwrap();
    assert_eq!(
        error_files.len(),
        OBJECTS as usize,
        "{context}: one error file per object"
    );
    for error_file in error_files {
        let bytes = setup
            .index_storage
            .get(&error_file.path)
            .await
            .unwrap()
            .bytes;
        let text =
            hydrant_ingest::firehose::read_all(flate2::read::MultiGzDecoder::new(&bytes[..]))
                .unwrap();
        assert_eq!(
            text.iter().filter(|&&byte| byte == b'\n').count(),
            1,
            "{context}"
        );
    }
}

async fn every_write_failed_in_turn(backend: Backend) {
    // A clean run says how many writes the lifecycle makes.
    let clean = setup(&backend).await;
    let writes_before = clean.index_storage.writes_seen();
    lifecycle(&clean).await;
    let num_writes = clean.index_storage.writes_seen() - writes_before;
    check(&clean, "without faults").await;
    assert!(num_writes >= 15, "the lifecycle writes {num_writes} times");

    for fault in [Fault::Unavailable, Fault::ResponseLost, Fault::Retried] {
        for position in 0..num_writes {
            let setup = setup(&backend).await;
            setup
                .index_storage
                .inject(FaultRule::new(Operation::Write, fault).skip(position));
            let retries = lifecycle(&setup).await;
            setup.index_storage.heal();
            let context = format!("{fault:?} on write {position} of {num_writes}");
            assert_eq!(setup.index_storage.faults_injected(), 1, "{context}");
            if fault != Fault::Unavailable {
                // Applied writes are recognised as applied: nothing fails, nothing is redone.
                assert_eq!(
                    retries, 0,
                    "{context}: a step failed although its write applied"
                );
            }
            check(&setup, &context).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_failed_in_turn_on_local_disk() {
    every_write_failed_in_turn(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_failed_in_turn_on_s3() {
    every_write_failed_in_turn(Backend::S3).await;
}

/// Reads fail too: every read of the metastore document in the first indexing run and the
/// merge fails once, in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reads_change_nothing() {
    for position in 0..12 {
        let setup = setup(&Backend::Local).await;
        setup.index_storage.inject(
            FaultRule::new(Operation::Read, Fault::Unavailable)
                .path_contains("metastore/")
                .skip(position),
        );
        lifecycle(&setup).await;
        setup.index_storage.heal();
        check(&setup, &format!("read {position} failed")).await;
    }
}
