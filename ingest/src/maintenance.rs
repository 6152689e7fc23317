//! Maintenance of an index: retention, merges and garbage collection, run by the indexer
//! (after indexing, while the invocation's time allows, and on scheduled maintenance messages
//! so that an idle index is cleaned too).
//!
//! Every step is safe to interrupt at any point:
//! - **retention** marks splits whose newest document is older than the period;
//! - a **merge** builds the merged split locally, stages it, uploads it, then publishes it and
//!   marks its inputs for deletion in one commit; interrupted before that commit, the inputs
//!   stay published and the staged output is collected later;
//! - **garbage collection** deletes the files of splits marked for deletion longer than the
//!   grace period, *then* removes them from the metastore (interrupted between, the next run
//!   deletes again, which is idempotent); it also expires splits staged long ago (uploads that
//!   were never published) and deletes split files and checkpoint segments the metastore does
//!   not know;
//! - **checkpoint compaction** drops entries past the checkpoint retention from every shard,
//!   so an idle shard's checkpoint shrinks too.
//!
//! With shards, merges stay within a shard (a merge commits to the shard document holding its
//! inputs, so two shards never merge the same split), while retention and garbage collection
//! run once per index over every shard: one maintenance message covers the whole index.
//!
//! The grace period must exceed the searcher's longest query plus its metastore cache time,
//! so that a query in flight never loses a split.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::{StreamExt, TryStreamExt};
use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::split_bundle::{
    BundleInfo, MmapRangeFetcher, SplitDirectory, write_split_bundle,
};
use hydrant_metastore::PublishRequest;
use hydrant_metastore::paths;
use hydrant_metastore::split::SplitTags;
use hydrant_metastore::{
    Error as MetastoreError, Metastore, ShardId, SplitMetadata, SplitState, TimeRange,
};
use serde::Serialize;
use tantivy::directory::MmapDirectory;
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use hydrant_storage::scratch::scratch_prefix;

use crate::error::{IngestError, Result};
use crate::merge_policy::MergePolicy;
use crate::split_builder::upload_split_file;
use hydrant_storage::recognise;

/// Time settings of garbage collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcSettings {
    /// How long a split marked for deletion stays readable before its file is deleted.
    pub grace_period: Duration,
    /// A split staged longer than this is an upload that will never be published.
    pub staged_expiry: Duration,
    /// Split files no metastore entry knows are deleted once this old.
    pub orphan_min_age: Duration,
}

impl Default for GcSettings {
    fn default() -> Self {
        GcSettings {
            // API Gateway answers within 29 s and the searcher trusts its metastore view for
            // 3 s; 15 minutes also covers a direct invoke running to Lambda's limit.
            grace_period: Duration::from_secs(15 * 60),
            // Longer than Lambda's 15-minute maximum run, so no live upload is expired.
            staged_expiry: Duration::from_secs(60 * 60),
            orphan_min_age: Duration::from_secs(60 * 60),
        }
    }
}

/// What one maintenance run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MaintenanceReport {
    pub index_id: String,
    pub splits_expired_by_retention: usize,
    pub merges: usize,
    pub splits_merged: usize,
    /// Merges not started because the deadline was near.
    pub merges_deferred: usize,
    pub staged_splits_expired: usize,
    pub splits_deleted: usize,
    pub orphan_files_deleted: usize,
    /// Checkpoint segments replaced by compaction.
    pub checkpoint_segments_compacted: usize,
    /// Splits pending delete tasks were applied to (`deletes.rs`).
    pub splits_delete_applied: usize,
    /// Splits left for the next run because the deadline was near.
    pub delete_applications_deferred: usize,
    /// Splits a delete task's query could not run on (retried next run).
    pub delete_task_errors: usize,
}

/// Runs maintenance on the indexes of a metastore.
#[derive(Clone, Debug)]
pub struct Maintainer {
    pub(crate) metastore: Metastore,
    temp_root: Option<PathBuf>,
    gc: GcSettings,
    checkpoint_retention: Duration,
}

/// How long checkpoint entries are kept when no one says: the indexer's default.
const DEFAULT_CHECKPOINT_RETENTION: Duration = Duration::from_secs(15 * 24 * 3600);

/// Merge inputs downloaded at once.
const MERGE_DOWNLOAD_CONCURRENCY: usize = 12;
/// Merges need at least this much time left to start (they are not interruptible).
pub(crate) const MIN_TIME_FOR_MERGE: Duration = Duration::from_secs(5);
/// A conservative merge speed, to tell whether a merge fits before a deadline.
pub(crate) const MERGE_BYTES_PER_SEC: f64 = 10e6;

impl Maintainer {
    pub fn new(metastore: Metastore) -> Self {
        Maintainer {
            metastore,
            temp_root: None,
            gc: GcSettings::default(),
            checkpoint_retention: DEFAULT_CHECKPOINT_RETENTION,
        }
    }

    /// Checkpoint entries older than this are compacted away (the indexer's setting).
    pub fn with_checkpoint_retention(mut self, retention: Duration) -> Self {
        self.checkpoint_retention = retention;
        self
    }

    pub fn with_gc_settings(mut self, gc: GcSettings) -> Self {
        self.gc = gc;
        self
    }

    /// Builds merged splits under `temp_root` instead of the system temporary directory.
    pub fn with_temp_root(mut self, temp_root: PathBuf) -> Self {
        self.temp_root = Some(temp_root);
        self
    }

    pub fn metastore(&self) -> &Metastore {
        &self.metastore
    }

    /// Retention, delete tasks and merges (while time allows), then garbage collection.
    pub async fn run(
        &self,
        index_id: &str,
        deadline: Option<Instant>,
    ) -> Result<MaintenanceReport> {
        let mut report = MaintenanceReport {
            index_id: index_id.to_string(),
            ..MaintenanceReport::default()
        };
        report.splits_expired_by_retention = self.apply_retention(index_id).await?;
        #[cfg(feature = "delete-tasks")]
        self.apply_delete_tasks(index_id, deadline, &mut report)
            .await?;
        self.merge(index_id, deadline, &mut report).await?;
        self.collect_garbage(index_id, &mut report).await?;
        self.compact_checkpoints(index_id, &mut report).await?;
        debug!(
            index_id,
            expired = report.splits_expired_by_retention,
            merges = report.merges,
            merged = report.splits_merged,
            deleted = report.splits_deleted,
            orphans = report.orphan_files_deleted,
            "maintenance finished"
        );
        Ok(report)
    }

    /// Marks published splits whose newest document is older than the retention period.
    pub async fn apply_retention(&self, index_id: &str) -> Result<usize> {
        let metadata = self.metastore.index_splits(index_id).await?;
        let Some(retention) = &metadata.index_config.spec.retention else {
            return Ok(0);
        };
        let period = retention.period()?;
        let cutoff_nanos = (i128::from(self.metastore.clock().now_secs())
            - i128::from(period.as_secs() as i64))
            * 1_000_000_000;
        let expired: Vec<String> = metadata
            .published_splits()
            .filter(|split| {
                split
                    .time_range
                    .is_some_and(|range| i128::from(range.end_nanos) < cutoff_nanos)
            })
            .map(|split| split.split_id.clone())
            .collect();
        if !expired.is_empty() {
            self.metastore
                .mark_splits_for_deletion(index_id, &expired)
                .await?;
        }
        Ok(expired.len())
    }

    /// Runs the merge policy's operations, round after round, until none is left or the
    /// deadline is near.
    pub async fn merge(
        &self,
        index_id: &str,
        deadline: Option<Instant>,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        self.merge_in(index_id, None, deadline, report).await
    }

    /// [`Maintainer::merge`] within one shard: what an indexer does after publishing into
    /// it, reading that shard's document alone (a listing of the shards is billed as a write).
    pub async fn merge_shard(
        &self,
        index_id: &str,
        shard: ShardId,
        deadline: Option<Instant>,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        self.merge_in(index_id, Some(shard), deadline, report).await
    }

    /// Merges in every shard (`None`) or in one.
    async fn merge_in(
        &self,
        index_id: &str,
        shard: Option<ShardId>,
        deadline: Option<Instant>,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        loop {
            let metadata = match shard {
                None => self.metastore.index_splits(index_id).await?,
                Some(shard) => self.metastore.shard_splits(index_id, shard).await?,
            };
            let Some(policy) =
                MergePolicy::from_settings(&metadata.index_config.spec.indexing_settings)?
            else {
                return Ok(());
            };
            // Within each shard: a merge commits to the shard document holding its inputs. And
            // among splits that had the same delete tasks applied: a merge of a split a task
            // has yet to reach with one indexed after the task would give the task documents
            // it must not touch.
            let tasks = self.metastore.delete_tasks(index_id).await?;
            let mut by_shard: std::collections::BTreeMap<(ShardId, u64), Vec<SplitMetadata>> =
                Default::default();
            for split in metadata.splits.values() {
                let applied = tasks.applied_opstamp(split);
                (by_shard.entry((split.shard, applied)).or_default()).push(split.clone());
            }
            let now = self.metastore.clock().now_secs();
            let operations: Vec<(u64, Vec<SplitMetadata>)> = by_shard
                .iter()
                .flat_map(|((_, applied), splits)| {
                    (policy.operations(splits, now).into_iter()).map(|inputs| (*applied, inputs))
                })
                .collect();
            if operations.is_empty() {
                return Ok(());
            }
            let doc_mapper = Arc::new(DocMapper::new(&metadata.index_config)?);
            for (position, (applied, inputs)) in operations.iter().enumerate() {
                if let Some(deadline) = deadline {
                    let input_bytes: u64 = inputs.iter().map(|split| split.split_size_bytes).sum();
                    let needed = MIN_TIME_FOR_MERGE
                        + Duration::from_secs_f64(input_bytes as f64 / MERGE_BYTES_PER_SEC);
                    if deadline.saturating_duration_since(Instant::now()) < needed {
                        report.merges_deferred += operations.len() - position;
                        return Ok(());
                    }
                }
                match (self.merge_splits(index_id, &doc_mapper, inputs, *applied)).await {
                    Ok(_) => {
                        report.merges += 1;
                        report.splits_merged += inputs.len();
                    }
                    // Someone changed the inputs meanwhile (retention, say): recompute.
                    Err(IngestError::Metastore(MetastoreError::Conflict { reason, .. })) => {
                        warn!(index_id, reason, "merge input changed; replanning");
                        break;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
    }

    /// Merges `inputs` (which had the delete tasks up to `delete_opstamp` applied) into one
    /// split and publishes it in place of them: the inputs
    /// downloaded whole, merged by tantivy on local disk, the output staged, uploaded and
    /// published replacing them, in that order, so that a crash at any point leaves either
    /// the inputs or the output searchable and the rest for garbage collection.
    pub async fn merge_splits(
        &self,
        index_id: &str,
        doc_mapper: &Arc<DocMapper>,
        inputs: &[SplitMetadata],
        delete_opstamp: u64,
    ) -> Result<SplitMetadata> {
        let temp_dir = self.merge_dir()?;
        let local_inputs = self
            .download_inputs(temp_dir.path(), index_id, inputs)
            .await?;
        let output_dir = temp_dir.path().join("merged");
        let bundle_path = temp_dir.path().join("merged.split");
        let (tokenizers, blocking_bundle_path) =
            (doc_mapper.tokenizers().clone(), bundle_path.clone());
        // Written with the index's current settings, whatever its inputs were written with:
        // a changed doc store setting converges as splits merge.
        let target_settings = doc_mapper.index_settings();
        let bundle = tokio::task::spawn_blocking(move || {
            merge_locally(
                &local_inputs,
                tokenizers,
                target_settings,
                &output_dir,
                &blocking_bundle_path,
            )
        })
        .await
        .map_err(|error| IngestError::Io {
            context: "merge task failed".to_string(),
            source: std::io::Error::other(error),
        })??;
        let merged = merged_metadata(inputs, bundle, delete_opstamp);
        self.metastore
            .stage_splits(index_id, merged.shard, vec![merged.clone()])
            .await?;
        upload_split_file(self.metastore.storage(), index_id, &merged, &bundle_path).await?;
        crate::error::fail_point("merge:after_upload")?;
        self.publish_merge(index_id, &merged, inputs).await?;
        Ok(merged)
    }

    /// A scratch directory for one merge, named by this process.
    pub(crate) fn merge_dir(&self) -> Result<tempfile::TempDir> {
        let mut builder = tempfile::Builder::new();
        let prefix = scratch_prefix("merge");
        builder.prefix(&prefix);
        match &self.temp_root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        }
        .map_err(|error| IngestError::Io {
            context: "cannot create a merge directory".to_string(),
            source: error,
        })
    }

    /// Whole inputs, one streamed GET each, into `dir`: their paths and footer offsets.
    /// Downloads the inputs of a merge, [`MERGE_DOWNLOAD_CONCURRENCY`] at a time: each is a
    /// round trip to S3 before its first byte, which a merge of ten would otherwise wait for
    /// ten times over.
    async fn download_inputs(
        &self,
        dir: &std::path::Path,
        index_id: &str,
        inputs: &[SplitMetadata],
    ) -> Result<Vec<(PathBuf, std::ops::Range<u64>)>> {
        // Collected first: a lazy `map` in the stream makes the future not `Send`.
        let downloads: Vec<_> = inputs
            .iter()
            .map(|split| async move {
                let local_path = dir.join(format!("{}.split", split.split_id));
                self.download_split(index_id, &split.split_id, &local_path)
                    .await?;
                Ok::<_, IngestError>((local_path, split.footer_offsets.clone()))
            })
            .collect();
        futures::stream::iter(downloads)
            .buffered(MERGE_DOWNLOAD_CONCURRENCY)
            .try_collect()
            .await
    }

    /// One split file of `index_id`, streamed to `local_path`.
    pub(crate) async fn download_split(
        &self,
        index_id: &str,
        split_id: &str,
        local_path: &std::path::Path,
    ) -> Result<()> {
        let io_error = |context: &str, source: std::io::Error| IngestError::Io {
            context: format!("cannot {context} {}", local_path.display()),
            source,
        };
        let mut stream = self
            .metastore
            .storage()
            .get_stream(&paths::split_file(index_id, split_id))
            .await?;
        let mut file = tokio::fs::File::create(local_path)
            .await
            .map_err(|error| io_error("create", error))?;
        while let Some(chunk) = stream.chunks.next().await {
            file.write_all(&chunk?)
                .await
                .map_err(|error| io_error("write", error))?;
        }
        file.flush().await.map_err(|error| io_error("write", error))
    }

    /// Publishes the merge output in place of its inputs.
    pub(crate) async fn publish_merge(
        &self,
        index_id: &str,
        merged: &SplitMetadata,
        inputs: &[SplitMetadata],
    ) -> Result<()> {
        let request = PublishRequest {
            staged_split_ids: vec![merged.split_id.clone()],
            replaced_split_ids: inputs.iter().map(|split| split.split_id.clone()).collect(),
            ..PublishRequest::default()
        };
        match self
            .metastore
            .publish_splits(index_id, merged.shard, request)
            .await
        {
            Ok(_) => Ok(()),
            // The inputs changed meanwhile (retention, another merge): the output must never
            // become searchable. Only while it is still staged, though: our own publish may
            // have been applied whatever error came back.
            Err(error @ MetastoreError::Conflict { .. }) => {
                let _ = self
                    .metastore
                    .abandon_staged_splits(
                        index_id,
                        merged.shard,
                        std::slice::from_ref(&merged.split_id),
                    )
                    .await;
                Err(error.into())
            }
            // Any other error leaves the outcome unknown: the output stays staged, and is
            // collected as an expired upload if the publish was not applied.
            Err(error) => Err(error.into()),
        }
    }

    /// Garbage collection. See the module documentation.
    pub async fn collect_garbage(
        &self,
        index_id: &str,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        let now = self.metastore.clock().now_secs();
        let metadata = self.metastore.index_splits(index_id).await?;
        let mut stale_staged: std::collections::BTreeMap<ShardId, Vec<String>> = Default::default();
        for split in metadata.splits.values().filter(|split| {
            split.state == SplitState::Staged
                && split.update_timestamp + self.gc.staged_expiry.as_secs() as i64 <= now
        }) {
            stale_staged
                .entry(split.shard)
                .or_default()
                .push(split.split_id.clone());
        }
        for (shard, split_ids) in stale_staged {
            // Only those still staged when the commit applies: never a split published since.
            let expired = self
                .metastore
                .abandon_staged_splits(index_id, shard, &split_ids)
                .await?;
            report.staged_splits_expired += expired.len();
        }

        let metadata = self.metastore.index_splits(index_id).await?;
        let deletable: Vec<String> = metadata
            .splits
            .values()
            .filter(|split| {
                split.state == SplitState::MarkedForDeletion
                    && split.update_timestamp + self.gc.grace_period.as_secs() as i64 <= now
            })
            .map(|split| split.split_id.clone())
            .collect();
        for split_id in &deletable {
            recognise::delete(
                self.metastore.storage().as_ref(),
                &paths::split_file(index_id, split_id),
            )
            .await?;
            crate::error::fail_point("gc:after_file_deletion")?;
        }
        if !deletable.is_empty() {
            self.metastore.delete_splits(index_id, &deletable).await?;
            report.splits_deleted += deletable.len();
            self.note_deleted_files(index_id, &deletable).await?;
        }

        self.delete_orphans(index_id, now, report).await
    }

    /// After garbage collection deleted the files of `split_ids` (or none): the tasks they
    /// held deleted documents of, and the tasks now complete, say so. Writes only when
    /// something changed.
    pub(crate) async fn note_deleted_files(
        &self,
        index_id: &str,
        split_ids: &[String],
    ) -> Result<()> {
        let tasks = self.metastore.delete_tasks(index_id).await?;
        if tasks.tasks.is_empty() {
            return Ok(());
        }
        let metadata = self.metastore.index_splits(index_id).await?;
        let now = self.metastore.clock().now_secs();
        let mut changed = tasks.clone();
        changed.files_deleted(split_ids, metadata.splits.values(), now);
        if changed.tasks == tasks.tasks {
            return Ok(());
        }
        self.metastore
            .update_delete_tasks(index_id, |tasks| {
                tasks.files_deleted(split_ids, metadata.splits.values(), now)
            })
            .await?;
        Ok(())
    }

    /// Split files nobody knows (leftovers of uploads whose metastore entry is gone) and
    /// checkpoint segments nobody references, once older than `orphan_min_age`.
    async fn delete_orphans(
        &self,
        index_id: &str,
        now: i64,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        let known: BTreeSet<String> = self
            .metastore
            .index_splits(index_id)
            .await?
            .splits
            .keys()
            .cloned()
            .collect();
        let prefix = paths::splits_prefix(index_id);
        for object in self.metastore.storage().list(&prefix).await? {
            let Some(split_id) = object
                .path
                .strip_prefix(&prefix)
                .and_then(|name| name.strip_suffix(".split"))
            else {
                continue;
            };
            let age_secs = now - unix_secs(object.last_modified);
            if !known.contains(split_id) && age_secs >= self.gc.orphan_min_age.as_secs() as i64 {
                recognise::delete(self.metastore.storage().as_ref(), &object.path).await?;
                report.orphan_files_deleted += 1;
            }
        }

        // Checkpoint segments nobody references: written by a commit that lost, or replaced
        // by a compaction. Old enough that no commit referencing them can still be on its way.
        for segment in self.metastore.unreferenced_segments(index_id).await? {
            let age_secs = now - unix_secs(segment.last_modified);
            if age_secs >= self.gc.orphan_min_age.as_secs() as i64 {
                recognise::delete(self.metastore.storage().as_ref(), &segment.path).await?;
                report.orphan_files_deleted += 1;
            }
        }
        Ok(())
    }

    /// Drops checkpoint entries past the checkpoint retention from every shard (and compacts
    /// segments whose tier is full), so that a shard no longer fed keeps shrinking too.
    pub async fn compact_checkpoints(
        &self,
        index_id: &str,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        let prune_before =
            self.metastore.clock().now_secs() - self.checkpoint_retention.as_secs() as i64;
        let metadata = self.metastore.index_splits(index_id).await?;
        for shard in metadata.shards.keys() {
            report.checkpoint_segments_compacted += self
                .metastore
                .compact_checkpoint(index_id, *shard, Some(prune_before))
                .await?;
        }
        Ok(())
    }
}

fn unix_secs(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// Merges downloaded splits into one split bundle at `bundle_path`. Blocking.
fn merge_locally(
    local_inputs: &[(PathBuf, std::ops::Range<u64>)],
    tokenizers: tantivy::tokenizer::TokenizerManager,
    target_settings: tantivy::IndexSettings,
    output_dir: &std::path::Path,
    bundle_path: &std::path::Path,
) -> Result<BundleInfo> {
    let mut segments = Vec::new();
    for (path, footer_offsets) in local_inputs {
        let fetcher = MmapRangeFetcher::open(path).map_err(|error| IngestError::Io {
            context: format!("cannot open {}", path.display()),
            source: error,
        })?;
        let footer = fetcher.read_footer(&path.display().to_string(), footer_offsets.clone())?;
        let mut index = SplitDirectory::new(Arc::new(footer), Arc::new(fetcher)).open_index()?;
        index.set_tokenizers(tokenizers.clone());
        segments.extend(index.searchable_segments().map_err(IngestError::Tantivy)?);
    }
    std::fs::create_dir_all(output_dir).map_err(|error| IngestError::Io {
        context: "cannot create the merge output directory".to_string(),
        source: error,
    })?;
    let output = MmapDirectory::open(output_dir).map_err(|error| IngestError::Io {
        context: "cannot open the merge output directory".to_string(),
        source: std::io::Error::other(error),
    })?;
    let keep_all_docs = segments.iter().map(|_| None).collect();
    tantivy::indexer::merge_filtered_segments(&segments, target_settings, keep_all_docs, output)
        .map_err(IngestError::Tantivy)?;
    Ok(write_split_bundle(output_dir, bundle_path)?)
}

/// The merge output's metadata: the inputs' documents, time range and merge depth.
fn merged_metadata(
    inputs: &[SplitMetadata],
    bundle: BundleInfo,
    delete_opstamp: u64,
) -> SplitMetadata {
    let time_range = inputs.iter().filter_map(|split| split.time_range).fold(
        None,
        |range: Option<TimeRange>, split_range| {
            let range = TimeRange::extend(range, split_range.start_nanos);
            Some(TimeRange::extend(Some(range), split_range.end_nanos))
        },
    );
    // Tags survive a merge only if every input recorded them.
    let tags = inputs
        .iter()
        .map(|split| split.tags.as_ref())
        .collect::<Option<Vec<_>>>()
        .map(|listed| {
            let mut tags = SplitTags::default();
            for split_tags in listed {
                tags.add_listed(split_tags);
            }
            tags.finish()
        });
    SplitMetadata {
        split_id: SplitMetadata::new_split_id(),
        state: SplitState::Staged,
        tags,
        // Inputs share one partition: the merge policy groups by it.
        partition_id: inputs.first().map_or(0, |split| split.partition_id),
        // Inputs share one shard too: merges never cross shards.
        shard: inputs.first().map_or(0, |split| split.shard),
        num_docs: inputs.iter().map(|split| split.num_docs).sum(),
        uncompressed_docs_size_bytes: inputs
            .iter()
            .map(|split| split.uncompressed_docs_size_bytes)
            .sum(),
        time_range,
        split_size_bytes: bundle.split_size_bytes,
        footer_offsets: bundle.footer_offsets,
        doc_mapping_uid: inputs
            .first()
            .map(|split| split.doc_mapping_uid.clone())
            .unwrap_or_default(),
        num_merge_ops: inputs
            .iter()
            .map(|split| split.num_merge_ops)
            .max()
            .unwrap_or(0)
            + 1,
        create_timestamp: 0,
        update_timestamp: 0,
        publish_timestamp: None,
        // Explicit: a merge is published after its inputs, and must not count as having had
        // the tasks created in between applied.
        delete_opstamp: Some(delete_opstamp),
    }
}
