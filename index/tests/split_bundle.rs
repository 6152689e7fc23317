//! Split bundle round trip: random small indexes are bundled, stored, and opened again from
//! storage with ranged reads; every term and every stored document must come back.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hydrant_index::config::IndexConfig;
use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::split_bundle::{
    ByteRangeFetcher, SplitDirectory, SplitFooter, write_split_bundle,
};
use hydrant_storage::testing::MemoryStorage;
use hydrant_storage::{PutMode, Storage};
use proptest::prelude::*;
use tantivy::collector::{Count, DocSetCollector};
use tantivy::directory::OwnedBytes;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexWriter, TantivyDocument, Term};

const CONFIG: &str = r#"
index_id: roundtrip
doc_mapping:
  mode: lenient
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: body, type: text, record: position}
    - {name: count, type: u64, fast: true}
  timestamp_field: ts
"#;

const VOCABULARY: [&str; 8] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
];

#[derive(Debug)]
struct BytesFetcher {
    bytes: Bytes,
    num_fetches: AtomicUsize,
}

impl ByteRangeFetcher for BytesFetcher {
    fn fetch(&self, range: Range<u64>) -> io::Result<OwnedBytes> {
        self.num_fetches.fetch_add(1, Ordering::SeqCst);
        Ok(OwnedBytes::new(
            self.bytes[range.start as usize..range.end as usize].to_vec(),
        ))
    }
}

fn build_index(doc_mapper: &DocMapper, docs: &[(Vec<usize>, u64)], dir: &std::path::Path) {
    let mut index = Index::create_in_dir(dir, doc_mapper.schema().clone()).unwrap();
    index.set_tokenizers(doc_mapper.tokenizers().clone());
    let mut writer: IndexWriter<TantivyDocument> =
        index.writer_with_num_threads(1, 15_000_000).unwrap();
    for (position, (words, count)) in docs.iter().enumerate() {
        let body: Vec<&str> = words.iter().map(|word| VOCABULARY[*word]).collect();
        let record = serde_json::json!({"ts": 1_700_000_000 + position as i64, "body": body.join(" "), "count": count});
        let parsed = doc_mapper
            .doc_from_json(record.as_object().unwrap().clone())
            .unwrap();
        writer.add_document(parsed.doc).unwrap();
    }
    writer.commit().unwrap();
    writer.wait_merging_threads().unwrap();
}

fn roundtrip(docs: Vec<(Vec<usize>, u64)>) {
    let doc_mapper = DocMapper::new(&IndexConfig::from_yaml(CONFIG).unwrap()).unwrap();
    let temp_dir = tempfile::tempdir().unwrap();
    let index_dir = temp_dir.path().join("index");
    std::fs::create_dir(&index_dir).unwrap();
    build_index(&doc_mapper, &docs, &index_dir);
    let split_path = temp_dir.path().join("out.split");
    let info = write_split_bundle(&index_dir, &split_path).unwrap();
    let split_bytes = Bytes::from(std::fs::read(&split_path).unwrap());
    assert_eq!(info.split_size_bytes, split_bytes.len() as u64);
    assert_eq!(info.footer_offsets.end, info.split_size_bytes);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let storage = MemoryStorage::default();
    let footer = runtime.block_on(async {
        storage
            .put("s.split", split_bytes.clone().into(), PutMode::Create)
            .await
            .unwrap();
        // Opening without the offsets finds the footer from the trailer.
        let without_offsets = SplitFooter::read(&storage, "s.split", None).await.unwrap();
        assert_eq!(without_offsets.footer_offsets(), &info.footer_offsets);
        SplitFooter::read(&storage, "s.split", Some(info.footer_offsets.clone()))
            .await
            .unwrap()
    });
    let fetcher = Arc::new(BytesFetcher {
        bytes: split_bytes,
        num_fetches: AtomicUsize::new(0),
    });
    let mut index = SplitDirectory::new(Arc::new(footer), fetcher.clone())
        .open_index()
        .unwrap();
    index.set_tokenizers(doc_mapper.tokenizers().clone());
    let reader = index.reader().unwrap();
    let searcher = reader.searcher();
    // The hotcache alone opens the index.
    assert_eq!(
        fetcher.num_fetches.load(Ordering::SeqCst),
        0,
        "opening must not fetch"
    );
    assert_eq!(searcher.num_docs(), docs.len() as u64);

    let body = doc_mapper.schema().get_field("body").unwrap();
    for (word_index, word) in VOCABULARY.iter().enumerate() {
        let expected = docs
            .iter()
            .filter(|(words, _)| words.contains(&word_index))
            .count();
        let query = TermQuery::new(Term::from_field_text(body, word), IndexRecordOption::Basic);
        assert_eq!(
            searcher.search(&query, &Count).unwrap(),
            expected,
            "term {word}"
        );
    }
    let all = searcher
        .search(&tantivy::query::AllQuery, &DocSetCollector)
        .unwrap();
    let mut rendered: Vec<serde_json::Value> = all
        .into_iter()
        .map(|address| {
            let doc: TantivyDocument = searcher.doc(address).unwrap();
            serde_json::Value::Object(doc_mapper.doc_to_json(&doc))
        })
        .collect();
    rendered.sort_by_key(|hit| hit["ts"].as_str().unwrap().to_string());
    for (position, (hit, (words, count))) in rendered.iter().zip(&docs).enumerate() {
        let body: Vec<&str> = words.iter().map(|word| VOCABULARY[*word]).collect();
        assert_eq!(
            hit["body"],
            serde_json::json!(body.join(" ")),
            "doc {position}"
        );
        assert_eq!(hit["count"], serde_json::json!(count));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn split_bundle_roundtrip(docs in prop::collection::vec(
        (prop::collection::vec(0..VOCABULARY.len(), 1..6), any::<u64>()),
        1..60,
    )) {
        roundtrip(docs);
    }
}

#[test]
fn corrupt_footers_are_refused() {
    let doc_mapper = DocMapper::new(&IndexConfig::from_yaml(CONFIG).unwrap()).unwrap();
    let temp_dir = tempfile::tempdir().unwrap();
    let index_dir = temp_dir.path().join("index");
    std::fs::create_dir(&index_dir).unwrap();
    build_index(&doc_mapper, &[(vec![0, 1], 1)], &index_dir);
    let split_path = temp_dir.path().join("out.split");
    let info = write_split_bundle(&index_dir, &split_path).unwrap();
    let bytes = std::fs::read(&split_path).unwrap();
    let footer = Bytes::from(bytes[info.footer_offsets.start as usize..].to_vec());
    assert!(SplitFooter::parse("ok", footer.clone(), info.footer_offsets.clone()).is_ok());
    // One flipped byte in the hotcache breaks the checksum.
    let mut flipped = footer.to_vec();
    flipped[3] ^= 0xff;
    let error = SplitFooter::parse("x", flipped.into(), info.footer_offsets.clone()).unwrap_err();
    assert!(error.to_string().contains("checksum"), "{error}");
    // Wrong offsets, wrong magic.
    assert!(
        SplitFooter::parse(
            "x",
            footer.slice(1..),
            info.footer_offsets.start + 1..info.footer_offsets.end
        )
        .is_err()
    );
    let mut bad_magic = footer.to_vec();
    let last = bad_magic.len() - 1;
    bad_magic[last] = b'X';
    let error = SplitFooter::parse("x", bad_magic.into(), info.footer_offsets).unwrap_err();
    assert!(error.to_string().contains("magic"), "{error}");
}
