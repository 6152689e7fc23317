//! The search API's request and response, as Quickwit's `/api/v1/{index_id}/search` has them.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, SearchError};
use crate::query::{MAX_QUERY_DEPTH, QueryAst};
use crate::sort::{HitPosition, MAX_SORT_KEYS, is_order_marker};

/// Hits per request at most; more needs pagination with `start_offset`.
pub const MAX_HITS_LIMIT: usize = 10_000;

/// A search request (POST JSON body, or GET query parameters).
/// Serializable too: a leaf search carries it to another invocation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query string.
    pub query: String,
    /// The query as an AST, in place of `query`: how the Elasticsearch API passes on its
    /// query DSL (and how a leaf in another invocation receives it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_ast: Option<QueryAst>,
    /// Only documents with `timestamp >= start_timestamp` (Unix seconds).
    #[serde(default)]
    pub start_timestamp: Option<i64>,
    /// Only documents with `timestamp < end_timestamp` (Unix seconds).
    #[serde(default)]
    pub end_timestamp: Option<i64>,
    #[serde(default = "default_max_hits")]
    pub max_hits: usize,
    #[serde(default)]
    pub start_offset: usize,
    /// `field` (ascending), `-field` (descending) or `_score`; comma-separated or a list.
    #[serde(default, deserialize_with = "comma_separated")]
    pub sort_by: Vec<String>,
    /// Fields searched by clauses that name no field, instead of the index's defaults.
    #[serde(default, deserialize_with = "comma_separated")]
    pub search_field: Vec<String>,
    /// Text fields to return highlighted fragments of, per hit.
    #[serde(default, deserialize_with = "comma_separated")]
    pub snippet_fields: Vec<String>,
    /// Elasticsearch aggregation JSON.
    #[serde(default)]
    pub aggs: Option<Value>,
    /// Count every match (`num_hits` exact). With `false`, splits skip counting and
    /// `num_hits` is a lower bound.
    #[serde(default = "default_true")]
    pub count_all: bool,
    #[serde(default)]
    pub format: ResponseFormat,
    /// Add the request's cost (splits, GETs, bytes, cache hits) to the response.
    #[serde(default)]
    pub stats: bool,
    /// Add each hit's sort values to the response (`sort_values`), which the Elasticsearch
    /// API returns as `hits[].sort`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sort_values: bool,
    /// Datetime sort values (in `sort_values` and `search_after`) in nanoseconds rather than
    /// milliseconds: Quickwit's `epoch_nanos_int` sort format.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sort_datetime_nanos: bool,
    /// Hits strictly after these sort values: one per sort key, as a previous response's
    /// `sort_values` gave them (then the `_shard_doc` position if the sort has it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_after: Vec<Value>,
    /// Hits strictly after this exact position, which a previous response gave as
    /// `last_hit_position`: how a scroll resumes, skipping and repeating nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_after_position: Option<HitPosition>,
}

fn default_true() -> bool {
    true
}

fn default_max_hits() -> usize {
    20
}

/// How the response body is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    #[default]
    Json,
    #[serde(alias = "prettyjson")]
    PrettyJson,
}

fn comma_separated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(String),
        Many(Vec<String>),
    }
    let values = match Repr::deserialize(deserializer)
        .map_err(|_| de::Error::custom("expected a string or a list of strings"))?
    {
        Repr::One(text) => text
            .split(',')
            .map(|part| part.trim().to_string())
            .collect(),
        Repr::Many(values) => values,
    };
    Ok(values
        .into_iter()
        .filter(|value| !value.is_empty())
        .collect())
}

impl SearchRequest {
    /// A request for `query` with default options.
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            max_hits: default_max_hits(),
            count_all: true,
            ..SearchRequest::default()
        }
    }

    /// A stable description of everything that decides a split's answer: the key of the
    /// per-split result cache. (Offsets only change how many candidates a split returns.)
    pub fn fingerprint(&self) -> String {
        serde_json::json!([
            self.query,
            self.query_ast,
            self.start_timestamp,
            self.end_timestamp,
            self.start_offset + self.max_hits,
            self.sort_by,
            self.search_field,
            self.aggs,
            self.count_all,
            self.sort_datetime_nanos,
            self.search_after,
            self.search_after_position,
        ])
        .to_string()
    }

    /// Parses a POST body.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        let request: SearchRequest = serde_json::from_slice(body)
            .map_err(|error| SearchError::InvalidRequest(format!("request body: {error}")))?;
        request.validate()?;
        Ok(request)
    }

    /// Parses GET query parameters (`query=...&max_hits=...`).
    pub fn from_query_string(query_string: &str) -> Result<Self> {
        let mut fields = Map::new();
        for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
            let value = match key.as_ref() {
                "start_timestamp" | "end_timestamp" => {
                    Value::from(value.parse::<i64>().map_err(|_| {
                        SearchError::InvalidRequest(format!(
                            "`{key}` must be an integer number of seconds, got `{value}`"
                        ))
                    })?)
                }
                "max_hits" | "start_offset" => Value::from(value.parse::<u64>().map_err(|_| {
                    SearchError::InvalidRequest(format!(
                        "`{key}` must be a non-negative integer, got `{value}`"
                    ))
                })?),
                "count_all" | "stats" => Value::from(value.parse::<bool>().map_err(|_| {
                    SearchError::InvalidRequest(format!(
                        "`{key}` must be true or false, got `{value}`"
                    ))
                })?),
                "aggs" | "search_after" => {
                    serde_json::from_str::<Value>(&value).map_err(|error| {
                        SearchError::InvalidRequest(format!("`{key}` is not JSON: {error}"))
                    })?
                }
                _ => Value::String(value.into_owned()),
            };
            if fields.insert(key.to_string(), value).is_some() {
                return Err(SearchError::InvalidRequest(format!(
                    "parameter `{key}` is given twice"
                )));
            }
        }
        let request: SearchRequest = serde_json::from_value(Value::Object(fields))
            .map_err(|error| SearchError::InvalidRequest(format!("query parameters: {error}")))?;
        request.validate()?;
        Ok(request)
    }

    /// Checks limits serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.max_hits > MAX_HITS_LIMIT {
            return Err(SearchError::InvalidRequest(format!(
                "max_hits is {}, at most {MAX_HITS_LIMIT}; page with start_offset",
                self.max_hits
            )));
        }
        if self.start_offset.saturating_add(self.max_hits) > MAX_HITS_LIMIT * 10 {
            return Err(SearchError::InvalidRequest(format!(
                "start_offset + max_hits is at most {}; narrow the query or the time range",
                MAX_HITS_LIMIT * 10
            )));
        }
        if let (Some(start), Some(end)) = (self.start_timestamp, self.end_timestamp)
            && start > end
        {
            return Err(SearchError::InvalidRequest(format!(
                "start_timestamp ({start}) is after end_timestamp ({end})"
            )));
        }
        if let Some(ast) = &self.query_ast
            && ast.depth() > MAX_QUERY_DEPTH
        {
            return Err(SearchError::InvalidRequest(format!(
                "the query nests clauses more than {MAX_QUERY_DEPTH} levels deep"
            )));
        }
        let sort_keys = self
            .sort_by
            .iter()
            .filter(|key| !is_order_marker(key))
            .count();
        if sort_keys > MAX_SORT_KEYS || self.sort_by.len() > MAX_SORT_KEYS + 2 {
            return Err(SearchError::InvalidRequest(format!(
                "sort_by takes at most {MAX_SORT_KEYS} fields"
            )));
        }
        if self.search_after.len() > MAX_SORT_KEYS + 1 {
            return Err(SearchError::InvalidRequest(format!(
                "search_after has {} values; the sort has at most {}",
                self.search_after.len(),
                MAX_SORT_KEYS + 1
            )));
        }
        Ok(())
    }
}

/// A search response, Quickwit's shape.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SearchResponse {
    /// Documents matching the query (all of them, not only the returned hits).
    pub num_hits: u64,
    pub hits: Vec<Value>,
    /// Per hit, when `snippet_fields` asks: field name to highlighted fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippets: Option<Vec<Value>>,
    /// When `aggs` asks: the Elasticsearch-shaped aggregation results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregations: Option<Value>,
    /// Per hit, when `sort_values` asks: one value per sort key (`null` where the document has
    /// none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_values: Option<Vec<Vec<Value>>>,
    /// With `sort_values`: the last hit's exact position, for `search_after_position`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_hit_position: Option<HitPosition>,
    pub elapsed_time_micros: u64,
    /// Splits that could not be searched; the rest of the response is still valid.
    pub errors: Vec<String>,
    /// When `stats` asks: what the request cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<SearchStats>,
}

/// What one request cost.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SearchStats {
    /// Published splits of the index.
    pub splits_total: usize,
    /// Splits searched (after time and tag pruning).
    pub splits_searched: usize,
    /// Splits skipped: their time range is outside the request's, or they lack a tag the
    /// query requires.
    pub splits_pruned: usize,
    /// Splits answered from the per-split result cache.
    pub splits_from_cache: usize,
    /// Storage GETs made.
    pub storage_gets: u64,
    pub storage_bytes: u64,
    /// Reads served from the in-memory byte-range cache.
    pub cache_hits: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_parameters() {
        let request = SearchRequest::from_query_string(
            "query=quantity%3A%3E5&max_hits=3&start_timestamp=10&sort_by=-ts&search_field=a,b&format=pretty_json",
        )
        .unwrap();
        assert_eq!(request.query, "quantity:>5");
        assert_eq!(request.max_hits, 3);
        assert_eq!(request.start_timestamp, Some(10));
        assert_eq!(request.sort_by, ["-ts"]);
        assert_eq!(request.search_field, ["a", "b"]);
        assert_eq!(request.format, ResponseFormat::PrettyJson);
    }

    #[test]
    fn unknown_and_invalid_parameters_are_refused() {
        let error = SearchRequest::from_query_string("query=*&colour=red")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = SearchRequest::from_query_string("query=*&max_hits=many")
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_hits"), "{error}");
        let error = SearchRequest::from_query_string("max_hits=1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field `query`"), "{error}");
        let error = SearchRequest::from_json(br#"{"query": "*", "max_hits": 1000000}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("at most"), "{error}");
        let error = SearchRequest::from_json(br#"{"query": "*", "aggregations": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `aggregations`"), "{error}");
        let error = SearchRequest::from_query_string("query=*&aggs={oops")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`aggs` is not JSON"), "{error}");
    }
}
