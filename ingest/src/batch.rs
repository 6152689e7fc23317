//! One batch of queue messages, processed as SQS FIFO requires, without any Lambda in sight.
//!
//! [`IndexerRuntime::run_batch`] is what the Lambda handler and the poller call. Messages are
//! handled in order; consecutive messages for the same index become one indexing run (one
//! publish). When a message fails (unreadable body, unknown index, missing object, deadline),
//! it and every later message of the batch are reported failed and nothing after it is
//! attempted: SQS redelivers them in order, and the checkpoint turns already-indexed objects
//! into no-ops.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use hydrant_metastore::index_config::IndexConfig;
use hydrant_metastore::storage::{StorageResolver, StorageUri};
use hydrant_metastore::{Error as MetastoreError, Metastore};
use serde::Serialize;
use serde_json::json;
use tokio::sync::RwLock;
use tracing::{info, warn};

use crate::error::{IngestError, Result};
use crate::indexer::Indexer;
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
}

/// What a batch did.
#[derive(Debug, Default, Serialize)]
pub struct BatchOutcome {
    /// Ids of the messages to report in `batchItemFailures`: the first failure and all after.
    pub failed_message_ids: Vec<String>,
    /// Why the first failed message failed.
    pub failure_reason: Option<String>,
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
    /// Maintenance done by this batch: requested, or merges after indexing.
    pub maintenance: Vec<MaintenanceReport>,
    pub elapsed_micros: u64,
}

impl BatchOutcome {
    /// The one structured log line of an invocation.
    pub fn summary_line(&self) -> String {
        json!({"message": "indexer batch", "batch": self}).to_string()
    }

    /// CloudWatch Embedded Metric Format: the same numbers as metrics, from a log line.
    pub fn emf_line(&self, timestamp_millis: i64) -> String {
        json!({
            "_aws": {
                "Timestamp": timestamp_millis,
                "CloudWatchMetrics": [{
                    "Namespace": "Hydrant",
                    "Dimensions": [[]],
                    "Metrics": [
                        {"Name": "DocsIndexed", "Unit": "Count"},
                        {"Name": "RecordsRejected", "Unit": "Count"},
                        {"Name": "ObjectsIndexed", "Unit": "Count"},
                        {"Name": "MessagesFailed", "Unit": "Count"},
                        {"Name": "BytesRead", "Unit": "Bytes"},
                        {"Name": "BatchDuration", "Unit": "Milliseconds"},
                    ],
                }],
            },
            "DocsIndexed": self.num_docs,
            "RecordsRejected": self.num_rejected,
            "ObjectsIndexed": self.num_objects_indexed,
            "MessagesFailed": self.failed_message_ids.len(),
            "BytesRead": self.bytes_read,
            "BatchDuration": self.elapsed_micros / 1000,
        })
        .to_string()
    }
}

/// The indexer as deployed: settings applied, indexes known, ready for batches.
#[derive(Debug)]
pub struct IndexerRuntime {
    indexer: Indexer,
    maintainer: Maintainer,
    prefix_rules: Vec<(String, String)>,
    known_indexes: RwLock<BTreeSet<String>>,
}

impl IndexerRuntime {
    /// Applies `settings`: opens the index storage, creates the indexes of the configured
    /// configs that do not exist yet, and learns which indexes exist. Any problem is an error
    /// here, before the first message.
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
        let mut maintainer = Maintainer::new(metastore).with_gc_settings(settings.gc.clone());
        if let Some(temp_dir) = &settings.temp_dir {
            indexer = indexer.with_temp_root(temp_dir.clone());
            maintainer = maintainer.with_temp_root(temp_dir.clone());
        }
        Ok(IndexerRuntime::new(indexer, settings.prefix_rules.clone())
            .await?
            .with_maintainer(maintainer))
    }

    /// A runtime over an existing indexer (local mode, tests).
    pub async fn new(indexer: Indexer, prefix_rules: Vec<(String, String)>) -> Result<Self> {
        let runtime = IndexerRuntime {
            maintainer: Maintainer::new(indexer.metastore().clone()),
            indexer,
            prefix_rules,
            known_indexes: RwLock::default(),
        };
        runtime.refresh_known_indexes().await?;
        for (prefix, index_id) in &runtime.prefix_rules {
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

    async fn refresh_known_indexes(&self) -> Result<()> {
        let indexes = self.indexer.metastore().list_indexes().await?;
        *self.known_indexes.write().await = indexes
            .iter()
            .map(|index| index.index_id().to_string())
            .collect();
        Ok(())
    }

    /// Which index a message's objects go to: the index named in the body, else the message
    /// group, else the longest matching prefix rule, else the only index there is.
    async fn route(
        &self,
        named: Option<&str>,
        group_id: Option<&str>,
        objects: &[ObjectRef],
    ) -> Result<String, String> {
        for attempt in 0..2 {
            if attempt == 1 {
                // An index created since start-up: learn it once, then decide.
                self.refresh_known_indexes()
                    .await
                    .map_err(|error| error.to_string())?;
            }
            let known = self.known_indexes.read().await;
            if let Some(index_id) = named {
                if known.contains(index_id) {
                    return Ok(index_id.to_string());
                }
                continue;
            }
            if let Some(group_id) = group_id
                && known.contains(group_id)
            {
                return Ok(group_id.to_string());
            }
            let mut by_rule = BTreeSet::new();
            for object in objects {
                let source_key = object.source_key();
                let matched = self
                    .prefix_rules
                    .iter()
                    .filter(|(prefix, _)| source_key.starts_with(prefix.as_str()))
                    .max_by_key(|(prefix, _)| prefix.len());
                if let Some((_, index_id)) = matched {
                    by_rule.insert(index_id.clone());
                }
            }
            match by_rule.len() {
                1 => return Ok(by_rule.into_iter().next().expect("one index")),
                0 => {}
                _ => {
                    return Err(format!(
                        "the message's objects match rules of several indexes: {by_rule:?}"
                    ));
                }
            }
            if known.len() == 1 {
                return Ok(known.iter().next().expect("one index").clone());
            }
        }
        Err(match (named, group_id) {
            (Some(index_id), _) => format!("index `{index_id}` does not exist"),
            _ => format!(
                "cannot tell which index the message is for: its group `{}` is not an index and no \
                 prefix rule matches",
                group_id.unwrap_or("")
            ),
        })
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
        let first_failure = self.process(messages, deadline, &mut outcome).await;
        if let Some((position, reason)) = first_failure {
            warn!(
                message_id = messages[position].message_id,
                failed = messages.len() - position,
                reason,
                "batch stopped; the failed message and all later ones will be redelivered"
            );
            outcome.failed_message_ids = messages[position..]
                .iter()
                .map(|message| message.message_id.clone())
                .collect();
            outcome.failure_reason = Some(reason);
        }
        outcome.elapsed_micros = started.elapsed().as_micros() as u64;
        outcome
    }

    /// Returns the position of the first failed message and why it failed.
    async fn process(
        &self,
        messages: &[QueueMessage],
        deadline: Option<Instant>,
        outcome: &mut BatchOutcome,
    ) -> Option<(usize, String)> {
        // Parse and route everything first; the first bad message bounds the batch.
        let mut planned: Vec<Planned> = Vec::new();
        let mut bound: Option<(usize, String)> = None;
        for (position, message) in messages.iter().enumerate() {
            let parsed = match parse_message(&message.body) {
                Ok(parsed) => parsed,
                Err(error) => {
                    bound = Some((position, error.to_string()));
                    break;
                }
            };
            match parsed {
                IndexerMessage::Ignore { reason } => {
                    info!(message_id = message.message_id, reason, "message ignored");
                    planned.push(Planned::Ignore);
                }
                IndexerMessage::Maintenance { index_id } => {
                    let index_ids = match index_id {
                        Some(index_id) => vec![index_id],
                        None => self.known_indexes.read().await.iter().cloned().collect(),
                    };
                    planned.push(Planned::Maintain { index_ids });
                }
                IndexerMessage::IndexObjects { objects, index_id } => {
                    match self
                        .route(index_id.as_deref(), message.group_id.as_deref(), &objects)
                        .await
                    {
                        Ok(index_id) => planned.push(Planned::Index { index_id, objects }),
                        Err(reason) => {
                            bound = Some((position, reason));
                            break;
                        }
                    }
                }
            }
        }

        let mut indexed: BTreeSet<String> = BTreeSet::new();
        let failure = self
            .execute(&planned, deadline, outcome, &mut indexed)
            .await;
        // Merge what indexing just added while the invocation's time allows. The new data is
        // already published: a merge problem is logged, not a failed message.
        for index_id in indexed {
            let mut report = MaintenanceReport {
                index_id: index_id.clone(),
                ..MaintenanceReport::default()
            };
            if let Err(error) = self
                .maintainer
                .merge(&index_id, deadline, &mut report)
                .await
            {
                warn!(index_id, %error, "merging after indexing failed; maintenance will retry");
            }
            if report.merges > 0 || report.merges_deferred > 0 {
                outcome.maintenance.push(report);
            }
        }
        failure.or(bound)
    }

    /// Executes planned messages in order; returns the first failure.
    async fn execute(
        &self,
        planned: &[Planned],
        deadline: Option<Instant>,
        outcome: &mut BatchOutcome,
        indexed: &mut BTreeSet<String>,
    ) -> Option<(usize, String)> {
        let mut position = 0;
        while position < planned.len() {
            let index_id = match &planned[position] {
                Planned::Ignore => {
                    outcome.num_ignored += 1;
                    position += 1;
                    continue;
                }
                Planned::Maintain { index_ids } => {
                    for index_id in index_ids {
                        match self.maintainer.run(index_id, deadline).await {
                            Ok(report) => outcome.maintenance.push(report),
                            Err(error) => {
                                return Some((
                                    position,
                                    format!("maintenance of {index_id}: {error}"),
                                ));
                            }
                        }
                    }
                    position += 1;
                    continue;
                }
                Planned::Index { index_id, .. } => index_id,
            };
            let run_end = (position..planned.len())
                .find(|&next| !matches!(&planned[next], Planned::Index { index_id: next_index, .. } if next_index == index_id))
                .unwrap_or(planned.len());
            let mut objects = Vec::new();
            let mut owners = Vec::new();
            for (owner, item) in planned.iter().enumerate().take(run_end).skip(position) {
                if let Planned::Index {
                    objects: message_objects,
                    ..
                } = item
                {
                    objects.extend(message_objects.iter().cloned());
                    owners.extend(std::iter::repeat_n(owner, message_objects.len()));
                }
            }
            let report = match self
                .indexer
                .index_objects(index_id, &objects, deadline)
                .await
            {
                Ok(report) => report,
                Err(error) => return Some((position, error.to_string())),
            };
            if !report.splits.is_empty() {
                indexed.insert(index_id.clone());
            }
            outcome.num_docs += report.num_docs;
            outcome.num_rejected += report.num_rejected;
            outcome.bytes_read += report.bytes_read;
            outcome.bytes_uncompressed += report.bytes_uncompressed;
            outcome.num_objects_indexed += report.num_objects_indexed();
            outcome.num_objects_already_indexed +=
                report.objects.len() - report.num_objects_indexed();
            for (reason, count) in &report.rejected_by_reason {
                *outcome
                    .rejected_by_reason
                    .entry(reason.clone())
                    .or_default() += count;
            }
            outcome
                .splits
                .extend(report.splits.iter().map(|split| split.split_id.clone()));
            if let Some(failure) = &report.failure {
                return Some((
                    owners[failure.position],
                    format!("{}: {}", failure.source_key, failure.error),
                ));
            }
            if let Some(stop) = report.deadline_stop {
                return Some((
                    owners[stop],
                    "the invocation deadline was near; not attempted".to_string(),
                ));
            }
            position = run_end;
        }
        None
    }
}

/// What a message asks, once parsed and routed.
enum Planned {
    Ignore,
    Index {
        index_id: String,
        objects: Vec<ObjectRef>,
    },
    Maintain {
        index_ids: Vec<String>,
    },
}

/// Reads and validates an index config: `s3://bucket/key` or a local path.
async fn load_index_config(resolver: &StorageResolver, uri: &str) -> Result<IndexConfig> {
    let bad = |message: String| IngestError::Config(format!("index config {uri}: {message}"));
    let location: StorageUri = uri
        .parse()
        .map_err(|error: MetastoreError| bad(error.to_string()))?;
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
    IndexConfig::from_yaml(&text).map_err(|error| bad(error.to_string()))
}

/// A shared runtime, as handlers hold it.
pub type SharedRuntime = Arc<IndexerRuntime>;
