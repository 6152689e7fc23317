//! Delete tasks: a query whose matching documents are removed from an index, split by split,
//! by the indexer's maintenance (Quickwit's delete API, with the progress its users ask for).
//!
//! An index's tasks live in one document, `indexes/{index_id}/delete_tasks.json`
//! ([`DeleteTasks`]), changed by compare-and-swap commits that recognise their own write after
//! a lost response, as shard commits do. Each task has an opstamp, increasing; a split records
//! the newest task it has had applied ([`SplitMetadata::delete_opstamp`]). A split without one
//! (built from records) counts as having had every task created before it was published
//! applied: a task deletes what was searchable, or being published, when it was created, not
//! records indexed after it (Quickwit's rule; a task created in the second a split is
//! published applies to it).
//!
//! Applying the pending tasks to a split either finds no match (the split's opstamp is
//! raised, nothing rewritten) or rewrites it without the matches and publishes the rewrite in
//! its place. The task records what it did, and which replaced split files garbage collection
//! has yet to delete: once no split is left to apply it to and none of those files remain,
//! the deleted documents are gone from the index storage, and the task says when.
//!
//! ```
//! use hydrant_metastore::delete_task::{DeleteQuery, DeleteTasks};
//! use hydrant_metastore::SplitMetadata;
//!
//! let mut tasks = DeleteTasks::new("uid".to_string());
//! let query = DeleteQuery {
//!     query_ast: serde_json::json!("MatchAll"),
//!     search_fields: Vec::new(),
//!     start_timestamp: None,
//!     end_timestamp: None,
//! };
//! tasks.append(query, 1_000, "a".to_string());
//! assert_eq!(tasks.last_opstamp(), 1);
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::debug;

use crate::error::{Error, Result};
use crate::metastore::{Metastore, RECENT_COMMITS};
use crate::paths;
use crate::split::{SplitMetadata, SplitState};

/// The format of the delete tasks document this build writes.
pub const DELETE_TASKS_FORMAT_VERSION: u32 = 1;
/// Commit attempts before giving up on a contended document.
const MAX_ATTEMPTS: u32 = 16;

/// An index's delete tasks, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteTasks {
    pub format_version: u32,
    /// The index incarnation the tasks are of: a document of another uid is a leftover of a
    /// deleted index of the same id, and reads as no task.
    pub index_uid: String,
    pub tasks: Vec<DeleteTask>,
    /// Applications to splits under way: recorded before the split's commit and settled
    /// after it (or, after a crash, by the next run from the splits' states), so that each
    /// split counts once in the tasks' progress whatever stops in between.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<DeleteApplication>,
    /// Ids of the last commits, to recognise a write whose response was lost.
    #[serde(default)]
    pub recent_commits: Vec<String>,
}

/// One delete task, in the shape of Quickwit's, with its progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteTask {
    pub opstamp: u64,
    /// Unix seconds.
    pub create_timestamp: i64,
    pub delete_query: DeleteQuery,
    #[serde(default)]
    pub progress: DeleteProgress,
}

/// What a task deletes: the documents a query matches (the search crate's query AST, kept
/// opaque here) within a time range (Unix seconds, start inclusive, end exclusive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteQuery {
    pub query_ast: Value,
    /// The fields clauses naming none search, fixed when the task is created: a later change
    /// of the index's default search fields does not change what the task deletes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_fields: Vec<String>,
    #[serde(default)]
    pub start_timestamp: Option<i64>,
    #[serde(default)]
    pub end_timestamp: Option<i64>,
}

/// Pending tasks applied to one split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteApplication {
    pub split_id: String,
    /// The newest task applied.
    pub opstamp: u64,
    pub outcome: ApplicationOutcome,
    /// Documents each applied task deleted (by opstamp; a document two tasks match counts for
    /// the older).
    pub docs_deleted: Vec<(u64, u64)>,
}

/// What an application does to its split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationOutcome {
    /// Nothing matched: the split's opstamp is raised.
    Unchanged,
    /// Rewritten without the matches, the rewrite published in its place.
    Rewritten { output_split_id: String },
    /// Everything matched: the split is marked for deletion.
    Emptied,
}

impl DeleteApplication {
    /// Whether its commit was applied, told from the index's splits (by id) after the fact.
    pub fn was_applied(
        &self,
        split: Option<&SplitMetadata>,
        output: Option<&SplitMetadata>,
    ) -> bool {
        let still_published = split.is_some_and(|split| split.state == SplitState::Published);
        match &self.outcome {
            ApplicationOutcome::Unchanged => {
                split.is_some_and(|split| split.delete_opstamp >= Some(self.opstamp))
            }
            ApplicationOutcome::Emptied => !still_published,
            // Published once, whatever a merge did to it since; gone, if its input is too.
            ApplicationOutcome::Rewritten { .. } => match output {
                Some(output) => output.publish_timestamp.is_some(),
                None => !still_published,
            },
        }
    }
}

/// What applying a task has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteProgress {
    /// Splits rewritten without the documents the task matched.
    pub splits_rewritten: u64,
    /// Splits it matched nothing in (not rewritten).
    pub splits_unchanged: u64,
    pub docs_deleted: u64,
    /// Splits a rewrite replaced whose files garbage collection has not deleted yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_split_ids: Vec<String>,
    /// Unix seconds at which the last replaced file was deleted with no split left to apply
    /// the task to: from then on, the index storage holds none of the documents it deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_timestamp: Option<i64>,
}

impl DeleteTasks {
    pub fn new(index_uid: String) -> Self {
        DeleteTasks {
            format_version: DELETE_TASKS_FORMAT_VERSION,
            index_uid,
            tasks: Vec::new(),
            in_flight: Vec::new(),
            recent_commits: Vec::new(),
        }
    }

    /// The newest task's opstamp; 0 without tasks.
    pub fn last_opstamp(&self) -> u64 {
        self.tasks.last().map_or(0, |task| task.opstamp)
    }

    /// Appends a task created at `now` (Unix seconds); returns it.
    pub fn append(&mut self, delete_query: DeleteQuery, now: i64, commit_id: String) -> DeleteTask {
        let task = DeleteTask {
            opstamp: self.last_opstamp() + 1,
            create_timestamp: now,
            delete_query,
            progress: DeleteProgress::default(),
        };
        self.tasks.push(task.clone());
        self.remember(commit_id);
        task
    }

    fn remember(&mut self, commit_id: String) {
        self.recent_commits.push(commit_id);
        let excess = self.recent_commits.len().saturating_sub(RECENT_COMMITS);
        self.recent_commits.drain(..excess);
    }

    /// The newest task `split` has had applied (or predates: see the module documentation).
    pub fn applied_opstamp(&self, split: &SplitMetadata) -> u64 {
        split.delete_opstamp.unwrap_or_else(|| {
            let published = split.publish_timestamp.unwrap_or(split.create_timestamp);
            (self.tasks.iter())
                .filter(|task| task.create_timestamp < published)
                .map(|task| task.opstamp)
                .max()
                .unwrap_or(0)
        })
    }

    /// The tasks still to apply to `split`, oldest first.
    pub fn pending_for(&self, split: &SplitMetadata) -> Vec<&DeleteTask> {
        let applied = self.applied_opstamp(split);
        (self.tasks.iter())
            .filter(|task| task.opstamp > applied)
            .collect()
    }

    /// Settles an application under way: its counts go to its tasks if its commit was
    /// applied, and it is dropped either way. Does nothing if it was settled already.
    pub fn settle(&mut self, split_id: &str, applied: bool) {
        let Some(position) = (self.in_flight.iter()).position(|app| app.split_id == split_id)
        else {
            return;
        };
        let application = self.in_flight.remove(position);
        if !applied {
            return;
        }
        for task in &mut self.tasks {
            let Some((_, deleted)) =
                (application.docs_deleted.iter()).find(|(opstamp, _)| *opstamp == task.opstamp)
            else {
                continue;
            };
            task.progress.docs_deleted += deleted;
            if *deleted == 0 {
                task.progress.splits_unchanged += 1;
            } else {
                task.progress.splits_rewritten += 1;
                // The replaced split holds what the task deleted until its file is deleted.
                task.progress
                    .replaced_split_ids
                    .push(application.split_id.clone());
            }
        }
    }

    /// After garbage collection deleted the files of `deleted_split_ids`: they no longer hold
    /// anything a task deleted. A task with no split left to apply it to (in `splits`) and no
    /// replaced file left is complete as of `now`.
    pub fn files_deleted<'a>(
        &mut self,
        deleted_split_ids: &[String],
        splits: impl IntoIterator<Item = &'a SplitMetadata> + Clone,
        now: i64,
    ) {
        for task in &mut self.tasks {
            (task.progress.replaced_split_ids).retain(|id| !deleted_split_ids.contains(id));
        }
        let complete: Vec<u64> = (self.tasks.iter())
            .filter(|task| task.progress.completed_timestamp.is_none())
            .filter(|task| task.progress.replaced_split_ids.is_empty())
            .filter(|task| self.in_flight.is_empty() && self.splits_left(task, splits.clone()) == 0)
            .map(|task| task.opstamp)
            .collect();
        for task in &mut self.tasks {
            if complete.contains(&task.opstamp) {
                task.progress.completed_timestamp = Some(now);
            }
        }
    }

    /// Published splits (of `splits`) a task has still to be applied to.
    pub fn splits_left<'a>(
        &self,
        task: &DeleteTask,
        splits: impl IntoIterator<Item = &'a SplitMetadata>,
    ) -> usize {
        splits
            .into_iter()
            .filter(|split| split.state == SplitState::Published)
            .filter(|split| self.applied_opstamp(split) < task.opstamp)
            .count()
    }
}

impl Metastore {
    /// The delete tasks of `index_id` (none if it never had one).
    pub async fn delete_tasks(&self, index_id: &str) -> Result<DeleteTasks> {
        let mut uid = self.index_uid(index_id).await?;
        Ok(self.read_delete_tasks(index_id, &mut uid).await?.0)
    }

    /// Creates a delete task on `index_id`; returns it.
    pub async fn create_delete_task(
        &self,
        index_id: &str,
        delete_query: DeleteQuery,
    ) -> Result<DeleteTask> {
        let now = self.clock().now_secs();
        self.commit_delete_tasks(index_id, |tasks, commit_id| {
            Ok(tasks.append(delete_query.clone(), now, commit_id))
        })
        .await
    }

    /// Changes the delete tasks of `index_id` with `mutation` in one compare-and-swap commit,
    /// retried on lost races; a write whose response was lost is recognised by its commit id.
    /// `mutation` gets the commit id to record with [`DeleteTasks::remember`] (it does so for
    /// every change through [`Metastore::update_delete_tasks`]).
    async fn commit_delete_tasks<T>(
        &self,
        index_id: &str,
        mut mutation: impl FnMut(&mut DeleteTasks, String) -> Result<T>,
    ) -> Result<T> {
        let mut uid = self.index_uid(index_id).await?;
        let path = paths::delete_tasks_document(index_id);
        let mut unsettled: Vec<(String, T)> = Vec::new();
        let mut last_error: Option<Error> = None;
        for attempt in 0..MAX_ATTEMPTS {
            let (mut tasks, mode) = match self.read_delete_tasks(index_id, &mut uid).await {
                Ok(read) => read,
                Err(read_error) => return Err(last_error.unwrap_or(read_error)),
            };
            if let Some(position) = (unsettled.iter())
                .position(|(commit_id, _)| tasks.recent_commits.contains(commit_id))
            {
                debug!(
                    index_id,
                    attempt, "an ambiguous delete tasks write was ours"
                );
                return Ok(unsettled.swap_remove(position).1);
            }
            if let Some(error) = last_error.take()
                && !error.is_precondition_failed()
            {
                return Err(error);
            }
            let commit_id = uuid::Uuid::new_v4().simple().to_string();
            let outcome = mutation(&mut tasks, commit_id.clone())?;
            let payload = serde_json::to_vec(&tasks)
                .map_err(|error| Error::corrupt(&path, format!("does not serialize: {error}")))?;
            match self.storage().put(&path, payload.into(), mode).await {
                Ok(_) => return Ok(outcome),
                Err(error) => {
                    if error.is_precondition_failed() {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            10 * u64::from(attempt + 1),
                        ))
                        .await;
                    }
                    unsettled.push((commit_id, outcome));
                    last_error = Some(Error::from(error));
                }
            }
        }
        Err(Error::Contention {
            index_id: index_id.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Changes the delete tasks of `index_id` (progress, say) in one commit.
    pub async fn update_delete_tasks<T>(
        &self,
        index_id: &str,
        mut mutation: impl FnMut(&mut DeleteTasks) -> T,
    ) -> Result<T> {
        self.commit_delete_tasks(index_id, |tasks, commit_id| {
            let outcome = mutation(tasks);
            tasks.remember(commit_id);
            Ok(outcome)
        })
        .await
    }

    /// The tasks document and how a write of it must be conditioned. A document of another
    /// uid than `uid` (cached) is a leftover of a deleted index once the index document
    /// confirms `uid`; `uid` is corrected if it was the stale one.
    async fn read_delete_tasks(
        &self,
        index_id: &str,
        uid: &mut String,
    ) -> Result<(DeleteTasks, hydrant_storage::PutMode)> {
        use hydrant_storage::PutMode;
        let path = paths::delete_tasks_document(index_id);
        match self.storage().get(&path).await {
            Ok(object) => {
                let location = self.storage().describe(&path);
                let tasks: DeleteTasks = serde_json::from_slice(&object.bytes)
                    .map_err(|error| Error::corrupt(&location, error))?;
                if tasks.format_version != DELETE_TASKS_FORMAT_VERSION {
                    return Err(Error::corrupt(
                        location,
                        format!(
                            "format version {} (this build reads {DELETE_TASKS_FORMAT_VERSION})",
                            tasks.format_version
                        ),
                    ));
                }
                let mode = PutMode::Update(object.meta.version);
                if tasks.index_uid != *uid {
                    self.forget_uid(index_id);
                    *uid = self.index_uid(index_id).await?;
                }
                if tasks.index_uid != *uid {
                    // A deleted index's leftover: replaced, conditionally.
                    return Ok((DeleteTasks::new(uid.to_string()), mode));
                }
                Ok((tasks, mode))
            }
            Err(error) if error.is_not_found() => {
                Ok((DeleteTasks::new(uid.to_string()), PutMode::Create))
            }
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(split_id: &str, published: i64, delete_opstamp: Option<u64>) -> SplitMetadata {
        SplitMetadata {
            split_id: split_id.to_string(),
            state: SplitState::Published,
            num_docs: 10,
            uncompressed_docs_size_bytes: 100,
            time_range: None,
            split_size_bytes: 100,
            footer_offsets: 0..10,
            doc_mapping_uid: String::new(),
            num_merge_ops: 0,
            create_timestamp: published,
            update_timestamp: published,
            publish_timestamp: Some(published),
            tags: None,
            partition_id: 0,
            shard: 0,
            delete_opstamp,
        }
    }

    fn tasks_at(times: &[i64]) -> DeleteTasks {
        let mut tasks = DeleteTasks::new("uid".to_string());
        for (number, time) in times.iter().enumerate() {
            let query = DeleteQuery {
                query_ast: Value::Null,
                search_fields: Vec::new(),
                start_timestamp: None,
                end_timestamp: None,
            };
            tasks.append(query, *time, format!("commit-{number}"));
        }
        tasks
    }

    #[test]
    fn a_task_applies_to_what_was_published_when_it_was_created() {
        let tasks = tasks_at(&[100, 200]);
        // Published before both, at the second of the first, between, and after both.
        assert_eq!(tasks.pending_for(&split("a", 50, None)).len(), 2);
        assert_eq!(tasks.pending_for(&split("b", 100, None)).len(), 2);
        assert_eq!(tasks.applied_opstamp(&split("c", 150, None)), 1);
        assert!(tasks.pending_for(&split("d", 250, None)).is_empty());
        // A merge or a rewrite says what it had applied, whenever it was published.
        assert_eq!(tasks.pending_for(&split("e", 250, Some(1))).len(), 1);
        assert_eq!(
            tasks.splits_left(&tasks.tasks[1], [&split("e", 250, Some(1))]),
            1
        );
    }

    #[test]
    fn an_application_counts_once_and_only_if_applied() {
        let mut tasks = tasks_at(&[100, 200]);
        let application = DeleteApplication {
            split_id: "a".to_string(),
            opstamp: 2,
            outcome: ApplicationOutcome::Rewritten {
                output_split_id: "b".to_string(),
            },
            docs_deleted: vec![(1, 3), (2, 0)],
        };
        tasks.in_flight.push(application.clone());
        tasks.settle("a", true);
        tasks.settle("a", true);
        assert_eq!(tasks.tasks[0].progress.docs_deleted, 3);
        assert_eq!(tasks.tasks[0].progress.splits_rewritten, 1);
        assert_eq!(tasks.tasks[0].progress.replaced_split_ids, ["a"]);
        assert_eq!(tasks.tasks[1].progress.splits_unchanged, 1);
        tasks.in_flight.push(application);
        tasks.settle("a", false);
        assert_eq!(tasks.tasks[0].progress.docs_deleted, 3);
        assert!(tasks.in_flight.is_empty());

        // Complete once the replaced file is deleted and no split is left to apply them to.
        let rewritten = split("b", 300, Some(2));
        tasks.files_deleted(&[], [&rewritten], 400);
        assert_eq!(tasks.tasks[0].progress.completed_timestamp, None);
        assert_eq!(tasks.tasks[1].progress.completed_timestamp, Some(400));
        tasks.files_deleted(&["a".to_string()], [&rewritten], 500);
        assert_eq!(tasks.tasks[0].progress.completed_timestamp, Some(500));
        assert_eq!(tasks.tasks[1].progress.completed_timestamp, Some(400));
    }

    #[test]
    fn what_happened_to_an_interrupted_application_is_told_from_the_splits() {
        let unchanged = DeleteApplication {
            split_id: "a".to_string(),
            opstamp: 2,
            outcome: ApplicationOutcome::Unchanged,
            docs_deleted: vec![(2, 0)],
        };
        assert!(unchanged.was_applied(Some(&split("a", 1, Some(2))), None));
        assert!(!unchanged.was_applied(Some(&split("a", 1, None)), None));
        let rewritten = DeleteApplication {
            outcome: ApplicationOutcome::Rewritten {
                output_split_id: "b".to_string(),
            },
            ..unchanged
        };
        let mut staged = split("b", 1, Some(2));
        staged.publish_timestamp = None;
        staged.state = SplitState::Staged;
        assert!(!rewritten.was_applied(Some(&split("a", 1, None)), Some(&staged)));
        assert!(rewritten.was_applied(None, Some(&split("b", 2, Some(2)))));
        let mut replaced = split("a", 1, None);
        replaced.state = SplitState::MarkedForDeletion;
        assert!(rewritten.was_applied(Some(&replaced), None));
    }
}
