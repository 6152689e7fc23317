//! The fields an index's splits hold, with their types as tantivy stored them: the mapped
//! fields and every path the dynamic (or a json) field took, which only the splits know.
//! This answers Elasticsearch's `_field_caps`, which field pickers (Grafana's) call.
//!
//! A split never changes, so its field list is read once (its term dictionaries' json paths
//! and its fast-field columns) and kept by split id.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;
use hydrant_index::doc_mapper::{
    DOC_LENGTH_FIELD_NAME, DYNAMIC_FIELD_NAME, FIELD_PRESENCE_FIELD_NAME, SOURCE_FIELD_NAME,
};
use quick_cache::sync::Cache;
use tantivy::collector::Count;
use tantivy::schema::Type;

use super::SearchService;
use super::params::SearchParams;
use super::plan::LeafSplit;
use super::plan::{CompiledRequest, splits_to_search};
use crate::cost::ReadCounter;
use crate::error::{Result, SearchError};
use crate::query::QueryAst;

/// Splits whose field lists are kept.
pub(crate) const FIELD_LIST_CACHE_SPLITS: usize = 4096;

/// A field's type as stored, one entry per type a path has (a dynamic path may have several).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoredType {
    Str,
    U64,
    I64,
    F64,
    Bool,
    Date,
    IpAddr,
    Bytes,
}

/// One field (path and type) of some splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// The path a query names it by.
    pub name: String,
    pub stored_type: StoredType,
    /// In the inverted index: queries find it.
    pub indexed: bool,
    /// In the columnar store: it sorts and aggregates.
    pub fast: bool,
}

/// Which splits to list the fields of.
#[derive(Clone, Debug, Default)]
pub struct FieldsRequest {
    /// Unix seconds, as in [`SearchParams`]: splits outside the range are left out.
    pub start_timestamp: Option<i64>,
    pub end_timestamp: Option<i64>,
    /// Only splits with a document matching this query.
    pub filter: Option<QueryAst>,
}

/// Split id to its fields.
pub(crate) type FieldListCache = Cache<String, Arc<Vec<FieldInfo>>>;

impl SearchService {
    /// The fields of `index_id`'s splits that `request` selects, merged, by name then type.
    pub async fn list_fields(
        &self,
        index_id: &str,
        request: &FieldsRequest,
    ) -> Result<Vec<FieldInfo>> {
        let mut search = SearchParams::match_all(0);
        search.start_timestamp = request.start_timestamp;
        search.end_timestamp = request.end_timestamp;
        if let Some(filter) = &request.filter {
            search.query = filter.clone();
        }
        let metadata = self.metastores.get(index_id).await?;
        let doc_mapper = self.doc_mappers.get(&metadata)?;
        let compiled = CompiledRequest::compile(index_id, doc_mapper, &search)?;
        let (splits, _) = splits_to_search(&metadata, &search, &compiled);
        let compiled =
            compiled.with_older_mappings(&metadata, &self.doc_mappers, &search, &splits)?;
        let reads = Arc::new(ReadCounter::default());
        let lookups: Vec<_> = splits
            .iter()
            .map(|split| {
                let compiled = compiled.for_split(split);
                self.split_fields(compiled, request.filter.is_some(), split, &reads)
            })
            .collect();
        let answers: Vec<Result<Option<Arc<Vec<FieldInfo>>>>> = futures::stream::iter(lookups)
            .buffer_unordered(self.split_concurrency)
            .collect()
            .await;
        let mut lists = Vec::with_capacity(answers.len());
        for fields in answers {
            lists.extend(fields?);
        }
        Ok(merge_fields(
            lists.iter().flat_map(|fields| fields.iter().cloned()),
        ))
    }

    /// One split's fields; `None` when `filtered` and no document of it matches the query.
    async fn split_fields(
        &self,
        compiled: &CompiledRequest,
        filtered: bool,
        split: &LeafSplit,
        reads: &Arc<ReadCounter>,
    ) -> Result<Option<Arc<Vec<FieldInfo>>>> {
        let cached = self.field_lists.get(&split.split_id);
        if cached.is_some() && !filtered {
            return Ok(cached);
        }
        let searcher = self
            .open_split(compiled, split, reads)
            .await
            .map_err(|error| split_error(&split.split_id, error.details))?;
        let query = compiled.query.clone();
        let reads = reads.clone();
        let (matches, fields) = tokio::task::spawn_blocking(move || {
            reads.count(|| {
                let matches = !filtered || searcher.search(query.as_ref(), &Count)? > 0;
                let fields = match cached {
                    Some(fields) => fields,
                    None => Arc::new(read_fields(&searcher)?),
                };
                Ok::<_, tantivy::TantivyError>((matches, fields))
            })
        })
        .await
        .map_err(|error| split_error(&split.split_id, error.to_string()))?
        .map_err(|error| split_error(&split.split_id, error.to_string()))?;
        self.field_lists
            .insert(split.split_id.clone(), fields.clone());
        Ok(matches.then_some(fields))
    }
}

fn split_error(split_id: &str, details: String) -> SearchError {
    SearchError::StorageUnavailable(format!("split {split_id}: {details}"))
}

/// The fields of an open split's segments, named as queries name them: paths of the dynamic
/// field without its internal name, internal fields left out.
fn read_fields(searcher: &tantivy::Searcher) -> tantivy::Result<Vec<FieldInfo>> {
    let mut fields = Vec::new();
    for segment in searcher.segment_readers() {
        for field in segment.fields_metadata()? {
            let Some(stored_type) = stored_type(field.typ) else {
                continue;
            };
            let name = match field
                .field_name
                .strip_prefix(DYNAMIC_FIELD_NAME)
                .and_then(|rest| rest.strip_prefix('.'))
            {
                Some(path) => path.to_string(),
                None if [
                    DYNAMIC_FIELD_NAME,
                    FIELD_PRESENCE_FIELD_NAME,
                    SOURCE_FIELD_NAME,
                    DOC_LENGTH_FIELD_NAME,
                ]
                .contains(&field.field_name.as_str()) =>
                {
                    continue;
                }
                None => field.field_name.clone(),
            };
            fields.push(FieldInfo {
                name,
                stored_type,
                indexed: field.is_indexed(),
                fast: field.is_fast(),
            });
        }
    }
    Ok(merge_fields(fields))
}

/// One entry per name and type, sorted, indexed or fast if any occurrence is.
fn merge_fields(fields: impl IntoIterator<Item = FieldInfo>) -> Vec<FieldInfo> {
    let mut merged: BTreeMap<(String, StoredType), (bool, bool)> = BTreeMap::new();
    for field in fields {
        let entry = merged.entry((field.name, field.stored_type)).or_default();
        entry.0 |= field.indexed;
        entry.1 |= field.fast;
    }
    merged
        .into_iter()
        .map(|((name, stored_type), (indexed, fast))| FieldInfo {
            name,
            stored_type,
            indexed,
            fast,
        })
        .collect()
}

fn stored_type(typ: Type) -> Option<StoredType> {
    Some(match typ {
        Type::Str => StoredType::Str,
        Type::U64 => StoredType::U64,
        Type::I64 => StoredType::I64,
        Type::F64 => StoredType::F64,
        Type::Bool => StoredType::Bool,
        Type::Date => StoredType::Date,
        Type::IpAddr => StoredType::IpAddr,
        Type::Bytes => StoredType::Bytes,
        // A json field's paths are listed one by one; mappings make no facet or custom type.
        Type::Json | Type::Facet | Type::Custom => return None,
    })
}
