//! What every command reads from its arguments: where the indexes live, how to print, the
//! config files and times a person types.

use anyhow::Context;
use hydrant_index::datetime::{parse_datetime_str, query_datetime_formats};
use hydrant_metastore::Metastore;
use hydrant_storage::{StorageResolver, StorageUri};
use serde::Serialize;

use crate::output::nanos_to_secs;

/// Where the indexes live.
#[derive(Clone, Debug, clap::Args)]
pub struct IndexStorageArgs {
    /// Index storage: s3://bucket/prefix, file:///path or a path.
    #[arg(long, env = "HYDRANT_INDEX_URI", default_value = "hydrant-data/index")]
    pub index_uri: String,
}

/// Storages as the environment says: AWS settings and Hydrant's `HYDRANT_S3_*` timeouts.
pub(crate) fn resolver() -> anyhow::Result<StorageResolver> {
    Ok(StorageResolver::from_env()?)
}

impl IndexStorageArgs {
    /// The indexer's settings from the environment, with this index storage.
    pub(crate) fn indexer_settings(
        &self,
    ) -> anyhow::Result<hydrant_ingest::settings::IndexerSettings> {
        Ok(hydrant_ingest::settings::IndexerSettings::from_lookup(
            |name| {
                if name == "HYDRANT_INDEX_URI" {
                    Some(self.index_uri.clone())
                } else {
                    std::env::var(name).ok()
                }
            },
        )?)
    }

    pub(crate) async fn metastore(&self, resolver: &StorageResolver) -> anyhow::Result<Metastore> {
        let uri: StorageUri = self.index_uri.parse()?;
        let storage = resolver
            .resolve(&uri)
            .await
            .with_context(|| format!("cannot open index storage {uri}"))?;
        Ok(Metastore::new(storage))
    }
}

pub(crate) async fn metastore(storage: &IndexStorageArgs) -> anyhow::Result<Metastore> {
    storage.metastore(&resolver()?).await
}

/// A config file as YAML text (JSON is YAML): a `.toml` file is read as TOML and handed on as
/// JSON, so that one parser, with its error messages, reads every format.
pub(crate) fn read_config(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path
        .extension()
        .is_some_and(|extension| extension == "toml")
    {
        let value: serde_json::Value = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        return Ok(value.to_string());
    }
    Ok(text)
}

/// Reads a time given as RFC 3339, a date, or unix seconds, in unix seconds (every command's
/// time options).
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let datetime = parse_datetime_str(text, query_datetime_formats())?;
    Ok(nanos_to_secs(datetime.into_timestamp_nanos()))
}

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

/// A listing's arguments: where the indexes live, and how to print.
#[derive(Debug, clap::Args)]
pub struct ListOptions {
    #[command(flatten)]
    pub storage: IndexStorageArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}
