//! The indexing pipeline end to end on local disk and on S3 (moto): objects in, published
//! splits out, exactly once.

use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use hydrant_ingest::{Indexer, ObjectOutcome, ObjectRef, StagingBuckets};
use hydrant_metastore::index_config::IndexConfig;
use hydrant_metastore::storage::{
    LocalStorage, PutMode, SharedStorage, StorageResolver, StorageUri,
};
use hydrant_metastore::{Metastore, SplitState};

const CONFIG: &str = r#"
index_id: sales
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: quantity, type: u64}
    - {name: description, type: text}
  timestamp_field: ts
indexing_settings:
  split_num_docs_target: 1000
"#;

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn records(first: u64, count: u64) -> String {
    (first..first + count)
        .map(|i| {
            format!(
                "{{\"ts\":{},\"quantity\":{},\"description\":\"item {i}\"}}\n",
                1_700_000_000 + i,
                i % 10
            )
        })
        .collect()
}

struct LocalSetup {
    _temp_dir: tempfile::TempDir,
    staging: SharedStorage,
    indexer: Indexer,
}

async fn local_setup() -> LocalSetup {
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging: SharedStorage = Arc::new(LocalStorage::new(&staging_dir).unwrap());
    let index_storage: SharedStorage =
        Arc::new(LocalStorage::new(temp_dir.path().join("index")).unwrap());
    let metastore = Metastore::new(index_storage);
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let buckets = StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir));
    LocalSetup {
        _temp_dir: temp_dir,
        staging,
        indexer: Indexer::new(metastore, buckets),
    }
}

#[tokio::test]
async fn indexing_the_same_object_twice_changes_nothing() {
    let setup = local_setup().await;
    setup
        .staging
        .put(
            "2026/11/22/19/a",
            gzip(&records(0, 100)).into(),
            PutMode::Create,
        )
        .await
        .unwrap();
    let object = ObjectRef::new("staging", "2026/11/22/19/a");
    let report = setup
        .indexer
        .index_objects("sales", std::slice::from_ref(&object), None)
        .await
        .unwrap();
    assert_eq!(report.num_docs, 100);
    assert_eq!(report.splits.len(), 1);
    let metastore = setup.indexer.metastore();
    let before = metastore.index_metadata("sales").await.unwrap();
    assert_eq!(before.num_published_docs(), 100);

    let again = setup
        .indexer
        .index_objects("sales", &[object], None)
        .await
        .unwrap();
    assert_eq!(again.objects[0].1, ObjectOutcome::AlreadyIndexed);
    assert_eq!(again.num_docs, 0);
    assert!(again.splits.is_empty());
    let after = metastore.index_metadata("sales").await.unwrap();
    assert_eq!(
        after, before,
        "a duplicate run must not touch the metastore"
    );
    assert_eq!(after.published_splits().count(), 1);
}

#[tokio::test]
async fn bad_records_are_rejected_alone_and_kept() {
    let setup = local_setup().await;
    let mut text = records(0, 10);
    text.push_str("{\"ts\": 1700000000, \"quantity\": -3}\n");
    text.push_str("{\"quantity\": 3}\n");
    text.push_str("{not json}\n");
    text.push_str("[1,2]\n");
    text.push_str(&records(10, 10));
    setup
        .staging
        .put("obj", text.into_bytes().into(), PutMode::Create)
        .await
        .unwrap();
    let report = setup
        .indexer
        .index_objects("sales", &[ObjectRef::new("staging", "obj")], None)
        .await
        .unwrap();
    assert_eq!(report.num_docs, 20);
    assert_eq!(report.num_rejected, 4);
    assert_eq!(report.rejected_by_reason["invalid_value"], 1);
    assert_eq!(report.rejected_by_reason["missing_timestamp"], 1);
    assert_eq!(report.rejected_by_reason["malformed_json"], 1);
    assert_eq!(report.rejected_by_reason["not_an_object"], 1);
    assert_eq!(report.error_files.len(), 1);
    let storage = setup.indexer.metastore().storage();
    let kept = storage.get(&report.error_files[0]).await.unwrap().bytes;
    let text = hydrant_ingest::firehose::read_all(flate2::read::GzDecoder::new(&kept[..])).unwrap();
    let entries: Vec<serde_json::Value> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["reason"], "invalid_value");
    assert_eq!(entries[0]["source"], "staging/obj");
    assert!(entries[0]["record"].as_str().unwrap().contains("-3"));
    assert!(entries[2]["offset"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn splits_roll_over_at_the_target_and_publish_together() {
    let setup = local_setup().await;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let body = gzip(&records(i as u64 * 600, 600));
        setup
            .staging
            .put(name, body.into(), PutMode::Create)
            .await
            .unwrap();
    }
    let objects: Vec<ObjectRef> = ["a", "b", "c"]
        .iter()
        .map(|name| ObjectRef::new("staging", *name))
        .collect();
    let report = setup
        .indexer
        .index_objects("sales", &objects, None)
        .await
        .unwrap();
    assert_eq!(report.num_docs, 1800);
    let sizes: Vec<u64> = report.splits.iter().map(|split| split.num_docs).collect();
    assert_eq!(sizes, [1000, 800]);
    let metadata = setup
        .indexer
        .metastore()
        .index_metadata("sales")
        .await
        .unwrap();
    assert_eq!(metadata.checkpoint.objects.len(), 3);
    assert!(
        metadata
            .splits
            .values()
            .all(|split| split.state == SplitState::Published)
    );
    assert_eq!(metadata.num_published_docs(), 1800);
}

#[tokio::test]
async fn a_missing_object_is_set_aside_and_the_run_goes_on() {
    let setup = local_setup().await;
    setup
        .staging
        .put("first", gzip(&records(0, 5)).into(), PutMode::Create)
        .await
        .unwrap();
    setup
        .staging
        .put("third", gzip(&records(5, 5)).into(), PutMode::Create)
        .await
        .unwrap();
    let objects = [
        ObjectRef::new("staging", "first"),
        ObjectRef::new("staging", "missing"),
        ObjectRef::new("staging", "third"),
    ];
    let report = setup
        .indexer
        .index_objects("sales", &objects, None)
        .await
        .unwrap();
    assert!(report.failure.is_none());
    assert!(
        matches!(&report.objects[1].1, ObjectOutcome::SetAside { reason } if reason.contains("missing")),
        "{:?}",
        report.objects[1]
    );
    assert_eq!(report.num_docs, 10);
    let metadata = setup
        .indexer
        .metastore()
        .index_metadata("sales")
        .await
        .unwrap();
    assert_eq!(metadata.num_published_docs(), 10);
    assert!(metadata.checkpoint.objects.contains_key("staging/third"));
    assert!(!metadata.checkpoint.objects.contains_key("staging/missing"));
}

#[tokio::test]
async fn indexing_from_and_to_s3() {
    let (client, bucket) = hydrant_metastore::testing::moto_bucket("ingest-s3").await;
    client
        .put_object()
        .bucket(&bucket)
        .key("firehose/2026/11/22/19/stream-1-2026-11-22-19-00-00-abc")
        .body(gzip(&records(0, 50)).into())
        .send()
        .await
        .unwrap();
    let resolver = StorageResolver::new(hydrant_metastore::testing::moto_s3_config());
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
    let indexer = Indexer::new(metastore.clone(), StagingBuckets::new(resolver));
    let object = ObjectRef::new(
        &bucket,
        "firehose/2026/11/22/19/stream-1-2026-11-22-19-00-00-abc",
    );
    let report = indexer
        .index_objects("sales", std::slice::from_ref(&object), None)
        .await
        .unwrap();
    assert_eq!(report.num_docs, 50);
    let split_id = &report.splits[0].split_id;
    let head = client
        .head_object()
        .bucket(&bucket)
        .key(format!("index/indexes/sales/splits/{split_id}.split"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.content_length().unwrap() as u64,
        report.splits[0].split_size_bytes
    );
    // The etag from the event (bare) matches the checkpoint: skipped without a GET.
    let etag = head_etag(&client, &bucket, &object.key).await;
    let with_etag = ObjectRef {
        etag: Some(etag),
        ..object
    };
    let again = indexer
        .index_objects("sales", &[with_etag], None)
        .await
        .unwrap();
    assert_eq!(again.objects[0].1, ObjectOutcome::AlreadyIndexed);
    assert_eq!(
        metastore
            .index_metadata("sales")
            .await
            .unwrap()
            .num_published_docs(),
        50
    );
}

async fn head_etag(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    head.e_tag().unwrap().trim_matches('"').to_string()
}

#[tokio::test]
async fn a_corrupt_gzip_object_keeps_its_readable_prefix() {
    let setup = local_setup().await;
    let object = gzip(&records(0, 3000));
    let truncated = object[..object.len() / 2].to_vec();
    setup
        .staging
        .put("corrupt", truncated.into(), PutMode::Create)
        .await
        .unwrap();
    let report = setup
        .indexer
        .index_objects("sales", &[ObjectRef::new("staging", "corrupt")], None)
        .await
        .unwrap();
    assert!(
        report.num_docs > 100 && report.num_docs < 3000,
        "{} docs",
        report.num_docs
    );
    assert_eq!(report.rejected_by_reason["corrupt_object"], 1);
    assert_eq!(report.error_files.len(), 1);
    // The object is checkpointed: its readable part is searchable, and retrying cannot
    // recover the rest.
    let metadata = setup
        .indexer
        .metastore()
        .index_metadata("sales")
        .await
        .unwrap();
    assert_eq!(metadata.num_published_docs(), report.num_docs);
    assert!(metadata.checkpoint.objects.contains_key("staging/corrupt"));
}
