//! Writes that recognise their own outcome after an error.
//!
//! A write can be applied while its caller hears an error (see `testing::FaultyStorage`). For
//! the metastore document the commit id settles it (`hydrant_metastore`); for the other objects
//! Hydrant writes, the object itself does: these helpers look at what is there after an error
//! and report success when it can only be the write that "failed".

use bytes::Bytes;

use crate::error::Result;
use crate::{PutMode, PutPayload, Storage};

/// Creates `path`, which nobody else ever writes (it holds a fresh split id, say), from
/// `payload` of `size` bytes. After an error or a 412 (the SDK retrying our own applied write),
/// an object there with our size is ours: success.
pub async fn create_unique(
    storage: &dyn Storage,
    path: &str,
    payload: PutPayload,
    size: u64,
) -> Result<()> {
    let error = match storage.put(path, payload, PutMode::Create).await {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    match storage.head(path).await {
        Ok(existing) if existing.size == size => Ok(()),
        _ => Err(error),
    }
}

/// Writes `bytes` to `path`, replacing what is there. After an error, an object with exactly
/// these bytes is the write applied: success.
pub async fn overwrite(storage: &dyn Storage, path: &str, bytes: Bytes) -> Result<()> {
    let error = match storage
        .put(path, PutPayload::Bytes(bytes.clone()), PutMode::Overwrite)
        .await
    {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    match storage.get(path).await {
        Ok(existing) if existing.bytes == bytes => Ok(()),
        _ => Err(error),
    }
}

/// Writes the file at `file` (of `size` bytes) to `path`, replacing what is there. After an
/// error, an object of exactly that size is the write applied (what is written there is
/// derived from one source, so two writers never write different bytes of the same size).
pub async fn overwrite_file(
    storage: &dyn Storage,
    path: &str,
    file: std::path::PathBuf,
    size: u64,
) -> Result<()> {
    let error = match storage
        .put(path, PutPayload::File(file), PutMode::Overwrite)
        .await
    {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    match storage.head(path).await {
        Ok(existing) if existing.size == size => Ok(()),
        _ => Err(error),
    }
}

/// Deletes `path`. After an error, an object that is gone was deleted: success.
pub async fn delete(storage: &dyn Storage, path: &str) -> Result<()> {
    let error = match storage.delete(path).await {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    match storage.head(path).await {
        Err(missing) if missing.is_not_found() => Ok(()),
        _ => Err(error),
    }
}
