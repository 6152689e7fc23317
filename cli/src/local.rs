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
use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::{BatchOutcome, IndexerRuntime, QueueMessage};
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::{Error as MetastoreError, Metastore};
use hydrant_search::router::Router;
use hydrant_search::{SearchService, SearcherConfig};
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, StorageUri};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::error;

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
    /// Generate mock-sales objects. With `--generate false`, only what is put in
    /// `<data-dir>/staging` (your own Firehose objects, say) is indexed.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub generate: bool,
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
    set_aside: AtomicU64,
}

impl LocalStats {
    fn line(&self) -> String {
        format!(
            "generated {} records in {} objects · indexed {} docs in {} batches · {} rejected · {} set aside · {} merges",
            self.records_generated.load(Ordering::Relaxed),
            self.objects_generated.load(Ordering::Relaxed),
            self.docs_indexed.load(Ordering::Relaxed),
            self.batches_indexed.load(Ordering::Relaxed),
            self.records_rejected.load(Ordering::Relaxed),
            self.set_aside.load(Ordering::Relaxed),
            self.merges.load(Ordering::Relaxed),
        )
    }

    fn add(&self, outcome: &BatchOutcome) {
        self.docs_indexed
            .fetch_add(outcome.num_docs, Ordering::Relaxed);
        self.records_rejected
            .fetch_add(outcome.num_rejected, Ordering::Relaxed);
        self.set_aside
            .fetch_add(outcome.set_aside.len() as u64, Ordering::Relaxed);
        let merges: usize = outcome.maintenance.iter().map(|report| report.merges).sum();
        self.merges.fetch_add(merges as u64, Ordering::Relaxed);
    }
}

pub async fn run(options: LocalOptions) -> anyhow::Result<()> {
    let data = LocalData::open(&options.data_dir).await?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? pass --listen)",
                options.listen
            )
        })?;
    let address = listener.local_addr()?;
    let (shutdown_sender, shutdown) = watch::channel(false);
    let stats = Arc::new(LocalStats::default());
    let started = Instant::now();
    let tasks = Tasks::start(&options, &data, listener, &stats, shutdown).await?;
    // Before the banner: a SIGTERM sent as soon as it appears must stop local mode cleanly.
    let stop_signal = crate::stop_signal();
    print_banner(&options, &data, address);
    show_progress_until_stopped(&options, &stats, &tasks, stop_signal).await;
    println!("Stopping: finishing the batch being indexed...");
    let _ = shutdown_sender.send(true);
    tasks.join().await?;
    print_summary(&data, &stats, started).await
}

/// The data directory: staging objects and the index, on local disk.
struct LocalData {
    staging_dir: PathBuf,
    staging: SharedStorage,
    metastore: Metastore,
    temp_dir: PathBuf,
}

impl LocalData {
    /// Opens (or creates) the directories and the mock-sales index.
    async fn open(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let staging_dir = data_dir.join("staging");
        let index_dir = data_dir.join("index");
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
        Ok(LocalData {
            staging_dir,
            staging,
            metastore,
            temp_dir: data_dir.to_path_buf(),
        })
    }

    /// The batch core over this data: the same [`IndexerRuntime`] as the Lambda handler.
    async fn runtime(&self) -> anyhow::Result<IndexerRuntime> {
        let buckets = StagingBuckets::default().bind(
            LOCAL_STAGING_BUCKET,
            StorageUri::Local(self.staging_dir.clone()),
        );
        let indexer = Indexer::new(self.metastore.clone(), buckets)
            .with_temp_root(prepare_temp_root(&self.temp_dir.join("tmp"))?);
        let maintainer = hydrant_ingest::maintenance::Maintainer::new(self.metastore.clone())
            .with_temp_root(prepare_temp_root(&self.temp_dir.join("tmp-merges"))?);
        Ok(IndexerRuntime::new(indexer, Vec::new())
            .await?
            .with_maintainer(maintainer))
    }
}

/// The generator, the indexing loop and the search server, running until shutdown.
struct Tasks {
    generator: Option<JoinHandle<anyhow::Result<()>>>,
    indexing: JoinHandle<anyhow::Result<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Tasks {
    async fn start(
        options: &LocalOptions,
        data: &LocalData,
        listener: tokio::net::TcpListener,
        stats: &Arc<LocalStats>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        // Ids continue where the index left off, so they stay unique across restarts.
        let first_id = data
            .metastore
            .index_splits(INDEX_ID)
            .await?
            .num_published_docs();
        let generator = options.generate.then(|| {
            tokio::spawn(generate(
                options.clone(),
                first_id,
                data.staging.clone(),
                stats.clone(),
                shutdown.clone(),
            ))
        });
        let indexing = tokio::spawn(index_continuously(
            data.runtime().await?,
            data.staging.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
        let service = Arc::new(SearchService::new(
            data.metastore.clone(),
            SearcherConfig::default(),
        ));
        let mut server_shutdown = shutdown;
        let server = tokio::spawn(hydrant_search::server::serve(
            listener,
            Arc::new(Router::new(service)),
            async move {
                let _ = server_shutdown.wait_for(|stop| *stop).await;
            },
        ));
        Ok(Tasks {
            generator,
            indexing,
            server,
        })
    }

    /// A finished indexer, or a generator that stopped before its quota, failed.
    fn failed(&self, options: &LocalOptions) -> bool {
        let generator_failed = self
            .generator
            .as_ref()
            .is_some_and(|generator| generator.is_finished() && options.max_objects == 0);
        self.indexing.is_finished() || generator_failed
    }

    async fn join(self) -> anyhow::Result<()> {
        if let Some(generator) = self.generator {
            generator.await.context("generator task")??;
        }
        self.indexing.await.context("indexer task")??;
        self.server.await.context("server task")??;
        Ok(())
    }
}

fn print_banner(options: &LocalOptions, data: &LocalData, address: SocketAddr) {
    println!("Search page: http://{address}/ui");
    println!(
        "Hydrant is running locally (data in {}).",
        options.data_dir.display()
    );
    if options.generate {
        println!(
            "Mock-sales Firehose objects land in {} every {}s and are indexed as they arrive.",
            data.staging_dir.display(),
            options.object_interval_secs
        );
    } else {
        println!(
            "Objects put in {} are indexed as they arrive.",
            data.staging_dir.display()
        );
    }
    println!("Or search it with the API:");
    println!("  curl 'http://{address}/api/v1/{INDEX_ID}/search?query=quantity:>5'");
    println!("  curl 'http://{address}/api/v1/{INDEX_ID}/search?query=*&max_hits=0'");
    println!("Press Ctrl-C to stop.\n");
}

/// A spinner with the counters, until Ctrl-C, SIGTERM or a failed task.
async fn show_progress_until_stopped(
    options: &LocalOptions,
    stats: &LocalStats,
    tasks: &Tasks,
    stop_signal: impl std::future::Future<Output = ()>,
) {
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    tokio::pin!(stop_signal);
    loop {
        tokio::select! {
            _ = &mut stop_signal => break,
            _ = ticker.tick() => {
                progress.set_message(stats.line());
                progress.tick();
                if tasks.failed(options) {
                    break;
                }
            }
        }
    }
    progress.finish_and_clear();
}

async fn print_summary(
    data: &LocalData,
    stats: &LocalStats,
    started: Instant,
) -> anyhow::Result<()> {
    let metadata = data.metastore.index_splits(INDEX_ID).await?;
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

/// Feeds what lands in staging to the batch core as backfill messages, in batches of up to 10
/// like an SQS FIFO batch, and a maintenance message every [`MAINTENANCE_INTERVAL`], as the
/// schedule does on AWS.
async fn index_continuously(
    runtime: IndexerRuntime,
    staging: SharedStorage,
    stats: Arc<LocalStats>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Keys handled by this process; the checkpoint covers the rest.
    let mut done: HashSet<String> = HashSet::new();
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
                let maintenance = [QueueMessage::maintenance(Some(INDEX_ID))];
                let outcome = runtime.run_batch(&maintenance, None).await;
                stats.add(&outcome);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
            continue;
        }
        let messages: Vec<QueueMessage> = pending
            .iter()
            .map(|object| QueueMessage::backfill(object, Some(INDEX_ID)))
            .collect();
        let outcome = runtime.run_batch(&messages, None).await;
        // Messages before the one that stopped the batch are done (indexed or set aside);
        // that one and the rest are tried again, as the queue would redeliver them.
        let handled = outcome
            .failure
            .as_ref()
            .map_or(messages.len(), |failure| failure.position);
        done.extend(pending[..handled].iter().map(|object| object.key.clone()));
        stats.batches_indexed.fetch_add(1, Ordering::Relaxed);
        stats.add(&outcome);
        if outcome.failure.is_some() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if *shutdown.borrow() {
            // Stop after the batch in flight; the next start resumes from the checkpoint.
            return Ok(());
        }
    }
}
