//! The routes about indexes rather than documents: `_cat/indices`, `_resolve/index`,
//! `_stats`, `_mapping` and `_cluster/health`.

use std::collections::BTreeMap;

use hydrant_index::doc_mapper::{FieldKind, ResolvedField};
use hydrant_metastore::IndexMetadata;
use serde_json::{Map, Value};

use super::model::{
    CatIndexRow, CatIndicesParams, ClusterHealth, IndexMappings, IndexStatsEntry, MappingProperty,
    Mappings, ResolveIndexResponse, ResolvedIndex, Shards, StatsResponse, TRANSPORT_PARAMS,
    from_query_string, refuse_unknown,
};
use crate::error::{Result, SearchError};
use crate::index_pattern::resolve_indexes;
use crate::searcher::{FieldsRequest, SearchService, StoredType};

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
) -> Result<Vec<Value>> {
    let url: CatIndicesParams = from_query_string(query_string)?;
    refuse_unknown(
        &url.unknown,
        &[
            TRANSPORT_PARAMS,
            &["bytes", "v", "s", "expand_wildcards", "pri"],
        ]
        .concat(),
    )?;
    if url.format.as_deref().is_some_and(|format| format != "json") {
        return Err(SearchError::InvalidRequest(
            "_cat/indices answers in JSON only: pass format=json".to_string(),
        ));
    }
    // Every index is green: its splits are on S3, with S3's durability.
    if url.health.is_some_and(|health| health != "green") {
        return Ok(Vec::new());
    }
    let indexes = resolve_indexes(service, pattern).await?;
    Ok(indexes
        .iter()
        .map(|index| {
            let row = serde_json::to_value(cat_row(index)).expect("a row serializes");
            match (&url.h, row) {
                (Some(columns), Value::Object(mut row)) => {
                    let picked: Map<String, Value> = columns
                        .iter()
                        .filter_map(|column| Some((column.clone(), row.remove(column)?)))
                        .collect();
                    Value::Object(picked)
                }
                (_, row) => row,
            }
        })
        .collect())
}

fn cat_row(index: &IndexMetadata) -> CatIndexRow {
    let sizes = sizes(index);
    let store = human_bytes(sizes.store_bytes);
    CatIndexRow {
        health: "green",
        status: "open",
        index: index.index_id().to_string(),
        uuid: index.index_id().to_string(),
        pri: "1",
        rep: "1",
        docs_count: sizes.docs.to_string(),
        docs_deleted: "0",
        store_size: store.clone(),
        pri_store_size: store,
        dataset_size: human_bytes(sizes.dataset_bytes),
    }
}

/// `GET _resolve/index/{pattern}`.
pub(super) async fn resolve_index(
    service: &SearchService,
    pattern: &str,
) -> Result<ResolveIndexResponse> {
    let indexes = match resolve_indexes(service, pattern).await {
        Ok(indexes) => indexes,
        // Resolving reports what exists; a missing name is simply not there.
        Err(SearchError::IndexNotFound(_)) => Vec::new(),
        Err(error) => return Err(error),
    };
    Ok(ResolveIndexResponse {
        indices: indexes
            .iter()
            .map(|index| ResolvedIndex {
                name: index.index_id().to_string(),
                attributes: vec!["open"],
            })
            .collect(),
        aliases: Vec::new(),
        data_streams: Vec::new(),
    })
}

/// `GET [{pattern}/]_stats`: documents, bytes and segments (published splits) per index and
/// in all.
pub(super) async fn stats(service: &SearchService, pattern: &str) -> Result<StatsResponse> {
    let indexes = resolve_indexes(service, pattern).await?;
    let mut indices = BTreeMap::new();
    let (mut all_docs, mut all_bytes, mut all_splits) = (0, 0, 0);
    for index in &indexes {
        let sizes = sizes(index);
        let splits = index.published_splits().count();
        all_docs += sizes.docs;
        all_bytes += sizes.store_bytes;
        all_splits += splits;
        indices.insert(
            index.index_id().to_string(),
            IndexStatsEntry::new(sizes.docs, sizes.store_bytes, splits),
        );
    }
    Ok(StatsResponse {
        shards: Shards::of(indexes.len(), 0),
        all: IndexStatsEntry::new(all_docs, all_bytes, all_splits),
        indices,
    })
}

/// `GET [{pattern}/]_mapping[s]`: each index's fields as Elasticsearch mappings: the mapped
/// fields, and in dynamic mode the paths its splits hold.
pub(super) async fn mappings(service: &SearchService, pattern: &str) -> Result<Mappings> {
    let indexes = resolve_indexes(service, pattern).await?;
    let mut answer = Mappings::new();
    for index in &indexes {
        let index_id = index.index_id();
        let doc_mapper = service.doc_mapper(index_id).await?;
        let mut properties = BTreeMap::new();
        for field in doc_mapper.fields() {
            if !field.path.starts_with('_') {
                insert_property(&mut properties, &field.path, mapped_type(&field.kind));
            }
        }
        let dynamic = doc_mapper.dynamic_field().is_some();
        if dynamic {
            for field in service
                .list_fields(index_id, &FieldsRequest::default())
                .await?
            {
                let mapped = matches!(
                    doc_mapper.resolve_field(&field.name),
                    Some(ResolvedField::Mapped(_))
                );
                if !mapped {
                    insert_property(&mut properties, &field.name, stored_type(field.stored_type));
                }
            }
        }
        answer.insert(
            index_id.to_string(),
            IndexMappings::new(dynamic, properties),
        );
    }
    Ok(answer)
}

/// A dynamic field's Elasticsearch type, from what its splits store.
fn stored_type(stored_type: StoredType) -> &'static str {
    match stored_type {
        StoredType::Str => "text",
        StoredType::U64 | StoredType::I64 => "long",
        StoredType::F64 => "double",
        StoredType::Bool => "boolean",
        StoredType::Date => "date_nanos",
        StoredType::IpAddr => "ip",
        StoredType::Bytes => "binary",
    }
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
fn insert_property(
    properties: &mut BTreeMap<String, MappingProperty>,
    path: &str,
    es_type: &'static str,
) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(rest) = rest else {
        properties
            .entry(head.to_string())
            .or_insert_with(|| MappingProperty {
                kind: Some(es_type),
                properties: None,
            });
        return;
    };
    let entry = properties
        .entry(head.to_string())
        .or_insert_with(|| MappingProperty {
            kind: None,
            properties: Some(BTreeMap::new()),
        });
    if entry.properties.is_none() {
        // A path below a leaf (a json field's keys): the leaf becomes an object.
        *entry = MappingProperty {
            kind: Some("object"),
            properties: Some(BTreeMap::new()),
        };
    }
    if let Some(children) = &mut entry.properties {
        insert_property(children, rest, es_type);
    }
}

/// `GET _cluster/health`: one node, always green while it answers (there are no replicas to
/// lose); the numbers clients and dashboards read.
pub(super) async fn cluster_health(service: &SearchService) -> Result<ClusterHealth> {
    let indexes = service.metastore().list_indexes().await?;
    let splits: usize = indexes
        .iter()
        .map(|index| index.published_splits().count())
        .sum();
    Ok(ClusterHealth {
        cluster_name: "hydrant",
        status: "green",
        timed_out: false,
        number_of_nodes: 1,
        number_of_data_nodes: 1,
        active_primary_shards: splits,
        active_shards: splits,
        relocating_shards: 0,
        initializing_shards: 0,
        unassigned_shards: 0,
        delayed_unassigned_shards: 0,
        number_of_pending_tasks: 0,
        number_of_in_flight_fetch: 0,
        task_max_waiting_in_queue_millis: 0,
        active_shards_percent_as_number: 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_cat_writes_them() {
        assert_eq!(human_bytes(228_147), "222.8kb");
        assert_eq!(human_bytes(12), "12b");
    }
}
