//! The documents of an index as stored, and the view readers get of them.
//!
//! Format 2 (this build writes it) keeps three things apart, each read by who needs it:
//!
//! - the **index document** (`metastore/{index_id}.json`, [`IndexDocument`]): the config and
//!   the index's uid, written at creation only;
//! - one **shard document** per shard (`indexes/{index_id}/shards/{shard}.json`,
//!   [`ShardDocument`]): the splits that shard published and the references to its checkpoint
//!   segments, changed by compare-and-swap commits;
//! - the **checkpoint segments** (`checkpoint.rs`), immutable, read by indexers only.
//!
//! Format 1 held all of it in the index document. Such a document is still read (its content
//! is shard 0) and is migrated to format 2 by the first commit (`Metastore::index_uid`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointEntry, SegmentRef, SourceCheckpoint};
use crate::document::Document;
use crate::error::{Error, Result};
use crate::paths;
use crate::shard::ShardId;
use crate::split::{SplitMetadata, SplitState, TimeRange};
use hydrant_index::config::{DocMapping, IndexConfig};
use hydrant_storage::ObjectVersion;

/// The format this build writes: an index document, shard documents, checkpoint segments.
pub const METASTORE_FORMAT_VERSION: u32 = 2;
/// Format of the shard documents this build writes. Format 3 added
/// [`ShardDocument::inline_checkpoint`]; format 2 documents read as format 3 without it. A
/// build that reads only format 2 refuses a format 3 document instead of missing its inline
/// entries (which would index their objects a second time).
pub const SHARD_FORMAT_VERSION: u32 = 3;
/// Shard document formats this build reads.
const SHARD_FORMATS_READ: [u32; 2] = [2, SHARD_FORMAT_VERSION];
/// The format with everything in the index document, still read and migrated on first write.
pub const LEGACY_FORMAT_VERSION: u32 = 1;

/// An index document, format 2: what the index is, written once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexDocument {
    pub format_version: u32,
    /// Unique to this incarnation of the index: shard documents carry it, so that the leftovers
    /// of a deleted index of the same id are never read as the new one's.
    pub index_uid: String,
    pub index_config: IndexConfig,
    /// Unix seconds.
    pub create_timestamp: i64,
    /// The doc mappings the index had before its updates, by uid (`DocMapping::uid`): the
    /// splits built with one are searched with it. Kept for as long as the index is, since a
    /// split may outlive any number of updates (they are small, and updates are rare).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub previous_doc_mappings: BTreeMap<String, DocMapping>,
    /// Unix seconds of the last update of the config, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_timestamp: Option<i64>,
}

/// An index document, format 1: config, splits, checkpoint and commit ids in one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegacyIndexDocument {
    pub format_version: u32,
    pub index_config: IndexConfig,
    pub create_timestamp: i64,
    pub generation: u64,
    pub splits: BTreeMap<String, SplitMetadata>,
    pub checkpoint: SourceCheckpoint,
    #[serde(default)]
    pub recent_commits: Vec<String>,
}

impl LegacyIndexDocument {
    /// The uid its migration gives the index: the same whichever process migrates it, so that
    /// two migrations of one document agree.
    pub fn migrated_uid(&self) -> String {
        format!("v1-{}", self.create_timestamp)
    }
}

/// An index document of either format.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StoredIndex {
    Current(IndexDocument),
    Legacy(LegacyIndexDocument),
}

impl StoredIndex {
    pub fn index_uid(&self) -> String {
        match self {
            StoredIndex::Current(document) => document.index_uid.clone(),
            StoredIndex::Legacy(document) => document.migrated_uid(),
        }
    }

    pub fn info(&self) -> IndexInfo {
        match self {
            StoredIndex::Current(document) => IndexInfo {
                format_version: document.format_version,
                index_uid: document.index_uid.clone(),
                index_config: document.index_config.clone(),
                create_timestamp: document.create_timestamp,
                previous_doc_mappings: document.previous_doc_mappings.clone(),
            },
            StoredIndex::Legacy(document) => IndexInfo {
                format_version: document.format_version,
                index_uid: document.migrated_uid(),
                index_config: document.index_config.clone(),
                create_timestamp: document.create_timestamp,
                previous_doc_mappings: BTreeMap::new(),
            },
        }
    }
}

impl StoredIndex {
    /// An index document read back: its format version first, then the document of that
    /// format, straight from the bytes (no intermediate `Value`: the config's deserializer is
    /// the largest in the crate, and one instance of it is enough in a Lambda package).
    pub fn parse(location: &str, bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct VersionProbe {
            format_version: u32,
        }
        let probe: VersionProbe = serde_json::from_slice(bytes).map_err(|error| {
            Error::corrupt(location, format!("not a metastore document: {error}"))
        })?;
        let parsed = match probe.format_version {
            METASTORE_FORMAT_VERSION => serde_json::from_slice(bytes).map(StoredIndex::Current),
            LEGACY_FORMAT_VERSION => serde_json::from_slice(bytes).map(StoredIndex::Legacy),
            other => {
                return Err(Error::corrupt(
                    location,
                    format!(
                        "metastore format version {other} is not supported (this build reads \
                         {LEGACY_FORMAT_VERSION} and {METASTORE_FORMAT_VERSION})"
                    ),
                ));
            }
        };
        parsed.map_err(|error| Error::corrupt(location, error))
    }
}

impl Document for StoredIndex {
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
        // A new index document holds a fresh uid, and nothing else writes it.
        self.index_uid() == stored.index_uid()
    }

    fn parse(location: &str, bytes: &[u8]) -> Result<Self> {
        StoredIndex::parse(location, bytes)
    }
}

/// A shard document: what one shard published, changed only by compare-and-swap commits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardDocument {
    pub format_version: u32,
    /// The [`IndexDocument::index_uid`] it belongs to; a document with another is a leftover.
    pub index_uid: String,
    pub shard: ShardId,
    /// Incremented by every commit.
    pub generation: u64,
    /// Splits by id, each with `shard` set to this shard.
    pub splits: BTreeMap<String, SplitMetadata>,
    /// The checkpoint segments, oldest first.
    pub checkpoint: Vec<SegmentRef>,
    /// The newest checkpoint entries, by source key, newer than every segment: a publish adds
    /// its delta here, in the commit that publishes its splits, so that it writes nothing but
    /// this document. Moved into a segment once
    /// [`INLINE_CHECKPOINT_ENTRIES`](crate::checkpoint::INLINE_CHECKPOINT_ENTRIES) accumulate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_checkpoint: BTreeMap<String, CheckpointEntry>,
    /// Unix seconds of the last publish.
    #[serde(default)]
    pub last_publish_timestamp: Option<i64>,
    /// Ids of the last commits, newest last: how a committer recognises its own write after an
    /// error (see `Metastore::commit_shard`).
    pub recent_commits: Vec<String>,
}

impl ShardDocument {
    pub fn new(index_uid: &str, shard: ShardId) -> Self {
        ShardDocument {
            format_version: SHARD_FORMAT_VERSION,
            index_uid: index_uid.to_string(),
            shard,
            generation: 0,
            splits: BTreeMap::new(),
            checkpoint: Vec::new(),
            inline_checkpoint: BTreeMap::new(),
            last_publish_timestamp: None,
            recent_commits: Vec::new(),
        }
    }

    pub(crate) fn parse(location: &str, bytes: &[u8]) -> Result<Self> {
        let mut document: ShardDocument =
            serde_json::from_slice(bytes).map_err(|error| Error::corrupt(location, error))?;
        if !SHARD_FORMATS_READ.contains(&document.format_version) {
            return Err(Error::corrupt(
                location,
                format!(
                    "shard document format {} is not supported (this build reads {:?})",
                    document.format_version, SHARD_FORMATS_READ
                ),
            ));
        }
        // Written back in this build's format.
        document.format_version = SHARD_FORMAT_VERSION;
        Ok(document)
    }

    /// What a reader is told of this shard; `document_bytes` is its stored size.
    pub fn summary(&self, document_bytes: u64) -> ShardSummary {
        ShardSummary {
            shard: self.shard,
            generation: self.generation,
            num_published_splits: self
                .splits
                .values()
                .filter(|split| split.state == SplitState::Published)
                .count(),
            num_splits: self.splits.len(),
            last_publish_timestamp: self.last_publish_timestamp,
            num_checkpoint_objects: self
                .checkpoint
                .iter()
                .map(|segment| segment.num_objects)
                .sum::<u64>()
                + self.inline_checkpoint.len() as u64,
            checkpoint_segments: self.checkpoint.clone(),
            inline_checkpoint: self.inline_checkpoint.clone(),
            document_bytes,
        }
    }
}

/// What an index is, without its splits: the index document's content.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexInfo {
    /// Of the stored index document: 1 until its first commit migrates it.
    pub format_version: u32,
    pub index_uid: String,
    pub index_config: IndexConfig,
    /// Unix seconds.
    pub create_timestamp: i64,
    /// See [`IndexDocument::previous_doc_mappings`].
    pub previous_doc_mappings: BTreeMap<String, DocMapping>,
}

/// What a reader sees of one shard.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardSummary {
    pub shard: ShardId,
    pub generation: u64,
    pub num_published_splits: usize,
    /// In any state.
    pub num_splits: usize,
    pub last_publish_timestamp: Option<i64>,
    /// Entries over its checkpoint segments (an object indexed again under a new etag counts
    /// twice until compaction).
    pub num_checkpoint_objects: u64,
    pub checkpoint_segments: Vec<SegmentRef>,
    /// The entries not yet in a segment (newer than all of them).
    pub inline_checkpoint: BTreeMap<String, CheckpointEntry>,
    /// Bytes of the shard document as stored: what a cold reader of this shard reads.
    pub document_bytes: u64,
}

/// The storage versions an [`IndexMetadata`] was assembled from: a reader revalidates by
/// comparing them (one conditional GET and one listing), re-reading only what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexVersion {
    pub index: ObjectVersion,
    pub shards: BTreeMap<ShardId, ObjectVersion>,
}

/// An index as readers see it: its config and every shard's splits.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexMetadata {
    /// Of the stored index document: 1 until its first commit migrates it.
    pub format_version: u32,
    pub index_uid: String,
    pub index_config: IndexConfig,
    /// Unix seconds.
    pub create_timestamp: i64,
    /// See [`IndexDocument::previous_doc_mappings`].
    pub previous_doc_mappings: BTreeMap<String, DocMapping>,
    /// Splits of every shard, by id.
    pub splits: BTreeMap<String, SplitMetadata>,
    pub shards: BTreeMap<ShardId, ShardSummary>,
    /// The checkpoint of every shard: read by [`crate::Metastore::index_metadata`] (the
    /// operator's whole view) and left empty by the split views searchers read
    /// ([`crate::Metastore::index_splits`]), which never need it.
    pub checkpoint: SourceCheckpoint,
}

impl IndexMetadata {
    pub fn index_id(&self) -> &str {
        &self.index_config.index_id
    }

    pub fn info(&self) -> IndexInfo {
        IndexInfo {
            format_version: self.format_version,
            index_uid: self.index_uid.clone(),
            index_config: self.index_config.clone(),
            create_timestamp: self.create_timestamp,
            previous_doc_mappings: self.previous_doc_mappings.clone(),
        }
    }

    /// The config a split of doc mapping `doc_mapping_uid` was built with: the current one
    /// with that mapping, when the mapping is a previous one, and no default search fields (the
    /// current ones may name fields that mapping lacks: a search passes them itself). Any other
    /// uid (the current mapping's, or one this index never had, as a split of a build that
    /// serialized mappings differently would record) is the current config.
    pub fn config_of_mapping(&self, doc_mapping_uid: &str) -> Cow<'_, IndexConfig> {
        match self.previous_doc_mappings.get(doc_mapping_uid) {
            Some(doc_mapping) => {
                let mut config = self.index_config.clone();
                config.spec.doc_mapping = doc_mapping.clone();
                config.spec.search_settings.default_search_fields.clear();
                Cow::Owned(config)
            }
            None => Cow::Borrowed(&self.index_config),
        }
    }

    /// The uid of the current doc mapping, which new splits record.
    pub fn doc_mapping_uid(&self) -> String {
        self.index_config.spec.doc_mapping.uid()
    }

    /// The view of an index document and its shard documents.
    pub(crate) fn assemble(
        info: IndexInfo,
        shards: impl IntoIterator<Item = (ShardDocument, u64)>,
    ) -> Self {
        let mut metadata = IndexMetadata {
            format_version: info.format_version,
            index_uid: info.index_uid,
            index_config: info.index_config,
            create_timestamp: info.create_timestamp,
            previous_doc_mappings: info.previous_doc_mappings,
            splits: BTreeMap::new(),
            shards: BTreeMap::new(),
            checkpoint: SourceCheckpoint::default(),
        };
        for (document, bytes) in shards {
            metadata.add_shard(document, bytes);
        }
        metadata
    }

    /// Replaces what the view holds of `document`'s shard by `document`.
    pub(crate) fn add_shard(&mut self, document: ShardDocument, document_bytes: u64) {
        let shard = document.shard;
        self.splits.retain(|_, split| split.shard != shard);
        self.shards.insert(shard, document.summary(document_bytes));
        for (split_id, mut split) in document.splits {
            split.shard = shard;
            self.splits.insert(split_id, split);
        }
    }

    /// Drops a shard from the view.
    pub(crate) fn remove_shard(&mut self, shard: ShardId) {
        self.splits.retain(|_, split| split.shard != shard);
        self.shards.remove(&shard);
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
