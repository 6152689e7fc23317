//! What searches cost, counted in one place: the storage reads of one search as they happen
//! ([`ReadCounter`], fed by the split fetcher on whichever thread tantivy reads from), what a
//! search reports ([`SearchStats`], in its response and in a leaf's), and what one request cost
//! over every search it made ([`RequestCost`], for whoever answers requests to report: the
//! Lambda adapter's metrics and log line, the server's log line).
//!
//! The searches add their [`SearchStats`] to the request's tally, if the caller opened one
//! with [`measure`]; without one, adding costs nothing. The tally lives in the request's task,
//! which the search core never leaves (its parallel work is futures in that task). Reads
//! happen on blocking threads instead, so a search's [`ReadCounter`] is set for the thread
//! with [`ReadCounter::count`] around each piece of blocking work.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use hydrant_search::SearchStats;
//! use hydrant_search::cost::{StorageReads, add, measure};
//!
//! let reads = StorageReads { storage_gets: 5, ..StorageReads::default() };
//! let stats = SearchStats { splits_searched: 3, reads, ..SearchStats::default() };
//! let ((), cost) = measure(async { add(&["logs"], &stats); add(&["logs"], &stats) }).await;
//! assert_eq!((cost.searches, cost.stats.splits_searched, cost.stats.reads.storage_gets), (2, 6, 10));
//! assert_eq!(cost.index_id(), Some("logs"));
//! # });
//! ```

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::ops::AddAssign;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// What a search cost: the splits it looked at and what it read.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
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
    #[serde(flatten)]
    pub reads: StorageReads,
}

impl AddAssign<&SearchStats> for SearchStats {
    fn add_assign(&mut self, other: &SearchStats) {
        self.splits_total += other.splits_total;
        self.splits_searched += other.splits_searched;
        self.splits_pruned += other.splits_pruned;
        self.splits_from_cache += other.splits_from_cache;
        self.reads += other.reads;
    }
}

/// The storage reads of a search: the requests and bytes it paid for, and the reads the
/// byte-range cache saved it.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StorageReads {
    /// Storage GETs made.
    pub storage_gets: u64,
    pub storage_bytes: u64,
    /// Reads served from the in-memory byte-range cache.
    pub cache_hits: u64,
    /// Storage round trips one after another on the longest path of a split, from its footer
    /// to the page's documents: each waited for the one before (the footer before the term
    /// dictionary, the term dictionary before the postings); reads made together count
    /// once. The metastore's reads come before and are not counted. The latency a cold
    /// search pays for its splits is this times the storage's, whatever the number of GETs.
    #[serde(default)]
    pub round_trips: u64,
}

impl StorageReads {
    /// Adds reads made at the same time as these (another split, another leaf): requests
    /// and bytes add up, round trips are the longer path's.
    pub fn add_parallel(&mut self, other: StorageReads) {
        let round_trips = self.round_trips.max(other.round_trips);
        *self += other;
        self.round_trips = round_trips;
    }
}

/// Adds reads made after these: everything adds up, round trips too.
impl AddAssign for StorageReads {
    fn add_assign(&mut self, other: StorageReads) {
        self.storage_gets += other.storage_gets;
        self.storage_bytes += other.storage_bytes;
        self.cache_hits += other.cache_hits;
        self.round_trips += other.round_trips;
    }
}

/// Counts one search's storage reads as they happen, from any thread.
///
/// Opened splits outlive requests (the searcher caches them), so their fetchers cannot hold a
/// request's counter: each search sets its counter for the thread around its blocking work
/// ([`ReadCounter::count`]), and the fetcher reports to whichever counter is set.
///
/// A split's reads are counted by a counter of its own ([`ReadCounter::for_split`]), which
/// also counts into the search's: the split's counter knows its round trips, the search's
/// keeps the longest.
#[derive(Debug, Default)]
pub struct ReadCounter {
    storage_gets: AtomicU64,
    storage_bytes: AtomicU64,
    cache_hits: AtomicU64,
    round_trips: AtomicU64,
    /// Reads that waited for storage inside an asynchronous batch of reads, which counts as
    /// one round trip whatever their number ([`ReadCounter::batch`]).
    batched_waits: AtomicU64,
    /// The search's counter, for a split's.
    parent: Option<Arc<ReadCounter>>,
}

thread_local! {
    static THREAD_READ_COUNTER: RefCell<Option<Arc<ReadCounter>>> = const { RefCell::new(None) };
}

tokio::task_local! {
    /// The counter of asynchronous reads: a task may move between threads.
    static TASK_READ_COUNTER: Arc<ReadCounter>;
}

impl ReadCounter {
    /// Runs `work` with the storage reads it makes on this thread counted here.
    pub fn count<R>(self: &Arc<Self>, work: impl FnOnce() -> R) -> R {
        /// Restores the previous counter even if `work` panics: blocking threads are reused.
        struct Restore(Option<Arc<ReadCounter>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                THREAD_READ_COUNTER.with(|slot| *slot.borrow_mut() = previous);
            }
        }
        let _restore = Restore(THREAD_READ_COUNTER.with(|slot| slot.replace(Some(self.clone()))));
        work()
    }

    /// A counter for one split's reads, which also counts them here.
    pub fn for_split(self: &Arc<Self>) -> Arc<ReadCounter> {
        Arc::new(ReadCounter {
            parent: Some(self.clone()),
            ..ReadCounter::default()
        })
    }

    /// Runs `reads`, asynchronous reads made together, with them counted here: however many
    /// of them waited for storage, they took one round trip.
    pub async fn batch<F: Future>(self: &Arc<Self>, reads: F) -> F::Output {
        let waits_before = self.batched_waits.load(Ordering::Relaxed);
        let output = TASK_READ_COUNTER.scope(self.clone(), reads).await;
        if self.batched_waits.load(Ordering::Relaxed) > waits_before {
            self.add_round_trip();
        }
        output
    }

    /// What has been counted so far.
    pub fn reads(&self) -> StorageReads {
        StorageReads {
            storage_gets: self.storage_gets.load(Ordering::Relaxed),
            storage_bytes: self.storage_bytes.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
        }
    }

    /// The counter of the reads made here: the task's inside [`ReadCounter::batch`], else
    /// the thread's.
    fn current(update: impl FnOnce(&ReadCounter, bool)) {
        if let Ok(counter) = TASK_READ_COUNTER.try_with(Arc::clone) {
            update(&counter, true);
            return;
        }
        THREAD_READ_COUNTER.with(|slot| {
            if let Some(counter) = slot.borrow().as_ref() {
                update(counter, false);
            }
        });
    }

    /// Counts a GET of `num_bytes`.
    pub(crate) fn add_get(&self, num_bytes: u64) {
        self.storage_gets.fetch_add(1, Ordering::Relaxed);
        self.storage_bytes.fetch_add(num_bytes, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.add_get(num_bytes);
        }
    }

    fn add_cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.add_cache_hit();
        }
    }

    /// Counts a round trip on this counter's path: the search's keeps its longest split's.
    pub(crate) fn add_round_trip(&self) {
        let round_trips = self.round_trips.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(parent) = &self.parent {
            parent.round_trips.fetch_max(round_trips, Ordering::Relaxed);
        }
    }

    /// Counts a GET of `num_bytes` made here.
    pub(crate) fn record_get(num_bytes: u64) {
        Self::current(|counter, _| counter.add_get(num_bytes));
    }

    /// Counts a read here that waited for storage (its own GET or one already in flight): a
    /// round trip, or a share of its batch's.
    pub(crate) fn record_wait() {
        Self::current(|counter, batched| {
            if batched {
                counter.batched_waits.fetch_add(1, Ordering::Relaxed);
            } else {
                counter.add_round_trip();
            }
        });
    }

    /// Counts a read served from the cache here.
    pub(crate) fn record_cache_hit() {
        Self::current(|counter, _| counter.add_cache_hit());
    }
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
        // A request's searches run at the same time (the panels of an `_msearch`): its round
        // trips are its longest search's.
        let round_trips = cost.stats.reads.round_trips.max(stats.reads.round_trips);
        cost.stats += stats;
        cost.stats.reads.round_trips = round_trips;
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
