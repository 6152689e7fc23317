//! Fetching split bytes from storage, for tantivy's synchronous reads and for warming a split
//! up asynchronously before it is searched.
//!
//! Reads are served from a byte-range cache shared by all splits and requests; misses are
//! rounded out to aligned chunks, and each run of missing chunks is fetched with one ranged
//! GET. A GET in flight is shared: a read needing a chunk another read is already fetching
//! waits for that GET instead of making its own (the panels of one `_msearch` warm the same
//! columns at the same time).
//!
//! Searches run on blocking threads (`spawn_blocking`), where a synchronous read that misses
//! blocks on the runtime. Opened splits outlive requests (the searcher caches them), so a
//! fetcher does not belong to one request: it reports each read to the [`ReadCounter`] the
//! current search set for the thread or the task.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hydrant_index::split_bundle::{ByteRangeFetcher, FetchFuture};
use hydrant_storage::SharedStorage;
use tantivy::directory::OwnedBytes;
use tokio::runtime::Handle;

use crate::cache::{CHUNK_SIZE, ChunkCache};
use crate::cost::ReadCounter;

thread_local! {
    /// The ranges a probing search would have read ([`probe_ranges`]), while it runs.
    static PROBED_RANGES: RefCell<Option<Vec<Range<u64>>>> = const { RefCell::new(None) };
}

/// Runs `work` on this thread with its storage reads recorded instead of made: a read whose
/// bytes are not all cached fails at once (the work must tolerate that) and its range is
/// returned. For reads that do not depend on each other's bytes, found this way and then
/// fetched together: the page's documents, whose blocks the doc store's index (in the
/// hotcache) locates.
pub(crate) fn probe_ranges(work: impl FnOnce()) -> Vec<Range<u64>> {
    /// Ends probing even if `work` panics: blocking threads are reused.
    struct EndProbe;
    impl Drop for EndProbe {
        fn drop(&mut self) {
            PROBED_RANGES.with(|slot| slot.borrow_mut().take());
        }
    }
    PROBED_RANGES.with(|slot| *slot.borrow_mut() = Some(Vec::new()));
    let end_probe = EndProbe;
    work();
    let ranges = PROBED_RANGES.with(|slot| slot.borrow_mut().take().unwrap_or_default());
    drop(end_probe);
    ranges
}

/// One GET of a run of chunks, awaited by every read that needs one of them. Errors are
/// strings: a shared output must be cloneable.
type SharedGet = Shared<BoxFuture<'static, Result<OwnedBytes, Arc<str>>>>;

/// GETs in flight by the chunks they fetch, shared by all splits and requests.
#[derive(Default)]
pub struct ChunkFetches {
    in_flight: Mutex<HashMap<(Arc<str>, u64), InFlight>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for ChunkFetches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let in_flight = self.in_flight.lock().map(|map| map.len()).unwrap_or(0);
        f.debug_struct("ChunkFetches")
            .field("chunks_in_flight", &in_flight)
            .finish()
    }
}

#[derive(Clone)]
struct InFlight {
    /// Tells this GET's entries from a later GET's for the same chunks.
    id: u64,
    /// The first chunk the GET fetches: a chunk's bytes start at `(chunk - first) * CHUNK_SIZE`.
    first_chunk: u64,
    get: SharedGet,
}

/// Where one chunk of a read comes from.
enum ChunkSource {
    Cached(OwnedBytes),
    /// A GET in flight, with the chunk's offset in its bytes, and the GET's id if this read
    /// started it (the read that starts a GET counts it).
    Fetching {
        get: SharedGet,
        offset: usize,
        started: Option<u64>,
    },
}

/// Reads one split's bytes.
#[derive(Debug)]
pub struct StorageFetcher {
    storage: SharedStorage,
    path: Arc<str>,
    split_size: u64,
    runtime: Handle,
    cache: Arc<ChunkCache>,
    fetches: Arc<ChunkFetches>,
}

impl StorageFetcher {
    pub fn new(
        storage: SharedStorage,
        path: &str,
        split_size: u64,
        runtime: Handle,
        cache: Arc<ChunkCache>,
        fetches: Arc<ChunkFetches>,
    ) -> Self {
        StorageFetcher {
            storage,
            path: Arc::from(path),
            split_size,
            runtime,
            cache,
            fetches,
        }
    }

    /// Each chunk of `chunks`: cached, or in a GET (started here for every run of chunks no
    /// GET in flight has).
    fn sources(&self, chunks: Range<u64>) -> Vec<ChunkSource> {
        let mut in_flight = self
            .fetches
            .in_flight
            .lock()
            .expect("chunk fetch lock poisoned");
        let mut sources = Vec::with_capacity((chunks.end - chunks.start) as usize);
        let mut missing_run: Option<u64> = None;
        for index in chunks.clone() {
            let known = match self.cache.get(&self.path, index) {
                Some(bytes) => Some(ChunkSource::Cached(bytes)),
                None => in_flight
                    .get(&(self.path.clone(), index))
                    .map(|fetch| fetch_source(fetch, index, false)),
            };
            match known {
                Some(source) => {
                    if let Some(first) = missing_run.take() {
                        sources.extend(self.start_get(&mut in_flight, first..index));
                    }
                    sources.push(source);
                }
                None => {
                    missing_run.get_or_insert(index);
                }
            }
        }
        if let Some(first) = missing_run {
            sources.extend(self.start_get(&mut in_flight, first..chunks.end));
        }
        sources
    }

    /// Starts one GET of `chunks`, registered as in flight until it ends; returns the
    /// chunks' sources. The GET runs as a task of its own: it ends (its chunks cached, its
    /// entries removed) even if every read waiting for it is dropped.
    fn start_get(
        &self,
        in_flight: &mut HashMap<(Arc<str>, u64), InFlight>,
        chunks: Range<u64>,
    ) -> Vec<ChunkSource> {
        let id = self.fetches.next_id.fetch_add(1, Ordering::Relaxed);
        let start = chunks.start * CHUNK_SIZE;
        let end = (chunks.end * CHUNK_SIZE).min(self.split_size);
        let storage = self.storage.clone();
        let path = self.path.clone();
        let cache = self.cache.clone();
        let fetches = self.fetches.clone();
        let split_size = self.split_size;
        let run = chunks.clone();
        let task = self.runtime.spawn(async move {
            let fetched = storage.get_range(&path, start..end).await;
            let mut in_flight = fetches.in_flight.lock().expect("chunk fetch lock poisoned");
            let result = match fetched {
                Ok(bytes) => {
                    let bytes = OwnedBytes::new(bytes.to_vec());
                    for index in run.clone() {
                        let chunk_start = ((index - run.start) * CHUNK_SIZE) as usize;
                        let chunk_end =
                            (((index + 1) * CHUNK_SIZE).min(split_size) - start) as usize;
                        cache.insert(&path, index, bytes.slice(chunk_start..chunk_end));
                    }
                    Ok(bytes)
                }
                Err(error) => Err(Arc::from(error.to_string())),
            };
            for index in run {
                let key = (path.clone(), index);
                if in_flight.get(&key).is_some_and(|fetch| fetch.id == id) {
                    in_flight.remove(&key);
                }
            }
            result
        });
        let get = async move {
            task.await
                .unwrap_or_else(|error| Err(Arc::from(format!("chunk fetch failed: {error}"))))
        }
        .boxed()
        .shared();
        let fetch = InFlight {
            id,
            first_chunk: chunks.start,
            get,
        };
        chunks
            .map(|index| {
                in_flight.insert((self.path.clone(), index), fetch.clone());
                fetch_source(&fetch, index, true)
            })
            .collect()
    }
}

/// The first and last chunk of a non-empty `range`.
fn chunks_of(range: &Range<u64>) -> (u64, u64) {
    (range.start / CHUNK_SIZE, (range.end - 1) / CHUNK_SIZE)
}

fn fetch_source(fetch: &InFlight, index: u64, started: bool) -> ChunkSource {
    ChunkSource::Fetching {
        get: fetch.get.clone(),
        offset: ((index - fetch.first_chunk) * CHUNK_SIZE) as usize,
        started: started.then_some(fetch.id),
    }
}

impl StorageFetcher {
    /// The chunks of a non-empty `range`, if the cache holds them all.
    fn cached_chunks(&self, range: &Range<u64>) -> Option<Vec<OwnedBytes>> {
        let (first_chunk, last_chunk) = chunks_of(range);
        (first_chunk..=last_chunk)
            .map(|index| self.cache.get(&self.path, index))
            .collect()
    }

    /// `range` if it lies within the split.
    fn checked(&self, range: Range<u64>) -> io::Result<Range<u64>> {
        if range.end > self.split_size || range.start > range.end {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read {range:?} past the end of a {} byte split",
                    self.split_size
                ),
            ));
        }
        Ok(range)
    }

    async fn read(&self, range: Range<u64>) -> io::Result<OwnedBytes> {
        if range.is_empty() {
            return Ok(OwnedBytes::empty());
        }
        let (first_chunk, last_chunk) = chunks_of(&range);
        // Warm reads find every chunk cached: no lock taken, no future awaited.
        let chunks = match self.cached_chunks(&range) {
            Some(chunks) => {
                ReadCounter::record_cache_hit();
                chunks
            }
            None => {
                let mut chunks = Vec::new();
                let mut waited = false;
                let mut counted: Option<u64> = None;
                for source in self.sources(first_chunk..last_chunk + 1) {
                    chunks.push(match source {
                        ChunkSource::Cached(bytes) => bytes,
                        ChunkSource::Fetching {
                            get,
                            offset,
                            started,
                        } => {
                            waited = true;
                            let bytes = get.await.map_err(|error| io::Error::other(&*error))?;
                            // A read starts at most one GET per run of missing chunks, and
                            // its runs are separated by chunks it found: count each once.
                            if started.is_some() && started != counted {
                                ReadCounter::record_get(bytes.len() as u64);
                                counted = started;
                            }
                            bytes.slice(offset..(offset + CHUNK_SIZE as usize).min(bytes.len()))
                        }
                    });
                }
                if waited {
                    ReadCounter::record_wait();
                } else {
                    ReadCounter::record_cache_hit();
                }
                chunks
            }
        };
        let offset_in_first = (range.start - first_chunk * CHUNK_SIZE) as usize;
        let length = (range.end - range.start) as usize;
        if chunks.len() == 1 {
            return Ok(chunks[0].slice(offset_in_first..offset_in_first + length));
        }
        // Spanning chunks: the range's bytes copied once.
        let mut joined = Vec::with_capacity(length);
        let mut skip = offset_in_first;
        for chunk in &chunks {
            let remaining = length - joined.len();
            let part = &chunk.as_slice()[skip.min(chunk.len())..];
            joined.extend_from_slice(&part[..part.len().min(remaining)]);
            skip = 0;
        }
        Ok(OwnedBytes::new(joined))
    }
}

impl ByteRangeFetcher for StorageFetcher {
    fn fetch(&self, range: Range<u64>) -> io::Result<OwnedBytes> {
        let range = self.checked(range)?;
        let probed = PROBED_RANGES.with(|slot| {
            let mut slot = slot.borrow_mut();
            let probing = slot.as_mut()?;
            let cached = range.is_empty() || self.cached_chunks(&range).is_some();
            (!cached).then(|| probing.push(range.clone()))
        });
        if probed.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "probing: the read is recorded, not made",
            ));
        }
        self.runtime.block_on(self.read(range))
    }

    fn fetch_async(&self, range: Range<u64>) -> FetchFuture<'_> {
        match self.checked(range) {
            Ok(range) => Box::pin(self.read(range)),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }
}
