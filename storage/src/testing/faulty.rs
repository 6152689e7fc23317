//! A storage that fails on purpose, on a deterministic schedule, to test what Hydrant does when
//! S3 does what S3 sometimes does.
//!
//! The failure that matters most for exactly-once is the *ambiguous write*: the request reaches
//! the store and is applied, but its response never comes back (a timeout, a reset connection,
//! a 5xx sent after the write). The client cannot tell it from a write that never happened;
//! its SDK usually sends the same request again, and a conditional put then fails with 412
//! because of its own first attempt. [`Fault`] models each case:
//!
//! - [`Fault::Unavailable`]: the request fails before reaching the store; nothing happens.
//! - [`Fault::ResponseLost`]: the request is applied, then the caller gets an error.
//! - [`Fault::Retried`]: the request is applied, its response is lost, and the identical
//!   request is sent again; the caller gets the second answer (412 for a conditional put,
//!   success for an overwrite or a delete).
//!
//! A [`FaultRule`] says which requests fail: an operation, a path fragment, how many matching
//! requests to let through first, and how many to fail. Rules are checked in order and each
//! request takes the first rule that applies, so a schedule is reproducible run after run.
//!
//! ```
//! use std::sync::Arc;
//! use hydrant_storage::{PutMode, Storage};
//! use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, MemoryStorage, Operation};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let storage = FaultyStorage::new(Arc::new(MemoryStorage::default()));
//! // The second put under `metastore/` is applied, but its caller hears 412 from the retry.
//! storage.inject(FaultRule::new(Operation::Put, Fault::Retried).path_contains("metastore/").skip(1));
//! let first = storage.put("metastore/a.json", "1".into(), PutMode::Create).await?;
//! let error = storage.put("metastore/a.json", "2".into(), PutMode::Update(first.version)).await.unwrap_err();
//! assert!(error.is_precondition_failed());
//! assert_eq!(&storage.get("metastore/a.json").await?.bytes[..], b"2", "and yet it was applied");
//! assert_eq!(storage.faults_injected(), 1);
//! # Ok::<_, hydrant_storage::StorageError>(())
//! # }).unwrap();
//! ```

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Result, StorageError};
use crate::{
    GetResult, GetStreamResult, ObjectMeta, ObjectVersion, PutMode, PutPayload, PutResult,
    SharedStorage, Storage,
};

/// The kinds of request a rule can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `get`, `get_if_modified`, `get_stream` and `get_range`.
    Read,
    Head,
    List,
    Put,
    Delete,
    /// Puts and deletes.
    Write,
    /// Every request.
    Any,
}

impl Operation {
    fn matches(self, request: Operation) -> bool {
        self == request
            || self == Operation::Any
            || (self == Operation::Write && matches!(request, Operation::Put | Operation::Delete))
    }
}

/// What happens to a request a rule picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails before reaching the store: nothing is applied.
    Unavailable,
    /// Applied, then the response is lost: the caller gets an error.
    ResponseLost,
    /// Applied, the response is lost, and the same request is sent again: the caller gets the
    /// answer to the repeat. Reads and lists behave as [`Fault::Unavailable`].
    Retried,
}

/// Which requests fail, and how.
#[derive(Clone, Debug)]
pub struct FaultRule {
    operation: Operation,
    path_fragment: String,
    skip: u64,
    times: u64,
    fault: Fault,
    /// Matching requests seen so far.
    seen: u64,
}

impl FaultRule {
    /// Fails the first matching request of `operation` with `fault`.
    pub fn new(operation: Operation, fault: Fault) -> Self {
        FaultRule {
            operation,
            path_fragment: String::new(),
            skip: 0,
            times: 1,
            fault,
            seen: 0,
        }
    }

    /// Only requests whose path (or list prefix) contains `fragment`.
    pub fn path_contains(mut self, fragment: impl Into<String>) -> Self {
        self.path_fragment = fragment.into();
        self
    }

    /// Lets the first `count` matching requests through.
    pub fn skip(mut self, count: u64) -> Self {
        self.skip = count;
        self
    }

    /// Fails `count` matching requests (after the skipped ones); `u64::MAX` for all of them.
    pub fn times(mut self, count: u64) -> Self {
        self.times = count;
        self
    }

    /// Whether this rule takes the request, counting it either way.
    fn takes(&mut self, operation: Operation, path: &str) -> bool {
        if !self.operation.matches(operation) || !path.contains(&self.path_fragment) {
            return false;
        }
        let position = self.seen;
        self.seen += 1;
        position >= self.skip && position - self.skip < self.times
    }
}

/// Wraps a storage and injects the faults its rules schedule. See the module documentation.
#[derive(Debug)]
pub struct FaultyStorage {
    inner: SharedStorage,
    rules: Mutex<Vec<FaultRule>>,
    faults_injected: AtomicU64,
    writes: AtomicU64,
}

impl FaultyStorage {
    /// A wrapper that forwards everything until a rule is injected.
    pub fn new(inner: SharedStorage) -> Self {
        FaultyStorage {
            inner,
            rules: Mutex::new(Vec::new()),
            faults_injected: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    /// Adds a rule after the existing ones.
    pub fn inject(&self, rule: FaultRule) {
        self.rules.lock().expect("fault rules lock").push(rule);
    }

    /// Removes every rule: requests from now on are forwarded untouched.
    pub fn heal(&self) {
        self.rules.lock().expect("fault rules lock").clear();
    }

    /// Requests failed so far.
    pub fn faults_injected(&self) -> u64 {
        self.faults_injected.load(Ordering::Relaxed)
    }

    /// Puts and deletes requested so far (failed or not): how a test enumerates the writes of
    /// a scenario before failing each of them in turn.
    pub fn writes_seen(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// The fault for this request, if a rule takes it.
    fn fault_for(&self, operation: Operation, path: &str) -> Option<Fault> {
        if matches!(operation, Operation::Put | Operation::Delete) {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        let mut rules = self.rules.lock().expect("fault rules lock");
        let fault = rules
            .iter_mut()
            .find_map(|rule| rule.takes(operation, path).then_some(rule.fault))?;
        self.faults_injected.fetch_add(1, Ordering::Relaxed);
        Some(fault)
    }

    fn injected_error(&self, path: &str, fault: Fault) -> StorageError {
        let message = match fault {
            Fault::Unavailable => "injected fault: service unavailable, request not applied",
            Fault::ResponseLost | Fault::Retried => {
                "injected fault: connection reset after the request was sent"
            }
        };
        StorageError::Backend {
            path: self.inner.describe(path),
            message: message.to_string(),
            source: None,
        }
    }

    fn read_fault(&self, path: &str) -> Result<()> {
        match self.fault_for(Operation::Read, path) {
            Some(fault) => Err(self.injected_error(path, fault)),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Storage for FaultyStorage {
    async fn get(&self, path: &str) -> Result<GetResult> {
        self.read_fault(path)?;
        self.inner.get(path).await
    }

    async fn get_if_modified(
        &self,
        path: &str,
        version: &ObjectVersion,
    ) -> Result<Option<GetResult>> {
        self.read_fault(path)?;
        self.inner.get_if_modified(path, version).await
    }

    async fn get_stream(&self, path: &str) -> Result<GetStreamResult> {
        self.read_fault(path)?;
        self.inner.get_stream(path).await
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        self.read_fault(path)?;
        self.inner.get_range(path, range).await
    }

    async fn put(&self, path: &str, payload: PutPayload, mode: PutMode) -> Result<PutResult> {
        match self.fault_for(Operation::Put, path) {
            None => self.inner.put(path, payload, mode).await,
            Some(Fault::Unavailable) => Err(self.injected_error(path, Fault::Unavailable)),
            Some(Fault::ResponseLost) => {
                self.inner.put(path, payload, mode).await?;
                Err(self.injected_error(path, Fault::ResponseLost))
            }
            Some(Fault::Retried) => {
                self.inner.put(path, payload.clone(), mode.clone()).await?;
                self.inner.put(path, payload, mode).await
            }
        }
    }

    async fn delete(&self, path: &str) -> Result<()> {
        match self.fault_for(Operation::Delete, path) {
            None => self.inner.delete(path).await,
            Some(Fault::Unavailable) => Err(self.injected_error(path, Fault::Unavailable)),
            Some(Fault::ResponseLost) => {
                self.inner.delete(path).await?;
                Err(self.injected_error(path, Fault::ResponseLost))
            }
            Some(Fault::Retried) => {
                self.inner.delete(path).await?;
                self.inner.delete(path).await
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        if let Some(fault) = self.fault_for(Operation::List, prefix) {
            return Err(self.injected_error(prefix, fault));
        }
        self.inner.list(prefix).await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta> {
        if let Some(fault) = self.fault_for(Operation::Head, path) {
            return Err(self.injected_error(path, fault));
        }
        self.inner.head(path).await
    }

    fn describe(&self, path: &str) -> String {
        self.inner.describe(path)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::MemoryStorage;

    #[tokio::test]
    async fn schedules_are_deterministic() {
        let storage = FaultyStorage::new(Arc::new(MemoryStorage::default()));
        storage.inject(
            FaultRule::new(Operation::Write, Fault::Unavailable)
                .path_contains("splits/")
                .skip(1)
                .times(2),
        );
        let outcomes: Vec<bool> = futures::future::join_all((0..5).map(|n| {
            let storage = &storage;
            async move {
                storage
                    .put(&format!("splits/{n}"), "x".into(), PutMode::Overwrite)
                    .await
                    .is_ok()
            }
        }))
        .await;
        assert_eq!(outcomes.iter().filter(|ok| !**ok).count(), 2);
        // Other paths and reads are untouched.
        storage
            .put("metastore/a", "x".into(), PutMode::Overwrite)
            .await
            .unwrap();
        storage.get("splits/0").await.unwrap();
        assert_eq!(storage.faults_injected(), 2);
        assert_eq!(storage.writes_seen(), 6);
    }

    #[tokio::test]
    async fn each_fault_applies_or_not_as_documented() {
        let storage = FaultyStorage::new(Arc::new(MemoryStorage::default()));
        storage.inject(FaultRule::new(Operation::Put, Fault::Unavailable));
        storage.inject(FaultRule::new(Operation::Put, Fault::ResponseLost));
        storage.inject(FaultRule::new(Operation::Put, Fault::Retried));
        storage.inject(FaultRule::new(Operation::Read, Fault::Unavailable));
        assert!(storage.put("a", "1".into(), PutMode::Create).await.is_err());
        assert!(
            storage.head("a").await.unwrap_err().is_not_found(),
            "not applied"
        );
        let lost = storage.put("a", "2".into(), PutMode::Create).await;
        assert!(!lost.unwrap_err().is_precondition_failed());
        assert_eq!(storage.head("a").await.unwrap().size, 1, "applied");
        let retried = storage.put("b", "3".into(), PutMode::Create).await;
        assert!(
            retried.unwrap_err().is_precondition_failed(),
            "the repeat finds its own write"
        );
        assert!(storage.get("b").await.is_err(), "the read fault");
        assert_eq!(&storage.get("b").await.unwrap().bytes[..], b"3");
        storage.inject(FaultRule::new(Operation::Any, Fault::Unavailable).times(u64::MAX));
        assert!(storage.list("").await.is_err());
        storage.heal();
        assert_eq!(storage.list("").await.unwrap().len(), 2);
    }
}
