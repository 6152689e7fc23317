//! Leaves in other invocations: when a search plans more splits than one invocation should
//! read, the root keeps one share of them and sends each other share, as a
//! [`LeafSearchRequest`], to a [`LeafInvoker`] (the searcher Lambda invoking itself), then
//! merges the answers as it merges its own.
//!
//! A share whose invocation fails (throttled, timed out, an answer that does not parse) is
//! searched by the root itself, so a fan-out failure costs time, never hits.
//!
//! A search ranked by relevance shares out twice: first for each share's BM25 statistics
//! (`statistics_only`), then for the search with their totals, so that every leaf scores
//! with the whole plan's statistics ([`super::scoring`]).
//!
//! ```
//! use hydrant_search::searcher::fan_out::shares;
//!
//! // 250 splits, at most 100 an invocation: three shares of 84, 83 and 83.
//! let sizes: Vec<usize> = shares(&(0..250).collect::<Vec<_>>(), 100).iter().map(|s| s.len()).collect();
//! assert_eq!(sizes, [84, 83, 83]);
//! ```

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::{BoxFuture, join_all};
use tracing::warn;

use super::leaf::{LeafSearchRequest, LeafSearchResponse};
use super::plan::LeafSplit;
use super::scoring::Bm25Totals;
use super::{SearchPlan, SearchService};
use crate::cost::StorageReads;
use crate::error::Result;

/// Sends a leaf request to another worker and returns its answer.
pub trait LeafInvoker: Send + Sync + Debug {
    fn invoke<'a>(
        &'a self,
        request: &'a LeafSearchRequest,
    ) -> BoxFuture<'a, Result<LeafSearchResponse>>;
}

/// When and where leaves go.
#[derive(Clone, Debug)]
pub struct FanOut {
    pub invoker: Arc<dyn LeafInvoker>,
    /// Most splits one invocation searches; a plan with more is shared out.
    pub splits_per_leaf: usize,
}

/// `items` cut into the fewest shares of at most `max_per_share`, as even as they can be,
/// in order.
pub fn shares<T>(items: &[T], max_per_share: usize) -> Vec<&[T]> {
    if items.is_empty() {
        return Vec::new();
    }
    let count = items.len().div_ceil(max_per_share.max(1));
    let (base, extra) = (items.len() / count, items.len() % count);
    let mut shares = Vec::with_capacity(count);
    let mut start = 0;
    for index in 0..count {
        let len = base + usize::from(index < extra);
        shares.push(&items[start..start + len]);
        start += len;
    }
    shares
}

impl SearchService {
    /// Leaves in other invocations for plans with more than `splits_per_leaf` splits.
    pub fn with_fan_out(mut self, fan_out: FanOut) -> Self {
        self.fan_out = Some(fan_out);
        self
    }

    /// The leaf answer of a whole plan: searched here, or shared out with other invocations.
    /// A scored plan first gathers its BM25 statistics over every split, the same way.
    pub(crate) async fn run_leaves(&self, plan: &SearchPlan) -> Result<LeafSearchResponse> {
        let fan_out = self
            .fan_out
            .as_ref()
            .filter(|fan_out| plan.splits.len() > fan_out.splits_per_leaf);
        let shares = match fan_out {
            Some(fan_out) => shares(&plan.splits, fan_out.splits_per_leaf),
            None => vec![&plan.splits[..]],
        };
        let (scored, bm25_reads) = if plan.compiled.needs_scores() {
            let (totals, reads) = self.gather_bm25(plan, fan_out, &shares).await;
            (Some(plan.compiled.with_bm25(totals)), reads)
        } else {
            (None, StorageReads::default())
        };
        let compiled = scored.as_ref().unwrap_or(&plan.compiled);
        let (Some(fan_out), Some((own, others))) = (fan_out, shares.split_first()) else {
            let mut response = self.search_splits(compiled, &plan.splits).await?;
            response.reads += bm25_reads;
            return Ok(response);
        };
        let remote = others.iter().map(|share| async move {
            let mut request = plan.leaf_request(share);
            request.bm25 = compiled.bm25.as_deref().cloned();
            let answer: Result<(LeafSearchResponse, bool)> =
                match fan_out.invoker.invoke(&request).await {
                    Ok(response) => Ok((response, false)),
                    Err(error) => {
                        warn!(
                            index_id = request.index_id,
                            splits = share.len(),
                            %error,
                            "leaf invocation failed; searching its splits here"
                        );
                        let response = self.search_splits(compiled, share).await?;
                        Ok((response, true))
                    }
                };
            answer
        });
        let (local, remote) = futures::join!(self.search_splits(compiled, own), join_all(remote));
        let mut local = local?;
        local.reads += bm25_reads;
        let mut responses = vec![local];
        let (mut invocations, mut failures) = (0, 0);
        for answer in remote {
            let (response, failed) = answer?;
            invocations += 1;
            failures += u64::from(failed);
            responses.push(response);
        }
        crate::cost::add_leaf_invocations(invocations, failures);
        plan.merge(responses)
    }

    /// A scored plan's BM25 statistics over all its splits: the first share's gathered here,
    /// the others' by `statistics_only` leaf requests (gathered here if one fails).
    async fn gather_bm25(
        &self,
        plan: &SearchPlan,
        fan_out: Option<&FanOut>,
        shares: &[&[LeafSplit]],
    ) -> (Bm25Totals, StorageReads) {
        let Some((own, others)) = shares.split_first() else {
            return (Bm25Totals::default(), StorageReads::default());
        };
        let remote = others.iter().map(|share| async move {
            let mut request = plan.leaf_request(share);
            request.statistics_only = true;
            let answer = match fan_out {
                Some(fan_out) => Some(fan_out.invoker.invoke(&request).await),
                None => None,
            };
            let invoked = u64::from(answer.is_some());
            match answer {
                Some(Ok(LeafSearchResponse {
                    bm25: Some(totals), ..
                })) => (totals, StorageReads::default(), invoked, 0),
                _ => {
                    let (totals, reads) = self.bm25_totals(&plan.compiled, share).await;
                    (totals, reads, invoked, invoked)
                }
            }
        });
        let ((mut totals, mut reads), remote) =
            futures::join!(self.bm25_totals(&plan.compiled, own), join_all(remote));
        let (mut invocations, mut failures) = (0, 0);
        for (share_totals, share_reads, invoked, failed) in remote {
            totals.add(&share_totals);
            reads.add_parallel(share_reads);
            invocations += invoked;
            failures += failed;
        }
        crate::cost::add_leaf_invocations(invocations, failures);
        (totals, reads)
    }
}
