//! `loadtest bench`: the whole measurement in one run, on the embedded local target.
//!
//! 1. **Generate** a web-log dataset as Firehose would deliver it: gzip objects with
//!    Firehose's key naming, a share of bad and of late records.
//! 2. **Indexing throughput**: Hydrant indexes every object the way the FIFO queue feeds it
//!    (batches of 10 objects), next to raw tantivy indexing the same documents in the same
//!    process: the ratio is the figure, the absolute rates depend on the machine.
//! 3. **Stream**: the objects again, one per invocation into a second index (Firehose
//!    delivering one object at a time), with freshness (object landed → searchable through
//!    a warm searcher) on a sample of them. This index has one split per object.
//! 4. **Queries** over that index, cold (new searcher, empty caches) and warm, with storage
//!    latency injected on every request to model S3; next to a scan of the raw gzip objects
//!    answering the same queries through the same storage. Counts must agree.
//! 5. **Maintenance** merges the stream index; queries are measured again.
//! 6. **Costs**: the measured durations and request counts priced by [`crate::cost`].
//!
//! Storage request counts come from [`ThrottledStorage`], which also injects the latency.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use hydrant_index::config::IndexConfig;
use hydrant_ingest::maintenance::Maintainer;
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_search::{SearchRequest, SearchService, SearchStats, SearcherConfig};
use hydrant_storage::testing::ThrottledStorage;
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, Storage};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cold_start::{self, ColdStart};
use crate::cost::{CostEstimate, CostInputs};
use crate::error::{LoadtestError, Result};
use crate::firehose::{Framing, object_key};
use crate::generator::{Dataset, ObjectGenerator, ObjectSpec};
use crate::indexing_bench::raw_tantivy;
use crate::measure::{DatasetFigures, Percentiles, check, machine_description, visit_records};
use crate::memory;
use crate::query_mix::{MixQuery, QUERY_MIX, request_body};

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Records generated, bad ones included.
    pub num_records: u64,
    /// Objects they are spread over (one split each in the stream phase).
    pub num_objects: usize,
    /// Share of bad records (every kind), 0.0 to 1.0.
    pub bad_share: f64,
    /// Share of late records, 0.0 to 1.0.
    pub late_share: f64,
    /// Latency added to every storage request while querying, to model S3.
    pub injected_latency: Duration,
    /// Objects of the stream phase whose freshness is measured.
    pub freshness_samples: usize,
    /// Cold runs of each query (each with a new searcher).
    pub cold_runs: usize,
    /// Warm runs of each query.
    pub warm_runs: usize,
    pub seed: u64,
    /// Where staging, indexes and baseline files go.
    pub work_dir: PathBuf,
}

impl BenchConfig {
    /// For benchmarks of queries alone (`dashboard`, `fanout`): only good, in-order records,
    /// no freshness samples, `injected_latency_ms` per storage request while querying.
    pub fn for_queries(
        num_records: u64,
        num_objects: usize,
        injected_latency_ms: u64,
        seed: u64,
        work_dir: PathBuf,
    ) -> Self {
        BenchConfig {
            num_records,
            num_objects,
            bad_share: 0.0,
            late_share: 0.0,
            injected_latency: Duration::from_millis(injected_latency_ms),
            freshness_samples: 0,
            seed,
            work_dir,
            ..BenchConfig::default()
        }
    }
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            num_records: 1_000_000,
            num_objects: 100,
            bad_share: 0.001,
            late_share: 0.005,
            injected_latency: Duration::from_millis(30),
            freshness_samples: 10,
            cold_runs: 3,
            warm_runs: 20,
            seed: 42,
            work_dir: std::env::temp_dir(),
        }
    }
}

/// Told what the benchmark is doing, for progress display.
pub trait BenchProgress {
    /// A phase starts with `steps` steps.
    fn phase(&self, name: &str, steps: u64);
    /// One step of the current phase is done.
    fn step(&self);
}

/// Progress nobody watches.
pub struct NoProgress;

impl BenchProgress for NoProgress {
    fn phase(&self, _name: &str, _steps: u64) {}
    fn step(&self) {}
}

/// Indexing throughput, Hydrant next to raw tantivy.
#[derive(Clone, Debug, Serialize)]
pub struct IndexingFigures {
    pub batches: usize,
    pub hydrant_secs: f64,
    pub raw_tantivy_secs: f64,
    pub hydrant_docs_per_sec: f64,
    pub hydrant_mb_per_sec: f64,
    pub raw_tantivy_docs_per_sec: f64,
    pub raw_tantivy_mb_per_sec: f64,
    /// Hydrant's speed over raw tantivy's (above 1: faster).
    pub speed_ratio: f64,
    pub hydrant_peak_rss_bytes: Option<u64>,
    pub raw_tantivy_peak_rss_bytes: Option<u64>,
    pub splits: usize,
    pub split_bytes: u64,
    pub index_bytes_per_gzip_byte: f64,
    pub rejected_records: u64,
}

/// One object per invocation, as Firehose delivers.
#[derive(Clone, Debug, Serialize)]
pub struct StreamFigures {
    pub invocations: usize,
    pub splits: usize,
    pub mean_split_bytes: u64,
    pub index_bytes_per_gzip_byte: f64,
    pub invocation: Percentiles,
    /// Object landed in staging → first search that counts its documents.
    pub freshness: Percentiles,
    pub indexer_seconds: f64,
    pub staging_reads: u64,
    pub index_reads: u64,
    pub index_writes: u64,
    /// Bytes of all its splits.
    pub split_bytes: u64,
}

/// One query of the mix.
#[derive(Clone, Debug, Serialize)]
pub struct QueryRow {
    pub name: String,
    pub query: String,
    pub num_hits: u64,
    pub splits_searched: usize,
    pub splits_pruned: usize,
    pub cold_p50_ms: f64,
    pub warm_p50_ms: f64,
    pub recomputed_p50_ms: f64,
    /// GETs and bytes of one cold run.
    pub cold_gets: u64,
    pub cold_bytes: u64,
    /// Storage round trips of one cold run's longest split path (footer to documents).
    pub cold_round_trips: u64,
    pub scan_ms: f64,
}

/// Queries over one state of the stream index.
#[derive(Clone, Debug, Serialize)]
pub struct QueryFigures {
    pub splits: usize,
    pub docs: u64,
    pub injected_latency_ms: f64,
    pub cold: Percentiles,
    /// Warm, the same query again: answered from the result caches.
    pub warm: Percentiles,
    /// Warm bytes, results recomputed: a searcher without result caches whose fetched bytes
    /// are cached, what a new query over recently read data costs.
    pub recomputed: Percentiles,
    pub raw_scan: Percentiles,
    /// How many times faster than scanning the raw objects (p50 over p50).
    pub cold_vs_scan: f64,
    pub warm_vs_scan: f64,
    pub searcher_peak_rss_bytes: Option<u64>,
    pub searcher_seconds_cold: f64,
    pub searcher_seconds_warm: f64,
    pub gets_per_cold_query: f64,
    pub gets_per_warm_query: f64,
    pub rows: Vec<QueryRow>,
}

/// Maintenance on the stream index.
#[derive(Clone, Debug, Serialize)]
pub struct MaintenanceFigures {
    pub secs: f64,
    pub merges: usize,
    pub splits_before: usize,
    pub splits_after: usize,
    pub index_reads: u64,
    pub index_writes: u64,
}

/// Size of a Lambda package, when it has been built.
#[derive(Clone, Debug, Serialize)]
pub struct PackageSize {
    pub function: String,
    pub zip_bytes: Option<u64>,
}

/// Cold starts of the searcher binary, when it has been built next to `loadtest`.
#[derive(Clone, Debug, Serialize)]
pub struct ColdStartFigures {
    pub binary: String,
    pub runs: Vec<ColdStart>,
    pub init: Percentiles,
    pub first_response: Percentiles,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub machine: String,
    pub started_at: String,
    pub total_secs: f64,
    pub dataset: DatasetFigures,
    pub indexing: IndexingFigures,
    pub stream: StreamFigures,
    pub queries: QueryFigures,
    pub maintenance: MaintenanceFigures,
    pub queries_after_maintenance: QueryFigures,
    pub packages: Vec<PackageSize>,
    /// `None` when no searcher binary was found.
    pub cold_start: Option<ColdStartFigures>,
    pub cost: CostEstimate,
}

/// Runs the whole benchmark: one named phase after the other, over the same staging objects.
pub async fn run(config: &BenchConfig, progress: &dyn BenchProgress) -> Result<BenchReport> {
    let started = Instant::now();
    let started_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let bench = Bench::new(config, progress)?;
    let generated = bench.generate().await?;
    let indexing = bench.index_in_batches(&generated).await?;
    let (stream, stream_index) = bench.stream(&generated).await?;
    let queries = bench
        .measure_queries(&stream_index, &generated, None)
        .await?;
    let maintenance = bench.maintain(&stream_index, stream.splits).await?;
    let queries_after_maintenance = bench
        .measure_queries(&stream_index, &generated, Some(&queries))
        .await?;
    let expected_hits = queries_after_maintenance.rows[0].num_hits;
    let cold_start = bench.cold_starts(expected_hits).await?;
    let cost = CostEstimate::from_inputs(&CostInputs {
        ingested_uncompressed_bytes: generated.figures.uncompressed_bytes,
        indexer_seconds: stream.indexer_seconds + maintenance.secs,
        indexer_invocations: stream.invocations as u64 + 1,
        indexing_reads: stream.staging_reads + stream.index_reads + maintenance.index_reads,
        indexing_writes: stream.index_writes + maintenance.index_writes,
        index_bytes: stream.split_bytes,
        searcher_seconds_per_cold_query: queries.searcher_seconds_cold,
        searcher_seconds_per_warm_query: queries_after_maintenance.searcher_seconds_warm,
        gets_per_cold_query: queries.gets_per_cold_query,
        gets_per_warm_query: queries_after_maintenance.gets_per_warm_query,
    });
    Ok(BenchReport {
        machine: machine_description(),
        started_at,
        total_secs: started.elapsed().as_secs_f64(),
        dataset: generated.figures,
        indexing,
        stream,
        queries,
        maintenance,
        queries_after_maintenance,
        packages: package_sizes(),
        cold_start,
        cost,
    })
}

/// What every phase shares: the settings, the dataset's index config and the staging.
pub(crate) struct Bench<'a> {
    config: &'a BenchConfig,
    progress: &'a dyn BenchProgress,
    dataset: Dataset,
    index_config: IndexConfig,
    staging_dir: PathBuf,
    staging_disk: SharedStorage,
    /// The same staging, with latency injected while querying (the raw scan reads it).
    pub(crate) staging: Arc<ThrottledStorage>,
}

/// The generated objects: their keys, what they hold and the time span of their records.
pub(crate) struct Generated {
    pub(crate) keys: Vec<String>,
    pub(crate) figures: DatasetFigures,
    pub(crate) time_span: (i64, i64),
}

/// The stream phase's index: one split per object, then merged.
pub(crate) struct StreamIndex {
    pub(crate) metastore: Metastore,
    pub(crate) storage: Arc<ThrottledStorage>,
}

impl<'a> Bench<'a> {
    pub(crate) fn new(config: &'a BenchConfig, progress: &'a dyn BenchProgress) -> Result<Self> {
        let dataset = Dataset::WebLogs;
        let staging_dir = config.work_dir.join("staging");
        let staging_disk: SharedStorage = Arc::new(LocalStorage::new(&staging_dir)?);
        Ok(Bench {
            config,
            progress,
            index_config: IndexConfig::from_yaml(dataset.index_config_yaml())?,
            dataset,
            staging: Arc::new(ThrottledStorage::new(staging_disk.clone(), Duration::ZERO)),
            staging_dir,
            staging_disk,
        })
    }

    /// Phase 1, the dataset: one object a minute, ending now, with Firehose's key naming.
    pub(crate) async fn generate(&self) -> Result<Generated> {
        let (config, progress) = (self.config, self.progress);
        progress.phase("generating Firehose objects", config.num_objects as u64);
        let mut generator = ObjectGenerator::for_dataset(self.dataset, config.seed);
        let records_per_object = (config.num_records / config.num_objects as u64).max(1) as usize;
        // What a Firehose stream with 60 s buffering delivers.
        let object_span_millis = 60_000;
        let now_millis = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let first_millis = now_millis - config.num_objects as i64 * object_span_millis;
        let mut keys = Vec::with_capacity(config.num_objects);
        let mut figures = DatasetFigures::new(config.num_objects);
        for number in 0..config.num_objects {
            let start_millis = first_millis + number as i64 * object_span_millis;
            let object = generator.object(ObjectSpec {
                num_records: records_per_object,
                bad_share: config.bad_share,
                framing: Framing::NewlineDelimited,
                gzip: true,
                start_millis,
                late_share: config.late_share,
                strict: false,
            });
            let delivered_at = OffsetDateTime::from_unix_timestamp_nanos(
                (start_millis + object_span_millis) as i128 * 1_000_000,
            )
            .map_err(|error| LoadtestError::Check(error.to_string()))?;
            let key = object_key("logs/", "web-logs", delivered_at);
            figures.add(records_per_object, &object);
            self.staging_disk
                .put(&key, Bytes::from(object.bytes).into(), PutMode::Overwrite)
                .await?;
            keys.push(key);
            progress.step();
        }
        // Records are 1 ms apart within an object; the newest is this far past the first.
        let last_millis = first_millis
            + (config.num_objects as i64 - 1) * object_span_millis
            + records_per_object as i64;
        Ok(Generated {
            keys,
            figures,
            time_span: (first_millis, last_millis),
        })
    }

    /// Phase 2, throughput: Hydrant in batches of 10 (as the FIFO queue delivers a
    /// backlog), then raw tantivy over the same objects.
    async fn index_in_batches(&self, generated: &Generated) -> Result<IndexingFigures> {
        let (progress, figures) = (self.progress, &generated.figures);
        let batches: Vec<Vec<ObjectRef>> = generated
            .keys
            .chunks(10)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|key| ObjectRef::new("staging", key))
                    .collect()
            })
            .collect();
        progress.phase("hydrant: indexing in batches of 10", batches.len() as u64);
        let batch_indexer = self.fresh_indexer("index-batch").await?;
        memory::reset_peak();
        let hydrant_started = Instant::now();
        let (mut split_bytes, mut num_splits, mut rejected_records, mut hydrant_docs) =
            (0, 0, 0, 0);
        for batch in &batches {
            let report = batch_indexer
                .index_objects(self.dataset.index_id(), batch, None)
                .await?;
            check(report.failure.is_none(), || {
                "hydrant failed on an object".to_string()
            })?;
            hydrant_docs += report.num_docs;
            rejected_records += report.num_rejected;
            num_splits += report.splits.len();
            split_bytes += report
                .splits
                .iter()
                .map(|split| split.split_size_bytes)
                .sum::<u64>();
            progress.step();
        }
        let hydrant_elapsed = hydrant_started.elapsed();
        let hydrant_peak = memory::peak_rss_bytes();
        check_counts(figures, hydrant_docs, rejected_records)?;
        let (raw_docs, raw_elapsed, raw_peak) = self.raw_tantivy_baseline(generated).await?;
        Ok(IndexingFigures {
            batches: batches.len(),
            hydrant_secs: hydrant_elapsed.as_secs_f64(),
            raw_tantivy_secs: raw_elapsed.as_secs_f64(),
            hydrant_docs_per_sec: hydrant_docs as f64 / hydrant_elapsed.as_secs_f64(),
            hydrant_mb_per_sec: figures.uncompressed_bytes as f64
                / 1e6
                / hydrant_elapsed.as_secs_f64(),
            raw_tantivy_docs_per_sec: raw_docs as f64 / raw_elapsed.as_secs_f64(),
            raw_tantivy_mb_per_sec: figures.uncompressed_bytes as f64
                / 1e6
                / raw_elapsed.as_secs_f64(),
            speed_ratio: raw_elapsed.as_secs_f64() / hydrant_elapsed.as_secs_f64(),
            hydrant_peak_rss_bytes: hydrant_peak,
            raw_tantivy_peak_rss_bytes: raw_peak,
            splits: num_splits,
            split_bytes,
            index_bytes_per_gzip_byte: split_bytes as f64 / figures.gzip_bytes as f64,
            rejected_records,
        })
    }

    /// An indexer over a new, empty index in `work_dir/<dir>`, reading the staged objects.
    async fn fresh_indexer(&self, dir: &str) -> Result<Indexer> {
        let storage: SharedStorage = Arc::new(LocalStorage::new(self.config.work_dir.join(dir))?);
        let metastore = Metastore::new(storage);
        metastore.create_index(self.index_config.clone()).await?;
        let buckets = StagingBuckets::default().bind_storage("staging", self.staging_disk.clone());
        Ok(Indexer::new(metastore, buckets).with_temp_root(self.config.work_dir.clone()))
    }

    /// The same documents indexed by tantivy alone: documents, time, peak memory.
    async fn raw_tantivy_baseline(
        &self,
        generated: &Generated,
    ) -> Result<(u64, Duration, Option<u64>)> {
        self.progress
            .phase("raw tantivy: indexing the same documents", 1);
        let baseline_dir = self.config.work_dir.join("raw-tantivy");
        std::fs::create_dir_all(&baseline_dir)?;
        let object_paths: Vec<PathBuf> = generated
            .keys
            .iter()
            .map(|key| self.staging_dir.join(key))
            .collect();
        let heap = self.index_config.spec.indexing_settings.resources.heap_size as usize;
        memory::reset_peak();
        let raw_started = Instant::now();
        let index_config = self.index_config.clone();
        let blocking_dir = baseline_dir.clone();
        let raw_docs = tokio::task::spawn_blocking(move || {
            raw_tantivy(&index_config, &object_paths, &blocking_dir, heap)
        })
        .await
        .map_err(|error| LoadtestError::Check(format!("raw tantivy task failed: {error}")))??;
        let raw_elapsed = raw_started.elapsed();
        let raw_peak = memory::peak_rss_bytes();
        check(raw_docs == generated.figures.good_records, || {
            format!(
                "raw tantivy indexed {raw_docs} documents, {} were good",
                generated.figures.good_records
            )
        })?;
        self.progress.step();
        let _ = std::fs::remove_dir_all(&baseline_dir);
        Ok((raw_docs, raw_elapsed, raw_peak))
    }

    /// Phase 3, stream: one object per invocation, freshness measured on a sample.
    pub(crate) async fn stream(
        &self,
        generated: &Generated,
    ) -> Result<(StreamFigures, StreamIndex)> {
        let (config, progress) = (self.config, self.progress);
        let index_id = self.dataset.index_id();
        progress.phase(
            "stream: one object per invocation",
            generated.keys.len() as u64,
        );
        let index_disk: SharedStorage = Arc::new(LocalStorage::new(config.work_dir.join("index"))?);
        let index_storage = Arc::new(ThrottledStorage::new(index_disk, Duration::ZERO));
        let metastore = Metastore::new(index_storage.clone());
        metastore.create_index(self.index_config.clone()).await?;
        let indexer = Indexer::new(
            metastore.clone(),
            StagingBuckets::default().bind_storage("staging", self.staging.clone()),
        )
        .with_temp_root(config.work_dir.clone());
        let sample_every = (generated.keys.len() / config.freshness_samples.max(1)).max(1);
        let watcher = SearchService::new(metastore.clone(), SearcherConfig::default());
        let mut invocations = Vec::with_capacity(generated.keys.len());
        let mut freshness = Vec::new();
        let mut stream_docs = 0;
        let (reads_before, writes_before) = (index_storage.num_reads(), index_storage.num_writes());
        let staging_reads_before = self.staging.num_reads();
        for (number, key) in generated.keys.iter().enumerate() {
            // The object lands as its invocation starts: the queue's delivery delay (EventBridge
            // to SQS to Lambda) is not modelled here.
            let landed = Instant::now();
            let report = indexer
                .index_objects(index_id, &[ObjectRef::new("staging", key)], None)
                .await?;
            invocations.push(landed.elapsed());
            check(report.failure.is_none(), || {
                format!("indexing {key} failed")
            })?;
            stream_docs += report.num_docs;
            if number % sample_every == 0 {
                freshness
                    .push(wait_until_searchable(&watcher, index_id, stream_docs, landed).await?);
            }
            progress.step();
        }
        let stream_metadata = metastore.index_metadata(index_id).await?;
        let stream_splits: Vec<u64> = stream_metadata
            .published_splits()
            .map(|split| split.split_size_bytes)
            .collect();
        let stream_split_bytes: u64 = stream_splits.iter().sum();
        let figures = StreamFigures {
            invocations: invocations.len(),
            splits: stream_splits.len(),
            mean_split_bytes: stream_split_bytes / stream_splits.len().max(1) as u64,
            index_bytes_per_gzip_byte: stream_split_bytes as f64
                / generated.figures.gzip_bytes as f64,
            invocation: Percentiles::of(&invocations),
            freshness: Percentiles::of(&freshness),
            indexer_seconds: invocations.iter().map(Duration::as_secs_f64).sum(),
            staging_reads: self.staging.num_reads() - staging_reads_before,
            index_reads: index_storage.num_reads() - reads_before,
            index_writes: index_storage.num_writes() - writes_before,
            split_bytes: stream_split_bytes,
        };
        let stream_index = StreamIndex {
            metastore,
            storage: index_storage,
        };
        Ok((figures, stream_index))
    }

    /// Phase 5, maintenance: merges until the policy has none left.
    async fn maintain(
        &self,
        stream_index: &StreamIndex,
        splits_before: usize,
    ) -> Result<MaintenanceFigures> {
        self.progress
            .phase("maintenance: merging the stream index", 1);
        let index_id = self.dataset.index_id();
        let storage = &stream_index.storage;
        let maintainer = Maintainer::new(stream_index.metastore.clone())
            .with_temp_root(self.config.work_dir.clone());
        let (reads_before, writes_before) = (storage.num_reads(), storage.num_writes());
        let maintenance_started = Instant::now();
        let mut merges = 0;
        loop {
            let report = maintainer.run(index_id, None).await?;
            merges += report.merges;
            if report.merges == 0 {
                break;
            }
        }
        let splits_after = stream_index
            .metastore
            .index_metadata(index_id)
            .await?
            .published_splits()
            .count();
        self.progress.step();
        Ok(MaintenanceFigures {
            secs: maintenance_started.elapsed().as_secs_f64(),
            merges,
            splits_before,
            splits_after,
            index_reads: storage.num_reads() - reads_before,
            index_writes: storage.num_writes() - writes_before,
        })
    }

    /// Phase 6, cold starts of the searcher binary over the merged index, if it was built.
    async fn cold_starts(&self, expected_hits: u64) -> Result<Option<ColdStartFigures>> {
        let Some(binary) = searcher_binary() else {
            return Ok(None);
        };
        self.progress
            .phase("cold starts of the searcher binary", COLD_STARTS as u64);
        let index_uri = self.config.work_dir.join("index").display().to_string();
        let event = serde_json::json!({
            "index_id": self.dataset.index_id(),
            "query": "status:503",
            "max_hits": 10,
        });
        let mut runs = Vec::with_capacity(COLD_STARTS);
        for _ in 0..COLD_STARTS {
            let run = cold_start::measure(&binary, &index_uri, &event).await?;
            check(run.num_hits == expected_hits, || {
                format!("the searcher binary counted {} hits", run.num_hits)
            })?;
            runs.push(run);
            self.progress.step();
        }
        let millis = |pick: fn(&ColdStart) -> f64| {
            runs.iter()
                .map(|run| Duration::from_secs_f64(pick(run) / 1e3))
                .collect::<Vec<_>>()
        };
        Ok(Some(ColdStartFigures {
            binary: binary.display().to_string(),
            init: Percentiles::of(&millis(|run| run.init_ms)),
            first_response: Percentiles::of(&millis(|run| run.first_response_ms)),
            runs,
        }))
    }

    /// Phase 4, queries: cold and warm latency of the query mix, and the raw scan baseline
    /// (the first time only: its cost does not depend on the index; `previous` supplies it
    /// after that).
    async fn measure_queries(
        &self,
        stream_index: &StreamIndex,
        generated: &Generated,
        previous: Option<&QueryFigures>,
    ) -> Result<QueryFigures> {
        let (config, progress) = (self.config, self.progress);
        let index_id = self.dataset.index_id();
        let scan = previous.is_none();
        let metadata = stream_index.metastore.index_metadata(index_id).await?;
        let num_splits = metadata.published_splits().count();
        let label = if previous.is_none() {
            format!("queries over {num_splits} splits")
        } else {
            format!("queries over {num_splits} splits (merged)")
        };
        let steps = QUERY_MIX.len() * (config.cold_runs + 2 * config.warm_runs + 2 + scan as usize);
        progress.phase(&label, steps as u64);
        stream_index.storage.set_latency(config.injected_latency);
        self.staging.set_latency(config.injected_latency);
        memory::reset_peak();

        let mut rows = Vec::with_capacity(QUERY_MIX.len());
        let (mut all_cold, mut all_warm, mut all_scans) = (Vec::new(), Vec::new(), Vec::new());
        let mut all_recomputed = Vec::new();
        let (mut cold_gets, mut warm_gets) = (0u64, 0u64);
        let searchers = MixSearchers::new(&stream_index.metastore);
        for (position, mix_query) in QUERY_MIX.iter().enumerate() {
            let scan_keys = scan.then_some(generated.keys.as_slice());
            let measured = self
                .measure_query(&searchers, mix_query, generated.time_span, scan_keys)
                .await?;
            cold_gets += measured.cold_gets;
            warm_gets += measured.warm_gets;
            let mut row = measured.row;
            if let Some(scan_time) = measured.scan {
                all_scans.push(scan_time);
            } else {
                row.scan_ms = previous.map_or(0.0, |previous| previous.rows[position].scan_ms);
            }
            rows.push(row);
            all_cold.extend(measured.cold);
            all_warm.extend(measured.warm);
            all_recomputed.extend(measured.recomputed);
        }
        stream_index.storage.set_latency(Duration::ZERO);
        self.staging.set_latency(Duration::ZERO);
        let cold = Percentiles::of(&all_cold);
        let warm = Percentiles::of(&all_warm);
        let raw_scan = match previous {
            Some(previous) if !scan => previous.raw_scan.clone(),
            _ => Percentiles::of(&all_scans),
        };
        Ok(QueryFigures {
            splits: num_splits,
            docs: metadata.num_published_docs(),
            injected_latency_ms: config.injected_latency.as_secs_f64() * 1e3,
            cold_vs_scan: raw_scan.p50_ms / cold.p50_ms,
            warm_vs_scan: raw_scan.p50_ms / warm.p50_ms,
            searcher_seconds_cold: cold.mean_ms / 1e3,
            searcher_seconds_warm: warm.mean_ms / 1e3,
            gets_per_cold_query: cold_gets as f64 / all_cold.len().max(1) as f64,
            gets_per_warm_query: warm_gets as f64 / all_warm.len().max(1) as f64,
            cold,
            warm,
            recomputed: Percentiles::of(&all_recomputed),
            raw_scan,
            searcher_peak_rss_bytes: memory::peak_rss_bytes(),
            rows,
        })
    }

    /// One query of the mix: cold runs (a new searcher each, a cold Lambda), warm runs, runs
    /// with results recomputed, and the raw scan when `scan_keys` are given.
    async fn measure_query(
        &self,
        searchers: &MixSearchers<'_>,
        mix_query: &MixQuery,
        time_span: (i64, i64),
        scan_keys: Option<&[String]>,
    ) -> Result<MeasuredQuery> {
        let (config, progress) = (self.config, self.progress);
        let index_id = self.dataset.index_id();
        let start_seconds = mix_query.start_seconds(time_span);
        let request: SearchRequest =
            serde_json::from_value(request_body(mix_query.query, start_seconds, true))?;
        let ColdRuns {
            timings: cold,
            gets: cold_gets,
            first: first_cold,
        } = searchers
            .cold_runs(index_id, mix_query, &request, config.cold_runs, progress)
            .await?;
        let (warm, warm_gets) = timed_warm_runs(
            &searchers.warm,
            index_id,
            &request,
            config.warm_runs,
            progress,
        )
        .await?;
        let (recomputed, _) = timed_warm_runs(
            &searchers.recomputing,
            index_id,
            &request,
            config.warm_runs,
            progress,
        )
        .await?;
        let (num_hits, stats) = first_cold.unwrap_or_default();
        let scan = match scan_keys {
            None => None,
            Some(keys) => Some(
                self.timed_scan(keys, mix_query, start_seconds, num_hits)
                    .await?,
            ),
        };
        let row = QueryRow {
            name: mix_query.name.to_string(),
            query: mix_query.query.to_string(),
            num_hits,
            splits_searched: stats.splits_searched,
            splits_pruned: stats.splits_pruned,
            cold_p50_ms: Percentiles::of(&cold).p50_ms,
            warm_p50_ms: Percentiles::of(&warm).p50_ms,
            recomputed_p50_ms: Percentiles::of(&recomputed).p50_ms,
            cold_gets: stats.reads.storage_gets,
            cold_bytes: stats.reads.storage_bytes,
            cold_round_trips: stats.reads.round_trips,
            scan_ms: scan.map_or(0.0, |elapsed| elapsed.as_secs_f64() * 1e3),
        };
        Ok(MeasuredQuery {
            row,
            cold,
            warm,
            recomputed,
            scan,
            cold_gets,
            warm_gets,
        })
    }

    /// Times the raw scan baseline for one query, and checks it counts what the index counts.
    async fn timed_scan(
        &self,
        keys: &[String],
        mix_query: &MixQuery,
        start_seconds: Option<i64>,
        num_hits: u64,
    ) -> Result<Duration> {
        let scan_started = Instant::now();
        let scanned = scan_raw_objects(&self.staging, keys, mix_query, start_seconds).await?;
        check(scanned == num_hits, || {
            format!(
                "{}: the index counts {num_hits}, a scan of the raw objects {scanned}",
                mix_query.name
            )
        })?;
        self.progress.step();
        Ok(scan_started.elapsed())
    }
}

/// Checks that Hydrant indexed every good record and rejected every bad one.
fn check_counts(figures: &DatasetFigures, indexed: u64, rejected: u64) -> Result<()> {
    check(indexed == figures.good_records, || {
        format!(
            "hydrant indexed {indexed} documents, {} were good",
            figures.good_records
        )
    })?;
    check(rejected == figures.bad_records, || {
        format!(
            "hydrant rejected {rejected} records, {} were bad",
            figures.bad_records
        )
    })
}

/// The searchers a query of the mix is measured with, beside a new one per cold run.
struct MixSearchers<'a> {
    metastore: &'a Metastore,
    warm: SearchService,
    /// Without result caches: every run searches the splits again.
    recomputing: SearchService,
}

impl<'a> MixSearchers<'a> {
    fn new(metastore: &'a Metastore) -> Self {
        // Result caches of one byte keep nothing.
        let uncached = SearcherConfig {
            leaf_cache_bytes: 1,
            doc_cache_bytes: 1,
            ..SearcherConfig::default()
        };
        MixSearchers {
            metastore,
            warm: SearchService::new(metastore.clone(), SearcherConfig::default()),
            recomputing: SearchService::new(metastore.clone(), uncached),
        }
    }

    /// `runs` cold searches, each by a new searcher as a cold Lambda would be: their
    /// timings, their storage GETs in all, and the first one's hit count and stats.
    async fn cold_runs(
        &self,
        index_id: &str,
        mix_query: &MixQuery,
        request: &SearchRequest,
        runs: usize,
        progress: &dyn BenchProgress,
    ) -> Result<ColdRuns> {
        let mut cold = ColdRuns::default();
        for _ in 0..runs {
            let searcher = SearchService::new(self.metastore.clone(), SearcherConfig::default());
            let query_started = Instant::now();
            let response = searcher
                .search(index_id, request)
                .await
                .map_err(search_error)?;
            cold.timings.push(query_started.elapsed());
            check(response.errors.is_empty(), || {
                format!("{}: split errors {:?}", mix_query.name, response.errors)
            })?;
            let stats = response.stats.clone().unwrap_or_default();
            cold.gets += stats.reads.storage_gets;
            cold.first.get_or_insert((response.num_hits, stats));
            progress.step();
        }
        Ok(cold)
    }
}

/// What [`MixSearchers::cold_runs`] measured.
#[derive(Default)]
struct ColdRuns {
    timings: Vec<Duration>,
    gets: u64,
    first: Option<(u64, SearchStats)>,
}

/// One query's timings and costs.
struct MeasuredQuery {
    row: QueryRow,
    cold: Vec<Duration>,
    warm: Vec<Duration>,
    recomputed: Vec<Duration>,
    scan: Option<Duration>,
    cold_gets: u64,
    warm_gets: u64,
}

/// Polls a warm searcher until it counts `expected_docs`; returns the time since `landed`.
async fn wait_until_searchable(
    searcher: &SearchService,
    index_id: &str,
    expected_docs: u64,
    landed: Instant,
) -> Result<Duration> {
    let request: SearchRequest = serde_json::from_value(request_body("*", None, false))?;
    let give_up = landed + Duration::from_secs(60);
    loop {
        let response = searcher
            .search(index_id, &request)
            .await
            .map_err(search_error)?;
        if response.num_hits >= expected_docs {
            return Ok(landed.elapsed());
        }
        if Instant::now() > give_up {
            return Err(LoadtestError::Check(format!(
                "documents not searchable after 60 s ({} of {expected_docs})",
                response.num_hits
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `request` once to fill `searcher`'s caches (not counted), then `runs` times; returns
/// the timed runs and the storage GETs they made.
async fn timed_warm_runs(
    searcher: &SearchService,
    index_id: &str,
    request: &SearchRequest,
    runs: usize,
    progress: &dyn BenchProgress,
) -> Result<(Vec<Duration>, u64)> {
    searcher
        .search(index_id, request)
        .await
        .map_err(search_error)?;
    progress.step();
    let mut timings = Vec::with_capacity(runs);
    let mut gets = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let response = searcher
            .search(index_id, request)
            .await
            .map_err(search_error)?;
        timings.push(started.elapsed());
        gets += response.stats.map_or(0, |stats| stats.reads.storage_gets);
        progress.step();
    }
    Ok((timings, gets))
}

/// Answers `query` by reading every raw object (GET, gunzip, parse, test), eight objects at a
/// time: the work a query engine without an index does.
async fn scan_raw_objects(
    staging: &Arc<ThrottledStorage>,
    keys: &[String],
    query: &MixQuery,
    start_seconds: Option<i64>,
) -> Result<u64> {
    let matches = query.matches;
    let counts: Vec<Result<u64>> = futures::stream::iter(keys.iter().cloned())
        .map(|key| {
            let staging = staging.clone();
            async move {
                let bytes = staging.get(&key).await?.bytes;
                tokio::task::spawn_blocking(move || {
                    count_matches(&bytes, matches, start_seconds.map(|seconds| seconds * 1000))
                })
                .await
                .map_err(|error| LoadtestError::Check(format!("scan task failed: {error}")))?
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    counts.into_iter().sum()
}

fn count_matches(
    gzip: &[u8],
    matches: fn(&serde_json::Value) -> bool,
    start_millis: Option<i64>,
) -> Result<u64> {
    let mut count = 0;
    visit_records(gzip, |millis, record| {
        if start_millis.is_none_or(|start| millis >= start) && matches(record) {
            count += 1;
        }
    })?;
    Ok(count)
}

fn search_error(error: hydrant_search::SearchError) -> LoadtestError {
    LoadtestError::Check(format!("search failed: {error}"))
}

/// Cold starts measured per run.
const COLD_STARTS: usize = 5;

/// `hydrant-searcher` built next to the running `loadtest` (same profile), if it was.
fn searcher_binary() -> Option<PathBuf> {
    let binary = std::env::current_exe()
        .ok()?
        .parent()?
        .join("hydrant-searcher");
    binary.is_file().then_some(binary)
}

/// The packaged Lambda zips, if `cargo lambda build --output-format zip` has made them.
fn package_sizes() -> Vec<PackageSize> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    ["hydrant-indexer", "hydrant-searcher"]
        .into_iter()
        .map(|function| PackageSize {
            function: function.to_string(),
            zip_bytes: std::fs::metadata(
                target_dir
                    .join("lambda")
                    .join(function)
                    .join("bootstrap.zip"),
            )
            .ok()
            .map(|metadata| metadata.len()),
        })
        .collect()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A target's verdict in a table.
/// The cold p50 target in storage latencies: 170 ms at 30 ms. The floor is five round trips
/// (metastore, footer, what the query touches, postings, the page's documents), so this
/// leaves two thirds of one for the CPU.
const COLD_TARGET_ROUND_TRIPS: f64 = 170.0 / 30.0;

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// A peak memory figure, when it was measured.
fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".to_string(), |bytes| {
        format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64)
    })
}

impl BenchReport {
    /// The figures as a readable table, targets marked met or not, one section per phase in
    /// the order of the report.
    pub fn table(&self) -> String {
        let d = &self.dataset;
        let mut text = String::new();
        text.push_str(&format!(
            "Hydrant bench, {} on {} ({:.0} s)\n\n",
            self.started_at, self.machine, self.total_secs
        ));
        text.push_str(&format!(
            "Dataset: web logs, {} objects, {} records ({} bad), {:.1} MB uncompressed, {:.1} MB gzip\n\n",
            d.objects,
            d.records,
            d.bad_records,
            d.uncompressed_bytes as f64 / 1e6,
            d.gzip_bytes as f64 / 1e6
        ));
        text.push_str(&self.indexing_table());
        text.push_str(&self.stream_table());
        text.push_str(&self.queries.table("Queries, one split per object"));
        // The target scales with the latency: 170 ms at 30 ms, 340 ms at 60 ms (issue 25).
        let cold_target_ms = self.queries.injected_latency_ms * COLD_TARGET_ROUND_TRIPS;
        text.push_str(&format!(
            "  cold p50 over {} splits with {:.0} ms injected latency at most {:.0} ms: {}; warm p50 (results recomputed) at most 5 ms: {}\n\n",
            self.queries.splits,
            self.queries.injected_latency_ms,
            cold_target_ms,
            verdict(self.queries.cold.p50_ms <= cold_target_ms),
            verdict(self.queries.recomputed.p50_ms <= 5.0)
        ));
        let m = &self.maintenance;
        text.push_str(&format!(
            "Maintenance: {} merges in {:.1} s, {} splits -> {}\n\n",
            m.merges, m.secs, m.splits_before, m.splits_after
        ));
        text.push_str(
            &self
                .queries_after_maintenance
                .table("Queries after maintenance"),
        );
        text.push('\n');
        text.push_str(&self.packages_table());
        text.push('\n');
        text.push_str(&self.cost.bill());
        text
    }

    /// Indexing throughput against raw tantivy, and the index size.
    fn indexing_table(&self) -> String {
        let i = &self.indexing;
        let mut text = String::new();
        text.push_str("Indexing throughput (same documents, same process)\n");
        text.push_str(&format!(
            "  {:<32} {:>8.2} s {:>10.0} docs/s {:>7.1} MB/s  peak {}\n",
            format!("hydrant, {} batches of 10", i.batches),
            i.hydrant_secs,
            i.hydrant_docs_per_sec,
            i.hydrant_mb_per_sec,
            mib(i.hydrant_peak_rss_bytes)
        ));
        text.push_str(&format!(
            "  {:<32} {:>8.2} s {:>10.0} docs/s {:>7.1} MB/s  peak {}\n",
            "raw tantivy",
            i.raw_tantivy_secs,
            i.raw_tantivy_docs_per_sec,
            i.raw_tantivy_mb_per_sec,
            mib(i.raw_tantivy_peak_rss_bytes)
        ));
        text.push_str(&format!(
            "  hydrant / raw tantivy: {:.2}x (target 1.3x: {})\n",
            i.speed_ratio,
            verdict(i.speed_ratio >= 1.3)
        ));
        text.push_str(&format!(
            "  {} splits, {:.1} MB: {:.2} index bytes per gzip byte (target 3x: {}); {} records rejected and kept\n\n",
            i.splits,
            i.split_bytes as f64 / 1e6,
            i.index_bytes_per_gzip_byte,
            verdict(i.index_bytes_per_gzip_byte <= 3.0),
            i.rejected_records
        ));
        text
    }

    /// One object per invocation: invocation times, splits, freshness.
    fn stream_table(&self) -> String {
        let s = &self.stream;
        let mut text = String::new();
        text.push_str("Stream: one object per invocation\n");
        text.push_str(&format!(
            "  {} invocations, p50 {:.0} ms, p99 {:.0} ms; {} splits of {:.2} MB on average ({:.2} bytes per gzip byte)\n",
            s.invocations,
            s.invocation.p50_ms,
            s.invocation.p99_ms,
            s.splits,
            s.mean_split_bytes as f64 / 1e6,
            s.index_bytes_per_gzip_byte
        ));
        text.push_str(&format!(
            "  freshness (object landed -> searchable by a warm searcher), {} samples: p50 {:.0} ms, p99 {:.0} ms\n\n",
            s.freshness.samples, s.freshness.p50_ms, s.freshness.p99_ms
        ));
        text
    }

    /// The arm64 zips against the 5 MB aim, and the searcher's cold start.
    fn packages_table(&self) -> String {
        let mut text = String::new();
        text.push_str("Lambda packages (arm64 zip)\n");
        for package in &self.packages {
            match package.zip_bytes {
                Some(bytes) => text.push_str(&format!(
                    "  {:<18} {:>10} bytes ({:.2} MB; target 5 MB: {})\n",
                    package.function,
                    bytes,
                    bytes as f64 / 1e6,
                    verdict(bytes <= 5_000_000)
                )),
                None => text.push_str(&format!(
                    "  {:<18} not built (cargo lambda build --release --arm64 --output-format zip)\n",
                    package.function
                )),
            }
        }
        match &self.cold_start {
            Some(cold_start) => text.push_str(&format!(
                "  searcher cold start ({} runs, Lambda Runtime API on loopback): init p50 {:.0} ms, first search answered p50 {:.0} ms\n",
                cold_start.runs.len(),
                cold_start.init.p50_ms,
                cold_start.first_response.p50_ms
            )),
            None => text.push_str(
                "  searcher cold start: not measured (build hydrant-searcher next to loadtest: scripts/bench)\n",
            ),
        }
        text
    }
}

impl QueryFigures {
    fn table(&self, title: &str) -> String {
        let mut text = format!(
            "{title}: {} splits, {} docs, {:.0} ms injected per storage request\n",
            self.splits, self.docs, self.injected_latency_ms
        );
        text.push_str(&format!(
            "  {:<12} {:<38} {:>8} {:>7} {:>9} {:>9} {:>9} {:>4} {:>6} {:>9} {:>9}\n",
            "query",
            "",
            "hits",
            "splits",
            "cold p50",
            "warm p50",
            "recomp.",
            "RTs",
            "GETs",
            "KB",
            "raw scan"
        ));
        for row in &self.rows {
            text.push_str(&format!(
                "  {:<12} {:<38} {:>8} {:>7} {:>6.1} ms {:>6.2} ms {:>6.2} ms {:>4} {:>6} {:>9.1} {:>6.0} ms\n",
                row.name,
                row.query,
                row.num_hits,
                row.splits_searched,
                row.cold_p50_ms,
                row.warm_p50_ms,
                row.recomputed_p50_ms,
                row.cold_round_trips,
                row.cold_gets,
                row.cold_bytes as f64 / 1e3,
                row.scan_ms
            ));
        }
        text.push_str(
            "  (RTs: storage round trips one after another on a cold split's path, footer to documents; the metastore's come before)\n",
        );
        text.push_str(&percentiles_line("cold", &self.cold, 1));
        text.push_str(&format!(
            "  ({:.1} GETs a query; {:.1}x faster than the raw scan)\n",
            self.gets_per_cold_query, self.cold_vs_scan
        ));
        text.push_str(&percentiles_line("warm, same query again", &self.warm, 2));
        text.push_str(&format!(
            "  ({:.1} GETs a query; {:.0}x faster than the raw scan)\n",
            self.gets_per_warm_query, self.warm_vs_scan
        ));
        text.push_str(&percentiles_line(
            "warm, results recomputed",
            &self.recomputed,
            2,
        ));
        text.push('\n');
        text.push_str(&format!(
            "  raw gzip scan p50 {:.0} ms; searcher peak {}\n",
            self.raw_scan.p50_ms,
            self.searcher_peak_rss_bytes
                .map_or("n/a".to_string(), |bytes| format!(
                    "{:.0} MiB",
                    bytes as f64 / (1 << 20) as f64
                ))
        ));
        text
    }
}

/// `  label   p50 … ms  p95 … ms  p99 … ms`, without a line end.
fn percentiles_line(label: &str, percentiles: &Percentiles, decimals: usize) -> String {
    format!(
        "  {label:<26}p50 {:>7.decimals$} ms  p95 {:>7.decimals$} ms  p99 {:>7.decimals$} ms",
        percentiles.p50_ms, percentiles.p95_ms, percentiles.p99_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_bench_measures_everything_and_counts_agree() {
        let temp_dir = tempfile::tempdir().unwrap();
        let config = BenchConfig {
            num_records: 24_000,
            num_objects: 12,
            injected_latency: Duration::from_millis(2),
            freshness_samples: 2,
            cold_runs: 1,
            warm_runs: 2,
            work_dir: temp_dir.path().to_path_buf(),
            ..BenchConfig::default()
        };
        // The run checks itself: hydrant and raw tantivy index the same documents, and every
        // query counts what a scan of the raw objects counts.
        let report = run(&config, &NoProgress).await.unwrap();
        assert_eq!(report.dataset.records, 24_000);
        assert!(report.dataset.bad_records > 0);
        assert_eq!(report.indexing.batches, 2);
        assert_eq!(report.stream.splits, 12);
        assert_eq!(report.stream.freshness.samples, 2);
        assert_eq!(report.queries.rows.len(), QUERY_MIX.len());
        assert!(report.queries.rows.iter().any(|row| row.num_hits > 0));
        let recent = &report.queries.rows[QUERY_MIX.len() - 1];
        assert!(recent.splits_pruned > 0, "time pruning skips old splits");
        assert!(report.maintenance.splits_after < report.maintenance.splits_before);
        assert_eq!(report.queries_after_maintenance.docs, report.queries.docs);
        assert!(report.cost.per_gb_ingested.total > 0.0);
        let table = report.table();
        for expected in [
            "raw tantivy",
            "raw gzip scan",
            "per GB ingested",
            "freshness",
        ] {
            assert!(table.contains(expected), "{expected} missing from\n{table}");
        }
        serde_json::to_string(&report).unwrap();
    }
}
