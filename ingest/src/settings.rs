//! The indexer's deployment settings, read once from the environment and validated before the
//! first message is touched: a bad setting is one clear error at start-up, not a retry loop.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `HYDRANT_INDEX_URI` | index storage: `s3://bucket/prefix`, `file:///path` or a path | required |
//! | `HYDRANT_INDEX_CONFIGS` | comma-separated index config YAML locations (`s3://...` or paths); missing indexes are created from them | none |
//! | `HYDRANT_PREFIX_RULES` | comma-separated `bucket/prefix=index_id` rules routing objects to indexes | none |
//! | `HYDRANT_CHECKPOINT_RETENTION` | age after which checkpoint entries are pruned (`15 days`); must exceed the queue's retention | `15 days` |
//! | `HYDRANT_MIN_TIME_TO_FINISH` | time kept before the invocation deadline to publish (`10s`) | `10s` |
//! | `HYDRANT_TEMP_DIR` | where splits are built | the system temp dir |
//! | `HYDRANT_GC_GRACE_PERIOD` | how long a split marked for deletion stays readable | `15 minutes` |
//! | `HYDRANT_STAGED_EXPIRY` | age after which a never-published upload is collected | `1 hour` |
//! | `HYDRANT_ORPHAN_MIN_AGE` | age after which a split file no metastore entry knows is deleted | `1 hour` |
//! | `HYDRANT_MAX_RECEIVE_COUNT` | the queue's `maxReceiveCount`: a message failing on that delivery goes to the dead-letter queue alone | none |

use std::path::PathBuf;
use std::time::Duration;

use hydrant_storage::StorageUri;
use hydrant_storage::settings::Settings;

use crate::error::{IngestError, Result};
use crate::indexer::{DEFAULT_CHECKPOINT_RETENTION, DEFAULT_MIN_TIME_TO_FINISH};
use crate::maintenance::GcSettings;

/// SQS keeps messages at most 14 days; a shorter checkpoint could forget an object that can
/// still be delivered.
const MAX_QUEUE_RETENTION: Duration = Duration::from_secs(14 * 86_400);

/// Validated indexer settings.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexerSettings {
    pub index_uri: StorageUri,
    pub index_config_uris: Vec<String>,
    /// `(bucket/prefix, index_id)`, longest prefix wins.
    pub prefix_rules: Vec<(String, String)>,
    pub checkpoint_retention: Duration,
    pub min_time_to_finish: Duration,
    pub temp_dir: Option<PathBuf>,
    pub gc: GcSettings,
    /// The redrive policy's `maxReceiveCount`, when the queue has one.
    pub max_receive_count: Option<u32>,
}

impl IndexerSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (tests pass a map instead of touching the
    /// environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let settings = Settings::new(lookup);
        let checkpoint_retention = settings
            .duration("HYDRANT_CHECKPOINT_RETENTION", DEFAULT_CHECKPOINT_RETENTION)
            .map_err(IngestError::Config)?;
        if checkpoint_retention <= MAX_QUEUE_RETENTION {
            return Err(IngestError::Config(format!(
                "HYDRANT_CHECKPOINT_RETENTION must be longer than the 14 days SQS can keep a message, got {}s",
                checkpoint_retention.as_secs()
            )));
        }
        const DELIVERIES: &str = "a whole number of deliveries, at least 1";
        let max_receive_count = match settings
            .parse::<u32>("HYDRANT_MAX_RECEIVE_COUNT", DELIVERIES)
            .map_err(IngestError::Config)?
        {
            Some(0) => {
                return Err(IngestError::Config(format!(
                    "HYDRANT_MAX_RECEIVE_COUNT must be {DELIVERIES}, got `0`"
                )));
            }
            count => count,
        };
        let gc_defaults = GcSettings::default();
        let duration = |name: &str, default: Duration| {
            settings
                .duration(name, default)
                .map_err(IngestError::Config)
        };
        Ok(IndexerSettings {
            index_uri: settings.index_uri().map_err(IngestError::Config)?,
            index_config_uris: settings.list("HYDRANT_INDEX_CONFIGS"),
            prefix_rules: prefix_rules(&settings.list("HYDRANT_PREFIX_RULES"))?,
            checkpoint_retention,
            min_time_to_finish: duration("HYDRANT_MIN_TIME_TO_FINISH", DEFAULT_MIN_TIME_TO_FINISH)?,
            temp_dir: settings.get("HYDRANT_TEMP_DIR").map(PathBuf::from),
            gc: GcSettings {
                grace_period: duration("HYDRANT_GC_GRACE_PERIOD", gc_defaults.grace_period)?,
                staged_expiry: duration("HYDRANT_STAGED_EXPIRY", gc_defaults.staged_expiry)?,
                orphan_min_age: orphan_min_age(duration(
                    "HYDRANT_ORPHAN_MIN_AGE",
                    gc_defaults.orphan_min_age,
                )?),
            },
            max_receive_count,
        })
    }
}

/// `HYDRANT_ORPHAN_MIN_AGE`. A split file no document knows may be an upload whose publish is
/// still to come, for up to `MAX_UNPUBLISHED_SPLIT_AGE_SECS`: a shorter age is only safe when
/// no indexer runs (collecting what crashes left, say), and is warned about.
fn orphan_min_age(age: Duration) -> Duration {
    let publish_window = hydrant_metastore::MAX_UNPUBLISHED_SPLIT_AGE_SECS as u64;
    if age.as_secs() <= publish_window {
        tracing::warn!(
            orphan_min_age_secs = age.as_secs(),
            publish_window_secs = publish_window,
            "HYDRANT_ORPHAN_MIN_AGE is within the time an upload may wait for its publish: \
             garbage collection may delete the file of a split an indexer is about to publish; \
             use it only while no indexer runs"
        );
    }
    age
}

/// `bucket/prefix=index_id` rules. The last `=` splits a rule: a Firehose partition prefix
/// (`tenant=*/`) has its own.
fn prefix_rules(rules: &[String]) -> Result<Vec<(String, String)>> {
    rules
        .iter()
        .map(|rule| match rule.rsplit_once('=') {
            Some((prefix, index_id)) => {
                Ok((prefix.trim().to_string(), index_id.trim().to_string()))
            }
            None => Err(IngestError::Config(format!(
                "HYDRANT_PREFIX_RULES: `{rule}` is not `bucket/prefix=index_id`"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<IndexerSettings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IndexerSettings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn valid_settings() {
        let settings = settings(&[
            ("HYDRANT_INDEX_URI", "s3://index-bucket/hydrant"),
            (
                "HYDRANT_INDEX_CONFIGS",
                "s3://configs/a.yaml, s3://configs/b.yaml",
            ),
            (
                "HYDRANT_PREFIX_RULES",
                "staging/logs/=web-logs,staging/sales/=mock-sales",
            ),
            ("HYDRANT_CHECKPOINT_RETENTION", "30 days"),
            ("HYDRANT_MAX_RECEIVE_COUNT", "5"),
        ])
        .unwrap();
        assert_eq!(
            settings.index_uri,
            StorageUri::S3 {
                bucket: "index-bucket".into(),
                prefix: "hydrant".into()
            }
        );
        assert_eq!(settings.index_config_uris.len(), 2);
        assert_eq!(
            settings.prefix_rules[1],
            ("staging/sales/".to_string(), "mock-sales".to_string())
        );
        assert_eq!(
            settings.checkpoint_retention,
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(settings.max_receive_count, Some(5));
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (
                &[
                    ("HYDRANT_INDEX_URI", "s3://index-bucket"),
                    ("HYDRANT_MAX_RECEIVE_COUNT", "0"),
                ],
                "HYDRANT_MAX_RECEIVE_COUNT",
            ),
            (&[], "HYDRANT_INDEX_URI is not set"),
            (&[("HYDRANT_INDEX_URI", "ftp://x")], "HYDRANT_INDEX_URI"),
            (
                &[
                    ("HYDRANT_INDEX_URI", "s3://index-bucket"),
                    ("HYDRANT_PREFIX_RULES", "nonsense"),
                ],
                "HYDRANT_PREFIX_RULES",
            ),
            (
                &[
                    ("HYDRANT_INDEX_URI", "s3://index-bucket"),
                    ("HYDRANT_CHECKPOINT_RETENTION", "1 day"),
                ],
                "longer than the 14 days",
            ),
        ];
        for (pairs, needle) in cases {
            let error = settings(pairs).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        }
    }
}
