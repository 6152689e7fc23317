//! In-memory storage, for unit tests and for measuring code without I/O.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Result, StorageError};
use crate::{
    GetResult, ObjectMeta, ObjectVersion, PutMode, PutPayload, PutResult, Storage, check_range,
    payload_bytes, validate_key,
};

/// Storage kept in a map. Versions come from a counter, so every put yields a new one.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    objects: BTreeMap<String, StoredObject>,
    next_generation: u64,
}

#[derive(Debug, Clone)]
struct StoredObject {
    bytes: Bytes,
    generation: u64,
    last_modified: SystemTime,
}

impl StoredObject {
    fn meta(&self, path: &str) -> ObjectMeta {
        ObjectMeta {
            path: path.to_string(),
            size: self.bytes.len() as u64,
            version: ObjectVersion(format!("g{}", self.generation)),
            last_modified: self.last_modified,
        }
    }
}

impl MemoryStorage {
    fn lookup(&self, path: &str) -> Result<StoredObject> {
        validate_key(path)?;
        let state = self.state.lock().expect("memory storage lock poisoned");
        state
            .objects
            .get(path)
            .cloned()
            .ok_or_else(|| StorageError::NotFound {
                path: path.to_string(),
            })
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, path: &str) -> Result<GetResult> {
        let object = self.lookup(path)?;
        Ok(GetResult {
            meta: object.meta(path),
            bytes: object.bytes,
        })
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        let object = self.lookup(path)?;
        check_range(path, &range, object.bytes.len() as u64)?;
        Ok(object.bytes.slice(range.start as usize..range.end as usize))
    }

    async fn put(&self, path: &str, payload: PutPayload, mode: PutMode) -> Result<PutResult> {
        validate_key(path)?;
        let bytes = payload_bytes(payload).await?;
        let mut state = self.state.lock().expect("memory storage lock poisoned");
        let current_version = state
            .objects
            .get(path)
            .map(|object| object.meta(path).version);
        match (&mode, current_version) {
            (PutMode::Overwrite, _) | (PutMode::Create, None) => {}
            (PutMode::Create, Some(_)) => {
                return Err(StorageError::PreconditionFailed {
                    path: path.to_string(),
                    reason: "object already exists".to_string(),
                });
            }
            (PutMode::Update(_), None) => {
                return Err(StorageError::NotFound {
                    path: path.to_string(),
                });
            }
            (PutMode::Update(expected), Some(current)) if *expected != current => {
                return Err(StorageError::PreconditionFailed {
                    path: path.to_string(),
                    reason: format!("version is {current}, expected {expected}"),
                });
            }
            (PutMode::Update(_), Some(_)) => {}
        }
        state.next_generation += 1;
        let object = StoredObject {
            bytes,
            generation: state.next_generation,
            last_modified: SystemTime::now(),
        };
        let version = object.meta(path).version;
        state.objects.insert(path.to_string(), object);
        Ok(PutResult { version })
    }

    async fn delete(&self, path: &str) -> Result<()> {
        validate_key(path)?;
        let mut state = self.state.lock().expect("memory storage lock poisoned");
        state.objects.remove(path);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let state = self.state.lock().expect("memory storage lock poisoned");
        Ok(state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(path, _)| path.starts_with(prefix))
            .map(|(path, object)| object.meta(path))
            .collect())
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta> {
        Ok(self.lookup(path)?.meta(path))
    }

    fn describe(&self, path: &str) -> String {
        format!("memory://{path}")
    }
}
