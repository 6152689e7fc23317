//! What a warm searcher remembers between requests (and Lambda invocations).
//!
//! - [`MetastoreCache`]: each index's splits view (its index document and shard documents),
//!   trusted for a short time, then revalidated with a conditional GET of the index document
//!   (`If-None-Match` with its ETag) and one listing of its shard documents (which carries
//!   their ETags): two cheap requests, and only the shard documents that changed are read.
//! - [`LeafCache`]: the result of one request on one split. Splits never change, so a result
//!   stays valid for as long as it is kept; bounded by size.
//! - [`DocCache`]: rendered hits by split and document; documents never change either.
//! - [`DocMapperCache`]: doc mappers by index and doc mapping, built once.
//! - [`FooterCache`]: split footers (metadata and hotcache), one ranged GET each otherwise.
//! - [`OpenSplitCache`]: splits opened by tantivy, ready to search.
//! - [`ChunkCache`]: 64 KiB chunks of split files, read through by the fetcher.
//!
//! Whole splits on local disk are the optional [`crate::split_cache::SplitCache`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hydrant_index::config::IndexConfig;
use hydrant_index::doc_mapper::DocMapper;
use hydrant_metastore::{IndexMetadata, IndexVersion, Metastore};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use serde_json::Value;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;

use hydrant_index::split_bundle::SplitFooter;
use tantivy::Searcher;
use tantivy::directory::OwnedBytes;

use crate::error::{Result, SearchError};
use crate::sort::Candidate;

/// Unit of the byte-range cache: reads are rounded out to whole chunks.
pub const CHUNK_SIZE: u64 = 64 << 10;

/// How long an index's splits view is trusted before it is revalidated. Together with the
/// longest query, this bounds how long a searcher may still read a split after it was marked
/// for deletion: garbage collection's grace period must exceed it.
pub const METASTORE_TTL: Duration = Duration::from_secs(3);

struct CachedIndex {
    metadata: Arc<IndexMetadata>,
    version: IndexVersion,
    checked_at: Instant,
}

/// Metastore documents, revalidated at most every [`METASTORE_TTL`], and the list of index
/// ids (what index patterns select from), listed again at most as often.
pub struct MetastoreCache {
    metastore: Metastore,
    ttl: Duration,
    entries: Mutex<HashMap<String, CachedIndex>>,
    index_ids: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

impl MetastoreCache {
    pub fn new(metastore: Metastore, ttl: Duration) -> Self {
        MetastoreCache {
            metastore,
            ttl,
            entries: Mutex::default(),
            index_ids: Mutex::default(),
        }
    }

    /// Every index id, sorted: listed, or as listed less than the TTL ago.
    pub async fn index_ids(&self) -> Result<Arc<Vec<String>>> {
        {
            let cached = self.index_ids.lock().expect("index list lock poisoned");
            if let Some((listed_at, ids)) = cached.as_ref()
                && listed_at.elapsed() < self.ttl
            {
                return Ok(ids.clone());
            }
        }
        let ids = Arc::new(self.metastore.list_index_ids().await?);
        *self.index_ids.lock().expect("index list lock poisoned") =
            Some((Instant::now(), ids.clone()));
        Ok(ids)
    }

    pub fn metastore(&self) -> &Metastore {
        &self.metastore
    }

    /// The index's document: cached, revalidated, or read.
    pub async fn get(&self, index_id: &str) -> Result<Arc<IndexMetadata>> {
        let cached = {
            let entries = self.entries.lock().expect("metastore cache lock poisoned");
            entries.get(index_id).map(|entry| {
                (
                    entry.metadata.clone(),
                    entry.version.clone(),
                    entry.checked_at,
                )
            })
        };
        let (metadata, version) = match cached {
            Some((metadata, _, checked_at)) if checked_at.elapsed() < self.ttl => {
                return Ok(metadata);
            }
            Some((metadata, version, _)) => {
                match self
                    .metastore
                    .index_splits_if_modified(index_id, &metadata, &version)
                    .await
                {
                    Ok(None) => (metadata, version),
                    Ok(Some((fresh, fresh_version))) => (Arc::new(fresh), fresh_version),
                    Err(error) => {
                        self.invalidate(index_id);
                        return Err(error.into());
                    }
                }
            }
            None => {
                let (fresh, fresh_version) =
                    self.metastore.index_splits_versioned(index_id).await?;
                (Arc::new(fresh), fresh_version)
            }
        };
        self.entries
            .lock()
            .expect("metastore cache lock poisoned")
            .insert(
                index_id.to_string(),
                CachedIndex {
                    metadata: metadata.clone(),
                    version,
                    checked_at: Instant::now(),
                },
            );
        Ok(metadata)
    }

    /// Forces the next [`MetastoreCache::get`] to revalidate (after meeting a missing split).
    pub fn expire(&self, index_id: &str) {
        *self.index_ids.lock().expect("index list lock poisoned") = None;
        if let Some(entry) = self
            .entries
            .lock()
            .expect("metastore cache lock poisoned")
            .get_mut(index_id)
        {
            entry.checked_at = Instant::now() - self.ttl;
        }
    }

    fn invalidate(&self, index_id: &str) {
        self.entries
            .lock()
            .expect("metastore cache lock poisoned")
            .remove(index_id);
    }
}

/// Doc mappers, by index id, doc mapping and search settings.
#[derive(Default)]
pub struct DocMapperCache {
    entries: Mutex<HashMap<String, Arc<DocMapper>>>,
}

impl DocMapperCache {
    /// The doc mapper of the index's current config.
    pub fn get(&self, metadata: &IndexMetadata) -> Result<Arc<DocMapper>> {
        self.of_config(&metadata.index_config)
    }

    /// The doc mapper splits of doc mapping `doc_mapping_uid` were built with
    /// ([`IndexMetadata::config_of_mapping`]).
    pub fn of_mapping(
        &self,
        metadata: &IndexMetadata,
        doc_mapping_uid: &str,
    ) -> Result<Arc<DocMapper>> {
        self.of_config(&metadata.config_of_mapping(doc_mapping_uid))
    }

    fn of_config(&self, config: &IndexConfig) -> Result<Arc<DocMapper>> {
        // The search settings too: the mapper answers the default search fields.
        let key = format!(
            "{}:{}:{}",
            config.index_id,
            serde_json::to_string(&config.spec.doc_mapping).expect("doc mapping serializes"),
            serde_json::to_string(&config.spec.search_settings).expect("settings serialize"),
        );
        let mut entries = self.entries.lock().expect("doc mapper cache lock poisoned");
        if let Some(doc_mapper) = entries.get(&key) {
            return Ok(doc_mapper.clone());
        }
        let doc_mapper = Arc::new(
            DocMapper::new(config).map_err(|error| SearchError::Internal(error.to_string()))?,
        );
        entries.insert(key, doc_mapper.clone());
        Ok(doc_mapper)
    }
}

/// What one split answered for one request.
#[derive(Clone, Debug)]
pub struct LeafOutcome {
    pub count: u64,
    pub candidates: Vec<Candidate>,
    pub aggregations: Option<IntermediateAggregationResults>,
    /// The best score of a scored search's matches.
    pub max_score: Option<f32>,
}

#[derive(Clone)]
struct LeafWeighter;

impl Weighter<(String, String), Arc<LeafOutcome>> for LeafWeighter {
    fn weight(&self, key: &(String, String), outcome: &Arc<LeafOutcome>) -> u64 {
        // A rough size: keys, candidates, and a flat allowance for aggregation state.
        (key.0.len() + key.1.len() + outcome.candidates.len() * 64 + 256) as u64
            + if outcome.aggregations.is_some() {
                4096
            } else {
                0
            }
    }
}

/// Results per (split id, request fingerprint), bounded in bytes.
pub struct LeafCache {
    entries: Cache<(String, String), Arc<LeafOutcome>, LeafWeighter>,
}

impl LeafCache {
    pub fn with_capacity_bytes(capacity_bytes: u64) -> Self {
        LeafCache {
            entries: Cache::with_weighter(1024, capacity_bytes, LeafWeighter),
        }
    }

    pub fn get(&self, split_id: &str, fingerprint: &str) -> Option<Arc<LeafOutcome>> {
        self.entries
            .get(&(split_id.to_string(), fingerprint.to_string()))
    }

    pub fn insert(&self, split_id: &str, fingerprint: &str, outcome: Arc<LeafOutcome>) {
        self.entries
            .insert((split_id.to_string(), fingerprint.to_string()), outcome);
    }
}

/// A rendered hit: one document of one split, as the response shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DocKey {
    pub split_id: String,
    pub segment_ord: u32,
    pub doc_id: u32,
}

#[derive(Clone)]
struct DocWeighter;

impl Weighter<DocKey, Arc<Value>> for DocWeighter {
    fn weight(&self, key: &DocKey, hit: &Arc<Value>) -> u64 {
        (key.split_id.len() + 64) as u64 + json_size_estimate(hit)
    }
}

/// Bytes a JSON value roughly takes in memory.
fn json_size_estimate(value: &Value) -> u64 {
    match value {
        Value::String(text) => 24 + text.len() as u64,
        Value::Array(items) => 24 + items.iter().map(json_size_estimate).sum::<u64>(),
        Value::Object(map) => {
            48 + map
                .iter()
                .map(|(key, value)| 24 + key.len() as u64 + json_size_estimate(value))
                .sum::<u64>()
        }
        _ => 16,
    }
}

/// Rendered hits, bounded in bytes. Documents in a split never change, so an entry is never
/// stale; it saves reopening the split and decompressing a doc store block (up to a megabyte
/// of zstd) for every page that shows the document again.
pub struct DocCache {
    entries: Cache<DocKey, Arc<Value>, DocWeighter>,
}

impl DocCache {
    pub fn with_capacity_bytes(capacity_bytes: u64) -> Self {
        DocCache {
            entries: Cache::with_weighter(4096, capacity_bytes, DocWeighter),
        }
    }

    pub fn get(&self, key: &DocKey) -> Option<Arc<Value>> {
        self.entries.get(key)
    }

    pub fn insert(&self, key: DocKey, hit: Arc<Value>) {
        self.entries.insert(key, hit);
    }
}

#[derive(Clone)]
struct FooterWeighter;

impl Weighter<String, Arc<SplitFooter>> for FooterWeighter {
    fn weight(&self, _key: &String, footer: &Arc<SplitFooter>) -> u64 {
        footer.hotcache().num_bytes() as u64 + 1024
    }
}

/// Split footers (metadata and hotcache) by split id, bounded in bytes: reading one costs a
/// ranged GET, and a split's footer never changes.
pub struct FooterCache {
    footers: Cache<String, Arc<SplitFooter>, FooterWeighter>,
}

impl FooterCache {
    pub fn with_capacity_bytes(capacity_bytes: u64) -> Self {
        FooterCache {
            footers: Cache::with_weighter(1024, capacity_bytes, FooterWeighter),
        }
    }

    pub fn get(&self, split_id: &str) -> Option<Arc<SplitFooter>> {
        self.footers.get(split_id)
    }

    pub fn insert(&self, split_id: &str, footer: Arc<SplitFooter>) {
        self.footers.insert(split_id.to_string(), footer);
    }
}

/// A split opened by tantivy, and the bytes it holds: its footer (metadata and hotcache,
/// which its readers reference), the readers themselves, and once it has rendered a hit, the
/// decompressed doc store block its store keeps.
#[derive(Clone)]
pub struct OpenSplit {
    pub searcher: Searcher,
    pub bytes: u64,
    pub holds_doc_block: bool,
}

#[derive(Clone)]
struct OpenSplitWeighter;

impl Weighter<String, OpenSplit> for OpenSplitWeighter {
    fn weight(&self, _key: &String, split: &OpenSplit) -> u64 {
        split.bytes
    }
}

/// Open splits by split id, bounded in bytes: reopening one costs parsing its metadata and
/// opening its segment readers, and a search over a thousand small splits should find them
/// all open when warm, while a few large footers cannot crowd the function's memory.
pub struct OpenSplitCache {
    searchers: Cache<String, OpenSplit, OpenSplitWeighter>,
}

impl OpenSplitCache {
    pub fn with_capacity_bytes(capacity_bytes: u64) -> Self {
        OpenSplitCache {
            searchers: Cache::with_weighter(1024, capacity_bytes, OpenSplitWeighter),
        }
    }

    pub fn get(&self, split_id: &str) -> Option<Searcher> {
        self.searchers.get(split_id).map(|split| split.searcher)
    }

    /// Counts the doc store block `split_id` keeps once it has rendered a hit (up to the
    /// index's `docstore_blocksize`): the weight grows once, and may evict other splits.
    pub fn holds_doc_block(&self, split_id: &str, block_bytes: u64) {
        if let Some(split) = self.searchers.get(split_id)
            && !split.holds_doc_block
        {
            let weighed = OpenSplit {
                bytes: split.bytes + block_bytes,
                holds_doc_block: true,
                searcher: split.searcher,
            };
            self.searchers.insert(split_id.to_string(), weighed);
        }
    }

    /// The open split, or `open`'s: concurrent callers for one split (the searches of one
    /// `_msearch`, say) wait for a single opening instead of each fetching the footer.
    pub async fn get_or_open<E>(
        &self,
        split_id: &str,
        open: impl std::future::Future<Output = std::result::Result<OpenSplit, E>>,
    ) -> std::result::Result<Searcher, E> {
        let split = self.searchers.get_or_insert_async(split_id, open).await?;
        Ok(split.searcher)
    }
}

#[derive(Clone)]
struct ChunkWeighter;

impl Weighter<(Arc<str>, u64), OwnedBytes> for ChunkWeighter {
    fn weight(&self, _key: &(Arc<str>, u64), chunk: &OwnedBytes) -> u64 {
        chunk.len() as u64 + 64
    }
}

/// Chunks of split files, by (split path, chunk index), bounded in bytes.
pub struct ChunkCache {
    chunks: Cache<(Arc<str>, u64), OwnedBytes, ChunkWeighter>,
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCache")
            .field("bytes", &self.chunks.weight())
            .finish()
    }
}

impl ChunkCache {
    pub fn with_capacity_bytes(capacity_bytes: u64) -> Self {
        let estimated_chunks = (capacity_bytes / CHUNK_SIZE).max(16) as usize;
        ChunkCache {
            chunks: Cache::with_weighter(estimated_chunks, capacity_bytes, ChunkWeighter),
        }
    }

    pub fn get(&self, split_path: &Arc<str>, chunk_index: u64) -> Option<OwnedBytes> {
        self.chunks.get(&(split_path.clone(), chunk_index))
    }

    pub fn insert(&self, split_path: &Arc<str>, chunk_index: u64, chunk: OwnedBytes) {
        self.chunks.insert((split_path.clone(), chunk_index), chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_split(bytes: u64) -> OpenSplit {
        let mut schema = tantivy::schema::Schema::builder();
        schema.add_u64_field("n", tantivy::schema::FAST);
        let index = tantivy::Index::create_in_ram(schema.build());
        OpenSplit {
            searcher: index.reader().unwrap().searcher(),
            bytes,
            holds_doc_block: false,
        }
    }

    #[tokio::test]
    async fn open_splits_are_weighed_by_their_bytes_doc_block_counted_once() {
        let cache = OpenSplitCache::with_capacity_bytes(1 << 20);
        for id in ["a", "b", "c"] {
            let opened = cache
                .get_or_open(id, async { Ok::<_, ()>(open_split(3_000)) })
                .await;
            assert!(opened.is_ok());
        }
        assert_eq!(cache.searchers.weight(), 9_000);
        cache.holds_doc_block("a", 4_000);
        cache.holds_doc_block("a", 4_000);
        assert_eq!(cache.searchers.weight(), 13_000);
        assert!(cache.get("a").is_some());
    }

    #[tokio::test]
    async fn open_splits_stay_within_their_bytes() {
        let cache = OpenSplitCache::with_capacity_bytes(100_000);
        for id in 0..200 {
            let opened = cache
                .get_or_open(&id.to_string(), async { Ok::<_, ()>(open_split(3_000)) })
                .await;
            assert!(opened.is_ok());
        }
        assert!(cache.searchers.weight() <= 100_000);
        assert!(cache.searchers.len() < 200);
    }
}
