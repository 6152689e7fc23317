//! What one request cost, summed over every search it made (an `_msearch` makes several), for
//! whoever answers requests to report: the Lambda adapter's metrics and log line.
//!
//! The searches add their [`SearchStats`] to the request's tally, if the caller opened one
//! with [`measure`]; without one, adding costs nothing. The tally lives in the request's task,
//! which the search core never leaves (its parallel work is futures in that task).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use hydrant_search::SearchStats;
//! use hydrant_search::cost::{add, measure};
//!
//! let stats = SearchStats { splits_searched: 3, storage_gets: 5, ..SearchStats::default() };
//! let ((), cost) = measure(async { add(&["logs"], &stats); add(&["logs"], &stats) }).await;
//! assert_eq!((cost.searches, cost.stats.splits_searched, cost.stats.storage_gets), (2, 6, 10));
//! assert_eq!(cost.index_id(), Some("logs"));
//! # });
//! ```

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;

/// What one request cost.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SearchStats {
    /// Published splits of the index.
    pub splits_total: usize,
    /// Splits searched (after time and tag pruning).
    pub splits_searched: usize,
    /// Splits skipped: their time range is outside the request's, or they lack a tag the
    /// query requires.
    pub splits_pruned: usize,
    /// Splits answered from the per-split result cache.
    pub splits_from_cache: usize,
    /// Storage GETs made.
    pub storage_gets: u64,
    pub storage_bytes: u64,
    /// Reads served from the in-memory byte-range cache.
    pub cache_hits: u64,
}

tokio::task_local! {
    static REQUEST_COST: RefCell<RequestCost>;
}

/// A request's searches and what they read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCost {
    /// Searches made (root searches: one per index pattern of each query).
    pub searches: u64,
    pub stats: SearchStats,
    /// The indexes searched.
    pub index_ids: BTreeSet<String>,
    /// Leaf searches sent to other invocations ([`crate::searcher::fan_out`]); their reads
    /// are in `stats`.
    pub leaf_invocations: u64,
    /// Of those, the ones that failed and were searched here instead.
    pub leaf_failures: u64,
}

impl RequestCost {
    /// The one index the request searched, if it searched exactly one.
    pub fn index_id(&self) -> Option<&str> {
        match self.index_ids.len() {
            1 => self.index_ids.iter().next().map(String::as_str),
            _ => None,
        }
    }
}

/// Runs `request` with a tally open, and returns what it cost.
pub async fn measure<F: Future>(request: F) -> (F::Output, RequestCost) {
    REQUEST_COST
        .scope(RefCell::new(RequestCost::default()), async {
            let output = request.await;
            let cost = REQUEST_COST.with(|cost| cost.take());
            (output, cost)
        })
        .await
}

/// Adds one search to the request's tally, if one is open.
pub fn add(index_ids: &[&str], stats: &SearchStats) {
    let _ = REQUEST_COST.try_with(|cost| {
        let mut cost = cost.borrow_mut();
        cost.searches += 1;
        cost.index_ids
            .extend(index_ids.iter().map(|index_id| index_id.to_string()));
        let total = &mut cost.stats;
        total.splits_total += stats.splits_total;
        total.splits_searched += stats.splits_searched;
        total.splits_pruned += stats.splits_pruned;
        total.splits_from_cache += stats.splits_from_cache;
        total.storage_gets += stats.storage_gets;
        total.storage_bytes += stats.storage_bytes;
        total.cache_hits += stats.cache_hits;
    });
}

/// Adds leaf invocations to the request's tally.
pub fn add_leaf_invocations(invocations: u64, failures: u64) {
    let _ = REQUEST_COST.try_with(|cost| {
        let mut cost = cost.borrow_mut();
        cost.leaf_invocations += invocations;
        cost.leaf_failures += failures;
    });
}
