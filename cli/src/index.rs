//! `hydrant index create|ingest|list|describe|delete|clear`, named after Quickwit's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::{BatchOutcome, IndexerRuntime, QueueMessage};
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::IndexMetadata;
use hydrant_metastore::split::{SplitMetadata, SplitState};
use hydrant_storage::{StorageResolver, StorageUri};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};

use crate::args::{IndexStorageArgs, ListOptions, OutputArgs, metastore, read_config, resolver};
use crate::output::{human_bytes, list_or_dash, nanos_to_secs, rfc3339, table};

#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Create an index from a Quickwit-style config (YAML, JSON or TOML).
    Create(CreateIndexOptions),
    /// Replace an index's config (Quickwit's `index update`): new fields, options of a field
    /// within its type, search settings, retention and indexing settings may change; a
    /// field's type, the timestamp field, tags and partition key may not. Splits are not
    /// rewritten: each keeps being searched with the mapping it was built with, and a field
    /// new to the mapping is absent from the documents of older splits.
    Update(UpdateIndexOptions),
    /// Index staging objects (s3://bucket/key or local files) now, as the indexer Lambda would.
    Ingest(IngestOptions),
    /// List the indexes of a storage, with their documents, splits and sizes.
    List(ListOptions),
    /// Show one index: its config and what its splits hold.
    Describe(IndexOptions),
    /// Delete an index and every file it has (splits, rejected records, set-aside messages).
    Delete(DeleteIndexOptions),
    /// Empty an index, keeping its config.
    ///
    /// Every split is marked for deletion (maintenance deletes the files after the grace
    /// period) and the checkpoint is forgotten, so the same staging objects can be indexed
    /// again.
    Clear(IndexOptions),
    /// Delete the documents a query matches (a delete task, as Quickwit's delete API makes):
    /// the task is recorded, then applied now to every split (`--apply false` leaves it to
    /// maintenance). Documents indexed after the task are not deleted. The files of rewritten
    /// splits are deleted by garbage collection after the grace period: `delete-tasks` says
    /// when that is done. The raw records stay in the staging bucket (see the README).
    DeleteDocs(DeleteDocsOptions),
    /// List the index's delete tasks and what applying each has done.
    DeleteTasks(IndexOptions),
}

pub async fn index_command(command: IndexCommand) -> anyhow::Result<()> {
    match command {
        IndexCommand::Create(options) => create_index(options).await,
        IndexCommand::Update(options) => update_index(options).await,
        IndexCommand::Ingest(options) => ingest(options).await,
        IndexCommand::List(options) => list_indexes(options).await,
        IndexCommand::Describe(options) => describe_index(options).await,
        IndexCommand::Delete(options) => delete_index(options).await,
        IndexCommand::Clear(options) => clear_index(options).await,
        IndexCommand::DeleteDocs(options) => delete_docs(options).await,
        IndexCommand::DeleteTasks(options) => delete_tasks(options).await,
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateIndexOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index config: YAML, JSON, or TOML (by its `.toml` extension).
    #[arg(long)]
    index_config: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn create_index(options: CreateIndexOptions) -> anyhow::Result<()> {
    let text = read_config(&options.index_config)?;
    let config = match IndexConfig::from_yaml(&text) {
        Ok(config) => config,
        // Whatever its format, a file the template parser takes is a template.
        Err(_) if hydrant_index::template::IndexTemplate::from_yaml(&text).is_ok() => {
            bail!(
                "{} is an index template (it has a template_id): create it with `hydrant \
                 template create --template-config {}`",
                options.index_config.display(),
                options.index_config.display()
            );
        }
        Err(error) => return Err(error.into()),
    };
    let metastore = options.storage.metastore(&resolver()?).await?;
    let metadata = metastore.create_index(config).await?;
    let created = serde_json::json!({
        "index_id": metadata.index_id(),
        "index_uri": options.storage.index_uri,
        "create_timestamp": metadata.create_timestamp,
    });
    options.output.print(&created, || {
        format!(
            "Created index `{}` in {}.\n",
            metadata.index_id(),
            options.storage.index_uri
        )
    })
}

#[derive(Debug, clap::Args)]
pub struct UpdateIndexOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index to update (its config must name it).
    #[arg(long)]
    index: String,
    /// The new config, whole (PUT semantics: what it omits takes its default): YAML, JSON, or
    /// TOML (by its `.toml` extension).
    #[arg(long)]
    index_config: PathBuf,
    /// Create the index if it does not exist.
    #[arg(long)]
    create: bool,
    #[command(flatten)]
    output: OutputArgs,
}

async fn update_index(options: UpdateIndexOptions) -> anyhow::Result<()> {
    let config = IndexConfig::from_yaml(&read_config(&options.index_config)?)?;
    if config.index_id != options.index {
        bail!(
            "{} is the config of index `{}`, not `{}`",
            options.index_config.display(),
            config.index_id,
            options.index
        );
    }
    let metastore = options.storage.metastore(&resolver()?).await?;
    let (update, metadata) = match metastore.update_index(config.clone()).await {
        Err(hydrant_metastore::Error::IndexNotFound(_)) if options.create => {
            let metadata = metastore.create_index(config).await?;
            (hydrant_index::update::IndexUpdate::default(), metadata)
        }
        updated => updated?,
    };
    let report = json!({
        "index_id": metadata.index_id(),
        "doc_mapping_uid": metadata.doc_mapping_uid(),
        "added_fields": update.added_fields,
        "changed_fields": update.changed_fields,
        "removed_fields": update.removed_fields,
        "search_settings_changed": update.search_settings_changed,
        "retention_changed": update.retention_changed,
        "indexing_settings_changed": update.indexing_settings_changed,
    });
    options.output.print(&report, || {
        if update.is_empty() {
            return format!("Index `{}`: the config is unchanged.\n", options.index);
        }
        let mut text = format!("Updated index `{}`.\n", options.index);
        let mut note = |what: &str, fields: &[String]| {
            if !fields.is_empty() {
                text += &format!("  {what}: {}\n", fields.join(", "));
            }
        };
        note("Fields added", &update.added_fields);
        note("Fields changed", &update.changed_fields);
        note("Fields removed", &update.removed_fields);
        for (changed, what) in [
            (update.search_settings_changed, "search settings"),
            (update.retention_changed, "retention"),
            (update.indexing_settings_changed, "indexing settings"),
        ] {
            if changed {
                text += &format!("  Changed: {what}\n");
            }
        }
        if update.doc_mapping_changed {
            text += "New splits use the new mapping; older splits keep theirs, and search \
                     reads each with its own.\n";
        }
        text
    })
}

#[derive(Debug, clap::Args)]
pub struct IngestOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index to add documents to.
    #[arg(long)]
    index: String,
    /// Staging objects: s3://bucket/key, or local files.
    #[arg(required = true)]
    sources: Vec<String>,
    /// Publish without merging; `hydrant maintenance` merges later.
    #[arg(long)]
    no_merge: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// The objects `sources` name (`s3://bucket/key`, or local files, whose directory stands in
/// for a bucket) and the staging buckets that read them.
fn staging_objects(
    sources: &[String],
    resolver: StorageResolver,
) -> anyhow::Result<(Vec<ObjectRef>, StagingBuckets)> {
    let mut buckets = StagingBuckets::new(resolver);
    let mut objects = Vec::new();
    let mut local_dirs: BTreeMap<PathBuf, String> = BTreeMap::new();
    for source in sources {
        if let Some(rest) = source.strip_prefix("s3://") {
            let Some((bucket, key)) = rest.split_once('/') else {
                bail!("`{source}` names no object: use s3://bucket/key");
            };
            objects.push(ObjectRef::new(bucket, key));
            continue;
        }
        // A local file is read from its directory, which stands in for a bucket.
        let path =
            std::fs::canonicalize(source).with_context(|| format!("cannot find {source}"))?;
        let (Some(dir), Some(name)) = (
            path.parent(),
            path.file_name().and_then(|name| name.to_str()),
        ) else {
            bail!("`{source}` is not a file");
        };
        let bucket = local_dirs
            .entry(dir.to_path_buf())
            .or_insert_with(|| format!("local{}", dir.display()))
            .clone();
        objects.push(ObjectRef::new(bucket, name));
    }
    for (dir, bucket) in local_dirs {
        buckets = buckets.bind(bucket, StorageUri::Local(dir));
    }
    Ok((objects, buckets))
}

async fn ingest(options: IngestOptions) -> anyhow::Result<()> {
    hydrant_storage::scratch::clean_at_start(&std::env::temp_dir());
    let resolver = resolver()?;
    let metastore = options.storage.metastore(&resolver).await?;
    let (objects, buckets) = staging_objects(&options.sources, resolver)?;
    // The index must exist: a message for an unknown index would be set aside, which is
    // right for a queue and a surprise on the command line.
    metastore
        .index_info(&options.index)
        .await
        .with_context(|| format!("cannot index into `{}`", options.index))?;
    // The same batch core as the Lambda handler and the poller, fed backfill messages.
    let runtime = IndexerRuntime::new(Indexer::new(metastore, buckets), Vec::new())
        .await?
        .with_merge_after_indexing(!options.no_merge);
    let progress = ProgressBar::new(objects.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} objects {msg}").expect("valid template"),
    );
    let mut totals = BatchOutcome::default();
    // Batches of 10, like SQS FIFO batches: each batch is one publish.
    for batch in objects.chunks(10) {
        let messages: Vec<QueueMessage> = batch
            .iter()
            .map(|object| QueueMessage::backfill(object, Some(&options.index)))
            .collect();
        let outcome = runtime.run_batch(&messages, None).await;
        let failure = outcome.failure.clone();
        totals += outcome;
        progress.inc(batch.len() as u64);
        progress.set_message(format!("{} docs", totals.num_docs));
        if let Some(failure) = failure {
            progress.abandon();
            bail!(
                "cannot index {}: {} ({} objects indexed before it are published)",
                failure.message_id,
                failure.reason,
                totals.num_objects_indexed
            );
        }
    }
    progress.finish_and_clear();
    print_index_summary(&totals, options.output)
}

/// What `hydrant index ingest` did, for a person (or as JSON); an error if objects could not
/// be indexed.
fn print_index_summary(totals: &BatchOutcome, output: OutputArgs) -> anyhow::Result<()> {
    if output.json {
        output.print(totals, String::new)?;
        if !totals.set_aside.is_empty() {
            bail!("{} objects could not be indexed", totals.set_aside.len());
        }
        return Ok(());
    }
    for path in &totals.error_files {
        eprintln!("rejected records kept in {path}");
    }
    for set_aside in &totals.set_aside {
        eprintln!(
            "{} not indexed: {} (recorded in {})",
            set_aside.message_id, set_aside.reason, set_aside.record
        );
    }
    let merges: usize = totals.maintenance.iter().map(|report| report.merges).sum();
    println!(
        "Indexed {} documents into {} splits ({merges} merges); {} records rejected; {} objects were already indexed.",
        totals.num_docs,
        totals.splits.len(),
        totals.num_rejected,
        totals.num_objects_already_indexed
    );
    if !totals.set_aside.is_empty() {
        bail!("{} objects could not be indexed", totals.set_aside.len());
    }
    Ok(())
}

/// What `index list` and `index describe` say of an index.
#[derive(Serialize)]
struct IndexSummary {
    index_id: String,
    create_timestamp: i64,
    num_published_docs: u64,
    num_published_splits: usize,
    num_staged_splits: usize,
    num_marked_splits: usize,
    published_size_bytes: u64,
    uncompressed_docs_size_bytes: u64,
    /// Unix seconds of the oldest and newest document, when there is a timestamp field.
    min_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    num_checkpointed_objects: usize,
    /// Shards that have published (or staged) anything.
    num_shards: usize,
}

/// One shard of `index describe`.
#[derive(Debug, Serialize)]
struct ShardRow {
    shard: u32,
    num_published_splits: usize,
    num_published_docs: u64,
    num_checkpointed_objects: u64,
    num_checkpoint_segments: usize,
    last_publish_timestamp: Option<i64>,
    /// What a cold reader of this shard reads.
    document_bytes: u64,
}

impl ShardRow {
    fn rows(metadata: &IndexMetadata) -> Vec<ShardRow> {
        metadata
            .shards
            .values()
            .map(|shard| ShardRow {
                shard: shard.shard,
                num_published_splits: shard.num_published_splits,
                num_published_docs: metadata
                    .published_splits()
                    .filter(|split| split.shard == shard.shard)
                    .map(|split| split.num_docs)
                    .sum(),
                num_checkpointed_objects: shard.num_checkpoint_objects,
                num_checkpoint_segments: shard.checkpoint_segments.len(),
                last_publish_timestamp: shard.last_publish_timestamp,
                document_bytes: shard.document_bytes,
            })
            .collect()
    }
}

impl IndexSummary {
    fn of(metadata: &IndexMetadata) -> Self {
        let count = |state| {
            metadata
                .splits
                .values()
                .filter(|split| split.state == state)
                .count()
        };
        let published: Vec<&SplitMetadata> = metadata.published_splits().collect();
        let ranges = published.iter().filter_map(|split| split.time_range);
        IndexSummary {
            index_id: metadata.index_id().to_string(),
            create_timestamp: metadata.create_timestamp,
            num_published_docs: metadata.num_published_docs(),
            num_published_splits: published.len(),
            num_staged_splits: count(SplitState::Staged),
            num_marked_splits: count(SplitState::MarkedForDeletion),
            published_size_bytes: published.iter().map(|split| split.split_size_bytes).sum(),
            uncompressed_docs_size_bytes: published
                .iter()
                .map(|split| split.uncompressed_docs_size_bytes)
                .sum(),
            min_timestamp: ranges
                .clone()
                .map(|range| nanos_to_secs(range.start_nanos))
                .min(),
            max_timestamp: ranges.map(|range| nanos_to_secs(range.end_nanos)).max(),
            num_checkpointed_objects: metadata
                .shards
                .values()
                .map(|shard| shard.num_checkpoint_objects as usize)
                .sum(),
            num_shards: metadata.shards.len(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct IndexOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index id.
    #[arg(long)]
    index: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeleteDocsOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index id.
    #[arg(long)]
    index: String,
    /// The documents to delete, in the query language (`user_id:42`).
    #[arg(long)]
    query: String,
    /// Fields the query's clauses naming none search (the index's defaults otherwise).
    #[arg(long = "search-field", value_delimiter = ',')]
    search_fields: Vec<String>,
    /// Only documents with a timestamp at or after this (Unix seconds).
    #[arg(long)]
    start_timestamp: Option<i64>,
    /// Only documents with a timestamp before this (Unix seconds).
    #[arg(long)]
    end_timestamp: Option<i64>,
    /// Apply the task now; `false` leaves it to maintenance.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    apply: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeleteIndexOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index id.
    #[arg(long)]
    index: String,
    /// List the files that would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: OutputArgs,
}

async fn list_indexes(options: ListOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let summaries: Vec<IndexSummary> = metastore
        .list_indexes()
        .await?
        .iter()
        .map(IndexSummary::of)
        .collect();
    options.output.print(&summaries, || {
        let rows: Vec<Vec<String>> = summaries
            .iter()
            .map(|index| {
                vec![
                    index.index_id.clone(),
                    index.num_published_docs.to_string(),
                    index.num_published_splits.to_string(),
                    human_bytes(index.published_size_bytes),
                    rfc3339(index.min_timestamp),
                    rfc3339(index.max_timestamp),
                ]
            })
            .collect();
        let mut text = table(
            &["INDEX", "DOCS", "SPLITS", "SIZE", "OLDEST", "NEWEST"],
            &rows,
        );
        text.push_str(&format!("{} indexes\n", summaries.len()));
        text
    })
}

async fn describe_index(options: IndexOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    // The splits view: the shard documents say how many objects each checkpoint holds.
    let metadata = metastore.index_splits(&options.index).await?;
    let summary = IndexSummary::of(&metadata);
    let shards = ShardRow::rows(&metadata);
    let described = json!({
        "summary": summary,
        "metastore_format": metadata.format_version,
        "shards": shards,
        "index_config": metadata.index_config,
    });
    options
        .output
        .print(&described, || describe_text(&metadata, &summary, &shards))
}

/// `index describe` for a person: the summary, each shard, the mapping's outline.
fn describe_text(metadata: &IndexMetadata, summary: &IndexSummary, shards: &[ShardRow]) -> String {
    let config = &metadata.index_config;
    let mapping = &config.spec.doc_mapping;
    let mut text = String::new();
    let mut line = |name: &str, value: String| text.push_str(&format!("{name:<28}{value}\n"));
    line("Index", summary.index_id.clone());
    line("Created", rfc3339(Some(summary.create_timestamp)));
    line(
        "Published documents",
        summary.num_published_docs.to_string(),
    );
    line(
        "Published splits",
        format!(
            "{} ({} staged, {} marked for deletion)",
            summary.num_published_splits, summary.num_staged_splits, summary.num_marked_splits
        ),
    );
    line(
        "Size",
        format!(
            "{} in splits, from {} of records",
            human_bytes(summary.published_size_bytes),
            human_bytes(summary.uncompressed_docs_size_bytes)
        ),
    );
    line(
        "Time range",
        format!(
            "{} to {}",
            rfc3339(summary.min_timestamp),
            rfc3339(summary.max_timestamp)
        ),
    );
    line(
        "Objects indexed",
        summary.num_checkpointed_objects.to_string(),
    );
    line(
        "Shards",
        format!(
            "{} (metastore format {})",
            summary.num_shards, metadata.format_version
        ),
    );
    for row in shards {
        line(
            &format!("  shard {}", row.shard),
            format!(
                "{} splits, {} docs, {} objects in {} segments, last publish {}, {}",
                row.num_published_splits,
                row.num_published_docs,
                row.num_checkpointed_objects,
                row.num_checkpoint_segments,
                rfc3339(row.last_publish_timestamp),
                human_bytes(row.document_bytes)
            ),
        );
    }
    line(
        "Timestamp field",
        mapping.timestamp_field.clone().unwrap_or("-".to_string()),
    );
    line("Mode", format!("{:?}", mapping.mode).to_lowercase());
    line("Doc mapping", doc_mapping_summary(metadata));
    line("Mapped fields", mapping.field_mappings.len().to_string());
    line("Tag fields", list_or_dash(&mapping.tag_fields));
    line(
        "Default search fields",
        list_or_dash(&config.spec.search_settings.default_search_fields),
    );
    text
}

/// The current doc mapping's uid, and the earlier ones splits may still be of (an index
/// updated since they were built).
fn doc_mapping_summary(metadata: &IndexMetadata) -> String {
    let current_uid = metadata.doc_mapping_uid();
    let of_older = (metadata.published_splits())
        .filter(|split| {
            metadata
                .previous_doc_mappings
                .contains_key(&split.doc_mapping_uid)
        })
        .count();
    match metadata.previous_doc_mappings.len() {
        0 => current_uid,
        updates => format!(
            "{current_uid} ({updates} earlier, which {of_older} published splits were built with)"
        ),
    }
}

async fn delete_index(options: DeleteIndexOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let files = if options.dry_run {
        metastore.index_files(&options.index).await?
    } else {
        metastore.delete_index_and_files(&options.index).await?
    };
    let listed: Vec<Value> = files
        .iter()
        .map(|file| json!({"file_name": file.path, "file_size_bytes": file.size}))
        .collect();
    let bytes: u64 = files.iter().map(|file| file.size).sum();
    let verb = if options.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    options.output.print(&listed, || {
        let mut text: String = files
            .iter()
            .map(|file| format!("{}\n", file.path))
            .collect();
        text.push_str(&format!(
            "{verb} index `{}`: {} files, {}.\n",
            options.index,
            files.len(),
            human_bytes(bytes)
        ));
        text
    })
}

async fn clear_index(options: IndexOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let marked = metastore.clear_index(&options.index).await?;
    options.output.print(&json!({"marked_for_deletion": marked}), || {
        format!(
            "Cleared index `{}`: {} splits marked for deletion (maintenance deletes their files \
             after the grace period); its checkpoint is empty.\n",
            options.index,
            marked.len()
        )
    })
}

async fn delete_docs(options: DeleteDocsOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let info = metastore.index_info(&options.index).await?;
    let doc_mapper = std::sync::Arc::new(hydrant_index::doc_mapper::DocMapper::new(
        &info.index_config,
    )?);
    let request = hydrant_search::delete::DeleteTaskRequest {
        query: options.query.clone(),
        search_field: options.search_fields.clone(),
        start_timestamp: options.start_timestamp,
        end_timestamp: options.end_timestamp,
    };
    let query = request
        .delete_query(&doc_mapper)
        .context("invalid delete query")?;
    let task = metastore.create_delete_task(&options.index, query).await?;
    let mut report = hydrant_ingest::maintenance::MaintenanceReport::default();
    if options.apply {
        let spinner = ProgressBar::new_spinner();
        spinner.set_message(format!(
            "applying delete task {} to the splits of `{}`",
            task.opstamp, options.index
        ));
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        let maintainer = hydrant_ingest::maintenance::Maintainer::new(metastore.clone());
        maintainer
            .apply_delete_tasks(&options.index, None, &mut report)
            .await?;
        spinner.finish_and_clear();
    }
    let tasks = metastore.delete_tasks(&options.index).await?;
    let task = tasks
        .tasks
        .into_iter()
        .find(|done| done.opstamp == task.opstamp)
        .context("the task vanished")?;
    let progress = &task.progress;
    options.output.print(&json!({"opstamp": task.opstamp, "applied": options.apply, "splits_applied": report.splits_delete_applied, "progress": progress}), || {
        if !options.apply {
            return format!("Created delete task {} on `{}`; maintenance applies it.\n", task.opstamp, options.index);
        }
        format!(
            "Delete task {} on `{}`: {} documents deleted, {} splits rewritten, {} unchanged. \
             The rewritten splits' old files are deleted by garbage collection after the grace \
             period (`hydrant maintenance`); `hydrant index delete-tasks` says when.\n",
            task.opstamp, options.index, progress.docs_deleted, progress.splits_rewritten, progress.splits_unchanged
        )
    })
}

async fn delete_tasks(options: IndexOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let service =
        hydrant_search::SearchService::new(metastore, hydrant_search::SearcherConfig::default());
    let tasks = hydrant_search::delete::list_delete_tasks(&service, &options.index).await?;
    options.output.print(&tasks, || {
        if tasks.is_empty() {
            return format!("Index `{}` has no delete task.\n", options.index);
        }
        let rows: Vec<Vec<String>> = tasks
            .iter()
            .map(|task| {
                let field = |name: &str| match &task[name] {
                    Value::Null => "-".to_string(),
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                vec![
                    field("opstamp"),
                    field("state"),
                    task["delete_query"]["query_ast"]
                        .as_str()
                        .unwrap_or("-")
                        .to_string(),
                    field("splits_left"),
                    field("splits_rewritten"),
                    field("docs_deleted"),
                    field("replaced_files_left"),
                    rfc3339(task["completed_timestamp"].as_i64()),
                ]
            })
            .collect();
        table(
            &[
                "OPSTAMP",
                "STATE",
                "QUERY",
                "SPLITS LEFT",
                "REWRITTEN",
                "DELETED",
                "FILES LEFT",
                "COMPLETED",
            ],
            &rows,
        )
    })
}
