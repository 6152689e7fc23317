//! The metastore: per index, an index document (its config), one document per shard (the
//! splits it published, references to its checkpoint segments) and the segments themselves,
//! on the index storage, each shard changed only by compare-and-swap commits.
//!
//! ```text
//! metastore/{index_id}.json                       IndexDocument: config and uid, written once
//! indexes/{index_id}/shards/{shard}.json          ShardDocument: splits, segment references
//! indexes/{index_id}/checkpoints/{shard}/{id}.json  CheckpointSegment: immutable
//! indexes/{index_id}/splits/{id}.split            split bundles
//! ```
//!
//! A shard is the unit of serialization: its FIFO message group gives it one indexer at a
//! time, so its document is written by that indexer and, now and then, by maintenance. Shards
//! never race each other, which is why an index of K shards publishes K times as fast as one
//! (`loadtest metastore` measures it), and a publish rewrites one shard's split list, not the
//! index's history. Readers list the shard documents (one request, which also gives their
//! versions) and read them in parallel; a searcher revalidates with that listing and a
//! conditional GET of the index document, re-reading only the shards that changed.
//!
//! Every change is a *commit* on one shard document: read it with its version, apply a
//! mutation, write it back with `PutMode::Update(version)` (or `Create` for a shard's first).
//! If another writer committed in between, the put fails with a precondition error and the
//! mutation is re-applied to the fresh document. Publishing a split, marking the splits a merge
//! replaced, and adding the checkpoint segment of the objects it holds are one mutation, so they
//! happen together or not at all; that is what makes ingestion exactly-once.
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
//! attempt of a commit can ever apply, so recognising one is enough. Writes to fresh paths
//! (checkpoint segments, split files) recognise themselves by what is there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tracing::{debug, warn};

use crate::checkpoint::{
    CheckpointEntry, CheckpointSegment, INLINE_CHECKPOINT_ENTRIES, SegmentRef, SourceCheckpoint,
    SourceObject, compaction_candidates, object_key,
};
use crate::clock::{SharedClock, SystemClock};
use crate::document;
use crate::error::{Error, Result};
use crate::index_document::{
    IndexDocument, IndexInfo, IndexMetadata, IndexVersion, LegacyIndexDocument,
    METASTORE_FORMAT_VERSION, ShardDocument, StoredIndex,
};
use crate::paths;
use crate::shard::{ShardId, candidate_shards};
use crate::split::{SplitMetadata, SplitState};
use hydrant_index::config::{IndexConfig, validate_index_id};
use hydrant_index::template::{IndexTemplate, template_for};
use hydrant_index::update::{IndexUpdate, check_update};
use hydrant_storage::{ObjectMeta, ObjectVersion, PutMode, SharedStorage, recognise};

/// A commit that keeps losing races gives up after this many attempts.
const MAX_COMMIT_ATTEMPTS: u32 = 32;
/// Commit ids a shard document remembers. A committer re-reads right after an ambiguous write,
/// so only the writers that slipped in between could push its id out: a shard has one indexer
/// and, now and then, maintenance, so far fewer than this.
pub const RECENT_COMMITS: usize = 8;
/// Shard documents and checkpoint segments read at once.
const READ_CONCURRENCY: usize = 16;
/// Checkpoint entries a process keeps cached (segments are immutable, so a warm indexer reads
/// each once); past it the cache starts over.
const SEGMENT_CACHE_OBJECTS: u64 = 500_000;

/// A split uploaded without being staged is published only this long after its upload began
/// (`SplitMetadata::create_timestamp`); garbage collection leaves unknown split files alone
/// for longer than that (`GcSettings::orphan_min_age`, at least this), so it never deletes
/// the file of a split that can still be published. Twice Lambda's longest run.
pub const MAX_UNPUBLISHED_SPLIT_AGE_SECS: i64 = 30 * 60;

/// What a publish commit does, atomically.
#[derive(Clone, Debug, Default)]
pub struct PublishRequest {
    /// Staged splits that become published.
    pub staged_split_ids: Vec<String>,
    /// Splits uploaded without being staged, published by this commit: an indexer's, which
    /// then writes nothing to the metastore but this commit. An upload whose commit never
    /// comes is a file no document knows, which garbage collection deletes once it is older
    /// than [`MAX_UNPUBLISHED_SPLIT_AGE_SECS`] allows a publish to be; each split's
    /// `create_timestamp` says when its upload began.
    pub new_splits: Vec<SplitMetadata>,
    /// Published splits that become marked for deletion (the inputs of a merge).
    pub replaced_split_ids: Vec<String>,
    /// Objects whose records are in the published splits, with the split holding them
    /// (`None` for an object without a valid record).
    pub checkpoint_delta: Vec<(SourceObject, Option<String>)>,
    /// Checkpoint segments whose every entry was indexed before this time (Unix seconds) are
    /// dropped in the same commit, and compaction drops older entries of the others: the
    /// checkpoint is pruned by age, never reset.
    pub prune_checkpoint_before: Option<i64>,
}

/// Reads and commits metastore documents on a storage.
#[derive(Clone, Debug)]
pub struct Metastore {
    storage: SharedStorage,
    clock: SharedClock,
    /// Index uids by index id: an index document never changes once migrated, so a writer
    /// reads it once.
    uids: Arc<Mutex<HashMap<String, String>>>,
    segments: Arc<SegmentCache>,
    /// Commit attempts that lost a compare-and-swap race, for benchmarks and logs.
    lost_races: Arc<AtomicU64>,
}

/// Checkpoint segments read so far, by path.
#[derive(Debug, Default)]
struct SegmentCache {
    entries: Mutex<(HashMap<String, Arc<CheckpointSegment>>, u64)>,
}

impl SegmentCache {
    fn get(&self, path: &str) -> Option<Arc<CheckpointSegment>> {
        let entries = self.entries.lock().expect("segment cache lock poisoned");
        entries.0.get(path).cloned()
    }

    fn insert(&self, path: String, segment: Arc<CheckpointSegment>) {
        let mut entries = self.entries.lock().expect("segment cache lock poisoned");
        let (segments, objects) = &mut *entries;
        if *objects + segment.objects.len() as u64 > SEGMENT_CACHE_OBJECTS {
            segments.clear();
            *objects = 0;
        }
        *objects += segment.objects.len() as u64;
        segments.insert(path, segment);
    }
}

/// A shard document as read: the document, its version, its size in bytes.
type ReadShard = (ShardDocument, ObjectVersion, u64);

impl Metastore {
    /// A metastore on `storage` (the index storage), using the system clock.
    pub fn new(storage: SharedStorage) -> Self {
        Metastore::with_clock(storage, Arc::new(SystemClock))
    }

    /// A metastore whose timestamps come from `clock`.
    pub fn with_clock(storage: SharedStorage, clock: SharedClock) -> Self {
        Metastore {
            storage,
            clock,
            uids: Arc::default(),
            segments: Arc::default(),
            lost_races: Arc::default(),
        }
    }

    /// The storage holding this metastore and its splits.
    pub fn storage(&self) -> &SharedStorage {
        &self.storage
    }

    /// The clock timestamps come from.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Commit attempts of this metastore (and its clones) that lost a compare-and-swap race
    /// and were retried.
    pub fn lost_races(&self) -> u64 {
        self.lost_races.load(Ordering::Relaxed)
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

    /// What an index is (config, uid); if the index does not exist and a template matches its
    /// id, the index is created from the template first (a concurrent creation is as good).
    pub async fn index_info_or_create(&self, index_id: &str) -> Result<IndexInfo> {
        // No index can have an invalid id: nothing to read, and no template may create it.
        validate_index_id(index_id)?;
        match self.index_info(index_id).await {
            Err(Error::IndexNotFound(_)) => {}
            found => return found,
        }
        let templates = self.templates().await?;
        let Some(template) = template_for(&templates, index_id) else {
            return Err(Error::IndexNotFound(index_id.to_string()));
        };
        let config = template.index_config(index_id)?;
        match self.create_index(config).await {
            Err(Error::IndexAlreadyExists(_)) => self.index_info(index_id).await,
            created => created.map(|metadata| metadata.info()),
        }
    }

    /// An index's whole view, created from a template first if one matches and the index does
    /// not exist. See [`Metastore::index_info_or_create`].
    pub async fn index_metadata_or_create(&self, index_id: &str) -> Result<IndexMetadata> {
        self.index_info_or_create(index_id).await?;
        self.index_metadata(index_id).await
    }

    /// Creates an index. Fails with [`Error::IndexAlreadyExists`] if it exists.
    pub async fn create_index(&self, index_config: IndexConfig) -> Result<IndexMetadata> {
        index_config.validate()?;
        // The field mappings: an index whose records could never be mapped is refused here.
        hydrant_index::doc_mapper::DocMapper::new(&index_config)?;
        let index_id = index_config.index_id.clone();
        let stored = StoredIndex::Current(IndexDocument {
            format_version: METASTORE_FORMAT_VERSION,
            index_uid: uuid::Uuid::now_v7().simple().to_string(),
            index_config,
            create_timestamp: self.clock.now_secs(),
            previous_doc_mappings: BTreeMap::new(),
            update_timestamp: None,
        });
        let stored = document::create(&self.storage, &index_id, stored).await?;
        let info = stored.info();
        self.remember_uid(&index_id, &info.index_uid);
        Ok(IndexMetadata::assemble(info, []))
    }

    /// Replaces an index's config by `new_config` (PUT semantics: what it omits takes its
    /// default), if [`check_update`] allows the change; splits are not touched. A changed doc
    /// mapping is kept, by uid, among the index's previous mappings, with which searches read
    /// the splits built with it. Returns what changed and the index as updated (its splits
    /// view: no checkpoint segment is read).
    ///
    /// The index document is replaced by compare-and-swap, retried on a lost race; a write
    /// whose response was lost is recognised by the stored config being `new_config`.
    pub async fn update_index(
        &self,
        new_config: IndexConfig,
    ) -> Result<(IndexUpdate, IndexMetadata)> {
        new_config.validate()?;
        hydrant_index::doc_mapper::DocMapper::new(&new_config)?;
        let index_id = new_config.index_id.clone();
        // A format 1 document is migrated first: only format 2 keeps previous mappings.
        self.index_uid(&index_id).await?;
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let (stored, version) = self.read_index_document(&index_id).await?;
            let StoredIndex::Current(mut document) = stored else {
                // Migrated meanwhile by someone else's read of a stale cache: read again.
                self.forget_uid(&index_id);
                self.index_uid(&index_id).await?;
                continue;
            };
            let update = check_update(
                &document.index_config,
                &new_config,
                document.previous_doc_mappings.values(),
            )?;
            if update.is_empty() {
                return Ok((update, self.index_splits(&index_id).await?));
            }
            if update.doc_mapping_changed {
                let current_mapping = document.index_config.spec.doc_mapping.clone();
                let new_uid = new_config.spec.doc_mapping.uid();
                document
                    .previous_doc_mappings
                    .insert(current_mapping.uid(), current_mapping);
                // Back to a previous mapping: it is the current one again.
                document.previous_doc_mappings.remove(&new_uid);
            }
            document.index_config = new_config.clone();
            document.update_timestamp = Some(self.clock.now_secs());
            let stored = StoredIndex::Current(document);
            let payload = document::to_payload(&index_id, &stored)?;
            let path = paths::index_document(&index_id);
            match (self.storage)
                .put(&path, payload.into(), PutMode::Update(version))
                .await
            {
                Ok(_) => return Ok((update, self.index_splits(&index_id).await?)),
                Err(error) => {
                    // Applied with its response lost, or a lost race: the stored config tells.
                    let (stored, _) = self.read_index_document(&index_id).await?;
                    if stored.info().index_config == new_config {
                        return Ok((update, self.index_splits(&index_id).await?));
                    }
                    if !error.is_precondition_failed() {
                        return Err(error.into());
                    }
                    self.lost_races.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Err(Error::Contention {
            index_id,
            attempts: MAX_COMMIT_ATTEMPTS,
        })
    }

    /// What an index is, without its splits: one read of the index document. It also
    /// refreshes the uid later commits write with, so a writer that reads it at the start of
    /// each run never writes for an incarnation of the index deleted before the run.
    pub async fn index_info(&self, index_id: &str) -> Result<IndexInfo> {
        let stored = self.read_index_document(index_id).await?.0;
        if let StoredIndex::Current(document) = &stored {
            self.remember_uid(index_id, &document.index_uid);
        }
        Ok(stored.info())
    }

    /// An index's whole view: config, every shard's splits, and the checkpoint of every shard
    /// (which only operators and tests need: searchers read [`Metastore::index_splits`]).
    pub async fn index_metadata(&self, index_id: &str) -> Result<IndexMetadata> {
        let (stored, _) = self.read_index_document(index_id).await?;
        let (mut metadata, _) = self.assemble(index_id, stored).await?;
        if metadata.format_version == METASTORE_FORMAT_VERSION {
            let shards: Vec<(ShardId, Vec<SegmentRef>, BTreeMap<String, CheckpointEntry>)> =
                metadata
                    .shards
                    .values()
                    .map(|shard| {
                        let segments = shard.checkpoint_segments.clone();
                        (shard.shard, segments, shard.inline_checkpoint.clone())
                    })
                    .collect();
            for (shard, segments, inline) in shards {
                for segment in self.read_segments(index_id, shard, &segments).await? {
                    for (key, entry) in &segment.objects {
                        metadata
                            .checkpoint
                            .objects
                            .insert(key.clone(), entry.clone());
                    }
                }
                metadata.checkpoint.objects.extend(inline);
            }
        }
        Ok(metadata)
    }

    /// An index's splits view (config and every shard's splits, no checkpoint): what a
    /// searcher reads.
    pub async fn index_splits(&self, index_id: &str) -> Result<IndexMetadata> {
        Ok(self.index_splits_versioned(index_id).await?.0)
    }

    /// [`Metastore::index_splits`] of one shard: the index document and that shard's
    /// document, read without listing the shards (a listing is billed as a write).
    pub async fn shard_splits(&self, index_id: &str, shard: ShardId) -> Result<IndexMetadata> {
        let (stored, _) = self.read_index_document(index_id).await?;
        if let StoredIndex::Legacy(_) = stored {
            // Format 1: one document, which is shard 0.
            let (mut metadata, _) = self.assemble(index_id, stored).await?;
            metadata.checkpoint = SourceCheckpoint::default();
            return Ok(metadata);
        }
        let info = stored.info();
        let documents = self
            .read_shard(index_id, shard)
            .await?
            .filter(|(document, _, _)| document.index_uid == info.index_uid)
            .map(|(document, _, bytes)| (document, bytes));
        Ok(IndexMetadata::assemble(info, documents))
    }

    /// [`Metastore::index_splits`] with the versions it was read at.
    pub async fn index_splits_versioned(
        &self,
        index_id: &str,
    ) -> Result<(IndexMetadata, IndexVersion)> {
        // What a cold searcher reads first, so its requests go together: the index document,
        // the listing of its shard documents and shard 0's document (an index with data has
        // one). An index of one shard is then read in one round trip, others in two.
        let (index, listed, shard_zero) = futures::try_join!(
            self.read_index_document(index_id),
            self.list_shards(index_id),
            self.read_shard(index_id, 0),
        )?;
        let (stored, version) = index;
        let (mut metadata, shards) = self
            .assemble_listed(index_id, stored, listed, Some(shard_zero))
            .await?;
        metadata.checkpoint = SourceCheckpoint::default();
        Ok((
            metadata,
            IndexVersion {
                index: version,
                shards,
            },
        ))
    }

    /// The splits view again unless nothing changed since `version` (`None`): one conditional
    /// GET of the index document and one listing of its shards, then only the shard documents
    /// whose version changed.
    pub async fn index_splits_if_modified(
        &self,
        index_id: &str,
        cached: &IndexMetadata,
        version: &IndexVersion,
    ) -> Result<Option<(IndexMetadata, IndexVersion)>> {
        let fresh_index =
            document::read_if_modified::<StoredIndex>(&self.storage, index_id, &version.index)
                .await?;
        if let Some((stored, index_version)) = fresh_index {
            let (metadata, shards) = self.assemble(index_id, stored).await?;
            let version = IndexVersion {
                index: index_version,
                shards,
            };
            return Ok(Some((metadata, version)));
        }
        if cached.format_version != METASTORE_FORMAT_VERSION {
            return Ok(None);
        }
        let listed = self.list_shards(index_id).await?;
        if listed == version.shards {
            return Ok(None);
        }
        let mut metadata = cached.clone();
        let changed: Vec<ShardId> = listed
            .iter()
            .filter(|(shard, listed)| version.shards.get(shard) != Some(listed))
            .map(|(shard, _)| *shard)
            .collect();
        for shard in version.shards.keys() {
            if !listed.contains_key(shard) {
                metadata.remove_shard(*shard);
            }
        }
        let mut shards = version.shards.clone();
        shards.retain(|shard, _| listed.contains_key(shard));
        for (shard, read) in self.read_shards(index_id, &changed).await? {
            match read {
                Some((document, shard_version, bytes))
                    if document.index_uid == cached.index_uid =>
                {
                    metadata.add_shard(document, bytes);
                    shards.insert(shard, shard_version);
                }
                _ => {
                    metadata.remove_shard(shard);
                    shards.remove(&shard);
                }
            }
        }
        Ok(Some((
            metadata,
            IndexVersion {
                index: version.index.clone(),
                shards,
            },
        )))
    }

    /// The id of every index, sorted: one listing, no document read.
    pub async fn list_index_ids(&self) -> Result<Vec<String>> {
        document::list_ids::<StoredIndex>(&self.storage).await
    }

    /// Every index's splits view, sorted by id.
    pub async fn list_indexes(&self) -> Result<Vec<IndexMetadata>> {
        let mut indexes = Vec::new();
        for index_id in self.list_index_ids().await? {
            match self.index_splits(&index_id).await {
                Ok(metadata) => indexes.push(metadata),
                // Deleted between the listing and its read.
                Err(Error::IndexNotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(indexes)
    }

    /// Deletes an index's document. Split files, shard documents and checkpoint segments are
    /// left to the caller (see [`Metastore::delete_index_and_files`]).
    pub async fn delete_index(&self, index_id: &str) -> Result<()> {
        self.forget_uid(index_id);
        document::delete::<StoredIndex>(&self.storage, index_id).await
    }

    /// Deletes an index and every file under `indexes/{index_id}/` (shard documents,
    /// checkpoint segments, splits, rejected records, objects kept whole, set-aside messages),
    /// the document first so that no reader or writer finds the index while its files go.
    /// Returns the files deleted, as [`Metastore::index_files`] lists them. Safe to run again
    /// after a crash: the files of an index whose document is gone are still deleted.
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

    /// Empties an index, keeping its config: every split of every shard is marked for deletion
    /// (garbage collection deletes the files once the grace period has passed, so searches in
    /// flight finish) and the checkpoint is forgotten, so the same staging objects may be
    /// indexed again. Returns the splits it marked.
    pub async fn clear_index(&self, index_id: &str) -> Result<Vec<String>> {
        self.index_uid(index_id).await?;
        let now = self.clock.now_secs();
        let mut marked = Vec::new();
        for shard in self.list_shards(index_id).await?.into_keys() {
            let (shard_marked, _) = self
                .commit_shard(index_id, shard, &[], |document, _| {
                    let mut shard_marked = Vec::new();
                    for split in document.splits.values_mut() {
                        if split.state != SplitState::MarkedForDeletion {
                            split.state = SplitState::MarkedForDeletion;
                            split.update_timestamp = now;
                            shard_marked.push(split.split_id.clone());
                        }
                    }
                    // The segments become orphans, deleted by garbage collection.
                    document.checkpoint.clear();
                    document.inline_checkpoint.clear();
                    Ok(shard_marked)
                })
                .await?;
            marked.extend(shard_marked);
        }
        Ok(marked)
    }

    /// Registers splits as staged in `shard`, before their upload, so that an upload that is
    /// never published can be found and collected.
    pub async fn stage_splits(
        &self,
        index_id: &str,
        shard: ShardId,
        splits: Vec<SplitMetadata>,
    ) -> Result<()> {
        let now = self.clock.now_secs();
        self.commit_shard(index_id, shard, &[], |document, _| {
            for split in &splits {
                if document.splits.contains_key(&split.split_id) {
                    return Err(conflict(
                        index_id,
                        format!("split {} already exists", split.split_id),
                    ));
                }
            }
            for split in &splits {
                let mut split = split.clone();
                split.state = SplitState::Staged;
                split.shard = shard;
                split.create_timestamp = now;
                split.update_timestamp = now;
                split.publish_timestamp = None;
                document.splits.insert(split.split_id.clone(), split);
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Publishes staged and new splits of `shard`, marks the splits they replace for deletion
    /// and adds their objects to the shard's checkpoint, in one atomic commit of the shard
    /// document, the only write of a publish (the delta goes inline; see `checkpoint.rs`).
    ///
    /// Fails with [`Error::CheckpointConflict`], changing nothing, if any object of the delta
    /// is already in the shard's checkpoint with the same etag: its records are already
    /// searchable.
    pub async fn publish_splits(
        &self,
        index_id: &str,
        shard: ShardId,
        request: PublishRequest,
    ) -> Result<()> {
        let now = self.clock.now_secs();
        let delta_keys: Vec<String> = request
            .checkpoint_delta
            .iter()
            .map(|(object, _)| object.source_key.clone())
            .collect();
        let (_, document) = self
            .commit_shard(index_id, shard, &delta_keys, |document, checkpoint| {
                check_publishable(document, checkpoint, index_id, &request, now)?;
                apply_publish(document, shard, &request, now);
                Ok(())
            })
            .await?;
        // Compaction is its own commit: the publish is done, and a failure here only leaves
        // more inline entries or segments for the next one.
        if needs_compaction(&document, request.prune_checkpoint_before)
            && let Err(error) = self
                .compact_document(index_id, document, request.prune_checkpoint_before)
                .await
        {
            warn!(index_id, shard, %error, "checkpoint compaction deferred to the next publish");
        }
        Ok(())
    }

    /// Compacts a shard's checkpoint: segments wholly indexed before `prune_before` are
    /// dropped without a read, and those whose tiers call for it (see `checkpoint.rs`) are
    /// merged into one, without their entries before `prune_before`. Returns the number of
    /// segments dropped or replaced.
    pub async fn compact_checkpoint(
        &self,
        index_id: &str,
        shard: ShardId,
        prune_before: Option<i64>,
    ) -> Result<usize> {
        let Some((document, _, _)) = self.read_shard(index_id, shard).await? else {
            return Ok(0);
        };
        self.compact_document(index_id, document, prune_before)
            .await
    }

    /// [`Metastore::compact_checkpoint`] of a shard document the caller has just read or
    /// committed: the inline entries first, then the segments of what that left.
    async fn compact_document(
        &self,
        index_id: &str,
        document: ShardDocument,
        prune_before: Option<i64>,
    ) -> Result<usize> {
        match self
            .spill_inline_checkpoint(index_id, &document, prune_before)
            .await?
        {
            Some(spilled) => Ok(1 + self
                .compact_segments(index_id, &spilled, prune_before)
                .await?),
            None => {
                self.compact_segments(index_id, &document, prune_before)
                    .await
            }
        }
    }

    /// Moves a shard's inline checkpoint entries into a segment of their own once there are
    /// [`INLINE_CHECKPOINT_ENTRIES`] of them, without those indexed before `prune_before`
    /// (with fewer, only drops those). Returns the document as committed, if it changed it.
    async fn spill_inline_checkpoint(
        &self,
        index_id: &str,
        document: &ShardDocument,
        prune_before: Option<i64>,
    ) -> Result<Option<ShardDocument>> {
        let shard = document.shard;
        let expired =
            |entry: &CheckpointEntry| prune_before.is_some_and(|cutoff| entry.indexed_at < cutoff);
        let spill = document.inline_checkpoint.len() >= INLINE_CHECKPOINT_ENTRIES;
        if !spill && !document.inline_checkpoint.values().any(expired) {
            return Ok(None);
        }
        let mut moved = CheckpointSegment::default();
        if spill {
            moved.objects = document
                .inline_checkpoint
                .iter()
                .filter(|(_, entry)| !expired(entry))
                .map(|(key, entry)| (key.clone(), entry.clone()))
                .collect();
        }
        let moved_ref = self.write_segment(index_id, shard, moved.clone()).await?;
        let (changed, committed) = self
            .commit_shard(index_id, shard, &[], |document, _| {
                let before = document.inline_checkpoint.len();
                // Only the entries as they were read: one published since stays inline.
                document.inline_checkpoint.retain(|key, entry| {
                    !expired(entry) && moved.objects.get(key) != Some(&*entry)
                });
                if let Some(moved_ref) = &moved_ref {
                    // Newer than every segment: last.
                    document.checkpoint.push(moved_ref.clone());
                }
                Ok(before != document.inline_checkpoint.len() || moved_ref.is_some())
            })
            .await?;
        Ok(changed.then_some(committed))
    }

    /// The segment half of [`Metastore::compact_checkpoint`]: segments wholly before
    /// `prune_before` dropped, those whose tier is full merged.
    async fn compact_segments(
        &self,
        index_id: &str,
        document: &ShardDocument,
        prune_before: Option<i64>,
    ) -> Result<usize> {
        let shard = document.shard;
        let expired = |segment: &SegmentRef| {
            prune_before.is_some_and(|cutoff| segment.newest_indexed_at < cutoff)
        };
        let kept: Vec<SegmentRef> = document
            .checkpoint
            .iter()
            .filter(|segment| !expired(segment))
            .cloned()
            .collect();
        let inputs: Vec<SegmentRef> = compaction_candidates(&kept, prune_before)
            .into_iter()
            .map(|position| kept[position].clone())
            .collect();
        let dropped: BTreeSet<String> = document
            .checkpoint
            .iter()
            .filter(|segment| expired(segment))
            .chain(&inputs)
            .map(|segment| segment.segment_id.clone())
            .collect();
        if dropped.is_empty() {
            return Ok(0);
        }
        let mut merged = CheckpointSegment::default();
        // Oldest first, so a key indexed again (a new etag) keeps its newest entry.
        for segment in self.read_segments(index_id, shard, &inputs).await? {
            for (key, entry) in &segment.objects {
                if prune_before.is_none_or(|cutoff| entry.indexed_at >= cutoff) {
                    merged.objects.insert(key.clone(), entry.clone());
                }
            }
        }
        let merged_ref = self.write_segment(index_id, shard, merged).await?;
        let (replaced, _) = self
            .commit_shard(index_id, shard, &[], |document, _| {
                let present = document
                    .checkpoint
                    .iter()
                    .filter(|segment| dropped.contains(&segment.segment_id))
                    .count();
                if present != dropped.len() {
                    // Someone compacted or pruned meanwhile: ours is an orphan now.
                    return Ok(0);
                }
                let position = document
                    .checkpoint
                    .iter()
                    .position(|segment| dropped.contains(&segment.segment_id))
                    .unwrap_or(0);
                document
                    .checkpoint
                    .retain(|segment| !dropped.contains(&segment.segment_id));
                if let Some(merged_ref) = &merged_ref {
                    let position = position.min(document.checkpoint.len());
                    document.checkpoint.insert(position, merged_ref.clone());
                }
                Ok(dropped.len())
            })
            .await?;
        Ok(replaced)
    }

    /// The checkpoint entries of `source_keys` in every shard that may hold them: `shard`
    /// (the one indexing them now) and the shards each key belonged to under any earlier shard
    /// count ([`candidate_shards`]). What an indexer checks before reading an object.
    pub async fn checkpoint_entries(
        &self,
        index_id: &str,
        shard: ShardId,
        source_keys: &[String],
    ) -> Result<SourceCheckpoint> {
        let info = self.index_info(index_id).await?;
        self.checkpoint_entries_of(&info, shard, source_keys).await
    }

    /// [`Metastore::checkpoint_entries`] of an index whose document the caller has just read
    /// (`info`): a format 2 index needs no second read of it.
    pub async fn checkpoint_entries_of(
        &self,
        info: &IndexInfo,
        shard: ShardId,
        source_keys: &[String],
    ) -> Result<SourceCheckpoint> {
        let index_id = info.index_config.index_id.as_str();
        if info.format_version != METASTORE_FORMAT_VERSION {
            // Format 1: the checkpoint is in the index document, read again for it.
            let mut found = SourceCheckpoint::default();
            if let (StoredIndex::Legacy(legacy), _) = self.read_index_document(index_id).await? {
                for key in source_keys {
                    if let Some(entry) = legacy.checkpoint.objects.get(key) {
                        found.objects.insert(key.clone(), entry.clone());
                    }
                }
                return Ok(found);
            }
            // Migrated since `info` was read: look it up as format 2.
        }
        let uid = info.index_uid.as_str();
        // The candidate documents are read directly, a missing one answering 404: GETs cost a
        // twelfth of the listing that would say which exist.
        let mut keys_by_shard: BTreeMap<ShardId, Vec<String>> = BTreeMap::new();
        for key in source_keys {
            let mut shards = candidate_shards(object_key(key));
            shards.insert(shard);
            for candidate in shards {
                keys_by_shard
                    .entry(candidate)
                    .or_default()
                    .push(key.clone());
            }
        }
        let shard_ids: Vec<ShardId> = keys_by_shard.keys().copied().collect();
        let mut found = SourceCheckpoint::default();
        for (candidate, read) in self.read_shards(index_id, &shard_ids).await? {
            let Some((document, _, _)) = read.filter(|(document, _, _)| document.index_uid == uid)
            else {
                continue;
            };
            let keys = &keys_by_shard[&candidate];
            let entries = self.lookup(index_id, &document, keys).await?;
            for (key, entry) in entries.objects {
                // Where shards disagree (re-put objects), the newest entry wins.
                let newer = found
                    .objects
                    .get(&key)
                    .is_none_or(|seen| seen.indexed_at <= entry.indexed_at);
                if newer {
                    found.objects.insert(key, entry);
                }
            }
        }
        Ok(found)
    }

    /// Marks splits for deletion (staged or published), in whichever shards hold them.
    /// Missing or already marked splits are skipped, so the call can be repeated.
    pub async fn mark_splits_for_deletion(
        &self,
        index_id: &str,
        split_ids: &[String],
    ) -> Result<()> {
        let now = self.clock.now_secs();
        for (shard, split_ids) in self.shards_holding(index_id, split_ids).await? {
            self.commit_shard(index_id, shard, &[], |document, _| {
                for split_id in &split_ids {
                    if let Some(split) = document.splits.get_mut(split_id)
                        && split.state != SplitState::MarkedForDeletion
                    {
                        split.state = SplitState::MarkedForDeletion;
                        split.update_timestamp = now;
                    }
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// Marks splits of `shard` for deletion that are still staged, and only those: how a
    /// writer gives up uploads it will not publish. A split that is published already (by this
    /// writer's own commit, whatever error it heard) is left alone. Returns the splits it
    /// marked.
    pub async fn abandon_staged_splits(
        &self,
        index_id: &str,
        shard: ShardId,
        split_ids: &[String],
    ) -> Result<Vec<String>> {
        let now = self.clock.now_secs();
        let (abandoned, _) = self
            .commit_shard(index_id, shard, &[], |document, _| {
                let mut abandoned = Vec::new();
                for split_id in split_ids {
                    if let Some(split) = document.splits.get_mut(split_id)
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

    /// Records that published `split_ids` of `shard` have had every delete task up to
    /// `opstamp` applied, having matched nothing in them (no rewrite). Idempotent; a split no
    /// longer published, or already past `opstamp`, is left alone.
    pub async fn set_delete_opstamp(
        &self,
        index_id: &str,
        shard: ShardId,
        split_ids: &[String],
        opstamp: u64,
    ) -> Result<()> {
        let now = self.clock.now_secs();
        self.commit_shard(index_id, shard, &[], |document, _| {
            for split_id in split_ids {
                if let Some(split) = document.splits.get_mut(split_id)
                    && split.state == SplitState::Published
                    && split.delete_opstamp.is_none_or(|applied| applied < opstamp)
                {
                    split.delete_opstamp = Some(opstamp);
                    split.update_timestamp = now;
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Removes splits from the metastore, in whichever shards hold them. Only splits marked for
    /// deletion can be removed (their files must be deleted first); missing ones are skipped.
    pub async fn delete_splits(&self, index_id: &str, split_ids: &[String]) -> Result<()> {
        for (shard, split_ids) in self.shards_holding(index_id, split_ids).await? {
            self.commit_shard(index_id, shard, &[], |document, _| {
                for split_id in &split_ids {
                    match document.splits.get(split_id) {
                        None => {}
                        Some(split) if split.state == SplitState::MarkedForDeletion => {
                            document.splits.remove(split_id);
                        }
                        Some(split) => {
                            let state = split.state;
                            let reason = format!(
                                "split {split_id} is {state:?}; only splits marked for deletion \
                                 can be deleted"
                            );
                            return Err(conflict(index_id, reason));
                        }
                    }
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// The checkpoint segment files no shard document references (written by a commit that
    /// lost, or replaced by a compaction), for garbage collection.
    pub async fn unreferenced_segments(&self, index_id: &str) -> Result<Vec<ObjectMeta>> {
        let metadata = self.index_splits(index_id).await?;
        let referenced: BTreeSet<&str> = metadata
            .shards
            .values()
            .flat_map(|shard| &shard.checkpoint_segments)
            .map(|segment| segment.segment_id.as_str())
            .collect();
        let files = self
            .storage
            .list(&paths::checkpoints_prefix(index_id))
            .await?;
        Ok(files
            .into_iter()
            .filter(|file| {
                paths::segment_of_path(index_id, &file.path)
                    .is_some_and(|segment_id| !referenced.contains(segment_id))
            })
            .collect())
    }

    /// Applies `mutation` to the latest document of `shard` and writes it back with
    /// compare-and-swap, re-applying it to a fresh read whenever another writer won the race.
    /// The mutation also gets the shard's checkpoint entries of `checkpoint_keys`, read from
    /// the same version of the document.
    ///
    /// Each attempt carries its own commit id. After an error or a 412 that followed a sent
    /// write, the next read first looks for those ids: a document that lists one is our own
    /// write, so the commit returns that attempt's outcome instead of applying the mutation a
    /// second time (which would see its own change as a conflict). An error after which the
    /// document cannot be read leaves the outcome unknown and is returned as it is: callers
    /// must then treat the change as possibly applied.
    pub(crate) async fn commit_shard<T>(
        &self,
        index_id: &str,
        shard: ShardId,
        checkpoint_keys: &[String],
        mut mutation: impl FnMut(&mut ShardDocument, &SourceCheckpoint) -> Result<T>,
    ) -> Result<(T, ShardDocument)> {
        let path = paths::shard_document(index_id, shard);
        let mut uid = self.index_uid(index_id).await?;
        // Attempts whose write may have been applied: (commit id, outcome).
        let mut unsettled: Vec<(String, T)> = Vec::new();
        let mut last_error: Option<Error> = None;
        for attempt in 0..MAX_COMMIT_ATTEMPTS {
            let (mut document, mode) = match self.read_for_commit(index_id, shard, &mut uid).await {
                Ok(read) => read,
                // The outcome of the previous write is unknown: report that write's error.
                Err(read_error) => return Err(last_error.unwrap_or(read_error)),
            };
            if let Some(position) = unsettled
                .iter()
                .position(|(commit_id, _)| document.recent_commits.contains(commit_id))
            {
                debug!(
                    index_id,
                    shard, attempt, "an ambiguous metastore write was ours"
                );
                let (_, outcome) = unsettled.swap_remove(position);
                return Ok((outcome, document));
            }
            if let Some(error) = last_error.take()
                && !error.is_precondition_failed()
            {
                // Not applied (the read shows no trace of it): the write failed for real.
                return Err(error);
            }
            let checkpoint = self.lookup(index_id, &document, checkpoint_keys).await?;
            let outcome = mutation(&mut document, &checkpoint)?;
            let commit_id = new_commit_id();
            document.generation += 1;
            document.recent_commits.push(commit_id.clone());
            let excess = document.recent_commits.len().saturating_sub(RECENT_COMMITS);
            document.recent_commits.drain(..excess);
            let payload = serde_json::to_vec(&document)
                .map_err(|error| Error::corrupt(&path, format!("does not serialize: {error}")))?;
            match self.storage.put(&path, payload.into(), mode).await {
                Ok(_) => return Ok((outcome, document)),
                Err(error) if error.is_not_found() => {
                    return Err(Error::IndexNotFound(index_id.to_string()));
                }
                Err(error) => {
                    if error.is_precondition_failed() {
                        self.lost_races.fetch_add(1, Ordering::Relaxed);
                        debug!(
                            index_id,
                            shard,
                            attempt,
                            "metastore commit lost a race (or retried its own write)"
                        );
                        tokio::time::sleep(backoff(attempt)).await;
                    } else {
                        // The write may still have been applied: the next attempt checks.
                        debug!(index_id, shard, attempt, %error, "metastore write failed");
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

    /// The shard document a commit attempt starts from, and how its write must be
    /// conditioned: on the version read, or on there being none yet. A document of another
    /// uid is a leftover of a deleted index of the same id (after checking that `uid`, cached,
    /// is not the stale one), replaced conditionally.
    async fn read_for_commit(
        &self,
        index_id: &str,
        shard: ShardId,
        uid: &mut String,
    ) -> Result<(ShardDocument, PutMode)> {
        let read = self.read_shard(index_id, shard).await?;
        if let Some((document, _, _)) = &read
            && document.index_uid != *uid
        {
            // The index document decides which uid is current.
            self.forget_uid(index_id);
            *uid = self.index_uid(index_id).await?;
        }
        Ok(match read {
            Some((document, version, _)) if document.index_uid == *uid => {
                (document, PutMode::Update(version))
            }
            Some((_, version, _)) => (ShardDocument::new(uid, shard), PutMode::Update(version)),
            None => {
                // A shard's first commit: the index must still exist.
                self.read_index_document(index_id).await?;
                (ShardDocument::new(uid, shard), PutMode::Create)
            }
        })
    }

    /// The uid of an index, which every shard document it owns carries; a format 1 index is
    /// migrated first (its uid is then the migration's).
    pub(crate) async fn index_uid(&self, index_id: &str) -> Result<String> {
        if let Some(uid) = self
            .uids
            .lock()
            .expect("uid cache lock poisoned")
            .get(index_id)
        {
            return Ok(uid.clone());
        }
        let uid = match self.read_index_document(index_id).await? {
            (StoredIndex::Current(document), _) => document.index_uid,
            (StoredIndex::Legacy(legacy), version) => {
                self.migrate(index_id, legacy, version).await?
            }
        };
        self.remember_uid(index_id, &uid);
        Ok(uid)
    }

    fn remember_uid(&self, index_id: &str, uid: &str) {
        self.uids
            .lock()
            .expect("uid cache lock poisoned")
            .insert(index_id.to_string(), uid.to_string());
    }

    pub(crate) fn forget_uid(&self, index_id: &str) {
        self.uids
            .lock()
            .expect("uid cache lock poisoned")
            .remove(index_id);
    }

    /// Migrates a format 1 index document read at `version` to format 2: its splits and
    /// checkpoint become shard 0's document (with a segment), then the index document is
    /// replaced by compare-and-swap. Two migrations of one document agree (the uid is derived
    /// from it), so a concurrent or crashed one is as good as ours; its segment, if not the
    /// one referenced, is an orphan for garbage collection.
    async fn migrate(
        &self,
        index_id: &str,
        legacy: LegacyIndexDocument,
        version: ObjectVersion,
    ) -> Result<String> {
        let uid = legacy.migrated_uid();
        let checkpoint = CheckpointSegment {
            objects: legacy.checkpoint.objects.clone(),
        };
        let segment = self.write_segment(index_id, 0, checkpoint).await?;
        let mut shard = ShardDocument::new(&uid, 0);
        shard.generation = legacy.generation;
        shard.splits = legacy.splits.clone();
        shard.checkpoint = segment.into_iter().collect();
        shard.last_publish_timestamp = legacy
            .splits
            .values()
            .filter_map(|split| split.publish_timestamp)
            .max();
        shard.recent_commits = legacy.recent_commits.clone();
        let excess = shard.recent_commits.len().saturating_sub(RECENT_COMMITS);
        shard.recent_commits.drain(..excess);
        let shard_path = paths::shard_document(index_id, 0);
        let payload = serde_json::to_vec(&shard)
            .map_err(|error| Error::corrupt(&shard_path, format!("does not serialize: {error}")))?;
        if let Err(error) = self
            .storage
            .put(&shard_path, payload.clone().into(), PutMode::Create)
            .await
        {
            match self.read_shard(index_id, 0).await? {
                // Ours with its response lost, or a concurrent migration's (maybe live since).
                Some((existing, _, _)) if existing.index_uid == uid => {}
                // A leftover of a deleted index: replaced, conditionally.
                Some((_, stale, _)) => {
                    self.storage
                        .put(&shard_path, payload.into(), PutMode::Update(stale))
                        .await?;
                }
                None => return Err(error.into()),
            }
        }
        let current = StoredIndex::Current(IndexDocument {
            format_version: METASTORE_FORMAT_VERSION,
            index_uid: uid.clone(),
            index_config: legacy.index_config,
            create_timestamp: legacy.create_timestamp,
            previous_doc_mappings: BTreeMap::new(),
            update_timestamp: None,
        });
        let payload = document::to_payload(index_id, &current)?;
        let put = self
            .storage
            .put(
                &paths::index_document(index_id),
                payload.into(),
                PutMode::Update(version),
            )
            .await;
        if let Err(error) = put {
            // Applied with its response lost, or another migration won: either way the
            // document must now be format 2 with this uid.
            match self.read_index_document(index_id).await?.0 {
                StoredIndex::Current(document) if document.index_uid == uid => {}
                _ => return Err(error.into()),
            }
        }
        debug!(index_id, "metastore document migrated to format 2");
        Ok(uid)
    }

    async fn read_index_document(&self, index_id: &str) -> Result<(StoredIndex, ObjectVersion)> {
        document::read(&self.storage, index_id)
            .await?
            .ok_or_else(|| Error::IndexNotFound(index_id.to_string()))
    }

    /// The view of an index document and its shards, with the versions of the shard documents
    /// read.
    async fn assemble(
        &self,
        index_id: &str,
        stored: StoredIndex,
    ) -> Result<(IndexMetadata, BTreeMap<ShardId, ObjectVersion>)> {
        if let StoredIndex::Legacy(_) = stored {
            return Ok((legacy_view(stored), BTreeMap::new()));
        }
        let listed = self.list_shards(index_id).await?;
        self.assemble_listed(index_id, stored, listed, None).await
    }

    /// [`Metastore::assemble`] with the shard documents already listed, and shard 0's
    /// document already read when `shard_zero` is given (`Some(None)`: there is none).
    async fn assemble_listed(
        &self,
        index_id: &str,
        stored: StoredIndex,
        listed: BTreeMap<ShardId, ObjectVersion>,
        shard_zero: Option<Option<ReadShard>>,
    ) -> Result<(IndexMetadata, BTreeMap<ShardId, ObjectVersion>)> {
        if let StoredIndex::Legacy(_) = stored {
            return Ok((legacy_view(stored), BTreeMap::new()));
        }
        let info = stored.info();
        let uid = info.index_uid.clone();
        let shard_ids: Vec<ShardId> = listed
            .into_keys()
            .filter(|shard| *shard != 0 || shard_zero.is_none())
            .collect();
        let mut reads = self.read_shards(index_id, &shard_ids).await?;
        // Shard 0 read with the listing counts even if the listing missed it (created since).
        if let Some(read) = shard_zero {
            reads.insert(0, (0, read));
        }
        let mut versions = BTreeMap::new();
        let mut documents = Vec::new();
        for (shard, read) in reads {
            if let Some((document, version, bytes)) = read
                && document.index_uid == uid
            {
                versions.insert(shard, version);
                documents.push((document, bytes));
            }
        }
        Ok((IndexMetadata::assemble(info, documents), versions))
    }

    /// The shard documents of an index and their versions: one listing.
    async fn list_shards(&self, index_id: &str) -> Result<BTreeMap<ShardId, ObjectVersion>> {
        let prefix = paths::shards_prefix(index_id);
        Ok(self
            .storage
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|object| {
                paths::shard_of_document(index_id, &object.path)
                    .map(|shard| (shard, object.version))
            })
            .collect())
    }

    /// One shard document; `None` if there is none.
    async fn read_shard(&self, index_id: &str, shard: ShardId) -> Result<Option<ReadShard>> {
        read_shard(&self.storage, index_id, shard).await
    }

    /// Shard documents, read concurrently, in shard order.
    async fn read_shards(
        &self,
        index_id: &str,
        shards: &[ShardId],
    ) -> Result<Vec<(ShardId, Option<ReadShard>)>> {
        read_all(shards.iter().map(|shard| async move {
            read_shard(&self.storage, index_id, *shard)
                .await
                .map(|read| (*shard, read))
        }))
        .await
    }

    /// The entries of `keys` in `document`'s checkpoint: only the segments whose key range
    /// holds one of them are read.
    async fn lookup(
        &self,
        index_id: &str,
        document: &ShardDocument,
        keys: &[String],
    ) -> Result<SourceCheckpoint> {
        let mut found = SourceCheckpoint::default();
        if keys.is_empty() {
            return Ok(found);
        }
        let wanted: Vec<SegmentRef> = document
            .checkpoint
            .iter()
            .filter(|segment| keys.iter().any(|key| segment.may_hold(key)))
            .cloned()
            .collect();
        // Oldest first: a later segment's entry for a key replaces an earlier one, and the
        // inline entries are newer than every segment.
        for segment in self
            .read_segments(index_id, document.shard, &wanted)
            .await?
        {
            for key in keys {
                if let Some(entry) = segment.objects.get(key) {
                    found.objects.insert(key.clone(), entry.clone());
                }
            }
        }
        for key in keys {
            if let Some(entry) = document.inline_checkpoint.get(key) {
                found.objects.insert(key.clone(), entry.clone());
            }
        }
        Ok(found)
    }

    /// Checkpoint segments, from the cache or read concurrently, in the order given.
    async fn read_segments(
        &self,
        index_id: &str,
        shard: ShardId,
        segments: &[SegmentRef],
    ) -> Result<Vec<Arc<CheckpointSegment>>> {
        read_all(
            segments
                .iter()
                .map(|segment| self.read_segment(index_id, shard, &segment.segment_id)),
        )
        .await
    }

    /// One checkpoint segment, from the cache or read.
    async fn read_segment(
        &self,
        index_id: &str,
        shard: ShardId,
        segment_id: &str,
    ) -> Result<Arc<CheckpointSegment>> {
        let path = paths::checkpoint_segment(index_id, shard, segment_id);
        if let Some(cached) = self.segments.get(&path) {
            return Ok(cached);
        }
        let object = self.storage.get(&path).await?;
        let parsed: CheckpointSegment = serde_json::from_slice(&object.bytes)
            .map_err(|error| Error::corrupt(self.storage.describe(&path), error))?;
        let parsed = Arc::new(parsed);
        self.segments.insert(path, parsed.clone());
        Ok(parsed)
    }

    /// Writes a checkpoint segment under a fresh id; `None` (and nothing written) if empty. A
    /// fresh path has no other writer: after an error, an object of our size there is ours.
    async fn write_segment(
        &self,
        index_id: &str,
        shard: ShardId,
        segment: CheckpointSegment,
    ) -> Result<Option<SegmentRef>> {
        let segment_id = uuid::Uuid::now_v7().simple().to_string();
        let Some(reference) = segment.reference(segment_id.clone()) else {
            return Ok(None);
        };
        let path = paths::checkpoint_segment(index_id, shard, &segment_id);
        let payload = serde_json::to_vec(&segment)
            .map_err(|error| Error::corrupt(&path, format!("does not serialize: {error}")))?;
        let size = payload.len() as u64;
        recognise::create_unique(self.storage.as_ref(), &path, payload.into(), size).await?;
        self.segments.insert(path, Arc::new(segment));
        Ok(Some(reference))
    }

    /// The splits among `split_ids` grouped by the shard holding them, from a fresh view.
    async fn shards_holding(
        &self,
        index_id: &str,
        split_ids: &[String],
    ) -> Result<BTreeMap<ShardId, Vec<String>>> {
        let metadata = self.index_splits(index_id).await?;
        let mut by_shard: BTreeMap<ShardId, Vec<String>> = BTreeMap::new();
        for split_id in split_ids {
            if let Some(split) = metadata.splits.get(split_id) {
                by_shard
                    .entry(split.shard)
                    .or_default()
                    .push(split_id.clone());
            }
        }
        Ok(by_shard)
    }
}

/// The outcomes of `reads`, [`READ_CONCURRENCY`] at a time, in their order; the first error
/// if any fails.
async fn read_all<T>(
    reads: impl Iterator<Item = impl Future<Output = Result<T>>>,
) -> Result<Vec<T>> {
    // Collected first: a lazy `map` closure in the stream makes the future not `Send` for
    // every lifetime (rust-lang/rust#102211).
    let reads: Vec<_> = reads.collect();
    futures::stream::iter(reads)
        .buffered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// One shard document; `None` if there is none.
/// The view of a format 1 document, which is its index's shard 0.
fn legacy_view(stored: StoredIndex) -> IndexMetadata {
    let info = stored.info();
    let StoredIndex::Legacy(legacy) = stored else {
        return IndexMetadata::assemble(info, []);
    };
    let mut shard = ShardDocument::new(&info.index_uid, 0);
    shard.generation = legacy.generation;
    shard.splits = legacy.splits;
    let mut metadata = IndexMetadata::assemble(info, [(shard, 0)]);
    if let Some(summary) = metadata.shards.get_mut(&0) {
        summary.num_checkpoint_objects = legacy.checkpoint.objects.len() as u64;
    }
    metadata.checkpoint = legacy.checkpoint;
    metadata
}

async fn read_shard(
    storage: &SharedStorage,
    index_id: &str,
    shard: ShardId,
) -> Result<Option<ReadShard>> {
    let path = paths::shard_document(index_id, shard);
    match storage.get(&path).await {
        Ok(object) => {
            let document = ShardDocument::parse(&storage.describe(&path), &object.bytes)?;
            Ok(Some((
                document,
                object.meta.version,
                object.bytes.len() as u64,
            )))
        }
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// A fresh commit id: unique across processes, no coordination needed.
fn new_commit_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Why `request` cannot be published on `document`, if it cannot: an object of its delta is
/// already indexed (a [`Error::CheckpointConflict`]), its checkpoint points at a split it does
/// not publish, a split to publish is not staged or a split it replaces is not published.
fn check_publishable(
    document: &ShardDocument,
    checkpoint: &SourceCheckpoint,
    index_id: &str,
    request: &PublishRequest,
    now: i64,
) -> Result<()> {
    let already_indexed: Vec<String> = request
        .checkpoint_delta
        .iter()
        .filter(|(object, _)| checkpoint.contains(&object.source_key, &object.etag))
        .map(|(object, _)| object.source_key.clone())
        .collect();
    if !already_indexed.is_empty() {
        return Err(Error::CheckpointConflict {
            index_id: index_id.to_string(),
            source_keys: already_indexed,
        });
    }
    let published: BTreeSet<&String> = request
        .staged_split_ids
        .iter()
        .chain(request.new_splits.iter().map(|split| &split.split_id))
        .collect();
    let delta_splits = request
        .checkpoint_delta
        .iter()
        .filter_map(|(_, split_id)| split_id.as_ref());
    for split_id in delta_splits {
        if !published.contains(split_id) {
            let reason = format!(
                "checkpoint entry points at split {split_id}, which this commit does not publish"
            );
            return Err(conflict(index_id, reason));
        }
    }
    for split_id in &request.staged_split_ids {
        match document.splits.get(split_id) {
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
    for split in &request.new_splits {
        let split_id = &split.split_id;
        if document.splits.contains_key(split_id) {
            return Err(conflict(
                index_id,
                format!("split {split_id} already exists"),
            ));
        }
        let age_secs = now - split.create_timestamp;
        if age_secs > MAX_UNPUBLISHED_SPLIT_AGE_SECS {
            let reason = format!(
                "split {split_id} was uploaded {age_secs} s ago, past the \
                 {MAX_UNPUBLISHED_SPLIT_AGE_SECS} s in which an unstaged upload may be \
                 published: garbage collection may have deleted its file"
            );
            return Err(conflict(index_id, reason));
        }
    }
    for split_id in &request.replaced_split_ids {
        let published = document
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

/// The changes of a publish that [`check_publishable`] accepted.
fn apply_publish(document: &mut ShardDocument, shard: ShardId, request: &PublishRequest, now: i64) {
    // check_publishable found every one of these splits.
    for split_id in &request.staged_split_ids {
        if let Some(split) = document.splits.get_mut(split_id) {
            split.state = SplitState::Published;
            split.update_timestamp = now;
            split.publish_timestamp = Some(now);
        }
    }
    for split in &request.new_splits {
        let mut split = split.clone();
        split.state = SplitState::Published;
        split.shard = shard;
        split.update_timestamp = now;
        split.publish_timestamp = Some(now);
        document.splits.insert(split.split_id.clone(), split);
    }
    for split_id in &request.replaced_split_ids {
        if let Some(split) = document.splits.get_mut(split_id) {
            split.state = SplitState::MarkedForDeletion;
            split.update_timestamp = now;
        }
    }
    if let Some(cutoff) = request.prune_checkpoint_before {
        document
            .checkpoint
            .retain(|segment| segment.newest_indexed_at >= cutoff);
        document
            .inline_checkpoint
            .retain(|_, entry| entry.indexed_at >= cutoff);
    }
    for (object, split_id) in &request.checkpoint_delta {
        let entry = CheckpointEntry {
            etag: object.etag.clone(),
            split_id: split_id.clone(),
            indexed_at: now,
        };
        document
            .inline_checkpoint
            .insert(object.source_key.clone(), entry);
    }
    let publishes = !request.staged_split_ids.is_empty()
        || !request.new_splits.is_empty()
        || !request.checkpoint_delta.is_empty();
    if publishes {
        document.last_publish_timestamp = Some(now);
    }
}

/// Whether a shard's checkpoint has inline entries to move into a segment or segments to
/// compact.
fn needs_compaction(document: &ShardDocument, prune_before: Option<i64>) -> bool {
    document.inline_checkpoint.len() >= INLINE_CHECKPOINT_ENTRIES
        || !compaction_candidates(&document.checkpoint, prune_before).is_empty()
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::index_document::SplitFilter;
    use crate::split::TimeRange;
    use hydrant_storage::Storage;
    use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, MemoryStorage, Operation};

    fn config(index_id: &str) -> IndexConfig {
        IndexConfig::from_yaml(&format!(
            "index_id: {index_id}\ndoc_mapping:\n  field_mappings:\n    - {{name: ts, type: datetime, fast: true}}\n  timestamp_field: ts\n"
        ))
        .unwrap()
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
            shard: 0,
            delete_opstamp: None,
        }
    }

    fn object(key: &str, etag: &str) -> SourceObject {
        SourceObject {
            source_key: key.to_string(),
            etag: etag.to_string(),
        }
    }

    fn publish_one(split_id: &str, key: &str) -> PublishRequest {
        PublishRequest {
            staged_split_ids: vec![split_id.into()],
            checkpoint_delta: vec![(object(key, "e"), Some(split_id.into()))],
            ..PublishRequest::default()
        }
    }

    /// Stages and publishes one split holding `key` in `shard`.
    async fn index_one(metastore: &Metastore, shard: ShardId, split_id: &str, key: &str) {
        metastore
            .stage_splits("logs", shard, vec![split(split_id, 1, 2)])
            .await
            .unwrap();
        metastore
            .publish_splits("logs", shard, publish_one(split_id, key))
            .await
            .unwrap();
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

        let created = metastore.index_info_or_create("logs-acme").await.unwrap();
        assert_eq!(created.index_config.index_id, "logs-acme");
        // Once created, the index is read, not created again.
        let again = metastore.index_info_or_create("logs-acme").await.unwrap();
        assert_eq!(again, created);
        assert!(matches!(
            metastore.index_info_or_create("metrics-acme").await,
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
            .stage_splits("logs", 0, vec![split("a", 10, 20), split("b", 30, 40)])
            .await
            .unwrap();
        clock.advance_secs(5);
        metastore
            .publish_splits("logs", 0, publish_one("a", "bucket/k1"))
            .await
            .unwrap();
        let metadata = metastore.index_metadata("logs").await.unwrap();
        assert_eq!(metadata.splits["a"].state, SplitState::Published);
        assert_eq!(metadata.splits["a"].publish_timestamp, Some(1_005));
        assert_eq!(metadata.splits["b"].state, SplitState::Staged);
        assert!(metadata.checkpoint.contains("bucket/k1", "e"));
        assert!(!metadata.checkpoint.contains("bucket/k1", "other-etag"));
        assert_eq!(metadata.shards[&0].last_publish_timestamp, Some(1_005));
        let in_range = SplitFilter::published_in(Some(15), Some(16));
        assert_eq!(metadata.splits_matching(&in_range).count(), 1);
        let out_of_range = SplitFilter::published_in(Some(21), None);
        assert_eq!(metadata.splits_matching(&out_of_range).count(), 0);
        // The splits view leaves the checkpoint out.
        let listed = metastore.list_indexes().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].checkpoint.objects.is_empty());
        assert_eq!(listed[0].splits, metadata.splits);
    }

    #[tokio::test]
    async fn publishing_an_indexed_object_again_changes_nothing() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        metastore
            .stage_splits("logs", 0, vec![split("a", 1, 2), split("b", 1, 2)])
            .await
            .unwrap();
        metastore
            .publish_splits("logs", 0, publish_one("a", "bucket/k1"))
            .await
            .unwrap();
        let before = metastore.index_metadata("logs").await.unwrap();
        let error = metastore
            .publish_splits("logs", 0, publish_one("b", "bucket/k1"))
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
            index_one(&metastore, 0, &format!("s{number}"), key).await;
            clock.advance_secs(100);
        }
        // Entries indexed before 1_050 go; later ones stay, whatever their number.
        metastore
            .stage_splits("logs", 0, vec![split("s2", 1, 2)])
            .await
            .unwrap();
        let mut request = publish_one("s2", "new");
        request.prune_checkpoint_before = Some(1_050);
        metastore.publish_splits("logs", 0, request).await.unwrap();
        let metadata = metastore.index_metadata("logs").await.unwrap();
        let keys: Vec<&String> = metadata.checkpoint.objects.keys().collect();
        assert_eq!(keys, ["new", "recent"]);
    }

    #[tokio::test]
    async fn merge_publish_marks_replaced_splits() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        metastore
            .stage_splits("logs", 0, vec![split("a", 1, 2), split("b", 3, 4)])
            .await
            .unwrap();
        let both = PublishRequest {
            staged_split_ids: vec!["a".into(), "b".into()],
            ..PublishRequest::default()
        };
        metastore.publish_splits("logs", 0, both).await.unwrap();
        metastore
            .stage_splits("logs", 0, vec![split("ab", 1, 4)])
            .await
            .unwrap();
        let merge = PublishRequest {
            staged_split_ids: vec!["ab".into()],
            replaced_split_ids: vec!["a".into(), "b".into()],
            ..PublishRequest::default()
        };
        metastore.publish_splits("logs", 0, merge).await.unwrap();
        let metadata = metastore.index_splits("logs").await.unwrap();
        assert_eq!(metadata.splits["a"].state, SplitState::MarkedForDeletion);
        assert_eq!(metadata.splits["ab"].state, SplitState::Published);
        // A split cannot be replaced twice.
        metastore
            .stage_splits("logs", 0, vec![split("again", 1, 4)])
            .await
            .unwrap();
        let again = PublishRequest {
            staged_split_ids: vec!["again".into()],
            replaced_split_ids: vec!["a".into()],
            ..PublishRequest::default()
        };
        let error = metastore
            .publish_splits("logs", 0, again)
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

    /// Writers of one shard race on its document and all land; writers of different shards
    /// never meet.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_commits_all_land() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        let mut tasks = Vec::new();
        for task_id in 0..8u32 {
            let metastore = metastore.clone();
            tasks.push(tokio::spawn(async move {
                for split_number in 0..5 {
                    let split_id = format!("s{task_id}-{split_number}");
                    index_one(&metastore, task_id % 2, &split_id, &split_id).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let metadata = metastore.index_metadata("logs").await.unwrap();
        assert_eq!(metadata.published_splits().count(), 40);
        assert_eq!(metadata.checkpoint.objects.len(), 40);
        // 20 publish and 20 stage commits per shard, and a compaction or two.
        assert!(metadata.shards.values().all(|shard| shard.generation >= 40));
        assert!(
            metadata
                .splits
                .values()
                .all(|split| split.shard == split.split_id[1..2].parse::<u32>().unwrap() % 2)
        );
    }

    /// An update keeps the mapping it replaces for the splits built with it, refuses what it
    /// may not change without writing anything, is recognised after a lost response, and an
    /// update back to a previous mapping makes it current again.
    #[tokio::test]
    async fn updates_keep_previous_mappings() {
        let storage = Arc::new(FaultyStorage::new(Arc::new(MemoryStorage::default())));
        let metastore = Metastore::new(storage.clone());
        let created = metastore.create_index(config("logs")).await.unwrap();
        let old_uid = created.doc_mapping_uid();
        let mut added = config("logs");
        added.spec.doc_mapping.field_mappings.push(
            IndexConfig::from_yaml(
                "index_id: logs\ndoc_mapping:\n  field_mappings:\n    - {name: level, type: text, tokenizer: raw}\n",
            )
            .unwrap()
            .spec
            .doc_mapping
            .field_mappings
            .remove(0),
        );
        storage.inject(FaultRule::new(Operation::Put, Fault::ResponseLost));
        let (update, updated) = metastore.update_index(added.clone()).await.unwrap();
        assert_eq!(update.added_fields, ["level"]);
        assert_eq!(updated.index_config, added);
        assert_ne!(updated.doc_mapping_uid(), old_uid);
        let old_config = updated.config_of_mapping(&old_uid);
        assert_eq!(old_config.spec.doc_mapping, config("logs").spec.doc_mapping);
        let current = updated.config_of_mapping(&updated.doc_mapping_uid());
        assert_eq!(current.spec.doc_mapping, added.spec.doc_mapping);

        let mut retyped = added.clone();
        retyped.spec.doc_mapping.field_mappings[1] = IndexConfig::from_yaml(
            "index_id: logs\ndoc_mapping:\n  field_mappings:\n    - {name: level, type: u64}\n",
        )
        .unwrap()
        .spec
        .doc_mapping
        .field_mappings
        .remove(0);
        let writes = storage.writes_seen();
        let error = metastore
            .update_index(retyped)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("field `level` cannot change type"),
            "{error}"
        );
        assert_eq!(
            storage.writes_seen(),
            writes,
            "a refused update writes nothing"
        );

        // Back to the first mapping: the one of the update is kept, the first is current.
        let (_, reverted) = metastore.update_index(config("logs")).await.unwrap();
        assert_eq!(reverted.doc_mapping_uid(), old_uid);
        assert!(!reverted.previous_doc_mappings.contains_key(&old_uid));
        assert!(
            reverted
                .previous_doc_mappings
                .contains_key(&updated.doc_mapping_uid())
        );
        let (nothing, _) = metastore.update_index(config("logs")).await.unwrap();
        assert!(nothing.is_empty());
    }

    /// A publish whose write is applied while its caller hears an error (or the 412 of its own
    /// retry) is recognised as applied; one that never reached the store is an error.
    #[tokio::test]
    async fn ambiguous_writes_are_recognised_as_ours() {
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
            // Even a shard's first document.
            storage.inject(FaultRule::new(Operation::Put, fault).path_contains("shards/"));
            let staged = metastore
                .stage_splits("logs", 0, vec![split("a", 1, 2)])
                .await;
            if fault == Fault::Unavailable {
                assert!(staged.is_err());
                metastore
                    .stage_splits("logs", 0, vec![split("a", 1, 2)])
                    .await
                    .unwrap();
            } else {
                staged.unwrap_or_else(|error| panic!("{fault:?}: {error}"));
            }
            storage.inject(FaultRule::new(Operation::Put, fault).path_contains("shards/"));
            let published = metastore
                .publish_splits("logs", 0, publish_one("a", "bucket/k1"))
                .await;
            let metadata = metastore.index_metadata("logs").await.unwrap();
            if fault == Fault::Unavailable {
                assert!(published.is_err());
                assert_eq!(metadata.splits["a"].state, SplitState::Staged);
                assert!(metadata.checkpoint.objects.is_empty());
            } else {
                published.unwrap_or_else(|error| panic!("{fault:?}: {error}"));
                assert_eq!(metadata.splits["a"].state, SplitState::Published);
                assert!(metadata.checkpoint.contains("bucket/k1", "e"));
            }
        }
    }

    /// Someone else's write is still a conflict, and an unreadable document after a failed
    /// write leaves the error as it was.
    #[tokio::test]
    async fn other_writers_and_unknown_outcomes_stay_errors() {
        let storage = Arc::new(FaultyStorage::new(Arc::new(MemoryStorage::default())));
        let metastore = Metastore::new(storage.clone());
        metastore.create_index(config("logs")).await.unwrap();
        metastore
            .stage_splits("logs", 0, vec![split("a", 1, 2), split("b", 1, 2)])
            .await
            .unwrap();
        metastore
            .publish_splits("logs", 0, publish_one("a", "bucket/k1"))
            .await
            .unwrap();
        let error = metastore
            .publish_splits("logs", 0, publish_one("b", "bucket/k1"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::CheckpointConflict { .. }), "{error}");

        storage.inject(FaultRule::new(Operation::Put, Fault::ResponseLost));
        // The commit's own read goes through; the re-read after the lost response does not.
        storage.inject(
            FaultRule::new(Operation::Read, Fault::Unavailable)
                .path_contains("shards/")
                .skip(2),
        );
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

    /// An object indexed under an earlier shard count is found by the shard it goes to now,
    /// whichever that is.
    #[tokio::test]
    async fn an_object_is_looked_up_in_every_shard_that_may_hold_it() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        // `..-05` went to shard 1 of 2; under 8 shards it goes to shard 5.
        let key = "bucket/firehose/x-05";
        index_one(&metastore, 1, "a", key).await;
        let found = metastore
            .checkpoint_entries("logs", 5, &[key.to_string(), "bucket/other-07".into()])
            .await
            .unwrap();
        assert!(found.contains(key, "e"));
        assert_eq!(found.objects.len(), 1);
        // Shard 3 is no candidate of `..-05`: a key is never looked for where it cannot be.
        index_one(&metastore, 3, "b", "bucket/firehose/y-06").await;
        let found = metastore
            .checkpoint_entries("logs", 5, &["bucket/firehose/y-06".to_string()])
            .await
            .unwrap();
        assert!(found.objects.is_empty());
    }

    /// Segments compact by tier as publishes add them: a shard keeps a few dozen references
    /// whatever the number of objects, and every entry stays findable.
    #[tokio::test]
    async fn checkpoint_segments_stay_few_and_complete() {
        let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
        metastore.create_index(config("logs")).await.unwrap();
        for number in 0..300 {
            index_one(
                &metastore,
                0,
                &format!("s{number:03}"),
                &format!("b/k{number:03}"),
            )
            .await;
        }
        let metadata = metastore.index_metadata("logs").await.unwrap();
        assert_eq!(metadata.checkpoint.objects.len(), 300);
        let shard = &metadata.shards[&0];
        assert!(shard.checkpoint_segments.len() <= 3 * 7, "{shard:?}");
        assert_eq!(shard.num_checkpoint_objects, 300);
        // Replaced segments are orphans for garbage collection.
        let orphans = metastore.unreferenced_segments("logs").await.unwrap();
        let files = metastore
            .storage()
            .list(&paths::checkpoints_prefix("logs"))
            .await
            .unwrap();
        assert_eq!(files.len() - orphans.len(), shard.checkpoint_segments.len());
    }

    /// Maintenance's compaction drops what is past retention from a shard no longer fed:
    /// whole segments without a read, and expired inline entries.
    #[tokio::test]
    async fn an_idle_shard_is_compacted_past_retention() {
        let clock = Arc::new(ManualClock::new(1_000));
        let metastore = Metastore::with_clock(Arc::new(MemoryStorage::default()), clock.clone());
        metastore.create_index(config("logs")).await.unwrap();
        let half = (INLINE_CHECKPOINT_ENTRIES / 2) as u64;
        // At 1_000 .. 1_400: every second publish fills the inline entries, which move to a
        // segment (1_000-1_100, then 1_200-1_300); the last two entries stay inline.
        for (number, entries) in [half, half, half, half, 2].into_iter().enumerate() {
            let request = PublishRequest {
                checkpoint_delta: (0..entries)
                    .map(|entry| (object(&format!("b/k{number}-{entry:03}"), "e"), None))
                    .collect(),
                ..PublishRequest::default()
            };
            metastore.publish_splits("logs", 0, request).await.unwrap();
            clock.advance_secs(100);
        }
        let shard = &metastore.index_metadata("logs").await.unwrap().shards[&0];
        assert_eq!(shard.checkpoint_segments.len(), 2);
        assert_eq!(shard.inline_checkpoint.len(), 2);
        assert_eq!(shard.num_checkpoint_objects, 4 * half + 2);
        assert_eq!(
            metastore.compact_checkpoint("logs", 0, None).await.unwrap(),
            0
        );

        // The first segment is wholly past the cutoff: dropped without a read.
        let dropped = metastore
            .compact_checkpoint("logs", 0, Some(1_150))
            .await
            .unwrap();
        assert_eq!(dropped, 1);
        let metadata = metastore.index_metadata("logs").await.unwrap();
        assert_eq!(metadata.checkpoint.objects.len() as u64, 2 * half + 2);
        assert!(
            metadata
                .checkpoint
                .objects
                .keys()
                .all(|key| key >= &"b/k2".to_string())
        );

        // Then the second segment and the inline entries.
        let dropped = metastore
            .compact_checkpoint("logs", 0, Some(1_450))
            .await
            .unwrap();
        assert_eq!(dropped, 2);
        let metadata = metastore.index_metadata("logs").await.unwrap();
        assert!(metadata.checkpoint.objects.is_empty());
        assert_eq!(metadata.shards[&0].num_checkpoint_objects, 0);
        // The dropped segments are orphans for garbage collection.
        assert_eq!(
            metastore.unreferenced_segments("logs").await.unwrap().len(),
            2
        );
    }

    /// A format 1 document is read as it is, and migrated by the first commit; a second
    /// migration of the same document (one that raced, or crashed) agrees with the first.
    #[tokio::test]
    async fn format_1_indexes_are_read_then_migrated() {
        let storage: SharedStorage = Arc::new(MemoryStorage::default());
        let mut legacy_splits = BTreeMap::new();
        let mut published = split("old", 1, 2);
        published.state = SplitState::Published;
        legacy_splits.insert("old".to_string(), published);
        let mut checkpoint = SourceCheckpoint::default();
        checkpoint.objects.insert(
            "bucket/k0".to_string(),
            CheckpointEntry {
                etag: "e".to_string(),
                split_id: Some("old".to_string()),
                indexed_at: 5,
            },
        );
        let legacy = LegacyIndexDocument {
            format_version: 1,
            index_config: config("logs"),
            create_timestamp: 7,
            generation: 3,
            splits: legacy_splits,
            checkpoint,
            recent_commits: vec!["c".to_string()],
        };
        let bytes = serde_json::to_vec(&legacy).unwrap();
        storage
            .put("metastore/logs.json", bytes.into(), PutMode::Create)
            .await
            .unwrap();
        let version = storage.head("metastore/logs.json").await.unwrap().version;

        let reader = Metastore::new(storage.clone());
        let before = reader.index_metadata("logs").await.unwrap();
        assert_eq!(before.format_version, 1);
        assert_eq!(before.published_splits().count(), 1);
        assert!(before.checkpoint.contains("bucket/k0", "e"));
        let (_, cached_version) = reader.index_splits_versioned("logs").await.unwrap();

        // A second writer publishes into shard 2 first: the index migrates, then a racing
        // migration of the same format 1 document changes nothing.
        let writer = Metastore::new(storage.clone());
        index_one(&writer, 2, "new", "bucket/k2").await;
        let racing = Metastore::new(storage.clone());
        let uid = racing
            .migrate("logs", legacy.clone(), version)
            .await
            .unwrap();
        assert_eq!(uid, legacy.migrated_uid());

        let after = reader.index_metadata("logs").await.unwrap();
        assert_eq!(after.format_version, 2);
        assert_eq!(after.published_splits().count(), 2);
        assert_eq!(after.checkpoint.objects.len(), 2);
        assert!(
            reader
                .checkpoint_entries("logs", 0, &["bucket/k0".to_string()])
                .await
                .unwrap()
                .contains("bucket/k0", "e")
        );
        // A cached view notices the migration.
        let (fresh, _) = reader
            .index_splits_if_modified("logs", &before, &cached_version)
            .await
            .unwrap()
            .expect("changed");
        assert_eq!(fresh.splits.len(), 2);
    }

    /// A migration whose writes lose their responses (each of its three writes in turn, and
    /// the SDK retrying an applied one) still completes, once, with nothing lost.
    #[tokio::test]
    async fn migrations_recognise_their_own_writes() {
        let mut splits = BTreeMap::new();
        let mut published = split("old", 1, 2);
        published.state = SplitState::Published;
        splits.insert("old".to_string(), published);
        let mut checkpoint = SourceCheckpoint::default();
        let entry = CheckpointEntry {
            etag: "e".to_string(),
            split_id: Some("old".to_string()),
            indexed_at: 5,
        };
        checkpoint.objects.insert("bucket/k0".to_string(), entry);
        let legacy = LegacyIndexDocument {
            format_version: 1,
            index_config: config("logs"),
            create_timestamp: 7,
            generation: 3,
            splits,
            checkpoint,
            recent_commits: vec!["c".to_string()],
        };
        // The migration's writes: the segment, shard 0's document, the index document.
        for position in 0..3 {
            for fault in [Fault::ResponseLost, Fault::Retried] {
                let context = format!("{fault:?} on write {position}");
                let storage = Arc::new(FaultyStorage::new(Arc::new(MemoryStorage::default())));
                let bytes = serde_json::to_vec(&legacy).unwrap();
                storage
                    .put("metastore/logs.json", bytes.into(), PutMode::Create)
                    .await
                    .unwrap();
                storage.inject(FaultRule::new(Operation::Write, fault).skip(position));
                let metastore = Metastore::new(storage.clone());
                metastore
                    .stage_splits("logs", 0, vec![split("new", 1, 2)])
                    .await
                    .unwrap_or_else(|error| panic!("{context}: {error}"));
                assert_eq!(storage.faults_injected(), 1, "{context}");
                let metadata = Metastore::new(storage.clone())
                    .index_metadata("logs")
                    .await
                    .unwrap();
                assert_eq!(metadata.format_version, 2, "{context}");
                assert_eq!(metadata.index_uid, legacy.migrated_uid(), "{context}");
                assert_eq!(metadata.splits.len(), 2, "{context}");
                assert_eq!(metadata.splits["old"].state, SplitState::Published);
                assert_eq!(metadata.checkpoint, legacy.checkpoint, "{context}");
            }
        }
    }

    /// Revalidation re-reads only what changed, and a leftover shard document of a deleted
    /// index never shows in a new one.
    #[tokio::test]
    async fn revalidation_and_leftovers() {
        let storage: SharedStorage = Arc::new(MemoryStorage::default());
        let metastore = Metastore::new(storage.clone());
        metastore.create_index(config("logs")).await.unwrap();
        index_one(&metastore, 0, "a", "b/k0").await;
        index_one(&metastore, 1, "b", "b/k1").await;
        let (view, version) = metastore.index_splits_versioned("logs").await.unwrap();
        assert!(
            metastore
                .index_splits_if_modified("logs", &view, &version)
                .await
                .unwrap()
                .is_none()
        );
        index_one(&metastore, 1, "c", "b/k2").await;
        let (fresh, fresh_version) = metastore
            .index_splits_if_modified("logs", &view, &version)
            .await
            .unwrap()
            .expect("shard 1 changed");
        assert_eq!(fresh, metastore.index_splits("logs").await.unwrap());
        assert_eq!(fresh_version.shards[&0], version.shards[&0]);

        // Delete the index document only (a crashed delete), and create the index again.
        let leftovers = Metastore::new(storage.clone());
        leftovers.delete_index("logs").await.unwrap();
        leftovers.create_index(config("logs")).await.unwrap();
        assert!(
            leftovers
                .index_splits("logs")
                .await
                .unwrap()
                .splits
                .is_empty()
        );
        // A writer learns the new uid at the start of its run (`index_info`), and never
        // writes for the old incarnation.
        metastore.index_info("logs").await.unwrap();
        index_one(&metastore, 1, "d", "b/k3").await;
        let metadata = leftovers.index_metadata("logs").await.unwrap();
        assert_eq!(metadata.splits.keys().collect::<Vec<_>>(), ["d"]);
        assert_eq!(metadata.checkpoint.objects.len(), 1);
    }
}
