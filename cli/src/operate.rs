//! The operator's commands, named after Quickwit's: `index list|describe|delete|clear`,
//! `split list|describe|mark-for-deletion` and `errors list`. Each reads or changes the
//! metastore and the index storage directly (local disk or S3), prints a table for a person,
//! or with `--json` one JSON document for a script.

use std::time::UNIX_EPOCH;

use anyhow::{Context, bail};
use hydrant_index::datetime::{parse_datetime_str, query_datetime_formats};
use hydrant_ingest::error_records::{ErrorEntry, read_error_file};
use hydrant_metastore::paths;
use hydrant_metastore::split::{SplitMetadata, SplitState};
use hydrant_metastore::{IndexMetadata, Metastore};
use serde::Serialize;
use serde_json::{Value, json};

use crate::commands::{IndexStorageArgs, resolver};

/// Output switch every operator command has.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct OutputArgs {
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    /// Prints `value` as JSON, or `human()` for a person.
    pub(crate) fn print(
        self,
        value: &impl Serialize,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", human());
        }
        Ok(())
    }
}

async fn metastore(storage: &IndexStorageArgs) -> anyhow::Result<Metastore> {
    storage.metastore(&resolver()?).await
}

/// Left-aligned columns, two spaces apart, under a header.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// `2026-12-02T10:00:00Z` from unix seconds; `-` when absent.
fn rfc3339(secs: Option<i64>) -> String {
    secs.and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|datetime| {
            datetime
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".to_string())
}

fn nanos_to_secs(nanos: i64) -> i64 {
    nanos.div_euclid(1_000_000_000)
}

/// `12.3 MB`, for tables.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Reads a time given as RFC 3339, a date, or unix seconds, in unix seconds (every command's
/// time options).
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let datetime = parse_datetime_str(text, query_datetime_formats())?;
    Ok(nanos_to_secs(datetime.into_timestamp_nanos()))
}

fn state_name(state: SplitState) -> &'static str {
    match state {
        SplitState::Staged => "staged",
        SplitState::Published => "published",
        SplitState::MarkedForDeletion => "marked_for_deletion",
    }
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
            num_checkpointed_objects: metadata.checkpoint.objects.len(),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Create an index from a Quickwit-style config (YAML, JSON or TOML).
    Create(crate::commands::CreateIndexOptions),
    /// Index staging objects (s3://bucket/key or local files) now, as the indexer Lambda would.
    Ingest(crate::commands::IndexOptions),
    /// List the indexes of a storage, with their documents, splits and sizes.
    List(ListIndexesOptions),
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
}

#[derive(Debug, clap::Args)]
pub struct ListIndexesOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    #[command(flatten)]
    output: OutputArgs,
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

pub async fn index_command(command: IndexCommand) -> anyhow::Result<()> {
    match command {
        IndexCommand::Create(options) => crate::commands::create_index(options).await,
        IndexCommand::Ingest(options) => crate::commands::index(options).await,
        IndexCommand::List(options) => list_indexes(options).await,
        IndexCommand::Describe(options) => describe_index(options).await,
        IndexCommand::Delete(options) => delete_index(options).await,
        IndexCommand::Clear(options) => clear_index(options).await,
    }
}

async fn list_indexes(options: ListIndexesOptions) -> anyhow::Result<()> {
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
    let metadata = metastore.index_metadata(&options.index).await?;
    let summary = IndexSummary::of(&metadata);
    let described = json!({
        "summary": summary,
        "index_config": metadata.index_config,
    });
    options.output.print(&described, || {
        let config = &metadata.index_config;
        let mapping = &config.doc_mapping;
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
            "Timestamp field",
            mapping.timestamp_field.clone().unwrap_or("-".to_string()),
        );
        line("Mode", format!("{:?}", mapping.mode).to_lowercase());
        line("Mapped fields", mapping.field_mappings.len().to_string());
        line("Tag fields", list_or_dash(&mapping.tag_fields));
        line(
            "Default search fields",
            list_or_dash(&config.search_settings.default_search_fields),
        );
        text
    })
}

fn list_or_dash(names: &[String]) -> String {
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join(", ")
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

#[derive(Debug, clap::Subcommand)]
pub enum SplitCommand {
    /// List the splits of an index, newest first.
    List(ListSplitsOptions),
    /// Show everything the metastore records about one split.
    Describe(DescribeSplitOptions),
    /// Mark splits for deletion.
    ///
    /// Searches stop reading them now, and maintenance deletes their files after the grace
    /// period.
    MarkForDeletion(MarkSplitsOptions),
}

#[derive(Debug, clap::Args)]
pub struct ListSplitsOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index id.
    #[arg(long)]
    index: String,
    /// Only splits in these states (staged, published, marked_for_deletion); all by default.
    #[arg(long, value_delimiter = ',')]
    states: Vec<String>,
    /// Only splits that may hold documents at or after this time (RFC 3339, a date, or unix
    /// seconds).
    #[arg(long, value_parser = parse_time)]
    start_timestamp: Option<i64>,
    /// Only splits that may hold documents before this time.
    #[arg(long, value_parser = parse_time)]
    end_timestamp: Option<i64>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct DescribeSplitOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index id.
    #[arg(long)]
    index: String,
    /// The split id.
    #[arg(long)]
    split: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct MarkSplitsOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The index id.
    #[arg(long)]
    index: String,
    /// Split ids, comma-separated or repeated.
    #[arg(long = "split", required = true, value_delimiter = ',')]
    splits: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn split_command(command: SplitCommand) -> anyhow::Result<()> {
    match command {
        SplitCommand::List(options) => list_splits(options).await,
        SplitCommand::Describe(options) => describe_split(options).await,
        SplitCommand::MarkForDeletion(options) => mark_splits(options).await,
    }
}

fn parse_state(name: &str) -> anyhow::Result<SplitState> {
    Ok(match name {
        "staged" => SplitState::Staged,
        "published" => SplitState::Published,
        "marked_for_deletion" | "marked" => SplitState::MarkedForDeletion,
        other => bail!("unknown split state `{other}` (staged, published, marked_for_deletion)"),
    })
}

async fn list_splits(options: ListSplitsOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let metadata = metastore.index_metadata(&options.index).await?;
    let filter = hydrant_metastore::SplitFilter {
        states: options
            .states
            .iter()
            .map(|name| parse_state(name))
            .collect::<anyhow::Result<_>>()?,
        start_timestamp: options.start_timestamp,
        end_timestamp: options.end_timestamp,
    };
    let mut splits: Vec<&SplitMetadata> = metadata.splits_matching(&filter).collect();
    splits.reverse();
    options.output.print(&splits, || {
        let rows: Vec<Vec<String>> = splits
            .iter()
            .map(|split| {
                let range = split.time_range;
                vec![
                    split.split_id.clone(),
                    state_name(split.state).to_string(),
                    split.num_docs.to_string(),
                    human_bytes(split.split_size_bytes),
                    rfc3339(range.map(|range| nanos_to_secs(range.start_nanos))),
                    rfc3339(range.map(|range| nanos_to_secs(range.end_nanos))),
                    split.num_merge_ops.to_string(),
                ]
            })
            .collect();
        let mut text = table(
            &[
                "SPLIT", "STATE", "DOCS", "SIZE", "OLDEST", "NEWEST", "MERGES",
            ],
            &rows,
        );
        let docs: u64 = splits.iter().map(|split| split.num_docs).sum();
        text.push_str(&format!("{} splits, {docs} documents\n", splits.len()));
        text
    })
}

async fn describe_split(options: DescribeSplitOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let metadata = metastore.index_metadata(&options.index).await?;
    let split = metadata
        .splits
        .get(&options.split)
        .with_context(|| format!("index `{}` has no split `{}`", options.index, options.split))?;
    let path = paths::split_file(&options.index, &split.split_id);
    let described = json!({
        "split": split,
        "file": metastore.storage().describe(&path),
    });
    options.output.print(&described, || {
        let mut text = String::new();
        let mut line = |name: &str, value: String| text.push_str(&format!("{name:<20}{value}\n"));
        line("Split", split.split_id.clone());
        line("State", state_name(split.state).to_string());
        line("File", metastore.storage().describe(&path));
        line("Documents", split.num_docs.to_string());
        line(
            "Size",
            format!(
                "{} ({} of records)",
                human_bytes(split.split_size_bytes),
                human_bytes(split.uncompressed_docs_size_bytes)
            ),
        );
        if let Some(range) = split.time_range {
            line(
                "Time range",
                format!(
                    "{} to {}",
                    rfc3339(Some(nanos_to_secs(range.start_nanos))),
                    rfc3339(Some(nanos_to_secs(range.end_nanos)))
                ),
            );
        }
        line("Merges", split.num_merge_ops.to_string());
        line("Created", rfc3339(Some(split.create_timestamp)));
        line("Published", rfc3339(split.publish_timestamp));
        line("Updated", rfc3339(Some(split.update_timestamp)));
        line("Doc mapping", split.doc_mapping_uid.clone());
        if let Some(tags) = &split.tags {
            let tags: Vec<String> = tags.iter().cloned().collect();
            line("Tags", list_or_dash(&tags));
        }
        text
    })
}

async fn mark_splits(options: MarkSplitsOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let metadata = metastore.index_metadata(&options.index).await?;
    let unknown: Vec<&String> = options
        .splits
        .iter()
        .filter(|split_id| !metadata.splits.contains_key(*split_id))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "index `{}` has no split {}",
            options.index,
            unknown
                .iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    metastore
        .mark_splits_for_deletion(&options.index, &options.splits)
        .await?;
    options
        .output
        .print(&json!({"marked_for_deletion": options.splits}), || {
            format!(
                "Marked {} splits of `{}` for deletion; maintenance deletes their files after the \
                 grace period.\n",
                options.splits.len(),
                options.index
            )
        })
}

#[derive(Debug, clap::Subcommand)]
pub enum ErrorsCommand {
    /// List rejected records, objects kept whole and messages set aside, with their reasons.
    List(ListErrorsOptions),
}

#[derive(Debug, clap::Args)]
pub struct ListErrorsOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// Only this index's errors [default: every index's, and messages no index could be told
    /// for].
    #[arg(long)]
    index: Option<String>,
    /// Only errors of staging objects whose `bucket/key` contains this text.
    #[arg(long)]
    object: Option<String>,
    /// Only errors recorded at or after this time (RFC 3339, a date, or unix seconds).
    #[arg(long, value_parser = parse_time)]
    since: Option<i64>,
    /// Only errors recorded before this time.
    #[arg(long, value_parser = parse_time)]
    until: Option<i64>,
    /// Most errors to print.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn errors_command(command: ErrorsCommand) -> anyhow::Result<()> {
    match command {
        ErrorsCommand::List(options) => list_errors(options).await,
    }
}

async fn list_errors(options: ListErrorsOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let storage = metastore.storage().clone();
    let mut index_ids: Vec<Option<String>> = match &options.index {
        Some(index_id) => {
            metastore.index_metadata(index_id).await?;
            vec![Some(index_id.clone())]
        }
        None => metastore
            .list_index_ids()
            .await?
            .into_iter()
            .map(Some)
            .collect(),
    };
    if options.index.is_none() {
        index_ids.push(None);
    }
    let mut entries = Vec::new();
    let mut total = 0usize;
    for index_id in index_ids {
        let prefix = paths::errors_prefix(index_id.as_deref());
        for file in storage.list(&prefix).await? {
            let recorded_at = file
                .last_modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |age| age.as_secs() as i64);
            let found =
                read_error_file(&storage, index_id.as_deref(), &prefix, &file, recorded_at).await?;
            for entry in found {
                if !keep(&options, &entry) {
                    continue;
                }
                total += 1;
                if entries.len() < options.limit {
                    entries.push(entry);
                }
            }
        }
    }
    entries.sort_by_key(|entry| entry.recorded_at);
    let shown = entries.len();
    options.output.print(
        &json!({"errors": entries, "num_errors": total, "num_shown": shown}),
        || {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|entry| {
                    vec![
                        rfc3339(Some(entry.recorded_at)),
                        entry.kind.to_string(),
                        entry.index_id.clone().unwrap_or("-".to_string()),
                        entry.object.clone().unwrap_or("-".to_string()),
                        entry.reason.clone(),
                        shorten(&entry.message, 80),
                    ]
                })
                .collect();
            let mut text = table(
                &["RECORDED", "KIND", "INDEX", "OBJECT", "REASON", "MESSAGE"],
                &rows,
            );
            text.push_str(&format!(
                "{total} errors{}\n",
                if shown < total {
                    format!(" ({shown} shown; --limit for more)")
                } else {
                    String::new()
                }
            ));
            text
        },
    )
}

fn keep(options: &ListErrorsOptions, entry: &ErrorEntry) -> bool {
    let object_matches = options.object.as_ref().is_none_or(|wanted| {
        entry
            .object
            .as_ref()
            .is_some_and(|object| object.contains(wanted.as_str()))
    });
    object_matches
        && options.since.is_none_or(|since| entry.recorded_at >= since)
        && options.until.is_none_or(|until| entry.recorded_at < until)
}

fn shorten(text: &str, max_chars: usize) -> String {
    let text = text.replace('\n', " ");
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars.saturating_sub(3)).collect();
    format!("{cut}...")
}

#[derive(Debug, clap::Subcommand)]
pub enum TemplateCommand {
    /// Create an index template (Quickwit's `template_id`, `index_id_patterns`, ...).
    ///
    /// A staging object routed to an index that does not exist yet and matches a template's
    /// patterns creates the index from the template on first sight.
    Create(CreateTemplateOptions),
    /// List the index templates, with their patterns and priorities.
    List(ListIndexesOptions),
    /// Delete an index template; the indexes created from it stay.
    Delete(DeleteTemplateOptions),
}

#[derive(Debug, clap::Args)]
pub struct CreateTemplateOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The template: YAML, JSON, or TOML (by its `.toml` extension).
    #[arg(long)]
    template_config: std::path::PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeleteTemplateOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The template id.
    #[arg(long)]
    template: String,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn template_command(command: TemplateCommand) -> anyhow::Result<()> {
    match command {
        TemplateCommand::Create(options) => create_template(options).await,
        TemplateCommand::List(options) => list_templates(options).await,
        TemplateCommand::Delete(options) => delete_template(options).await,
    }
}

async fn create_template(options: CreateTemplateOptions) -> anyhow::Result<()> {
    let text = crate::commands::read_config(&options.template_config)?;
    let template = hydrant_index::template::IndexTemplate::from_yaml(&text)?;
    let metastore = metastore(&options.storage).await?;
    let created = metastore.create_template(template).await?;
    options.output.print(&created, || {
        format!(
            "Created index template `{}` for {}.\n",
            created.template_id,
            created.index_id_patterns.join(", ")
        )
    })
}

async fn list_templates(options: ListIndexesOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let templates = metastore.templates().await?;
    options.output.print(&templates, || {
        let rows: Vec<Vec<String>> = templates
            .iter()
            .map(|template| {
                vec![
                    template.template_id.clone(),
                    template.index_id_patterns.join(","),
                    template.priority.to_string(),
                    template.description.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let mut text = table(&["TEMPLATE", "PATTERNS", "PRIORITY", "DESCRIPTION"], &rows);
        text.push_str(&format!("{} templates\n", templates.len()));
        text
    })
}

async fn delete_template(options: DeleteTemplateOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    metastore.delete_template(&options.template).await?;
    options
        .output
        .print(&json!({"deleted": options.template}), || {
            format!("Deleted index template `{}`.\n", options.template)
        })
}
