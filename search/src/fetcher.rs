//! Fetching split bytes from storage for tantivy's synchronous reads.
//!
//! tantivy reads synchronously, storage is async. Searches run on blocking threads
//! (`spawn_blocking`), where [`StorageFetcher`] may block on the runtime to fetch. Reads are
//! served from a byte-range cache shared by all splits and requests; misses are rounded out to
//! aligned chunks and fetched with one ranged GET per read.
//!
//! Opened splits outlive requests (the searcher caches them), so a fetcher does not belong to
//! one request: each request counts its reads by running its blocking work inside
//! [`with_request_stats`], which the fetcher reports to.

use std::cell::RefCell;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hydrant_index::split_bundle::ByteRangeFetcher;
use hydrant_storage::SharedStorage;
use tantivy::directory::OwnedBytes;
use tokio::runtime::Handle;

use crate::cache::{CHUNK_SIZE, ChunkCache};

/// Storage request counts of one query.
#[derive(Debug, Default)]
pub struct FetchStats {
    pub num_gets: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub cache_hits: AtomicU64,
}

impl FetchStats {
    pub fn record_get(&self, num_bytes: u64) {
        self.num_gets.fetch_add(1, Ordering::Relaxed);
        self.bytes_fetched.fetch_add(num_bytes, Ordering::Relaxed);
    }
}

thread_local! {
    static REQUEST_STATS: RefCell<Option<Arc<FetchStats>>> = const { RefCell::new(None) };
}

/// Runs `work` with its storage reads on this thread counted in `stats`.
pub fn with_request_stats<R>(stats: &Arc<FetchStats>, work: impl FnOnce() -> R) -> R {
    /// Restores the previous scope even if `work` panics: blocking threads are reused.
    struct Restore(Option<Arc<FetchStats>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            REQUEST_STATS.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let _restore = Restore(REQUEST_STATS.with(|slot| slot.replace(Some(stats.clone()))));
    work()
}

fn record(update: impl FnOnce(&FetchStats)) {
    REQUEST_STATS.with(|slot| {
        if let Some(stats) = slot.borrow().as_ref() {
            update(stats);
        }
    });
}

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
            record(|stats| {
                stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            });
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
            record(|stats| stats.record_get(bytes.len() as u64));
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
