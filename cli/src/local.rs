//! Local mode: the whole pipeline on one machine, on local disk, with no AWS account.
//!
//! ```text
//! generator ──objects──▶ <data>/staging ──listing──▶ indexer ──splits──▶ <data>/index
//!                                                                          │
//!                          curl ──▶ 127.0.0.1:7280 ──▶ searcher ◀──────────┘
//! ```
//!
//! The generator writes mock-sales Firehose objects at a steady rate; the indexer lists
//! staging in key order (Firehose keys sort by delivery time) and indexes what the checkpoint
//! does not have, in batches of up to 10 objects like an SQS FIFO batch. A restart lists
//! everything again and the checkpoint skips what is already indexed, so nothing is indexed
//! twice and nothing written while the indexer was down is missed.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hydrant_datagen::firehose::{Framing, encode_object, object_key};
use hydrant_datagen::mock_sales::{MOCK_SALES_CONFIG, MockSales};
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::index_config::IndexConfig;
use hydrant_metastore::storage::{LocalStorage, PutMode, SharedStorage, StorageUri};
use hydrant_metastore::{Error as MetastoreError, Metastore};
use hydrant_search::{SearchService, SearcherConfig};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tracing::{error, warn};

/// The bucket name local staging objects are indexed under.
const LOCAL_STAGING_BUCKET: &str = "staging";
/// Objects per indexing batch, as in an SQS FIFO batch.
const BATCH_SIZE: usize = 10;
const INDEX_ID: &str = "mock-sales";
/// How often local mode merges and collects garbage.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);

/// Options of `hydrant local`.
#[derive(Clone, Debug, clap::Args)]
pub struct LocalOptions {
    /// Where staging objects and the index live.
    #[arg(long, default_value = "hydrant-data")]
    pub data_dir: PathBuf,
    /// Address of the search API.
    #[arg(long, default_value = "127.0.0.1:7280")]
    pub listen: SocketAddr,
    /// Records in each generated Firehose object.
    #[arg(long, default_value_t = 500)]
    pub records_per_object: usize,
    /// Seconds between generated objects.
    #[arg(long, default_value_t = 2.0)]
    pub object_interval_secs: f64,
    /// Stop generating after this many objects (0: never stop).
    #[arg(long, default_value_t = 0)]
    pub max_objects: u64,
}

/// Counters shown while running and in the final summary.
#[derive(Debug, Default)]
struct LocalStats {
    objects_generated: AtomicU64,
    records_generated: AtomicU64,
    batches_indexed: AtomicU64,
    docs_indexed: AtomicU64,
    records_rejected: AtomicU64,
    merges: AtomicU64,
}

pub async fn run(options: LocalOptions) -> anyhow::Result<()> {
    let staging_dir = options.data_dir.join("staging");
    let index_dir = options.data_dir.join("index");
    let staging: SharedStorage = Arc::new(
        LocalStorage::new(&staging_dir)
            .with_context(|| format!("cannot use {} for staging", staging_dir.display()))?,
    );
    let index_storage: SharedStorage = Arc::new(
        LocalStorage::new(&index_dir)
            .with_context(|| format!("cannot use {} for the index", index_dir.display()))?,
    );
    let metastore = Metastore::new(index_storage);
    match metastore
        .create_index(IndexConfig::from_yaml(MOCK_SALES_CONFIG)?)
        .await
    {
        Ok(_) | Err(MetastoreError::IndexAlreadyExists(_)) => {}
        Err(error) => return Err(error).context("cannot create the mock-sales index"),
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? pass --listen)",
                options.listen
            )
        })?;

    let (shutdown_sender, shutdown) = watch::channel(false);
    let stats = Arc::new(LocalStats::default());
    let started = Instant::now();

    // Ids continue where the index left off, so they stay unique across restarts.
    let first_id = metastore
        .index_metadata(INDEX_ID)
        .await?
        .num_published_docs();
    let generator = tokio::spawn(generate(
        options.clone(),
        first_id,
        staging.clone(),
        stats.clone(),
        shutdown.clone(),
    ));
    let indexer = Indexer::new(
        metastore.clone(),
        StagingBuckets::default()
            .bind(LOCAL_STAGING_BUCKET, StorageUri::Local(staging_dir.clone())),
    )
    .with_temp_root(prepare_temp_root(&options.data_dir.join("tmp"))?);
    let maintainer = hydrant_ingest::maintenance::Maintainer::new(metastore.clone())
        .with_temp_root(prepare_temp_root(&options.data_dir.join("tmp-merges"))?);
    let indexing = tokio::spawn(index_continuously(
        indexer,
        maintainer,
        staging,
        stats.clone(),
        shutdown.clone(),
    ));
    let service = Arc::new(SearchService::new(
        metastore.clone(),
        SearcherConfig::default(),
    ));
    let mut server_shutdown = shutdown.clone();
    let server = tokio::spawn(hydrant_search::server::serve(
        listener,
        service,
        async move {
            let _ = server_shutdown.wait_for(|stop| *stop).await;
        },
    ));

    println!(
        "Hydrant is running locally (data in {}).",
        options.data_dir.display()
    );
    println!(
        "Mock-sales Firehose objects land in {} every {}s and are indexed as they arrive.",
        staging_dir.display(),
        options.object_interval_secs
    );
    println!("Search it:");
    println!(
        "  curl 'http://{}/api/v1/{INDEX_ID}/search?query=quantity:>5'",
        options.listen
    );
    println!(
        "  curl 'http://{}/api/v1/{INDEX_ID}/search?query=*&max_hits=0'",
        options.listen
    );
    println!("Press Ctrl-C to stop.\n");

    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    let stop_signal = crate::stop_signal();
    tokio::pin!(stop_signal);
    loop {
        tokio::select! {
            _ = &mut stop_signal => break,
            _ = ticker.tick() => {
                progress.set_message(format!(
                    "generated {} records in {} objects · indexed {} docs in {} batches · {} rejected · {} merges",
                    stats.records_generated.load(Ordering::Relaxed),
                    stats.objects_generated.load(Ordering::Relaxed),
                    stats.docs_indexed.load(Ordering::Relaxed),
                    stats.batches_indexed.load(Ordering::Relaxed),
                    stats.records_rejected.load(Ordering::Relaxed),
                    stats.merges.load(Ordering::Relaxed),
                ));
                progress.tick();
                // A finished indexer, or a generator that stopped before its quota, failed:
                // stop and report why.
                if indexing.is_finished() || (generator.is_finished() && options.max_objects == 0) {
                    break;
                }
            }
        }
    }
    progress.finish_and_clear();
    println!("Stopping: finishing the batch being indexed...");
    let _ = shutdown_sender.send(true);
    generator.await.context("generator task")??;
    indexing.await.context("indexer task")??;
    server.await.context("server task")??;

    let metadata = metastore.index_metadata(INDEX_ID).await?;
    println!(
        "Stopped after {:.0?}. This run generated {} records in {} objects and indexed {} documents.",
        started.elapsed(),
        stats.records_generated.load(Ordering::Relaxed),
        stats.objects_generated.load(Ordering::Relaxed),
        stats.docs_indexed.load(Ordering::Relaxed),
    );
    println!(
        "The index holds {} documents in {} splits; run the same command again to resume.",
        metadata.num_published_docs(),
        metadata.published_splits().count()
    );
    Ok(())
}

/// Splits are built under the data directory, not the system temp directory: local mode may
/// build large splits, and a crash leaves nothing in /tmp.
fn prepare_temp_root(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let temp_root = dir.to_path_buf();
    if temp_root.exists() {
        // Leftovers of a crashed run: never published, safe to drop.
        std::fs::remove_dir_all(&temp_root)
            .with_context(|| format!("cannot clean {}", temp_root.display()))?;
    }
    std::fs::create_dir_all(&temp_root)
        .with_context(|| format!("cannot create {}", temp_root.display()))?;
    Ok(temp_root)
}

async fn generate(
    options: LocalOptions,
    first_id: u64,
    staging: SharedStorage,
    stats: Arc<LocalStats>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if options.records_per_object == 0 {
        bail!("--records-per-object must be positive");
    }
    let seed = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut generator = MockSales::new(seed, first_id);
    let interval = Duration::from_secs_f64(options.object_interval_secs.max(0.01));
    let mut ticker = tokio::time::interval(interval);
    let mut objects_written = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        let now = time::OffsetDateTime::now_utc();
        let now_millis = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let records: Vec<String> = (0..options.records_per_object)
            .map(|position| generator.record(now_millis - position as i64))
            .collect();
        let body = encode_object(&records, Framing::NewlineDelimited, true);
        let key = object_key("", "hydrant-local", now);
        staging
            .put(&key, body.into(), PutMode::Create)
            .await
            .with_context(|| format!("cannot write staging object {key}"))?;
        stats.objects_generated.fetch_add(1, Ordering::Relaxed);
        stats
            .records_generated
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        objects_written += 1;
        if options.max_objects > 0 && objects_written >= options.max_objects {
            return Ok(());
        }
    }
}

async fn index_continuously(
    indexer: Indexer,
    maintainer: hydrant_ingest::maintenance::Maintainer,
    staging: SharedStorage,
    stats: Arc<LocalStats>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Keys indexed (or found already indexed) by this process; the checkpoint covers the rest.
    let mut done: HashSet<String> = HashSet::new();
    // Merges and garbage collection, as the scheduled maintenance message does on AWS.
    let mut last_maintenance = Instant::now();
    loop {
        let pending: Vec<ObjectRef> = match staging.list("").await {
            Ok(objects) => objects
                .into_iter()
                .filter(|object| !done.contains(&object.path))
                .take(BATCH_SIZE)
                .map(|object| ObjectRef {
                    bucket: LOCAL_STAGING_BUCKET.to_string(),
                    key: object.path,
                    etag: Some(object.version.0),
                })
                .collect(),
            Err(error) => {
                error!(%error, "cannot list staging");
                Vec::new()
            }
        };
        if pending.is_empty() {
            if *shutdown.borrow() {
                return Ok(());
            }
            if last_maintenance.elapsed() >= MAINTENANCE_INTERVAL {
                last_maintenance = Instant::now();
                match maintainer.run(INDEX_ID, None).await {
                    Ok(report) => {
                        stats
                            .merges
                            .fetch_add(report.merges as u64, Ordering::Relaxed);
                    }
                    Err(error) => error!(%error, "maintenance failed; retrying later"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
            continue;
        }
        match indexer.index_objects(INDEX_ID, &pending, None).await {
            Ok(report) => {
                for (source_key, _) in &report.objects {
                    if let Some(key) = source_key.strip_prefix(&format!("{LOCAL_STAGING_BUCKET}/"))
                    {
                        done.insert(key.to_string());
                    }
                }
                stats.batches_indexed.fetch_add(1, Ordering::Relaxed);
                stats
                    .docs_indexed
                    .fetch_add(report.num_docs, Ordering::Relaxed);
                stats
                    .records_rejected
                    .fetch_add(report.num_rejected, Ordering::Relaxed);
                if let Some(failure) = report.failure {
                    warn!(source_key = failure.source_key, error = %failure.error, "object not indexed; retrying later");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Err(error) => {
                error!(%error, "indexing batch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if *shutdown.borrow() {
            // Stop after the batch in flight; the next start resumes from the checkpoint.
            return Ok(());
        }
    }
}
