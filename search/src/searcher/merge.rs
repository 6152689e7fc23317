//! Merging, the root's middle step: leaf answers over disjoint sets of splits become one, as
//! if one leaf had searched them all. Counts add up, candidates keep the request's best
//! `start_offset + max_hits`, intermediate aggregations merge, failures are listed.

use super::aggregations::merge_aggregations;
use super::leaf::LeafSearchResponse;
use super::scoring::max_score;
use crate::error::Result;
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
        merged.max_score = max_score(merged.max_score, response.max_score);
        // Leaves run at the same time: the longest path is the longest leaf's.
        merged.reads.add_parallel(response.reads);
    }
    merged.candidates = keep_best(sort, num_to_collect, candidates);
    merged.aggregations = merge_aggregations(aggregations)?;
    Ok(merged)
}
