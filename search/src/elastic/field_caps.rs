//! `GET|POST [/{pattern}]/_field_caps`: each field of the selected indexes with its
//! Elasticsearch types, whether queries find it (`searchable`) and whether it sorts and
//! aggregates (`aggregatable`), read from the splits (so dynamic fields are listed too).
//!
//! A path may have several types (a dynamic field holding `5` in one split and `-5.5` in
//! another is `long` and `double`); text is both `text` and `keyword`, as Quickwit lists it.
//! A type entry names its `indices` only when some index of the answer lacks it; the answer's
//! `indices` are those holding a field asked for, as Quickwit lists them.

use std::collections::BTreeMap;

use hydrant_index::template::glob_matches;

use super::model::{
    FieldCapability, FieldCapsBody, FieldCapsParams, FieldCapsResponse, TRANSPORT_PARAMS,
    from_query_string, refuse_unknown,
};
use super::query_dsl::query_from_dsl;
use crate::error::{Result, SearchError};
use crate::http::RequestBody;
use crate::index_pattern::resolve_indexes;
use crate::query::QueryAst;
use crate::searcher::{FieldsRequest, SearchService, StoredType};

/// Most field patterns one request may give.
const MAX_FIELD_PATTERNS: usize = 1_000;

/// URL parameters of `_field_caps` with no effect here.
const IGNORED_PARAMS: &[&str] = &[
    "allow_no_indices",
    "ignore_unavailable",
    "expand_wildcards",
    "include_unmapped",
    "filters",
    "types",
    "include_empty_fields",
];

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
    body: &RequestBody<'_>,
) -> Result<FieldCapsResponse> {
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
    let indices: Vec<String> = indexes
        .iter()
        .map(|index| index.index_id())
        .filter(|index_id| {
            fields.values().any(|types| {
                types
                    .values()
                    .any(|capability| capability.indices.iter().any(|id| id == index_id))
            })
        })
        .map(str::to_string)
        .collect();
    let fields = fields
        .into_iter()
        .map(|(name, types)| {
            let types = types
                .into_iter()
                .map(|(es_type, capability)| {
                    let entry = FieldCapability {
                        kind: es_type.to_string(),
                        metadata_field: false,
                        searchable: capability.searchable,
                        aggregatable: capability.aggregatable,
                        indices: (capability.indices.len() < indices.len())
                            .then_some(capability.indices),
                    };
                    (es_type.to_string(), entry)
                })
                .collect();
            (name, types)
        })
        .collect();
    Ok(FieldCapsResponse { indices, fields })
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
    let url: FieldCapsParams = from_query_string(query_string)?;
    refuse_unknown(&url.unknown, &[TRANSPORT_PARAMS, IGNORED_PARAMS].concat())?;
    let mut patterns: Vec<String> = url
        .fields
        .unwrap_or_default()
        .into_iter()
        .map(|field| field.trim().to_string())
        .filter(|field| !field.is_empty())
        .collect();
    check_pattern_count(patterns.len())?;
    if patterns.is_empty() {
        patterns.push("*".to_string());
    }
    let request = FieldsRequest {
        start_timestamp: url.start_timestamp,
        end_timestamp: url.end_timestamp,
        filter: None,
    };
    Ok((patterns, request))
}

fn check_pattern_count(count: usize) -> Result<()> {
    if count > MAX_FIELD_PATTERNS {
        return Err(SearchError::InvalidRequest(format!(
            "[fields] lists at most {MAX_FIELD_PATTERNS} patterns"
        )));
    }
    Ok(())
}

/// The body's `index_filter` (only splits with a matching document count) and `fields`.
fn read_body(body: &RequestBody<'_>) -> Result<(Option<QueryAst>, Vec<String>)> {
    if body.is_empty() {
        return Ok((None, Vec::new()));
    }
    let body: FieldCapsBody = body.parse_json().map_err(|error| {
        SearchError::InvalidRequest(format!(
            "the _field_caps body must be a JSON object of index_filter and fields: {error}"
        ))
    })?;
    let fields = body
        .fields
        .map(|fields| fields.into_vec())
        .unwrap_or_default();
    check_pattern_count(fields.len())?;
    let filter = match body.index_filter {
        None => None,
        Some(query) if query.as_object().is_some_and(|query| query.is_empty()) => {
            return Err(SearchError::InvalidRequest(
                "[index_filter] is empty: give a query, or leave index_filter out".to_string(),
            ));
        }
        Some(query) => Some(query_from_dsl(&query)?),
    };
    Ok((filter, fields))
}
