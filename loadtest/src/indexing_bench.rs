//! Indexing throughput: Hydrant's whole pipeline against raw tantivy on the same documents,
//! in the same process, so the ratio holds on a shared, noisy machine.
//!
//! - **Hydrant**: `Indexer::index_objects` on gzip Firehose objects in local staging, up to
//!   published splits in local index storage (decompression, framing, parsing, mapping,
//!   indexing, merging to one segment, bundling, "upload", publish).
//! - **Raw tantivy**: the same objects read, decompressed and parsed line by line, documents
//!   built by the same doc mapping and added to a tantivy `IndexWriter` with one indexing
//!   thread and the same doc store settings, then committed: what indexing these files with
//!   tantivy alone looks like.
//!
//! Peak memory is the process's peak resident set size during each phase (reset between
//! phases through `/proc/self/clear_refs`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use hydrant_index::config::IndexConfig;
use hydrant_index::doc_mapper::DocMapper;
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, StorageUri};
use tantivy::{Index, IndexWriter, TantivyDocument};

use crate::error::{LoadtestError, Result};
use crate::firehose::Framing;
use crate::generator::{ObjectGenerator, ObjectSpec};
use crate::measure::check;
use crate::memory;
use crate::mock_sales::MOCK_SALES_CONFIG;

/// What to measure.
#[derive(Clone, Debug)]
pub struct IndexingBenchConfig {
    /// Uncompressed bytes of records in the batch.
    pub total_bytes: u64,
    /// Objects the batch is split into (an SQS FIFO batch has at most 10).
    pub num_objects: usize,
    pub seed: u64,
    /// Where staging, index and baseline files go.
    pub work_dir: PathBuf,
    /// zstd level of the doc store for both sides (the index config's, 8, when `None`).
    pub docstore_compression_level: Option<i32>,
}

/// One measured run.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub elapsed: Duration,
    pub peak_rss_bytes: Option<u64>,
}

impl Measurement {
    pub fn docs_per_sec(&self, docs: u64) -> f64 {
        docs as f64 / self.elapsed.as_secs_f64()
    }

    pub fn mb_per_sec(&self, bytes: u64) -> f64 {
        bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// Results of one benchmark run.
#[derive(Clone, Debug)]
pub struct IndexingBenchResult {
    pub num_docs: u64,
    pub uncompressed_bytes: u64,
    pub compressed_bytes: u64,
    pub num_splits: usize,
    pub split_bytes: u64,
    /// zstd level of the doc store on both sides.
    pub docstore_compression_level: i32,
    pub hydrant: Measurement,
    pub raw_tantivy: Measurement,
}

impl IndexingBenchResult {
    /// Hydrant's throughput relative to raw tantivy's (above 1: Hydrant is faster).
    pub fn speed_ratio(&self) -> f64 {
        self.raw_tantivy.elapsed.as_secs_f64() / self.hydrant.elapsed.as_secs_f64()
    }

    /// A readable table.
    pub fn table(&self) -> String {
        let row = |name: &str, measurement: &Measurement| {
            format!(
                "{name:<14} {:>9.2} s {:>10.0} docs/s {:>8.1} MB/s {:>10}\n",
                measurement.elapsed.as_secs_f64(),
                measurement.docs_per_sec(self.num_docs),
                measurement.mb_per_sec(self.uncompressed_bytes),
                measurement
                    .peak_rss_bytes
                    .map(|bytes| format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64))
                    .unwrap_or_else(|| "n/a".to_string()),
            )
        };
        let mut table = format!(
            "{} documents, {:.1} MB uncompressed ({:.1} MB gzip) in one batch; doc store zstd level {}\n\n",
            self.num_docs,
            self.uncompressed_bytes as f64 / 1e6,
            self.compressed_bytes as f64 / 1e6,
            self.docstore_compression_level
        );
        table.push_str(&format!(
            "{:<14} {:>11} {:>17} {:>13} {:>10}\n",
            "", "time", "throughput", "", "peak RSS"
        ));
        table.push_str(&row("hydrant", &self.hydrant));
        table.push_str(&row("raw tantivy", &self.raw_tantivy));
        table.push_str(&format!(
            "\nhydrant / raw tantivy speed: {:.2}x; {} split(s), {:.1} MB ({:.2} bytes of index per gzip byte)\n",
            self.speed_ratio(),
            self.num_splits,
            self.split_bytes as f64 / 1e6,
            self.split_bytes as f64 / self.compressed_bytes as f64
        ));
        table
    }
}

/// Generates the batch, then measures Hydrant and raw tantivy on it. `on_phase` is told what
/// is running (for progress display).
pub async fn run(
    config: &IndexingBenchConfig,
    mut on_phase: impl FnMut(&str),
) -> Result<IndexingBenchResult> {
    let staging_dir = config.work_dir.join("staging");
    let staging: SharedStorage = Arc::new(LocalStorage::new(&staging_dir)?);
    let mut index_config = IndexConfig::from_yaml(MOCK_SALES_CONFIG)?;
    if let Some(level) = config.docstore_compression_level {
        index_config
            .spec
            .indexing_settings
            .docstore_compression_level = level;
        index_config.validate()?;
    }
    let docstore_compression_level = index_config
        .spec
        .indexing_settings
        .docstore_compression_level;

    on_phase("generating objects");
    let batch = generate_batch(config, &staging).await?;
    let num_docs = batch.num_docs;
    on_phase("hydrant: indexing the batch");
    let (hydrant, report) = index_with_hydrant(config, &staging_dir, &index_config, &batch).await?;
    on_phase("raw tantivy: indexing the same documents");
    let raw_tantivy = index_with_raw_tantivy(config, &staging_dir, index_config, &batch).await?;
    Ok(IndexingBenchResult {
        docstore_compression_level,
        num_docs,
        uncompressed_bytes: batch.uncompressed_bytes,
        compressed_bytes: batch.compressed_bytes,
        num_splits: report.splits.len(),
        split_bytes: report
            .splits
            .iter()
            .map(|split| split.split_size_bytes)
            .sum(),
        hydrant,
        raw_tantivy,
    })
}

/// The generated batch: objects in staging, and what they hold.
struct GeneratedBatch {
    objects: Vec<ObjectRef>,
    num_docs: u64,
    uncompressed_bytes: u64,
    compressed_bytes: u64,
}

/// Mock-sales objects adding up to the configured size, in staging.
async fn generate_batch(
    config: &IndexingBenchConfig,
    staging: &SharedStorage,
) -> Result<GeneratedBatch> {
    let mut generator = ObjectGenerator::new(config.seed, 0);
    // Objects are sized from the average record seen so far, so the batch lands on its size.
    let mut bytes_per_record = 150.0;
    let mut objects = Vec::new();
    let (mut num_docs, mut uncompressed_bytes, mut compressed_bytes) = (0, 0, 0);
    let mut next_millis = 1_700_000_000_000;
    for number in 0..config.num_objects {
        let remaining_bytes = config.total_bytes.saturating_sub(uncompressed_bytes) as f64;
        let records_per_object =
            (remaining_bytes / (config.num_objects - number) as f64 / bytes_per_record).max(1.0)
                as usize;
        let object = generator.object(ObjectSpec {
            num_records: records_per_object,
            bad_share: 0.0,
            framing: Framing::NewlineDelimited,
            gzip: true,
            start_millis: next_millis,
            late_share: 0.0,
            strict: false,
        });
        next_millis += records_per_object as i64;
        num_docs += object.num_good;
        uncompressed_bytes += object.uncompressed_bytes;
        bytes_per_record = uncompressed_bytes as f64 / num_docs as f64;
        compressed_bytes += object.bytes.len() as u64;
        let key = format!("2026/11/22/19/bench-1-{number:02}");
        staging
            .put(&key, object.bytes.into(), PutMode::Overwrite)
            .await?;
        objects.push(ObjectRef::new("staging", key));
    }

    Ok(GeneratedBatch {
        objects,
        num_docs,
        uncompressed_bytes,
        compressed_bytes,
    })
}

/// Hydrant's whole pipeline over the batch, to a published split.
async fn index_with_hydrant(
    config: &IndexingBenchConfig,
    staging_dir: &std::path::Path,
    index_config: &IndexConfig,
    batch: &GeneratedBatch,
) -> Result<(Measurement, hydrant_ingest::IndexingReport)> {
    let (objects, num_docs) = (&batch.objects, batch.num_docs);
    let index_storage: SharedStorage = Arc::new(LocalStorage::new(config.work_dir.join("index"))?);
    let metastore = Metastore::new(index_storage);
    metastore.create_index(index_config.clone()).await?;
    let indexer = Indexer::new(
        metastore.clone(),
        StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir.to_path_buf())),
    )
    .with_temp_root(config.work_dir.clone());
    memory::reset_peak();
    let started = Instant::now();
    let report = indexer.index_objects("mock-sales", objects, None).await?;
    let hydrant = Measurement {
        elapsed: started.elapsed(),
        peak_rss_bytes: memory::peak_rss_bytes(),
    };
    check(report.num_docs == num_docs, || {
        format!(
            "hydrant indexed {} docs, expected {num_docs}",
            report.num_docs
        )
    })?;
    check(report.failure.is_none(), || {
        "hydrant failed on an object".to_string()
    })?;
    let metadata = metastore.index_metadata("mock-sales").await?;
    check(metadata.num_published_docs() == num_docs, || {
        "published docs differ".to_string()
    })?;

    Ok((hydrant, report))
}

/// tantivy alone over the same objects.
async fn index_with_raw_tantivy(
    config: &IndexingBenchConfig,
    staging_dir: &std::path::Path,
    index_config: IndexConfig,
    batch: &GeneratedBatch,
) -> Result<Measurement> {
    let num_docs = batch.num_docs;
    let baseline_dir = config.work_dir.join("raw-tantivy");
    std::fs::create_dir_all(&baseline_dir)?;
    let heap = index_config.spec.indexing_settings.resources.heap_size as usize;
    let object_paths: Vec<PathBuf> = batch
        .objects
        .iter()
        .map(|object| staging_dir.join(&object.key))
        .collect();
    memory::reset_peak();
    let started = Instant::now();
    let baseline_docs = tokio::task::spawn_blocking(move || {
        raw_tantivy(&index_config, &object_paths, &baseline_dir, heap)
    })
    .await
    .map_err(|error| LoadtestError::Check(format!("raw tantivy task failed: {error}")))??;
    let raw_tantivy = Measurement {
        elapsed: started.elapsed(),
        peak_rss_bytes: memory::peak_rss_bytes(),
    };
    check(baseline_docs == num_docs, || {
        format!("raw tantivy indexed {baseline_docs} docs, expected {num_docs}")
    })?;

    Ok(raw_tantivy)
}

/// Decompress, parse and index in one thread with tantivy alone. Records that do not parse
/// or do not fit the mapping are skipped, as the indexer rejects them.
pub(crate) fn raw_tantivy(
    config: &IndexConfig,
    objects: &[PathBuf],
    dir: &Path,
    heap: usize,
) -> Result<u64> {
    let doc_mapper = DocMapper::new(config)?;
    // Same schema and doc store settings as Hydrant's splits: the same output, so the ratio
    // measures the pipeline, not a cheaper compression.
    let mut index = Index::builder()
        .schema(doc_mapper.schema().clone())
        .settings(doc_mapper.index_settings())
        .create_in_dir(dir)?;
    index.set_tokenizers(doc_mapper.tokenizers().clone());
    let mut writer: IndexWriter<TantivyDocument> = index.writer_with_num_threads(1, heap)?;
    let mut num_docs = 0;
    for path in objects {
        let reader = BufReader::new(MultiGzDecoder::new(BufReader::new(std::fs::File::open(
            path,
        )?)));
        for line in reader.lines() {
            let Ok(record) = serde_json::from_str::<serde_json::Map<_, _>>(&line?) else {
                continue;
            };
            if let Ok(parsed) = doc_mapper.doc_from_json(record) {
                writer.add_document(parsed.doc)?;
                num_docs += 1;
            }
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(num_docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_measures_both_sides_of_the_same_documents() {
        let temp_dir = tempfile::tempdir().unwrap();
        let config = IndexingBenchConfig {
            total_bytes: 2_000_000,
            num_objects: 3,
            seed: 1,
            work_dir: temp_dir.path().to_path_buf(),
            docstore_compression_level: Some(3),
        };
        let mut phases = Vec::new();
        let result = run(&config, |phase| phases.push(phase.to_string()))
            .await
            .unwrap();
        assert!(result.num_docs > 10_000, "{}", result.num_docs);
        assert!(result.uncompressed_bytes > 1_500_000);
        assert!(
            result.hydrant.elapsed > Duration::ZERO && result.raw_tantivy.elapsed > Duration::ZERO
        );
        assert!(result.split_bytes > 0);
        assert_eq!(phases.len(), 3);
        assert!(result.table().contains("raw tantivy"));
    }
}
