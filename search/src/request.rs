//! The native search API's request and response, as Quickwit's `/api/v1/{index_id}/search`
//! has them: the public wire format, nothing more. The search core converts a request into its
//! `SearchParams` (`SearchParams::from_native`) and its answer into a [`SearchResponse`]
//! (`SearchAnswer::into_native`).

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cost::SearchStats;
use crate::error::{Result, SearchError};

/// A native search request (POST JSON body, or GET query parameters). Unknown fields are
/// refused, so a caller cannot reach what only the Elasticsearch API sets (sort values,
/// `search_after`, a query already parsed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query string.
    pub query: String,
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

    /// Parses a POST body.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        serde_json::from_slice(body)
            .map_err(|error| SearchError::InvalidRequest(format!("request body: {error}")))
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
                "aggs" => serde_json::from_str::<Value>(&value).map_err(|error| {
                    SearchError::InvalidRequest(format!("`{key}` is not JSON: {error}"))
                })?,
                _ => Value::String(value.into_owned()),
            };
            if fields.insert(key.to_string(), value).is_some() {
                return Err(SearchError::InvalidRequest(format!(
                    "parameter `{key}` is given twice"
                )));
            }
        }
        Self::from_json_value(Value::Object(fields))
            .map_err(|error| SearchError::InvalidRequest(format!("query parameters: {error}")))
    }

    /// Reads a request given as JSON (a direct invocation's, with no bytes in between).
    pub fn from_json_value(value: Value) -> std::result::Result<Self, serde_json::Error> {
        serde_json::from_value(value)
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
    pub elapsed_time_micros: u64,
    /// Splits that could not be searched; the rest of the response is still valid.
    pub errors: Vec<String>,
    /// When `stats` asks: what the request cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<SearchStats>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::searcher::SearchParams;

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
            .and_then(|request| SearchParams::from_native(&request))
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

    #[test]
    fn a_native_request_cannot_set_what_only_the_elasticsearch_api_sets() {
        for field in [
            r#""query_ast": "MatchAll""#,
            r#""sort_values": true"#,
            r#""sort_datetime_nanos": true"#,
            r#""search_after": [1]"#,
            r#""search_after_position": null"#,
        ] {
            let body = format!(r#"{{"query": "*", {field}}}"#);
            let error = SearchRequest::from_json(body.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(error.contains("unknown field"), "{field}: {error}");
        }
        let error = SearchRequest::from_query_string("query=*&sort_values=true")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `sort_values`"), "{error}");
    }
}
