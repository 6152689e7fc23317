//! `loadtest metastore`: what the metastore costs as an index scales out and grows old.
//!
//! - **Publish rate under contention.** W writers, each the indexer of its own shard, publish
//!   small pre-built splits (stage, upload, publish with a checkpoint delta: the indexer's
//!   commit path, without indexing CPU) through a storage that adds a fixed latency to every
//!   request. The baseline, in the same run: the same W writers publishing into *one* shard
//!   document, which is what one document per index (format 1) or one commit log per index
//!   amounts to: every publish races every other one on one key.
//! - **Size as objects accumulate.** One index is fed N staging objects, a few per publish,
//!   with the real merge policy's merges committed as they come due (their outputs are
//!   metadata only: this measures the metastore) and garbage collection after each round.
//!   Then the storage's request log says how many metastore bytes a cold searcher reads
//!   (`index_splits`, what its cache does) and each of the last publishes wrote, next to the
//!   size the whole index would have as one format 1 document.
//! - **Indexing rate of one invocation**, by `indexing_bench` on this machine, so that the
//!   model of an index's ingest rate (`IngestModelRow`) uses figures from the same run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hydrant_index::config::IndexConfig;
use hydrant_ingest::merge_policy::MergePolicy;
use hydrant_metastore::clock::{Clock, ManualClock};
use hydrant_metastore::index_document::LegacyIndexDocument;
use hydrant_metastore::split::{SplitMetadata, SplitState, TimeRange};
use hydrant_metastore::{
    Error as MetastoreError, Metastore, PublishRequest, ShardId, SourceObject, paths,
};
use hydrant_storage::PutMode;
use hydrant_storage::testing::{MemoryStorage, RequestKind, RequestRecord, ThrottledStorage};
use serde::Serialize;

use crate::error::{LoadtestError, Result};
use crate::indexing_bench::{self, IndexingBenchConfig};
use crate::mock_sales::MOCK_SALES_CONFIG;

const INDEX_ID: &str = "mock-sales";
/// Bytes one entry of an S3 ListObjectsV2 answer takes (its XML `Contents` element with key,
/// ETag, size, date and storage class): what a listing costs in bytes, estimated.
const LIST_ENTRY_BYTES: u64 = 300;
/// The objects of one SQS FIFO batch (its maximum) and the size of each, for the model:
/// Firehose's buffer is at most 128 MiB, and a busy stream fills it.
const MODEL_OBJECTS_PER_BATCH: u64 = 10;
const MODEL_OBJECT_MB: f64 = 64.0;

/// What to measure.
#[derive(Clone, Debug)]
pub struct MetastoreBenchConfig {
    /// Added to every storage request in the publish-rate phase and the cold reads.
    pub latency: Duration,
    /// Concurrent writers of the publish-rate phase, each run.
    pub writer_counts: Vec<u32>,
    pub publishes_per_writer: u32,
    /// Staging objects fed to the index of the size phase.
    pub history_objects: u64,
    /// Shards they are spread over.
    pub history_shards: u32,
    pub objects_per_publish: u64,
    /// Megabytes of records of the indexing-rate measurement.
    pub indexing_mb: u64,
    pub work_dir: std::path::PathBuf,
    pub seed: u64,
}

/// The figures of one run.
#[derive(Clone, Debug, Serialize)]
pub struct MetastoreBenchReport {
    pub latency_ms: u64,
    /// Writers (one shard each) → publishes per second of the index.
    pub publish_rate: BTreeMap<u32, f64>,
    /// Writers → commit attempts that lost a race and were retried.
    pub publish_retries: BTreeMap<u32, u64>,
    /// Writers → median time of one publish (stage, upload, publish).
    pub publish_latency_ms: BTreeMap<u32, f64>,
    /// The baseline: the same writers publishing into one shard document.
    pub one_document_publish_rate: BTreeMap<u32, f64>,
    pub one_document_retries: BTreeMap<u32, u64>,
    pub history: HistoryReport,
    /// Metastore bytes a cold search read after the history (GET bodies, listings estimated).
    pub cold_search_metastore_bytes: u64,
    /// Metastore bytes one publish wrote, on average over the last publishes of the history
    /// (compactions included).
    pub publish_metastore_bytes: u64,
    /// One invocation's indexing rate on this machine (MB of records per second).
    pub indexing_mb_per_sec: f64,
    pub model: Vec<IngestModelRow>,
}

/// The size phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HistoryReport {
    pub objects: u64,
    pub shards: u32,
    pub publishes: u64,
    pub merges: u64,
    pub published_splits: usize,
    pub checkpoint_segments: usize,
    pub cold_search_requests: usize,
    pub cold_search_millis: f64,
    /// The largest single publish of the last ones (a compaction's, usually).
    pub publish_metastore_bytes_max: u64,
    /// Metastore bytes a cold indexer read to check a new batch's objects.
    pub indexer_lookup_bytes: u64,
    /// The same index as one format 1 document: what every publish would write and every cold
    /// search read without shards.
    pub format_1_document_bytes: u64,
    /// The sizes as objects accumulated, at each quarter of the history.
    pub growth: Vec<GrowthRow>,
}

/// What a cold search read and a publish wrote once so many objects were indexed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GrowthRow {
    pub objects: u64,
    pub cold_search_metastore_bytes: u64,
    /// Mean over the publishes since the previous row.
    pub publish_metastore_bytes: u64,
}

/// The modelled ingest rate of one index of K shards on AWS.
#[derive(Clone, Debug, Serialize)]
pub struct IngestModelRow {
    pub shards: u32,
    /// Seconds one batch of [`MODEL_OBJECTS_PER_BATCH`] objects takes a shard: indexing plus
    /// the publish measured under as many concurrent writers.
    pub batch_secs: f64,
    pub index_mb_per_sec: f64,
    /// Hours to backfill 10 TB of records.
    pub backfill_10tb_hours: f64,
}

/// Runs the three phases; `on_phase` is told what is running.
pub async fn run(
    config: &MetastoreBenchConfig,
    mut on_phase: impl FnMut(&str),
) -> Result<MetastoreBenchReport> {
    let index_config = IndexConfig::from_yaml(MOCK_SALES_CONFIG)?;
    let mut report = MetastoreBenchReport {
        latency_ms: config.latency.as_millis() as u64,
        publish_rate: BTreeMap::new(),
        publish_retries: BTreeMap::new(),
        publish_latency_ms: BTreeMap::new(),
        one_document_publish_rate: BTreeMap::new(),
        one_document_retries: BTreeMap::new(),
        history: HistoryReport::default(),
        cold_search_metastore_bytes: 0,
        publish_metastore_bytes: 0,
        indexing_mb_per_sec: 0.0,
        model: Vec::new(),
    };
    for &writers in &config.writer_counts {
        on_phase(&format!("{writers} writers, one shard each"));
        let run = publish_rate(config, &index_config, writers, false).await?;
        report.publish_rate.insert(writers, run.rate);
        report.publish_retries.insert(writers, run.retries);
        report.publish_latency_ms.insert(writers, run.median_millis);
        on_phase(&format!("{writers} writers, one document"));
        let baseline = publish_rate(config, &index_config, writers, true).await?;
        report
            .one_document_publish_rate
            .insert(writers, baseline.rate);
        report
            .one_document_retries
            .insert(writers, baseline.retries);
    }
    on_phase(&format!(
        "{} objects into one index",
        config.history_objects
    ));
    let (history, mean_publish_bytes, cold_bytes) = history(config, &index_config).await?;
    report.history = history;
    report.publish_metastore_bytes = mean_publish_bytes;
    report.cold_search_metastore_bytes = cold_bytes;
    on_phase("one invocation's indexing rate");
    report.indexing_mb_per_sec = indexing_rate(config).await?;
    report.model = model(&report);
    Ok(report)
}

/// One run of the publish-rate phase.
struct RateRun {
    rate: f64,
    retries: u64,
    median_millis: f64,
}

async fn publish_rate(
    config: &MetastoreBenchConfig,
    index_config: &IndexConfig,
    writers: u32,
    one_document: bool,
) -> Result<RateRun> {
    let storage = Arc::new(ThrottledStorage::new(
        Arc::new(MemoryStorage::default()),
        config.latency,
    ));
    let metastore = Metastore::new(storage.clone());
    metastore.create_index(index_config.clone()).await?;
    // A small pre-built split: its bytes are uploaded as an indexer's would be.
    let split_file = Bytes::from(vec![7u8; 4096]);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let (metastore, split_file) = (metastore.clone(), split_file.clone());
        let shard = if one_document { 0 } else { writer };
        let publishes = config.publishes_per_writer;
        tasks.spawn(async move {
            let mut durations = Vec::new();
            for number in 0..publishes {
                let began = Instant::now();
                let keys = vec![staging_key(writer, u64::from(number))];
                let split = fake_split(1_000, u64::from(number));
                upload(&metastore, &split, &split_file).await?;
                publish_with_retries(&metastore, shard, split, &keys).await?;
                durations.push(began.elapsed());
            }
            Ok::<_, LoadtestError>(durations)
        });
    }
    let mut durations = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let joined = joined.map_err(|error| LoadtestError::Check(error.to_string()))?;
        durations.extend(joined?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    durations.sort();
    let median = durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or_default();
    Ok(RateRun {
        rate: durations.len() as f64 / elapsed,
        retries: metastore.lost_races(),
        median_millis: median.as_secs_f64() * 1e3,
    })
}

async fn upload(metastore: &Metastore, split: &SplitMetadata, bytes: &Bytes) -> Result<()> {
    let path = paths::split_file(INDEX_ID, &split.split_id);
    metastore
        .storage()
        .put(&path, bytes.clone().into(), PutMode::Overwrite)
        .await?;
    Ok(())
}

/// Stages and publishes `split` holding `keys` in `shard`, as the indexer does; a commit that
/// gives up on contention (only the one-document baseline meets it) is tried again.
async fn publish_with_retries(
    metastore: &Metastore,
    shard: ShardId,
    split: SplitMetadata,
    keys: &[String],
) -> Result<()> {
    let split_id = split.split_id.clone();
    loop {
        match metastore
            .stage_splits(INDEX_ID, shard, vec![split.clone()])
            .await
        {
            Ok(()) => break,
            Err(MetastoreError::Contention { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let request = PublishRequest {
        staged_split_ids: vec![split_id.clone()],
        checkpoint_delta: keys
            .iter()
            .map(|key| {
                let object = SourceObject {
                    source_key: key.clone(),
                    etag: "9b2cf535f27731c974343645a3985328".to_string(),
                };
                (object, Some(split_id.clone()))
            })
            .collect(),
        ..PublishRequest::default()
    };
    loop {
        match metastore
            .publish_splits(INDEX_ID, shard, request.clone())
            .await
        {
            Ok(()) => return Ok(()),
            Err(MetastoreError::Contention { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// A Firehose-like staging key: time-ordered, ending in hex digits.
fn staging_key(writer: u32, number: u64) -> String {
    format!(
        "staging/firehose/2026/12/05/{:02}/mock-sales-1-2026-12-05-{writer:04}-{number:08}-{:012x}",
        number / 3_600 % 24,
        number.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16
    )
}

/// Split metadata of a split that is never opened: what a publish and the planner need.
fn fake_split(num_docs: u64, number: u64) -> SplitMetadata {
    let start_nanos = 1_764_000_000_000_000_000 + number as i64 * 60_000_000_000;
    SplitMetadata {
        split_id: SplitMetadata::new_split_id(),
        state: SplitState::Staged,
        num_docs,
        uncompressed_docs_size_bytes: num_docs * 400,
        time_range: Some(TimeRange {
            start_nanos,
            end_nanos: start_nanos + 59_000_000_000,
        }),
        split_size_bytes: num_docs * 120,
        footer_offsets: num_docs * 100..num_docs * 120,
        doc_mapping_uid: "3c9f0c1d2b7a4e55".to_string(),
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

/// Whether `path` is one of the metastore's documents (not a split, not an error file).
fn is_metastore_path(path: &str) -> bool {
    path.starts_with(paths::METASTORE_PREFIX)
        || path.starts_with(&paths::shards_prefix(INDEX_ID))
        || path.starts_with(&paths::checkpoints_prefix(INDEX_ID))
}

/// Metastore bytes read by `requests` (bodies, and listings at [`LIST_ENTRY_BYTES`] an entry).
fn metastore_bytes_read(requests: &[RequestRecord]) -> u64 {
    requests
        .iter()
        .filter(|request| is_metastore_path(&request.path))
        .map(|request| match request.kind {
            RequestKind::Read => request.bytes,
            RequestKind::List => request.bytes * LIST_ENTRY_BYTES,
            RequestKind::Write | RequestKind::Delete => 0,
        })
        .sum()
}

fn metastore_bytes_written(requests: &[RequestRecord]) -> u64 {
    requests
        .iter()
        .filter(|request| request.kind == RequestKind::Write && is_metastore_path(&request.path))
        .map(|request| request.bytes)
        .sum()
}

/// The size phase: returns its report, the mean bytes a publish wrote, and the bytes a cold
/// search read.
async fn history(
    config: &MetastoreBenchConfig,
    index_config: &IndexConfig,
) -> Result<(HistoryReport, u64, u64)> {
    let storage = Arc::new(ThrottledStorage::new(
        Arc::new(MemoryStorage::default()),
        Duration::ZERO,
    ));
    let clock = Arc::new(ManualClock::new(1_764_000_000));
    let metastore = Metastore::with_clock(storage.clone(), clock.clone());
    metastore.create_index(index_config.clone()).await?;
    let policy = MergePolicy::from_settings(&index_config.spec.indexing_settings)?
        .ok_or_else(|| LoadtestError::Check("the index config merges nothing".to_string()))?;
    let mut report = HistoryReport {
        objects: config.history_objects,
        shards: config.history_shards,
        ..HistoryReport::default()
    };
    let publishes = config.history_objects / config.objects_per_publish.max(1);
    let measured_from = publishes.saturating_sub(100);
    let mut publish_bytes = Vec::new();
    let quarter = (publishes / 4).max(1);
    for number in 0..publishes {
        clock.advance_secs(3);
        let shard = (number % u64::from(config.history_shards.max(1))) as ShardId;
        let keys: Vec<String> = (0..config.objects_per_publish)
            .map(|offset| staging_key(shard, number * config.objects_per_publish + offset))
            .collect();
        let split = fake_split(1_000 * config.objects_per_publish, number);
        storage.record_requests(true);
        publish_with_retries(&metastore, shard, split, &keys).await?;
        storage.record_requests(false);
        publish_bytes.push(metastore_bytes_written(&storage.take_requests()));
        report.merges += merge_due(&metastore, &policy, clock.now_secs()).await?;
        if (number + 1) % quarter == 0 {
            let since = &publish_bytes[publish_bytes.len().saturating_sub(quarter as usize)..];
            storage.record_requests(true);
            Metastore::new(storage.clone())
                .index_splits(INDEX_ID)
                .await?;
            storage.record_requests(false);
            report.growth.push(GrowthRow {
                objects: (number + 1) * config.objects_per_publish,
                cold_search_metastore_bytes: metastore_bytes_read(&storage.take_requests()),
                publish_metastore_bytes: since.iter().sum::<u64>() / since.len().max(1) as u64,
            });
        }
    }
    report.publishes = publishes;
    let measured = &publish_bytes[measured_from as usize..];
    let mean_publish_bytes = measured.iter().sum::<u64>() / measured.len().max(1) as u64;
    report.publish_metastore_bytes_max = measured.iter().copied().max().unwrap_or(0);

    let cold_search_bytes = measure_cold_reads(config, &storage, publishes, &mut report).await?;
    report.format_1_document_bytes = format_1_size(&metastore).await?;
    Ok((report, mean_publish_bytes, cold_search_bytes))
}

/// What cold readers read once the history is in, with the latency a remote store has: a
/// searcher's splits view (whose bytes are returned) and an indexer's lookup of the next
/// batch's objects.
async fn measure_cold_reads(
    config: &MetastoreBenchConfig,
    storage: &Arc<ThrottledStorage>,
    publishes: u64,
    report: &mut HistoryReport,
) -> Result<u64> {
    storage.set_latency(config.latency);
    storage.record_requests(true);
    let started = Instant::now();
    let metadata = Metastore::new(storage.clone())
        .index_splits(INDEX_ID)
        .await?;
    report.cold_search_millis = started.elapsed().as_secs_f64() * 1e3;
    let cold_search = storage.take_requests();
    report.cold_search_requests = cold_search.len();
    let next_keys: Vec<String> = (0..config.objects_per_publish)
        .map(|offset| staging_key(0, publishes * config.objects_per_publish + offset))
        .collect();
    Metastore::new(storage.clone())
        .checkpoint_entries(INDEX_ID, 0, &next_keys)
        .await?;
    report.indexer_lookup_bytes = metastore_bytes_read(&storage.take_requests());
    storage.record_requests(false);
    report.published_splits = metadata.published_splits().count();
    report.checkpoint_segments = metadata
        .shards
        .values()
        .map(|shard| shard.checkpoint_segments.len())
        .sum();
    Ok(metastore_bytes_read(&cold_search))
}

/// Commits the merges the policy calls for (outputs are metadata only) and collects the
/// splits they replaced, as maintenance would once the grace period has passed. Returns the
/// merges done.
async fn merge_due(metastore: &Metastore, policy: &MergePolicy, now: i64) -> Result<u64> {
    let metadata = metastore.index_splits(INDEX_ID).await?;
    let mut by_shard: BTreeMap<ShardId, Vec<SplitMetadata>> = BTreeMap::new();
    for split in metadata.splits.values() {
        by_shard.entry(split.shard).or_default().push(split.clone());
    }
    let mut merges = 0;
    for (shard, splits) in by_shard {
        for inputs in policy.operations(&splits, now) {
            let mut merged = fake_split(inputs.iter().map(|split| split.num_docs).sum(), 0);
            merged.time_range =
                inputs
                    .iter()
                    .filter_map(|split| split.time_range)
                    .reduce(|left, right| TimeRange {
                        start_nanos: left.start_nanos.min(right.start_nanos),
                        end_nanos: left.end_nanos.max(right.end_nanos),
                    });
            merged.num_merge_ops = 1 + inputs
                .iter()
                .map(|split| split.num_merge_ops)
                .max()
                .unwrap_or(0);
            let merged_id = merged.split_id.clone();
            metastore
                .stage_splits(INDEX_ID, shard, vec![merged])
                .await?;
            let replaced: Vec<String> = inputs.iter().map(|split| split.split_id.clone()).collect();
            let request = PublishRequest {
                staged_split_ids: vec![merged_id],
                replaced_split_ids: replaced.clone(),
                ..PublishRequest::default()
            };
            metastore.publish_splits(INDEX_ID, shard, request).await?;
            metastore.delete_splits(INDEX_ID, &replaced).await?;
            merges += 1;
        }
    }
    Ok(merges)
}

/// The bytes of the index as one format 1 document: its splits and whole checkpoint.
async fn format_1_size(metastore: &Metastore) -> Result<u64> {
    let metadata = metastore.index_metadata(INDEX_ID).await?;
    let document = LegacyIndexDocument {
        format_version: 1,
        index_config: metadata.index_config,
        create_timestamp: metadata.create_timestamp,
        generation: 0,
        splits: metadata.splits,
        checkpoint: metadata.checkpoint,
        recent_commits: vec!["5f0c3a9e8b7d4c2a9e1f0b3c4d5a6e7f".to_string(); 32],
    };
    Ok(serde_json::to_vec(&document)?.len() as u64)
}

/// One invocation's indexing rate: `indexing_bench`'s Hydrant side.
async fn indexing_rate(config: &MetastoreBenchConfig) -> Result<f64> {
    let work_dir = config.work_dir.join("indexing");
    std::fs::create_dir_all(&work_dir)?;
    let result = indexing_bench::run(
        &IndexingBenchConfig {
            total_bytes: config.indexing_mb * 1_000_000,
            num_objects: MODEL_OBJECTS_PER_BATCH as usize,
            seed: config.seed,
            work_dir,
            docstore_compression_level: None,
        },
        |_| {},
    )
    .await?;
    Ok(result.hydrant.mb_per_sec(result.uncompressed_bytes))
}

/// The ingest rate of an index of K shards: each shard's indexer takes one batch at a time
/// (its FIFO group), so a shard indexes a batch then publishes it, and K shards do so side by
/// side. The publish time is the one measured with as many concurrent writers (the largest
/// count measured, past it: shards never share a document, so it does not grow with K).
fn model(report: &MetastoreBenchReport) -> Vec<IngestModelRow> {
    let batch_mb = MODEL_OBJECTS_PER_BATCH as f64 * MODEL_OBJECT_MB;
    [1u32, 8, 64]
        .into_iter()
        .map(|shards| {
            let publish_ms = report
                .publish_latency_ms
                .range(..=shards)
                .next_back()
                .map_or(0.0, |(_, millis)| *millis);
            let batch_secs =
                batch_mb / report.indexing_mb_per_sec.max(f64::MIN_POSITIVE) + publish_ms / 1e3;
            let index_mb_per_sec = f64::from(shards) * batch_mb / batch_secs;
            IngestModelRow {
                shards,
                batch_secs,
                index_mb_per_sec,
                backfill_10tb_hours: 10e6 / index_mb_per_sec / 3_600.0,
            }
        })
        .collect()
}

impl MetastoreBenchReport {
    /// A readable table.
    pub fn table(&self) -> String {
        let mut text = format!(
            "Publish rate of one index, {} ms per storage request\n\
             {:>8} {:>14} {:>9} {:>12} {:>18} {:>9}\n",
            self.latency_ms,
            "writers",
            "publishes/s",
            "retries",
            "p50 publish",
            "one document: /s",
            "retries"
        );
        for (writers, rate) in &self.publish_rate {
            text.push_str(&format!(
                "{writers:>8} {rate:>14.1} {:>9} {:>9.0} ms {:>18.1} {:>9}\n",
                self.publish_retries[writers],
                self.publish_latency_ms[writers],
                self.one_document_publish_rate[writers],
                self.one_document_retries[writers],
            ));
        }
        let history = &self.history;
        text.push_str(&format!(
            "\nAfter {} objects in {} publishes over {} shard(s) ({} merges): {} published splits, \
             {} checkpoint segments\n\
             cold search: {} metastore bytes in {} requests ({:.0} ms)\n\
             publish: {} metastore bytes written on average, {} at most (last 100)\n\
             cold indexer lookup of a new batch: {} bytes\n\
             the same index as one format 1 document: {} bytes\n",
            history.objects,
            history.publishes,
            history.shards,
            history.merges,
            history.published_splits,
            history.checkpoint_segments,
            self.cold_search_metastore_bytes,
            history.cold_search_requests,
            history.cold_search_millis,
            self.publish_metastore_bytes,
            history.publish_metastore_bytes_max,
            history.indexer_lookup_bytes,
            history.format_1_document_bytes,
        ));
        text.push_str("objects indexed   cold search bytes   publish bytes (mean)\n");
        for row in &history.growth {
            text.push_str(&format!(
                "{:>15} {:>19} {:>22}\n",
                row.objects, row.cold_search_metastore_bytes, row.publish_metastore_bytes
            ));
        }
        text.push_str(&format!(
            "\nModel: one invocation indexes {:.1} MB/s here; batches of {} objects of {} MB\n\
             {:>8} {:>12} {:>12} {:>20}\n",
            self.indexing_mb_per_sec,
            MODEL_OBJECTS_PER_BATCH,
            MODEL_OBJECT_MB,
            "shards",
            "batch",
            "MB/s",
            "10 TB backfill",
        ));
        for row in &self.model {
            text.push_str(&format!(
                "{:>8} {:>10.1} s {:>12.0} {:>18.1} h\n",
                row.shards, row.batch_secs, row.index_mb_per_sec, row.backfill_10tb_hours
            ));
        }
        text
    }
}
