//! An optional cache of whole split files on local disk (Lambda's `/tmp`), bounded in bytes.
//!
//! The first search of a split reads the ranges it needs from storage and starts downloading
//! the whole split in the background; later searches in the same execution environment read
//! it from disk, with no storage request at all. Least recently used splits are evicted to
//! stay under the capacity. Downloads land in a temporary name and are renamed when complete,
//! so a crash or a timeout never leaves a partial split that looks whole.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use hydrant_index::split_bundle::FileRangeFetcher;
use hydrant_storage::SharedStorage;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

#[derive(Default)]
struct CacheState {
    /// Split id to (size, last use).
    entries: HashMap<String, (u64, u64)>,
    total_bytes: u64,
    use_counter: u64,
    downloading: HashSet<String>,
}

/// Whole splits on local disk. See the module documentation.
pub struct SplitCache {
    dir: PathBuf,
    capacity_bytes: u64,
    state: Mutex<CacheState>,
    downloads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for SplitCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitCache")
            .field("dir", &self.dir)
            .field("capacity_bytes", &self.capacity_bytes)
            .finish_non_exhaustive()
    }
}

impl SplitCache {
    /// Opens the cache in `dir`, keeping the complete splits a previous run left there (a warm
    /// Lambda environment keeps `/tmp`) and dropping partial downloads.
    pub fn open(dir: impl Into<PathBuf>, capacity_bytes: u64) -> io::Result<Arc<Self>> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let mut state = CacheState::default();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(split_id) = name.strip_suffix(".split") {
                let size = entry.metadata()?.len();
                state.entries.insert(split_id.to_string(), (size, 0));
                state.total_bytes += size;
            } else {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let cache = Arc::new(SplitCache {
            dir,
            capacity_bytes,
            state: Mutex::new(state),
            downloads: Mutex::default(),
        });
        cache.evict_to_fit(0);
        Ok(cache)
    }

    fn file_path(&self, split_id: &str) -> PathBuf {
        self.dir.join(format!("{split_id}.split"))
    }

    /// A reader of the split from disk, if it is cached.
    pub fn fetcher(&self, split_id: &str) -> Option<FileRangeFetcher> {
        {
            let mut state = self.state.lock().expect("split cache lock poisoned");
            state.use_counter += 1;
            let counter = state.use_counter;
            state.entries.get_mut(split_id)?.1 = counter;
        }
        match FileRangeFetcher::open(&self.file_path(split_id)) {
            Ok(fetcher) => Some(fetcher),
            Err(error) => {
                warn!(split_id, %error, "cached split vanished");
                self.forget(split_id);
                None
            }
        }
    }

    /// Downloads the split in the background unless it is cached, already downloading, or
    /// too large to keep (more than half the capacity).
    pub fn download_in_background(
        self: &Arc<Self>,
        storage: SharedStorage,
        path: String,
        split_id: String,
        size: u64,
    ) {
        if size > self.capacity_bytes / 2 {
            return;
        }
        {
            let mut state = self.state.lock().expect("split cache lock poisoned");
            if state.entries.contains_key(&split_id) || !state.downloading.insert(split_id.clone())
            {
                return;
            }
        }
        let cache = self.clone();
        let handle = tokio::spawn(async move {
            let outcome = cache.download(&storage, &path, &split_id).await;
            cache
                .state
                .lock()
                .expect("split cache lock poisoned")
                .downloading
                .remove(&split_id);
            match outcome {
                Ok(size) => {
                    cache.evict_to_fit(size);
                    let mut state = cache.state.lock().expect("split cache lock poisoned");
                    state.use_counter += 1;
                    let counter = state.use_counter;
                    state.entries.insert(split_id.clone(), (size, counter));
                    state.total_bytes += size;
                    debug!(split_id, size, "split cached on disk");
                }
                Err(error) => warn!(split_id, %error, "split download failed; it stays remote"),
            }
        });
        let mut downloads = self.downloads.lock().expect("split cache lock poisoned");
        downloads.retain(|download| !download.is_finished());
        downloads.push(handle);
    }

    async fn download(
        &self,
        storage: &SharedStorage,
        path: &str,
        split_id: &str,
    ) -> io::Result<u64> {
        let temp_path = self.dir.join(format!(
            "{split_id}.{}.partial",
            uuid::Uuid::new_v4().simple()
        ));
        let result = async {
            let mut stream = storage.get_stream(path).await.map_err(io::Error::other)?;
            let mut file = tokio::fs::File::create(&temp_path).await?;
            let mut size = 0u64;
            while let Some(chunk) = stream.chunks.next().await {
                let chunk = chunk.map_err(io::Error::other)?;
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            if size != stream.meta.size {
                return Err(io::Error::other(format!(
                    "read {size} bytes of {}",
                    stream.meta.size
                )));
            }
            tokio::fs::rename(&temp_path, self.file_path(split_id)).await?;
            Ok(size)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp_path).await;
        }
        result
    }

    /// Waits for the downloads under way (tests, and before an environment is frozen).
    pub async fn wait_for_downloads(&self) {
        let downloads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.downloads.lock().expect("split cache lock poisoned"));
        for download in downloads {
            let _ = download.await;
        }
    }

    /// Evicts least recently used splits until `incoming` more bytes fit.
    fn evict_to_fit(&self, incoming: u64) {
        let mut state = self.state.lock().expect("split cache lock poisoned");
        while state.total_bytes + incoming > self.capacity_bytes {
            let Some(victim) = state
                .entries
                .iter()
                .min_by_key(|(_, (_, last_use))| *last_use)
                .map(|(split_id, _)| split_id.clone())
            else {
                break;
            };
            let (size, _) = state.entries.remove(&victim).expect("present");
            state.total_bytes -= size;
            // Open readers keep the file's data until they close.
            let _ = std::fs::remove_file(self.file_path(&victim));
        }
    }

    fn forget(&self, split_id: &str) {
        let mut state = self.state.lock().expect("split cache lock poisoned");
        if let Some((size, _)) = state.entries.remove(split_id) {
            state.total_bytes -= size;
        }
    }

    /// Bytes of splits on disk.
    pub fn total_bytes(&self) -> u64 {
        self.state
            .lock()
            .expect("split cache lock poisoned")
            .total_bytes
    }

    /// Whether the split is on disk.
    pub fn contains(&self, split_id: &str) -> bool {
        self.state
            .lock()
            .expect("split cache lock poisoned")
            .entries
            .contains_key(split_id)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
