//! `hydrant errors list`: what the indexer rejected or set aside, read back through the
//! record format the indexer writes (`hydrant_ingest::error_records`).

use std::time::UNIX_EPOCH;

use hydrant_ingest::error_records::{ErrorEntry, read_error_file};
use hydrant_metastore::paths;
use serde_json::json;

use crate::args::{IndexStorageArgs, OutputArgs, metastore, parse_time};
use crate::output::{rfc3339, shorten, table};

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
            metastore.index_info(index_id).await?;
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
