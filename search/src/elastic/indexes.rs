//! Index patterns and the routes about indexes rather than documents: `_cat/indices`,
//! `_resolve/index` and `_stats`.
//!
//! A pattern is Elasticsearch's: a comma-separated list of index ids and `*` globs, each
//! optionally `-excluded` from what the entries before it matched.
//!
//! ```
//! use hydrant_search::elastic::IndexPattern;
//!
//! let pattern = IndexPattern::parse("logs-*,-logs-debug").unwrap();
//! assert!(pattern.matches("logs-web"));
//! assert!(!pattern.matches("logs-debug"));
//! ```

use hydrant_metastore::IndexMetadata;
use serde_json::{Map, Value, json};

use super::glob_matches;
use crate::error::{Result, SearchError};
use crate::searcher::{SearchService, StoredType};
use hydrant_index::doc_mapper::FieldKind;

/// Most entries a pattern may list.
const MAX_PATTERN_ENTRIES: usize = 100;

/// A parsed index pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexPattern {
    /// In order: (excluded, glob).
    entries: Vec<(bool, String)>,
}

impl IndexPattern {
    /// Parses `a,b*,-c`; `_all` and an empty pattern mean every index.
    pub fn parse(pattern: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for entry in pattern.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (excluded, glob) = match entry.strip_prefix('-') {
                Some(glob) => (true, glob),
                None => (false, entry),
            };
            let glob = if glob == "_all" { "*" } else { glob };
            entries.push((excluded, glob.to_string()));
        }
        if entries.len() > MAX_PATTERN_ENTRIES {
            return Err(SearchError::InvalidRequest(format!(
                "an index pattern lists at most {MAX_PATTERN_ENTRIES} entries"
            )));
        }
        if entries.iter().all(|(excluded, _)| *excluded) {
            entries.insert(0, (false, "*".to_string()));
        }
        Ok(IndexPattern { entries })
    }

    /// Whether `index_id` is selected: the last entry that matches it decides.
    pub fn matches(&self, index_id: &str) -> bool {
        self.entries
            .iter()
            .rev()
            .find(|(_, glob)| glob_matches(glob, index_id))
            .is_some_and(|(excluded, _)| !excluded)
    }

    /// The indexes of `indexes` the pattern selects, in id order.
    pub fn select(&self, mut indexes: Vec<IndexMetadata>) -> Vec<IndexMetadata> {
        indexes.retain(|index| self.matches(index.index_id()));
        indexes.sort_by(|left, right| left.index_id().cmp(right.index_id()));
        indexes
    }

    /// The one index a pattern of one plain name selects.
    pub(super) fn single_name(&self) -> Option<&str> {
        match self.entries.as_slice() {
            [(false, name)] if !name.contains('*') => Some(name),
            _ => None,
        }
    }

    /// Index ids named without a glob, which must exist.
    pub(super) fn concrete_names(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(excluded, glob)| !excluded && !glob.contains('*'))
            .map(|(_, glob)| glob.as_str())
    }
}

/// The indexes `pattern` selects, in id order. A concrete name that does not exist is an
/// error (404), as in Elasticsearch; a glob may select nothing.
pub async fn resolve_indexes(service: &SearchService, pattern: &str) -> Result<Vec<IndexMetadata>> {
    let pattern = IndexPattern::parse(pattern)?;
    let indexes = service.metastore().list_indexes().await?;
    for name in pattern.concrete_names() {
        if !indexes.iter().any(|index| index.index_id() == name) {
            return Err(SearchError::IndexNotFound(name.to_string()));
        }
    }
    Ok(pattern.select(indexes))
}

struct IndexSizes {
    docs: u64,
    store_bytes: u64,
    dataset_bytes: u64,
}

fn sizes(index: &IndexMetadata) -> IndexSizes {
    let splits: Vec<_> = index.published_splits().collect();
    IndexSizes {
        docs: index.num_published_docs(),
        store_bytes: splits.iter().map(|split| split.split_size_bytes).sum(),
        dataset_bytes: splits
            .iter()
            .map(|split| split.uncompressed_docs_size_bytes)
            .sum(),
    }
}

/// Bytes as `_cat` writes them: `222.8kb`, `1.2mb`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["b", "kb", "mb", "gb", "tb"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}b")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// `GET _cat/indices[/{pattern}]?format=json[&h=columns][&health=green]`: one row per index,
/// every value a string, as `_cat` gives them.
pub(super) async fn cat_indices(
    service: &SearchService,
    pattern: &str,
    query_string: &str,
) -> Result<Value> {
    let mut columns: Option<Vec<String>> = None;
    let mut health = None;
    for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
        match key.as_ref() {
            "format" if value != "json" => {
                return Err(SearchError::InvalidRequest(
                    "_cat/indices answers in JSON only: pass format=json".to_string(),
                ));
            }
            "h" => columns = Some(value.split(',').map(str::to_string).collect()),
            "health" => health = Some(value.into_owned()),
            "format" | "bytes" | "v" | "s" | "expand_wildcards" | "pretty" | "pri" => {}
            other => {
                return Err(SearchError::InvalidRequest(format!(
                    "request contains unrecognized parameter: [{other}]"
                )));
            }
        }
    }
    // Every index is green: its splits are on S3, with S3's durability.
    if health.is_some_and(|health| health != "green") {
        return Ok(Value::Array(Vec::new()));
    }
    let indexes = resolve_indexes(service, pattern).await?;
    let rows = indexes
        .iter()
        .map(|index| {
            let sizes = sizes(index);
            let store = human_bytes(sizes.store_bytes);
            let row = json!({
                "health": "green",
                "status": "open",
                "index": index.index_id(),
                "uuid": index.index_id(),
                "pri": "1",
                "rep": "1",
                "docs.count": sizes.docs.to_string(),
                "docs.deleted": "0",
                "store.size": store,
                "pri.store.size": store,
                "dataset.size": human_bytes(sizes.dataset_bytes),
            });
            match &columns {
                None => row,
                Some(columns) => {
                    let mut picked = Map::new();
                    for column in columns {
                        if let Some(value) = row.get(column) {
                            picked.insert(column.clone(), value.clone());
                        }
                    }
                    Value::Object(picked)
                }
            }
        })
        .collect();
    Ok(Value::Array(rows))
}

/// `GET _resolve/index/{pattern}`.
pub(super) async fn resolve_index(service: &SearchService, pattern: &str) -> Result<Value> {
    let indexes = match resolve_indexes(service, pattern).await {
        Ok(indexes) => indexes,
        // Resolving reports what exists; a missing name is simply not there.
        Err(SearchError::IndexNotFound(_)) => Vec::new(),
        Err(error) => return Err(error),
    };
    let indices: Vec<Value> = indexes
        .iter()
        .map(|index| json!({"name": index.index_id(), "attributes": ["open"]}))
        .collect();
    Ok(json!({"indices": indices, "aliases": [], "data_streams": []}))
}

/// `GET [{pattern}/]_stats`: documents, bytes and segments (published splits) per index and
/// in all.
pub(super) async fn stats(service: &SearchService, pattern: &str) -> Result<Value> {
    let indexes = resolve_indexes(service, pattern).await?;
    let entry = |docs: u64, bytes: u64, splits: usize| {
        let part = json!({
            "docs": {"count": docs, "deleted": 0},
            "store": {"size_in_bytes": bytes},
            "segments": {"count": splits},
        });
        json!({"primaries": part, "total": part})
    };
    let mut per_index = Map::new();
    let (mut all_docs, mut all_bytes, mut all_splits) = (0, 0, 0);
    for index in &indexes {
        let sizes = sizes(index);
        let splits = index.published_splits().count();
        all_docs += sizes.docs;
        all_bytes += sizes.store_bytes;
        all_splits += splits;
        per_index.insert(
            index.index_id().to_string(),
            entry(sizes.docs, sizes.store_bytes, splits),
        );
    }
    let shards = indexes.len();
    Ok(json!({
        "_shards": {"total": shards, "successful": shards, "failed": 0},
        "_all": entry(all_docs, all_bytes, all_splits),
        "indices": per_index,
    }))
}

/// `GET [{pattern}/]_mapping[s]`: each index's fields as Elasticsearch mappings: the mapped
/// fields, and in dynamic mode the paths its splits hold.
pub(super) async fn mappings(service: &SearchService, pattern: &str) -> Result<Value> {
    let indexes = resolve_indexes(service, pattern).await?;
    let mut answer = Map::new();
    for index in &indexes {
        let index_id = index.index_id();
        let doc_mapper = service.doc_mapper(index_id).await?;
        let mut properties = Map::new();
        for field in doc_mapper.fields() {
            if field.path.starts_with('_') {
                continue;
            }
            insert_property(&mut properties, &field.path, mapped_type(&field.kind));
        }
        if doc_mapper.dynamic_field().is_some() {
            let request = crate::searcher::FieldsRequest::default();
            for field in service.list_fields(index_id, &request).await? {
                if doc_mapper
                    .resolve_field(&field.name)
                    .is_some_and(|resolved| {
                        matches!(
                            resolved,
                            hydrant_index::doc_mapper::ResolvedField::Mapped(_)
                        )
                    })
                {
                    continue;
                }
                let es_type = match field.stored_type {
                    StoredType::Str => "text",
                    StoredType::U64 | StoredType::I64 => "long",
                    StoredType::F64 => "double",
                    StoredType::Bool => "boolean",
                    StoredType::Date => "date_nanos",
                    StoredType::IpAddr => "ip",
                    StoredType::Bytes => "binary",
                };
                insert_property(&mut properties, &field.name, es_type);
            }
        }
        let dynamic = doc_mapper.dynamic_field().is_some();
        answer.insert(
            index_id.to_string(),
            json!({"mappings": {"dynamic": dynamic, "properties": properties}}),
        );
    }
    Ok(Value::Object(answer))
}

/// A mapped field's Elasticsearch type.
fn mapped_type(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text { tokenizer, .. } if tokenizer == "raw" => "keyword",
        FieldKind::Text { .. } => "text",
        FieldKind::U64 { .. } | FieldKind::I64 { .. } => "long",
        FieldKind::F64 { .. } => "double",
        FieldKind::Bool { .. } => "boolean",
        FieldKind::Datetime { .. } => "date_nanos",
        FieldKind::Ip { .. } => "ip",
        FieldKind::Bytes { .. } => "binary",
        FieldKind::Json { .. } => "object",
    }
}

/// Puts `{"type": es_type}` at a dotted path of nested `properties`; the first type a path
/// gets stays.
fn insert_property(properties: &mut Map<String, Value>, path: &str, es_type: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    match rest {
        None => {
            properties
                .entry(head.to_string())
                .or_insert_with(|| json!({"type": es_type}));
        }
        Some(rest) => {
            let entry = properties
                .entry(head.to_string())
                .or_insert_with(|| json!({"properties": {}}));
            if entry.get("properties").is_none() {
                // A path below a leaf (a json field's keys): the leaf becomes an object.
                *entry = json!({"type": "object", "properties": {}});
            }
            if let Some(Value::Object(children)) = entry.get_mut("properties") {
                insert_property(children, rest, es_type);
            }
        }
    }
}

/// `GET _cluster/health`: one node, always green while it answers (there are no replicas to
/// lose); the numbers clients and dashboards read.
pub(super) async fn cluster_health(service: &SearchService) -> Result<Value> {
    let indexes = service.metastore().list_indexes().await?;
    let splits: usize = indexes
        .iter()
        .map(|index| index.published_splits().count())
        .sum();
    Ok(json!({
        "cluster_name": "hydrant",
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": splits,
        "active_shards": splits,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_include_then_exclude() {
        let pattern = IndexPattern::parse("a*,-ab*,abc").unwrap();
        assert!(pattern.matches("a"));
        assert!(!pattern.matches("abd"));
        assert!(pattern.matches("abc"));
        assert!(!pattern.matches("b"));
        assert!(IndexPattern::parse("-x").unwrap().matches("y"));
        assert!(IndexPattern::parse("_all").unwrap().matches("y"));
        assert_eq!(human_bytes(228_147), "222.8kb");
        assert_eq!(human_bytes(12), "12b");
    }
}
