//! What a terabyte costs to index, by the shape of a stream: Firehose buffer sizes of 1, 5, 64
//! and 128 MiB, one or ten objects per invocation (`loadtest floor`'s second part).
//!
//! Every input is measured in the run, in a process pinned to one core (what a 1,769 MB
//! Lambda has), with S3's latency injected into every request of the staging and index
//! buckets:
//! - one invocation of each shape through the batch core the Lambda handler runs
//!   (`IndexerRuntime::run_batch`): its duration (what Lambda bills), CPU time, and the
//!   requests it made as S3 bills them;
//! - one merge of ten splits by maintenance: duration and requests per byte merged.
//!
//! Merging is then priced by the index's own merge policy: [`MergePolicy::operations`] run over
//! a stream of splits of each shape's size says how many times each byte is rewritten before
//! its split is mature, and how many merges that takes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::maintenance::{Maintainer, MaintenanceReport};
use hydrant_ingest::merge_policy::MergePolicy;
use hydrant_ingest::{Indexer, StagingBuckets};
use hydrant_metastore::{Metastore, SplitMetadata, SplitState};
use hydrant_storage::testing::ThrottledStorage;
use hydrant_storage::{LocalStorage, PutMode, SharedStorage};
use serde::{Deserialize, Serialize};

use crate::cost::{
    LAMBDA_ARM64_PER_GB_SECOND, LAMBDA_PER_REQUEST, S3_GET_PER_REQUEST, S3_PUT_PER_REQUEST,
    SQS_FIFO_PER_REQUEST,
};
use crate::error::Result;
use crate::firehose::Framing;
use crate::generator::{Dataset, ObjectGenerator, ObjectSpec};
use crate::measure::check;

/// The indexer's memory in the model: the template's, one vCPU's worth (what the pipeline
/// uses).
pub const MODEL_MEMORY_MB: f64 = crate::cost::INDEXER_MEMORY_MB;
/// The Firehose buffer sizes priced, in MiB of records.
pub const OBJECT_MIBS: [u64; 4] = [1, 5, 64, 128];
/// Objects per invocation priced (an SQS FIFO batch holds at most 10).
pub const OBJECTS_PER_INVOCATION: [usize; 2] = [1, 10];

/// What to measure.
#[derive(Clone, Debug)]
pub struct CostRunConfig {
    /// Added to every request of both buckets.
    pub latency: Duration,
    /// Object sizes are multiplied by this (1.0 for the figures; tests shrink it).
    pub scale: f64,
    pub seed: u64,
    pub work_dir: std::path::PathBuf,
}

/// One invocation as measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvocationFigures {
    pub object_mib: u64,
    pub objects: usize,
    pub raw_bytes: u64,
    pub num_docs: u64,
    pub duration_seconds: f64,
    pub cpu_seconds: f64,
    /// GETs and HEADs (staging and index buckets).
    pub reads: u64,
    /// PUTs and LISTs.
    pub writes: u64,
}

/// One merge as measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MergeFigures {
    pub raw_bytes_merged: u64,
    pub splits_merged: usize,
    pub duration_seconds: f64,
    pub cpu_seconds: f64,
    pub reads: u64,
    pub writes: u64,
}

/// Everything the model is computed from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostRun {
    pub latency_ms: u64,
    pub invocations: Vec<InvocationFigures>,
    pub merge: MergeFigures,
}

/// One shape's dollars per TB of records.
#[derive(Clone, Debug, Serialize)]
pub struct ShapeCost {
    pub object_mib: u64,
    pub objects: usize,
    pub invocations_per_tb: f64,
    pub indexing_lambda: f64,
    pub indexing_requests: f64,
    /// Times each byte is rewritten by merges before its split is mature.
    pub merge_rewrites: f64,
    pub merging: f64,
    pub total: f64,
}

/// Measures every shape and the merge, in this process (run it pinned).
pub async fn measure(config: &CostRunConfig) -> Result<CostRun> {
    let mut invocations = Vec::new();
    for object_mib in OBJECT_MIBS {
        for objects in OBJECTS_PER_INVOCATION {
            let dir = config.work_dir.join(format!("cost-{object_mib}-{objects}"));
            let bench = Bench::new(&dir, config.latency).await?;
            let bytes = (object_mib as f64 * config.scale * (1 << 20) as f64) as u64;
            let messages = bench.put_objects(config.seed, objects, bytes, 0).await?;
            invocations.push(bench.invocation(object_mib, &messages).await?);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let merge = measure_merge(config).await?;
    Ok(CostRun {
        latency_ms: config.latency.as_millis() as u64,
        invocations,
        merge,
    })
}

/// Ten invocations of one 5 MiB object each, then the merge of their ten splits.
async fn measure_merge(config: &CostRunConfig) -> Result<MergeFigures> {
    let dir = config.work_dir.join("cost-merge");
    let bench = Bench::new(&dir, config.latency).await?;
    let bytes = (5.0 * config.scale * (1 << 20) as f64) as u64;
    let mut raw_bytes = 0;
    for number in 0..10 {
        let messages = bench.put_objects(config.seed, 1, bytes, number).await?;
        raw_bytes += bench.invocation(5, &messages).await?.raw_bytes;
    }
    let maintainer = Maintainer::new(bench.runtime.indexer().metastore().clone());
    let (reads, writes) = bench.counts();
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut report = MaintenanceReport::default();
    maintainer.merge(INDEX_ID, None, &mut report).await?;
    let duration = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let (reads_after, writes_after) = bench.counts();
    check(report.merges == 1 && report.splits_merged == 10, || {
        format!("expected one merge of 10 splits, got {report:?}")
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(MergeFigures {
        raw_bytes_merged: raw_bytes,
        splits_merged: report.splits_merged,
        duration_seconds: duration,
        cpu_seconds: cpu,
        reads: reads_after - reads,
        writes: writes_after - writes,
    })
}

const INDEX_ID: &str = "web-logs";

/// A fresh index and staging bucket, both behind injected latency and request counters.
struct Bench {
    staging: Arc<ThrottledStorage>,
    index: Arc<ThrottledStorage>,
    runtime: IndexerRuntime,
}

impl Bench {
    async fn new(dir: &std::path::Path, latency: Duration) -> Result<Self> {
        let staging = Arc::new(ThrottledStorage::new(
            Arc::new(LocalStorage::new(dir.join("staging"))?),
            latency,
        ));
        let index = Arc::new(ThrottledStorage::new(
            Arc::new(LocalStorage::new(dir.join("index"))?),
            latency,
        ));
        let metastore = Metastore::new(index.clone());
        metastore
            .create_index(IndexConfig::from_yaml(crate::web_logs::WEB_LOGS_CONFIG)?)
            .await?;
        let buckets = StagingBuckets::default().bind_storage("staging", staging.clone());
        let indexer = Indexer::new(metastore, buckets).with_temp_root(dir.to_path_buf());
        // Merges are priced by the policy (see the module documentation), not left to fall
        // into whichever invocation reaches a merge factor.
        let runtime = IndexerRuntime::new(indexer, Vec::new())
            .await?
            .with_merge_after_indexing(false);
        Ok(Bench {
            staging,
            index,
            runtime,
        })
    }

    /// Reads and writes of both buckets so far.
    fn counts(&self) -> (u64, u64) {
        (
            self.staging.num_reads() + self.index.num_reads(),
            self.staging.num_writes() + self.index.num_writes(),
        )
    }

    /// `count` web-log objects of about `bytes` bytes of records each, put in staging (not
    /// counted), and their messages.
    async fn put_objects(
        &self,
        seed: u64,
        count: usize,
        bytes: u64,
        first: u64,
    ) -> Result<Vec<QueueMessage>> {
        let mut generator = ObjectGenerator::for_dataset(Dataset::WebLogs, seed + first);
        let mut messages = Vec::with_capacity(count);
        for number in first..first + count as u64 {
            let object = generator.object(ObjectSpec {
                // Web-log records average about 330 bytes.
                num_records: (bytes / 330).max(1) as usize,
                bad_share: 0.0,
                framing: Framing::NewlineDelimited,
                gzip: true,
                start_millis: 1_764_000_000_000 + number as i64 * 10_000_000,
                late_share: 0.0,
                strict: false,
            });
            let key = format!("web-logs-1-2026-12-05-10-00-00-{number:08x}");
            let storage: SharedStorage = self.staging.clone();
            storage
                .put(&key, object.bytes.into(), PutMode::Overwrite)
                .await?;
            messages.push(QueueMessage::new(
                format!("message-{number}"),
                Some(INDEX_ID.to_string()),
                format!(r#"{{"bucket":"staging","key":"{key}"}}"#),
            ));
        }
        // The puts above are the stream's, not the indexer's.
        self.staging.take_requests();
        Ok(messages)
    }

    /// Runs one invocation's batch and measures it.
    async fn invocation(
        &self,
        object_mib: u64,
        messages: &[QueueMessage],
    ) -> Result<InvocationFigures> {
        let (reads, writes) = self.counts();
        let cpu = cpu_seconds();
        let started = Instant::now();
        let outcome = self.runtime.run_batch(messages, None).await;
        let duration = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let (reads_after, writes_after) = self.counts();
        check(outcome.failed_message_ids.is_empty(), || {
            format!("the invocation failed: {:?}", outcome.failure)
        })?;
        Ok(InvocationFigures {
            object_mib,
            objects: messages.len(),
            raw_bytes: outcome.bytes_uncompressed,
            num_docs: outcome.num_docs,
            duration_seconds: duration,
            cpu_seconds: cpu,
            reads: reads_after - reads,
            writes: writes_after - writes,
        })
    }
}

/// User + system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: `rusage` is plain data, valid when zeroed; getrusage writes it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    crate::measure::cpu_seconds_of(&usage)
}

/// How many times merges rewrite each document of a stream of splits of `docs_per_split`
/// under `policy`, and merges per split indexed: the policy itself run over enough splits
/// for the first ones to mature.
pub fn merge_amplification(policy: &MergePolicy, docs_per_split: u64) -> (f64, f64) {
    let docs_per_split = docs_per_split.max(1);
    let num_splits = (policy.split_num_docs_target * 4 / docs_per_split).clamp(100, 20_000);
    let mut splits: Vec<SplitMetadata> = Vec::new();
    let (mut merged_docs, mut merges) = (0u64, 0u64);
    for number in 0..num_splits {
        splits.push(fake_split(number, docs_per_split, 0));
        loop {
            let operations = policy.operations(&splits, 0);
            if operations.is_empty() {
                break;
            }
            for inputs in operations {
                let ids: Vec<&str> = inputs.iter().map(|split| split.split_id.as_str()).collect();
                let num_docs: u64 = inputs.iter().map(|split| split.num_docs).sum();
                let ops = inputs
                    .iter()
                    .map(|split| split.num_merge_ops)
                    .max()
                    .unwrap_or(0);
                splits.retain(|split| !ids.contains(&split.split_id.as_str()));
                merged_docs += num_docs;
                merges += 1;
                splits.push(fake_split(num_splits + merges, num_docs, ops + 1));
            }
        }
    }
    let indexed = (num_splits * docs_per_split) as f64;
    (
        merged_docs as f64 / indexed,
        merges as f64 / num_splits as f64,
    )
}

fn fake_split(number: u64, num_docs: u64, num_merge_ops: u32) -> SplitMetadata {
    SplitMetadata {
        split_id: format!("{number:020}"),
        state: SplitState::Published,
        num_docs,
        uncompressed_docs_size_bytes: 0,
        time_range: None,
        tags: None,
        partition_id: 0,
        shard: 0,
        split_size_bytes: 0,
        footer_offsets: 0..0,
        doc_mapping_uid: String::new(),
        num_merge_ops,
        create_timestamp: 0,
        update_timestamp: 0,
        publish_timestamp: Some(0),
        delete_opstamp: None,
    }
}

impl CostRun {
    /// Dollars per TB of records, for every shape measured.
    pub fn costs(&self, policy: &MergePolicy) -> Vec<ShapeCost> {
        let gb_second = MODEL_MEMORY_MB / 1024.0 * LAMBDA_ARM64_PER_GB_SECOND;
        let merge = &self.merge;
        let merge_seconds_per_byte = merge.duration_seconds / merge.raw_bytes_merged.max(1) as f64;
        let merge_requests =
            merge.reads as f64 * S3_GET_PER_REQUEST + merge.writes as f64 * S3_PUT_PER_REQUEST;
        self.invocations
            .iter()
            .map(|invocation| {
                let per_tb = 1e12 / invocation.raw_bytes.max(1) as f64;
                let docs_per_split = invocation.num_docs;
                let (rewrites, merges_per_split) = merge_amplification(policy, docs_per_split);
                // An SQS message per object (EventBridge's send), a receive and a delete per
                // batch.
                let sqs = (invocation.objects as f64 + 2.0) * SQS_FIFO_PER_REQUEST;
                let indexing_lambda = per_tb * invocation.duration_seconds * gb_second;
                let indexing_requests = per_tb
                    * (LAMBDA_PER_REQUEST
                        + sqs
                        + invocation.reads as f64 * S3_GET_PER_REQUEST
                        + invocation.writes as f64 * S3_PUT_PER_REQUEST);
                let merging = rewrites * 1e12 * merge_seconds_per_byte * gb_second
                    + per_tb * merges_per_split * merge_requests;
                ShapeCost {
                    object_mib: invocation.object_mib,
                    objects: invocation.objects,
                    invocations_per_tb: per_tb,
                    indexing_lambda,
                    indexing_requests,
                    merge_rewrites: rewrites,
                    merging,
                    total: indexing_lambda + indexing_requests + merging,
                }
            })
            .collect()
    }

    /// The measured inputs and the model, as a table.
    pub fn table(&self, policy: &MergePolicy) -> String {
        let mut table = format!(
            "Indexing cost per TB of records (arm64 Lambda, {MODEL_MEMORY_MB:.0} MB, pinned to one core, {} ms per S3 request)\n\n",
            self.latency_ms
        );
        table.push_str(&format!(
            "{:>8} {:>8} {:>10} {:>9} {:>8} {:>6} {:>6} {:>10} {:>9} {:>9} {:>9} {:>9}\n",
            "object",
            "objects",
            "MB/invoc",
            "duration",
            "CPU s",
            "GETs",
            "PUTs",
            "inv./TB",
            "index $",
            "rewrites",
            "merge $",
            "total $"
        ));
        for (invocation, cost) in self.invocations.iter().zip(self.costs(policy)) {
            table.push_str(&format!(
                "{:>5} MiB {:>8} {:>10.1} {:>8.2}s {:>8.2} {:>6} {:>6} {:>10.0} {:>9.3} {:>9.2} {:>9.3} {:>9.3}\n",
                invocation.object_mib,
                invocation.objects,
                invocation.raw_bytes as f64 / 1e6,
                invocation.duration_seconds,
                invocation.cpu_seconds,
                invocation.reads,
                invocation.writes,
                cost.invocations_per_tb,
                cost.indexing_lambda + cost.indexing_requests,
                cost.merge_rewrites,
                cost.merging,
                cost.total,
            ));
        }
        let merge = &self.merge;
        table.push_str(&format!(
            "\nmerge of {} splits ({:.1} MB of records): {:.2} s, {:.2} CPU s, {} GETs, {} PUTs \
             ({:.1} MB per second)\n",
            merge.splits_merged,
            merge.raw_bytes_merged as f64 / 1e6,
            merge.duration_seconds,
            merge.cpu_seconds,
            merge.reads,
            merge.writes,
            merge.raw_bytes_merged as f64 / 1e6 / merge.duration_seconds.max(1e-9),
        ));
        table.push_str(
            "for comparison: Athena $5 per TB scanned, per query; Elastic Serverless $70 per TB \
             ingested; CloudWatch Logs $250-500 per TB ingested; OpenSearch Serverless bills \
             OCU-hours while it holds data (about half an indexing and half a search OCU at \
             least, a few hundred dollars a month, or 10-30 s first answers where it scales \
             to zero)\n",
        );
        table
    }
}

/// The merge policy of the index the run measures.
pub fn web_logs_policy() -> Result<MergePolicy> {
    let config = IndexConfig::from_yaml(crate::web_logs::WEB_LOGS_CONFIG)?;
    Ok(MergePolicy::from_settings(&config.spec.indexing_settings)?
        .expect("the web-logs index merges"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_splits_are_rewritten_more_than_large_ones() {
        let policy = web_logs_policy().unwrap();
        let (small, small_merges) = merge_amplification(&policy, 5_000);
        let (large, _) = merge_amplification(&policy, 2_000_000);
        assert!(small > large, "{small} {large}");
        assert!((1.0..=4.0).contains(&small), "{small}");
        assert!(small_merges > 0.0 && small_merges < 1.0, "{small_merges}");
        // A split at the target never merges.
        let (mature, _) = merge_amplification(&policy, policy.split_num_docs_target);
        assert_eq!(mature, 0.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scaled_down_run_prices_every_shape() {
        let temp_dir = tempfile::tempdir().unwrap();
        let config = CostRunConfig {
            latency: Duration::ZERO,
            scale: 0.02,
            seed: 3,
            work_dir: temp_dir.path().to_path_buf(),
        };
        let run = measure(&config).await.unwrap();
        assert_eq!(run.invocations.len(), 8);
        for invocation in &run.invocations {
            assert_eq!(invocation.writes, 2, "{invocation:?}");
            assert!(invocation.num_docs > 0);
        }
        assert_eq!(run.merge.splits_merged, 10);
        let policy = web_logs_policy().unwrap();
        let costs = run.costs(&policy);
        assert!(costs.iter().all(|cost| cost.total > 0.0));
        assert!(run.table(&policy).contains("merge of 10 splits"));
    }
}
