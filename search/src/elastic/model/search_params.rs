//! The URL parameters of `_search`, `_count` and `_msearch`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

use super::search_body::{SourceParam, TrackTotalHits};
use super::{TRANSPORT_PARAMS, boolean, comma_list, non_negative, refuse_unknown};
use crate::error::Result;
use crate::query::DefaultOperator;

/// `default_operator=AND|OR`, any case.
fn default_operator<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DefaultOperator>, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.to_ascii_uppercase().as_str() {
        "AND" => Ok(Some(DefaultOperator::And)),
        "OR" => Ok(Some(DefaultOperator::Or)),
        _ => Err(de::Error::custom(format!(
            "must be AND or OR, got `{text}`"
        ))),
    }
}

/// URL parameters of a search; they win over the body's, as in Elasticsearch.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQueryParams {
    pub q: Option<String>,
    /// `q`'s default operator: OR unless told, as in Elasticsearch.
    #[serde(default, deserialize_with = "default_operator")]
    pub default_operator: Option<DefaultOperator>,
    #[serde(default, deserialize_with = "comma_list")]
    pub df: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_negative")]
    pub from: Option<usize>,
    #[serde(default, deserialize_with = "non_negative")]
    pub size: Option<usize>,
    /// `field:desc,other`.
    pub sort: Option<String>,
    #[serde(default, deserialize_with = "scalar_total_hits")]
    pub track_total_hits: Option<TrackTotalHits>,
    #[serde(rename = "_source", default, deserialize_with = "scalar_source")]
    pub source: Option<SourceParam>,
    #[serde(rename = "_source_includes", default, deserialize_with = "comma_list")]
    pub source_includes: Option<Vec<String>>,
    #[serde(rename = "_source_excludes", default, deserialize_with = "comma_list")]
    pub source_excludes: Option<Vec<String>>,
    /// Quickwit's `extra_filters`: query strings every hit must also match.
    #[serde(default, deserialize_with = "comma_list")]
    pub extra_filters: Option<Vec<String>>,
    /// Start a scroll that keeps this long between pages (`1m`).
    pub scroll: Option<String>,
    /// `false`: a split that cannot be searched fails the whole request instead of leaving
    /// its hits out.
    #[serde(default, deserialize_with = "boolean")]
    pub allow_partial_search_results: Option<bool>,
    /// `true`: index names that do not exist select nothing instead of failing (404).
    #[serde(default, deserialize_with = "boolean")]
    pub ignore_unavailable: Option<bool>,
    /// Score hits sorted by a field too.
    #[serde(default, deserialize_with = "boolean")]
    pub track_scores: Option<bool>,
    /// Everything else: accepted if it is an option Hydrant has no use for.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// Options of a search with no effect here: no shards, no replicas, no scoring details.
const IGNORED_SEARCH_PARAMS: &[&str] = &[
    "allow_no_indices",
    "expand_wildcards",
    "typed_keys",
    "request_cache",
    "rest_total_hits_as_int",
    "batched_reduce_size",
    "pre_filter_shard_size",
    "max_concurrent_shard_requests",
    "ccs_minimize_roundtrips",
    "search_type",
    "preference",
    "routing",
    "stats",
    "version",
    "seq_no_primary_term",
    "explain",
    "analyze_wildcard",
    "lenient",
    "terminate_after",
];

impl SearchQueryParams {
    /// Reads and checks the parameters of `_search` or `_count`.
    pub fn parse(query_string: &str) -> Result<Self> {
        Self::parse_ignoring(query_string, &[])
    }

    /// Reads and checks the parameters of `_msearch`, which applies them to every search.
    pub fn parse_multi_search(query_string: &str) -> Result<Self> {
        Self::parse_ignoring(query_string, &["max_concurrent_searches"])
    }

    fn parse_ignoring(query_string: &str, more_ignored: &[&str]) -> Result<Self> {
        let params: SearchQueryParams = super::from_query_string(query_string)?;
        let ignored: Vec<&str> = IGNORED_SEARCH_PARAMS
            .iter()
            .chain(TRANSPORT_PARAMS)
            .chain(more_ignored)
            .copied()
            .collect();
        refuse_unknown(&params.unknown, &ignored)?;
        Ok(params)
    }
}

/// `track_total_hits=true|false|<count>`.
fn scalar_total_hits<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TrackTotalHits>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if let Ok(flag) = text.parse::<bool>() {
        return Ok(Some(TrackTotalHits::Enabled(flag)));
    }
    text.parse::<u64>()
        .map(|count| Some(TrackTotalHits::UpTo(count)))
        .map_err(|_| de::Error::custom(format!("must be true, false or a count, got `{text}`")))
}

/// `_source=true|false|<fields>`.
fn scalar_source<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SourceParam>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(Some(match text.parse::<bool>() {
        Ok(flag) => SourceParam::Enabled(flag),
        Err(_) => SourceParam::Fields(text.split(',').map(str::to_string).collect()),
    }))
}
