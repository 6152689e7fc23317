//! One search over several indexes (`logs-*`, `a,b`): each index planned against its own doc
//! mapping, all their splits searched in one ordinal space (newest first across indexes), the
//! candidates merged into one page, each hit fetched from its own index.
//!
//! Mappings may differ: a query or sort that names a field only some indexes have is
//! answered by those; it is an error only if no index can answer it.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::params::{SearchAnswer, SearchParams};
use super::{PlannedSplits, SearchPlan, SearchService};
use crate::error::{Result, SearchError};

/// The answer to a search over several indexes.
#[derive(Debug, Default)]
pub struct IndexesResponse {
    pub answer: SearchAnswer,
    /// The index of each hit.
    pub hit_index_ids: Vec<String>,
    /// The splits searched, by index: what a scroll pins.
    pub split_ids: BTreeMap<String, Vec<String>>,
}

impl SearchService {
    /// Runs `request` over `index_ids`; with `pinned`, over exactly the splits it names per
    /// index (a scroll's).
    pub async fn search_indexes(
        &self,
        index_ids: &[String],
        request: &SearchParams,
        pinned: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<IndexesResponse> {
        let mut plans = self.plan_indexes(index_ids, request, pinned).await?;
        if plans.is_empty() {
            // Nothing to search: no hit, no aggregation, as Elasticsearch answers.
            return Ok(IndexesResponse::default());
        }
        let splits = PlannedSplits::of_many(&mut plans);
        let leaves = join_all(plans.iter().map(|plan| self.run_leaves(plan)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        let leaf = plans[0].merge(leaves)?;
        let (response, owners) = self.finish_many(&plans, &splits, leaf).await?;
        let hit_index_ids = owners
            .iter()
            .map(|owner| plans[*owner].compiled.index_id.clone())
            .collect();
        let split_ids = plans
            .iter()
            .map(|plan| {
                let ids = plan.splits.iter().map(|split| split.split_id.clone());
                (plan.compiled.index_id.clone(), ids.collect())
            })
            .collect();
        Ok(IndexesResponse {
            answer: response,
            hit_index_ids,
            split_ids,
        })
    }

    /// A plan per index that can answer the request. An index whose mapping does not fit it
    /// (an unknown field, say) is left out while another fits; if none does, the first
    /// index's error is the answer.
    async fn plan_indexes(
        &self,
        index_ids: &[String],
        request: &SearchParams,
        pinned: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<Vec<SearchPlan>> {
        let attempts = join_all(index_ids.iter().map(|index_id| {
            let split_ids =
                pinned.map(|pinned| pinned.get(index_id).map(Vec::as_slice).unwrap_or_default());
            self.plan_over(index_id, request, split_ids)
        }))
        .await;
        let mut plans = Vec::with_capacity(attempts.len());
        let mut first_misfit = None;
        for attempt in attempts {
            match attempt {
                Ok(plan) => plans.push(plan),
                Err(error @ (SearchError::InvalidRequest(_) | SearchError::QueryDoesNotFit(_)))
                    if index_ids.len() > 1 =>
                {
                    first_misfit.get_or_insert(error);
                }
                Err(error) => return Err(error),
            }
        }
        match (plans.is_empty(), first_misfit) {
            (true, Some(error)) => Err(error),
            _ => Ok(plans),
        }
    }
}
