//! Object storage: one small trait, two production backends, and the doubles tests use.
//!
//! Everything Hydrant persists (split bundles, the metastore, rejected records) and everything
//! it reads from staging goes through [`Storage`]. The trait is the contract; [`LocalStorage`]
//! (the embedded default) and [`S3Storage`] implement it. With the `testing` feature,
//! [`testing`] adds an in-memory backend, two wrappers (`ThrottledStorage`: latency and request
//! counts, for benchmarks; `FaultyStorage`: failures on a schedule, for the exactly-once
//! tests) and a moto server on loopback; the conformance suite in
//! `storage/tests/storage_conformance.rs` runs the same tests against all of them.
//!
//! Beside the trait: [`recognise`] (writes that recognise their own outcome after an error),
//! [`scratch`] (local scratch files named by process) and [`settings`] (deployment settings
//! read from the environment, durations among them).
//!
//! # Contract
//!
//! - Paths are `/`-separated keys relative to the storage root (`indexes/a/b.split`), never
//!   empty. Any key S3 accepts is a path on S3 and in memory (`a//b`, `x/../y` are ordinary
//!   keys there, and Firehose or a user may write them to a staging bucket); local disk refuses,
//!   with an error saying so, the keys it cannot map to a file safely: a leading or trailing
//!   `/`, an empty segment, a `.` or `..` segment.
//! - Objects are immutable blobs: a put replaces the whole object atomically. A reader sees
//!   either the old or the new content, never a mix, and a successful put is visible to every
//!   later read (S3 is strongly consistent; local disk renames into place).
//! - Every object has an opaque [`ObjectVersion`] that changes whenever its content changes
//!   (S3 ETags are content hashes, so rewriting identical bytes may keep the version; that is
//!   harmless for compare-and-swap). It is what [`PutMode::Update`] compares, which makes a
//!   compare-and-swap loop possible: read, modify, `put(Update(version))`, and on
//!   [`StorageError::PreconditionFailed`] read again.
//! - [`PutMode::Create`] fails with `PreconditionFailed` if the object exists;
//!   [`PutMode::Update`] fails with `PreconditionFailed` if the object changed, and with
//!   `NotFound` if it no longer exists. Both are atomic with respect to concurrent writers,
//!   in this process or any other.
//! - `get_range` returns exactly the requested bytes; a range past the end of the object is an
//!   error, not a short read.
//! - `delete` of a missing object succeeds: deletes are idempotent.
//! - `list` returns every object whose path starts with the prefix, sorted by path.
//! - `get_if_modified` returns `None` exactly when the object still has the given version.
//!
//! # Example
//!
//! ```
//! use hydrant_storage::{LocalStorage, PutMode, Storage};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let root = tempfile::tempdir().unwrap();
//! let storage = LocalStorage::new(root.path())?;
//! let first = storage.put("counter", "1".into(), PutMode::Create).await?;
//! // A second create loses.
//! assert!(storage.put("counter", "2".into(), PutMode::Create).await.unwrap_err().is_precondition_failed());
//! // An update against the version we read wins once.
//! storage.put("counter", "2".into(), PutMode::Update(first.version.clone())).await?;
//! assert!(storage.put("counter", "3".into(), PutMode::Update(first.version)).await.unwrap_err().is_precondition_failed());
//! assert_eq!(&storage.get("counter").await?.bytes[..], b"2");
//! # Ok::<_, hydrant_storage::StorageError>(())
//! # }).unwrap();
//! ```

pub mod aws_env;
mod error;
mod local;
pub mod recognise;
mod s3;
pub mod scratch;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;
mod uri;

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use self::error::Result;
pub use self::error::{BoxError, Result as StorageResult, StorageError};
pub use self::local::LocalStorage;
pub use self::s3::{S3Config, S3Storage, S3Timeouts};
pub use self::uri::{StorageResolver, StorageUri, storage_from_uri};

/// A shared handle on a storage backend.
pub type SharedStorage = Arc<dyn Storage>;

/// Opaque version of an object: the S3 ETag, or its equivalent on other backends.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ObjectVersion(pub String);

impl fmt::Display for ObjectVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a put treats an existing object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Write only if no object exists at the path (`If-None-Match: *`).
    Create,
    /// Write only if the object still has this version (`If-Match: <etag>`).
    Update(ObjectVersion),
}

/// What to write.
#[derive(Clone, Debug)]
pub enum PutPayload {
    /// Bytes already in memory (metastore documents, small objects).
    Bytes(Bytes),
    /// A local file, streamed; S3 uses a multipart upload above its threshold.
    File(PathBuf),
}

impl From<Bytes> for PutPayload {
    fn from(bytes: Bytes) -> Self {
        PutPayload::Bytes(bytes)
    }
}

impl From<Vec<u8>> for PutPayload {
    fn from(bytes: Vec<u8>) -> Self {
        PutPayload::Bytes(bytes.into())
    }
}

impl From<&'static str> for PutPayload {
    fn from(text: &'static str) -> Self {
        PutPayload::Bytes(Bytes::from_static(text.as_bytes()))
    }
}

/// Metadata of one stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Path relative to the storage root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Version to use with [`PutMode::Update`].
    pub version: ObjectVersion,
    /// When the object was last written.
    pub last_modified: SystemTime,
}

/// A whole object and the version it had when it was read.
#[derive(Clone, Debug)]
pub struct GetResult {
    pub bytes: Bytes,
    pub meta: ObjectMeta,
}

/// An object's bytes as they arrive, in chunks.
pub type ByteChunks = BoxStream<'static, Result<Bytes>>;

/// An object being read: its metadata now, its bytes as they arrive.
pub struct GetStreamResult {
    pub meta: ObjectMeta,
    pub chunks: ByteChunks,
}

impl fmt::Debug for GetStreamResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetStreamResult")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// The result of a successful put.
#[derive(Clone, Debug)]
pub struct PutResult {
    /// Version of the object just written.
    pub version: ObjectVersion,
}

/// An object store. See the module documentation for the contract every backend honours.
#[async_trait]
pub trait Storage: fmt::Debug + Send + Sync + 'static {
    /// Reads a whole object with its version.
    async fn get(&self, path: &str) -> Result<GetResult>;

    /// Reads a whole object unless it still has `version` (`If-None-Match` on S3): `None` means
    /// unchanged. Caches revalidate with it. The default compares a `head`, then reads.
    async fn get_if_modified(
        &self,
        path: &str,
        version: &ObjectVersion,
    ) -> Result<Option<GetResult>> {
        if self.head(path).await?.version == *version {
            return Ok(None);
        }
        Ok(Some(self.get(path).await?))
    }

    /// Reads a whole object as a stream of chunks, so that memory does not grow with its size.
    /// The default reads it whole; backends that can stream override it.
    async fn get_stream(&self, path: &str) -> Result<GetStreamResult> {
        let object = self.get(path).await?;
        let chunk: Result<Bytes> = Ok(object.bytes);
        Ok(GetStreamResult {
            meta: object.meta,
            chunks: Box::pin(futures::stream::iter([chunk])),
        })
    }

    /// Reads `range` of an object. Returns exactly `range.end - range.start` bytes.
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes>;

    /// Writes an object according to `mode`.
    async fn put(&self, path: &str, payload: PutPayload, mode: PutMode) -> Result<PutResult>;

    /// Deletes an object. Deleting a missing object succeeds.
    async fn delete(&self, path: &str) -> Result<()>;

    /// Lists the objects whose path starts with `prefix`, sorted by path.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;

    /// Reads the metadata of an object.
    async fn head(&self, path: &str) -> Result<ObjectMeta>;

    /// A human-readable location of `path`, for messages (`s3://bucket/key`, a file path).
    fn describe(&self, path: &str) -> String;
}

/// Rejects the one path no backend accepts.
pub(crate) fn validate_key(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(StorageError::InvalidConfig("empty object path".to_string()));
    }
    Ok(())
}

/// Rejects paths a file-system backend cannot map under its root safely.
pub(crate) fn validate_path(path: &str) -> Result<()> {
    let valid = !path.is_empty()
        && !path.starts_with('/')
        && !path.ends_with('/')
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if valid {
        Ok(())
    } else {
        Err(StorageError::InvalidConfig(format!(
            "object path `{path}` cannot be stored on local disk (empty, `.` or `..` segment, or a \
             leading or trailing `/`)"
        )))
    }
}

/// Checks that a requested range is well-formed and inside an object of `size` bytes.
pub(crate) fn check_range(path: &str, range: &Range<u64>, size: u64) -> Result<()> {
    if range.start > range.end || range.end > size {
        return Err(StorageError::Backend {
            path: path.to_string(),
            message: format!(
                "range {}..{} is outside the object of {size} bytes",
                range.start, range.end
            ),
            source: None,
        });
    }
    Ok(())
}

/// Reads a payload into memory (backends that cannot stream a file use this).
#[cfg(feature = "testing")]
pub(crate) async fn payload_bytes(payload: PutPayload) -> Result<Bytes> {
    match payload {
        PutPayload::Bytes(bytes) => Ok(bytes),
        PutPayload::File(file_path) => tokio::fs::read(&file_path)
            .await
            .map(Bytes::from)
            .map_err(|error| StorageError::from_io(file_path.display(), error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_validation() {
        for good in ["a", "a/b", "metastore/index.json", "a.b/c..d"] {
            assert!(validate_path(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "a//b", "../a", "a/./b", "a/.."] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }
}
