//! One batch of queue messages, processed as SQS FIFO requires, without any Lambda in sight.
//!
//! [`IndexerRuntime::run_batch`] is what the Lambda handler and the poller call. Messages are
//! handled in order; consecutive messages for the same index become one indexing run (one
//! publish). Failures come in two kinds ([`FailureKind`]):
//!
//! - **permanent**: a body that never parses, an object that is gone, a key no storage can
//!   hold, an unknown index. The message is *set aside*: recorded whole, with its reason, under
//!   the index's `errors/set-aside/` (or the storage's `errors/set-aside/` when no index can be
//!   told), counted, and acknowledged, so that it blocks nothing behind it;
//! - **retryable**: throttling, 5xx, timeouts, a busy metastore, the deadline. The message and
//!   every later one are reported failed and nothing after it is attempted: SQS redelivers
//!   them in order, and the checkpoint turns already-indexed objects into no-ops.
//!
//! A message that keeps failing would drag the messages behind it into the dead-letter queue
//! (they are received, and counted, with it every time). So on its last delivery
//! (`ApproximateReceiveCount` at the queue's `maxReceiveCount`), a failing message is reported
//! alone and the batch goes on past it: it reaches the dead-letter queue by itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use hydrant_index::config::IndexConfig;
use hydrant_index::template::{IndexTemplate, template_for};
use hydrant_metastore::shard::parse_message_group;
use hydrant_metastore::{Error as MetastoreError, Metastore, ShardId};
use hydrant_storage::{StorageResolver, StorageUri, recognise};
use serde::Serialize;
use serde_json::json;
use tokio::sync::RwLock;
use tracing::{debug, info, warn};

use crate::error::{FailureKind, IngestError, Result};
use crate::error_records::{self, SetAsideObject, SetAsideRecord};
use crate::indexer::{Indexer, IndexingReport, ObjectOutcome};
use crate::maintenance::{Maintainer, MaintenanceReport};
use crate::message::{IndexerMessage, parse_message};
use crate::settings::IndexerSettings;
use crate::staging::{ObjectRef, StagingBuckets};

/// A message as the queue delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    pub message_id: String,
    /// The FIFO message group; Hydrant uses the index id.
    pub group_id: Option<String>,
    pub body: String,
    /// How many times the queue has delivered it, this time included
    /// (`ApproximateReceiveCount`); 1 when unknown.
    pub receive_count: u32,
}

impl QueueMessage {
    /// A message delivered for the first time.
    pub fn new(
        message_id: impl Into<String>,
        group_id: Option<String>,
        body: impl Into<String>,
    ) -> Self {
        QueueMessage {
            message_id: message_id.into(),
            group_id,
            body: body.into(),
            receive_count: 1,
        }
    }

    /// The message backfill sends for one object (`{"bucket", "key", "etag"?, "index_id"?}`),
    /// identified by the object's key: how `hydrant index` and local mode hand objects to the
    /// same batch core as the queue.
    ///
    /// ```
    /// use hydrant_ingest::ObjectRef;
    /// use hydrant_ingest::batch::QueueMessage;
    ///
    /// let message = QueueMessage::backfill(&ObjectRef::new("staging", "2026/12/01/a"), Some("logs"));
    /// assert_eq!(message.message_id, "staging/2026/12/01/a");
    /// assert_eq!(message.group_id.as_deref(), Some("logs"));
    /// ```
    /// The scheduled maintenance message (`{"type": "maintenance", "index_id"?}`): merges,
    /// garbage collection and retention, of one index or of all.
    pub fn maintenance(index_id: Option<&str>) -> Self {
        let body = json!({"type": "maintenance", "index_id": index_id});
        QueueMessage::new(
            format!("maintenance/{}", index_id.unwrap_or("*")),
            index_id.map(str::to_string),
            body.to_string(),
        )
    }

    pub fn backfill(object: &ObjectRef, index_id: Option<&str>) -> Self {
        let body = json!({
            "bucket": object.bucket,
            "key": object.key,
            "etag": object.etag,
            "index_id": index_id,
        });
        QueueMessage::new(
            object.source_key(),
            index_id.map(str::to_string),
            body.to_string(),
        )
    }
}

/// A message reported failed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchFailure {
    /// Position in the batch.
    pub position: usize,
    pub message_id: String,
    pub cause: StopCause,
    pub reason: String,
}

/// Why a batch stopped at a message. Both are worth a redelivery: a message that can never
/// succeed is set aside ([`SetAside`]) instead of stopping anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopCause {
    /// The message was tried and failed in a way that may pass later: throttling, a 5xx, a
    /// timeout, a busy metastore.
    Retryable,
    /// The invocation's deadline was near, so the message was not tried: it is not at fault.
    Deadline,
}

/// A message acknowledged without being (wholly) indexed, because it never can be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetAside {
    pub message_id: String,
    /// The index it was meant for, when that is known.
    pub index_id: Option<String>,
    pub reason: String,
    /// Where its record is, on the index storage.
    pub record: String,
}

/// What a batch did.
#[derive(Debug, Default, Serialize)]
pub struct BatchOutcome {
    /// Ids of the messages to report in `batchItemFailures`.
    pub failed_message_ids: Vec<String>,
    /// The failure that stopped the batch: it and every message after it were reported.
    pub failure: Option<BatchFailure>,
    /// Messages that failed on their last delivery, reported alone so that the messages
    /// behind them were processed instead of following them into the dead-letter queue.
    pub dead_lettered: Vec<BatchFailure>,
    /// Messages acknowledged because they can never succeed, each recorded with its reason.
    pub set_aside: Vec<SetAside>,
    pub num_messages: usize,
    pub num_ignored: usize,
    pub num_objects_indexed: usize,
    pub num_objects_already_indexed: usize,
    pub num_docs: u64,
    pub num_rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub bytes_read: u64,
    pub bytes_uncompressed: u64,
    pub splits: Vec<String>,
    /// Where rejected records were kept.
    pub error_files: Vec<String>,
    /// Maintenance done by this batch: requested, or merges after indexing.
    pub maintenance: Vec<MaintenanceReport>,
    /// What indexing did, index by index (a FIFO batch may hold several message groups).
    pub indexing_by_index: BTreeMap<String, IndexActivity>,
    pub elapsed_micros: u64,
}

/// What a batch did to one index: the figures its metrics carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IndexActivity {
    pub objects_indexed: usize,
    pub docs: u64,
    pub rejected: u64,
    pub bytes_read: u64,
    pub splits_published: usize,
    pub merges: usize,
    pub splits_deleted: usize,
    pub messages_set_aside: usize,
}

impl std::ops::AddAssign<&IndexActivity> for IndexActivity {
    fn add_assign(&mut self, other: &IndexActivity) {
        self.objects_indexed += other.objects_indexed;
        self.docs += other.docs;
        self.rejected += other.rejected;
        self.bytes_read += other.bytes_read;
        self.splits_published += other.splits_published;
        self.merges += other.merges;
        self.splits_deleted += other.splits_deleted;
        self.messages_set_aside += other.messages_set_aside;
    }
}

impl BatchOutcome {
    /// Logs the batch in one short line at INFO (the whole outcome at DEBUG): with many
    /// invocations, log bytes cost more than the compute (BENCHMARKS.md, log bytes).
    pub fn log_summary(&self) {
        tracing::debug!(outcome = %serde_json::to_string(self).unwrap_or_default(), "batch outcome");
        let indexes: Vec<&str> = self.by_index().into_keys().collect();
        let merges: usize = self.maintenance.iter().map(|report| report.merges).sum();
        let deleted: usize = self
            .maintenance
            .iter()
            .map(|report| report.splits_deleted)
            .sum();
        info!(
            messages = self.num_messages,
            indexes = indexes.join(","),
            objects = self.num_objects_indexed,
            already_indexed = self.num_objects_already_indexed,
            docs = self.num_docs,
            rejected = self.num_rejected,
            bytes_read = self.bytes_read,
            splits = self.splits.len(),
            merges,
            deleted,
            set_aside = self.set_aside.len(),
            failed = self.failed_message_ids.len(),
            dead_lettered = self.dead_lettered.len(),
            failure = self.failure_reason(),
            duration_ms = self.elapsed_micros / 1000,
            "batch"
        );
    }

    /// Why the batch stopped, if it did.
    pub fn failure_reason(&self) -> Option<&str> {
        self.failure.as_ref().map(|failure| failure.reason.as_str())
    }

    /// What the batch did to each index it touched: indexing, maintenance, messages set
    /// aside. Set-aside messages whose index is unknown are in none.
    pub fn by_index(&self) -> BTreeMap<&str, IndexActivity> {
        let mut by_index: BTreeMap<&str, IndexActivity> = self
            .indexing_by_index
            .iter()
            .map(|(index_id, activity)| (index_id.as_str(), activity.clone()))
            .collect();
        for report in &self.maintenance {
            let activity = by_index.entry(report.index_id.as_str()).or_default();
            activity.merges += report.merges;
            activity.splits_deleted += report.splits_deleted;
        }
        for set_aside in &self.set_aside {
            if let Some(index_id) = &set_aside.index_id {
                by_index
                    .entry(index_id.as_str())
                    .or_default()
                    .messages_set_aside += 1;
            }
        }
        by_index
    }

    fn add_indexing(&mut self, report: &IndexingReport) {
        let activity = self
            .indexing_by_index
            .entry(report.index_id.clone())
            .or_default();
        *activity += &IndexActivity {
            objects_indexed: report.num_objects_indexed(),
            docs: report.num_docs,
            rejected: report.num_rejected,
            bytes_read: report.bytes_read,
            splits_published: report.splits.len(),
            ..IndexActivity::default()
        };
        self.num_docs += report.num_docs;
        self.num_rejected += report.num_rejected;
        self.bytes_read += report.bytes_read;
        self.bytes_uncompressed += report.bytes_uncompressed;
        for (_, object) in &report.objects {
            match object {
                ObjectOutcome::Indexed { .. } => self.num_objects_indexed += 1,
                ObjectOutcome::AlreadyIndexed => self.num_objects_already_indexed += 1,
                ObjectOutcome::SetAside { .. } => {}
            }
        }
        for (reason, count) in &report.rejected_by_reason {
            *self.rejected_by_reason.entry(reason.clone()).or_default() += count;
        }
        self.splits
            .extend(report.splits.iter().map(|split| split.split_id.clone()));
        self.error_files.extend(report.error_files.iter().cloned());
    }
}

/// Totals over batches add themselves (`hydrant index`, local mode, the poller's summary).
/// The later batch's stop, if any, replaces the earlier one's.
impl std::ops::AddAssign for BatchOutcome {
    fn add_assign(&mut self, other: BatchOutcome) {
        self.failed_message_ids.extend(other.failed_message_ids);
        if other.failure.is_some() {
            self.failure = other.failure;
        }
        self.dead_lettered.extend(other.dead_lettered);
        self.set_aside.extend(other.set_aside);
        self.num_messages += other.num_messages;
        self.num_ignored += other.num_ignored;
        self.num_objects_indexed += other.num_objects_indexed;
        self.num_objects_already_indexed += other.num_objects_already_indexed;
        self.num_docs += other.num_docs;
        self.num_rejected += other.num_rejected;
        for (reason, count) in other.rejected_by_reason {
            *self.rejected_by_reason.entry(reason).or_default() += count;
        }
        self.bytes_read += other.bytes_read;
        self.bytes_uncompressed += other.bytes_uncompressed;
        self.splits.extend(other.splits);
        self.error_files.extend(other.error_files);
        self.maintenance.extend(other.maintenance);
        for (index_id, activity) in &other.indexing_by_index {
            *self.indexing_by_index.entry(index_id.clone()).or_default() += activity;
        }
        self.elapsed_micros += other.elapsed_micros;
    }
}

/// Where processing stopped: the message at `position` must be redelivered.
struct Stop {
    position: usize,
    cause: StopCause,
    reason: String,
}

impl Stop {
    fn retryable(position: usize, reason: String) -> Self {
        Stop {
            position,
            cause: StopCause::Retryable,
            reason,
        }
    }
}

/// The index a prefix rule routes `source_key` (`bucket/key`) to, if it matches. A `*` in
/// the prefix matches one key segment (no `/`), which replaces the `*` of the index id: the
/// rule `staging/logs/tenant=*/` → `logs-*` routes `staging/logs/tenant=acme/...` to
/// `logs-acme`, as Firehose's dynamic partitioning writes keys.
fn rule_index(prefix: &str, index_id: &str, source_key: &str) -> Option<String> {
    let Some((before, after)) = prefix.split_once('*') else {
        return source_key.starts_with(prefix).then(|| index_id.to_string());
    };
    let rest = source_key.strip_prefix(before)?;
    let segment_end = rest.find('/').unwrap_or(rest.len());
    // The shortest capture the rest of the prefix follows, within the segment.
    let capture_end = (0..=segment_end).find(|end| rest[*end..].starts_with(after))?;
    let capture = &rest[..capture_end];
    if capture.is_empty() {
        return None;
    }
    Some(index_id.replacen('*', capture, 1))
}

/// The indexer as deployed: settings applied, indexes known, ready for batches.
#[derive(Debug)]
pub struct IndexerRuntime {
    indexer: Indexer,
    maintainer: Maintainer,
    prefix_rules: Vec<(String, String)>,
    known_indexes: RwLock<BTreeSet<String>>,
    /// Index templates: an index one matches is routed to before it exists (the indexer
    /// creates it on first sight). Read on the first miss, not at start-up.
    templates: RwLock<Vec<IndexTemplate>>,
    /// The queue's `maxReceiveCount`: a message delivered this often is on its last delivery.
    max_receive_count: Option<u32>,
    /// Whether a batch merges what it published while time allows (the default), or leaves
    /// merges to maintenance.
    merge_after_indexing: bool,
}

impl IndexerRuntime {
    /// Applies `settings`: opens the index storage, creates the indexes of the configured
    /// configs that do not exist yet, and learns which indexes exist. Any problem is an error
    /// here, before the first message. Scratch files of stopped processes are the process's
    /// to remove, once, before this (`hydrant_storage::scratch::clean_at_start`).
    pub async fn start(settings: &IndexerSettings, resolver: StorageResolver) -> Result<Self> {
        let index_storage = resolver.resolve(&settings.index_uri).await?;
        let metastore = Metastore::new(index_storage);
        for config_uri in &settings.index_config_uris {
            let config = load_index_config(&resolver, config_uri).await?;
            match metastore.create_index(config).await {
                Ok(metadata) => info!(index_id = metadata.index_id(), config_uri, "created index"),
                Err(MetastoreError::IndexAlreadyExists(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let mut indexer = Indexer::new(metastore.clone(), StagingBuckets::new(resolver))
            .with_checkpoint_retention(settings.checkpoint_retention)
            .with_min_time_to_finish(settings.min_time_to_finish);
        let mut maintainer = Maintainer::new(metastore)
            .with_gc_settings(settings.gc.clone())
            .with_checkpoint_retention(settings.checkpoint_retention);
        if let Some(temp_dir) = &settings.temp_dir {
            indexer = indexer.with_temp_root(temp_dir.clone());
            maintainer = maintainer.with_temp_root(temp_dir.clone());
        }
        Ok(IndexerRuntime::new(indexer, settings.prefix_rules.clone())
            .await?
            .with_maintainer(maintainer)
            .with_max_receive_count(settings.max_receive_count))
    }

    /// A runtime over an existing indexer (local mode, tests).
    pub async fn new(indexer: Indexer, prefix_rules: Vec<(String, String)>) -> Result<Self> {
        let runtime = IndexerRuntime {
            maintainer: Maintainer::new(indexer.metastore().clone()),
            indexer,
            prefix_rules,
            known_indexes: RwLock::default(),
            templates: RwLock::default(),
            max_receive_count: None,
            merge_after_indexing: true,
        };
        runtime.refresh_known_indexes().await?;
        for (prefix, index_id) in &runtime.prefix_rules {
            // A rule with a `*` names its index by the key (an index per partition), which a
            // template creates; the others name an index that must exist.
            if index_id.contains('*') {
                if !prefix.contains('*') {
                    return Err(IngestError::Config(format!(
                        "prefix rule `{prefix}={index_id}`: the index has a `*` for the prefix's,                          which has none"
                    )));
                }
                continue;
            }
            if !runtime.known_indexes.read().await.contains(index_id) {
                return Err(IngestError::Config(format!(
                    "prefix rule `{prefix}={index_id}` names an index that does not exist"
                )));
            }
        }
        Ok(runtime)
    }

    pub fn indexer(&self) -> &Indexer {
        &self.indexer
    }

    /// Replaces the maintainer (garbage collection settings, temporary directory).
    pub fn with_maintainer(mut self, maintainer: Maintainer) -> Self {
        self.maintainer = maintainer;
        self
    }

    pub fn maintainer(&self) -> &Maintainer {
        &self.maintainer
    }

    /// Tells the runtime the queue's `maxReceiveCount` (its redrive policy), so that a message
    /// on its last delivery goes to the dead-letter queue alone. `None`: no redrive policy.
    pub fn with_max_receive_count(mut self, max_receive_count: Option<u32>) -> Self {
        self.max_receive_count = max_receive_count;
        self
    }

    /// With `false`, batches publish and leave merging to maintenance (`hydrant index ingest
    /// --no-merge`: indexing measured or timed alone).
    pub fn with_merge_after_indexing(mut self, merge: bool) -> Self {
        self.merge_after_indexing = merge;
        self
    }

    fn is_last_delivery(&self, message: &QueueMessage) -> bool {
        self.max_receive_count
            .is_some_and(|max| message.receive_count >= max)
    }

    /// One listing of the index ids (no index document is read): all a cold start pays.
    async fn refresh_known_indexes(&self) -> Result<()> {
        let index_ids = self.indexer.metastore().list_index_ids().await?;
        *self.known_indexes.write().await = index_ids.into_iter().collect();
        Ok(())
    }

    /// Templates are read only when a message names an index nobody knows.
    async fn refresh_templates(&self) -> Result<()> {
        *self.templates.write().await = self.indexer.metastore().templates().await?;
        Ok(())
    }

    /// Whether messages may go to `index_id`: it exists, or a template will create it. A
    /// name no index can have (a route's `logs-*` message group) is never one, even where a
    /// template's pattern would match it.
    async fn accepts(&self, index_id: &str) -> bool {
        if hydrant_index::config::validate_index_id(index_id).is_err() {
            return false;
        }
        self.known_indexes.read().await.contains(index_id)
            || template_for(&self.templates.read().await, index_id).is_some()
    }

    /// Which index a message's objects go to: the index named in the body, else the message
    /// group, else the longest matching prefix rule, else the only index there is.
    async fn route(
        &self,
        named: Option<&str>,
        group_id: Option<&str>,
        objects: &[ObjectRef],
    ) -> Result<String> {
        for attempt in 0..2 {
            if attempt == 1 {
                // An index created since start-up, or one a template creates: learn them
                // once, then decide.
                self.refresh_known_indexes().await?;
                self.refresh_templates().await?;
            }
            if let Some(index_id) = named {
                if self.accepts(index_id).await {
                    return Ok(index_id.to_string());
                }
                continue;
            }
            if let Some(group_id) = group_id
                && self.accepts(group_id).await
            {
                return Ok(group_id.to_string());
            }
            let mut by_rule = BTreeSet::new();
            for object in objects {
                let source_key = object.source_key();
                let matched = self
                    .prefix_rules
                    .iter()
                    .filter_map(|(prefix, index_id)| {
                        rule_index(prefix, index_id, &source_key)
                            .map(|routed| (prefix.len(), routed))
                    })
                    .max_by_key(|(length, _)| *length);
                if let Some((_, index_id)) = matched {
                    by_rule.insert(index_id);
                }
            }
            match by_rule.len() {
                1 => return Ok(by_rule.into_iter().next().expect("one index")),
                0 => {}
                _ => {
                    return Err(IngestError::Unroutable(format!(
                        "the message's objects match rules of several indexes: {by_rule:?}"
                    )));
                }
            }
            let known = self.known_indexes.read().await;
            if known.len() == 1 {
                return Ok(known.iter().next().expect("one index").clone());
            }
        }
        Err(IngestError::Unroutable(match (named, group_id) {
            (Some(index_id), _) => format!("index `{index_id}` does not exist"),
            _ => format!(
                "cannot tell which index the message is for: its group `{}` is not an index and no \
                 prefix rule matches",
                group_id.unwrap_or("")
            ),
        }))
    }

    /// Processes a batch. See the module documentation.
    pub async fn run_batch(
        &self,
        messages: &[QueueMessage],
        deadline: Option<Instant>,
    ) -> BatchOutcome {
        let started = Instant::now();
        let mut outcome = BatchOutcome {
            num_messages: messages.len(),
            ..BatchOutcome::default()
        };
        let mut indexed: BTreeSet<(String, ShardId)> = BTreeSet::new();
        let mut start = 0;
        while start < messages.len() {
            let Some(stop) = self
                .process(messages, start, deadline, &mut outcome, &mut indexed)
                .await
            else {
                break;
            };
            let message = &messages[stop.position];
            let failure = BatchFailure {
                position: stop.position,
                message_id: message.message_id.clone(),
                cause: stop.cause,
                reason: stop.reason,
            };
            if stop.cause == StopCause::Retryable && self.is_last_delivery(message) {
                warn!(
                    message_id = message.message_id,
                    receive_count = message.receive_count,
                    reason = failure.reason,
                    "message failed on its last delivery: reported alone, it goes to the \
                     dead-letter queue and the batch goes on"
                );
                outcome.failed_message_ids.push(message.message_id.clone());
                outcome.dead_lettered.push(failure);
                start = stop.position + 1;
                continue;
            }
            warn!(
                message_id = message.message_id,
                failed = messages.len() - stop.position,
                reason = failure.reason,
                "batch stopped; the failed message and all later ones will be redelivered"
            );
            outcome.failed_message_ids.extend(
                messages[stop.position..]
                    .iter()
                    .map(|message| message.message_id.clone()),
            );
            outcome.failure = Some(failure);
            break;
        }
        // Merge what indexing just added while the invocation's time allows. The new data is
        // already published: a merge problem is logged, not a failed message.
        // Only the shards just published: their documents are read, not listed.
        if !self.merge_after_indexing {
            indexed.clear();
        }
        for (index_id, shard) in indexed {
            let mut report = MaintenanceReport {
                index_id: index_id.clone(),
                ..MaintenanceReport::default()
            };
            if let Err(error) = self
                .maintainer
                .merge_shard(&index_id, shard, deadline, &mut report)
                .await
            {
                warn!(index_id, %error, "merging after indexing failed; maintenance will retry");
            }
            if report.merges > 0 || report.merges_deferred > 0 {
                outcome.maintenance.push(report);
            }
        }
        outcome.elapsed_micros = started.elapsed().as_micros() as u64;
        outcome
    }

    /// Processes `messages[start..]` in order; returns where it had to stop.
    async fn process(
        &self,
        messages: &[QueueMessage],
        start: usize,
        deadline: Option<Instant>,
        outcome: &mut BatchOutcome,
        indexed: &mut BTreeSet<(String, ShardId)>,
    ) -> Option<Stop> {
        let mut planned: Vec<(usize, Planned)> = Vec::new();
        let mut bound: Option<Stop> = None;
        for (position, message) in messages.iter().enumerate().skip(start) {
            match self.plan(message).await {
                Ok(plan) => planned.push((position, plan)),
                Err(error) => {
                    bound = Some(Stop {
                        position,
                        cause: StopCause::Retryable,
                        reason: error.to_string(),
                    });
                    break;
                }
            }
        }
        let failure = self
            .execute(messages, &planned, deadline, outcome, indexed)
            .await;
        failure.or(bound)
    }

    /// What a message asks. Permanent problems become [`Planned::SetAside`]; an error here is
    /// retryable (the metastore could not be read to route it).
    async fn plan(&self, message: &QueueMessage) -> Result<Planned> {
        let parsed = match parse_message(&message.body) {
            Ok(parsed) => parsed,
            // Its group, if that is an index, says where the record goes (`set_aside`).
            Err(error) => {
                return Ok(Planned::SetAside {
                    index_id: None,
                    reason: error.to_string(),
                });
            }
        };
        Ok(match parsed {
            IndexerMessage::Ignore { reason } => {
                debug!(message_id = message.message_id, reason, "message ignored");
                Planned::Ignore
            }
            IndexerMessage::Maintenance { index_id } => {
                let index_ids = match index_id {
                    Some(index_id) => vec![index_id],
                    None => self.known_indexes.read().await.iter().cloned().collect(),
                };
                Planned::Maintain { index_ids }
            }
            IndexerMessage::IndexObjects { objects, index_id } => {
                // `logs/3` is shard 3 of the route whose group is `logs`.
                let (group, shard) = match message.group_id.as_deref() {
                    Some(group_id) => {
                        let (group, shard) = parse_message_group(group_id);
                        (Some(group), shard)
                    }
                    None => (None, 0),
                };
                match self.route(index_id.as_deref(), group, &objects).await {
                    Ok(index_id) => Planned::Index {
                        index_id,
                        shard,
                        objects,
                    },
                    Err(error) if error.kind() == FailureKind::Permanent => Planned::SetAside {
                        index_id: None,
                        reason: error.to_string(),
                    },
                    Err(error) => return Err(error),
                }
            }
        })
    }

    /// Executes planned messages in order; returns where it had to stop.
    async fn execute(
        &self,
        messages: &[QueueMessage],
        planned: &[(usize, Planned)],
        deadline: Option<Instant>,
        outcome: &mut BatchOutcome,
        indexed: &mut BTreeSet<(String, ShardId)>,
    ) -> Option<Stop> {
        let mut next = 0;
        while next < planned.len() {
            let (position, plan) = &planned[next];
            let message = &messages[*position];
            let step = match plan {
                Planned::Ignore => {
                    outcome.num_ignored += 1;
                    Ok(next + 1)
                }
                Planned::SetAside { index_id, reason } => self
                    .record_set_aside(
                        message,
                        *position,
                        index_id.as_deref(),
                        None,
                        reason,
                        outcome,
                    )
                    .await
                    .map(|()| next + 1),
                Planned::Maintain { index_ids } => self
                    .maintain(message, *position, index_ids, deadline, outcome)
                    .await
                    .map(|()| next + 1),
                Planned::Index { .. } => {
                    self.index_run(messages, planned, next, deadline, outcome, indexed)
                        .await
                }
            };
            match step {
                Ok(after) => next = after,
                Err(stop) => return Some(stop),
            }
        }
        None
    }

    /// Sets a message aside and counts it; a failure to record it stops the batch there.
    async fn record_set_aside(
        &self,
        message: &QueueMessage,
        position: usize,
        index_id: Option<&str>,
        object: Option<&ObjectRef>,
        reason: &str,
        outcome: &mut BatchOutcome,
    ) -> std::result::Result<(), Stop> {
        match self.set_aside(message, index_id, object, reason).await {
            Ok(set_aside) => {
                outcome.set_aside.push(set_aside);
                Ok(())
            }
            Err(error) => Err(Stop::retryable(position, error.to_string())),
        }
    }

    /// A maintenance message: every index it names, maintained in turn.
    async fn maintain(
        &self,
        message: &QueueMessage,
        position: usize,
        index_ids: &[String],
        deadline: Option<Instant>,
        outcome: &mut BatchOutcome,
    ) -> std::result::Result<(), Stop> {
        for index_id in index_ids {
            match self.maintainer.run(index_id, deadline).await {
                Ok(report) => outcome.maintenance.push(report),
                Err(error) if error.kind() == FailureKind::Permanent => {
                    let reason = format!("maintenance of {index_id}: {error}");
                    self.record_set_aside(message, position, None, None, &reason, outcome)
                        .await?;
                }
                Err(error) => {
                    let reason = format!("maintenance of {index_id}: {error}");
                    return Err(Stop::retryable(position, reason));
                }
            }
        }
        Ok(())
    }

    /// One indexing run for the consecutive messages, from `planned[next]` on, bound to the
    /// same index; returns where the next run starts.
    async fn index_run(
        &self,
        messages: &[QueueMessage],
        planned: &[(usize, Planned)],
        next: usize,
        deadline: Option<Instant>,
        outcome: &mut BatchOutcome,
        indexed: &mut BTreeSet<(String, ShardId)>,
    ) -> std::result::Result<usize, Stop> {
        let (
            position,
            Planned::Index {
                index_id, shard, ..
            },
        ) = &planned[next]
        else {
            return Ok(next + 1);
        };
        let (index_id, shard) = (index_id.as_str(), *shard);
        let run_end = planned[next..]
            .iter()
            .position(|(_, plan)| !plan.indexes_into(index_id, shard))
            .map_or(planned.len(), |offset| next + offset);
        let run = &planned[next..run_end];
        let target = (index_id, shard);
        let Some(indexed_run) = self
            .index_setting_aside(messages, run, *position, target, deadline, outcome)
            .await?
        else {
            return Ok(run_end);
        };
        if !indexed_run.report.splits.is_empty() {
            indexed.insert((index_id.to_string(), shard));
        }
        outcome.add_indexing(&indexed_run.report);
        self.settle_run(messages, index_id, &indexed_run, outcome)
            .await?;
        Ok(run_end)
    }

    /// Indexes the objects of `run`. A message whose object fails for good is set aside and
    /// the run indexed again without it (nothing of a failed run is published): one bad
    /// object never holds back the messages around it. Each round sets one message aside, so
    /// this ends. `None` when the whole run was set aside.
    async fn index_setting_aside(
        &self,
        messages: &[QueueMessage],
        run: &[(usize, Planned)],
        position: usize,
        (index_id, shard): (&str, ShardId),
        deadline: Option<Instant>,
        outcome: &mut BatchOutcome,
    ) -> std::result::Result<Option<IndexedRun>, Stop> {
        let mut set_aside: BTreeSet<usize> = BTreeSet::new();
        loop {
            let (objects, owners) =
                run_objects(run.iter().filter(|(owner, _)| !set_aside.contains(owner)));
            let error = match self
                .indexer
                .index_shard_objects(index_id, shard, &objects, deadline)
                .await
            {
                Ok(report) => {
                    return Ok(Some(IndexedRun {
                        report,
                        objects,
                        owners,
                    }));
                }
                Err(error) => error,
            };
            let first_owner = owners.first().copied().unwrap_or(position);
            if error.kind() == FailureKind::Retryable {
                return Err(Stop::retryable(first_owner, error.to_string()));
            }
            let reason = error.to_string();
            let Some(failed) = error.object_position() else {
                // Not one object's fault (the index is gone, its config no longer maps):
                // every message of the run is set aside.
                let mut run_owners = owners;
                run_owners.dedup();
                for owner in run_owners {
                    self.record_set_aside(&messages[owner], owner, None, None, &reason, outcome)
                        .await?;
                }
                return Ok(None);
            };
            let owner = owners[failed];
            let object = Some(&objects[failed]);
            self.record_set_aside(
                &messages[owner],
                owner,
                Some(index_id),
                object,
                &reason,
                outcome,
            )
            .await?;
            set_aside.insert(owner);
        }
    }

    /// After an indexed run: sets aside the messages of objects the indexer kept whole, and
    /// stops the batch at an object that failed or at the deadline.
    async fn settle_run(
        &self,
        messages: &[QueueMessage],
        index_id: &str,
        run: &IndexedRun,
        outcome: &mut BatchOutcome,
    ) -> std::result::Result<(), Stop> {
        let IndexedRun {
            report,
            objects,
            owners,
        } = run;
        for (object_position, (_, object_outcome)) in report.objects.iter().enumerate() {
            if let ObjectOutcome::SetAside { reason } = object_outcome {
                let owner = owners[object_position];
                let object = Some(&objects[object_position]);
                self.record_set_aside(
                    &messages[owner],
                    owner,
                    Some(index_id),
                    object,
                    reason,
                    outcome,
                )
                .await?;
            }
        }
        if let Some(failure) = &report.failure {
            return Err(Stop::retryable(
                owners[failure.position],
                format!("{}: {}", failure.source_key, failure.error),
            ));
        }
        if let Some(deadline_stop) = report.deadline_stop {
            return Err(Stop {
                position: owners[deadline_stop],
                cause: StopCause::Deadline,
                reason: "the invocation deadline was near; not attempted".to_string(),
            });
        }
        Ok(())
    }

    /// Records a message that can never succeed, whole and with its reason, where an operator
    /// finds it: beside the rejected records of its index (`indexes/{index_id}/errors/
    /// set-aside/`), or under `errors/set-aside/` when no index can be told. Written before the
    /// message is acknowledged; a redelivery writes the same record again.
    async fn set_aside(
        &self,
        message: &QueueMessage,
        index_id: Option<&str>,
        object: Option<&ObjectRef>,
        reason: &str,
    ) -> Result<SetAside> {
        let known_index = match index_id {
            Some(index_id) => Some(index_id.to_string()),
            None => {
                let known = self.known_indexes.read().await;
                message
                    .group_id
                    .as_deref()
                    .map(|group_id| parse_message_group(group_id).0.to_string())
                    .filter(|group| known.contains(group))
            }
        };
        let record_path = error_records::set_aside_path(
            known_index.as_deref(),
            &message.message_id,
            object.map(|object| object.key.as_str()).unwrap_or(""),
        );
        let record = SetAsideRecord {
            message_id: message.message_id.clone(),
            group_id: message.group_id.clone(),
            receive_count: message.receive_count,
            index_id: known_index.clone(),
            object: object.map(|object| SetAsideObject {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                etag: object.etag.clone(),
            }),
            reason: reason.to_string(),
            set_aside_at: self.indexer.metastore().clock().now_secs(),
            body: message.body.clone(),
        };
        let bytes = record.to_bytes();
        recognise::overwrite(
            self.indexer.metastore().storage().as_ref(),
            &record_path,
            bytes.into(),
        )
        .await?;
        warn!(
            message_id = message.message_id,
            reason,
            record = record_path,
            "message set aside"
        );
        Ok(SetAside {
            message_id: message.message_id.clone(),
            index_id: known_index,
            reason: reason.to_string(),
            record: record_path,
        })
    }
}

/// What a message asks, once parsed and routed.
enum Planned {
    Ignore,
    Index {
        index_id: String,
        /// From the message group (`logs/3`); 0 without one.
        shard: ShardId,
        objects: Vec<ObjectRef>,
    },
    Maintain {
        index_ids: Vec<String>,
    },
    /// It can never succeed: record it and acknowledge it.
    SetAside {
        index_id: Option<String>,
        reason: String,
    },
}

impl Planned {
    /// True for objects to index into `shard` of `index_id`: consecutive ones make one run.
    fn indexes_into(&self, index_id: &str, shard: ShardId) -> bool {
        matches!(
            self,
            Planned::Index { index_id: other, shard: other_shard, .. }
                if other == index_id && *other_shard == shard
        )
    }
}

/// Reads and validates an index config: `s3://bucket/key` or a local path.
async fn load_index_config(resolver: &StorageResolver, uri: &str) -> Result<IndexConfig> {
    let bad = |message: String| IngestError::Config(format!("index config {uri}: {message}"));
    let location: StorageUri = uri
        .parse()
        .map_err(|error: hydrant_storage::StorageError| bad(error.to_string()))?;
    let bytes = match location {
        StorageUri::Local(path) => tokio::fs::read(&path)
            .await
            .map_err(|error| bad(error.to_string()))?,
        StorageUri::S3 {
            bucket,
            prefix: key,
        } => {
            let bucket_uri = StorageUri::S3 {
                bucket,
                prefix: String::new(),
            };
            let storage = resolver
                .resolve(&bucket_uri)
                .await
                .map_err(|error| bad(error.to_string()))?;
            storage
                .get(&key)
                .await
                .map_err(|error| bad(error.to_string()))?
                .bytes
                .to_vec()
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".to_string()))?;
    let config = IndexConfig::from_yaml(&text).map_err(|error| bad(error.to_string()))?;
    // The field mappings too, even when the index already exists: a config the indexer
    // cannot map is a bad setting, refused at start-up.
    hydrant_index::doc_mapper::DocMapper::new(&config).map_err(|error| bad(error.to_string()))?;
    Ok(config)
}

/// A shared runtime, as handlers hold it.
pub type SharedRuntime = Arc<IndexerRuntime>;

/// The objects of a run's messages, in order, and the position of the message each came from.
/// An indexed run: the report, the objects indexed, and the message each came from.
struct IndexedRun {
    report: IndexingReport,
    objects: Vec<ObjectRef>,
    owners: Vec<usize>,
}

fn run_objects<'a>(
    run: impl Iterator<Item = &'a (usize, Planned)>,
) -> (Vec<ObjectRef>, Vec<usize>) {
    let mut objects = Vec::new();
    let mut owners = Vec::new();
    for (owner, plan) in run {
        if let Planned::Index {
            objects: message_objects,
            ..
        } = plan
        {
            objects.extend(message_objects.iter().cloned());
            owners.extend(std::iter::repeat_n(*owner, message_objects.len()));
        }
    }
    (objects, owners)
}

#[cfg(test)]
mod tests {
    use super::rule_index;

    #[test]
    fn prefix_rules_route_by_a_key_segment() {
        let rule = |prefix, index, key| rule_index(prefix, index, key);
        assert_eq!(
            rule("s/logs/", "logs", "s/logs/a.gz").as_deref(),
            Some("logs")
        );
        assert_eq!(rule("s/logs/", "logs", "s/other/a.gz"), None);
        let (prefix, index) = ("s/firehose/tenant=*/", "logs-*");
        assert_eq!(
            rule(prefix, index, "s/firehose/tenant=acme/2026/x.gz").as_deref(),
            Some("logs-acme")
        );
        // A partition is one segment, and never empty.
        assert_eq!(rule(prefix, index, "s/firehose/tenant=/x.gz"), None);
        assert_eq!(rule(prefix, index, "s/firehose/tenant=acme"), None);
        assert_eq!(
            rule("s/*/raw/", "raw-*", "s/web/raw/x").as_deref(),
            Some("raw-web")
        );
        assert_eq!(rule("s/*/raw/", "raw-*", "s/web/cooked/raw/x"), None);
    }
}
