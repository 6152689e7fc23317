//! The test fixture shared by the search tests: 400 mock-sales-like records in 4 splits,
//! indexed by the real indexer on local disk.

#![allow(dead_code)]

use std::sync::Arc;

use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_metastore::index_config::IndexConfig;
use hydrant_metastore::storage::{LocalStorage, PutMode, SharedStorage, Storage, StorageUri};
use hydrant_search::{SearchService, SearcherConfig};

const CONFIG: &str = r#"
index_id: mock-sales
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], output_format: unix_timestamp_secs, fast: true}
    - {name: id, type: u64, fast: true}
    - {name: name, type: text, tokenizer: raw}
    - {name: price, type: f64, fast: true}
    - {name: quantity, type: u64}
    - {name: description, type: text, tokenizer: default, record: position}
  timestamp_field: ts
search_settings:
  default_search_fields: [description]
"#;

const NAMES: [&str; 4] = ["apple", "banana", "cherry", "damson"];
const WORDS: [&str; 5] = ["fresh", "ripe", "organic", "juicy", "sweet"];

/// Record `i`: deterministic fields so that expected counts can be computed.
pub fn record(i: u64) -> String {
    format!(
        r#"{{"ts":{},"id":{i},"name":"{}","price":{}.5,"quantity":{},"description":"{} {} fruit","extra":"x{}"}}"#,
        1_700_000_000 + i * 60,
        NAMES[(i % 4) as usize],
        i % 50,
        i % 10,
        WORDS[(i % 5) as usize],
        WORDS[((i + 1) % 5) as usize],
        i % 3
    )
}

pub struct Fixture {
    pub _temp_dir: tempfile::TempDir,
    pub service: SearchService,
    pub index_storage: SharedStorage,
}

/// 400 records in 4 objects of 100, one split each.
pub async fn fixture() -> Fixture {
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging = LocalStorage::new(&staging_dir).unwrap();
    let index_storage: SharedStorage =
        Arc::new(LocalStorage::new(temp_dir.path().join("index")).unwrap());
    let metastore = Metastore::new(index_storage.clone());
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let indexer = Indexer::new(
        metastore.clone(),
        StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir)),
    );
    for object in 0..4u64 {
        let body: String = (object * 100..(object + 1) * 100)
            .map(|i| record(i) + "\n")
            .collect();
        let key = format!("object-{object}");
        staging
            .put(&key, body.into_bytes().into(), PutMode::Create)
            .await
            .unwrap();
        indexer
            .index_objects("mock-sales", &[ObjectRef::new("staging", key)], None)
            .await
            .unwrap();
    }
    Fixture {
        _temp_dir: temp_dir,
        service: SearchService::new(metastore, SearcherConfig::default()),
        index_storage,
    }
}

pub fn count_where(predicate: impl Fn(u64) -> bool) -> u64 {
    (0..400).filter(|i| predicate(*i)).count() as u64
}
