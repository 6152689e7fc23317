//! A staging object as a blocking [`Read`], fed by an async download.
//!
//! Parsing and indexing are CPU work on a blocking thread; the download is async. A bounded
//! channel between them keeps memory at a few chunks whatever the object's size, and lets the
//! download run ahead of the parser. If the connection breaks mid-object, the download resumes
//! with ranged reads from where it stopped; only when that fails too does the reader return a
//! [`DownloadError`], which callers must not mistake for corrupt data.

use std::fmt;
use std::io::{self, Read};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::StreamExt;
use hydrant_storage::{ObjectMeta, SharedStorage};
use tokio::sync::mpsc;
use tracing::warn;

use crate::error::Result;

/// Chunks buffered between the download and the parser.
const CHANNEL_CHUNKS: usize = 16;
/// Size of each ranged read when resuming a broken download.
const RESUME_PIECE_BYTES: u64 = 8 << 20;
/// Attempts per resumed piece.
const RESUME_ATTEMPTS: u32 = 3;

/// The download failed for good: the object was not fully read, through no fault of its own.
#[derive(Debug)]
pub struct DownloadError(pub String);

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "download failed: {}", self.0)
    }
}

impl std::error::Error for DownloadError {}

/// Whether an I/O error came from the download rather than from the data.
pub fn is_download_error(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<DownloadError>().is_some())
}

/// A blocking reader over the chunks of a download. Call `read` only off the async executor.
pub struct ChannelReader {
    receiver: mpsc::Receiver<std::result::Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(message)) => return Err(io::Error::other(DownloadError(message))),
            }
        }
        let length = buffer.len().min(self.current.len());
        buffer[..length].copy_from_slice(&self.current[..length]);
        self.current.advance(length);
        Ok(length)
    }
}

/// Starts downloading `key`. Fails (before any byte is read) if the object cannot be opened.
pub async fn open_object(storage: SharedStorage, key: &str) -> Result<(ObjectMeta, ChannelReader)> {
    let stream = storage.get_stream(key).await?;
    let meta = stream.meta.clone();
    let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let key = key.to_string();
    let size = meta.size;
    tokio::spawn(async move {
        let mut offset = 0u64;
        let mut chunks = stream.chunks;
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) => {
                    offset += chunk.len() as u64;
                    if sender.send(Ok(chunk)).await.is_err() {
                        // The reader stopped early; nothing left to do.
                        return;
                    }
                }
                Err(error) => {
                    warn!(key, offset, %error, "download broke, resuming with ranged reads");
                    break;
                }
            }
        }
        while offset < size {
            let piece_end = (offset + RESUME_PIECE_BYTES).min(size);
            let mut piece = None;
            let mut last_error = String::new();
            for attempt in 0..RESUME_ATTEMPTS {
                match storage.get_range(&key, offset..piece_end).await {
                    Ok(bytes) => {
                        piece = Some(bytes);
                        break;
                    }
                    Err(error) => {
                        last_error = error.to_string();
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                }
            }
            let Some(piece) = piece else {
                let _ = sender
                    .send(Err(format!("{key} at byte {offset}: {last_error}")))
                    .await;
                return;
            };
            offset = piece_end;
            if sender.send(Ok(piece)).await.is_err() {
                return;
            }
        }
    });
    Ok((
        meta,
        ChannelReader {
            receiver,
            current: Bytes::new(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::ops::Range;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use hydrant_storage::testing::MemoryStorage;
    use hydrant_storage::{GetResult, GetStreamResult, PutMode, PutPayload, PutResult, Storage};

    use super::*;

    /// Storage whose streams break after the first chunk, and whose ranged reads can fail.
    #[derive(Debug)]
    struct BreakingStorage {
        inner: MemoryStorage,
        ranged_reads_fail: AtomicBool,
    }

    #[async_trait]
    impl Storage for BreakingStorage {
        async fn get(&self, path: &str) -> hydrant_storage::StorageResult<GetResult> {
            self.inner.get(path).await
        }
        async fn get_stream(&self, path: &str) -> hydrant_storage::StorageResult<GetStreamResult> {
            let object = self.inner.get(path).await?;
            let first: hydrant_storage::StorageResult<Bytes> = Ok(object.bytes.slice(..1000));
            let broken: hydrant_storage::StorageResult<Bytes> =
                Err(hydrant_storage::StorageError::NotFound {
                    path: "connection reset".into(),
                });
            Ok(GetStreamResult {
                meta: object.meta,
                chunks: Box::pin(futures::stream::iter([first, broken])),
            })
        }
        async fn get_range(
            &self,
            path: &str,
            range: Range<u64>,
        ) -> hydrant_storage::StorageResult<Bytes> {
            if self.ranged_reads_fail.load(Ordering::SeqCst) {
                return Err(hydrant_storage::StorageError::NotFound { path: path.into() });
            }
            self.inner.get_range(path, range).await
        }
        async fn put(
            &self,
            path: &str,
            payload: PutPayload,
            mode: PutMode,
        ) -> hydrant_storage::StorageResult<PutResult> {
            self.inner.put(path, payload, mode).await
        }
        async fn delete(&self, path: &str) -> hydrant_storage::StorageResult<()> {
            self.inner.delete(path).await
        }
        async fn list(&self, prefix: &str) -> hydrant_storage::StorageResult<Vec<ObjectMeta>> {
            self.inner.list(prefix).await
        }
        async fn head(&self, path: &str) -> hydrant_storage::StorageResult<ObjectMeta> {
            self.inner.head(path).await
        }
        fn describe(&self, path: &str) -> String {
            path.to_string()
        }
    }

    async fn read_all(storage: Arc<BreakingStorage>) -> io::Result<Vec<u8>> {
        let (_, mut reader) = open_object(storage, "object").await.unwrap();
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map(|_| bytes)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn broken_downloads_resume_or_fail_as_download_errors() {
        let content: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
        let storage = Arc::new(BreakingStorage {
            inner: MemoryStorage::default(),
            ranged_reads_fail: AtomicBool::new(false),
        });
        storage
            .put("object", content.clone().into(), PutMode::Create)
            .await
            .unwrap();
        assert!(read_all(storage.clone()).await.unwrap() == content);
        storage.ranged_reads_fail.store(true, Ordering::SeqCst);
        let error = read_all(storage).await.unwrap_err();
        assert!(is_download_error(&error), "{error}");
    }
}
