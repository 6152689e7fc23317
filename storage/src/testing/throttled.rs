//! A storage that waits before every request, to model a remote object store's latency on
//! local disk (what `object_store`'s `ThrottledStore` does for arrow-rs).
//!
//! Benchmarks wrap local storage in it so that query latency over "S3" can be measured on
//! one machine: S3's first-byte latency is tens of milliseconds per GET, which is what makes
//! the number of sequential round trips per query matter.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use hydrant_storage::{PutMode, Storage};
//! use hydrant_storage::testing::{MemoryStorage, ThrottledStorage};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let storage = ThrottledStorage::new(Arc::new(MemoryStorage::default()), Duration::from_millis(5));
//! storage.put("a", "hello".into(), PutMode::Overwrite).await?;
//! let started = std::time::Instant::now();
//! storage.get_range("a", 1..3).await?;
//! assert!(started.elapsed() >= Duration::from_millis(5));
//! assert_eq!((storage.num_reads(), storage.num_writes()), (1, 1));
//! # Ok::<_, hydrant_storage::StorageError>(())
//! # }).unwrap();
//! ```

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Result;
use crate::{
    GetResult, GetStreamResult, ObjectMeta, ObjectVersion, PutMode, PutPayload, PutResult,
    SharedStorage, Storage,
};

/// Wraps a storage and sleeps `latency` before each request it forwards. It also counts
/// requests the way S3 bills them: reads (GET, HEAD) and writes (PUT, LIST); deletes are free.
/// With [`ThrottledStorage::record_requests`] on, it logs each request with its path and the
/// bytes of its body, for benchmarks that measure what a path reads and writes.
#[derive(Debug)]
pub struct ThrottledStorage {
    inner: SharedStorage,
    latency_micros: AtomicU64,
    num_reads: AtomicU64,
    num_writes: AtomicU64,
    recording: AtomicBool,
    requests: Mutex<Vec<RequestRecord>>,
}

/// One request, as [`ThrottledStorage::take_requests`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub kind: RequestKind,
    /// The object, or the prefix of a listing.
    pub path: String,
    /// Bytes of the body read (GET) or written (PUT); objects listed for a LIST.
    pub bytes: u64,
}

/// What a request is, as S3 bills it (a LIST is billed as a write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Read,
    Write,
    List,
    Delete,
}

impl ThrottledStorage {
    pub fn new(inner: SharedStorage, latency: Duration) -> Self {
        ThrottledStorage {
            inner,
            latency_micros: AtomicU64::new(latency.as_micros() as u64),
            num_reads: AtomicU64::new(0),
            num_writes: AtomicU64::new(0),
            recording: AtomicBool::new(false),
            requests: Mutex::default(),
        }
    }

    /// Starts (or stops) logging requests.
    pub fn record_requests(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// The requests logged since the last call, oldest first.
    pub fn take_requests(&self) -> Vec<RequestRecord> {
        std::mem::take(&mut *self.requests.lock().expect("request log lock poisoned"))
    }

    fn record(&self, kind: RequestKind, path: &str, bytes: u64) {
        if self.recording.load(Ordering::Relaxed) {
            self.requests
                .lock()
                .expect("request log lock poisoned")
                .push(RequestRecord {
                    kind,
                    path: path.to_string(),
                    bytes,
                });
        }
    }

    /// Changes the latency of the requests that follow.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_micros
            .store(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// GET and HEAD requests forwarded so far.
    pub fn num_reads(&self) -> u64 {
        self.num_reads.load(Ordering::Relaxed)
    }

    /// PUT and LIST requests forwarded so far.
    pub fn num_writes(&self) -> u64 {
        self.num_writes.load(Ordering::Relaxed)
    }

    async fn wait(&self, kind: RequestKind) {
        match kind {
            RequestKind::Read => self.num_reads.fetch_add(1, Ordering::Relaxed),
            RequestKind::Write | RequestKind::List => {
                self.num_writes.fetch_add(1, Ordering::Relaxed)
            }
            RequestKind::Delete => 0,
        };
        let micros = self.latency_micros.load(Ordering::Relaxed);
        if micros > 0 {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
    }
}

#[async_trait]
impl Storage for ThrottledStorage {
    async fn get(&self, path: &str) -> Result<GetResult> {
        self.wait(RequestKind::Read).await;
        let result = self.inner.get(path).await;
        let bytes = result.as_ref().map_or(0, |got| got.bytes.len() as u64);
        self.record(RequestKind::Read, path, bytes);
        result
    }

    async fn get_if_modified(
        &self,
        path: &str,
        version: &ObjectVersion,
    ) -> Result<Option<GetResult>> {
        self.wait(RequestKind::Read).await;
        let result = self.inner.get_if_modified(path, version).await;
        let bytes = match &result {
            Ok(Some(got)) => got.bytes.len() as u64,
            _ => 0,
        };
        self.record(RequestKind::Read, path, bytes);
        result
    }

    async fn get_stream(&self, path: &str) -> Result<GetStreamResult> {
        self.wait(RequestKind::Read).await;
        let result = self.inner.get_stream(path).await;
        let bytes = result.as_ref().map_or(0, |got| got.meta.size);
        self.record(RequestKind::Read, path, bytes);
        result
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        self.wait(RequestKind::Read).await;
        let result = self.inner.get_range(path, range).await;
        let bytes = result.as_ref().map_or(0, |got| got.len() as u64);
        self.record(RequestKind::Read, path, bytes);
        result
    }

    async fn put(&self, path: &str, payload: PutPayload, mode: PutMode) -> Result<PutResult> {
        self.wait(RequestKind::Write).await;
        let bytes = match &payload {
            PutPayload::Bytes(bytes) => bytes.len() as u64,
            PutPayload::File(file) => std::fs::metadata(file).map_or(0, |meta| meta.len()),
        };
        self.record(RequestKind::Write, path, bytes);
        self.inner.put(path, payload, mode).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.wait(RequestKind::Delete).await;
        self.inner.delete(path).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.wait(RequestKind::List).await;
        let result = self.inner.list(prefix).await;
        let listed = result.as_ref().map_or(0, |objects| objects.len() as u64);
        self.record(RequestKind::List, prefix, listed);
        result
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta> {
        self.wait(RequestKind::Read).await;
        self.inner.head(path).await
    }

    fn describe(&self, path: &str) -> String {
        self.inner.describe(path)
    }
}
