//! Where staging objects are read from: S3 buckets by name, or local directories standing in
//! for buckets (local mode, tests).

use std::collections::HashMap;

use hydrant_storage::{SharedStorage, StorageResolver, StorageUri};

use crate::error::Result;

/// A staging object named by an event: bucket, key and, when the event carries it, the etag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub etag: Option<String>,
}

impl ObjectRef {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            etag: None,
        }
    }

    /// `bucket/key`: how the checkpoint names the object.
    pub fn source_key(&self) -> String {
        format!("{}/{}", self.bucket, self.key)
    }
}

/// Maps bucket names to storages: `s3://{bucket}` unless a bucket is bound elsewhere.
#[derive(Clone, Debug, Default)]
pub struct StagingBuckets {
    resolver: StorageResolver,
    bindings: HashMap<String, Binding>,
}

#[derive(Clone, Debug)]
enum Binding {
    Uri(StorageUri),
    Storage(SharedStorage),
}

impl StagingBuckets {
    pub fn new(resolver: StorageResolver) -> Self {
        StagingBuckets {
            resolver,
            bindings: HashMap::new(),
        }
    }

    /// Serves `bucket` from `uri` instead of S3 (a local directory in local mode).
    pub fn bind(mut self, bucket: impl Into<String>, uri: StorageUri) -> Self {
        self.bindings.insert(bucket.into(), Binding::Uri(uri));
        self
    }

    /// Serves `bucket` from `storage` (benchmarks bind instrumented storages this way).
    pub fn bind_storage(mut self, bucket: impl Into<String>, storage: SharedStorage) -> Self {
        self.bindings
            .insert(bucket.into(), Binding::Storage(storage));
        self
    }

    /// The storage holding the objects of `bucket`, keys relative to its root.
    pub async fn storage_for(&self, bucket: &str) -> Result<SharedStorage> {
        let uri = match self.bindings.get(bucket) {
            Some(Binding::Storage(storage)) => return Ok(storage.clone()),
            Some(Binding::Uri(uri)) => uri.clone(),
            None => StorageUri::S3 {
                bucket: bucket.to_string(),
                prefix: String::new(),
            },
        };
        Ok(self.resolver.resolve(&uri).await?)
    }
}
