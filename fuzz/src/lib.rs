//! What the fuzz targets share: an index mapping every field type, a searcher over a small real
//! index in memory, and a byte-range fetcher over a buffer.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use hydrant_index::config::IndexConfig;
use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::split_bundle::ByteRangeFetcher;
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_search::{SearchService, SearcherConfig};
use hydrant_storage::testing::MemoryStorage;
use hydrant_storage::{PutMode, SharedStorage};
use tantivy::directory::OwnedBytes;

/// Every field type, a timestamp, default search fields, dynamic mode.
pub const CONFIG: &str = r#"
index_id: fuzz
doc_mapping:
  mode: dynamic
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp, rfc3339], fast: true}
    - {name: id, type: u64, fast: true}
    - {name: delta, type: i64, fast: true}
    - {name: price, type: f64, fast: true}
    - {name: ok, type: bool, fast: true}
    - {name: ip, type: ip, fast: true}
    - {name: blob, type: bytes}
    - {name: name, type: text, tokenizer: raw, fast: true}
    - {name: body, type: text, tokenizer: default, record: position}
    - {name: attrs, type: json, fast: true}
    - name: user
      type: object
      field_mappings:
        - {name: login, type: text, tokenizer: raw}
        - {name: age, type: u64}
  timestamp_field: ts
search_settings:
  default_search_fields: [body, name]
"#;

/// The doc mapper of [`CONFIG`].
pub fn doc_mapper() -> &'static DocMapper {
    static MAPPER: OnceLock<DocMapper> = OnceLock::new();
    MAPPER.get_or_init(|| {
        DocMapper::new(&IndexConfig::from_yaml(CONFIG).expect("the fuzz config is valid"))
            .expect("the fuzz config maps")
    })
}

/// The doc mapper of [`CONFIG`], shared, for APIs that hold one.
pub fn shared_doc_mapper() -> Arc<DocMapper> {
    static MAPPER: OnceLock<Arc<DocMapper>> = OnceLock::new();
    MAPPER
        .get_or_init(|| {
            Arc::new(
                DocMapper::new(&IndexConfig::from_yaml(CONFIG).expect("the fuzz config is valid"))
                    .expect("the fuzz config maps"),
            )
        })
        .clone()
}

/// A record of [`CONFIG`]'s shape.
pub fn record(i: u64) -> String {
    format!(
        r#"{{"ts":{},"id":{i},"delta":{},"price":{}.25,"ok":{},"ip":"10.0.0.{}","blob":"aGk=","name":"n{}","body":"quick brown fox {i}","attrs":{{"k":"v{}","n":{i}}},"user":{{"login":"u{}","age":{}}},"extra":"x{i}"}}"#,
        1_700_000_000 + i * 60,
        i as i64 - 5,
        i % 7,
        i % 2 == 0,
        i % 250,
        i % 3,
        i % 4,
        i % 5,
        i % 90
    )
}

/// A single-threaded runtime for the async targets.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// A searcher over index `fuzz` ([`CONFIG`]) holding two splits of a few records each, in
/// memory: requests reach real splits.
pub fn service() -> &'static SearchService {
    static SERVICE: OnceLock<SearchService> = OnceLock::new();
    SERVICE.get_or_init(|| {
        runtime().block_on(async {
            let index_storage: SharedStorage = Arc::new(MemoryStorage::default());
            let staging: SharedStorage = Arc::new(MemoryStorage::default());
            let metastore = Metastore::new(index_storage);
            metastore
                .create_index(IndexConfig::from_yaml(CONFIG).expect("valid"))
                .await
                .expect("index created");
            let indexer = Indexer::new(
                metastore.clone(),
                StagingBuckets::default().bind_storage("staging", staging.clone()),
            );
            for object in 0..2u64 {
                let body: String = (object * 10..object * 10 + 10)
                    .map(|i| record(i) + "\n")
                    .collect();
                let key = format!("object-{object}");
                staging
                    .put(&key, body.into_bytes().into(), PutMode::Create)
                    .await
                    .expect("staged");
                indexer
                    .index_objects("fuzz", &[ObjectRef::new("staging", key)], None)
                    .await
                    .expect("indexed");
            }
            SearchService::new(metastore, SearcherConfig::default())
        })
    })
}

/// Serves byte ranges of a buffer, refusing those outside it.
#[derive(Debug)]
pub struct BufferFetcher(pub bytes::Bytes);

impl ByteRangeFetcher for BufferFetcher {
    fn fetch(&self, range: Range<u64>) -> std::io::Result<OwnedBytes> {
        let out_of_bounds = range.start > range.end || range.end > self.0.len() as u64;
        if out_of_bounds {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "range outside the buffer",
            ));
        }
        Ok(OwnedBytes::new(
            self.0[range.start as usize..range.end as usize].to_vec(),
        ))
    }
}
