//! The search core: one request over every published split of an index.
//!
//! 1. The index's metastore document (cached, revalidated by ETag); splits whose time range
//!    misses the request's are pruned without being touched.
//! 2. Per split, with bounded concurrency: a cached answer for this request, or the split
//!    opened from its footer (one ranged GET, cached) and searched on a blocking thread: the
//!    count, the best `start_offset + max_hits` candidates, intermediate aggregations.
//! 3. The candidates of all splits merged into the page, aggregations merged and finalized,
//!    and only the page's documents fetched (with snippets if asked).
//!
//! A split that fails is reported in `errors` (without internal details); the others still
//! answer. A missing split makes the metastore document revalidate on the next request.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hydrant_metastore::doc_mapper::{DocMapper, FieldKind, ResolvedField};
use hydrant_metastore::split_bundle::{ByteRangeFetcher, SplitDirectory, SplitFooter};
use hydrant_metastore::{Metastore, SplitFilter, SplitMetadata};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use serde_json::{Map, Value};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{
    AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector,
};
use tantivy::collector::Count;
use tantivy::query::{BooleanQuery, EmptyQuery, Occur, Query, RangeQuery};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, DocAddress, ReloadPolicy, Searcher, TantivyDocument, Term};
use tracing::{info, warn};

use crate::cache::{
    DocCache, DocKey, DocMapperCache, LeafCache, LeafOutcome, METASTORE_TTL, MetastoreCache,
};
use crate::error::{Result, SearchError};
use crate::fetcher::{ChunkCache, FetchStats, StorageFetcher, with_request_stats};
use crate::query::{build_query, parse_query};
use crate::request::{SearchRequest, SearchResponse, SearchStats};
use crate::sort::{Candidate, SortSpec, TopHitsCollector, final_page};
use crate::split_cache::SplitCache;

/// Memory aggregations may use per request, and buckets they may return.
const AGGREGATION_MEMORY_LIMIT: u64 = 500 << 20;
const AGGREGATION_BUCKET_LIMIT: u32 = 65_000;

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
    /// Splits kept open between requests. An open split holds its parsed metadata, segment
    /// readers and, once it has rendered a hit, one decompressed doc store block (up to
    /// `docstore_blocksize`, 1 MB by default): this bounds that memory to about 256 MB.
    pub open_splits: usize,
    /// Splits searched at the same time. A cold split search mostly waits on a few sequential
    /// storage round trips, so this is far above the core count: 100 splits with 30 ms GETs
    /// answer in one wave of round trips instead of thirteen.
    pub split_concurrency: usize,
    /// How long a metastore document is trusted before revalidation.
    pub metastore_ttl: Duration,
}

impl Default for SearcherConfig {
    fn default() -> Self {
        SearcherConfig {
            chunk_cache_bytes: 256 << 20,
            footer_cache_bytes: 64 << 20,
            leaf_cache_bytes: 32 << 20,
            doc_cache_bytes: 32 << 20,
            open_splits: 256,
            split_concurrency: 100,
            metastore_ttl: METASTORE_TTL,
        }
    }
}

#[derive(Clone)]
struct FooterWeighter;

impl Weighter<String, Arc<SplitFooter>> for FooterWeighter {
    fn weight(&self, _key: &String, footer: &Arc<SplitFooter>) -> u64 {
        footer.hotcache().num_bytes() as u64 + 1024
    }
}

/// Answers search requests; holds the caches that make warm requests cheap.
pub struct SearchService {
    metastores: MetastoreCache,
    split_cache: Option<Arc<SplitCache>>,
    doc_mappers: DocMapperCache,
    footers: Cache<String, Arc<SplitFooter>, FooterWeighter>,
    chunks: Arc<ChunkCache>,
    leaves: LeafCache,
    docs: DocCache,
    /// Open splits by split id: reopening one costs parsing its metadata and opening its
    /// segment readers, on every request otherwise.
    searchers: Cache<String, Searcher>,
    split_concurrency: usize,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchService").finish_non_exhaustive()
    }
}

/// Everything a split search needs, shared by all splits of a request.
struct RequestPlan {
    index_id: String,
    doc_mapper: Arc<DocMapper>,
    query: Arc<dyn Query>,
    sort: SortSpec,
    aggregations: Option<Aggregations>,
    num_to_collect: usize,
    count_all: bool,
    fingerprint: String,
    stats: Arc<FetchStats>,
}

/// A split's answer, and its open searcher when it was searched (not cached).
struct SplitAnswer {
    outcome: Arc<LeafOutcome>,
    searcher: Option<Searcher>,
}

impl SearchService {
    pub fn new(metastore: Metastore, config: SearcherConfig) -> Self {
        SearchService {
            metastores: MetastoreCache::new(metastore, config.metastore_ttl),
            split_cache: None,
            doc_mappers: DocMapperCache::default(),
            footers: Cache::with_weighter(1024, config.footer_cache_bytes, FooterWeighter),
            chunks: Arc::new(ChunkCache::with_capacity_bytes(config.chunk_cache_bytes)),
            leaves: LeafCache::with_capacity_bytes(config.leaf_cache_bytes),
            docs: DocCache::with_capacity_bytes(config.doc_cache_bytes),
            searchers: Cache::new(config.open_splits.max(1)),
            split_concurrency: config.split_concurrency.max(1),
        }
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

    /// Runs `request` on `index_id`.
    pub async fn search(&self, index_id: &str, request: &SearchRequest) -> Result<SearchResponse> {
        let started = Instant::now();
        request.validate()?;
        let metadata = self.metastores.get(index_id).await?;
        let doc_mapper = self.doc_mappers.get(&metadata)?;
        let ast = parse_query(&request.query)?;
        let default_fields: &[String] = if request.search_field.is_empty() {
            doc_mapper.default_search_fields()
        } else {
            &request.search_field
        };
        let mut query = build_query(&ast, &doc_mapper, default_fields)?;
        if let Some(time_filter) = time_filter(&doc_mapper, request)? {
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (Occur::Must, time_filter),
            ]));
        }
        let aggregations = match &request.aggs {
            None => None,
            Some(json) => Some(
                serde_json::from_value::<Aggregations>(json.clone())
                    .map_err(|error| SearchError::InvalidRequest(format!("aggs: {error}")))?,
            ),
        };
        if let Some(aggregations) = &aggregations {
            check_aggregation_requests(aggregations, 1)?;
            check_aggregation_fields(&doc_mapper, aggregations)?;
        }
        check_snippet_fields(&doc_mapper, &request.snippet_fields)?;
        let plan = Arc::new(RequestPlan {
            index_id: index_id.to_string(),
            doc_mapper: doc_mapper.clone(),
            query: Arc::from(query),
            sort: SortSpec::parse(&request.sort_by, &doc_mapper)?,
            aggregations,
            num_to_collect: request.start_offset + request.max_hits,
            count_all: request.count_all,
            fingerprint: request.fingerprint(),
            stats: Arc::new(FetchStats::default()),
        });

        // Newest split first: the ordinal is the tie-break of document order.
        let filter = SplitFilter::published_in(request.start_timestamp, request.end_timestamp);
        let mut splits: Vec<&SplitMetadata> = metadata.splits_matching(&filter).collect();
        splits.sort_by(|left, right| right.split_id.cmp(&left.split_id));
        let splits_total = metadata.published_splits().count();

        // The futures are built first so the stream's type names no closure: rustc cannot
        // prove a mapping closure over borrowed splits `Send` for every lifetime.
        let split_searches: Vec<_> = splits
            .iter()
            .enumerate()
            .map(|(ordinal, split)| {
                let plan = plan.clone();
                async move { (ordinal, self.answer_split(&plan, split, ordinal).await) }
            })
            .collect();
        let mut answers: Vec<(usize, std::result::Result<SplitAnswer, SplitError>)> =
            futures::stream::iter(split_searches)
                .buffer_unordered(self.split_concurrency)
                .collect()
                .await;
        answers.sort_by_key(|(ordinal, _)| *ordinal);

        let mut errors = Vec::new();
        let mut num_hits = 0u64;
        let mut candidates = Vec::new();
        let mut aggregations: Option<IntermediateAggregationResults> = None;
        let mut searchers: BTreeMap<usize, Searcher> = BTreeMap::new();
        let mut splits_from_cache = 0;
        for (ordinal, answer) in answers {
            match answer {
                Ok(answer) => {
                    num_hits += answer.outcome.count;
                    candidates.extend(answer.outcome.candidates.iter().cloned());
                    if let Some(split_aggregations) = &answer.outcome.aggregations {
                        match &mut aggregations {
                            None => aggregations = Some(split_aggregations.clone()),
                            Some(merged) => {
                                merged.merge_fruits(split_aggregations.clone()).map_err(
                                    |error| SearchError::InvalidRequest(format!("aggs: {error}")),
                                )?
                            }
                        }
                    }
                    match answer.searcher {
                        Some(searcher) => {
                            searchers.insert(ordinal, searcher);
                        }
                        None => splits_from_cache += 1,
                    }
                }
                Err(error) => {
                    let split_id = &splits[ordinal].split_id;
                    warn!(
                        index_id,
                        split_id,
                        details = error.details,
                        "split search failed"
                    );
                    if error.missing {
                        self.metastores.expire(index_id);
                    }
                    errors.push(format!("split {split_id} could not be searched"));
                }
            }
        }
        if !plan.count_all {
            num_hits = num_hits.max(candidates.len() as u64);
        }
        let page = final_page(
            &plan.sort,
            candidates,
            request.start_offset,
            request.max_hits,
        );
        let (hits, snippets) = self
            .fetch_hits(
                &plan,
                &splits,
                &page,
                &mut searchers,
                &request.snippet_fields,
            )
            .await?;
        let aggregations = match (&plan.aggregations, aggregations) {
            (Some(request_aggs), Some(intermediate)) => {
                Some(finalize_aggregations(request_aggs, intermediate)?)
            }
            (Some(request_aggs), None) => Some(finalize_aggregations(
                request_aggs,
                IntermediateAggregationResults::default(),
            )?),
            _ => None,
        };
        let elapsed_time_micros = started.elapsed().as_micros() as u64;
        let stats = SearchStats {
            splits_total,
            splits_searched: splits.len(),
            splits_pruned: splits_total - splits.len(),
            splits_from_cache,
            storage_gets: plan.stats.num_gets.load(AtomicOrdering::Relaxed),
            storage_bytes: plan.stats.bytes_fetched.load(AtomicOrdering::Relaxed),
            cache_hits: plan.stats.cache_hits.load(AtomicOrdering::Relaxed),
        };
        info!(
            index_id,
            num_hits,
            splits_searched = stats.splits_searched,
            splits_pruned = stats.splits_pruned,
            splits_from_cache,
            gets = stats.storage_gets,
            bytes_fetched = stats.storage_bytes,
            cache_hits = stats.cache_hits,
            elapsed_micros = elapsed_time_micros,
            "search"
        );
        Ok(SearchResponse {
            num_hits,
            hits,
            snippets,
            aggregations,
            elapsed_time_micros,
            errors,
            stats: request.stats.then_some(stats),
        })
    }

    /// A split's answer from the cache, or from searching it.
    async fn answer_split(
        &self,
        plan: &RequestPlan,
        split: &SplitMetadata,
        ordinal: usize,
    ) -> std::result::Result<SplitAnswer, SplitError> {
        if let Some(outcome) = self.leaves.get(&split.split_id, &plan.fingerprint) {
            // Cached candidates carry the ordinal of the request that computed them.
            let outcome = if outcome
                .candidates
                .iter()
                .all(|candidate| candidate.split_ordinal == ordinal)
            {
                outcome
            } else {
                let mut renumbered = (*outcome).clone();
                for candidate in &mut renumbered.candidates {
                    candidate.split_ordinal = ordinal;
                }
                Arc::new(renumbered)
            };
            return Ok(SplitAnswer {
                outcome,
                searcher: None,
            });
        }
        let searcher = self.open_split(plan, split).await?;
        let query = plan.query.clone();
        let sort = plan.sort.clone();
        let aggregations = plan.aggregations.clone();
        let (num_to_collect, count_all) = (plan.num_to_collect, plan.count_all);
        let tokenizers = plan.doc_mapper.tokenizers().clone();
        let searcher_for_task = searcher.clone();
        let stats = plan.stats.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            with_request_stats(&stats, || {
                let top_hits = TopHitsCollector {
                    spec: sort,
                    limit: num_to_collect,
                    split_ordinal: ordinal,
                };
                let aggregation_collector = aggregations.map(|aggregations| {
                    let limits = AggregationLimitsGuard::new(
                        Some(AGGREGATION_MEMORY_LIMIT),
                        Some(AGGREGATION_BUCKET_LIMIT),
                    );
                    DistributedAggregationCollector::from_aggs(
                        aggregations,
                        AggContextParams::new(limits, tokenizers),
                    )
                });
                let count = count_all.then_some(Count);
                let (count, candidates, aggregations) = searcher_for_task
                    .search(query.as_ref(), &(count, top_hits, aggregation_collector))?;
                Ok::<_, tantivy::TantivyError>(LeafOutcome {
                    count: count.unwrap_or(0) as u64,
                    candidates,
                    aggregations,
                })
            })
        })
        .await
        .map_err(|error| SplitError::other(format!("search task failed: {error}")))?
        .map_err(|error| SplitError::other(error.to_string()))?;
        let outcome = Arc::new(outcome);
        self.leaves
            .insert(&split.split_id, &plan.fingerprint, outcome.clone());
        Ok(SplitAnswer {
            outcome,
            searcher: Some(searcher),
        })
    }

    /// Opens a split: its footer (one ranged GET, then cached), then tantivy over the hotcache
    /// and the byte-range fetcher: the local copy when the split cache has one, storage
    /// otherwise (and the split cache, if any, starts downloading it).
    async fn open_split(
        &self,
        plan: &RequestPlan,
        split: &SplitMetadata,
    ) -> std::result::Result<Searcher, SplitError> {
        if let Some(searcher) = self.searchers.get(&split.split_id) {
            return Ok(searcher);
        }
        let storage = self.metastore().storage().clone();
        let path = SplitMetadata::split_path(&plan.index_id, &split.split_id);
        let local = self
            .split_cache
            .as_ref()
            .and_then(|cache| cache.fetcher(&split.split_id));
        let footer = match self.footers.get(&split.split_id) {
            Some(footer) => footer,
            None => {
                let footer = match &local {
                    Some(local) => local
                        .read_footer(&path, split.footer_offsets.clone())
                        .map_err(SplitError::from_metastore)?,
                    None => {
                        let footer = SplitFooter::read(
                            storage.as_ref(),
                            &path,
                            Some(split.footer_offsets.clone()),
                        )
                        .await
                        .map_err(SplitError::from_metastore)?;
                        plan.stats
                            .record_get(split.footer_offsets.end - split.footer_offsets.start);
                        footer
                    }
                };
                let footer = Arc::new(footer);
                self.footers.insert(split.split_id.clone(), footer.clone());
                footer
            }
        };
        let fetcher: Arc<dyn ByteRangeFetcher> = match local {
            Some(local) => Arc::new(local),
            None => {
                if let Some(cache) = &self.split_cache {
                    cache.download_in_background(
                        storage.clone(),
                        path.clone(),
                        split.split_id.clone(),
                        split.split_size_bytes,
                    );
                }
                Arc::new(StorageFetcher::new(
                    storage,
                    &path,
                    split.split_size_bytes,
                    tokio::runtime::Handle::current(),
                    self.chunks.clone(),
                ))
            }
        };
        let doc_mapper = plan.doc_mapper.clone();
        let stats = plan.stats.clone();
        let searcher = tokio::task::spawn_blocking(move || {
            with_request_stats(&stats, || {
                let mut index = SplitDirectory::new(footer, fetcher)
                    .open_index()
                    .map_err(|error| SplitError::other(error.to_string()))?;
                index.set_tokenizers(doc_mapper.tokenizers().clone());
                index.set_fast_field_tokenizers(doc_mapper.fast_field_normalizers().clone());
                // Hits are rendered once and cached (DocCache): decompressed doc store blocks,
                // up to a megabyte each, are not worth keeping per open split.
                let reader = index
                    .reader_builder()
                    .reload_policy(ReloadPolicy::Manual)
                    .doc_store_cache_num_blocks(1)
                    .try_into()
                    .map_err(|error: tantivy::TantivyError| SplitError::other(error.to_string()))?;
                Ok::<_, SplitError>(reader.searcher())
            })
        })
        .await
        .map_err(|error| SplitError::other(format!("open task failed: {error}")))??;
        self.searchers
            .insert(split.split_id.clone(), searcher.clone());
        Ok(searcher)
    }

    /// Fetches and renders the page's documents, split by split, in page order.
    async fn fetch_hits(
        &self,
        plan: &RequestPlan,
        splits: &[&SplitMetadata],
        page: &[Candidate],
        searchers: &mut BTreeMap<usize, Searcher>,
        snippet_fields: &[String],
    ) -> Result<(Vec<Value>, Option<Vec<Value>>)> {
        let mut by_split: BTreeMap<usize, Vec<(usize, &Candidate)>> = BTreeMap::new();
        for (position, candidate) in page.iter().enumerate() {
            by_split
                .entry(candidate.split_ordinal)
                .or_default()
                .push((position, candidate));
        }
        let mut hits = vec![Value::Null; page.len()];
        let mut snippets = vec![Value::Null; page.len()];
        // Snippets depend on the query; plain hits only on the document, so they are cached.
        let use_doc_cache = snippet_fields.is_empty();
        let doc_key = |ordinal: usize, candidate: &Candidate| DocKey {
            split_id: splits[ordinal].split_id.clone(),
            segment_ord: candidate.segment_ord,
            doc_id: candidate.doc_id,
        };
        for (ordinal, mut candidates) in by_split {
            if use_doc_cache {
                candidates.retain(|(position, candidate)| {
                    match self.docs.get(&doc_key(ordinal, candidate)) {
                        Some(hit) => {
                            hits[*position] = (*hit).clone();
                            false
                        }
                        None => true,
                    }
                });
                if candidates.is_empty() {
                    continue;
                }
            }
            let searcher = match searchers.remove(&ordinal) {
                Some(searcher) => searcher,
                None => self
                    .open_split(plan, splits[ordinal])
                    .await
                    .map_err(|error| {
                        SearchError::Internal(format!("cannot reopen a split: {}", error.details))
                    })?,
            };
            let addresses: Vec<(usize, DocAddress)> = candidates
                .iter()
                .map(|(position, candidate)| {
                    (
                        *position,
                        DocAddress::new(candidate.segment_ord, candidate.doc_id),
                    )
                })
                .collect();
            let doc_mapper = plan.doc_mapper.clone();
            let query = plan.query.clone();
            let snippet_fields = snippet_fields.to_vec();
            let stats = plan.stats.clone();
            let rendered = tokio::task::spawn_blocking(move || {
                with_request_stats(&stats, || {
                    render_hits(
                        &searcher,
                        &doc_mapper,
                        query.as_ref(),
                        &addresses,
                        &snippet_fields,
                    )
                })
            })
            .await
            .map_err(|error| {
                SearchError::Internal(format!("hit fetching task failed: {error}"))
            })??;
            for (position, hit, snippet) in rendered {
                if use_doc_cache {
                    let key = doc_key(ordinal, &page[position]);
                    self.docs.insert(key, Arc::new(hit.clone()));
                }
                hits[position] = hit;
                snippets[position] = snippet;
            }
        }
        Ok((hits, (!snippet_fields.is_empty()).then_some(snippets)))
    }
}

/// Documents and snippets of one split's share of the page.
fn render_hits(
    searcher: &Searcher,
    doc_mapper: &DocMapper,
    query: &dyn Query,
    addresses: &[(usize, DocAddress)],
    snippet_fields: &[String],
) -> Result<Vec<(usize, Value, Value)>> {
    let schema = searcher.schema();
    let mut generators = Vec::new();
    for name in snippet_fields {
        let field = schema.get_field(name).map_err(|_| {
            SearchError::InvalidRequest(format!("snippet_fields: unknown field `{name}`"))
        })?;
        let generator = SnippetGenerator::create(searcher, query, field).map_err(|error| {
            SearchError::InvalidRequest(format!("snippet_fields: `{name}`: {error}"))
        })?;
        generators.push((name.clone(), generator));
    }
    addresses
        .iter()
        .map(|(position, address)| {
            let doc: TantivyDocument = searcher
                .doc(*address)
                .map_err(|error| SearchError::Internal(format!("cannot fetch a hit: {error}")))?;
            let mut snippet = Map::new();
            for (name, generator) in &generators {
                let fragment = generator.snippet_from_doc(&doc);
                let fragments = if fragment.is_empty() {
                    Vec::new()
                } else {
                    vec![Value::String(fragment.to_html())]
                };
                snippet.insert(name.clone(), Value::Array(fragments));
            }
            Ok((
                *position,
                Value::Object(doc_mapper.doc_to_json(&doc)),
                Value::Object(snippet),
            ))
        })
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

/// Deepest nesting of sub-aggregations a request may have.
pub const MAX_AGGREGATION_DEPTH: usize = 16;

/// Checks the parameters tantivy would only check per split, where a mistake becomes an empty
/// answer instead of a 400: histogram intervals are positive, date histograms have a fixed
/// interval that fits in nanoseconds, and nesting is bounded.
fn check_aggregation_requests(aggregations: &Aggregations, depth: usize) -> Result<()> {
    use tantivy::aggregation::agg_req::AggregationVariants;
    let invalid = |name: &str, message: String| {
        SearchError::InvalidRequest(format!("aggs: `{name}`: {message}"))
    };
    for (name, aggregation) in aggregations {
        if depth > MAX_AGGREGATION_DEPTH {
            return Err(invalid(
                name,
                format!("aggregations nest at most {MAX_AGGREGATION_DEPTH} levels deep"),
            ));
        }
        match &aggregation.agg {
            AggregationVariants::Histogram(histogram)
                if !(histogram.interval.is_finite() && histogram.interval > 0.0) =>
            {
                return Err(invalid(
                    name,
                    format!(
                        "histogram interval must be positive, got {}",
                        histogram.interval
                    ),
                ));
            }
            AggregationVariants::DateHistogram(histogram) => {
                if histogram.interval.is_some() || histogram.calendar_interval.is_some() {
                    return Err(invalid(
                        name,
                        "date_histogram takes `fixed_interval` (`30s`, `1h`, `1d`); `interval` and \
                         `calendar_interval` are not supported"
                            .to_string(),
                    ));
                }
                let Some(interval) = &histogram.fixed_interval else {
                    return Err(invalid(
                        name,
                        "date_histogram needs a `fixed_interval`".to_string(),
                    ));
                };
                fixed_interval_millis(interval).map_err(|message| invalid(name, message))?;
            }
            _ => {}
        }
        check_aggregation_requests(&aggregation.sub_aggregation, depth + 1)?;
    }
    Ok(())
}

/// A date histogram's fixed interval (`90s`, `1h`) in milliseconds: positive, and small enough
/// to be counted in nanoseconds.
fn fixed_interval_millis(interval: &str) -> std::result::Result<i64, String> {
    let digits = interval.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = interval.split_at(digits);
    let millis_per_unit: i64 = match unit {
        "ms" | "milliseconds" => 1,
        "s" | "seconds" => 1_000,
        "m" | "minutes" => 60_000,
        "h" | "hours" => 3_600_000,
        "d" | "days" => 86_400_000,
        _ => {
            return Err(format!(
                "fixed_interval `{interval}` is not a number followed by ms, s, m, h or d"
            ));
        }
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|number| *number > 0)
        .and_then(|number| number.checked_mul(millis_per_unit))
        .filter(|millis| millis.checked_mul(1_000_000).is_some())
        .ok_or_else(|| {
            format!("fixed_interval `{interval}` must be positive and at most ~292 years")
        })
}

/// Aggregations read fast fields: a field that is not one is the caller's mistake (400), not
/// something for every split to fail on.
fn check_aggregation_fields(doc_mapper: &DocMapper, aggregations: &Aggregations) -> Result<()> {
    for name in tantivy::aggregation::agg_req::get_fast_field_names(aggregations) {
        let fast = match doc_mapper.resolve_field(&name) {
            Some(ResolvedField::Mapped(field)) => field.kind.is_fast(),
            Some(ResolvedField::JsonPath { field, .. }) => field.kind.is_fast(),
            None => false,
        };
        if !fast {
            return Err(SearchError::InvalidRequest(format!(
                "aggs: `{name}` is not a fast field (aggregations need `fast: true`)"
            )));
        }
    }
    Ok(())
}

fn finalize_aggregations(
    request_aggs: &Aggregations,
    intermediate: IntermediateAggregationResults,
) -> Result<Value> {
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

/// Why a split could not be searched: details for the logs, never for the caller.
struct SplitError {
    details: String,
    /// The split file is missing (deleted by garbage collection, say).
    missing: bool,
}

impl SplitError {
    fn other(details: String) -> Self {
        SplitError {
            details,
            missing: false,
        }
    }

    fn from_metastore(error: hydrant_metastore::Error) -> Self {
        SplitError {
            missing: error.is_not_found(),
            details: error.to_string(),
        }
    }
}

/// `start_timestamp <= ts < end_timestamp` on the timestamp field, when asked for.
fn time_filter(doc_mapper: &DocMapper, request: &SearchRequest) -> Result<Option<Box<dyn Query>>> {
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
