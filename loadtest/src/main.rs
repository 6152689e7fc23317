//! `loadtest`: Hydrant's benchmark driver.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use hydrant_index::config::IndexConfig;
use hydrant_loadtest::bench::{self, BenchConfig, BenchProgress};
use hydrant_loadtest::fanout::FanoutConfig;
use hydrant_loadtest::floor::{self, FloorConfig};
use hydrant_loadtest::floor_cost;
use hydrant_loadtest::generator::Dataset;
use hydrant_loadtest::http_search::SearchAuth;
use hydrant_loadtest::indexing_bench::{self, IndexingBenchConfig};
use hydrant_loadtest::metastore_bench::{self, MetastoreBenchConfig};
use hydrant_loadtest::sigv4::SigV4Signer;
use hydrant_loadtest::stream::{self, StreamConfig};
use hydrant_loadtest::target::{SearchApi, Target, TargetSpec};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    about = "Hydrant benchmarks: figures from runs, next to same-run baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run and matched at once: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// The whole measurement on the local target: indexing against raw tantivy, freshness,
    /// cold and warm queries against a raw gzip scan, maintenance, package sizes and costs.
    Bench(BenchArgs),
    /// A Firehose stream into a target, end to end: objects delivered one at a time, each
    /// timed until searchable, then the query mix through the target's search, every count
    /// checked against the records delivered.
    Stream(StreamArgs),
    /// A Grafana dashboard's `_msearch` (logs + date histogram + terms) cold and warm over one
    /// split per object, with storage latency injected, against a raw scan of the same panels.
    Dashboard(DashboardArgs),
    /// Fan-out measured: one searcher alone against a root sharing its splits out to leaf
    /// invocations of itself, over many small splits, through `cargo lambda watch` (which
    /// must be on the PATH), with storage latency injected in every invocation.
    Fanout(FanoutArgs),
    /// Indexing throughput and peak memory: Hydrant's pipeline vs raw tantivy on one batch.
    Indexing(IndexingArgs),
    /// The metastore as an index scales out: publishes per second with 1 to N shard writers
    /// (against the same writers on one document), the bytes a cold search reads and a
    /// publish writes after many objects, and a model of an index's ingest rate on AWS.
    Metastore(MetastoreArgs),
    /// Indexing at the cost floor: CPU-seconds per MB of Hydrant's whole pipeline against a
    /// tantivy-py script on the same objects, each a process of its own, also pinned to one
    /// core. `scripts/cost-floor` builds what it needs and runs it.
    Floor(FloorArgs),
    /// The invocations `loadtest floor` prices, measured in this process (which `floor` runs
    /// pinned to one core); prints them as JSON.
    #[command(hide = true)]
    FloorCost(FloorCostArgs),
}

#[derive(Debug, clap::Args)]
struct FloorCostArgs {
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    work_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct FloorArgs {
    /// Uncompressed megabytes of records, over all objects.
    #[arg(long, default_value_t = 345)]
    mb: u64,
    /// Objects (Hydrant indexes them 10 to a batch, as SQS FIFO delivers them).
    #[arg(long, default_value_t = 100)]
    objects: usize,
    /// Share of bad records.
    #[arg(long, default_value_t = 0.01)]
    bad_share: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The `hydrant` binary (the release build next to this one by default).
    #[arg(long)]
    hydrant: Option<PathBuf>,
    /// A Python with tantivy from PyPI.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// The tantivy-py script (loadtest/tantivy_py_baseline.py by default).
    #[arg(long)]
    baseline_script: Option<PathBuf>,
    /// Also run both sides pinned to this core (`taskset -c`); `none` skips it.
    #[arg(long, default_value = "0")]
    pinned_core: String,
    /// Milliseconds added to every S3 request of the cost model's invocations.
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// Object sizes of the cost model times this (0 skips the cost model).
    #[arg(long, default_value_t = 1.0)]
    cost_scale: f64,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Working directory (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct MetastoreArgs {
    /// Milliseconds added to every storage request (S3's latency).
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// Concurrent shard writers, one run each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,64")]
    writers: Vec<u32>,
    /// Publishes of each writer.
    #[arg(long, default_value_t = 20)]
    publishes: u32,
    /// Staging objects indexed into the index whose metastore size is measured.
    #[arg(long, default_value_t = 20_000)]
    objects: u64,
    /// Shards of that index.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Objects per publish.
    #[arg(long, default_value_t = 10)]
    objects_per_publish: u64,
    /// Megabytes of records of the indexing-rate measurement.
    #[arg(long, default_value_t = 64)]
    indexing_mb: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Working directory (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Records generated.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Objects they are spread over (one split each in the stream phase).
    #[arg(long, default_value_t = 100)]
    objects: usize,
    /// Milliseconds added to every storage request while querying (S3's latency).
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// Share of bad records.
    #[arg(long, default_value_t = 0.001)]
    bad_share: f64,
    /// Share of late records.
    #[arg(long, default_value_t = 0.005)]
    late_share: f64,
    /// Warm runs of each query.
    #[arg(long, default_value_t = 20)]
    warm_runs: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Working directory (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct StreamArgs {
    /// Where to stream: `local` (embedded, on disk), `s3-sqs` (S3 and SQS endpoints such
    /// as moto: objects and the FIFO messages EventBridge would send, the poll-mode indexer
    /// in this process), `aws` (a deployed stack: its staging bucket and search URL).
    #[arg(long, value_enum, default_value_t = TargetKind::Local)]
    target: TargetKind,
    /// Objects delivered.
    #[arg(long, default_value_t = 20)]
    objects: usize,
    /// Records per object.
    #[arg(long, default_value_t = 10_000)]
    records_per_object: usize,
    /// Milliseconds between deliveries (Firehose's buffering interval); 0: back to back.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// Share of bad records.
    #[arg(long, default_value_t = 0.001)]
    bad_share: f64,
    /// Share of late records.
    #[arg(long, default_value_t = 0.005)]
    late_share: f64,
    /// Runs of each query of the mix.
    #[arg(long, default_value_t = 10)]
    query_runs: usize,
    /// Seconds an object may take to become searchable before the run fails.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Key prefix in the staging bucket (the delivery stream's prefix).
    #[arg(long, default_value = "firehose/")]
    prefix: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// local: the data directory (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// s3-sqs, aws: S3 and SQS endpoint, e.g. moto's `http://127.0.0.1:5000`; AWS when unset.
    #[arg(long)]
    endpoint: Option<String>,
    /// s3-sqs, aws: the staging bucket (s3-sqs creates one when unset).
    #[arg(long)]
    staging_bucket: Option<String>,
    /// s3-sqs: the index storage, `s3://bucket[/prefix]` (a new bucket when unset).
    #[arg(long)]
    index_uri: Option<String>,
    /// s3-sqs: the FIFO queue (a new one, with content-based deduplication, when unset).
    #[arg(long)]
    queue_url: Option<String>,
    /// Query this search API instead of an in-process searcher; aws: the stack's SearchUrl.
    #[arg(long)]
    search_url: Option<String>,
    /// Sent as `x-api-key` with every search request.
    #[arg(
        long,
        env = "HYDRANT_API_KEY",
        hide_env_values = true,
        conflicts_with = "sigv4"
    )]
    api_key: Option<String>,
    /// Sign every search request with AWS SigV4, for a stack deployed with `ApiAuth: IAM`
    /// (credentials from the default AWS chain; service and region from the URL).
    #[arg(long)]
    sigv4: bool,
    /// The region to sign for, when the search URL does not name it (a custom domain).
    #[arg(long, requires = "sigv4")]
    sigv4_region: Option<String>,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct DashboardArgs {
    /// Records generated.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Objects they are spread over (one split each).
    #[arg(long, default_value_t = 100)]
    objects: usize,
    /// Milliseconds added to every storage request while querying (S3's latency).
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// Runs of each measurement (cold runs use a new searcher each).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Working directory (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct FanoutArgs {
    /// Records generated.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Objects they are spread over (one split each).
    #[arg(long, default_value_t = 1_000)]
    objects: usize,
    /// Milliseconds added to every storage request in every invocation (S3's latency).
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// `HYDRANT_SPLITS_PER_LEAF` values compared with the lone searcher (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "250,100")]
    leaf_sizes: Vec<usize>,
    /// `HYDRANT_SPLIT_CONCURRENCY` values of the lone searcher (comma-separated; the first,
    /// the default's, is also the fanned-out layouts').
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    alone_split_concurrency: Vec<usize>,
    /// Pins the lone searcher's processes to this core, as a 1,769 MB Lambda has one vCPU
    /// (`none`: all cores).
    #[arg(long, default_value = "0")]
    alone_core: String,
    /// Rounds of the query mix measured per layout, cold and warm.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Repeats of the dashboard's three panels in the large `_msearch` (memory).
    #[arg(long, default_value_t = 10)]
    msearch_repeats: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The workspace to run `cargo lambda watch` in (this one by default).
    #[arg(long)]
    workspace: Option<PathBuf>,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Working directory (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct IndexingArgs {
    /// Uncompressed megabytes of records in the batch.
    #[arg(long, default_value_t = 128)]
    mb: u64,
    /// Objects in the batch.
    #[arg(long, default_value_t = 10)]
    objects: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Working directory (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// zstd level of the doc store, for both sides (the index config's 8 by default).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=22))]
    docstore_compression_level: Option<i32>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum TargetKind {
    Local,
    S3Sqs,
    Aws,
}

/// Each subcommand turns its arguments into a config and prints the report; the work is in
/// the library's modules.
fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Bench(args) => runtime.block_on(run_bench(args)),
        Command::Stream(args) => runtime.block_on(run_stream(args)),
        Command::Dashboard(args) => runtime.block_on(run_dashboard(args)),
        Command::Fanout(args) => runtime.block_on(run_fanout(args)),
        Command::Indexing(args) => runtime.block_on(run_indexing(args)),
        Command::Metastore(args) => runtime.block_on(run_metastore(args)),
        Command::Floor(args) => run_floor(args),
        Command::FloorCost(args) => runtime.block_on(run_floor_cost(args)),
    }
}

/// `loadtest bench`.
async fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs {
        records,
        objects,
        latency_ms,
        bad_share,
        late_share,
        warm_runs,
        seed,
        json,
        work_dir,
    } = args;
    let (_temp_dir, work_dir) = work_dir_or_temporary(work_dir)?;
    let config = BenchConfig {
        num_records: records,
        num_objects: objects,
        bad_share,
        late_share,
        injected_latency: Duration::from_millis(latency_ms),
        warm_runs,
        seed,
        work_dir,
        ..BenchConfig::default()
    };
    let progress = PhaseBars::new()?;
    let report = bench::run(&config, &progress).await?;
    progress.finish();
    print_report(json, &report, || report.table())
}

/// `loadtest stream`.
async fn run_stream(args: StreamArgs) -> anyhow::Result<()> {
    let StreamArgs {
        target,
        objects,
        records_per_object,
        interval_ms,
        bad_share,
        late_share,
        query_runs,
        timeout_secs,
        prefix,
        seed,
        work_dir,
        endpoint,
        staging_bucket,
        index_uri,
        queue_url,
        search_url,
        api_key,
        sigv4,
        sigv4_region,
        json,
    } = args;
    let temp_dir = tempfile::tempdir()?;
    let spec = match target {
        TargetKind::Local => TargetSpec::Local {
            dir: work_dir.unwrap_or_else(|| temp_dir.path().to_path_buf()),
        },
        TargetKind::S3Sqs => TargetSpec::S3Sqs {
            endpoint,
            staging_bucket,
            index_uri,
            queue_url,
        },
        TargetKind::Aws => TargetSpec::Aws {
            endpoint,
            staging_bucket: staging_bucket
                .context("--target aws needs --staging-bucket (the stack's StagingBucketName)")?,
        },
    };
    let search_api = match search_url {
        Some(url) => {
            let auth = if sigv4 {
                SearchAuth::SigV4(SigV4Signer::from_environment(&url, sigv4_region).await?)
            } else {
                api_key.map_or(SearchAuth::None, SearchAuth::ApiKey)
            };
            Some(SearchApi { url, auth })
        }
        None => None,
    };
    let index_config = IndexConfig::from_yaml(Dataset::WebLogs.index_config_yaml())?;
    let target = Target::connect(&spec, &index_config, search_api.as_ref()).await?;
    let config = StreamConfig {
        num_objects: objects,
        records_per_object,
        interval: Duration::from_millis(interval_ms),
        bad_share,
        late_share,
        query_runs,
        searchable_timeout: Duration::from_secs(timeout_secs),
        prefix,
        seed,
    };
    let progress = PhaseBars::new()?;
    let report = stream::run(&config, &target, &progress).await;
    progress.finish();
    // The run's own error says more than the indexer's; report it first.
    let stopped = target.shutdown().await;
    let report = report?;
    stopped?;
    print_report(json, &report, || report.table())
}

/// `loadtest dashboard`.
async fn run_dashboard(args: DashboardArgs) -> anyhow::Result<()> {
    let DashboardArgs {
        records,
        objects,
        latency_ms,
        runs,
        seed,
        json,
        work_dir,
    } = args;
    let (_temp_dir, work_dir) = work_dir_or_temporary(work_dir)?;
    let config = BenchConfig::for_queries(records, objects, latency_ms, seed, work_dir);
    let progress = PhaseBars::new()?;
    let report = hydrant_loadtest::dashboard::run(&config, runs.max(1), &progress).await?;
    progress.finish();
    print_report(json, &report, || report.table())
}

/// `loadtest fanout`.
async fn run_fanout(args: FanoutArgs) -> anyhow::Result<()> {
    let FanoutArgs {
        records,
        objects,
        latency_ms,
        leaf_sizes,
        alone_split_concurrency,
        alone_core,
        rounds,
        msearch_repeats,
        seed,
        workspace,
        json,
        work_dir,
    } = args;
    let (_temp_dir, work_dir) = work_dir_or_temporary(work_dir)?;
    let workspace = match workspace {
        Some(workspace) => workspace,
        // The loadtest crate's parent, where it was built.
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the loadtest crate has a parent directory")?
            .to_path_buf(),
    };
    let config = FanoutConfig {
        bench: BenchConfig::for_queries(records, objects, latency_ms, seed, work_dir),
        leaf_sizes,
        alone_split_concurrency,
        alone_core: (alone_core != "none").then_some(alone_core),
        rounds: rounds.max(1),
        msearch_repeats,
        workspace,
    };
    let progress = PhaseBars::new()?;
    let report = hydrant_loadtest::fanout::run(&config, &progress).await?;
    progress.finish();
    print_report(json, &report, || report.table())
}

/// `loadtest indexing`.
async fn run_indexing(args: IndexingArgs) -> anyhow::Result<()> {
    let IndexingArgs {
        mb,
        objects,
        seed,
        work_dir,
        docstore_compression_level,
    } = args;
    let (_temp_dir, work_dir) = work_dir_or_temporary(work_dir)?;
    let config = IndexingBenchConfig {
        total_bytes: mb * 1_000_000,
        num_objects: objects,
        seed,
        work_dir,
        docstore_compression_level,
    };
    let progress = phase_spinner()?;
    let result =
        indexing_bench::run(&config, |phase| progress.set_message(phase.to_string())).await?;
    progress.finish_and_clear();
    println!("{}", result.table());
    Ok(())
}

/// `loadtest floor`.
fn run_floor(args: FloorArgs) -> anyhow::Result<()> {
    let (_temp_dir, work_dir) = work_dir_or_temporary(args.work_dir)?;
    let hydrant_bin = match args.hydrant {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("hydrant"),
    };
    let baseline_script = args.baseline_script.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tantivy_py_baseline.py")
    });
    let pinned_core = match args.pinned_core.as_str() {
        "none" => None,
        core => Some(
            core.parse()
                .with_context(|| format!("--pinned-core {core}: a core number or none"))?,
        ),
    };
    let config = FloorConfig {
        total_bytes: args.mb * 1_000_000,
        num_objects: args.objects.max(1),
        bad_share: args.bad_share.clamp(0.0, 0.5),
        seed: args.seed,
        work_dir,
        hydrant_bin,
        python: args.python,
        baseline_script,
        pinned_core,
    };
    let progress = phase_spinner()?;
    let on_phase = |phase: &str| {
        progress.println(format!("{} {phase}", humanize_elapsed(&progress)));
        progress.set_message(phase.to_string());
    };
    let mut result = floor::run(&config, on_phase)?;
    if args.cost_scale > 0.0 {
        on_phase("cost model: one invocation of each shape, pinned to one core");
        result.cost = Some(floor::run_cost_model(
            &config,
            args.latency_ms,
            args.cost_scale,
        )?);
    }
    progress.finish_and_clear();
    let policy = floor_cost::web_logs_policy()?;
    print_report(args.json, &result, || {
        let mut text = result.table();
        if let Some(cost) = &result.cost {
            text.push('\n');
            text.push_str(&cost.table(&policy));
        }
        text
    })
}

/// `loadtest floor-cost`: the cost model's measurements, as JSON for `loadtest floor`.
async fn run_floor_cost(args: FloorCostArgs) -> anyhow::Result<()> {
    let config = floor_cost::CostRunConfig {
        latency: Duration::from_millis(args.latency_ms),
        scale: args.scale,
        seed: args.seed,
        work_dir: args.work_dir,
    };
    let run = floor_cost::measure(&config).await?;
    println!("{}", serde_json::to_string(&run)?);
    Ok(())
}

/// `loadtest metastore`.
async fn run_metastore(args: MetastoreArgs) -> anyhow::Result<()> {
    let MetastoreArgs {
        latency_ms,
        writers,
        publishes,
        objects,
        shards,
        objects_per_publish,
        indexing_mb,
        seed,
        json,
        work_dir,
    } = args;
    let (_temp_dir, work_dir) = work_dir_or_temporary(work_dir)?;
    let config = MetastoreBenchConfig {
        latency: Duration::from_millis(latency_ms),
        writer_counts: writers,
        publishes_per_writer: publishes,
        history_objects: objects,
        history_shards: shards,
        objects_per_publish,
        indexing_mb,
        work_dir,
        seed,
    };
    let progress = phase_spinner()?;
    let report = metastore_bench::run(&config, |phase| {
        progress.println(format!("{} {phase}", humanize_elapsed(&progress)));
        progress.set_message(phase.to_string());
    })
    .await?;
    progress.finish_and_clear();
    print_report(json, &report, || report.table())
}

/// A spinner whose message names the phase running.
fn phase_spinner() -> anyhow::Result<ProgressBar> {
    let progress = ProgressBar::new_spinner();
    progress.set_style(ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {msg}",
    )?);
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    Ok(progress)
}

fn humanize_elapsed(progress: &ProgressBar) -> String {
    format!("[{:>6.1} s]", progress.elapsed().as_secs_f64())
}

/// `dir`, created if need be, or a temporary directory (removed when the guard is dropped).
fn work_dir_or_temporary(
    dir: Option<PathBuf>,
) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            Ok((None, dir))
        }
        None => {
            let temp_dir = tempfile::tempdir()?;
            let path = temp_dir.path().to_path_buf();
            Ok((Some(temp_dir), path))
        }
    }
}

/// A report as JSON for a script, or as its table for a person.
fn print_report(
    json: bool,
    report: &impl serde::Serialize,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{}", table());
    }
    Ok(())
}

/// One progress bar per phase; a finished phase leaves a line with its duration.
struct PhaseBars {
    bar: ProgressBar,
    current: Mutex<Option<(String, Instant)>>,
}

impl PhaseBars {
    fn new() -> anyhow::Result<Self> {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:<44} [{bar:30}] {pos}/{len} {elapsed_precise}",
            )?
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Ok(PhaseBars {
            bar,
            current: Mutex::new(None),
        })
    }

    fn close_phase(&self) {
        if let Some((name, started)) = self.current.lock().expect("not poisoned").take() {
            self.bar.println(format!(
                "  done: {name} ({:.1} s)",
                started.elapsed().as_secs_f64()
            ));
        }
    }

    fn finish(&self) {
        self.close_phase();
        self.bar.finish_and_clear();
    }
}

impl BenchProgress for PhaseBars {
    fn phase(&self, name: &str, steps: u64) {
        self.close_phase();
        *self.current.lock().expect("not poisoned") = Some((name.to_string(), Instant::now()));
        self.bar.set_message(name.to_string());
        self.bar.set_length(steps);
        self.bar.set_position(0);
    }

    fn step(&self) {
        self.bar.inc(1);
    }
}
