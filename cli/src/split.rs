//! `hydrant split list|describe|mark-for-deletion`: the splits the metastore records.

use anyhow::{Context, bail};
use hydrant_metastore::paths;
use hydrant_metastore::split::{SplitMetadata, SplitState};
use serde_json::json;

use crate::args::{IndexStorageArgs, OutputArgs, metastore, parse_time};
use crate::output::{human_bytes, list_or_dash, nanos_to_secs, rfc3339, table};

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

fn state_name(state: SplitState) -> &'static str {
    match state {
        SplitState::Staged => "staged",
        SplitState::Published => "published",
        SplitState::MarkedForDeletion => "marked_for_deletion",
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
    let metadata = metastore.index_splits(&options.index).await?;
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
    let metadata = metastore.index_splits(&options.index).await?;
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
    let metadata = metastore.index_splits(&options.index).await?;
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
