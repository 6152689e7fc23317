//! The indexing pipeline: staging objects in, published splits out.
//!
//! [`Indexer::index_objects`] is the whole job of one invocation, in order:
//!
//! 1. read the index's metastore document; objects whose key and etag are in the checkpoint
//!    are skipped (a redelivered message is a no-op);
//! 2. read each object, decompress, frame records, map them to documents; records that do not
//!    parse or fit the mapping are rejected one by one and kept under `errors/`;
//! 3. close splits at `split_num_docs_target` documents, upload them, then publish them and
//!    advance the checkpoint in **one** commit: a run of one split writes two objects.
//!
//! A crash anywhere before that commit publishes nothing (the retry redoes the work; uploaded
//! but unpublished split files are known to no document, and garbage collection deletes them);
//! a crash after it makes the retry a no-op. Objects are processed in order. An object that
//! can never be read (gone, or a key no storage can hold) is reported [`ObjectOutcome::SetAside`] and the run goes on; the
//! first object that cannot be read *for now* (a timeout, a 5xx) stops the run: what came
//! before it is published, it and what follows are reported failed, which is what an SQS FIFO
//! batch needs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_index::doc_mapper::{DocMapper, DocRejection, ParsedDoc, RejectReason};
use hydrant_index::partition::OTHER_PARTITION_ID;
use hydrant_metastore::{Error as MetastoreError, Metastore};
use hydrant_metastore::{PublishRequest, ShardId, SourceCheckpoint, SourceObject};
use hydrant_storage::{ObjectMeta, SharedStorage, recognise};
use serde::Serialize;
use tracing::{debug, warn};

use crate::error::{FailureKind, IngestError, Result};
use crate::error_records::{self, RejectedRecord, RejectedRecordsWriter};
use crate::firehose::{
    CorruptMember, Frame, MAX_RECORD_BYTES, RecordFramer, corrupt_member, decompressing_reader,
};
use crate::object_reader::{ChannelReader, open_object};
use crate::split_builder::{BuiltSplit, SplitBuilder, upload_split};
use crate::staging::{ObjectRef, StagingBuckets};

/// Runs indexing for any index of one metastore.
#[derive(Clone, Debug)]
pub struct Indexer {
    metastore: Metastore,
    staging: StagingBuckets,
    temp_root: Option<PathBuf>,
    checkpoint_retention: Duration,
    min_time_to_finish: Duration,
}

/// Checkpoint entries older than this are pruned: longer than SQS's longest retention
/// (14 days), so no message can still be delivered for an object the checkpoint forgot.
pub const DEFAULT_CHECKPOINT_RETENTION: Duration = Duration::from_secs(15 * 86_400);
/// Time kept in reserve before a deadline to finish, upload and publish splits.
pub const DEFAULT_MIN_TIME_TO_FINISH: Duration = Duration::from_secs(10);

/// What happened to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ObjectOutcome {
    /// Its records are now searchable (or rejected and kept).
    Indexed { num_docs: u64, num_rejected: u64 },
    /// The checkpoint already had this object and etag.
    AlreadyIndexed,
    /// It can never be indexed (it is gone, or its key cannot be read): the caller records it
    /// and sets its message aside, and the run goes on with the next object.
    SetAside { reason: String },
}

/// An object that could not be read for a reason that may pass (a timeout, a 5xx, a broken
/// download); it and every later object of the run were not indexed.
#[derive(Debug)]
pub struct ObjectFailure {
    /// Position of the object in the input.
    pub position: usize,
    pub source_key: String,
    pub error: IngestError,
}

/// Summary of one published split.
#[derive(Clone, Debug, Serialize)]
pub struct SplitSummary {
    pub split_id: String,
    pub num_docs: u64,
    pub split_size_bytes: u64,
}

/// What an indexing run did.
#[derive(Debug, Default, Serialize)]
pub struct IndexingReport {
    pub index_id: String,
    /// The shard the run published into.
    pub shard: ShardId,
    /// One entry per object before the failure (if any), in input order.
    pub objects: Vec<(String, ObjectOutcome)>,
    pub num_docs: u64,
    pub num_rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Bytes read from staging (compressed).
    pub bytes_read: u64,
    /// Bytes of records after decompression.
    pub bytes_uncompressed: u64,
    pub splits: Vec<SplitSummary>,
    /// Objects that had rejected records, and where those records were kept.
    pub error_files: Vec<String>,
    #[serde(skip)]
    pub failure: Option<ObjectFailure>,
    /// Position of the first object not attempted because the deadline was near.
    pub deadline_stop: Option<usize>,
    pub elapsed_micros: u64,
}

impl IndexingReport {
    fn log_finished(&self) {
        debug!(
            index_id = self.index_id,
            shard = self.shard,
            objects = self.num_objects_indexed(),
            docs = self.num_docs,
            rejected = self.num_rejected,
            splits = self.splits.len(),
            elapsed_ms = self.elapsed_micros / 1000,
            "indexing run finished"
        );
    }

    /// Counts an indexed object; returns its rejected records, if any, to keep.
    fn add_object(&mut self, source_key: String, stats: ObjectStats) -> Option<ObjectRejections> {
        self.num_docs += stats.num_docs;
        self.bytes_uncompressed += stats.uncompressed_bytes;
        self.num_rejected += stats.rejections.count();
        for (reason, count) in stats.rejected_by_reason {
            *self.rejected_by_reason.entry(reason).or_default() += count;
        }
        self.objects.push((
            source_key,
            ObjectOutcome::Indexed {
                num_docs: stats.num_docs,
                num_rejected: stats.rejections.count(),
            },
        ));
        (stats.rejections.count() > 0).then_some(stats.rejections)
    }

    /// Number of objects whose records were indexed by this run.
    pub fn num_objects_indexed(&self) -> usize {
        self.objects
            .iter()
            .filter(|(_, outcome)| matches!(outcome, ObjectOutcome::Indexed { .. }))
            .count()
    }
}

/// Rejected records of one object, as they will be kept.
struct ObjectRejections {
    source_key: String,
    etag: String,
    records: RejectedRecordsWriter,
}

impl ObjectRejections {
    fn new(source_key: &str, etag: &str) -> Self {
        ObjectRejections {
            source_key: source_key.to_string(),
            etag: etag.to_string(),
            records: RejectedRecordsWriter::default(),
        }
    }

    fn add(&mut self, reason: &str, message: &str, offset: u64, record: &[u8]) {
        let record = RejectedRecord::new(reason, message, &self.source_key, offset, record);
        self.records.add(&record);
    }

    fn count(&self) -> u64 {
        self.records.count()
    }
}

/// What the objects of one run share while they are indexed one by one.
struct RunContext<'a> {
    index_id: &'a str,
    doc_mapper: Arc<DocMapper>,
    objects: &'a [ObjectRef],
    /// What was read of each object: a rebuild reads the same versions again.
    read_etags: Vec<Option<String>>,
}

/// A staging object, as [`Indexer::open_unindexed`] finds it.
enum Opened {
    /// Not to be indexed: the checkpoint has this version (its records are searchable), or
    /// it can never be read (gone, or a key no storage can hold) and is set aside.
    Skipped(ObjectOutcome),
    /// Open, streaming: its storage, what was read, and the reader.
    Ready(SharedStorage, ObjectMeta, ChannelReader),
}

/// Splits being filled, one per partition (a single one without a partition key); a
/// partition's split is finished when it reaches the target and the next one starts.
struct SplitRoller {
    doc_mapper: Arc<DocMapper>,
    split_num_docs_target: u64,
    heap_size_bytes: u64,
    temp_root: Option<PathBuf>,
    current: BTreeMap<u64, PartitionSplit>,
    /// Partitions of this run; past `max_num_partitions`, new ones go to the overflow one.
    partitions: BTreeSet<u64>,
    /// The position of the object being added.
    object_position: usize,
    /// The split the last document went into: what the checkpoint links its object to.
    last_split_id: Option<String>,
    /// During a rebuild, where each partition's split had its documents from: a frame read
    /// again that is not among them is in a finished split already, and is skipped.
    replaying: Option<BTreeMap<u64, Vec<(usize, u64)>>>,
    finished: Vec<BuiltSplit>,
}

/// The split being filled for one partition.
struct PartitionSplit {
    builder: SplitBuilder,
    /// Where its documents come from, in order: the object's position in the run and the
    /// offset of its first frame in this split. What a rebuild reads again.
    sources: Vec<(usize, u64)>,
}

impl SplitRoller {
    fn new(
        doc_mapper: Arc<DocMapper>,
        settings: &hydrant_index::config::IndexingSettings,
        temp_root: Option<PathBuf>,
    ) -> Self {
        SplitRoller {
            doc_mapper,
            split_num_docs_target: settings.split_num_docs_target,
            heap_size_bytes: settings.resources.heap_size,
            temp_root,
            current: BTreeMap::new(),
            partitions: BTreeSet::new(),
            object_position: 0,
            last_split_id: None,
            replaying: None,
            finished: Vec::new(),
        }
    }

    /// Documents added from now on come from the object at `position` of the run.
    fn begin_object(&mut self, position: usize) {
        self.object_position = position;
    }

    /// The partition a document of `partition_id` goes to: its own, or the overflow one once
    /// the run has `max_num_partitions`.
    fn route(&mut self, partition_id: u64) -> u64 {
        if self.partitions.contains(&partition_id) {
            return partition_id;
        }
        if self.partitions.len() < self.doc_mapper.max_num_partitions() as usize {
            self.partitions.insert(partition_id);
            return partition_id;
        }
        OTHER_PARTITION_ID
    }

    /// Adds the document of the frame at `frame_offset`; with `may_roll`, a split that reaches
    /// the target is finished here.
    fn add(
        &mut self,
        parsed: ParsedDoc,
        num_bytes: u64,
        frame_offset: u64,
        may_roll: bool,
    ) -> Result<()> {
        let partition = self.route(parsed.partition_id);
        if let Some(replaying) = &self.replaying {
            let position = self.object_position;
            let was_current = replaying.get(&partition).is_some_and(|sources| {
                sources
                    .iter()
                    .any(|(source, start)| *source == position && frame_offset >= *start)
            });
            if !was_current {
                return Ok(());
            }
        }
        let split = match self.current.entry(partition) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => entry.insert(PartitionSplit {
                builder: SplitBuilder::for_partition(
                    &self.doc_mapper,
                    self.doc_mapper.doc_mapping_uid(),
                    partition,
                    self.heap_size_bytes,
                    self.temp_root.as_deref(),
                )?,
                sources: Vec::new(),
            }),
        };
        if split
            .sources
            .last()
            .is_none_or(|(position, _)| *position != self.object_position)
        {
            split.sources.push((self.object_position, frame_offset));
        }
        split
            .builder
            .add(parsed.doc, parsed.timestamp_nanos, num_bytes)?;
        self.last_split_id = Some(split.builder.split_id().to_string());
        if may_roll && split.builder.num_docs() >= self.split_num_docs_target {
            let full = self.current.remove(&partition).expect("present");
            self.finished.push(full.builder.finish()?);
        }
        Ok(())
    }

    /// Finishes every split that reached the target.
    fn roll_if_full(&mut self) -> Result<()> {
        let full: Vec<u64> = self
            .current
            .iter()
            .filter(|(_, split)| split.builder.num_docs() >= self.split_num_docs_target)
            .map(|(partition, _)| *partition)
            .collect();
        for partition in full {
            let split = self.current.remove(&partition).expect("present");
            self.finished.push(split.builder.finish()?);
        }
        Ok(())
    }

    /// Empties the splits being filled, keeping their ids, and returns where their documents
    /// came from (each object once, from the first offset any split needs), so that the
    /// caller can add them again; until [`SplitRoller::end_replay`], only documents that were
    /// in those splits are added. Blocking.
    fn restart_current(&mut self) -> Result<Vec<(usize, u64)>> {
        let mut replaying = BTreeMap::new();
        let mut from: BTreeMap<usize, u64> = BTreeMap::new();
        for (partition, split) in std::mem::take(&mut self.current) {
            for &(position, start) in &split.sources {
                let first = from.entry(position).or_insert(start);
                *first = (*first).min(start);
            }
            replaying.insert(partition, split.sources);
            let builder = split.builder.restart(
                &self.doc_mapper,
                self.heap_size_bytes,
                self.temp_root.as_deref(),
            )?;
            self.current.insert(
                partition,
                PartitionSplit {
                    builder,
                    sources: Vec::new(),
                },
            );
        }
        self.replaying = Some(replaying);
        Ok(from.into_iter().collect())
    }

    /// Ends a rebuild: documents go where they belong again.
    fn end_replay(&mut self) {
        self.replaying = None;
    }

    fn current_split_id(&self) -> Option<String> {
        self.last_split_id.clone()
    }

    fn finish(mut self) -> Result<Vec<BuiltSplit>> {
        for (_, split) in std::mem::take(&mut self.current) {
            if split.builder.num_docs() > 0 {
                self.finished.push(split.builder.finish()?);
            }
        }
        Ok(self.finished)
    }
}

/// Counts of one object's records.
struct ObjectStats {
    num_docs: u64,
    uncompressed_bytes: u64,
    rejections: ObjectRejections,
    rejected_by_reason: BTreeMap<String, u64>,
    /// Why the object itself must be kept whole beside its rejected records (a record too
    /// large to keep in an entry, a corrupt gzip member), if it must.
    keep_object: Option<String>,
    /// A gzip member failed its check: only what came before it may be indexed.
    corrupt: Option<CorruptMember>,
}

impl ObjectStats {
    fn reject(&mut self, reason: &str, message: &str, offset: u64, bytes: &[u8]) {
        self.rejections.add(reason, message, offset, bytes);
        *self
            .rejected_by_reason
            .entry(reason.to_string())
            .or_default() += 1;
    }
}

impl Indexer {
    /// An indexer publishing to `metastore`, reading staging objects through `staging`.
    pub fn new(metastore: Metastore, staging: StagingBuckets) -> Self {
        Indexer {
            metastore,
            staging,
            temp_root: None,
            checkpoint_retention: DEFAULT_CHECKPOINT_RETENTION,
            min_time_to_finish: DEFAULT_MIN_TIME_TO_FINISH,
        }
    }

    /// Builds splits under `temp_root` instead of the system temporary directory.
    pub fn with_temp_root(mut self, temp_root: PathBuf) -> Self {
        self.temp_root = Some(temp_root);
        self
    }

    /// Forgets checkpoint entries older than `retention` (never wholesale, always by age).
    pub fn with_checkpoint_retention(mut self, retention: Duration) -> Self {
        self.checkpoint_retention = retention;
        self
    }

    /// Keeps this much time before a deadline to finish and publish (at most a quarter of the
    /// time the run is given).
    pub fn with_min_time_to_finish(mut self, min_time_to_finish: Duration) -> Self {
        self.min_time_to_finish = min_time_to_finish;
        self
    }

    pub fn metastore(&self) -> &Metastore {
        &self.metastore
    }

    /// Where splits are built: the temporary root given, or the system's.
    pub fn temp_root(&self) -> PathBuf {
        self.temp_root.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// Indexes `objects` into `index_id`. See the module documentation for the guarantees.
    ///
    /// With a `deadline`, no new object is started once the time left is below what finishing
    /// and publishing needs; [`IndexingReport::deadline_stop`] then says where it stopped.
    pub async fn index_objects(
        &self,
        index_id: &str,
        objects: &[ObjectRef],
        deadline: Option<Instant>,
    ) -> Result<IndexingReport> {
        self.index_shard_objects(index_id, 0, objects, deadline)
            .await
    }

    /// [`Indexer::index_objects`] for one shard of the index: the objects are checked against
    /// every checkpoint that may hold them, and published into `shard`.
    ///
    /// The loop over objects is kept whole, a little past 80 lines: its three exits (the
    /// deadline, a retryable failure, the end) are the run's contract, read best together.
    pub async fn index_shard_objects(
        &self,
        index_id: &str,
        shard: ShardId,
        objects: &[ObjectRef],
        deadline: Option<Instant>,
    ) -> Result<IndexingReport> {
        let started = Instant::now();
        let (checkpoint, doc_mapper, mut roller) = self.begin_run(index_id, shard, objects).await?;
        let mut run = RunContext {
            index_id,
            doc_mapper: doc_mapper.clone(),
            objects,
            read_etags: vec![None; objects.len()],
        };
        let mut report = IndexingReport {
            index_id: index_id.to_string(),
            shard,
            ..IndexingReport::default()
        };
        let mut checkpoint_delta: Vec<(SourceObject, Option<String>)> = Vec::new();
        let mut rejections_to_keep: Vec<ObjectRejections> = Vec::new();
        let mut slowest_object = Duration::ZERO;
        // Short invocations keep a proportionally shorter reserve for finishing.
        let reserve = deadline.map_or(self.min_time_to_finish, |deadline| {
            self.min_time_to_finish
                .min(deadline.saturating_duration_since(started) / 4)
        });

        for (position, object) in objects.iter().enumerate() {
            // The next object may take as long as the slowest so far, twice over.
            if deadline.is_some_and(|deadline| {
                deadline.saturating_duration_since(Instant::now()) <= reserve + slowest_object * 2
            }) {
                debug!(
                    index_id,
                    position, "stopping before the invocation deadline"
                );
                report.deadline_stop = Some(position);
                break;
            }
            let object_started = Instant::now();
            let source_key = object.source_key();
            let already_indexed = |etag: &str| {
                checkpoint.contains(&source_key, etag)
                    || checkpoint_delta
                        .iter()
                        .any(|(seen, _)| seen.source_key == source_key && seen.etag == etag)
            };
            let opened = match self.open_unindexed(object, already_indexed).await {
                Ok(Opened::Ready(storage, meta, reader)) => (storage, meta, reader),
                Ok(Opened::Skipped(outcome)) => {
                    report.objects.push((source_key, outcome));
                    continue;
                }
                Err(error) => {
                    warn!(index_id, source_key, %error, "cannot read staging object");
                    report.failure = Some(ObjectFailure {
                        position,
                        source_key,
                        error,
                    });
                    break;
                }
            };
            // A permanent failure names its object, so that the batch sets aside that object's
            // message alone; nothing of the run is published either way.
            let (returned, stats, etag) = self
                .index_opened(&mut run, roller, position, opened, &mut report)
                .await
                .map_err(|error| match error.kind() {
                    FailureKind::Permanent => error.at_object(position, &source_key),
                    FailureKind::Retryable => error,
                })?;
            roller = returned;
            let split_id = (stats.num_docs > 0)
                .then(|| roller.current_split_id())
                .flatten();
            let rejections = report.add_object(source_key.clone(), stats);
            checkpoint_delta.push((SourceObject { source_key, etag }, split_id));
            rejections_to_keep.extend(rejections);
            slowest_object = slowest_object.max(object_started.elapsed());
        }

        self.finish_run(roller, rejections_to_keep, checkpoint_delta, &mut report)
            .await?;
        report.elapsed_micros = started.elapsed().as_micros() as u64;
        report.log_finished();
        Ok(report)
    }

    /// What a run starts from: the checkpoint entries of its objects (in every shard that may
    /// hold them), the index's doc mapper and an empty split roller. An index a template
    /// matches is created on first sight (Firehose partitions fanning out into one index
    /// each); the shard is serialized, so no other indexer races it.
    async fn begin_run(
        &self,
        index_id: &str,
        shard: ShardId,
        objects: &[ObjectRef],
    ) -> Result<(SourceCheckpoint, Arc<DocMapper>, SplitRoller)> {
        let info = self.metastore.index_info_or_create(index_id).await?;
        let source_keys: Vec<String> = objects.iter().map(ObjectRef::source_key).collect();
        let checkpoint = self
            .metastore
            .checkpoint_entries_of(&info, shard, &source_keys)
            .await?;
        let doc_mapper = Arc::new(DocMapper::new(&info.index_config)?);
        let roller = SplitRoller::new(
            doc_mapper.clone(),
            &info.index_config.spec.indexing_settings,
            self.temp_root.clone(),
        );
        Ok((checkpoint, doc_mapper, roller))
    }

    /// Ends a run: the splits finished and bundled, the rejected records kept, then everything
    /// published in one metastore commit with the checkpoint.
    async fn finish_run(
        &self,
        roller: SplitRoller,
        rejections_to_keep: Vec<ObjectRejections>,
        checkpoint_delta: Vec<(SourceObject, Option<String>)>,
        report: &mut IndexingReport,
    ) -> Result<()> {
        let built_splits = run_blocking("split finishing task", move || roller.finish()).await?;
        for rejections in rejections_to_keep {
            let path = self.keep_rejections(&report.index_id, rejections).await?;
            report.error_files.push(path);
        }
        let index_id = report.index_id.clone();
        let shard = report.shard;
        self.publish(&index_id, shard, built_splits, checkpoint_delta, report)
            .await
    }

    /// Indexes an opened object into `roller`: every record mapped or rejected, and the split
    /// rebuilt without the object's corrupt part if a gzip member fails its check. Returns
    /// the roller, the object's figures and the etag of what was read (which, not the
    /// event's, goes into the checkpoint).
    async fn index_opened(
        &self,
        run: &mut RunContext<'_>,
        mut roller: SplitRoller,
        position: usize,
        (staging_storage, object_meta, reader): (SharedStorage, ObjectMeta, ChannelReader),
        report: &mut IndexingReport,
    ) -> Result<(SplitRoller, ObjectStats, String)> {
        let object = &run.objects[position];
        let source_key = object.source_key();
        let etag = normalize_etag(&object_meta.version.0);
        report.bytes_read += object_meta.size;
        let target = ObjectTarget {
            doc_mapper: run.doc_mapper.clone(),
            kept_object_path: error_records::kept_object_path(run.index_id, &source_key, &etag),
            source_key,
            etag: etag.clone(),
        };
        run.read_etags[position] = Some(etag.clone());
        roller.begin_object(position);
        // A download that failed midway leaves part of the object in the split: nothing of
        // this run may be published, so the whole run fails and is retried.
        let (returned, first_pass) = target.index(roller, reader, 0..u64::MAX).await?;
        roller = returned;
        let mut stats = first_pass?;
        // The object's records are in the split now: a failure here must publish none of them.
        crate::error::fail_point("indexer:after_object_records")?;
        if let Some(corrupt) = stats.corrupt.take() {
            let (returned, verified) = self
                .rebuild_without(
                    roller,
                    run.objects,
                    &run.read_etags,
                    &target,
                    stats.num_docs,
                    corrupt,
                )
                .await?;
            roller = returned;
            stats = verified;
        }
        if stats.keep_object.is_some() {
            self.keep_object(&staging_storage, &object.key, &target.kept_object_path)
                .await?;
            report.error_files.push(target.kept_object_path.clone());
        }
        Ok((roller, stats, etag))
    }

    /// Opens a staging object unless the checkpoint already has its version (the event's
    /// etag, then the etag of what is read). An object that can never be read is set aside;
    /// an error is worth a retry.
    async fn open_unindexed(
        &self,
        object: &ObjectRef,
        already_indexed: impl Fn(&str) -> bool,
    ) -> Result<Opened> {
        if let Some(etag) = &object.etag
            && already_indexed(&normalize_etag(etag))
        {
            return Ok(Opened::Skipped(ObjectOutcome::AlreadyIndexed));
        }
        let opened = async {
            let storage = self.staging.storage_for(&object.bucket).await?;
            let (meta, reader) = open_object(storage.clone(), &object.key).await?;
            Ok::<_, IngestError>((storage, meta, reader))
        }
        .await;
        match opened {
            Ok((_, meta, _)) if already_indexed(&normalize_etag(&meta.version.0)) => {
                Ok(Opened::Skipped(ObjectOutcome::AlreadyIndexed))
            }
            Ok((storage, meta, reader)) => Ok(Opened::Ready(storage, meta, reader)),
            Err(error) if error.kind() == FailureKind::Permanent => {
                let source_key = object.source_key();
                warn!(source_key, %error, "staging object can never be read; setting it aside");
                let reason = error.to_string();
                Ok(Opened::Skipped(ObjectOutcome::SetAside { reason }))
            }
            Err(error) => Err(error),
        }
    }

    /// Writes an object's rejected records under `indexes/{index_id}/errors/`. The name comes
    /// from the object and its etag (readable, and a hash of both exactly), so a retried run
    /// overwrites its own file and two objects never share one.
    async fn keep_rejections(
        &self,
        index_id: &str,
        rejections: ObjectRejections,
    ) -> Result<String> {
        let path = error_records::rejected_records_path(
            index_id,
            &rejections.source_key,
            &rejections.etag,
        );
        let bytes = rejections.records.finish();
        recognise::overwrite(self.metastore.storage().as_ref(), &path, bytes.into()).await?;
        Ok(path)
    }

    /// Rebuilds the current split without what a corrupt gzip member decoded into. A corrupted
    /// back-reference decodes into plausible records before the member's check fails, and they
    /// are in the split already: it is emptied (same id), the objects that were in it are read
    /// again from where they entered it, then what precedes the corrupt member. Returns the
    /// corrupt object's counts. Rare, so it may be slow; the common path pays nothing for it.
    async fn rebuild_without(
        &self,
        roller: SplitRoller,
        objects: &[ObjectRef],
        read_etags: &[Option<String>],
        target: &ObjectTarget,
        decoded_docs: u64,
        corrupt: CorruptMember,
    ) -> Result<(SplitRoller, ObjectStats)> {
        let source_key = &target.source_key;
        warn!(source_key, %corrupt, "corrupt gzip member; rebuilding the split without it");
        let corrupt_position = roller.object_position;
        let (mut roller, sources) = run_blocking("split rebuild", move || {
            let mut roller = roller;
            let sources = roller.restart_current()?;
            Ok((roller, sources))
        })
        .await?;
        for (position, start) in sources {
            if position == corrupt_position {
                continue;
            }
            let object = &objects[position];
            let etag = read_etags[position].clone().unwrap_or_default();
            let storage = self.staging.storage_for(&object.bucket).await?;
            let (meta, reader) = open_object(storage, &object.key).await?;
            if normalize_etag(&meta.version.0) != etag {
                return Err(IngestError::Download {
                    source_key: object.source_key(),
                    message: "the object changed while its run was being indexed".to_string(),
                });
            }
            let again = ObjectTarget {
                doc_mapper: target.doc_mapper.clone(),
                source_key: object.source_key(),
                etag,
                kept_object_path: String::new(),
            };
            roller.begin_object(position);
            let (returned, stats) = again.index(roller, reader, start..u64::MAX).await?;
            roller = returned;
            // Its counts were taken the first time; only its documents are needed again.
            stats?;
        }
        let object = &objects[corrupt_position];
        let storage = self.staging.storage_for(&object.bucket).await?;
        let (_, reader) = open_object(storage, &object.key).await?;
        roller.begin_object(corrupt_position);
        let (roller, verified) = target
            .index(roller, reader, 0..corrupt.decompressed_offset)
            .await?;
        let mut roller = roller;
        roller.end_replay();
        let mut verified = verified?;
        let dropped = decoded_docs.saturating_sub(verified.num_docs);
        let message = format!(
            "{corrupt}: the {dropped} records decoded from it and after it are not indexed, the \
             {} before it are; the object is kept whole at {}",
            verified.num_docs, target.kept_object_path
        );
        verified.reject("corrupt_object", &message, corrupt.decompressed_offset, b"");
        verified.keep_object = Some(message);
        Ok((roller, verified))
    }

    /// Copies a staging object whole to `path` of the index storage (streamed through a
    /// temporary file, so memory does not grow with it).
    async fn keep_object(
        &self,
        staging: &hydrant_storage::SharedStorage,
        key: &str,
        path: &str,
    ) -> Result<()> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let prefix = hydrant_storage::scratch::scratch_prefix("object");
        let mut scratch = tempfile::Builder::new();
        scratch.prefix(&prefix);
        let temp = match &self.temp_root {
            Some(root) => scratch.tempfile_in(root),
            None => scratch.tempfile(),
        }
        .map_err(|error| IngestError::Io {
            context: "cannot create a temporary file for a kept object".to_string(),
            source: error,
        })?;
        let io_error = |error| IngestError::Io {
            context: format!("cannot write {}", temp.path().display()),
            source: error,
        };
        let mut file = tokio::fs::File::create(temp.path())
            .await
            .map_err(io_error)?;
        let mut stream = staging.get_stream(key).await?;
        let mut size = 0u64;
        while let Some(chunk) = stream.chunks.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        file.flush().await.map_err(io_error)?;
        drop(file);
        recognise::overwrite_file(
            self.metastore.storage().as_ref(),
            path,
            temp.path().to_path_buf(),
            size,
        )
        .await?;
        Ok(())
    }

    /// Uploads the run's splits, then publishes them with the checkpoint delta in one
    /// metastore commit: two writes for a run of one split. The splits are not staged first:
    /// an upload whose commit never comes is a file no document knows, which garbage
    /// collection deletes (`GcSettings::orphan_min_age`), and the metastore publishes an
    /// upload only within `MAX_UNPUBLISHED_SPLIT_AGE_SECS` of its start.
    async fn publish(
        &self,
        index_id: &str,
        shard: ShardId,
        mut built_splits: Vec<BuiltSplit>,
        checkpoint_delta: Vec<(SourceObject, Option<String>)>,
        report: &mut IndexingReport,
    ) -> Result<()> {
        if built_splits.is_empty() && checkpoint_delta.is_empty() {
            return Ok(());
        }
        let upload_started = self.metastore.clock().now_secs();
        for split in &mut built_splits {
            split.metadata.create_timestamp = upload_started;
        }
        crate::error::fail_point("indexer:before_upload")?;
        for split in &built_splits {
            upload_split(self.metastore.storage(), index_id, split).await?;
        }
        crate::error::fail_point("indexer:after_upload")?;
        let now_secs = self.metastore.clock().now_secs();
        let request = PublishRequest {
            new_splits: built_splits
                .iter()
                .map(|split| split.metadata.clone())
                .collect(),
            checkpoint_delta,
            prune_checkpoint_before: Some(now_secs - self.checkpoint_retention.as_secs() as i64),
            ..PublishRequest::default()
        };
        match self
            .metastore
            .publish_splits(index_id, shard, request)
            .await
        {
            Ok(_) => {}
            Err(MetastoreError::CheckpointConflict { source_keys, .. }) => {
                // Someone else published these objects first (our own ambiguous write would
                // have been recognised). Ours never become searchable: no document knows
                // them, and garbage collection deletes their files. Not deleted here: were
                // this conflict our own write, unrecognised, the files would be published.
                return Err(IngestError::ConcurrentIndexing {
                    index_id: index_id.to_string(),
                    source_keys,
                });
            }
            Err(error) => return Err(error.into()),
        }
        report.splits = built_splits
            .iter()
            .map(|split| SplitSummary {
                split_id: split.metadata.split_id.clone(),
                num_docs: split.metadata.num_docs,
                split_size_bytes: split.metadata.split_size_bytes,
            })
            .collect();
        Ok(())
    }
}

/// What indexing one object needs besides its bytes.
struct ObjectTarget {
    doc_mapper: Arc<DocMapper>,
    source_key: String,
    etag: String,
    /// Where the object is kept whole if it must be (named in rejection messages).
    kept_object_path: String,
}

impl ObjectTarget {
    /// Indexes the object's frames that start in `range` (decompressed offsets) into `roller`
    /// on a blocking thread. Returns the roller either way, with the outcome.
    async fn index(
        &self,
        mut roller: SplitRoller,
        object: impl Read + Send + 'static,
        range: std::ops::Range<u64>,
    ) -> Result<(SplitRoller, Result<ObjectStats>)> {
        let doc_mapper = self.doc_mapper.clone();
        let (source_key, etag, kept) = (
            self.source_key.clone(),
            self.etag.clone(),
            self.kept_object_path.clone(),
        );
        run_blocking("indexing task", move || {
            let stats = index_object_records(
                &doc_mapper,
                object,
                ObjectNames {
                    source_key: &source_key,
                    etag: &etag,
                    kept_object_path: &kept,
                },
                &mut roller,
                range,
            );
            Ok((roller, stats))
        })
        .await
    }
}

/// Runs blocking work (tantivy, parsing) off the async executor.
pub(crate) async fn run_blocking<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join_error| IngestError::Io {
            context: format!("{what} failed"),
            source: std::io::Error::other(join_error),
        })?
}

/// How one object is named in what is kept of it.
struct ObjectNames<'a> {
    source_key: &'a str,
    etag: &'a str,
    kept_object_path: &'a str,
}

/// Frames, parses and maps the records of one object that start in `range` into `roller`.
/// Blocking.
///
/// A gzip object is only known good at its end, so no split is finished in the middle of one:
/// if a member fails its check, [`ObjectStats::corrupt`] says so, and the caller rebuilds the
/// current split without what the member and what follows it decoded into.
fn index_object_records(
    doc_mapper: &DocMapper,
    object: impl Read,
    names: ObjectNames<'_>,
    roller: &mut SplitRoller,
    range: std::ops::Range<u64>,
) -> Result<ObjectStats> {
    let mut stats = ObjectStats {
        num_docs: 0,
        uncompressed_bytes: 0,
        rejections: ObjectRejections::new(names.source_key, names.etag),
        rejected_by_reason: BTreeMap::new(),
        keep_object: None,
        corrupt: None,
    };
    let download_failed = |error: std::io::Error| IngestError::Download {
        source_key: names.source_key.to_string(),
        message: error.to_string(),
    };
    // Frames stream out of the decompressor one at a time: memory holds one record, not the
    // decompressed object.
    let (reader, verification) = decompressing_reader(BufReader::with_capacity(256 << 10, object))
        .map_err(download_failed)?;
    let checked = verification.is_checked();
    let reader: Box<dyn std::io::BufRead> = match range.end {
        u64::MAX => reader,
        limit => Box::new(reader.take(limit)),
    };
    let mut framer = RecordFramer::new(reader);
    let mut read_error = None;
    for frame in framer.by_ref() {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                read_error = Some(error);
                break;
            }
        };
        if frame.offset() < range.start {
            // Already in an earlier split (a rebuild adds the rest of an object again).
            continue;
        }
        add_frame(doc_mapper, frame, &names, roller, &mut stats, !checked)?;
    }
    stats.uncompressed_bytes = framer.offset();
    if let Some(error) = read_error {
        return match corrupt_member(&error) {
            Some(corrupt) if range.end == u64::MAX => {
                stats.corrupt = Some(corrupt.clone());
                Ok(stats)
            }
            // Anything else stopped the download, not the data: retry the whole run.
            _ => Err(download_failed(error)),
        };
    }
    if checked {
        roller.roll_if_full()?;
    }
    Ok(stats)
}

/// One frame of an object: a document added to the split, or a record rejected and kept.
/// `unverified`: the object's gzip check is still to come (the split must not roll).
fn add_frame(
    doc_mapper: &DocMapper,
    frame: Frame,
    names: &ObjectNames<'_>,
    roller: &mut SplitRoller,
    stats: &mut ObjectStats,
    unverified: bool,
) -> Result<()> {
    let (offset, bytes) = match frame {
        Frame::Malformed {
            offset,
            bytes,
            reason,
            truncated: false,
        } => {
            stats.reject(RejectReason::MalformedJson.as_str(), reason, offset, &bytes);
            return Ok(());
        }
        Frame::Malformed {
            offset,
            bytes,
            reason,
            truncated: true,
        } => {
            let message = format!(
                "{reason} ({MAX_RECORD_BYTES} bytes): this entry holds its first \
                 {MAX_RECORD_BYTES} bytes, and the object is kept whole at {}",
                names.kept_object_path
            );
            stats.reject(
                RejectReason::MalformedJson.as_str(),
                &message,
                offset,
                &bytes,
            );
            stats.keep_object.get_or_insert(message);
            return Ok(());
        }
        Frame::Record { offset, bytes } => (offset, bytes),
    };
    match parse_record(doc_mapper, &bytes) {
        Ok(parsed) => {
            let size = bytes.len() as u64;
            roller.add(parsed, size, offset, unverified)?;
            stats.num_docs += 1;
        }
        Err(rejection) => {
            stats.reject(
                rejection.reason.as_str(),
                &rejection.message,
                offset,
                &bytes,
            );
        }
    }
    Ok(())
}

/// A record's bytes as a document, or why not.
fn parse_record(
    doc_mapper: &DocMapper,
    bytes: &[u8],
) -> std::result::Result<ParsedDoc, DocRejection> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(record)) => doc_mapper.doc_from_record(record, bytes.len()),
        Ok(other) => Err(DocRejection::new(
            RejectReason::NotAnObject,
            format!(
                "a record must be a JSON object, got {}",
                hydrant_index::json_type_name(&other)
            ),
        )),
        Err(error) => Err(DocRejection::new(
            RejectReason::MalformedJson,
            error.to_string(),
        )),
    }
}

/// S3 returns ETags quoted, events carry them bare; the checkpoint stores them bare.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_stored_bare() {
        assert_eq!(normalize_etag("\"abc\""), "abc");
    }
}
