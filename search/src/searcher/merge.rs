//! Merging, the root's middle step: leaf answers over disjoint sets of splits become one, as
//! if one leaf had searched them all. Counts add up, candidates keep the request's best
//! `start_offset + max_hits`, intermediate aggregations merge, failures are listed.

use serde_json::Value;
use tantivy::aggregation::AggregationLimitsGuard;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;

use super::leaf::LeafSearchResponse;
use super::{AGGREGATION_BUCKET_LIMIT, AGGREGATION_MEMORY_LIMIT};
use crate::error::{Result, SearchError};
use crate::sort::{SortSpec, keep_best};

/// Merges leaf answers: the result is what one leaf over all their splits would answer.
pub(crate) fn merge_leaf_responses(
    sort: &SortSpec,
    num_to_collect: usize,
    responses: Vec<LeafSearchResponse>,
) -> Result<LeafSearchResponse> {
    let mut merged = LeafSearchResponse::default();
    let mut aggregations = Vec::new();
    let mut candidates = Vec::new();
    for response in responses {
        merged.num_hits += response.num_hits;
        candidates.extend(response.candidates);
        aggregations.extend(response.aggregations);
        merged.failed_splits.extend(response.failed_splits);
        merged.splits_searched += response.splits_searched;
        merged.splits_from_cache += response.splits_from_cache;
        merged.storage_gets += response.storage_gets;
        merged.storage_bytes += response.storage_bytes;
        merged.cache_hits += response.cache_hits;
    }
    merged.candidates = keep_best(sort, num_to_collect, candidates);
    merged.aggregations = merge_aggregations(aggregations)?;
    Ok(merged)
}

/// Merges intermediate aggregations; a failure is the request's (a field whose type differs
/// between splits, say), as tantivy reports it.
pub(crate) fn merge_aggregations(
    aggregations: Vec<IntermediateAggregationResults>,
) -> Result<Option<IntermediateAggregationResults>> {
    let mut merged: Option<IntermediateAggregationResults> = None;
    for aggregation in aggregations {
        match &mut merged {
            None => merged = Some(aggregation),
            Some(merged) => merged
                .merge_fruits(aggregation)
                .map_err(|error| SearchError::InvalidRequest(format!("aggs: {error}")))?,
        }
    }
    Ok(merged)
}

/// The Elasticsearch-shaped results of the request's aggregations, from the merged state
/// (empty buckets when no split matched).
pub(crate) fn finalize_aggregations(
    request_aggs: &Aggregations,
    intermediate: Option<IntermediateAggregationResults>,
) -> Result<Value> {
    let intermediate = intermediate.unwrap_or_default();
    let limits = AggregationLimitsGuard::new(
        Some(AGGREGATION_MEMORY_LIMIT),
        Some(AGGREGATION_BUCKET_LIMIT),
    );
    let results = intermediate
        .into_final_result(request_aggs.clone(), limits)
        .map_err(|error| SearchError::InvalidRequest(format!("aggs: {error}")))?;
    serde_json::to_value(results)
        .map_err(|error| SearchError::Internal(format!("aggregation results: {error}")))
}
