//! `GET|POST [/{pattern}]/_field_caps`: each field of the selected indexes with its
//! Elasticsearch types, whether queries find it (`searchable`) and whether it sorts and
//! aggregates (`aggregatable`), read from the splits (so dynamic fields are listed too).
//!
//! A path may have several types (a dynamic field holding `5` in one split and `-5.5` in
//! another is `long` and `double`); text is both `text` and `keyword`, as Quickwit lists it.
//! A type entry names its `indices` only when some index of the answer lacks it; the answer's
//! `indices` are those holding a field asked for, as Quickwit lists them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::glob_matches;
use super::indexes::resolve_indexes;
use super::query_dsl::query_from_dsl;
use crate::error::{Result, SearchError};
use crate::searcher::{FieldsRequest, SearchService, StoredType};

/// Most field patterns one request may give.
const MAX_FIELD_PATTERNS: usize = 1_000;

#[derive(Default)]
struct Capability {
    searchable: bool,
    aggregatable: bool,
    indices: Vec<String>,
}

/// Answers `_field_caps` over the indexes `pattern` selects.
pub(super) async fn field_caps(
    service: &SearchService,
    pattern: &str,
    query_string: &str,
    body: &[u8],
) -> Result<Value> {
    let (mut field_patterns, mut request) = parameters(query_string)?;
    let (filter, body_fields) = read_body(body)?;
    request.filter = filter;
    if !body_fields.is_empty() {
        field_patterns.retain(|pattern| pattern != "*");
        field_patterns.extend(body_fields);
    }
    let indexes = resolve_indexes(service, pattern).await?;
    let mut fields: BTreeMap<String, BTreeMap<&'static str, Capability>> = BTreeMap::new();
    for index in &indexes {
        let index_id = index.index_id();
        for field in service.list_fields(index_id, &request).await? {
            if !field_patterns
                .iter()
                .any(|pattern| glob_matches(pattern, &field.name))
            {
                continue;
            }
            let types = fields.entry(field.name.clone()).or_default();
            for es_type in es_types(field.stored_type) {
                let capability = types.entry(es_type).or_default();
                capability.searchable |= field.indexed;
                capability.aggregatable |= field.fast;
                if capability.indices.last().map(String::as_str) != Some(index_id) {
                    capability.indices.push(index_id.to_string());
                }
            }
        }
    }
    // As Quickwit answers: the indexes that hold a field asked for, not every index searched.
    let index_ids: Vec<&str> = indexes
        .iter()
        .map(|index| index.index_id())
        .filter(|index_id| {
            fields.values().any(|types| {
                types
                    .values()
                    .any(|capability| capability.indices.iter().any(|id| id == index_id))
            })
        })
        .collect();
    let fields: Map<String, Value> = fields
        .into_iter()
        .map(|(name, types)| {
            let types: Map<String, Value> = types
                .into_iter()
                .map(|(es_type, capability)| {
                    let mut entry = json!({
                        "type": es_type,
                        "metadata_field": false,
                        "searchable": capability.searchable,
                        "aggregatable": capability.aggregatable,
                    });
                    if capability.indices.len() < index_ids.len() {
                        entry["indices"] = json!(capability.indices);
                    }
                    (es_type.to_string(), entry)
                })
                .collect();
            (name, Value::Object(types))
        })
        .collect();
    Ok(json!({"indices": index_ids, "fields": fields}))
}

/// The Elasticsearch types a stored type answers to.
fn es_types(stored_type: StoredType) -> &'static [&'static str] {
    match stored_type {
        StoredType::Str => &["keyword", "text"],
        StoredType::U64 | StoredType::I64 => &["long"],
        StoredType::F64 => &["double"],
        StoredType::Bool => &["boolean"],
        StoredType::Date => &["date_nanos"],
        StoredType::IpAddr => &["ip"],
        StoredType::Bytes => &["binary"],
    }
}

/// `fields` (comma-separated globs, every field by default) and Quickwit's time range.
fn parameters(query_string: &str) -> Result<(Vec<String>, FieldsRequest)> {
    let mut patterns = Vec::new();
    let mut request = FieldsRequest::default();
    for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
        let timestamp = || {
            value.parse::<i64>().map_err(|_| {
                SearchError::InvalidRequest(format!(
                    "[{key}] must be an integer number of seconds, got `{value}`"
                ))
            })
        };
        match key.as_ref() {
            "fields" => patterns.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|field| !field.is_empty())
                    .map(str::to_string),
            ),
            "start_timestamp" => request.start_timestamp = Some(timestamp()?),
            "end_timestamp" => request.end_timestamp = Some(timestamp()?),
            "allow_no_indices"
            | "ignore_unavailable"
            | "expand_wildcards"
            | "include_unmapped"
            | "filters"
            | "types"
            | "include_empty_fields"
            | "pretty"
            | "human"
            | "error_trace"
            | "filter_path" => {}
            other => {
                return Err(SearchError::InvalidRequest(format!(
                    "request contains unrecognized parameter: [{other}]"
                )));
            }
        }
    }
    if patterns.len() > MAX_FIELD_PATTERNS {
        return Err(SearchError::InvalidRequest(format!(
            "[fields] lists at most {MAX_FIELD_PATTERNS} patterns"
        )));
    }
    if patterns.is_empty() {
        patterns.push("*".to_string());
    }
    Ok((patterns, request))
}

/// The body's `index_filter` (only splits with a matching document count) and `fields`.
fn read_body(body: &[u8]) -> Result<(Option<crate::query::QueryAst>, Vec<String>)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, Vec::new()));
    }
    let body: Value = serde_json::from_slice(body).map_err(|error| {
        SearchError::InvalidRequest(format!("the _field_caps body is not JSON: {error}"))
    })?;
    let Value::Object(mut body) = body else {
        return Err(SearchError::InvalidRequest(
            "the _field_caps body must be a JSON object".to_string(),
        ));
    };
    let filter = body.remove("index_filter");
    body.remove("runtime_mappings");
    let fields = match body.remove("fields") {
        None => Vec::new(),
        Some(Value::String(fields)) => vec![fields],
        Some(Value::Array(fields)) => fields
            .iter()
            .map(|field| field.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| SearchError::InvalidRequest("[fields] must list strings".to_string()))?,
        Some(other) => {
            return Err(SearchError::InvalidRequest(format!(
                "[fields] must list strings, got {other}"
            )));
        }
    };
    if fields.len() > MAX_FIELD_PATTERNS {
        return Err(SearchError::InvalidRequest(format!(
            "[fields] lists at most {MAX_FIELD_PATTERNS} patterns"
        )));
    }
    if let Some(key) = body.keys().next() {
        return Err(SearchError::InvalidRequest(format!(
            "unknown key [{key}] in the _field_caps body (Hydrant reads index_filter)"
        )));
    }
    let filter = match filter {
        None => None,
        Some(Value::Object(query)) if query.is_empty() => {
            return Err(SearchError::InvalidRequest(
                "[index_filter] is empty: give a query, or leave index_filter out".to_string(),
            ));
        }
        Some(query) => Some(query_from_dsl(&query)?),
    };
    Ok((filter, fields))
}
