//! Objects in both framings with 1% bad records of every kind: exactly the good records are
//! indexed, and every bad record is kept under the errors prefix with its reason.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use hydrant_index::config::IndexConfig;
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_loadtest::firehose::Framing;
use hydrant_loadtest::generator::{Dataset, ObjectGenerator, ObjectSpec};
use hydrant_metastore::Metastore;
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, StorageUri};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_sales_record_is_rejected_with_its_reason_and_kept() {
    every_bad_record_is_rejected_with_its_reason_and_kept(Dataset::MockSales).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_web_log_is_rejected_with_its_reason_and_kept() {
    every_bad_record_is_rejected_with_its_reason_and_kept(Dataset::WebLogs).await;
}

async fn every_bad_record_is_rejected_with_its_reason_and_kept(dataset: Dataset) {
    let index_id = dataset.index_id();
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging: SharedStorage = Arc::new(LocalStorage::new(&staging_dir).unwrap());
    let index_storage: SharedStorage =
        Arc::new(LocalStorage::new(temp_dir.path().join("index")).unwrap());
    let metastore = Metastore::new(index_storage.clone());
    // Strict mode, so that unmapped fields are errors too.
    let strict_config = dataset
        .index_config_yaml()
        .replace("  mode: lenient\n", "")
        .replace("doc_mapping:\n", "doc_mapping:\n  mode: strict\n");
    metastore
        .create_index(IndexConfig::from_yaml(&strict_config).unwrap())
        .await
        .unwrap();
    let indexer = Indexer::new(
        metastore.clone(),
        StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir)),
    );

    let mut generator = ObjectGenerator::for_dataset(dataset, 11);
    let mut expected_good = 0;
    // (source key, record text) -> (reason, how many times); identical bad records repeat.
    let mut expected_bad: HashMap<(String, String), (&'static str, usize)> = HashMap::new();
    let mut num_bad = 0u64;
    let mut objects = Vec::new();
    for number in 0..12 {
        let framing = if number % 2 == 0 {
            Framing::NewlineDelimited
        } else {
            Framing::Concatenated
        };
        let object = generator.object(ObjectSpec {
            num_records: 1_000,
            bad_share: 0.01,
            framing,
            gzip: number % 3 != 0,
            start_millis: 1_700_000_000_000 + number * 1_000,
            late_share: 0.05,
            strict: true,
        });
        let key = format!("2026/11/22/19/stream-1-{number:02}");
        staging
            .put(&key, object.bytes.clone().into(), PutMode::Create)
            .await
            .unwrap();
        expected_good += object.num_good;
        for bad in &object.bad {
            let entry = expected_bad
                .entry((format!("staging/{key}"), bad.text.clone()))
                .or_insert((bad.kind.expected_reason(), 0));
            entry.1 += 1;
            num_bad += 1;
        }
        objects.push(ObjectRef::new("staging", key));
    }
    let mut rejected_by_reason: HashMap<String, u64> = HashMap::new();
    for batch in objects.chunks(10) {
        let report = indexer.index_objects(index_id, batch, None).await.unwrap();
        for (reason, count) in report.rejected_by_reason {
            *rejected_by_reason.entry(reason).or_default() += count;
        }
    }
    let metadata = metastore.index_metadata(index_id).await.unwrap();
    assert_eq!(
        metadata.num_published_docs(),
        expected_good,
        "accepted exactly the good records"
    );
    assert_eq!(rejected_by_reason.values().sum::<u64>(), num_bad);
    for reason in [
        "malformed_json",
        "not_an_object",
        "missing_timestamp",
        "invalid_timestamp",
        "invalid_value",
        "unmapped_field",
    ] {
        assert!(
            rejected_by_reason.get(reason).copied().unwrap_or(0) > 0,
            "no {reason} rejection"
        );
    }

    // Every bad record is under errors/, with its reason, source and text.
    let mut found = 0;
    for file in index_storage
        .list(&format!("indexes/{index_id}/errors/"))
        .await
        .unwrap()
    {
        let bytes = index_storage.get(&file.path).await.unwrap().bytes;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = (
                entry["source"].as_str().unwrap().to_string(),
                entry["record"].as_str().unwrap().to_string(),
            );
            let (expected_reason, remaining) = expected_bad
                .get_mut(&key)
                .unwrap_or_else(|| panic!("unexpected rejection: {entry}"));
            assert_eq!(entry["reason"], *expected_reason, "{entry}");
            assert!(*remaining > 0, "rejected more often than written: {entry}");
            *remaining -= 1;
            assert!(!entry["message"].as_str().unwrap().is_empty());
            found += 1;
        }
    }
    assert_eq!(found, num_bad, "every bad record is kept once");
}
