//! The metastore: per index, one JSON document on the index storage holding the index config,
//! every split's metadata and the source checkpoint, changed only by compare-and-swap commits.
//!
//! Layout on the index storage (the same storage as the splits):
//!
//! ```text
//! metastore/{index_id}.json              this module's document, one per index
//! indexes/{index_id}/splits/{id}.split   split bundles
//! ```
//!
//! Every change is a *commit*: read the document and its version, apply a mutation, write it
//! back with `PutMode::Update(version)`. If another writer committed in between, the put fails
//! with a precondition error and the mutation is re-applied to the fresh document. Publishing a
//! split, marking the splits a merge replaced, and advancing the checkpoint are one mutation, so
//! they happen together or not at all; that is what makes ingestion exactly-once.
//!
//! # Ambiguous writes
//!
//! A write can be applied while its response is lost (a timeout, a reset connection, a 5xx sent
//! after the write). The SDK then retries the same conditional put and gets 412, which looks
//! exactly like a lost race. So every attempt writes a fresh *commit id* into the document
//! (the last [`RECENT_COMMITS`] are kept), and after any error or 412 that follows a sent
//! write the document is read again: if it lists one of our attempts, that attempt is what
//! happened and the commit succeeded; otherwise it is someone else's write (or none) and the
//! usual retry follows. Because each attempt is conditional on the version it read, at most one
//! attempt of a commit can ever apply, so recognising one is enough.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::clock::{SharedClock, SystemClock};
use crate::document::{self, Document};
use crate::error::{Error, Result};
use crate::paths;
use crate::split::{SplitMetadata, SplitState, TimeRange};
use hydrant_index::config::{IndexConfig, validate_index_id};
use hydrant_index::template::{IndexTemplate, template_for};
use hydrant_storage::{ObjectMeta, ObjectVersion, PutMode, SharedStorage};

/// Version of the metastore document format.
pub const METASTORE_FORMAT_VERSION: u32 = 1;
/// A commit that keeps losing races gives up after this many attempts.
const MAX_COMMIT_ATTEMPTS: u32 = 32;
/// Commit ids a document remembers. A committer re-reads right after an ambiguous write, so
/// only the writers that slipped in between could push its id out: far fewer than this.
pub const RECENT_COMMITS: usize = 32;

/// The metastore document of one index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexMetadata {
    pub format_version: u32,
    pub index_config: IndexConfig,
    /// Unix seconds.
    pub create_timestamp: i64,
    /// Incremented by every commit: a cheap "has anything changed" for caches.
    pub generation: u64,
    /// Splits by id.
    pub splits: BTreeMap<String, SplitMetadata>,
    /// Which staging objects are already indexed.
    pub checkpoint: SourceCheckpoint,
    /// Ids of the last [`RECENT_COMMITS`] commits, newest last: how a committer recognises its
    /// own write after an error (see the module documentation).
    #[serde(default)]
    pub recent_commits: Vec<String>,
}

impl IndexMetadata {
    pub fn index_id(&self) -> &str {
        &self.index_config.index_id
    }

    /// Splits matching `filter`, in split id (creation) order.
    pub fn splits_matching<'a>(
        &'a self,
        filter: &SplitFilter,
    ) -> impl Iterator<Item = &'a SplitMetadata> + use<'a> {
        let filter = filter.clone();
        self.splits
            .values()
            .filter(move |split| filter.matches(split))
    }

    /// Published splits, the ones a search reads.
    pub fn published_splits(&self) -> impl Iterator<Item = &SplitMetadata> {
        self.splits
            .values()
            .filter(|split| split.state == SplitState::Published)
    }

    /// Total documents in published splits.
    pub fn num_published_docs(&self) -> u64 {
        self.published_splits().map(|split| split.num_docs).sum()
    }
}

/// Which splits a listing wants.
#[derive(Clone, Debug, Default)]
pub struct SplitFilter {
    /// Any of these states; empty means any state.
    pub states: Vec<SplitState>,
    /// Only splits that may hold documents with `start <= ts < end` (Unix seconds).
    pub start_timestamp: Option<i64>,
    pub end_timestamp: Option<i64>,
}

impl SplitFilter {
    /// Published splits overlapping a time range.
    pub fn published_in(start_timestamp: Option<i64>, end_timestamp: Option<i64>) -> Self {
        SplitFilter {
            states: vec![SplitState::Published],
            start_timestamp,
            end_timestamp,
        }
    }

    pub fn matches(&self, split: &SplitMetadata) -> bool {
        if !self.states.is_empty() && !self.states.contains(&split.state) {
            return false;
        }
        if self.start_timestamp.is_none() && self.end_timestamp.is_none() {
            return true;
        }
        // A split without a time range (no timestamp field) can hold anything.
        split.time_range.is_none_or(|range: TimeRange| {
            range.overlaps_secs(self.start_timestamp, self.end_timestamp)
        })
    }
}

/// The staging objects already indexed, by source key (`bucket/key`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    pub objects: BTreeMap<String, CheckpointEntry>,
}

impl SourceCheckpoint {
    /// Whether this exact object version was indexed.
    pub fn contains(&self, source_key: &str, etag: &str) -> bool {
        self.objects
            .get(source_key)
            .is_some_and(|entry| entry.etag == etag)
    }
}

/// One indexed staging object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEntry {
    pub etag: String,
    /// The split its records went into; `None` when it held no valid record.
    pub split_id: Option<String>,
    /// Unix seconds.
    pub indexed_at: i64,
}

/// One staging object an indexing run consumed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceObject {
    /// `bucket/key`: what the checkpoint is keyed by.
    pub source_key: String,
    pub etag: String,
}

/// What a publish commit does, atomically.
#[derive(Clone, Debug, Default)]
pub struct PublishRequest {
    /// Staged splits that become published.
    pub staged_split_ids: Vec<String>,
    /// Published splits that become marked for deletion (the inputs of a merge).
    pub replaced_split_ids: Vec<String>,
    /// Objects whose records are in the published splits, with the split holding them
    /// (`None` for an object without a valid record).
    pub checkpoint_delta: Vec<(SourceObject, Option<String>)>,
    /// Checkpoint entries indexed before this time (Unix seconds) are dropped in the same
    /// commit: the checkpoint is pruned by age, never reset.
    pub prune_checkpoint_before: Option<i64>,
}

/// Reads and commits metastore documents on a storage.
#[derive(Clone, Debug)]
pub struct Metastore {
    storage: SharedStorage,
    clock: SharedClock,
}

impl Metastore {
    /// A metastore on `storage` (the index storage), using the system clock.
    pub fn new(storage: SharedStorage) -> Self {
        Metastore::with_clock(storage, std::sync::Arc::new(SystemClock))
    }

    /// A metastore whose timestamps come from `clock`.
    pub fn with_clock(storage: SharedStorage, clock: SharedClock) -> Self {
        Metastore { storage, clock }
    }

    /// The storage holding this metastore and its splits.
    pub fn storage(&self) -> &SharedStorage {
        &self.storage
    }

    /// The clock timestamps come from.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Stores a new index template. Fails with [`Error::TemplateAlreadyExists`] if one has its
    /// id; a create whose response was lost is recognised as ours.
    pub async fn create_template(&self, template: IndexTemplate) -> Result<IndexTemplate> {
        template.validate()?;
        let template_id = template.template_id.clone();
        document::create(&self.storage, &template_id, template).await
    }

    /// Replaces an index template (or stores it, if new). Indexes created from it before keep
    /// their configs.
    pub async fn update_template(&self, template: IndexTemplate) -> Result<IndexTemplate> {
        template.validate()?;
        let path = paths::template_document(&template.template_id);
        let payload = document::to_payload(&template.template_id, &template)?;
        self.storage
            .put(&path, payload.into(), PutMode::Overwrite)
            .await?;
        Ok(template)
    }

    /// Reads one index template.
    pub async fn template(&self, template_id: &str) -> Result<IndexTemplate> {
        match document::read(&self.storage, template_id).await? {
            Some((template, _)) => Ok(template),
            None => Err(Error::TemplateNotFound(template_id.to_string())),
        }
    }

    /// Every index template, sorted by id.
    pub async fn templates(&self) -> Result<Vec<IndexTemplate>> {
        document::list(&self.storage).await
    }

    /// Deletes an index template; the indexes created from it stay.
    pub async fn delete_template(&self, template_id: &str) -> Result<()> {
        document::delete::<IndexTemplate>(&self.storage, template_id).await
    }

    /// An index's document; if the index does not exist and a template matches its id, the
    /// index is created from the template first (a concurrent creation is as good).
    pub async fn index_metadata_or_create(&self, index_id: &str) -> Result<IndexMetadata> {
        // No index can have an invalid id: nothing to read, and no template may create it.
        validate_index_id(index_id)?;
        match self.index_metadata(index_id).await {
            Err(Error::IndexNotFound(_)) => {}
            found => return found,
        }
        let templates = self.templates().await?;
        let Some(template) = template_for(&templates, index_id) else {
            return Err(Error::IndexNotFound(index_id.to_string()));
        };
        let config = template.index_config(index_id)?;
        match self.create_index(config).await {
            Err(Error::IndexAlreadyExists(_)) => self.index_metadata(index_id).await,
            created => created,
        }
    }

    /// Creates an index. Fails with [`Error::IndexAlreadyExists`] if it exists.
    pub async fn create_index(&self, index_config: IndexConfig) -> Result<IndexMetadata> {
        index_config.validate()?;
        // The field mappings: an index whose records could never be mapped is refused here.
        hydrant_index::doc_mapper::DocMapper::new(&index_config)?;
        let index_id = index_config.index_id.clone();
        let commit_id = new_commit_id();
        let metadata = IndexMetadata {
            format_version: METASTORE_FORMAT_VERSION,
            index_config,
            create_timestamp: self.clock.now_secs(),
            generation: 0,
            splits: BTreeMap::new(),
            checkpoint: SourceCheckpoint::default(),
            recent_commits: vec![commit_id.clone()],
        };
        document::create(&self.storage, &index_id, metadata).await
    }

    /// Reads an index's document.
    pub async fn index_metadata(&self, index_id: &str) -> Result<IndexMetadata> {
        Ok(self.index_metadata_versioned(index_id).await?.0)
    }

    /// Reads an index's document with the storage version it was read at.
    pub async fn index_metadata_versioned(
        &self,
        index_id: &str,
    ) -> Result<(IndexMetadata, ObjectVersion)> {
        document::read(&self.storage, index_id)
            .await?
            .ok_or_else(|| Error::IndexNotFound(index_id.to_string()))
    }

    /// Reads an index's document unless it still has `version`; `None` means unchanged.
    /// Caches revalidate with this: one conditional GET, no body when nothing changed.
    pub async fn index_metadata_if_modified(
        &self,
        index_id: &str,
        version: &ObjectVersion,
    ) -> Result<Option<(IndexMetadata, ObjectVersion)>> {
        document::read_if_modified(&self.storage, index_id, version).await
    }

    /// The id of every index, sorted: one listing, no document read.
    pub async fn list_index_ids(&self) -> Result<Vec<String>> {
        document::list_ids::<IndexMetadata>(&self.storage).await
    }

    /// Every index, sorted by id.
    pub async fn list_indexes(&self) -> Result<Vec<IndexMetadata>> {
        document::list(&self.storage).await
    }

    /// Deletes an index's document. Split files are left to the caller.
    pub async fn delete_index(&self, index_id: &str) -> Result<()> {
        document::delete::<IndexMetadata>(&self.storage, index_id).await
    }

    /// Deletes an index and every file under `indexes/{index_id}/` (splits, rejected
    /// records, objects kept whole, set-aside messages), the document first so that no reader
    /// or writer finds the index while its files go. Returns the files deleted, as
    /// [`Metastore::index_files`] lists them. Safe to run again after a crash: the files of an
    /// index whose document is gone are still deleted.
    pub async fn delete_index_and_files(&self, index_id: &str) -> Result<Vec<ObjectMeta>> {
        let files = self.index_files(index_id).await?;
        let document = paths::index_document(index_id);
        if files.first().is_some_and(|file| file.path == document) {
            self.delete_index(index_id).await?;
        }
        for file in files.iter().filter(|file| file.path != document) {
            self.storage.delete(&file.path).await?;
        }
        Ok(files)
    }

    /// Every file of an index: its document (first, if it still exists), then everything
    /// under `indexes/{index_id}/`.
    pub async fn index_files(&self, index_id: &str) -> Result<Vec<ObjectMeta>> {
        let mut files = match self.storage.head(&paths::index_document(index_id)).await {
            Ok(document) => vec![document],
            Err(error) if error.is_not_found() => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        files.extend(self.storage.list(&paths::index_prefix(index_id)).await?);
        if files.is_empty() {
            return Err(Error::IndexNotFound(index_id.to_string()));
        }
        Ok(files)
    }

    /// Empties an index, keeping its config: every split is marked for deletion (garbage
    /// collection deletes the files once the grace period has passed, so searches in flight
    /// finish) and the checkpoint is forgotten, so the same staging objects may be indexed
    /// again. Returns the splits it marked.
    pub async fn clear_index(&self, index_id: &str) -> Result<Vec<String>> {
        let now = self.clock.now_secs();
        let (marked, _) = self
            .commit(index_id, |metadata| {
                let mut marked = Vec::new();
                for split in metadata.splits.values_mut() {
                    if split.state != SplitState::MarkedForDeletion {
                        split.state = SplitState::MarkedForDeletion;
                        split.update_timestamp = now;
                        marked.push(split.split_id.clone());
                    }
                }
                metadata.checkpoint = SourceCheckpoint::default();
                Ok(marked)
            })
            .await?;
        Ok(marked)
    }

    /// Registers splits as staged, before their upload, so that an upload that is never
    /// published can be found and collected.
    pub async fn stage_splits(&self, index_id: &str, splits: Vec<SplitMetadata>) -> Result<()> {
        let now = self.clock.now_secs();
        self.commit(index_id, |metadata| {
            for split in &splits {
                if metadata.splits.contains_key(&split.split_id) {
                    return Err(conflict(
                        index_id,
                        format!("split {} already exists", split.split_id),
                    ));
                }
            }
            for split in &splits {
                let mut split = split.clone();
                split.state = SplitState::Staged;
                split.create_timestamp = now;
                split.update_timestamp = now;
                split.publish_timestamp = None;
                metadata.splits.insert(split.split_id.clone(), split);
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Publishes staged splits, marks replaced splits for deletion and advances the
    /// checkpoint, in one atomic commit.
    ///
    /// Fails with [`Error::CheckpointConflict`], changing nothing, if any object of the delta
    /// is already in the checkpoint with the same etag: its records are already searchable.
    pub async fn publish_splits(
        &self,
        index_id: &str,
        request: PublishRequest,
    ) -> Result<IndexMetadata> {
        let now = self.clock.now_secs();
        let (_, metadata) = self
            .commit(index_id, |metadata| {
                check_publishable(metadata, index_id, &request)?;
                // check_publishable found every one of these splits.
                for split_id in &request.staged_split_ids {
                    if let Some(split) = metadata.splits.get_mut(split_id) {
                        split.state = SplitState::Published;
                        split.update_timestamp = now;
                        split.publish_timestamp = Some(now);
                    }
                }
                for split_id in &request.replaced_split_ids {
                    if let Some(split) = metadata.splits.get_mut(split_id) {
                        split.state = SplitState::MarkedForDeletion;
                        split.update_timestamp = now;
                    }
                }
                if let Some(cutoff) = request.prune_checkpoint_before {
                    metadata
                        .checkpoint
                        .objects
                        .retain(|_, entry| entry.indexed_at >= cutoff);
                }
                for (object, split_id) in &request.checkpoint_delta {
                    metadata.checkpoint.objects.insert(
                        object.source_key.clone(),
                        CheckpointEntry {
                            etag: object.etag.clone(),
                            split_id: split_id.clone(),
                            indexed_at: now,
                        },
                    );
                }
                Ok(())
            })
            .await?;
        Ok(metadata)
    }

    /// Marks splits for deletion (staged or published). Missing or already marked splits are
    /// skipped, so the call can be repeated.
    pub async fn mark_splits_for_deletion(
        &self,
        index_id: &str,
        split_ids: &[String],
    ) -> Result<()> {
        let now = self.clock.now_secs();
        self.commit(index_id, |metadata| {
            for split_id in split_ids {
                if let Some(split) = metadata.splits.get_mut(split_id)
                    && split.state != SplitState::MarkedForDeletion
                {
                    split.state = SplitState::MarkedForDeletion;
                    split.update_timestamp = now;
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Marks splits for deletion that are still staged, and only those: how a writer gives up
    /// uploads it will not publish. A split that is published already (by this writer's own
    /// commit, whatever error it heard) is left alone. Returns the splits it marked.
    pub async fn abandon_staged_splits(
        &self,
        index_id: &str,
        split_ids: &[String],
    ) -> Result<Vec<String>> {
        let now = self.clock.now_secs();
        let (abandoned, _) = self
            .commit(index_id, |metadata| {
                let mut abandoned = Vec::new();
                for split_id in split_ids {
                    if let Some(split) = metadata.splits.get_mut(split_id)
                        && split.state == SplitState::Staged
                    {
                        split.state = SplitState::MarkedForDeletion;
                        split.update_timestamp = now;
                        abandoned.push(split_id.clone());
                    }
                }
                Ok(abandoned)
            })
            .await?;
        Ok(abandoned)
    }

    /// Removes splits from the metastore. Only splits marked for deletion can be removed (their
    /// files must be deleted first); missing ones are skipped.
    pub async fn delete_splits(&self, index_id: &str, split_ids: &[String]) -> Result<()> {
        self.commit(index_id, |metadata| {
            for split_id in split_ids {
                match metadata.splits.get(split_id) {
                    None => {}
                    Some(split) if split.state == SplitState::MarkedForDeletion => {
                        metadata.splits.remove(split_id);
                    }
                    Some(split) => {
                        let state = split.state;
                        let reason = format!(
                            "split {split_id} is {state:?}; only splits marked for deletion can \
                             be deleted"
                        );
                        return Err(conflict(index_id, reason));
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Applies `mutation` to the latest document and writes it back with compare-and-swap,
    /// re-applying it to a fresh read whenever another writer won the race.
    ///
    /// Each attempt carries its own commit id. After an error or a 412 that followed a sent
    /// write, the next read first looks for those ids: a document that lists one is our own
    /// write, so the commit returns that attempt's outcome instead of applying the mutation a
    /// second time (which would see its own change as a conflict). An error after which the
    /// document cannot be read leaves the outcome unknown and is returned as it is: callers
    /// must then treat the change as possibly applied.
    pub async fn commit<T>(
        &self,
        index_id: &str,
        mut mutation: impl FnMut(&mut IndexMetadata) -> Result<T>,
    ) -> Result<(T, IndexMetadata)> {
        let path = paths::index_document(index_id);
        // Attempts whose write may have been applied: (commit id, outcome).
        let mut unsettled: Vec<(String, T)> = Vec::new();
        let mut last_error: Option<Error> = None;
        for attempt in 0..MAX_COMMIT_ATTEMPTS {
            let (mut metadata, version) = match self.index_metadata_versioned(index_id).await {
                Ok(read) => read,
                // The outcome of the previous write is unknown: report that write's error.
                Err(read_error) => return Err(last_error.unwrap_or(read_error)),
            };
            if let Some(position) = unsettled
                .iter()
                .position(|(commit_id, _)| metadata.recent_commits.contains(commit_id))
            {
                debug!(index_id, attempt, "an ambiguous metastore write was ours");
                let (_, outcome) = unsettled.swap_remove(position);
                return Ok((outcome, metadata));
            }
            if let Some(error) = last_error.take()
                && !error.is_precondition_failed()
            {
                // Not applied (the read shows no trace of it): the write failed for real.
                return Err(error);
            }
            let outcome = mutation(&mut metadata)?;
            let commit_id = new_commit_id();
            metadata.generation += 1;
            metadata.recent_commits.push(commit_id.clone());
            let excess = metadata.recent_commits.len().saturating_sub(RECENT_COMMITS);
            metadata.recent_commits.drain(..excess);
            let payload = document::to_payload(index_id, &metadata)?;
            match self
                .storage
                .put(&path, payload.into(), PutMode::Update(version))
                .await
            {
                Ok(_) => return Ok((outcome, metadata)),
                Err(error) if error.is_not_found() => {
                    return Err(Error::IndexNotFound(index_id.to_string()));
                }
                Err(error) => {
                    if error.is_precondition_failed() {
                        debug!(
                            index_id,
                            attempt, "metastore commit lost a race (or retried its own write)"
                        );
                        tokio::time::sleep(backoff(attempt)).await;
                    } else {
                        // The write may still have been applied: the next attempt checks.
                        debug!(index_id, attempt, %error, "metastore write failed");
                    }
                    unsettled.push((commit_id, outcome));
                    last_error = Some(Error::from(error));
                }
            }
        }
        Err(Error::Contention {
            index_id: index_id.to_string(),
            attempts: MAX_COMMIT_ATTEMPTS,
        })
    }
}

impl Document for IndexMetadata {
    const PREFIX: &'static str = paths::METASTORE_PREFIX;

    fn path(id: &str) -> String {
        paths::index_document(id)
    }

    fn not_found(id: &str) -> Error {
        Error::IndexNotFound(id.to_string())
    }

    fn already_exists(id: &str) -> Error {
        Error::IndexAlreadyExists(id.to_string())
    }

    fn is_created_as(&self, stored: &Self) -> bool {
        // A new index document holds one fresh commit id; later commits keep it for a while.
        self.recent_commits
            .iter()
            .any(|commit_id| stored.recent_commits.contains(commit_id))
    }

    fn parse(location: &str, bytes: &[u8]) -> Result<Self> {
        parse_index_document(location, bytes)
    }
}

/// A fresh commit id: unique across processes, no coordination needed.
fn new_commit_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Why `request` cannot be published on `metadata`, if it cannot: an object of its delta is
/// already indexed (a [`Error::CheckpointConflict`]), its checkpoint points at a split it does
/// not publish, a split to publish is not staged or a split it replaces is not published.
fn check_publishable(
    metadata: &IndexMetadata,
    index_id: &str,
    request: &PublishRequest,
) -> Result<()> {
    let already_indexed: Vec<String> = request
        .checkpoint_delta
        .iter()
        .filter(|(object, _)| {
            metadata
                .checkpoint
                .contains(&object.source_key, &object.etag)
        })
        .map(|(object, _)| object.source_key.clone())
        .collect();
    if !already_indexed.is_empty() {
        return Err(Error::CheckpointConflict {
            index_id: index_id.to_string(),
            source_keys: already_indexed,
        });
    }
    let staged: BTreeSet<&String> = request.staged_split_ids.iter().collect();
    let delta_splits = request
        .checkpoint_delta
        .iter()
        .filter_map(|(_, split_id)| split_id.as_ref());
    for split_id in delta_splits {
        if !staged.contains(split_id) {
            let reason = format!(
                "checkpoint entry points at split {split_id}, which this commit does not publish"
            );
            return Err(conflict(index_id, reason));
        }
    }
    for split_id in &request.staged_split_ids {
        match metadata.splits.get(split_id) {
            Some(split) if split.state == SplitState::Staged => {}
            Some(split) => {
                let reason = format!("split {split_id} is {:?}, not staged", split.state);
                return Err(conflict(index_id, reason));
            }
            None => {
                let reason = format!("split {split_id} is not staged");
                return Err(conflict(index_id, reason));
            }
        }
    }
    for split_id in &request.replaced_split_ids {
        let published = metadata
            .splits
            .get(split_id)
            .is_some_and(|split| split.state == SplitState::Published);
        if !published {
            let reason = format!("replaced split {split_id} is not published");
            return Err(conflict(index_id, reason));
        }
    }
    Ok(())
}

fn conflict(index_id: &str, reason: String) -> Error {
    Error::Conflict {
        index_id: index_id.to_string(),
        reason,
    }
}

/// Exponential backoff with jitter, so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let base_millis = 5u64 << attempt.min(7);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::from(elapsed.subsec_nanos()))
        .unwrap_or(0)
        % base_millis.max(1);
    Duration::from_millis(base_millis + jitter)
}

/// An index document read back: its format version checked first, so that a document of
/// another version says so rather than failing on a field.
pub(crate) fn parse_index_document(location: &str, bytes: &[u8]) -> Result<IndexMetadata> {
    #[derive(Deserialize)]
    struct VersionProbe {
        format_version: u32,
    }
    let probe: VersionProbe = serde_json::from_slice(bytes)
        .map_err(|error| Error::corrupt(location, format!("not a metastore document: {error}")))?;
    if probe.format_version != METASTORE_FORMAT_VERSION {
        return Err(Error::corrupt(
            location,
            format!(
                "metastore format version {} is not supported (this build reads {})",
                probe.format_version, METASTORE_FORMAT_VERSION
            ),
        ));
    }
    serde_json::from_slice(bytes).map_err(|error| Error::corrupt(location, error))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use hydrant_storage::testing::MemoryStorage;

    fn config(index_id: &str) -> IndexConfig {
        IndexConfig::from_yaml(&format!(
            "index_id: {index_id}\ndoc_mapping:\n  field_mappings:\n    - {{name: ts, type: datetime, fast: true}}\n  timestamp_field: ts\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn templates_create_the_indexes_they_match_on_first_sight() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        let template = IndexTemplate::from_yaml(
            "template_id: tenants
index_id_patterns: [logs-*]
priority: 1
doc_mapping: {mode: dynamic}
",
        )
        .unwrap();
        metastore.create_template(template.clone()).await.unwrap();
        // The same create again is recognised as ours (a retry whose first response was
        // lost); another template under the same id is refused.
        metastore.create_template(template.clone()).await.unwrap();
        let mut other = template.clone();
        other.priority = 7;
        assert!(matches!(
            metastore.create_template(other).await,
            Err(Error::TemplateAlreadyExists(_))
        ));
        assert_eq!(
            metastore.templates().await.unwrap(),
            std::slice::from_ref(&template)
        );

        let created = metastore
            .index_metadata_or_create("logs-acme")
            .await
            .unwrap();
        assert_eq!(created.index_id(), "logs-acme");
        // Once created, the index is read, not created again.
        let again = metastore
            .index_metadata_or_create("logs-acme")
            .await
            .unwrap();
        assert_eq!(again.create_timestamp, created.create_timestamp);
        assert!(matches!(
            metastore.index_metadata_or_create("metrics-acme").await,
            Err(Error::IndexNotFound(_))
        ));

        let mut updated = template;
        updated.index_id_patterns = vec!["metrics-*".to_string()];
        metastore.update_template(updated).await.unwrap();
        metastore
            .index_metadata_or_create("metrics-acme")
            .await
            .unwrap();
        metastore.delete_template("tenants").await.unwrap();
        assert!(matches!(
            metastore.delete_template("tenants").await,
            Err(Error::TemplateNotFound(_))
        ));
        // The indexes a template created stay; its id is not an index.
        assert_eq!(
            metastore.list_index_ids().await.unwrap(),
            ["logs-acme", "metrics-acme"]
        );
    }

    fn split(split_id: &str, start: i64, end: i64) -> SplitMetadata {
        SplitMetadata {
            split_id: split_id.to_string(),
            state: SplitState::Staged,
            num_docs: 10,
            uncompressed_docs_size_bytes: 1000,
            time_range: Some(TimeRange {
                start_nanos: start * 1_000_000_000,
                end_nanos: end * 1_000_000_000,
            }),
            split_size_bytes: 100,
            footer_offsets: 50..100,
            doc_mapping_uid: "uid".to_string(),
            num_merge_ops: 0,
            create_timestamp: 0,
            update_timestamp: 0,
            publish_timestamp: None,
            tags: None,
            partition_id: 0,
        }
    }

    fn object(key: &str, etag: &str) -> SourceObject {
        SourceObject {
            source_key: key.to_string(),
            etag: etag.to_string(),
        }
    }

    #[tokio::test]
    async fn create_stage_publish_and_list() {
        let clock = Arc::new(ManualClock::new(1_000));
        let metastore = Metastore::with_clock(Arc::new(MemoryStorage::default()), clock.clone());
        metastore.create_index(config("logs")).await.unwrap();
        assert!(matches!(
            metastore.create_index(config("logs")).await,
            Err(Error::IndexAlreadyExists(_))
        ));
        metastore
            .stage_splits("logs", vec![split("a", 10, 20), split("b", 30, 40)])
            .await
            .unwrap();
        clock.advance_secs(5);
        let metadata = metastore
            .publish_splits(
                "logs",
                PublishRequest {
                    staged_split_ids: vec!["a".into()],
                    checkpoint_delta: vec![(object("bucket/k1", "e1"), Some("a".into()))],
                    ..PublishRequest::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(metadata.splits["a"].state, SplitState::Published);
        assert_eq!(metadata.splits["a"].publish_timestamp, Some(1_005));
        assert_eq!(metadata.splits["b"].state, SplitState::Staged);
        assert!(metadata.checkpoint.contains("bucket/k1", "e1"));
        assert!(!metadata.checkpoint.contains("bucket/k1", "other-etag"));
        let in_range = SplitFilter::published_in(Some(15), Some(16));
        assert_eq!(metadata.splits_matching(&in_range).count(), 1);
        let out_of_range = SplitFilter::published_in(Some(21), None);
        assert_eq!(metadata.splits_matching(&out_of_range).count(), 0);
        assert_eq!(metastore.list_indexes().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn publishing_an_indexed_object_again_changes_nothing() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        metastore
            .stage_splits("logs", vec![split("a", 1, 2), split("b", 1, 2)])
            .await
            .unwrap();
        let first = PublishRequest {
            staged_split_ids: vec!["a".into()],
            checkpoint_delta: vec![(object("bucket/k1", "e1"), Some("a".into()))],
            ..PublishRequest::default()
        };
        metastore.publish_splits("logs", first).await.unwrap();
        let before = metastore.index_metadata("logs").await.unwrap();
        let duplicate = PublishRequest {
            staged_split_ids: vec!["b".into()],
            checkpoint_delta: vec![(object("bucket/k1", "e1"), Some("b".into()))],
            ..PublishRequest::default()
        };
        let error = metastore
            .publish_splits("logs", duplicate)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::CheckpointConflict { .. }), "{error}");
        assert_eq!(metastore.index_metadata("logs").await.unwrap(), before);
    }

    #[tokio::test]
    async fn the_checkpoint_is_pruned_by_age_only() {
        let clock = Arc::new(ManualClock::new(1_000));
        let metastore = Metastore::with_clock(Arc::new(MemoryStorage::default()), clock.clone());
        metastore.create_index(config("logs")).await.unwrap();
        for (number, key) in ["old", "recent"].iter().enumerate() {
            let split_id = format!("s{number}");
            metastore
                .stage_splits("logs", vec![split(&split_id, 1, 2)])
                .await
                .unwrap();
            metastore
                .publish_splits(
                    "logs",
                    PublishRequest {
                        staged_split_ids: vec![split_id.clone()],
                        checkpoint_delta: vec![(object(key, "e"), Some(split_id))],
                        ..PublishRequest::default()
                    },
                )
                .await
                .unwrap();
            clock.advance_secs(100);
        }
        // Entries indexed before 1_050 go; later ones stay, whatever their number.
        metastore
            .stage_splits("logs", vec![split("s2", 1, 2)])
            .await
            .unwrap();
        let metadata = metastore
            .publish_splits(
                "logs",
                PublishRequest {
                    staged_split_ids: vec!["s2".into()],
                    checkpoint_delta: vec![(object("new", "e"), Some("s2".into()))],
                    prune_checkpoint_before: Some(1_050),
                    ..PublishRequest::default()
                },
            )
            .await
            .unwrap();
        let keys: Vec<&String> = metadata.checkpoint.objects.keys().collect();
        assert_eq!(keys, ["new", "recent"]);
    }

    #[tokio::test]
    async fn merge_publish_marks_replaced_splits() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        metastore
            .stage_splits("logs", vec![split("a", 1, 2), split("b", 3, 4)])
            .await
            .unwrap();
        metastore
            .publish_splits(
                "logs",
                PublishRequest {
                    staged_split_ids: vec!["a".into(), "b".into()],
                    ..PublishRequest::default()
                },
            )
            .await
            .unwrap();
        metastore
            .stage_splits("logs", vec![split("ab", 1, 4)])
            .await
            .unwrap();
        let metadata = metastore
            .publish_splits(
                "logs",
                PublishRequest {
                    staged_split_ids: vec!["ab".into()],
                    replaced_split_ids: vec!["a".into(), "b".into()],
                    ..PublishRequest::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(metadata.splits["a"].state, SplitState::MarkedForDeletion);
        assert_eq!(metadata.splits["ab"].state, SplitState::Published);
        // A split cannot be replaced twice.
        metastore
            .stage_splits("logs", vec![split("again", 1, 4)])
            .await
            .unwrap();
        let error = metastore
            .publish_splits(
                "logs",
                PublishRequest {
                    staged_split_ids: vec!["again".into()],
                    replaced_split_ids: vec!["a".into()],
                    ..PublishRequest::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Conflict { .. }));
        metastore
            .delete_splits("logs", &["a".into(), "b".into()])
            .await
            .unwrap();
        assert!(
            metastore
                .delete_splits("logs", &["ab".into()])
                .await
                .is_err()
        );
        let metadata = metastore.index_metadata("logs").await.unwrap();
        assert_eq!(metadata.splits.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_commits_all_land() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        let mut tasks = Vec::new();
        for task_id in 0..8 {
            let metastore = metastore.clone();
            tasks.push(tokio::spawn(async move {
                for split_number in 0..5 {
                    let split_id = format!("s{task_id}-{split_number}");
                    metastore
                        .stage_splits("logs", vec![split(&split_id, 1, 2)])
                        .await
                        .unwrap();
                    metastore
                        .publish_splits(
                            "logs",
                            PublishRequest {
                                staged_split_ids: vec![split_id.clone()],
                                checkpoint_delta: vec![(
                                    object(&split_id, "etag"),
                                    Some(split_id.clone()),
                                )],
                                ..PublishRequest::default()
                            },
                        )
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let metadata = metastore.index_metadata("logs").await.unwrap();
        assert_eq!(metadata.published_splits().count(), 40);
        assert_eq!(metadata.checkpoint.objects.len(), 40);
        assert_eq!(metadata.generation, 80);
    }

    /// A publish whose write is applied while its caller hears an error (or the 412 of its own
    /// retry) is recognised as applied; one that never reached the store is an error.
    #[tokio::test]
    async fn ambiguous_writes_are_recognised_as_ours() {
        use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, Operation};
        for fault in [Fault::Retried, Fault::ResponseLost, Fault::Unavailable] {
            let storage = Arc::new(FaultyStorage::new(Arc::new(MemoryStorage::default())));
            let metastore = Metastore::new(storage.clone());
            // Even the create.
            storage.inject(FaultRule::new(Operation::Put, fault));
            let created = metastore.create_index(config("logs")).await;
            if fault == Fault::Unavailable {
                assert!(created.is_err());
                metastore.create_index(config("logs")).await.unwrap();
            } else {
                created.unwrap_or_else(|error| panic!("{fault:?}: {error}"));
            }
            metastore
                .stage_splits("logs", vec![split("a", 1, 2)])
                .await
                .unwrap();
            storage.inject(FaultRule::new(Operation::Put, fault));
            let published = metastore
                .publish_splits(
                    "logs",
                    PublishRequest {
                        staged_split_ids: vec!["a".into()],
                        checkpoint_delta: vec![(object("bucket/k1", "e1"), Some("a".into()))],
                        ..PublishRequest::default()
                    },
                )
                .await;
            let metadata = metastore.index_metadata("logs").await.unwrap();
            if fault == Fault::Unavailable {
                assert!(published.is_err());
                assert_eq!(metadata.splits["a"].state, SplitState::Staged);
                assert!(metadata.checkpoint.objects.is_empty());
            } else {
                let returned = published.unwrap_or_else(|error| panic!("{fault:?}: {error}"));
                assert_eq!(returned.splits["a"].state, SplitState::Published);
                assert_eq!(metadata.splits["a"].state, SplitState::Published);
                assert!(metadata.checkpoint.contains("bucket/k1", "e1"));
            }
        }
    }

    /// Someone else's write is still a conflict, and an unreadable document after a failed
    /// write leaves the error as it was.
    #[tokio::test]
    async fn other_writers_and_unknown_outcomes_stay_errors() {
        use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, Operation};
        let storage = Arc::new(FaultyStorage::new(Arc::new(MemoryStorage::default())));
        let metastore = Metastore::new(storage.clone());
        metastore.create_index(config("logs")).await.unwrap();
        metastore
            .stage_splits("logs", vec![split("a", 1, 2), split("b", 1, 2)])
            .await
            .unwrap();
        let request = |split_id: &str| PublishRequest {
            staged_split_ids: vec![split_id.into()],
            checkpoint_delta: vec![(object("bucket/k1", "e1"), Some(split_id.into()))],
            ..PublishRequest::default()
        };
        metastore
            .publish_splits("logs", request("a"))
            .await
            .unwrap();
        let error = metastore
            .publish_splits("logs", request("b"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::CheckpointConflict { .. }), "{error}");

        storage.inject(FaultRule::new(Operation::Put, Fault::ResponseLost));
        // The commit's own read goes through; the re-read after the lost response does not.
        storage.inject(FaultRule::new(Operation::Read, Fault::Unavailable).skip(1));
        let error = metastore
            .mark_splits_for_deletion("logs", &["b".into()])
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("after the request was sent"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn unknown_format_version_is_refused() {
        let storage: SharedStorage = Arc::new(MemoryStorage::default());
        let metastore = Metastore::new(storage.clone());
        metastore.create_index(config("logs")).await.unwrap();
        let mut document: serde_json::Value =
            serde_json::from_slice(&storage.get("metastore/logs.json").await.unwrap().bytes)
                .unwrap();
        document["format_version"] = serde_json::json!(99);
        storage
            .put(
                "metastore/logs.json",
                serde_json::to_vec(&document).unwrap().into(),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
        let error = metastore
            .index_metadata("logs")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("version 99"), "{error}");
        assert!(matches!(
            metastore.index_metadata("nope").await,
            Err(Error::IndexNotFound(_))
        ));
    }
}
