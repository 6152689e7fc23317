//! What the search core is asked and what it answers, independent of the API a request came
//! through: [`SearchParams`] (the query as an AST, the sort as [`SortField`]s, the
//! aggregations parsed) and [`SearchAnswer`]. The native API's `SearchRequest` and the
//! Elasticsearch models convert into the first and out of the second; a leaf in another
//! invocation receives the first as it was planned (`LeafSearchRequest`), and a scroll id
//! carries it between pages.

use hydrant_index::doc_mapper::DocMapper;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::aggregations::AggregationRequest;
use crate::cost::SearchStats;
use crate::error::{Result, SearchError};
use crate::query::parse_query;
use crate::query::{MAX_QUERY_DEPTH, QueryAst};
use crate::request::{SearchRequest, SearchResponse};
use crate::sort::{HitPosition, MAX_SORT_KEYS, SortField};

/// Hits per request at most; more needs pagination with `start_offset`.
pub const MAX_HITS_LIMIT: usize = 10_000;

/// Everything that decides a search's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    pub query: QueryAst,
    /// Fields searched by clauses that name none; empty: the index's default search fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_fields: Vec<String>,
    /// Only documents with `timestamp >= start_timestamp` (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<i64>,
    /// Only documents with `timestamp < end_timestamp` (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<i64>,
    pub max_hits: usize,
    #[serde(default)]
    pub start_offset: usize,
    /// Empty: document order, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SortField>,
    /// Text fields to return highlighted fragments of, per hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snippet_fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregations: Option<AggregationRequest>,
    /// Count every match; without it, splits skip counting and the count is a lower bound.
    pub count_all: bool,
    /// Where hits resume: strictly after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_after: Option<SearchAfterParam>,
    /// Answer each hit's sort values and the last hit's exact position.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sort_values: bool,
    /// Datetime sort values (answered, and in `search_after`) in nanoseconds rather than
    /// milliseconds: Quickwit's `epoch_nanos_int` sort format.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub datetime_sort_nanos: bool,
}

/// Where a page resumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchAfterParam {
    /// After these sort values, one per sort key (then the `_shard_doc` position if the sort
    /// has it), as a previous answer's `sort_values` gave them: Elasticsearch's `search_after`.
    Values(Vec<Value>),
    /// After this exact position, as a previous answer's `last_hit_position` gave it: how a
    /// scroll resumes, skipping and repeating nothing.
    Position(HitPosition),
}

impl SearchParams {
    /// Every document, newest first, `max_hits` of them.
    pub fn match_all(max_hits: usize) -> Self {
        SearchParams {
            query: QueryAst::MatchAll,
            default_fields: Vec::new(),
            start_timestamp: None,
            end_timestamp: None,
            max_hits,
            start_offset: 0,
            sort: Vec::new(),
            snippet_fields: Vec::new(),
            aggregations: None,
            count_all: true,
            search_after: None,
            sort_values: false,
            datetime_sort_nanos: false,
        }
    }

    /// A native API request's parameters: the query parsed, the sort typed, the
    /// aggregations parsed and checked. A mistake is a 400 naming it, before any index is read.
    pub fn from_native(request: &SearchRequest) -> Result<SearchParams> {
        let params = SearchParams {
            query: parse_query(&request.query)?,
            default_fields: request.search_field.clone(),
            start_timestamp: request.start_timestamp,
            end_timestamp: request.end_timestamp,
            max_hits: request.max_hits,
            start_offset: request.start_offset,
            sort: request
                .sort_by
                .iter()
                .map(|entry| SortField::parse_native(entry))
                .collect(),
            snippet_fields: request.snippet_fields.clone(),
            aggregations: request
                .aggs
                .clone()
                .map(AggregationRequest::parse)
                .transpose()?,
            count_all: request.count_all,
            search_after: None,
            sort_values: false,
            datetime_sort_nanos: false,
        };
        params.validate()?;
        Ok(params)
    }

    /// The fields clauses naming none search: the request's, else `doc_mapper`'s defaults.
    pub(crate) fn search_fields<'a>(&'a self, doc_mapper: &'a DocMapper) -> &'a [String] {
        if self.default_fields.is_empty() {
            doc_mapper.default_search_fields()
        } else {
            &self.default_fields
        }
    }

    /// How many candidates each split keeps: any of them may make the page once merged.
    pub fn num_to_collect(&self) -> usize {
        self.start_offset + self.max_hits
    }

    /// A stable description of everything that decides a split's answer: the key of the
    /// per-split result cache. (Offsets only change how many candidates a split returns;
    /// snippets and sort values are rendered from the page, not by the split.)
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(&(
            &self.query,
            &self.default_fields,
            self.start_timestamp,
            self.end_timestamp,
            self.num_to_collect(),
            &self.sort,
            self.aggregations.as_ref().map(AggregationRequest::json),
            self.count_all,
            self.datetime_sort_nanos,
            &self.search_after,
        ))
        .expect("search parameters serialize")
    }

    /// Checks the limits every request has, whichever API it came through.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(SearchError::InvalidRequest(message));
        if self.max_hits > MAX_HITS_LIMIT {
            return invalid(format!(
                "max_hits is {}, at most {MAX_HITS_LIMIT}; page with start_offset",
                self.max_hits
            ));
        }
        if self.start_offset.saturating_add(self.max_hits) > MAX_HITS_LIMIT * 10 {
            return invalid(format!(
                "start_offset + max_hits is at most {}; narrow the query or the time range",
                MAX_HITS_LIMIT * 10
            ));
        }
        if let (Some(start), Some(end)) = (self.start_timestamp, self.end_timestamp)
            && start > end
        {
            return invalid(format!(
                "start_timestamp ({start}) is after end_timestamp ({end})"
            ));
        }
        if self.query.depth() > MAX_QUERY_DEPTH {
            return invalid(format!(
                "the query nests clauses more than {MAX_QUERY_DEPTH} levels deep"
            ));
        }
        // Fields, then the score (Elasticsearch's `track_scores` adds it to two fields), then
        // document order and the position.
        let sort_keys = (self.sort.iter())
            .filter(|field| matches!(field, SortField::Field { .. }))
            .count();
        if sort_keys > MAX_SORT_KEYS || self.sort.len() > MAX_SORT_KEYS + 3 {
            return invalid(format!("sort_by takes at most {MAX_SORT_KEYS} fields"));
        }
        if let Some(SearchAfterParam::Values(values)) = &self.search_after
            && values.len() > MAX_SORT_KEYS + 2
        {
            return invalid(format!(
                "search_after has {} values; the sort has at most {}",
                values.len(),
                MAX_SORT_KEYS + 1
            ));
        }
        Ok(())
    }
}

/// What the search core answers, before any API writes it in its own shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchAnswer {
    /// Documents matching the query (all of them, not only the returned hits).
    pub num_hits: u64,
    pub hits: Vec<Value>,
    /// Per hit, when `snippet_fields` asks: field name to highlighted fragments.
    pub snippets: Option<Vec<Value>>,
    /// When aggregations are asked: the Elasticsearch-shaped results.
    pub aggregations: Option<Value>,
    /// Per hit, when `sort_values` asks: one value per sort key (`null` where the document
    /// has none).
    pub sort_values: Option<Vec<Vec<Value>>>,
    /// With `sort_values`: the last hit's exact position, where the next page resumes.
    pub last_hit_position: Option<HitPosition>,
    pub elapsed_time_micros: u64,
    /// Splits that could not be searched; the rest of the answer is still valid.
    pub errors: Vec<String>,
    /// What the request cost.
    pub stats: SearchStats,
    /// The best score of the matches, when hits are scored.
    pub max_score: Option<f32>,
    /// Each hit's address, `split:segment:doc`: its `_id` as long as its split lives (a
    /// merge gives the document a new one). `GET _doc/{id}` reads it back.
    pub hit_ids: Vec<String>,
}

impl SearchAnswer {
    /// The native API's shape of the answer; its cost only when the request asked.
    pub fn into_native(self, with_stats: bool) -> SearchResponse {
        let answer = self;
        SearchResponse {
            num_hits: answer.num_hits,
            hits: answer.hits,
            snippets: answer.snippets,
            aggregations: answer.aggregations,
            elapsed_time_micros: answer.elapsed_time_micros,
            errors: answer.errors,
            stats: with_stats.then_some(answer.stats),
        }
    }
}
