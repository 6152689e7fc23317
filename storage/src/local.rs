//! Local-disk storage: the embedded default.
//!
//! Objects are files under a root directory. A put writes a temporary file under
//! `.hydrant-tmp/`, fsyncs it, and moves it into place, so readers never see a partial object
//! and a crash leaves at most a stray temporary file, which the next opening of the storage
//! removes once its process is gone ([`crate::scratch`]).
//!
//! Conditional puts are atomic across threads and processes:
//! - `Create` hard-links the temporary file to the destination; `link(2)` fails if the
//!   destination exists, in one system call.
//! - `Update` and `Overwrite` take an exclusive `flock` on one of a fixed set of lock files
//!   (chosen by hashing the path), compare the current version and rename under that lock.
//!   Deletes take the same lock, so a delete cannot slip between an update's check and rename.
//!
//! The version of a file is derived from its inode, modification time and size: a rename
//! installs a new inode, so every put changes it.

use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::error::{Result, StorageError};
use crate::{
    GetResult, GetStreamResult, ObjectMeta, ObjectVersion, PutMode, PutPayload, PutResult, Storage,
    check_range, validate_path,
};

/// Directory of in-flight temporary files, excluded from listings.
const TMP_DIR: &str = ".hydrant-tmp";
/// Directory of lock files, excluded from listings.
const LOCK_DIR: &str = ".hydrant-locks";
/// Number of lock files paths are hashed onto. Collisions only serialize unrelated writers.
const NUM_LOCK_STRIPES: u64 = 64;
/// Chunk size of streamed reads.
const STREAM_CHUNK_BYTES: usize = 256 << 10;

/// Storage in a directory of the local file system.
#[derive(Clone, Debug)]
pub struct LocalStorage {
    root: Arc<PathBuf>,
}

impl LocalStorage {
    /// Opens (and creates if needed) storage rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root: PathBuf = root.into();
        for dir in [root.join(TMP_DIR), root.join(LOCK_DIR)] {
            fs::create_dir_all(&dir)
                .map_err(|error| StorageError::from_io(dir.display(), error))?;
        }
        // Puts in flight in this process (through another handle) are not stale: only files of
        // processes that are gone are.
        let temp_dir = root.join(TMP_DIR);
        crate::scratch::remove_stale(&temp_dir, false)
            .map_err(|error| StorageError::backend(temp_dir.display(), "cannot clean", error))?;
        Ok(LocalStorage {
            root: Arc::new(root),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn file_path(&self, path: &str) -> Result<PathBuf> {
        validate_path(path)?;
        if path.starts_with(".hydrant-") {
            return Err(StorageError::InvalidConfig(format!(
                "object path `{path}` is reserved for local storage bookkeeping"
            )));
        }
        Ok(self.root.join(path))
    }

    /// Runs blocking file-system work off the async executor.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&LocalStorage) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let storage = self.clone();
        tokio::task::spawn_blocking(move || work(&storage))
            .await
            .map_err(|join_error| {
                StorageError::backend("local storage", "task failed", join_error)
            })?
    }

    fn lock_stripe(&self, path: &str) -> Result<File> {
        let stripe = fnv1a(path.as_bytes()) % NUM_LOCK_STRIPES;
        let lock_path = self.root.join(LOCK_DIR).join(format!("{stripe:02}.lock"));
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|error| StorageError::from_io(lock_path.display(), error))?;
        lock_file
            .lock()
            .map_err(|error| StorageError::backend(lock_path.display(), "cannot lock", error))?;
        // Dropping the file closes it, which releases the lock.
        Ok(lock_file)
    }

    fn write_temp_file(&self, payload: PutPayload) -> Result<(PathBuf, Metadata)> {
        let temp_path = self.root.join(TMP_DIR).join(format!(
            "{}{}",
            crate::scratch::scratch_prefix("put"),
            uuid::Uuid::new_v4().simple()
        ));
        let write = || -> io::Result<Metadata> {
            match &payload {
                PutPayload::Bytes(bytes) => {
                    let mut file = File::create_new(&temp_path)?;
                    file.write_all(bytes)?;
                    file.sync_all()?;
                    file.metadata()
                }
                PutPayload::File(source) => {
                    fs::copy(source, &temp_path)?;
                    let file = File::open(&temp_path)?;
                    file.sync_all()?;
                    file.metadata()
                }
            }
        };
        match write() {
            Ok(metadata) => Ok((temp_path, metadata)),
            Err(error) => {
                let _ = fs::remove_file(&temp_path);
                Err(StorageError::backend(
                    temp_path.display(),
                    "cannot write",
                    error,
                ))
            }
        }
    }

    fn put_blocking(&self, path: &str, payload: PutPayload, mode: PutMode) -> Result<PutResult> {
        let destination = self.file_path(path)?;
        let parent = destination.parent().expect("a validated path has a parent");
        fs::create_dir_all(parent)
            .map_err(|error| StorageError::from_io(parent.display(), error))?;
        let (temp_path, temp_metadata) = self.write_temp_file(payload)?;
        let version = version_of(&temp_metadata);
        let outcome = match mode {
            PutMode::Create => fs::hard_link(&temp_path, &destination).map_err(|error| {
                if error.kind() == io::ErrorKind::AlreadyExists {
                    StorageError::PreconditionFailed {
                        path: path.to_string(),
                        reason: "object already exists".to_string(),
                    }
                } else {
                    StorageError::backend(destination.display(), "cannot link", error)
                }
            }),
            PutMode::Overwrite => {
                let _lock = self.lock_stripe(path)?;
                rename(&temp_path, &destination)
            }
            PutMode::Update(expected) => {
                let _lock = self.lock_stripe(path)?;
                match fs::metadata(&destination) {
                    Err(error) => Err(StorageError::from_io(path, error)),
                    Ok(current) if version_of(&current) != expected => {
                        Err(StorageError::PreconditionFailed {
                            path: path.to_string(),
                            reason: format!(
                                "version is {}, expected {expected}",
                                version_of(&current)
                            ),
                        })
                    }
                    Ok(_) => rename(&temp_path, &destination),
                }
            }
        };
        // After a rename the temporary path is gone; after a link or a failure it remains.
        let _ = fs::remove_file(&temp_path);
        outcome?;
        sync_dir(parent)?;
        Ok(PutResult { version })
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        // Only walk the directory the prefix points into.
        let start_dir = match prefix.rsplit_once('/') {
            Some((dir, _)) => self.root.join(dir),
            None => self.root.to_path_buf(),
        };
        let mut objects = Vec::new();
        let mut pending_dirs = vec![start_dir];
        while let Some(dir) = pending_dirs.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(StorageError::backend(dir.display(), "cannot list", error));
                }
            };
            for entry in entries {
                let entry =
                    entry.map_err(|error| StorageError::backend(dir.display(), "list", error))?;
                let entry_path = entry.path();
                let Some(key) = self.key_of(&entry_path) else {
                    continue;
                };
                if key.starts_with(".hydrant-") {
                    continue;
                }
                let metadata = match entry.metadata() {
                    Ok(metadata) => metadata,
                    // Deleted while we were listing.
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(StorageError::from_io(entry_path.display(), error)),
                };
                if metadata.is_dir() {
                    // Descend only where the prefix can still match.
                    let dir_key = format!("{key}/");
                    if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                        pending_dirs.push(entry_path);
                    }
                } else if key.starts_with(prefix) {
                    objects.push(object_meta(key, &metadata));
                }
            }
        }
        objects.sort_by(|left, right| left.path.cmp(&right.path));
        Ok(objects)
    }

    fn key_of(&self, file_path: &Path) -> Option<String> {
        let relative = file_path.strip_prefix(self.root.as_path()).ok()?;
        let segments: Option<Vec<&str>> = relative
            .components()
            .map(|component| component.as_os_str().to_str())
            .collect();
        Some(segments?.join("/"))
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn get(&self, path: &str) -> Result<GetResult> {
        let file_path = self.file_path(path)?;
        let path = path.to_string();
        self.blocking(move |_| {
            // Metadata and content come from the same open file, so the version matches the
            // bytes even if a writer renames a new file into place meanwhile.
            let file =
                File::open(&file_path).map_err(|error| StorageError::from_io(&path, error))?;
            let metadata = file
                .metadata()
                .map_err(|error| StorageError::from_io(&path, error))?;
            let mut bytes = vec![0u8; metadata.len() as usize];
            file.read_exact_at(&mut bytes, 0)
                .map_err(|error| StorageError::backend(&path, "cannot read", error))?;
            Ok(GetResult {
                meta: object_meta(path, &metadata),
                bytes: Bytes::from(bytes),
            })
        })
        .await
    }

    async fn get_stream(&self, path: &str) -> Result<GetStreamResult> {
        let file_path = self.file_path(path)?;
        let path = path.to_string();
        let file = tokio::fs::File::open(&file_path)
            .await
            .map_err(|error| StorageError::from_io(&path, error))?;
        let metadata = file
            .metadata()
            .await
            .map_err(|error| StorageError::from_io(&path, error))?;
        let meta = object_meta(path.clone(), &metadata);
        let chunks = futures::stream::try_unfold((file, path), |(mut file, path)| async move {
            let mut buffer = vec![0u8; STREAM_CHUNK_BYTES];
            let read = file
                .read(&mut buffer)
                .await
                .map_err(|error| StorageError::backend(&path, "cannot read", error))?;
            if read == 0 {
                return Ok(None);
            }
            buffer.truncate(read);
            Ok(Some((Bytes::from(buffer), (file, path))))
        });
        Ok(GetStreamResult {
            meta,
            chunks: Box::pin(chunks),
        })
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        let file_path = self.file_path(path)?;
        let path = path.to_string();
        self.blocking(move |_| {
            let file =
                File::open(&file_path).map_err(|error| StorageError::from_io(&path, error))?;
            let size = file
                .metadata()
                .map_err(|error| StorageError::from_io(&path, error))?
                .len();
            check_range(&path, &range, size)?;
            let mut bytes = vec![0u8; (range.end - range.start) as usize];
            file.read_exact_at(&mut bytes, range.start)
                .map_err(|error| StorageError::backend(&path, "cannot read", error))?;
            Ok(Bytes::from(bytes))
        })
        .await
    }

    async fn put(&self, path: &str, payload: PutPayload, mode: PutMode) -> Result<PutResult> {
        let path = path.to_string();
        self.blocking(move |storage| storage.put_blocking(&path, payload, mode))
            .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let file_path = self.file_path(path)?;
        let path = path.to_string();
        self.blocking(move |storage| {
            let _lock = storage.lock_stripe(&path)?;
            match fs::remove_file(&file_path) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(error) => Err(StorageError::backend(&path, "cannot delete", error)),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = prefix.to_string();
        self.blocking(move |storage| storage.list_blocking(&prefix))
            .await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta> {
        let file_path = self.file_path(path)?;
        let path = path.to_string();
        self.blocking(move |_| {
            let metadata =
                fs::metadata(&file_path).map_err(|error| StorageError::from_io(&path, error))?;
            if metadata.is_dir() {
                return Err(StorageError::NotFound { path });
            }
            Ok(object_meta(path, &metadata))
        })
        .await
    }

    fn describe(&self, path: &str) -> String {
        self.root.join(path).display().to_string()
    }
}

fn object_meta(path: String, metadata: &Metadata) -> ObjectMeta {
    ObjectMeta {
        path,
        size: metadata.len(),
        version: version_of(metadata),
        last_modified: metadata.modified().unwrap_or(std::time::UNIX_EPOCH),
    }
}

fn version_of(metadata: &Metadata) -> ObjectVersion {
    let mtime_nanos = metadata.mtime() as i128 * 1_000_000_000 + metadata.mtime_nsec() as i128;
    ObjectVersion(format!(
        "{:x}-{:x}-{:x}",
        metadata.ino(),
        mtime_nanos,
        metadata.size()
    ))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to)
        .map_err(|error| StorageError::backend(to.display(), "cannot rename", error))
}

/// Makes a rename durable: the directory entry is only on disk once its directory is synced.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|dir_file| dir_file.sync_all())
        .map_err(|error| StorageError::backend(dir.display(), "cannot sync directory", error))
}

/// FNV-1a: a stable hash, so every process maps a path to the same lock stripe.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
