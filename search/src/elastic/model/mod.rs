//! The Elasticsearch API's wire format as types, one per request and response (as Quickwit's
//! `elasticsearch_api/model/`): the handlers are conversions between these and the search
//! core's `SearchParams` and `SearchAnswer`.
//!
//! URL parameters are read into typed structs through [`from_query_string`]; a value that does
//! not parse is a 400 naming the parameter (`[size] must be a non-negative integer`), and a
//! parameter no model knows is refused by name unless it is one of the transport options
//! Elasticsearch clients send and Hydrant has no use for.

mod cluster;
mod error;
mod field_caps;
mod indexes;
mod multi_search;
mod scroll;
mod search_body;
mod search_params;
mod search_response;

use std::collections::BTreeMap;

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::cluster::{ClusterHealth, ClusterInfo, ClusterVersion};
pub use self::error::{ElasticError, ErrorCause, ErrorDetails};
pub use self::field_caps::{FieldCapability, FieldCapsBody, FieldCapsParams, FieldCapsResponse};
pub use self::indexes::{
    CatIndexRow, CatIndicesParams, IndexMappings, IndexStats, IndexStatsEntry, MappingProperty,
    Mappings, MappingsBody, ResolveIndexResponse, ResolvedIndex, StatsResponse,
};
pub use self::multi_search::{MultiSearchHeader, MultiSearchItem, MultiSearchResponse};
pub use self::scroll::{ClearScrollBody, ClearScrollResponse, ScrollBody, ScrollParams};
pub use self::search_body::{SearchBody, SortParam, SourceParam, TrackTotalHits};
pub use self::search_params::SearchQueryParams;
pub use self::search_response::{
    CountResponse, Hit, HitsSection, SearchResponse, Shards, TotalHits,
};
use crate::error::{Result, SearchError};

/// Reads URL parameters into `T`. A repeated parameter's values are joined with commas (how
/// Elasticsearch reads repeated list parameters).
pub fn from_query_string<T: DeserializeOwned>(query_string: &str) -> Result<T> {
    let mut pairs = Map::new();
    for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
        match pairs.get_mut(key.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                pairs.insert(key.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    deserialize_naming_field(Value::Object(pairs))
}

/// Deserializes `value`; an error names the field it is about (`[size] ...`).
pub fn deserialize_naming_field<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        SearchError::InvalidRequest(if path == "." {
            inner.to_string()
        } else {
            format!("[{path}] {inner}")
        })
    })
}

/// URL parameters a model does not read: accepted when they are transport options
/// (`ignored`), refused by name otherwise.
pub fn refuse_unknown(unknown: &BTreeMap<String, Value>, ignored: &[&str]) -> Result<()> {
    match unknown.keys().find(|key| !ignored.contains(&key.as_str())) {
        Some(key) => Err(SearchError::InvalidRequest(format!(
            "request contains unrecognized parameter: [{key}]"
        ))),
        None => Ok(()),
    }
}

/// Transport, routing and output options clients send with any request; Hydrant has one
/// node, no shards and no replicas, and answers JSON.
pub const TRANSPORT_PARAMS: &[&str] = &[
    "pretty",
    "human",
    "error_trace",
    "filter_path",
    "timeout",
    "master_timeout",
];

/// A value given once or as a list (`"a"` or `["a", "b"]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(value) => vec![value],
            OneOrMany::Many(values) => values,
        }
    }
}

/// A URL parameter that must be a non-negative integer.
fn non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map(Some)
        .map_err(|_| de::Error::custom(format!("must be a non-negative integer, got `{text}`")))
}

/// A URL parameter that must be `true` or `false`.
fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map(Some)
        .map_err(|_| de::Error::custom(format!("must be true or false, got `{text}`")))
}

/// A comma-separated URL parameter.
fn comma_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(Some(text.split(',').map(str::to_string).collect()))
}

/// An integer number of seconds.
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(|_| {
        de::Error::custom(format!(
            "must be an integer number of seconds, got `{text}`"
        ))
    })
}

/// A body field that must be a non-negative integer.
fn non_negative_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    value
        .as_u64()
        .and_then(|number| usize::try_from(number).ok())
        .map(Some)
        .ok_or_else(|| de::Error::custom("must be a non-negative integer"))
}
