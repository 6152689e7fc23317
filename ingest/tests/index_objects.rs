//! The indexing pipeline end to end on local disk and on S3 (moto): objects in, published
//! splits out, exactly once.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use hydrant_index::config::IndexConfig;
use hydrant_ingest::testing::LocalIndex;
use hydrant_ingest::{Indexer, ObjectOutcome, ObjectRef, StagingBuckets};
use hydrant_metastore::{Metastore, SplitState};
use hydrant_storage::{PutMode, StorageResolver, StorageUri};

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

/// The shared fixture with this file's index.
async fn local_setup() -> LocalIndex {
    LocalIndex::with_index(CONFIG).await
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
    // A gzip object is only known good at its end, so a split rolls over between objects:
    // the target is reached in `b`, and the split closes after it.
    let sizes: Vec<u64> = report.splits.iter().map(|split| split.num_docs).collect();
    assert_eq!(sizes, [1200, 600]);
    // Plain objects have no check to wait for: splits roll over at the target exactly.
    let plain: String = records(5_000, 1_500);
    setup
        .staging
        .put("plain", plain.into_bytes().into(), PutMode::Create)
        .await
        .unwrap();
    let report = setup
        .indexer
        .index_objects("sales", &[ObjectRef::new("staging", "plain")], None)
        .await
        .unwrap();
    let sizes: Vec<u64> = report.splits.iter().map(|split| split.num_docs).collect();
    assert_eq!(sizes, [1000, 500]);
    let metadata = setup
        .indexer
        .metastore()
        .index_metadata("sales")
        .await
        .unwrap();
    assert_eq!(metadata.checkpoint.objects.len(), 4);
    assert!(
        metadata
            .splits
            .values()
            .all(|split| split.state == SplitState::Published)
    );
    assert_eq!(metadata.num_published_docs(), 3300);
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
    let set_aside_as_missing = matches!(
        &report.objects[1].1,
        ObjectOutcome::SetAside { reason } if reason.contains("missing")
    );
    assert!(set_aside_as_missing, "{:?}", report.objects[1]);
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
    let (client, bucket) = hydrant_storage::testing::moto_bucket("ingest-s3").await;
    client
        .put_object()
        .bucket(&bucket)
        .key("firehose/2026/11/22/19/stream-1-2026-11-22-19-00-00-abc")
        .body(gzip(&records(0, 50)).into())
        .send()
        .await
        .unwrap();
    let resolver = StorageResolver::new(hydrant_storage::testing::moto_s3_config());
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

    // Keys S3 accepts but a file system would not (`..`, `//`, a leading `/`) are indexed too,
    // and their rejected records kept.
    for (number, key) in ["firehose//2026/../x", "/leading/slash", "a/./b"]
        .iter()
        .enumerate()
    {
        let mut body = records(100 + number as u64 * 10, 10);
        body.push_str("not json\n");
        client
            .put_object()
            .bucket(&bucket)
            .key(*key)
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
        let report = indexer
            .index_objects("sales", &[ObjectRef::new(&bucket, *key)], None)
            .await
            .unwrap();
        assert_eq!(report.num_docs, 10, "{key}");
        assert_eq!(report.num_rejected, 1, "{key}");
    }
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

/// Ids of every published document, with how many times each is there.
async fn published_quantities_by_description(
    setup: &LocalIndex,
) -> std::collections::BTreeMap<String, usize> {
    let service = hydrant_search::SearchService::new(
        setup.indexer.metastore().clone(),
        hydrant_search::SearcherConfig::default(),
    );
    let mut request = hydrant_search::SearchRequest::new("*");
    request.max_hits = 10_000;
    let response = service.search("sales", &request).await.unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for hit in &response.hits {
        *counts
            .entry(hit["description"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

async fn index_one(
    setup: &LocalIndex,
    key: &str,
    bytes: Vec<u8>,
) -> hydrant_ingest::IndexingReport {
    setup
        .staging
        .put(key, bytes.into(), PutMode::Create)
        .await
        .unwrap();
    setup
        .indexer
        .index_objects("sales", &[ObjectRef::new("staging", key)], None)
        .await
        .unwrap()
}

async fn rejection_entries(setup: &LocalIndex, path: &str) -> Vec<serde_json::Value> {
    let kept = setup
        .indexer
        .metastore()
        .storage()
        .get(path)
        .await
        .unwrap()
        .bytes;
    let text =
        hydrant_ingest::firehose::read_all(flate2::read::MultiGzDecoder::new(&kept[..])).unwrap();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A corrupted gzip member decodes into plausible records before its CRC fails: none of them
/// may be indexed. What precedes the member is, the object is kept whole, and the reason says
/// where it broke.
#[tokio::test]
async fn a_corrupt_gzip_object_adds_no_invented_document() {
    let setup = local_setup().await;
    // One member of 1,000 records with 64 bytes flipped in the middle (as in the field).
    let mut object = gzip(&records(0, 1000));
    let middle = object.len() / 2;
    for byte in &mut object[middle..middle + 64] {
        *byte ^= 0xa5;
    }
    let report = index_one(&setup, "flipped", object.clone()).await;
    assert_eq!(report.num_docs, 0, "nothing of an unverified member counts");
    assert_eq!(report.rejected_by_reason["corrupt_object"], 1);
    let kept_object = report
        .error_files
        .iter()
        .find(|path| path.contains("/errors/objects/"))
        .expect("the object is kept");
    let storage = setup.indexer.metastore().storage();
    assert_eq!(
        storage.get(kept_object).await.unwrap().bytes,
        object,
        "whole"
    );
    let rejections = report
        .error_files
        .iter()
        .find(|path| path.ends_with(".ndjson.gz"))
        .unwrap();
    let entries = rejection_entries(&setup, rejections).await;
    assert_eq!(
        entries.len(),
        1,
        "the garbage the corruption produced is not kept as records"
    );
    let message = entries[0]["message"].as_str().unwrap();
    assert!(
        message.contains("gzip member at byte 0") && message.contains(kept_object.as_str()),
        "{message}"
    );

    // Ten members of 100 records; the sixth is corrupt: exactly the first five are indexed.
    let mut object = Vec::new();
    for member in 0..10 {
        let mut bytes = gzip(&records(5_000 + member * 100, 100));
        if member == 5 {
            let middle = bytes.len() / 2;
            for byte in &mut bytes[middle..middle + 64] {
                *byte ^= 0xa5;
            }
        }
        object.extend(bytes);
    }
    let report = index_one(&setup, "members", object).await;
    assert_eq!(report.num_docs, 500);
    let expected: std::collections::BTreeMap<String, usize> =
        (5_000..5_500).map(|i| (format!("item {i}"), 1)).collect();
    assert_eq!(published_quantities_by_description(&setup).await, expected);

    // In one run with other objects, the split they share is rebuilt without the corruption:
    // they are indexed once, whole.
    let mut corrupt = gzip(&records(7_000, 300));
    let middle = corrupt.len() / 2;
    for byte in &mut corrupt[middle..middle + 64] {
        *byte ^= 0xa5;
    }
    let bodies = [
        ("run/a", gzip(&records(6_000, 400))),
        ("run/b", records(6_400, 300).into_bytes()),
        ("run/c", corrupt),
        ("run/d", gzip(&records(6_700, 200))),
    ];
    for (key, body) in &bodies {
        setup
            .staging
            .put(key, body.clone().into(), PutMode::Create)
            .await
            .unwrap();
    }
    let objects: Vec<ObjectRef> = bodies
        .iter()
        .map(|(key, _)| ObjectRef::new("staging", *key))
        .collect();
    let report = setup
        .indexer
        .index_objects("sales", &objects, None)
        .await
        .unwrap();
    assert_eq!(report.num_docs, 900);
    let mut expected = expected;
    expected.extend((6_000..6_900).map(|i| (format!("item {i}"), 1)));
    assert_eq!(published_quantities_by_description(&setup).await, expected);

    // Truncated: the one member never verifies.
    let object = gzip(&records(9_000, 3000));
    let report = index_one(&setup, "truncated", object[..object.len() / 2].to_vec()).await;
    assert_eq!(report.num_docs, 0);
    assert_eq!(report.rejected_by_reason["corrupt_object"], 1);
    // The objects are checkpointed: retrying cannot recover more, and they are kept.
    let metadata = setup
        .indexer
        .metastore()
        .index_metadata("sales")
        .await
        .unwrap();
    assert_eq!(metadata.num_published_docs(), 1400);
    assert!(
        metadata
            .checkpoint
            .objects
            .contains_key("staging/truncated")
    );
}

/// Rejected records are kept whole (large ones, binary ones), one line is one record in
/// newline-delimited objects, and objects whose keys clean up alike keep their own files.
#[tokio::test]
async fn rejected_records_are_kept_whole_and_never_overwritten() {
    let setup = local_setup().await;
    let large = format!(
        "{{\"ts\":1700000000,\"quantity\":\"{}\"}}",
        "x".repeat(100 << 10)
    );
    let mut body = records(0, 3).into_bytes();
    body.extend(format!("{large}\n").as_bytes());
    body.extend(b"garbage {\"ts\":1700000000,\"quantity\":1,\"description\":\"after garbage\"}\n");
    body.extend(b"{\"ts\":1700000000,\"description\":\"\xff\xfe binary\"}\n");
    body.extend(records(3, 3).as_bytes());
    let first = index_one(&setup, "2026/12/01/a b", body.clone()).await;
    let second = index_one(&setup, "2026/12/01/a_b", body).await;
    for report in [&first, &second] {
        assert_eq!(
            report.num_docs, 6,
            "valid JSON after garbage on its line is not a record"
        );
        assert_eq!(report.num_rejected, 3);
    }
    assert_ne!(first.error_files, second.error_files, "names of their own");
    for report in [&first, &second] {
        let entries = rejection_entries(&setup, &report.error_files[0]).await;
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0]["record"].as_str().unwrap(), large, "kept whole");
        assert!(
            entries[1]["record"]
                .as_str()
                .unwrap()
                .starts_with("garbage {"),
            "one line, one record"
        );
        let binary = entries[2]["record_base64"]
            .as_str()
            .expect("not UTF-8: base64");
        assert!(entries[2].get("record").is_none());
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(binary)
            .unwrap();
        assert!(
            decoded.windows(2).any(|pair| pair == b"\xff\xfe"),
            "every byte"
        );
    }
}

/// A record larger than what an entry holds: the entry keeps its beginning, and the object
/// is kept whole.
#[tokio::test]
async fn an_oversized_record_keeps_its_object_whole() {
    let setup = local_setup().await;
    let huge = "y".repeat(hydrant_ingest::firehose::MAX_RECORD_BYTES + 10);
    let mut body = records(0, 2);
    body.push_str(&format!(
        "{{\"ts\":1700000000,\"description\":\"{huge}\"}}\n"
    ));
    body.push_str(&records(2, 2));
    let report = index_one(&setup, "huge", body.clone().into_bytes()).await;
    assert_eq!(report.num_docs, 4);
    assert_eq!(report.num_rejected, 1);
    let kept = report
        .error_files
        .iter()
        .find(|path| path.contains("/errors/objects/"))
        .expect("kept whole");
    let storage = setup.indexer.metastore().storage();
    assert_eq!(storage.get(kept).await.unwrap().bytes, body.as_bytes());
}
