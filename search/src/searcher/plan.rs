//! Planning, the root's first step: the request checked and compiled against the index's doc
//! mapping (a mistake is a 400 before any split is touched), and the splits it must search,
//! newest first, after time pruning.

use std::collections::BTreeMap;
use std::ops::{Bound, Range};
use std::sync::Arc;

use hydrant_index::doc_mapper::{DocMapper, FieldKind};
use hydrant_index::partition::OTHER_PARTITION_ID;
use hydrant_metastore::{IndexMetadata, SplitFilter, SplitMetadata, SplitState};
use serde::{Deserialize, Serialize};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::query::{BooleanQuery, ConstScoreQuery, EmptyQuery, Occur, Query, RangeQuery};
use tantivy::{DateTime, Term};

use super::aggregations::check_aggregation_fields;
use super::params::{SearchAfterParam, SearchParams};
use super::scoring::Bm25Totals;
use super::warmup::WarmupPlan;
use crate::cache::DocMapperCache;
use crate::error::{Result, SearchError};
use crate::query::{QueryAst, TagFilter, build_query, pinned_partition};
use crate::sort::{SearchAfter, SortSpec};

/// A request compiled for one index: what every split search of it shares.
#[derive(Clone)]
pub(crate) struct CompiledRequest {
    pub index_id: String,
    pub doc_mapper: Arc<DocMapper>,
    pub query: Arc<dyn Query>,
    pub sort: SortSpec,
    /// Where hits resume (`search_after`, or a scroll's position).
    pub after: Option<Arc<SearchAfter>>,
    pub aggregations: Option<Aggregations>,
    pub num_to_collect: usize,
    pub count_all: bool,
    /// Identifies the request's per-split answer in the leaf cache.
    pub fingerprint: String,
    /// What the query requires of a split's tags: splits without them are not searched.
    pub tags: TagFilter,
    /// The one partition the query can match in, when it pins the partition key.
    pub partition: Option<u64>,
    /// What the request reads from each split, fetched before searching it.
    pub warmup: Arc<WarmupPlan>,
    /// A scored search's BM25 statistics over all its splits, once gathered
    /// ([`super::scoring`]); without them a split scores with its own.
    pub bm25: Option<Arc<Bm25Totals>>,
    /// The request compiled for each earlier doc mapping of the index that splits searched
    /// were built with, by uid (see [`CompiledRequest::for_split`]).
    pub older_mappings: Arc<BTreeMap<String, CompiledRequest>>,
}

impl CompiledRequest {
    /// Checks `request` and compiles its query, time filter, sort and aggregations.
    pub fn compile(
        index_id: &str,
        doc_mapper: Arc<DocMapper>,
        request: &SearchParams,
    ) -> Result<Self> {
        request.validate()?;
        let ast = &request.query;
        let default_fields = request.search_fields(&doc_mapper);
        let query = build_query(ast, &doc_mapper, default_fields)?;
        let query = with_time_filter(query, &doc_mapper, request)?;
        let tags = TagFilter::new(ast, &doc_mapper);
        let partition = pinned_partition(ast, &doc_mapper);
        let aggregations = request
            .aggregations
            .as_ref()
            .map(|request| request.aggregations().clone());
        if let Some(aggregations) = &aggregations {
            check_aggregation_fields(&doc_mapper, aggregations)?;
        }
        check_snippet_fields(&doc_mapper, &request.snippet_fields)?;
        let sort = SortSpec::new(&request.sort, &doc_mapper)?;
        let after = match &request.search_after {
            None => None,
            Some(SearchAfterParam::Position(position)) => {
                Some(SearchAfter::from_position(&sort, position)?)
            }
            Some(SearchAfterParam::Values(values)) if values.is_empty() => None,
            Some(SearchAfterParam::Values(values)) => Some(SearchAfter::from_values(
                &sort,
                values,
                request.datetime_sort_nanos,
            )?),
        };
        let warmup = WarmupPlan::new(
            query.as_ref(),
            ast,
            &sort,
            aggregations.as_ref(),
            time_filter_field(&doc_mapper, request),
        );
        // The index's config is part of what an answer depends on: an update changing the
        // default search fields changes what a cached answer of the same request would be.
        let fingerprint = format!(
            "{}|mapping {} fields {}",
            request.fingerprint(),
            doc_mapper.doc_mapping_uid(),
            default_fields.join(",")
        );
        Ok(CompiledRequest {
            warmup: Arc::new(warmup),
            index_id: index_id.to_string(),
            sort,
            after: after.map(Arc::new),
            doc_mapper,
            query: Arc::from(query),
            aggregations,
            num_to_collect: request.num_to_collect(),
            count_all: request.count_all,
            fingerprint,
            tags,
            partition,
            bm25: None,
            older_mappings: Arc::default(),
        })
    }

    /// The request for one split: compiled for the doc mapping the split was built with.
    pub fn for_split(&self, split: &LeafSplit) -> &CompiledRequest {
        self.older_mappings
            .get(&split.doc_mapping_uid)
            .unwrap_or(self)
    }

    /// This request (compiled for the index's current config) with its compilation for each
    /// earlier doc mapping that `splits` were built with. The request was checked against the
    /// current mapping, which is what a user writes against; an older split answers as its
    /// mapping allows: a clause on a field it lacks matches nothing there, a sort or an
    /// aggregation reads no value there (the field is missing, as for a document without it).
    pub fn with_older_mappings(
        mut self,
        metadata: &IndexMetadata,
        doc_mappers: &DocMapperCache,
        request: &SearchParams,
        splits: &[LeafSplit],
    ) -> Result<Self> {
        let mut older = BTreeMap::new();
        for split in splits {
            let uid = &split.doc_mapping_uid;
            if older.contains_key(uid) || !metadata.previous_doc_mappings.contains_key(uid) {
                continue;
            }
            let doc_mapper = doc_mappers.of_mapping(metadata, uid)?;
            older.insert(uid.clone(), self.for_older_mapping(doc_mapper, request)?);
        }
        self.older_mappings = Arc::new(older);
        Ok(self)
    }

    /// This request for splits of an earlier mapping: its query built leniently
    /// ([`QueryAst::Lenient`]) with this request's default search fields, its sort, search
    /// position and aggregations as they are (they read columns by name, and a split without
    /// one has no values).
    fn for_older_mapping(
        &self,
        doc_mapper: Arc<DocMapper>,
        request: &SearchParams,
    ) -> Result<CompiledRequest> {
        // The current mapping's defaults: an older mapping's config has none.
        let default_fields = request.search_fields(&self.doc_mapper);
        let lenient = QueryAst::Lenient(Box::new(request.query.clone()));
        let query = build_query(&lenient, &doc_mapper, default_fields)?;
        let query = with_time_filter(query, &doc_mapper, request)?;
        let warmup = WarmupPlan::new(
            query.as_ref(),
            &request.query,
            &self.sort,
            self.aggregations.as_ref(),
            time_filter_field(&doc_mapper, request),
        );
        Ok(CompiledRequest {
            doc_mapper,
            query: Arc::from(query),
            warmup: Arc::new(warmup),
            older_mappings: Arc::default(),
            ..self.clone()
        })
    }

    /// Whether hits need their scores: sorted by relevance.
    pub fn needs_scores(&self) -> bool {
        self.sort.requires_scoring() && self.num_to_collect > 0
    }

    /// The request scoring with `totals`; its per-split answers are cached apart from those
    /// of other totals.
    pub fn with_bm25(&self, totals: Bm25Totals) -> Self {
        let totals = Arc::new(totals);
        let fingerprint = format!("{}|bm25 {:016x}", self.fingerprint, totals.digest());
        let scored = |compiled: &CompiledRequest| CompiledRequest {
            fingerprint: fingerprint.clone(),
            bm25: Some(totals.clone()),
            ..compiled.clone()
        };
        CompiledRequest {
            older_mappings: Arc::new(
                (self.older_mappings.iter())
                    .map(|(uid, older)| (uid.clone(), scored(older)))
                    .collect(),
            ),
            ..scored(self)
        }
    }
}

/// A split as a root plans it: where it is and how to read its footer. A leaf in another
/// invocation takes only the id and ordinal from the request and the rest from its own
/// metastore document (see [`SearchService::leaf_search`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafSplit {
    pub split_id: String,
    /// Position in the whole request's newest-first order (the tie-break of document order),
    /// assigned by the root so that every leaf agrees.
    pub ordinal: usize,
    pub footer_offsets: Range<u64>,
    pub split_size_bytes: u64,
    /// The doc mapping the split was built with ([`SplitMetadata::doc_mapping_uid`]).
    #[serde(default)]
    pub doc_mapping_uid: String,
}

impl LeafSplit {
    pub fn new(ordinal: usize, split: &SplitMetadata) -> Self {
        LeafSplit {
            split_id: split.split_id.clone(),
            ordinal,
            footer_offsets: split.footer_offsets.clone(),
            split_size_bytes: split.split_size_bytes,
            doc_mapping_uid: split.doc_mapping_uid.clone(),
        }
    }
}

/// The published splits `request` must search (time, tag and partition pruning applied),
/// newest first: a split's position is the
/// tie-break of document order, the same on every leaf. Returns them with the number of
/// published splits before pruning.
pub(crate) fn splits_to_search(
    metadata: &IndexMetadata,
    request: &SearchParams,
    compiled: &CompiledRequest,
) -> (Vec<LeafSplit>, usize) {
    let filter = SplitFilter::published_in(request.start_timestamp, request.end_timestamp);
    let in_partition = |split: &SplitMetadata| {
        compiled.partition.is_none_or(|partition| {
            split.partition_id == partition || split.partition_id == OTHER_PARTITION_ID
        })
    };
    let splits: Vec<&SplitMetadata> = metadata
        .splits_matching(&filter)
        .filter(|split| compiled.tags.may_match(split.tags.as_ref()) && in_partition(split))
        .collect();
    (in_search_order(splits), metadata.published_splits().count())
}

/// The splits named by `split_ids` (a scroll's, fixed when it started), whether still
/// published or replaced by a merge but not yet deleted, after time pruning. A split that is
/// gone ends the scroll: its documents could no longer be served exactly once.
pub(crate) fn named_splits(
    metadata: &IndexMetadata,
    request: &SearchParams,
    split_ids: &[String],
) -> Result<(Vec<LeafSplit>, usize)> {
    let mut filter = SplitFilter::published_in(request.start_timestamp, request.end_timestamp);
    filter.states.push(SplitState::MarkedForDeletion);
    let mut splits = Vec::with_capacity(split_ids.len());
    for split_id in split_ids {
        let split = metadata
            .splits
            .get(split_id)
            .filter(|split| split.state != SplitState::Staged)
            .ok_or_else(|| {
                SearchError::ScrollNotFound(format!(
                    "split {split_id} of index `{}` was deleted since the scroll started",
                    metadata.index_id()
                ))
            })?;
        if filter.matches(split) {
            splits.push(split);
        }
    }
    Ok((in_search_order(splits), split_ids.len()))
}

fn in_search_order(mut splits: Vec<&SplitMetadata>) -> Vec<LeafSplit> {
    splits.sort_by(|left, right| right.split_id.cmp(&left.split_id));
    splits
        .into_iter()
        .enumerate()
        .map(|(ordinal, split)| LeafSplit::new(ordinal, split))
        .collect()
}

fn check_snippet_fields(doc_mapper: &DocMapper, snippet_fields: &[String]) -> Result<()> {
    for name in snippet_fields {
        let field = doc_mapper
            .fields()
            .iter()
            .find(|field| field.path == *name)
            .ok_or_else(|| {
                SearchError::InvalidRequest(format!("snippet_fields: unknown field `{name}`"))
            })?;
        let stored = doc_mapper.schema().get_field_entry(field.field).is_stored();
        if !matches!(field.kind, FieldKind::Text { .. }) || !stored {
            return Err(SearchError::InvalidRequest(format!(
                "snippet_fields: `{name}` must be a stored text field"
            )));
        }
    }
    Ok(())
}

/// `query` within the request's time range, if it has one: the range filters, and adds
/// nothing to a document's score.
fn with_time_filter(
    query: Box<dyn Query>,
    doc_mapper: &DocMapper,
    request: &SearchParams,
) -> Result<Box<dyn Query>> {
    Ok(match time_filter(doc_mapper, request)? {
        None => query,
        Some(time_filter) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(time_filter, 0.0)),
            ),
        ])),
    })
}

/// The timestamp field, when the request has a time range (what warming up reads of it).
fn time_filter_field<'a>(doc_mapper: &'a DocMapper, request: &SearchParams) -> Option<&'a str> {
    let has_range = request.start_timestamp.is_some() || request.end_timestamp.is_some();
    has_range
        .then(|| {
            doc_mapper
                .timestamp_field()
                .map(|field| field.path.as_str())
        })
        .flatten()
}

/// `start_timestamp <= ts < end_timestamp` on the timestamp field, when asked for.
pub(crate) fn time_filter(
    doc_mapper: &DocMapper,
    request: &SearchParams,
) -> Result<Option<Box<dyn Query>>> {
    if request.start_timestamp.is_none() && request.end_timestamp.is_none() {
        return Ok(None);
    }
    let Some(timestamp_field) = doc_mapper.timestamp_field() else {
        return Err(SearchError::InvalidRequest(
            "start_timestamp and end_timestamp need an index with a timestamp_field".to_string(),
        ));
    };
    // Datetimes are nanoseconds in an i64 (years 1677 to 2262). A bound past that range
    // saturates: `end_timestamp=9999999999`, a common "no upper bound", means just that.
    let bound_term = |nanos: i64| {
        Term::from_field_date(timestamp_field.field, DateTime::from_timestamp_nanos(nanos))
    };
    let lower = match request
        .start_timestamp
        .map(|secs| secs.checked_mul(1_000_000_000))
    {
        None => Bound::Unbounded,
        Some(Some(nanos)) => Bound::Included(bound_term(nanos)),
        Some(None) if request.start_timestamp < Some(0) => Bound::Unbounded,
        // Later than any datetime can be: nothing matches.
        Some(None) => return Ok(Some(Box::new(EmptyQuery))),
    };
    let upper = match request
        .end_timestamp
        .map(|secs| secs.checked_mul(1_000_000_000))
    {
        None => Bound::Unbounded,
        Some(Some(nanos)) => Bound::Excluded(bound_term(nanos)),
        Some(None) if request.end_timestamp > Some(0) => Bound::Unbounded,
        // Earlier than any datetime can be: nothing matches.
        Some(None) => return Ok(Some(Box::new(EmptyQuery))),
    };
    if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
        // tantivy refuses a range without bounds (it panics); this one filters nothing.
        return Ok(None);
    }
    Ok(Some(Box::new(RangeQuery::new(lower, upper))))
}
