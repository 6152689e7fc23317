//! Fetching split bytes from storage for tantivy's synchronous reads.
//!
//! tantivy reads synchronously, storage is async. Searches run on blocking threads
//! (`spawn_blocking`), where [`StorageFetcher`] may block on the runtime to fetch. Reads are
//! served from a byte-range cache shared by all splits and requests; misses are rounded out to
//! aligned chunks and fetched with one ranged GET per read.
//!
//! Opened splits outlive requests (the searcher caches them), so a fetcher does not belong to
//! one request: it reports each read to the [`ReadCounter`] the current search set for the
//! thread.

use std::io;
use std::ops::Range;
use std::sync::Arc;

use hydrant_index::split_bundle::ByteRangeFetcher;
use hydrant_storage::SharedStorage;
use tantivy::directory::OwnedBytes;
use tokio::runtime::Handle;

use crate::cache::{CHUNK_SIZE, ChunkCache};
use crate::cost::ReadCounter;

/// Reads one split's bytes.
#[derive(Debug)]
pub struct StorageFetcher {
    storage: SharedStorage,
    path: Arc<str>,
    split_size: u64,
    runtime: Handle,
    cache: Arc<ChunkCache>,
}

impl StorageFetcher {
    pub fn new(
        storage: SharedStorage,
        path: &str,
        split_size: u64,
        runtime: Handle,
        cache: Arc<ChunkCache>,
    ) -> Self {
        StorageFetcher {
            storage,
            path: Arc::from(path),
            split_size,
            runtime,
            cache,
        }
    }
}

impl ByteRangeFetcher for StorageFetcher {
    fn fetch(&self, range: Range<u64>) -> io::Result<OwnedBytes> {
        if range.is_empty() {
            return Ok(OwnedBytes::empty());
        }
        let first_chunk = range.start / CHUNK_SIZE;
        let last_chunk = (range.end - 1) / CHUNK_SIZE;
        let mut chunks: Vec<Option<OwnedBytes>> = (first_chunk..=last_chunk)
            .map(|index| self.cache.get(&self.path, index))
            .collect();
        let missing: Vec<u64> = (first_chunk..=last_chunk)
            .zip(&chunks)
            .filter(|(_, chunk)| chunk.is_none())
            .map(|(index, _)| index)
            .collect();
        if missing.is_empty() {
            ReadCounter::record_cache_hit();
        } else {
            // One GET covering every missing chunk of this read.
            let fetch_start = missing[0] * CHUNK_SIZE;
            let fetch_end = ((missing[missing.len() - 1] + 1) * CHUNK_SIZE).min(self.split_size);
            let storage = self.storage.clone();
            let path = self.path.clone();
            let bytes = self
                .runtime
                .block_on(async move { storage.get_range(&path, fetch_start..fetch_end).await })
                .map_err(|error| io::Error::other(error.to_string()))?;
            ReadCounter::record_get(bytes.len() as u64);
            let fetched = OwnedBytes::new(bytes.to_vec());
            for (slot, index) in chunks.iter_mut().zip(first_chunk..=last_chunk) {
                if slot.is_some() || index < missing[0] || index > missing[missing.len() - 1] {
                    continue;
                }
                let start = (index * CHUNK_SIZE - fetch_start) as usize;
                let end = (((index + 1) * CHUNK_SIZE).min(self.split_size) - fetch_start) as usize;
                let chunk = fetched.slice(start..end);
                self.cache.insert(&self.path, index, chunk.clone());
                *slot = Some(chunk);
            }
        }
        let chunks: Vec<OwnedBytes> = chunks
            .into_iter()
            .map(|chunk| chunk.expect("filled"))
            .collect();
        let offset_in_first = (range.start - first_chunk * CHUNK_SIZE) as usize;
        let length = (range.end - range.start) as usize;
        if chunks.len() == 1 {
            return Ok(chunks[0].slice(offset_in_first..offset_in_first + length));
        }
        let mut joined = Vec::with_capacity(length);
        for chunk in &chunks {
            joined.extend_from_slice(chunk.as_slice());
        }
        Ok(OwnedBytes::new(
            joined[offset_in_first..offset_in_first + length].to_vec(),
        ))
    }
}
