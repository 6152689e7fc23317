//! The JSON body of `_search`, `_count` and each search of an `_msearch`.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::non_negative_number;
use crate::error::{Result, SearchError};
use crate::sort::{MAX_SORT_KEYS, SortField};

/// A search body. The query stays JSON here: the query DSL translates it, with its own bounds.
#[derive(Debug, Default, Deserialize)]
pub struct SearchBody {
    pub query: Option<Value>,
    #[serde(default, deserialize_with = "non_negative_number")]
    pub from: Option<usize>,
    #[serde(default, deserialize_with = "non_negative_number")]
    pub size: Option<usize>,
    pub sort: Option<SortParam>,
    /// Score hits sorted by a field too.
    pub track_scores: Option<bool>,
    /// `null` is no `search_after`.
    #[serde(default, deserialize_with = "search_after")]
    pub search_after: Option<Vec<Value>>,
    pub aggs: Option<Value>,
    pub aggregations: Option<Value>,
    pub track_total_hits: Option<TrackTotalHits>,
    #[serde(rename = "_source")]
    pub source: Option<SourceParam>,
    /// Every other key: accepted if it changes nothing Hydrant returns.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// Body keys that change nothing Hydrant returns (scoring, explanations, highlighting and
/// versioning details); accepted so that clients which always send them work.
const IGNORED_BODY_KEYS: &[&str] = &[
    "stored_fields",
    "docvalue_fields",
    "highlight",
    "timeout",
    "version",
    "seq_no_primary_term",
    "explain",
    "profile",
    "min_score",
    "indices_boost",
    "script_fields",
    "fields",
];

impl SearchBody {
    /// Reads a body (empty: every default); unknown keys are refused by name.
    pub fn parse(body: &crate::http::RequestBody<'_>) -> Result<Self> {
        if body.is_empty() {
            return Ok(SearchBody::default());
        }
        let value: Value = body.parse_json().map_err(|error| {
            SearchError::InvalidRequest(format!("the search body is not JSON: {error}"))
        })?;
        Self::from_value(value)
    }

    /// Reads a body given as JSON.
    pub fn from_value(value: Value) -> Result<Self> {
        if !value.is_object() {
            return Err(SearchError::InvalidRequest(
                "the search body must be a JSON object".to_string(),
            ));
        }
        let body: SearchBody = super::deserialize_naming_field(value)?;
        if let Some(key) = body
            .unknown
            .keys()
            .find(|key| !IGNORED_BODY_KEYS.contains(&key.as_str()))
        {
            return Err(SearchError::InvalidRequest(format!(
                "unknown key [{key}] in the search body (Hydrant reads query, from, size, sort, \
                 search_after, aggs, track_total_hits and _source)"
            )));
        }
        Ok(body)
    }
}

fn search_after<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Value>>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Array(values) => Ok(Some(values)),
        other => Err(de::Error::custom(format!(
            "must be a list of sort values, got {other}"
        ))),
    }
}

/// `track_total_hits`: `true`, `false`, or a count (counted exactly here either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrackTotalHits {
    Enabled(bool),
    UpTo(u64),
}

impl TrackTotalHits {
    /// Whether `hits.total` is answered (and so every match counted).
    pub fn is_tracked(self) -> bool {
        self != TrackTotalHits::Enabled(false)
    }
}

/// `_source`: on or off, the fields to keep, or includes and excludes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceParam {
    Enabled(bool),
    Fields(Vec<String>),
    Filter {
        includes: Vec<String>,
        excludes: Vec<String>,
    },
}

impl<'de> Deserialize<'de> for SourceParam {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Filter {
            #[serde(default, alias = "include")]
            includes: Option<super::OneOrMany<String>>,
            #[serde(default, alias = "exclude")]
            excludes: Option<super::OneOrMany<String>>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Enabled(bool),
            Field(String),
            Fields(Vec<String>),
            Filter(Filter),
        }
        let value = Value::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(SourceParam::Enabled(true));
        }
        let repr = Repr::deserialize(&value).map_err(|_| {
            de::Error::custom(format!(
                "cannot read {value} (true, false, field names, or includes and excludes)"
            ))
        })?;
        Ok(match repr {
            Repr::Enabled(flag) => SourceParam::Enabled(flag),
            Repr::Field(fields) => {
                SourceParam::Fields(fields.split(',').map(str::to_string).collect())
            }
            Repr::Fields(fields) => SourceParam::Fields(fields),
            Repr::Filter(filter) => SourceParam::Filter {
                includes: filter
                    .includes
                    .map(super::OneOrMany::into_vec)
                    .unwrap_or_default(),
                excludes: filter
                    .excludes
                    .map(super::OneOrMany::into_vec)
                    .unwrap_or_default(),
            },
        })
    }
}

/// A body's `sort`: a field, `{field: order}`, `{field: {order, format, ...}}`, or a list of
/// them, as the core's sort fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SortParam {
    pub fields: Vec<SortField>,
    /// A key asked for `format: epoch_nanos_int` (Quickwit's datetime sort-value format).
    pub datetime_nanos: bool,
}

impl SortParam {
    /// Relevance, best first: Elasticsearch's order when a search gives none.
    pub fn relevance() -> Self {
        SortParam {
            fields: vec![SortField::Score],
            datetime_nanos: false,
        }
    }
}

impl<'de> Deserialize<'de> for SortParam {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        SortParam::from_json(&value).map_err(de::Error::custom)
    }
}

impl SortParam {
    /// `sort=field:desc,other`, the URL's form.
    pub fn from_url(sort: &str) -> Self {
        let fields = sort
            .split(',')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (field, order) = part.split_once(':').unwrap_or((part, ""));
                sort_field(field, order.eq_ignore_ascii_case("desc").then_some(true))
            })
            .collect();
        SortParam {
            fields,
            datetime_nanos: false,
        }
    }

    fn from_json(sort: &Value) -> std::result::Result<Self, String> {
        let entries: Vec<&Value> = match sort {
            Value::Array(entries) => entries.iter().collect(),
            other => vec![other],
        };
        let mut sort = SortParam::default();
        for entry in entries {
            let (field, descending) = match entry {
                Value::String(field) => (field.as_str(), None),
                Value::Object(map) if map.len() == 1 => {
                    let Some((field, spec)) = map.iter().next() else {
                        continue;
                    };
                    (field.as_str(), sort.read_spec(spec)?)
                }
                other => return Err(format!("cannot read {other}")),
            };
            sort.fields.push(sort_field(field, descending));
        }
        let keys = sort.fields.iter().filter(|field| field.is_key()).count();
        if keys > MAX_SORT_KEYS {
            return Err(format!("takes at most {MAX_SORT_KEYS} fields"));
        }
        Ok(sort)
    }

    /// One field's `order` (`"desc"`, or `{"order": ..., "format": ...}`).
    fn read_spec(&mut self, spec: &Value) -> std::result::Result<Option<bool>, String> {
        let order = match spec {
            Value::String(order) => Some(order.as_str()),
            Value::Object(options) => {
                match options.get("format").and_then(Value::as_str) {
                    None | Some("epoch_millis") => {}
                    Some("epoch_nanos_int") => self.datetime_nanos = true,
                    Some(format) => {
                        return Err(format!(
                            "format `{format}` is not supported (epoch_millis or epoch_nanos_int)"
                        ));
                    }
                }
                options.get("order").and_then(Value::as_str)
            }
            _ => None,
        };
        match order {
            None => Ok(None),
            Some(order) if order.eq_ignore_ascii_case("desc") => Ok(Some(true)),
            Some(order) if order.eq_ignore_ascii_case("asc") => Ok(Some(false)),
            Some(order) => Err(format!("order must be asc or desc, got `{order}`")),
        }
    }
}

/// One sort entry: `_doc` is Elasticsearch's document order (oldest first unless told),
/// `_shard_doc` the same with each hit's position as a sort value, `_score` relevance, and
/// fields ascending unless told.
fn sort_field(field: &str, descending: Option<bool>) -> SortField {
    match field {
        "_doc" => SortField::DocumentOrder {
            oldest_first: !descending.unwrap_or(false),
        },
        "_shard_doc" => SortField::Position,
        "_score" => SortField::Score,
        name => SortField::Field {
            name: name.to_string(),
            descending: descending.unwrap_or(false),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sort(value: Value) -> std::result::Result<SortParam, String> {
        SortParam::from_json(&value)
    }

    #[test]
    fn sorts_in_every_form() {
        let field = |name: &str, descending| SortField::Field {
            name: name.to_string(),
            descending,
        };
        assert_eq!(
            sort(json!([{"ts": {"order": "desc"}}, "_doc"]))
                .unwrap()
                .fields,
            [
                field("ts", true),
                SortField::DocumentOrder { oldest_first: true }
            ]
        );
        assert_eq!(
            sort(json!({"_score": "asc"})).unwrap().fields,
            [SortField::Score]
        );
        let nanos = sort(json!([{"ts": {"format": "epoch_nanos_int"}}, "_shard_doc"])).unwrap();
        assert_eq!(nanos.fields, [field("ts", false), SortField::Position]);
        assert!(nanos.datetime_nanos);
        assert!(sort(json!({"ts": {"format": "yyyy"}})).is_err());
        assert_eq!(
            SortParam::from_url("ts:desc,id").fields,
            [field("ts", true), field("id", false)]
        );
        assert!(sort(json!({"ts": "sideways"})).is_err());
        assert!(sort(json!(["a", "b", "c"])).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let error = SearchBody::from_value(json!({"collapse": {}}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("[collapse]"), "{error}");
        let error = SearchBody::from_value(json!({"size": -1}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[size] must be a non-negative integer"),
            "{error}"
        );
        let error = SearchBody::from_value(json!({"sort": {"ts": "up"}}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[sort] order must be asc or desc"),
            "{error}"
        );
        let body = SearchBody::from_value(json!({"highlight": {}, "search_after": null})).unwrap();
        assert_eq!(body.search_after, None);
    }
}
