//! The searcher's deployment settings, read once from the environment and validated before the
//! first request: a bad setting is one clear error at start-up, as the indexer's are
//! (`hydrant_ingest::settings`).
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `HYDRANT_INDEX_URI` | index storage (`s3://bucket/prefix`, `file:///path` or a path) | required |
//! | `HYDRANT_CACHE_BYTES` | memory for fetched split bytes | 256 MB, or a quarter of the function's memory |
//! | `HYDRANT_SPLIT_CONCURRENCY` | splits searched at once (their footers also share a 256 MB budget) | 1000 |
//! | `HYDRANT_SPLIT_CACHE_BYTES` | disk for whole splits (0: off) | 0 |
//! | `HYDRANT_SPLIT_CACHE_DIR` | where whole splits are kept | `/tmp/hydrant-splits` |
//! | `HYDRANT_SPLITS_PER_LEAF` | most splits one invocation searches; a search with more shares them out with invocations of `HYDRANT_LEAF_FUNCTION` (0: never) | 0 |
//! | `HYDRANT_LEAF_FUNCTION` | the function leaf searches invoke | this function (`AWS_LAMBDA_FUNCTION_NAME`) |
//!
//! `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, set by Lambda, sizes the default byte cache.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use hydrant_storage::StorageUri;
use hydrant_storage::settings::Settings;

use crate::error::{Result, SearchError};
use crate::searcher::SearcherConfig;

/// Where whole splits are kept when the disk cache is on.
pub const DEFAULT_SPLIT_CACHE_DIR: &str = "/tmp/hydrant-splits";

/// Validated searcher settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SearcherSettings {
    pub index_uri: StorageUri,
    pub config: SearcherConfig,
    /// `(directory, capacity in bytes)` of the whole-split disk cache, when it is on.
    pub split_cache: Option<(PathBuf, u64)>,
    /// `(function, most splits per invocation)` when large searches fan out to leaf
    /// invocations.
    pub leaf_fan_out: Option<(String, usize)>,
    /// `HYDRANT_ALLOW_DELETE_TASKS` (the stack's `AllowDeleteTasks`): the deployed API takes
    /// `POST /api/v1/{index}/delete-tasks`, its one write.
    pub allow_delete_tasks: bool,
}

impl SearcherSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (tests pass a map instead of touching the
    /// environment).
    ///
    /// ```
    /// use hydrant_search::settings::SearcherSettings;
    ///
    /// let settings = SearcherSettings::from_lookup(|name| match name {
    ///     "HYDRANT_INDEX_URI" => Some("s3://my-index-bucket".to_string()),
    ///     "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("1024".to_string()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(settings.config.chunk_cache_bytes, 256 << 20);
    /// assert_eq!(settings.split_cache, None);
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let settings = Settings::new(lookup);
        let index_uri = settings.index_uri().map_err(SearchError::Config)?;
        let mut config = SearcherConfig::default();
        // Lambda tells the function's memory; keep a quarter of it for fetched split bytes.
        if let Some(memory_mb) = settings
            .get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .and_then(|mb| mb.parse::<u64>().ok())
            .filter(|mb| *mb > 0 && *mb <= 1 << 20)
        {
            config.chunk_cache_bytes = (memory_mb << 20) / 4;
        }
        if let Some(bytes) = settings
            .parse("HYDRANT_CACHE_BYTES", "a number of bytes")
            .map_err(SearchError::Config)?
        {
            config.chunk_cache_bytes = bytes;
        }
        if let Some(count) = settings
            .parse::<NonZeroUsize>("HYDRANT_SPLIT_CONCURRENCY", "a positive number")
            .map_err(SearchError::Config)?
        {
            config.split_concurrency = count.get();
        }
        let split_cache_bytes: u64 = settings
            .parse("HYDRANT_SPLIT_CACHE_BYTES", "a number of bytes")
            .map_err(SearchError::Config)?
            .unwrap_or(0);
        let split_cache = (split_cache_bytes > 0).then(|| {
            let dir = settings
                .get("HYDRANT_SPLIT_CACHE_DIR")
                .unwrap_or(DEFAULT_SPLIT_CACHE_DIR.into());
            (PathBuf::from(dir), split_cache_bytes)
        });
        let splits_per_leaf: usize = settings
            .parse("HYDRANT_SPLITS_PER_LEAF", "a number of splits")
            .map_err(SearchError::Config)?
            .unwrap_or(0);
        let leaf_fan_out = match splits_per_leaf {
            0 => None,
            splits_per_leaf => {
                let function = settings
                    .get("HYDRANT_LEAF_FUNCTION")
                    .or_else(|| settings.get("AWS_LAMBDA_FUNCTION_NAME"))
                    .ok_or_else(|| {
                        SearchError::Config(
                            "HYDRANT_SPLITS_PER_LEAF is set but no function is named for leaf \
                             searches: set HYDRANT_LEAF_FUNCTION"
                                .to_string(),
                        )
                    })?;
                Some((function, splits_per_leaf))
            }
        };
        let allow_delete_tasks = settings
            .parse("HYDRANT_ALLOW_DELETE_TASKS", "true or false")
            .map_err(SearchError::Config)?
            .unwrap_or(false);
        Ok(SearcherSettings {
            index_uri,
            config,
            split_cache,
            leaf_fan_out,
            allow_delete_tasks,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<SearcherSettings> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        SearcherSettings::from_lookup(|name| map.get(name).map(|value| value.to_string()))
    }

    fn message(result: Result<SearcherSettings>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn the_index_uri_is_required_and_parsed() {
        assert!(message(settings(&[])).contains("HYDRANT_INDEX_URI is not set"));
        assert!(message(settings(&[("HYDRANT_INDEX_URI", "  ")])).contains("is not set"));
        assert!(message(settings(&[("HYDRANT_INDEX_URI", "s3://")])).contains("HYDRANT_INDEX_URI"));
        let settings = settings(&[("HYDRANT_INDEX_URI", "s3://bucket/prefix")]).unwrap();
        assert_eq!(settings.index_uri.to_string(), "s3://bucket/prefix");
        assert_eq!(settings.config, SearcherConfig::default());
        assert_eq!(settings.split_cache, None);
        assert_eq!(settings.leaf_fan_out, None);
    }

    #[test]
    fn leaf_fan_out_invokes_this_function_unless_told_another() {
        let uri = ("HYDRANT_INDEX_URI", "s3://bucket");
        let this = ("AWS_LAMBDA_FUNCTION_NAME", "stack-searcher");
        let on = settings(&[uri, this, ("HYDRANT_SPLITS_PER_LEAF", "200")]).unwrap();
        assert_eq!(on.leaf_fan_out, Some(("stack-searcher".to_string(), 200)));
        let other = ("HYDRANT_LEAF_FUNCTION", "leaves");
        let named = settings(&[uri, this, other, ("HYDRANT_SPLITS_PER_LEAF", "50")]).unwrap();
        assert_eq!(named.leaf_fan_out, Some(("leaves".to_string(), 50)));
        let off = settings(&[uri, this, ("HYDRANT_SPLITS_PER_LEAF", "0")]).unwrap();
        assert_eq!(off.leaf_fan_out, None);
        assert!(
            message(settings(&[uri, ("HYDRANT_SPLITS_PER_LEAF", "9")]))
                .contains("HYDRANT_LEAF_FUNCTION")
        );
        assert!(
            message(settings(&[uri, ("HYDRANT_SPLITS_PER_LEAF", "many")]))
                .contains("HYDRANT_SPLITS_PER_LEAF")
        );
    }

    #[test]
    fn delete_tasks_through_the_api_only_when_allowed() {
        let uri = ("HYDRANT_INDEX_URI", "s3://bucket");
        assert!(!settings(&[uri]).unwrap().allow_delete_tasks);
        let flag = |value| settings(&[uri, ("HYDRANT_ALLOW_DELETE_TASKS", value)]);
        assert!(!flag("false").unwrap().allow_delete_tasks);
        assert!(flag("true").unwrap().allow_delete_tasks);
        assert!(message(flag("yes")).contains("HYDRANT_ALLOW_DELETE_TASKS must be true or false"));
    }

    #[test]
    fn the_byte_cache_follows_the_function_memory_unless_set() {
        let uri = ("HYDRANT_INDEX_URI", "s3://bucket");
        let sized = settings(&[uri, ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")]).unwrap();
        assert_eq!(sized.config.chunk_cache_bytes, 512 << 20);
        let set = settings(&[
            uri,
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"),
            ("HYDRANT_CACHE_BYTES", "1000"),
        ])
        .unwrap();
        assert_eq!(set.config.chunk_cache_bytes, 1000);
        // A memory size Lambda would never send does not overflow the shift.
        let absurd = settings(&[uri, ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "99999999999999")]);
        assert_eq!(
            absurd.unwrap().config.chunk_cache_bytes,
            SearcherConfig::default().chunk_cache_bytes
        );
    }

    #[test]
    fn bad_numbers_are_refused_by_name() {
        let uri = ("HYDRANT_INDEX_URI", "s3://bucket");
        assert!(
            message(settings(&[uri, ("HYDRANT_CACHE_BYTES", "1GB")]))
                .contains("HYDRANT_CACHE_BYTES must be a number of bytes, got `1GB`")
        );
        assert!(
            message(settings(&[uri, ("HYDRANT_SPLIT_CONCURRENCY", "0")]))
                .contains("HYDRANT_SPLIT_CONCURRENCY must be a positive number")
        );
        assert!(
            message(settings(&[uri, ("HYDRANT_SPLIT_CACHE_BYTES", "-1")]))
                .contains("HYDRANT_SPLIT_CACHE_BYTES")
        );
    }

    #[test]
    fn the_split_cache_is_off_unless_given_bytes() {
        let uri = ("HYDRANT_INDEX_URI", "s3://bucket");
        assert_eq!(
            settings(&[uri, ("HYDRANT_SPLIT_CACHE_BYTES", "0")])
                .unwrap()
                .split_cache,
            None
        );
        assert_eq!(
            settings(&[uri, ("HYDRANT_SPLIT_CACHE_BYTES", "1000")])
                .unwrap()
                .split_cache,
            Some((PathBuf::from(DEFAULT_SPLIT_CACHE_DIR), 1000))
        );
        assert_eq!(
            settings(&[
                uri,
                ("HYDRANT_SPLIT_CACHE_BYTES", "1000"),
                ("HYDRANT_SPLIT_CACHE_DIR", "/mnt/splits")
            ])
            .unwrap()
            .split_cache,
            Some((PathBuf::from("/mnt/splits"), 1000))
        );
    }
}
