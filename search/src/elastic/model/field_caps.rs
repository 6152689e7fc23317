//! `_field_caps`: each field of the selected indexes with its types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{OneOrMany, comma_list, seconds};

/// The URL parameters: field globs, and Quickwit's time range.
#[derive(Debug, Default, Deserialize)]
pub struct FieldCapsParams {
    #[serde(default, deserialize_with = "comma_list")]
    pub fields: Option<Vec<String>>,
    #[serde(default, deserialize_with = "seconds")]
    pub start_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "seconds")]
    pub end_timestamp: Option<i64>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body: an index filter (only splits with a matching document count) and field globs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCapsBody {
    pub index_filter: Option<Value>,
    pub fields: Option<OneOrMany<String>>,
    /// Accepted; no runtime fields here.
    pub runtime_mappings: Option<Value>,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct FieldCapsResponse {
    /// The indexes holding a field asked for, as Quickwit lists them.
    pub indices: Vec<String>,
    /// By field path, then by Elasticsearch type.
    pub fields: BTreeMap<String, BTreeMap<String, FieldCapability>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FieldCapability {
    #[serde(rename = "type")]
    pub kind: String,
    pub metadata_field: bool,
    pub searchable: bool,
    pub aggregatable: bool,
    /// Only when some index of the answer lacks the field with this type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indices: Option<Vec<String>>,
}
