//! The test fixture every crate's tests build on: a staging bucket and an index storage on
//! local disk in one temporary directory, a metastore, and the real indexer between them.
//! Behind the `testing` feature; production code never sees it.
//!
//! ```
//! # tokio_test_block_on(async {
//! use hydrant_ingest::testing::LocalIndex;
//!
//! let local = LocalIndex::with_index(hydrant_ingest::testing::FRUIT_CONFIG).await;
//! local.put_object("object-0", b"{\"ts\": 1700000000, \"id\": 1}\n".to_vec()).await;
//! local.index("fruit", &["object-0"]).await;
//! assert_eq!(local.published_docs("fruit").await, 1);
//! # });
//! # fn tokio_test_block_on(future: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
//! # }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use hydrant_index::config::IndexConfig;
use hydrant_metastore::Metastore;
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, StorageUri};

use crate::batch::IndexerRuntime;
use crate::{Indexer, IndexingReport, ObjectRef, StagingBuckets};

/// The staging bucket's name in [`LocalIndex`].
pub const STAGING_BUCKET: &str = "staging";

/// The dataset most search tests count on: fruit sales, see [`fruit_record`].
pub const FRUIT_CONFIG: &str = r#"
index_id: fruit
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

const FRUIT_NAMES: [&str; 4] = ["apple", "banana", "cherry", "damson"];
const FRUIT_WORDS: [&str; 5] = ["fresh", "ripe", "organic", "juicy", "sweet"];

/// Fruit-sale record `i`: every field a function of `i`, so that a test computes its expected
/// counts (`name` cycles through 4 fruits, `quantity` is `i % 10`, `price` `i % 50 + 0.5`,
/// `description` two of 5 words, `ts` a minute apart from 1,700,000,000).
pub fn fruit_record(i: u64) -> String {
    format!(
        r#"{{"ts":{},"id":{i},"name":"{}","price":{}.5,"quantity":{},"description":"{} {} fruit","extra":"x{}"}}"#,
        1_700_000_000 + i * 60,
        FRUIT_NAMES[(i % 4) as usize],
        i % 50,
        i % 10,
        FRUIT_WORDS[(i % 5) as usize],
        FRUIT_WORDS[((i + 1) % 5) as usize],
        i % 3
    )
}

/// Records in [`LocalIndex::fruit_sales`].
pub const FRUIT_RECORDS: u64 = 400;

/// How many of the fruit-sales records satisfy `predicate` (given the record's number): what
/// a search over [`LocalIndex::fruit_sales`] must count.
pub fn fruit_count_where(predicate: impl Fn(u64) -> bool) -> u64 {
    (0..FRUIT_RECORDS).filter(|i| predicate(*i)).count() as u64
}

/// A staging bucket, an index storage, a metastore and an indexer, on local disk.
pub struct LocalIndex {
    /// Removed with the fixture.
    pub temp_dir: tempfile::TempDir,
    pub staging_dir: PathBuf,
    pub staging: SharedStorage,
    pub index_storage: SharedStorage,
    pub metastore: Metastore,
    pub indexer: Indexer,
}

impl LocalIndex {
    /// An empty index storage.
    pub async fn new() -> Self {
        Self::with_clock(Arc::new(hydrant_metastore::clock::SystemClock)).await
    }

    /// An empty index storage whose metastore reads time from `clock` (tests of grace periods
    /// and retention set it).
    pub async fn with_clock(clock: hydrant_metastore::clock::SharedClock) -> Self {
        let temp_dir = tempfile::tempdir().expect("a temporary directory");
        let staging_dir = temp_dir.path().join("staging");
        let staging: SharedStorage =
            Arc::new(LocalStorage::new(&staging_dir).expect("a staging directory"));
        let index_storage: SharedStorage =
            Arc::new(LocalStorage::new(temp_dir.path().join("index")).expect("an index directory"));
        let metastore = Metastore::with_clock(index_storage.clone(), clock);
        let indexer = Indexer::new(metastore.clone(), Self::buckets(&staging_dir));
        LocalIndex {
            temp_dir,
            staging_dir,
            staging,
            index_storage,
            metastore,
            indexer,
        }
    }

    /// With one index, created from `config_yaml`.
    pub async fn with_index(config_yaml: &str) -> Self {
        let local = Self::new().await;
        local.create_index(config_yaml).await;
        local
    }

    /// [`FRUIT_CONFIG`] with [`FRUIT_RECORDS`] [`fruit_record`]s in 4 objects, one split each.
    pub async fn fruit_sales() -> Self {
        let local = Self::with_index(FRUIT_CONFIG).await;
        let per_object = FRUIT_RECORDS / 4;
        for object in 0..4u64 {
            let body: String = (object * per_object..(object + 1) * per_object)
                .map(|i| fruit_record(i) + "\n")
                .collect();
            let key = format!("object-{object}");
            local.put_object(&key, body.into_bytes()).await;
            local.index("fruit", &[&key]).await;
        }
        local
    }

    /// The staging bucket bound to its directory, as the indexer resolves it.
    pub fn buckets(staging_dir: &std::path::Path) -> StagingBuckets {
        StagingBuckets::default().bind(STAGING_BUCKET, StorageUri::Local(staging_dir.into()))
    }

    pub async fn create_index(&self, config_yaml: &str) {
        let config = IndexConfig::from_yaml(config_yaml).expect("a valid index config");
        self.metastore
            .create_index(config)
            .await
            .expect("the index is created");
    }

    /// Writes (or replaces) a staging object.
    pub async fn put_object(&self, key: &str, body: Vec<u8>) {
        self.staging
            .put(key, body.into(), PutMode::Overwrite)
            .await
            .expect("the staging object is written");
    }

    /// Indexes staging objects into `index_id`, as one batch.
    pub async fn index(&self, index_id: &str, keys: &[&str]) -> IndexingReport {
        let objects: Vec<ObjectRef> = keys
            .iter()
            .map(|key| ObjectRef::new(STAGING_BUCKET, *key))
            .collect();
        self.indexer
            .index_objects(index_id, &objects, None)
            .await
            .expect("the objects are indexed")
    }

    /// A batch runtime over this fixture's indexer, with `prefix_rules` routing objects.
    pub async fn runtime(&self, prefix_rules: Vec<(String, String)>) -> IndexerRuntime {
        let indexer = Indexer::new(self.metastore.clone(), Self::buckets(&self.staging_dir));
        IndexerRuntime::new(indexer, prefix_rules)
            .await
            .expect("the runtime starts")
    }

    /// Documents in the published splits of `index_id`.
    pub async fn published_docs(&self, index_id: &str) -> u64 {
        self.metastore
            .index_metadata(index_id)
            .await
            .expect("the index is read")
            .num_published_docs()
    }
}

/// The body EventBridge puts on the stack's queue when `key` lands in `bucket` (an S3
/// `Object Created` event), as the indexer receives it.
pub fn eventbridge_body(bucket: &str, key: &str) -> String {
    serde_json::json!({
        "version": "0", "id": key, "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}}
    })
    .to_string()
}
