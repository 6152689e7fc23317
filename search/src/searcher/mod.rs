//! The search core: one request over the published splits of an index, in the steps
//! Quickwit's root and leaves take, so that leaves can later run in other invocations.
//!
//! 1. [`plan`]: the request checked and compiled against the doc mapping (cached), and the
//!    splits to search, newest first, after pruning by time range: [`SearchService::plan`].
//! 2. [`leaf`]: per split, with bounded concurrency, a cached answer for this request, or the
//!    split opened from its footer (one ranged GET, cached) and searched on a blocking thread:
//!    the count, the best `start_offset + max_hits` candidates, intermediate aggregations.
//!    [`SearchService::leaf_search`] answers a [`LeafSearchRequest`] over any set of splits.
//!    With [`fan_out`], a plan of many splits is shared out with other invocations.
//! 3. [`merge`]: leaf answers over disjoint split sets merged into one ([`SearchPlan::merge`]).
//! 4. [`fetch`]: only the page's documents read and rendered, aggregations finalized:
//!    [`SearchService::finish`].
//!
//! A split that fails is reported in `errors` (without internal details); the others still
//! answer. A missing split makes the metastore document revalidate on the next request.

mod aggregations;
pub mod fan_out;
mod fetch;
mod fields;
pub mod leaf;
mod merge;
mod multi;
mod params;
pub(crate) mod plan;
mod scoring;
mod stream;
mod warmup;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_index::doc_mapper::DocMapper;
use hydrant_metastore::Metastore;
use tracing::debug;

pub use self::aggregations::{AggregationRequest, MAX_AGGREGATION_DEPTH};
pub use self::fields::{FieldInfo, FieldsRequest, StoredType};
pub use self::leaf::{FailedSplit, LeafSearchRequest, LeafSearchResponse};
pub use self::multi::IndexesResponse;
pub use self::params::{MAX_HITS_LIMIT, SearchAfterParam, SearchAnswer, SearchParams};
use self::plan::CompiledRequest;
pub use self::plan::LeafSplit;
pub use self::scoring::Bm25Totals;
pub use self::stream::{MAX_STREAM_BYTES, StreamFormat, StreamRequest};
use crate::cache::{
    ChunkCache, DocCache, DocMapperCache, FooterCache, LeafCache, METASTORE_TTL, MetastoreCache,
    OpenSplitCache,
};
use crate::cost::ReadCounter;
use crate::cost::SearchStats;
use crate::error::{Result, SearchError};
use crate::fetcher::ChunkFetches;
use crate::request::{SearchRequest, SearchResponse};
use crate::signing::SigningKey;
use crate::sort::{Candidate, DocPosition, HitPosition, SortKind, SortValue, final_page};
use crate::split_cache::SplitCache;

/// Sizes of what is kept across requests (warm Lambda invocations).
#[derive(Clone, Debug, PartialEq)]
pub struct SearcherConfig {
    /// Bytes of split data (fetched ranges) kept in memory.
    pub chunk_cache_bytes: u64,
    /// Bytes of split footers (hotcaches) kept in memory.
    pub footer_cache_bytes: u64,
    /// Bytes of per-split results kept in memory.
    pub leaf_cache_bytes: u64,
    /// Bytes of rendered hits kept in memory.
    pub doc_cache_bytes: u64,
    /// Bytes of splits kept open between requests: an open split holds its footer (parsed
    /// metadata and hotcache) and segment readers.
    pub open_split_bytes: u64,
    /// Splits searched at the same time. A cold split search mostly waits on a few sequential
    /// storage round trips, so this is far above the core count: over 1,000 small splits
    /// with 30 ms GETs, a searcher on one core answers cold in 273 ms searching all of them
    /// at once, 582 ms a hundred at a time (`loadtest fanout`, BENCHMARKS.md).
    pub split_concurrency: usize,
    /// Footer bytes of the splits searched at the same time: what bounds their memory when
    /// footers are large.
    pub in_flight_footer_bytes: u64,
    /// How long a metastore document is trusted before revalidation.
    pub metastore_ttl: Duration,
    /// Largest export (`search/stream`) body; past it the export fails with a 413. The
    /// default fits a Lambda response once base64-encoded.
    pub max_stream_bytes: usize,
}

impl Default for SearcherConfig {
    fn default() -> Self {
        SearcherConfig {
            chunk_cache_bytes: 256 << 20,
            footer_cache_bytes: 64 << 20,
            leaf_cache_bytes: 32 << 20,
            doc_cache_bytes: 32 << 20,
            open_split_bytes: 256 << 20,
            split_concurrency: 1000,
            in_flight_footer_bytes: 256 << 20,
            metastore_ttl: METASTORE_TTL,
            max_stream_bytes: MAX_STREAM_BYTES,
        }
    }
}

/// Answers search requests; holds the caches that make warm requests cheap.
pub struct SearchService {
    metastores: MetastoreCache,
    split_cache: Option<Arc<SplitCache>>,
    doc_mappers: DocMapperCache,
    footers: FooterCache,
    chunks: Arc<ChunkCache>,
    /// GETs of chunks in flight, shared by the searches that need them.
    chunk_fetches: Arc<ChunkFetches>,
    leaves: LeafCache,
    docs: DocCache,
    searchers: OpenSplitCache,
    split_concurrency: usize,
    in_flight: leaf::InFlightBudget,
    max_stream_bytes: usize,
    field_lists: fields::FieldListCache,
    /// Read (or created) on first use: only scrolls need it.
    signing_key: tokio::sync::OnceCell<SigningKey>,
    /// Where leaves of large plans go; none: every split is searched here.
    fan_out: Option<fan_out::FanOut>,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchService").finish_non_exhaustive()
    }
}

impl SearchService {
    pub fn new(metastore: Metastore, config: SearcherConfig) -> Self {
        SearchService {
            metastores: MetastoreCache::new(metastore, config.metastore_ttl),
            split_cache: None,
            doc_mappers: DocMapperCache::default(),
            footers: FooterCache::with_capacity_bytes(config.footer_cache_bytes),
            chunks: Arc::new(ChunkCache::with_capacity_bytes(config.chunk_cache_bytes)),
            chunk_fetches: Arc::default(),
            leaves: LeafCache::with_capacity_bytes(config.leaf_cache_bytes),
            docs: DocCache::with_capacity_bytes(config.doc_cache_bytes),
            searchers: OpenSplitCache::with_capacity_bytes(config.open_split_bytes),
            split_concurrency: config.split_concurrency.max(1),
            in_flight: leaf::InFlightBudget::new(config.in_flight_footer_bytes),
            max_stream_bytes: config.max_stream_bytes,
            field_lists: fields::FieldListCache::new(fields::FIELD_LIST_CACHE_SPLITS),
            signing_key: tokio::sync::OnceCell::new(),
            fan_out: None,
        }
    }

    /// Every index id, sorted (listed at most once per metastore TTL).
    pub async fn index_ids(&self) -> Result<Arc<Vec<String>>> {
        self.metastores.index_ids().await
    }

    /// Whether `index_id` exists (its document cached or read).
    pub async fn index_exists(&self, index_id: &str) -> Result<bool> {
        match self.metastores.get(index_id).await {
            Ok(_) => Ok(true),
            Err(SearchError::IndexNotFound(_)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The doc mapper of `index_id` (cached).
    pub async fn doc_mapper(&self, index_id: &str) -> Result<Arc<DocMapper>> {
        Ok(self.doc_mapper_and_uid(index_id).await?.0)
    }

    /// The doc mapper and uid of `index_id`, from the cached metastore document.
    pub(crate) async fn doc_mapper_and_uid(
        &self,
        index_id: &str,
    ) -> Result<(Arc<DocMapper>, String)> {
        let metadata = self.metastores.get(index_id).await?;
        Ok((self.doc_mappers.get(&metadata)?, metadata.index_uid.clone()))
    }

    /// Drops what is cached of `index_id`'s metastore document: the next request reads it
    /// again (after a local write changed it, rather than up to a TTL later).
    pub fn forget_index(&self, index_id: &str) {
        self.metastores.expire(index_id);
    }

    /// The key scroll ids are signed with, shared by every searcher of the storage.
    pub async fn signing_key(&self) -> Result<&SigningKey> {
        self.signing_key
            .get_or_try_init(|| SigningKey::load_or_create(self.metastore().storage().as_ref()))
            .await
    }

    pub fn metastore(&self) -> &Metastore {
        self.metastores.metastore()
    }

    /// Keeps whole splits on local disk once searched (see [`SplitCache`]).
    pub fn with_split_cache(mut self, split_cache: Arc<SplitCache>) -> Self {
        self.split_cache = Some(split_cache);
        self
    }

    /// The disk split cache, if any.
    pub fn split_cache(&self) -> Option<&Arc<SplitCache>> {
        self.split_cache.as_ref()
    }

    /// A native search request on `index_id`, answered in the native shape. An unknown index
    /// is a 404 before the request is read.
    pub async fn search(&self, index_id: &str, request: &SearchRequest) -> Result<SearchResponse> {
        self.metastores.get(index_id).await?;
        let answer = self
            .search_one(index_id, &SearchParams::from_native(request)?)
            .await?;
        Ok(answer.into_native(request.stats))
    }

    /// Runs `params` on `index_id`: plan, one leaf over every planned split, finish.
    pub async fn search_one(&self, index_id: &str, params: &SearchParams) -> Result<SearchAnswer> {
        let plan = self.plan(index_id, params).await?;
        let leaf = self.run_leaves(&plan).await?;
        self.finish(&plan, leaf).await
    }

    /// Checks and compiles `params` for `index_id` and picks the splits it must search.
    /// Every mistake in the request is found here, before any split is read.
    pub async fn plan(&self, index_id: &str, params: &SearchParams) -> Result<SearchPlan> {
        self.plan_over(index_id, params, None).await
    }

    async fn plan_over(
        &self,
        index_id: &str,
        request: &SearchParams,
        split_ids: Option<&[String]>,
    ) -> Result<SearchPlan> {
        let started = Instant::now();
        let metadata = self.metastores.get(index_id).await?;
        let doc_mapper = self.doc_mappers.get(&metadata)?;
        let compiled = CompiledRequest::compile(index_id, doc_mapper, request)?;
        let (metadata, (splits, splits_total)) = match split_ids {
            None => {
                let planned = plan::splits_to_search(&metadata, request, &compiled);
                (metadata, planned)
            }
            Some(split_ids) => match plan::named_splits(&metadata, request, split_ids) {
                Ok(found) => (metadata, found),
                // The cached document may predate the scroll's splits: read it again once.
                Err(_) => {
                    self.metastores.expire(index_id);
                    let metadata = self.metastores.get(index_id).await?;
                    let found = plan::named_splits(&metadata, request, split_ids)?;
                    (metadata, found)
                }
            },
        };
        let compiled =
            compiled.with_older_mappings(&metadata, &self.doc_mappers, request, &splits)?;
        Ok(SearchPlan {
            compiled,
            request: request.clone(),
            splits,
            splits_total,
            started,
        })
    }

    /// The response to a planned request from its merged leaf answer: the page picked from
    /// the candidates, its documents fetched, aggregations finalized.
    pub async fn finish(
        &self,
        plan: &SearchPlan,
        leaf: LeafSearchResponse,
    ) -> Result<SearchAnswer> {
        let splits = PlannedSplits::of_one(plan);
        let (response, _) = self
            .finish_many(std::slice::from_ref(plan), &splits, leaf)
            .await?;
        Ok(response)
    }

    /// [`SearchService::finish`] over the plans of several indexes whose splits share one
    /// ordinal space (`splits`); also says which plan each hit came from.
    pub(crate) async fn finish_many(
        &self,
        plans: &[SearchPlan],
        splits: &PlannedSplits,
        leaf: LeafSearchResponse,
    ) -> Result<(SearchAnswer, Vec<usize>)> {
        let first = plans
            .first()
            .ok_or_else(|| SearchError::Internal("a search with no plan".to_string()))?;
        let request = &first.request;
        let (num_hits, max_score) = (leaf.num_hits, leaf.max_score);
        let mut stats = leaf_stats(plans, splits, &leaf);
        let page = final_page(
            &first.compiled.sort,
            leaf.candidates,
            request.start_offset,
            request.max_hits,
        );
        // Checks every hit's split is planned: a leaf answer from elsewhere could name any.
        let owners: Vec<usize> = page
            .iter()
            .map(|candidate| splits.owner(candidate.split_ordinal))
            .collect::<Result<_>>()?;
        let hit_ids = splits.hit_ids(&page);
        let sort_values = request.sort_values.then(|| {
            page.iter()
                .zip(&owners)
                .map(|(candidate, owner)| {
                    render_sort_values(&plans[*owner], splits.position(candidate))
                        .collect::<Vec<_>>()
                })
                .collect()
        });
        let last_hit_position = match page.last() {
            Some(last) if request.sort_values => Some(splits.position(last)),
            _ => None,
        };
        let fetch_reads = Arc::new(ReadCounter::default());
        let (hits, snippets) = self
            .fetch_page(
                plans,
                splits,
                &page,
                &owners,
                &request.snippet_fields,
                &fetch_reads,
            )
            .await?;
        let snippets = (!request.snippet_fields.is_empty()).then_some(snippets);
        let aggregations = match &first.compiled.aggregations {
            Some(request_aggs) => Some(aggregations::finalize_aggregations(
                request_aggs,
                leaf.aggregations,
            )?),
            None => None,
        };
        let errors = leaf
            .failed_splits
            .iter()
            .map(|failed| format!("split {} could not be searched", failed.split_id))
            .collect();
        stats.reads += fetch_reads.reads();
        let elapsed_time_micros = first.started.elapsed().as_micros() as u64;
        report_search(plans, num_hits, &stats, elapsed_time_micros);
        let response = SearchAnswer {
            num_hits,
            hits,
            snippets,
            aggregations,
            sort_values,
            last_hit_position,
            elapsed_time_micros,
            errors,
            stats,
            max_score,
            hit_ids,
        };
        Ok((response, owners))
    }

    /// The page's hits (and snippets, when asked for), each fetched by the plan whose index
    /// holds it, in page order.
    async fn fetch_page(
        &self,
        plans: &[SearchPlan],
        splits: &PlannedSplits,
        page: &[Candidate],
        owners: &[usize],
        snippet_fields: &[String],
        reads: &Arc<ReadCounter>,
    ) -> Result<(Vec<serde_json::Value>, Vec<serde_json::Value>)> {
        let mut hits = vec![serde_json::Value::Null; page.len()];
        let mut snippets = vec![serde_json::Value::Null; page.len()];
        for (owner, plan) in plans.iter().enumerate() {
            let positions: Vec<usize> = (0..page.len()).filter(|i| owners[*i] == owner).collect();
            if positions.is_empty() {
                continue;
            }
            // One index (the usual search) owns the whole page: no copy of it.
            let share: std::borrow::Cow<'_, [Candidate]> = if positions.len() == page.len() {
                std::borrow::Cow::Borrowed(page)
            } else {
                positions.iter().map(|i| page[*i].clone()).collect()
            };
            let (share_hits, share_snippets) = self
                .fetch_hits(
                    &plan.compiled,
                    &splits.splits,
                    &share,
                    snippet_fields,
                    reads,
                )
                .await?;
            for (position, hit) in positions.iter().zip(share_hits) {
                hits[*position] = hit;
            }
            for (position, snippet) in positions.iter().zip(share_snippets.into_iter().flatten()) {
                snippets[*position] = snippet;
            }
        }
        Ok((hits, snippets))
    }
}

/// What the leaves' search over `plans` cost; the page's fetches are added to it.
fn leaf_stats(
    plans: &[SearchPlan],
    splits: &PlannedSplits,
    leaf: &LeafSearchResponse,
) -> SearchStats {
    let splits_total: usize = plans.iter().map(|plan| plan.splits_total).sum();
    let mut stats = leaf.stats(splits_total);
    stats.splits_pruned = splits_total.saturating_sub(splits.splits.len());
    stats
}

/// Adds a finished search to the request's tally and the debug log.
fn report_search(plans: &[SearchPlan], num_hits: u64, stats: &SearchStats, elapsed_micros: u64) {
    let index_ids: Vec<&str> = plans
        .iter()
        .map(|plan| plan.compiled.index_id.as_str())
        .collect();
    crate::cost::add(&index_ids, stats);
    debug!(
        index_id = index_ids.join(","),
        num_hits,
        splits_searched = stats.splits_searched,
        splits_pruned = stats.splits_pruned,
        splits_from_cache = stats.splits_from_cache,
        gets = stats.reads.storage_gets,
        bytes_fetched = stats.reads.storage_bytes,
        cache_hits = stats.reads.cache_hits,
        elapsed_micros,
        "search"
    );
}

/// The splits of one or more plans in one ordinal space (a split's ordinal is its index in
/// `splits`), with the plan each belongs to.
pub(crate) struct PlannedSplits {
    pub splits: Vec<LeafSplit>,
    owners: Vec<usize>,
}

impl PlannedSplits {
    fn of_one(plan: &SearchPlan) -> Self {
        PlannedSplits {
            splits: plan.splits.clone(),
            owners: vec![0; plan.splits.len()],
        }
    }

    /// Every plan's splits, newest first across all of them (split ids are time-ordered and
    /// unique across indexes), renumbered in that order; each plan's own ordinals are set to
    /// match, so that its leaf answers name splits in this space.
    pub(crate) fn of_many(plans: &mut [SearchPlan]) -> Self {
        let mut all: Vec<(usize, LeafSplit)> = plans
            .iter()
            .enumerate()
            .flat_map(|(owner, plan)| plan.splits.iter().map(move |split| (owner, split.clone())))
            .collect();
        all.sort_by(|left, right| right.1.split_id.cmp(&left.1.split_id));
        for plan in plans.iter_mut() {
            plan.splits.clear();
        }
        let mut splits = Vec::with_capacity(all.len());
        let mut owners = Vec::with_capacity(all.len());
        for (ordinal, (owner, mut split)) in all.into_iter().enumerate() {
            split.ordinal = ordinal;
            plans[owner].splits.push(split.clone());
            splits.push(split);
            owners.push(owner);
        }
        PlannedSplits { splits, owners }
    }

    fn owner(&self, ordinal: usize) -> Result<usize> {
        self.owners.get(ordinal).copied().ok_or_else(|| {
            SearchError::Internal(format!("a hit names split {ordinal}, which is not planned"))
        })
    }

    /// A candidate's exact place: its values and its split, segment and document.
    fn position(&self, candidate: &Candidate) -> HitPosition {
        HitPosition {
            values: candidate.values.clone(),
            doc: self.doc_position(candidate),
        }
    }

    /// Each hit's `_id`: its address, `split:segment:doc`.
    fn hit_ids(&self, page: &[Candidate]) -> Vec<String> {
        (page.iter())
            .map(|candidate| self.doc_position(candidate).to_sort_value())
            .collect()
    }

    /// A candidate's split, segment and document.
    fn doc_position(&self, candidate: &Candidate) -> DocPosition {
        DocPosition {
            split_id: self.splits[candidate.split_ordinal].split_id.clone(),
            segment_ord: candidate.segment_ord,
            doc_id: candidate.doc_id,
        }
    }
}

/// A hit's sort values as clients see them: datetimes in milliseconds (nanoseconds when
/// asked), then the position if the sort asks for it.
fn render_sort_values(
    plan: &SearchPlan,
    position: HitPosition,
) -> impl Iterator<Item = serde_json::Value> {
    let sort = &plan.compiled.sort;
    let nanos = plan.request.datetime_sort_nanos;
    let kinds: Vec<_> = sort.kinds().collect();
    let position_value = sort
        .position_value
        .then(|| serde_json::Value::from(position.doc.to_sort_value()));
    position
        .values
        .into_iter()
        .zip(kinds)
        .map(move |(value, kind)| match (value, kind) {
            (None, _) => serde_json::Value::Null,
            (Some(SortValue::I64(nanos_value)), Some(SortKind::Datetime)) if !nanos => {
                nanos_value.div_euclid(1_000_000).into()
            }
            (Some(value), _) => value.to_json(),
        })
        .chain(position_value)
}

/// A checked and compiled request with the splits it must search: what a root holds while its
/// leaves answer.
pub struct SearchPlan {
    compiled: CompiledRequest,
    request: SearchParams,
    splits: Vec<LeafSplit>,
    splits_total: usize,
    started: Instant,
}

impl std::fmt::Debug for SearchPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchPlan")
            .field("index_id", &self.compiled.index_id)
            .field("splits", &self.splits.len())
            .finish_non_exhaustive()
    }
}

impl SearchPlan {
    /// The splits to search, newest first.
    pub fn splits(&self) -> &[LeafSplit] {
        &self.splits
    }

    /// A leaf request over some of the planned splits.
    pub fn leaf_request(&self, splits: &[LeafSplit]) -> LeafSearchRequest {
        LeafSearchRequest {
            index_id: self.compiled.index_id.clone(),
            params: self.request.clone(),
            splits: splits.to_vec(),
            bm25: None,
            statistics_only: false,
        }
    }

    /// Leaf answers over disjoint sets of the planned splits, merged into one.
    pub fn merge(&self, responses: Vec<LeafSearchResponse>) -> Result<LeafSearchResponse> {
        merge::merge_leaf_responses(&self.compiled.sort, self.compiled.num_to_collect, responses)
    }
}
