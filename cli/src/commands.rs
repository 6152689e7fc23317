//! The commands that run Hydrant's jobs outside Lambda: search, serve, poll, backfill,
//! maintenance, and preparing a staging bucket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use hydrant_search::router::Router;
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use hydrant_storage::StorageUri;
use indicatif::{ProgressBar, ProgressStyle};

use crate::write_api::LocalWriteApi;

use crate::args::{IndexStorageArgs, OutputArgs, parse_time, resolver};

#[derive(Debug, clap::Args)]
pub struct SearchOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index id, or a pattern of several (`logs-*`, `a,b`).
    #[arg(long)]
    index: String,
    /// Query string, e.g. `quantity:>5 AND name:kettle` (`*` matches everything).
    #[arg(long, allow_hyphen_values = true)]
    query: String,
    /// Most hits to return.
    #[arg(long, default_value_t = 20)]
    max_hits: usize,
    /// Hits to skip before the first one returned.
    #[arg(long, default_value_t = 0)]
    start_offset: usize,
    /// Only documents at or after this time (RFC 3339, a date, or unix seconds).
    #[arg(long, value_parser = parse_time)]
    start_timestamp: Option<i64>,
    /// Only documents before this time.
    #[arg(long, value_parser = parse_time)]
    end_timestamp: Option<i64>,
    /// Sort keys, comma-separated: `field` (ascending), `-field` (descending) or `_score`.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    sort_by: Vec<String>,
    /// Fields searched by clauses that name no field, instead of the index's default search
    /// fields; comma-separated.
    #[arg(long, value_delimiter = ',')]
    search_field: Vec<String>,
    /// Stored text fields to return highlighted fragments of; comma-separated.
    #[arg(long, value_delimiter = ',')]
    snippet_fields: Vec<String>,
    /// Elasticsearch aggregations, as JSON (`{"by_name": {"terms": {"field": "name"}}}`).
    #[arg(long, value_parser = parse_json)]
    aggs: Option<serde_json::Value>,
    /// Stop counting at what the page needs: `num_hits` is then a lower bound, and the search
    /// cheaper.
    #[arg(long)]
    no_count_all: bool,
    /// Add the search's cost (splits searched and pruned, GETs, bytes, cache hits).
    #[arg(long)]
    stats: bool,
    /// Print the response on one line (JSON either way).
    #[arg(long)]
    compact: bool,
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))
}

pub async fn search(options: SearchOptions) -> anyhow::Result<()> {
    let metastore = options.storage.metastore(&resolver()?).await?;
    let service = SearchService::new(metastore, SearcherConfig::default());
    let request = SearchRequest {
        query: options.query,
        max_hits: options.max_hits,
        start_offset: options.start_offset,
        start_timestamp: options.start_timestamp,
        end_timestamp: options.end_timestamp,
        sort_by: options.sort_by,
        search_field: options.search_field,
        snippet_fields: options.snippet_fields,
        aggs: options.aggs,
        count_all: !options.no_count_all,
        stats: options.stats,
        ..SearchRequest::default()
    };
    // As `GET /api/v1/{index}/search` answers, patterns included.
    let response = hydrant_search::native::search(&service, &options.index, &request).await?;
    if options.compact {
        println!("{}", serde_json::to_string(&response)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&response)?);
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ServeOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    #[arg(long, default_value = "127.0.0.1:7280")]
    listen: SocketAddr,
    /// Require this key in every request's `x-api-key` header, as the deployed API does.
    #[arg(long, env = "HYDRANT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Serve the write API (index creation and deletion, `ingest`, `_bulk`) on S3 storage
    /// too; on local storage it is served unless `--read-only`.
    #[arg(long, conflicts_with = "read_only")]
    write_api: bool,
    /// Serve searches only: writes answer 405, as the deployed API does.
    #[arg(long)]
    read_only: bool,
    /// Where the write API keeps the documents it is sent, as staging objects [default:
    /// `api-staging` beside a local index directory, else `hydrant-data/api-staging`].
    #[arg(long)]
    api_staging_dir: Option<PathBuf>,
}

pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let server_options = hydrant_search::server::ServerOptions {
        api_key: options.api_key.clone(),
    };
    // Before anything else: an empty key (`--api-key ''`) would serve everyone.
    server_options.validate().context("--api-key")?;
    let resolver = resolver()?;
    let metastore = options.storage.metastore(&resolver).await?;
    let service = Arc::new(SearchService::new(
        metastore.clone(),
        SearcherConfig::default(),
    ));
    let uri: StorageUri = options.storage.index_uri.parse()?;
    let local_dir = match &uri {
        StorageUri::Local(dir) => Some(dir.clone()),
        _ => None,
    };
    let writes = options.write_api || (local_dir.is_some() && !options.read_only);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    // The bound address, not the asked one: `--listen 127.0.0.1:0` takes a free port and says which.
    let address = listener.local_addr()?;
    // Before saying it serves: a SIGTERM sent as soon as the line appears must stop it cleanly.
    let stop_signal = crate::stop_signal();
    if !writes {
        println!(
            "Serving the search API on http://{address}, its search page on http://{address}/ui (Ctrl-C to stop)."
        );
        let router = Arc::new(Router::new(service));
        hydrant_search::server::serve_with(listener, router, server_options, stop_signal).await?;
        return Ok(());
    }
    // The write API indexes in this process: scratch files of stopped ones are ours to remove.
    hydrant_storage::scratch::clean_at_start(&std::env::temp_dir());
    let staging_dir = options.api_staging_dir.clone().unwrap_or_else(|| {
        local_dir
            .as_deref()
            .and_then(std::path::Path::parent)
            .map_or_else(
                || PathBuf::from("hydrant-data"),
                std::path::Path::to_path_buf,
            )
            .join("api-staging")
    });
    let api = LocalWriteApi::new(service.clone(), metastore, staging_dir.clone(), resolver)
        .await
        .with_context(|| format!("cannot stage writes in {}", staging_dir.display()))?;
    let router = Arc::new(Router::new(service).with_writes(Arc::new(api)));
    println!(
        "Serving the search and write APIs on http://{address}, the search page on http://{address}/ui (Ctrl-C to stop); documents sent are kept in {}.",
        staging_dir.display()
    );
    hydrant_search::server::serve_with(listener, router, server_options, stop_signal).await?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct PollOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The SQS FIFO queue the staging bucket's events arrive on.
    #[arg(long, env = "HYDRANT_QUEUE_URL")]
    queue_url: String,
    /// Seconds a received batch stays invisible to other consumers.
    #[arg(long, default_value_t = 300)]
    visibility_timeout_secs: u64,
    /// Seconds each receive waits for messages (SQS long polling, at most 20).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=20))]
    wait_time_secs: u64,
    /// Messages per batch, 1 to 10 (Lambda's FIFO event source sends up to 10).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10))]
    batch_size: u64,
}

/// Runs the indexer outside Lambda: the same batches, received from SQS.
pub async fn poll(options: PollOptions) -> anyhow::Result<()> {
    let stop = crate::stop_signal();
    let settings = options.storage.indexer_settings()?;
    hydrant_storage::scratch::clean_at_start(
        &settings.temp_dir.clone().unwrap_or_else(std::env::temp_dir),
    );
    let client = hydrant_ingest::queue::sqs_client(None).await;
    // The queue's own redrive policy says when a message is on its last delivery.
    let max_receive_count = match settings.max_receive_count {
        Some(count) => Some(count),
        None => hydrant_ingest::queue::max_receive_count(&client, &options.queue_url).await?,
    };
    let runtime = hydrant_ingest::batch::IndexerRuntime::start(&settings, resolver()?)
        .await?
        .with_max_receive_count(max_receive_count);
    let poller = hydrant_ingest::queue::Poller {
        client,
        queue_url: options.queue_url.clone(),
        runtime: &runtime,
        visibility_timeout: std::time::Duration::from_secs(options.visibility_timeout_secs),
        wait_time: std::time::Duration::from_secs(options.wait_time_secs),
        retry_backoff: std::time::Duration::from_secs(1),
        batch_size: options.batch_size as usize,
    };
    println!("Polling {} (Ctrl-C to stop).", options.queue_url);
    poller.run(stop).await?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct BackfillOptions {
    /// Staging objects to send: s3://bucket/prefix.
    #[arg(long)]
    staging: String,
    /// The SQS FIFO indexing queue.
    #[arg(long, env = "HYDRANT_QUEUE_URL")]
    queue_url: String,
    /// The index the objects belong to (the message group).
    #[arg(long)]
    index: String,
    /// The index's shard count, as its route in the stack sets it: each object goes to its
    /// shard's message group (`index/shard`; shard 0 is the index's own group).
    #[arg(long, default_value_t = 1)]
    shards: u32,
    #[command(flatten)]
    output: OutputArgs,
}

/// Sends one indexing message per existing staging object.
pub async fn backfill(options: BackfillOptions) -> anyhow::Result<()> {
    let Some(rest) = options.staging.strip_prefix("s3://") else {
        bail!("--staging must be s3://bucket/prefix");
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let staging = resolver()?
        .resolve(&StorageUri::S3 {
            bucket: bucket.to_string(),
            prefix: String::new(),
        })
        .await?;
    let client = hydrant_ingest::queue::sqs_client(None).await;
    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages sent").expect("valid template"),
    );
    let request = hydrant_ingest::queue::Backfill {
        bucket,
        prefix,
        index_id: &options.index,
        num_shards: options.shards,
    };
    let report = hydrant_ingest::queue::backfill(
        &staging,
        &request,
        &client,
        &options.queue_url,
        |sent, total| {
            progress.set_length(total as u64);
            progress.set_position(sent as u64);
        },
    )
    .await?;
    progress.finish_and_clear();
    let sent = serde_json::json!({
        "objects_listed": report.objects_listed,
        "messages_sent": report.messages_sent,
        "queue_url": options.queue_url,
        "message_group": options.index,
        "shards": options.shards,
        "messages_per_shard": report.messages_per_shard,
    });
    options.output.print(&sent, || {
        let mut text = format!(
            "Listed {} objects under s3://{bucket}/{prefix}; sent {} messages to {} (group {}",
            report.objects_listed, report.messages_sent, options.queue_url, options.index
        );
        if options.shards > 1 {
            let counts: Vec<String> = report
                .messages_per_shard
                .iter()
                .map(|(shard, count)| format!("shard {shard}: {count}"))
                .collect();
            text.push_str(&format!(
                ", {} shards; {}",
                options.shards,
                counts.join(", ")
            ));
        }
        text.push_str(").\n");
        text
    })
}

#[derive(Debug, clap::Args)]
pub struct MaintenanceOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index to maintain (all indexes if omitted).
    #[arg(long)]
    index: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs retention, merges and garbage collection once, as a maintenance message would.
pub async fn maintenance(options: MaintenanceOptions) -> anyhow::Result<()> {
    hydrant_storage::scratch::clean_at_start(&std::env::temp_dir());
    let metastore = options.storage.metastore(&resolver()?).await?;
    let index_ids = match options.index {
        Some(index_id) => vec![index_id],
        None => metastore
            .list_indexes()
            .await?
            .iter()
            .map(|index| index.index_id().to_string())
            .collect(),
    };
    // The same garbage-collection settings as the indexer (HYDRANT_GC_GRACE_PERIOD, ...).
    let settings = options.storage.indexer_settings()?;
    let maintainer = hydrant_ingest::maintenance::Maintainer::new(metastore)
        .with_gc_settings(settings.gc)
        .with_checkpoint_retention(settings.checkpoint_retention);
    let mut reports = serde_json::Map::new();
    for index_id in index_ids {
        let progress = ProgressBar::new_spinner();
        progress.set_message(format!("maintaining {index_id}"));
        progress.enable_steady_tick(std::time::Duration::from_millis(200));
        let report = maintainer.run(&index_id, None).await?;
        progress.finish_and_clear();
        if !options.output.json {
            println!(
                "{index_id}: {} merges of {} splits, {} splits past retention, {} splits with \
                 delete tasks applied, {} staged uploads expired, {} splits and {} orphan files \
                 deleted.",
                report.merges,
                report.splits_merged,
                report.splits_expired_by_retention,
                report.splits_delete_applied,
                report.staged_splits_expired,
                report.splits_deleted,
                report.orphan_files_deleted,
            );
        }
        reports.insert(index_id, serde_json::to_value(&report)?);
    }
    if options.output.json {
        options.output.print(&reports, String::new)?;
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum StagingCommand {
    /// Turn on the bucket's EventBridge notifications, keeping the SNS, SQS and Lambda
    /// notifications it already has (a stack on an existing bucket hears of objects this way).
    EnableEventbridge(EnableEventBridgeOptions),
}

#[derive(Debug, clap::Args)]
pub struct EnableEventBridgeOptions {
    /// The staging bucket Firehose writes to.
    #[arg(long)]
    bucket: String,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn staging(command: StagingCommand) -> anyhow::Result<()> {
    match command {
        StagingCommand::EnableEventbridge(options) => {
            let client = hydrant_storage::S3Config::from_env()?.build_client().await;
            let change =
                hydrant_ingest::notifications::enable_eventbridge(&client, &options.bucket).await?;
            let json = serde_json::json!({
                "bucket": change.bucket,
                "turned_on": change.turned_on,
                "kept": {
                    "topics": change.kept_topics,
                    "queues": change.kept_queues,
                    "functions": change.kept_functions,
                },
            });
            options
                .output
                .print(&json, || format!("{}.\n", change.summary()))
        }
    }
}
