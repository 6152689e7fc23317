//! `partition_key`: each split holds one partition (past `max_num_partitions`, the overflow
//! one), across rolls and the rebuild a corrupt gzip member forces, and a search pinning the
//! key reads only that partition's splits, and still finds every match.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use hydrant_index::partition::OTHER_PARTITION_ID;
use hydrant_ingest::ObjectRef;
use hydrant_ingest::testing::LocalIndex;
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use hydrant_storage::PutMode;

const CONFIG: &str = r#"
index_id: sales
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: quantity, type: u64}
    - {name: description, type: text}
  timestamp_field: ts
  partition_key: quantity
  max_num_partitions: 4
indexing_settings:
  split_num_docs_target: 50
"#;

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// Records `first..first + count`; quantity `i % 6`, so six partitions for four slots.
fn records(first: u64, count: u64) -> String {
    (first..first + count)
        .map(|i| {
            format!(
                "{{\"ts\":{},\"quantity\":{},\"description\":\"item {i}\"}}\n",
                1_700_000_000 + i,
                i % 6
            )
        })
        .collect()
}

#[tokio::test]
async fn splits_hold_one_partition_and_searches_prune_by_it() {
    let local = LocalIndex::with_index(CONFIG).await;
    let mut corrupt = gzip(&records(700, 300));
    let middle = corrupt.len() / 2;
    for byte in &mut corrupt[middle..middle + 64] {
        *byte ^= 0xa5;
    }
    // A gzip object, a plain one (its splits may roll mid-object), a corrupt one (the
    // splits being filled are rebuilt without it) and another gzip one, in one run.
    let bodies = [
        ("run/a", gzip(&records(0, 400))),
        ("run/b", records(400, 300).into_bytes()),
        ("run/c", corrupt),
        ("run/d", gzip(&records(1_000, 200))),
    ];
    for (key, body) in &bodies {
        local
            .staging
            .put(key, body.clone().into(), PutMode::Create)
            .await
            .unwrap();
    }
    let objects: Vec<ObjectRef> = bodies
        .iter()
        .map(|(key, _)| ObjectRef::new("staging", *key))
        .collect();
    let report = local
        .indexer
        .index_objects("sales", &objects, None)
        .await
        .unwrap();
    let corrupt_kept = report.num_docs - 900;
    assert!(corrupt_kept < 300, "{} documents", report.num_docs);

    let metadata = local.metastore.index_metadata("sales").await.unwrap();
    let partitions: BTreeMap<u64, u64> =
        metadata
            .published_splits()
            .fold(BTreeMap::new(), |mut partitions, split| {
                *partitions.entry(split.partition_id).or_default() += split.num_docs;
                partitions
            });
    assert_eq!(
        partitions.len(),
        5,
        "four partitions and the overflow one: {partitions:?}"
    );
    assert!(partitions.contains_key(&OTHER_PARTITION_ID));
    assert!(metadata.published_splits().count() > 5, "partitions rolled");

    // Every record once, and each quantity found whole through pruning.
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let mut request = SearchRequest::new("*");
    request.max_hits = 10_000;
    let all = service.search("sales", &request).await.unwrap();
    let mut descriptions: Vec<&str> = all
        .hits
        .iter()
        .map(|hit| hit["description"].as_str().unwrap())
        .collect();
    descriptions.sort();
    descriptions.dedup();
    assert_eq!(
        descriptions.len() as u64,
        report.num_docs,
        "no document twice"
    );
    let total_splits = metadata.published_splits().count();
    let mut found = 0;
    for quantity in 0..6 {
        let mut request = SearchRequest::new(format!("quantity:{quantity}"));
        request.max_hits = 0;
        request.stats = true;
        let response = service.search("sales", &request).await.unwrap();
        let expected = all
            .hits
            .iter()
            .filter(|hit| hit["quantity"] == quantity)
            .count() as u64;
        assert_eq!(response.num_hits, expected, "quantity {quantity}");
        let stats = response.stats.unwrap();
        assert!(
            stats.splits_searched < total_splits,
            "quantity {quantity}: {stats:?}"
        );
        found += response.num_hits;
    }
    assert_eq!(found, report.num_docs);
}
