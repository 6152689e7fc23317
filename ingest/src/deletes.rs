//! Applying delete tasks (`hydrant_metastore::delete_task`), a step of maintenance: each
//! published split with pending tasks is downloaded, the tasks' queries are run on it, and
//! then
//!
//! - nothing matched: its opstamp is raised in the metastore, nothing is rewritten;
//! - everything matched: it is marked for deletion;
//! - otherwise: it is rewritten without the matches (tantivy's merge of its segments with
//!   the matches filtered out), and the rewrite staged, uploaded and published in its place,
//!   as a merge output is.
//!
//! Each application is recorded in the tasks document before its commit and settled after
//! it, so that a crash anywhere leaves the metastore consistent (the split or its rewrite
//! searchable, never both, never neither), the next run counts the split once, and what was
//! left behind (a staged rewrite) is collected as any unpublished upload is. Splits are taken
//! oldest first, as long as the invocation's time allows; the next run goes on.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::split_bundle::{
    BundleInfo, MmapRangeFetcher, SplitDirectory, write_split_bundle,
};
use hydrant_metastore::delete_task::{
    ApplicationOutcome, DeleteApplication, DeleteTask, DeleteTasks,
};
use hydrant_metastore::{Error as MetastoreError, IndexMetadata, SplitMetadata, SplitState};
use hydrant_search::delete::delete_task_query;
use tantivy::directory::{MmapDirectory, OwnedBytes};
use tantivy::fastfield::{AliveBitSet, write_alive_bitset};
use tantivy::query::{EnableScoring, Query};
use tantivy::{BitSet, DocId, ReloadPolicy};
use tracing::{info, warn};

use crate::error::{IngestError, Result};
use crate::indexer::run_blocking;
use crate::maintenance::{MERGE_BYTES_PER_SEC, MIN_TIME_FOR_MERGE, Maintainer, MaintenanceReport};
use crate::split_builder::upload_split_file;

/// The rewrite's bundle, in an application's scratch directory.
const REWRITE_BUNDLE: &str = "rewritten.split";

/// What running the pending tasks' queries on a split found.
struct Matches {
    /// Per pending task, in order: the documents it deletes (not deleted by an older one).
    per_task: Vec<u64>,
    /// Per segment: the documents that stay.
    alive: Vec<BitSet>,
}

impl Matches {
    fn total(&self) -> u64 {
        self.per_task.iter().sum()
    }
}

impl Maintainer {
    /// Applies the pending delete tasks of `index_id` to its splits, oldest first, while
    /// `deadline` allows. See the module documentation.
    pub async fn apply_delete_tasks(
        &self,
        index_id: &str,
        deadline: Option<Instant>,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        let tasks = self.metastore.delete_tasks(index_id).await?;
        let incomplete = |tasks: &DeleteTasks| {
            (tasks.tasks.iter()).any(|task| task.progress.completed_timestamp.is_none())
                || !tasks.in_flight.is_empty()
        };
        if !incomplete(&tasks) {
            return Ok(());
        }
        let metadata = self.metastore.index_splits(index_id).await?;
        if !tasks.in_flight.is_empty() {
            self.settle_interrupted(index_id, &tasks, &metadata).await?;
        }
        // Each split is read with the doc mapping it was built with (an index updated since
        // has several), and rewritten with it.
        let mut doc_mappers: HashMap<String, Arc<DocMapper>> = HashMap::new();
        let mut todo: Vec<&SplitMetadata> = metadata
            .published_splits()
            .filter(|split| !tasks.pending_for(split).is_empty())
            .collect();
        todo.sort_by(|left, right| left.split_id.cmp(&right.split_id));
        for (position, split) in todo.iter().enumerate() {
            if let Some(deadline) = deadline {
                let needed = MIN_TIME_FOR_MERGE
                    + Duration::from_secs_f64(split.split_size_bytes as f64 / MERGE_BYTES_PER_SEC);
                if deadline.saturating_duration_since(Instant::now()) < needed {
                    report.delete_applications_deferred += todo.len() - position;
                    break;
                }
            }
            let pending: Vec<&DeleteTask> = tasks.pending_for(split);
            let doc_mapper = match doc_mappers.entry(split.doc_mapping_uid.clone()) {
                Entry::Occupied(entry) => entry.get().clone(),
                Entry::Vacant(entry) => {
                    let config = metadata.config_of_mapping(&split.doc_mapping_uid);
                    entry.insert(Arc::new(DocMapper::new(&config)?)).clone()
                }
            };
            match self
                .apply_to_split(index_id, &doc_mapper, split, &pending)
                .await
            {
                Ok(()) => report.splits_delete_applied += 1,
                // The split changed meanwhile (a merge replaced it): its successor is
                // applied to by a later run.
                Err(IngestError::Metastore(MetastoreError::Conflict { reason, .. })) => {
                    warn!(
                        index_id,
                        split_id = split.split_id,
                        reason,
                        "split changed; skipped"
                    );
                }
                // A task whose query no longer runs here must not hold up the others, nor
                // merges and garbage collection: it is reported, and retried next run.
                Err(error @ IngestError::DeleteTask { .. }) => {
                    warn!(index_id, split_id = split.split_id, %error, "delete task failed");
                    report.delete_task_errors += 1;
                }
                Err(error) => return Err(error),
            }
        }
        self.note_deleted_files(index_id, &[]).await
    }

    /// Settles the applications an earlier run left under way, from the splits' states.
    async fn settle_interrupted(
        &self,
        index_id: &str,
        tasks: &DeleteTasks,
        metadata: &IndexMetadata,
    ) -> Result<()> {
        let outcomes: Vec<(String, bool)> = (tasks.in_flight.iter())
            .map(|application| {
                let output = match &application.outcome {
                    ApplicationOutcome::Rewritten { output_split_id } => {
                        metadata.splits.get(output_split_id)
                    }
                    _ => None,
                };
                let split = metadata.splits.get(&application.split_id);
                (
                    application.split_id.clone(),
                    application.was_applied(split, output),
                )
            })
            .collect();
        info!(
            index_id,
            applications = outcomes.len(),
            "settling interrupted delete applications"
        );
        self.metastore
            .update_delete_tasks(index_id, |tasks| {
                for (split_id, applied) in &outcomes {
                    tasks.settle(split_id, *applied);
                }
            })
            .await?;
        Ok(())
    }

    /// Applies `pending` (oldest first) to one split.
    async fn apply_to_split(
        &self,
        index_id: &str,
        doc_mapper: &Arc<DocMapper>,
        split: &SplitMetadata,
        pending: &[&DeleteTask],
    ) -> Result<()> {
        let Some(last) = pending.last() else {
            return Ok(());
        };
        let temp_dir = self.merge_dir()?;
        let (matches, bundle) = self
            .rewrite(index_id, doc_mapper, split, pending, temp_dir.path())
            .await?;
        let total = matches.total();
        let outcome = match &bundle {
            _ if total == 0 => ApplicationOutcome::Unchanged,
            _ if total >= split.num_docs => ApplicationOutcome::Emptied,
            Some(_) => ApplicationOutcome::Rewritten {
                output_split_id: SplitMetadata::new_split_id(),
            },
            None => ApplicationOutcome::Unchanged,
        };
        let application = DeleteApplication {
            split_id: split.split_id.clone(),
            opstamp: last.opstamp,
            outcome: outcome.clone(),
            docs_deleted: (pending.iter().zip(&matches.per_task))
                .map(|(task, deleted)| (task.opstamp, *deleted))
                .collect(),
        };
        self.metastore
            .update_delete_tasks(index_id, |tasks| {
                tasks.in_flight.retain(|app| app.split_id != split.split_id);
                tasks.in_flight.push(application.clone());
            })
            .await?;
        crate::error::fail_point("deletes:after_intent")?;
        let rewrite = bundle.map(|bundle| (bundle, temp_dir.path().join(REWRITE_BUNDLE)));
        let committed = self
            .commit_application(index_id, split, &application, total, rewrite)
            .await;
        crate::error::fail_point("deletes:after_commit")?;
        let applied = match &committed {
            Ok(()) => true,
            Err(IngestError::Metastore(MetastoreError::Conflict { .. })) => false,
            // Unknown outcome: the next run settles it from the splits' states.
            Err(_) => return committed,
        };
        self.metastore
            .update_delete_tasks(index_id, |tasks| tasks.settle(&split.split_id, applied))
            .await?;
        committed
    }

    /// Downloads `split` into `dir`, runs the tasks' queries on it, and, when some but not
    /// all of its documents match, writes its rewrite there ([`REWRITE_BUNDLE`]).
    async fn rewrite(
        &self,
        index_id: &str,
        doc_mapper: &Arc<DocMapper>,
        split: &SplitMetadata,
        pending: &[&DeleteTask],
        dir: &std::path::Path,
    ) -> Result<(Matches, Option<BundleInfo>)> {
        let queries = pending
            .iter()
            .map(|task| {
                delete_task_query(doc_mapper.clone(), &task.delete_query, true).map_err(|error| {
                    IngestError::DeleteTask {
                        opstamp: task.opstamp,
                        message: error.to_string(),
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let local_path = dir.join(format!("{}.split", split.split_id));
        self.download_split(index_id, &split.split_id, &local_path)
            .await?;
        let input = (local_path, split.footer_offsets.clone());
        let (output_dir, bundle_path) = (dir.join("rewritten"), dir.join(REWRITE_BUNDLE));
        let tokenizers = doc_mapper.tokenizers().clone();
        let target_settings = doc_mapper.index_settings();
        run_blocking("delete task", move || {
            rewrite_locally(
                &input,
                tokenizers,
                target_settings,
                &queries,
                &output_dir,
                &bundle_path,
            )
        })
        .await
    }

    /// The metastore commit of an application: the split's opstamp raised, the split marked,
    /// or its rewrite (`total` documents fewer, bundled at the given path) published in its
    /// place.
    async fn commit_application(
        &self,
        index_id: &str,
        split: &SplitMetadata,
        application: &DeleteApplication,
        total: u64,
        rewrite: Option<(BundleInfo, std::path::PathBuf)>,
    ) -> Result<()> {
        let opstamp = application.opstamp;
        match (&application.outcome, rewrite) {
            (ApplicationOutcome::Unchanged, _) => {
                let ids = [split.split_id.clone()];
                (self.metastore)
                    .set_delete_opstamp(index_id, split.shard, &ids, opstamp)
                    .await?;
                Ok(())
            }
            (ApplicationOutcome::Emptied, _) => {
                (self.metastore)
                    .mark_splits_for_deletion(index_id, std::slice::from_ref(&split.split_id))
                    .await?;
                Ok(())
            }
            (ApplicationOutcome::Rewritten { output_split_id }, Some((bundle, bundle_path))) => {
                let mut rewritten = split.clone();
                rewritten.split_id = output_split_id.clone();
                rewritten.state = SplitState::Staged;
                let remaining = split.num_docs - total;
                rewritten.uncompressed_docs_size_bytes =
                    split.uncompressed_docs_size_bytes * remaining / split.num_docs.max(1);
                rewritten.num_docs = remaining;
                rewritten.split_size_bytes = bundle.split_size_bytes;
                rewritten.footer_offsets = bundle.footer_offsets;
                rewritten.delete_opstamp = Some(opstamp);
                rewritten.publish_timestamp = None;
                self.publish_rewrite(index_id, &rewritten, split, &bundle_path)
                    .await
            }
            (ApplicationOutcome::Rewritten { .. }, None) => Err(IngestError::DeleteTask {
                opstamp,
                message: "the rewrite was not written".to_string(),
            }),
        }
    }

    /// Stages, uploads and publishes a rewrite in place of its input.
    async fn publish_rewrite(
        &self,
        index_id: &str,
        rewritten: &SplitMetadata,
        input: &SplitMetadata,
        bundle_path: &std::path::Path,
    ) -> Result<()> {
        self.metastore
            .stage_splits(index_id, rewritten.shard, vec![rewritten.clone()])
            .await?;
        upload_split_file(self.metastore.storage(), index_id, rewritten, bundle_path).await?;
        crate::error::fail_point("deletes:after_upload")?;
        self.publish_merge(index_id, rewritten, std::slice::from_ref(input))
            .await
    }
}

/// Runs `queries` on a downloaded split and, when some but not all of its documents match,
/// writes it again without them into `output_dir` and bundles it at `bundle_path`.
fn rewrite_locally(
    (path, footer_offsets): &(std::path::PathBuf, std::ops::Range<u64>),
    tokenizers: tantivy::tokenizer::TokenizerManager,
    target_settings: tantivy::IndexSettings,
    queries: &[Arc<dyn Query>],
    output_dir: &std::path::Path,
    bundle_path: &std::path::Path,
) -> Result<(Matches, Option<BundleInfo>)> {
    let fetcher = MmapRangeFetcher::open(path).map_err(|error| IngestError::Io {
        context: format!("cannot open {}", path.display()),
        source: error,
    })?;
    let footer = fetcher.read_footer(&path.display().to_string(), footer_offsets.clone())?;
    let mut index = SplitDirectory::new(Arc::new(footer), Arc::new(fetcher)).open_index()?;
    index.set_tokenizers(tokenizers);
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(IngestError::Tantivy)?;
    let searcher = reader.searcher();
    let matches = find_matches(&searcher, queries).map_err(IngestError::Tantivy)?;
    let total = matches.total();
    if total == 0 || total >= searcher.num_docs() {
        return Ok((matches, None));
    }
    let segments = index.searchable_segments().map_err(IngestError::Tantivy)?;
    let alive = matches
        .alive
        .iter()
        .map(|bitset| {
            let mut bytes = Vec::new();
            write_alive_bitset(bitset, &mut bytes).map_err(|error| IngestError::Io {
                context: "cannot write an alive bitset".to_string(),
                source: error,
            })?;
            Ok(Some(AliveBitSet::open(OwnedBytes::new(bytes))))
        })
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(output_dir).map_err(|error| IngestError::Io {
        context: "cannot create the rewrite directory".to_string(),
        source: error,
    })?;
    let output = MmapDirectory::open(output_dir).map_err(|error| IngestError::Io {
        context: "cannot open the rewrite directory".to_string(),
        source: std::io::Error::other(error),
    })?;
    tantivy::indexer::merge_filtered_segments(&segments, target_settings, alive, output)
        .map_err(IngestError::Tantivy)?;
    Ok((matches, Some(write_split_bundle(output_dir, bundle_path)?)))
}

/// The documents each query deletes, segment by segment: a document two queries match
/// counts for the first.
fn find_matches(
    searcher: &tantivy::Searcher,
    queries: &[Arc<dyn Query>],
) -> tantivy::Result<Matches> {
    let weights = queries
        .iter()
        .map(|query| query.weight(EnableScoring::disabled_from_searcher(searcher)))
        .collect::<tantivy::Result<Vec<_>>>()?;
    let mut per_task = vec![0u64; queries.len()];
    let mut alive = Vec::new();
    for segment in searcher.segment_readers() {
        let mut segment_alive = BitSet::with_max_value_and_full(segment.max_doc());
        for (task, weight) in weights.iter().enumerate() {
            weight.for_each_no_score(segment, &mut |docs: &[DocId]| {
                for &doc in docs {
                    if segment_alive.contains(doc) {
                        segment_alive.remove(doc);
                        per_task[task] += 1;
                    }
                }
            })?;
        }
        alive.push(segment_alive);
    }
    Ok(Matches { per_task, alive })
}
