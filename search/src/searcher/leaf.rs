//! The leaf search: one request over a set of splits, answered with partial results (counts,
//! the best candidates, intermediate aggregations) that a root merges ([`super::merge`]) before
//! it fetches documents. The request and the answer are plain serde types, so a leaf can run in
//! another process (a Lambda invocation) as well as in this one.
//!
//! ```
//! use hydrant_search::{SearchParams, SearchRequest};
//! use hydrant_search::searcher::{LeafSearchRequest, LeafSearchResponse};
//!
//! let request = LeafSearchRequest {
//!     index_id: "logs".to_string(),
//!     params: SearchParams::from_native(&SearchRequest::new("status:500")).unwrap(),
//!     splits: Vec::new(),
//!     bm25: None,
//!     statistics_only: false,
//! };
//! let json = serde_json::to_string(&request).unwrap();
//! assert_eq!(serde_json::from_str::<LeafSearchRequest>(&json).unwrap(), request);
//! let empty: LeafSearchResponse = serde_json::from_str(
//!     &serde_json::to_string(&LeafSearchResponse::default()).unwrap(),
//! ).unwrap();
//! assert_eq!(empty.num_hits, 0);
//! ```

use std::ops::Range;
use std::sync::Arc;

use futures::StreamExt;
use hydrant_index::split_bundle::{
    ByteRangeFetcher, FileRangeFetcher, SplitDirectory, SplitFooter,
};
use hydrant_metastore::paths;
use hydrant_metastore::{IndexMetadata, SplitState};
use serde::{Deserialize, Serialize};
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{AggContextParams, DistributedAggregationCollector};
use tantivy::collector::Count;
use tantivy::{ReloadPolicy, Searcher};
use tracing::{debug, warn};

use super::SearchService;
use super::aggregations::{self, merge_into};
use super::params::SearchParams;
use super::plan::{CompiledRequest, LeafSplit};
use super::scoring::{Bm25Totals, MaxScore, max_score};
use crate::cache::{LeafOutcome, OpenSplit};
use crate::cost::{ReadCounter, SearchStats, StorageReads};
use crate::error::Result;
use crate::fetcher::StorageFetcher;
use crate::sort::{Candidate, TopHitsCollector, keep_best};

/// What an open split's segment readers hold beyond the footer bytes they reference (field
/// and column handles, the schema): an allowance, as tantivy does not report it.
const OPEN_SPLIT_READER_BYTES: u64 = 32 << 10;

/// Largest footer a leaf reads by a range from its request before its metastore confirms it.
const MAX_GUESSED_FOOTER_BYTES: u64 = 16 << 20;

/// One request over some of an index's splits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeafSearchRequest {
    pub index_id: String,
    /// The whole request: a leaf collects `start_offset + max_hits` candidates, since any of
    /// them may make the page once merged.
    pub params: SearchParams,
    pub splits: Vec<LeafSplit>,
    /// A scored search's BM25 statistics over all its splits (the root's first pass); a leaf
    /// given none scores with its own splits' statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bm25: Option<Bm25Totals>,
    /// The first pass of a scored search: answer only the splits' BM25 statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub statistics_only: bool,
}

/// A split a leaf could not search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSplit {
    pub split_id: String,
    /// For logs and operators, never for the caller.
    pub details: String,
    /// The split file is missing (garbage-collected since the plan, say).
    pub missing: bool,
}

/// What a leaf answers: partial results to merge, and what they cost.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LeafSearchResponse {
    /// Matches counted; without `count_all`, a lower bound (the candidates each split found).
    pub num_hits: u64,
    /// The best `start_offset + max_hits` documents of these splits, in no particular order.
    pub candidates: Vec<Candidate>,
    /// Intermediate aggregation state, merged by the root. Kept as postcard bytes inside the
    /// JSON: tantivy's state has non-string map keys, which JSON cannot carry.
    #[serde(default, with = "intermediate_aggregations")]
    pub aggregations: Option<IntermediateAggregationResults>,
    pub failed_splits: Vec<FailedSplit>,
    pub splits_searched: usize,
    /// Splits answered from the leaf cache, not searched.
    pub splits_from_cache: usize,
    #[serde(flatten)]
    pub reads: StorageReads,
    /// The best score of the matches, when hits are scored (Elasticsearch's `max_score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<f32>,
    /// A `statistics_only` request's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bm25: Option<Bm25Totals>,
}

impl LeafSearchResponse {
    /// What this answer cost, as a search reports it, for `splits_total` splits asked for.
    pub fn stats(&self, splits_total: usize) -> SearchStats {
        SearchStats {
            splits_total,
            splits_searched: self.splits_searched,
            splits_pruned: 0,
            splits_from_cache: self.splits_from_cache,
            reads: self.reads,
        }
    }
}

/// `Option<IntermediateAggregationResults>` as base64 of its postcard encoding.
mod intermediate_aggregations {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde::{Deserialize, Deserializer, Serializer};
    use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;

    pub fn serialize<S: Serializer>(
        value: &Option<IntermediateAggregationResults>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_none(),
            Some(results) => {
                let bytes = postcard::to_allocvec(results).map_err(serde::ser::Error::custom)?;
                serializer.serialize_some(&BASE64.encode(bytes))
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<IntermediateAggregationResults>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let bytes = BASE64.decode(text).map_err(serde::de::Error::custom)?;
        postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// The requested splits the index has, with their locations from its metadata and their
/// ordinals from the request.
fn located_splits(metadata: &IndexMetadata, requested: &[LeafSplit]) -> Vec<LeafSplit> {
    requested
        .iter()
        .filter_map(|split| {
            let known = metadata.splits.get(&split.split_id)?;
            (known.state != SplitState::Staged).then(|| LeafSplit::new(split.ordinal, known))
        })
        .collect()
}

/// A split's answer, from the cache or from searching it.
struct SplitAnswer {
    outcome: Arc<LeafOutcome>,
    from_cache: bool,
}

impl SearchService {
    /// Answers a leaf request: compiles it against the index's doc mapping (from this
    /// searcher's metastore cache) and searches its splits.
    ///
    /// The request comes from outside this process, so where each split's footer lies (the
    /// byte range read into memory) is taken from the metastore, never from the request: a
    /// split the index does not have (collected since the root planned, or never one of its
    /// own) is a failed split, after the cached document has been read again once.
    ///
    /// A cold leaf would wait for its metastore, then for its footers: the footers are fetched
    /// by the request's ranges while the metastore is read, and kept only where the metastore
    /// gives the same range (`guess_footers`), which takes a round trip off a cold leaf.
    pub async fn leaf_search(&self, leaf: &LeafSearchRequest) -> Result<LeafSearchResponse> {
        let (metadata, (guessed, guess_reads)) = futures::join!(
            self.metastores.get(&leaf.index_id),
            self.guess_footers(leaf)
        );
        let mut metadata = metadata?;
        for (split_id, offsets, footer) in guessed {
            let confirmed = metadata.splits.get(&split_id).is_some_and(|split| {
                split.state != SplitState::Staged && split.footer_offsets == offsets
            });
            if confirmed {
                self.footers.insert(&split_id, footer);
            }
        }
        let mut known = located_splits(&metadata, &leaf.splits);
        if known.len() < leaf.splits.len() {
            // The cached document may predate splits the root's plan names.
            self.metastores.expire(&leaf.index_id);
            metadata = self.metastores.get(&leaf.index_id).await?;
            known = located_splits(&metadata, &leaf.splits);
        }
        let doc_mapper = self.doc_mappers.get(&metadata)?;
        let mut compiled = CompiledRequest::compile(&leaf.index_id, doc_mapper, &leaf.params)?
            .with_older_mappings(&metadata, &self.doc_mappers, &leaf.params, &known)?;
        let mut reads = guess_reads;
        if leaf.statistics_only {
            let (totals, bm25_reads) = self.bm25_totals(&compiled, &known).await;
            reads += bm25_reads;
            return Ok(LeafSearchResponse {
                bm25: Some(totals),
                reads,
                ..LeafSearchResponse::default()
            });
        }
        if compiled.needs_scores() {
            let totals = match &leaf.bm25 {
                Some(totals) => totals.clone(),
                None => {
                    let (totals, bm25_reads) = self.bm25_totals(&compiled, &known).await;
                    reads += bm25_reads;
                    totals
                }
            };
            compiled = compiled.with_bm25(totals);
        }
        let mut response = self.search_splits(&compiled, &known).await?;
        response.reads += reads;
        for split in &leaf.splits {
            if !known.iter().any(|known| known.split_id == split.split_id) {
                response.failed_splits.push(FailedSplit {
                    split_id: split.split_id.clone(),
                    details: "not a split of this index (deleted since the plan?)".to_string(),
                    missing: true,
                });
            }
        }
        Ok(response)
    }

    /// The footers of the request's splits that are not cached, read by the ranges the
    /// request gives, which come from outside this process: only plain index and split ids
    /// (letters, digits, `-`, `_`), as many splits as are searched at once, and ranges of at
    /// most [`MAX_GUESSED_FOOTER_BYTES`] are read, within the in-flight budget; a footer is
    /// used only once the metastore confirms its range. Failures are dropped: the search
    /// reads what it needs itself.
    async fn guess_footers(
        &self,
        leaf: &LeafSearchRequest,
    ) -> (Vec<(String, Range<u64>, Arc<SplitFooter>)>, StorageReads) {
        let reads = ReadCounter::default();
        let plain = |id: &str| {
            (1..=255).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let storage = self.metastore().storage();
        let guesses: Vec<_> = (leaf.splits.iter())
            .filter(|split| {
                let length = split
                    .footer_offsets
                    .end
                    .saturating_sub(split.footer_offsets.start);
                plain(&leaf.index_id)
                    && plain(&split.split_id)
                    && (1..=MAX_GUESSED_FOOTER_BYTES).contains(&length)
                    && self.footers.get(&split.split_id).is_none()
            })
            .take(self.split_concurrency)
            .map(|split| {
                let reads = &reads;
                async move {
                    let _budget = self.in_flight.acquire(split).await;
                    let path = paths::split_file(&leaf.index_id, &split.split_id);
                    let offsets = split.footer_offsets.clone();
                    let read =
                        SplitFooter::read(storage.as_ref(), &path, Some(offsets.clone())).await;
                    // Billed whether or not it was of use; a failure is the search's to meet.
                    reads.add_get(offsets.end - offsets.start);
                    let footer = Arc::new(read.ok()?);
                    Some((split.split_id.clone(), offsets, footer))
                }
            })
            .collect();
        let mut guessed = futures::stream::iter(guesses).buffer_unordered(self.split_concurrency);
        let mut footers = Vec::new();
        while let Some(footer) = guessed.next().await {
            footers.extend(footer);
        }
        (footers, reads.reads())
    }

    /// The BM25 statistics of `splits` for a scored request: each split opened and warmed
    /// for the query (which its search then finds cached) and its statistics read, with
    /// bounded concurrency. A split that fails is left out: its search fails and says so.
    pub(crate) async fn bm25_totals(
        &self,
        compiled: &CompiledRequest,
        splits: &[LeafSplit],
    ) -> (Bm25Totals, StorageReads) {
        let reads = Arc::new(ReadCounter::default());
        let split_statistics: Vec<_> = splits
            .iter()
            .map(|split| {
                let reads = reads.for_split();
                let compiled = compiled.for_split(split);
                async move {
                    let _budget = self.in_flight.acquire(split).await;
                    let searcher = self.open_split(compiled, split, &reads).await.ok()?;
                    if let Err(error) = compiled.warmup.warm_up(&searcher, &reads).await {
                        debug!(split_id = split.split_id, %error, "warming up failed");
                    }
                    let query = compiled.query.clone();
                    let statistics = tokio::task::spawn_blocking(move || {
                        reads.count(|| Bm25Totals::of_split(&searcher, query.as_ref()))
                    });
                    match statistics.await {
                        Ok(Ok(totals)) => Some(totals),
                        Ok(Err(error)) => {
                            debug!(split_id = split.split_id, %error, "no BM25 statistics");
                            None
                        }
                        Err(_) => None,
                    }
                }
            })
            .collect();
        let mut statistics =
            futures::stream::iter(split_statistics).buffer_unordered(self.split_concurrency);
        let mut totals = Bm25Totals::default();
        while let Some(split_totals) = statistics.next().await {
            if let Some(split_totals) = split_totals {
                totals.add(&split_totals);
            }
        }
        (totals, reads.reads())
    }

    /// Searches `splits` with bounded concurrency; a split that fails is listed, not fatal.
    ///
    /// Answers are folded in as they arrive, so that memory follows the splits in flight and
    /// the page, not the number of splits: candidates are cut back to the request's best
    /// whenever they reach twice that, aggregations merge one answer at a time. A split holds
    /// its footer's bytes of the in-flight budget while it is searched.
    pub(crate) async fn search_splits(
        &self,
        compiled: &CompiledRequest,
        splits: &[LeafSplit],
    ) -> Result<LeafSearchResponse> {
        let reads = Arc::new(ReadCounter::default());
        // The futures are built first so the stream's type names no closure: rustc cannot
        // prove a mapping closure over borrowed splits `Send` for every lifetime.
        let split_searches: Vec<_> = splits
            .iter()
            .map(|split| {
                let reads = reads.clone();
                let compiled = compiled.for_split(split);
                async move {
                    let _budget = self.in_flight.acquire(split).await;
                    (split, self.answer_split(compiled, split, &reads).await)
                }
            })
            .collect();
        let mut answers =
            futures::stream::iter(split_searches).buffer_unordered(self.split_concurrency);
        let mut response = LeafSearchResponse {
            splits_searched: splits.len(),
            ..LeafSearchResponse::default()
        };
        let mut candidates = Vec::new();
        while let Some((split, answer)) = answers.next().await {
            match answer {
                Ok(answer) => {
                    // Without counting, a split's candidates are a lower bound of its matches,
                    // and it must be taken here: merging keeps only the best of them.
                    response.num_hits += if compiled.count_all {
                        answer.outcome.count
                    } else {
                        answer.outcome.candidates.len() as u64
                    };
                    candidates.extend(answer.outcome.candidates.iter().cloned());
                    response.max_score = max_score(response.max_score, answer.outcome.max_score);
                    if candidates.len() >= 2 * compiled.num_to_collect.max(1) {
                        candidates = keep_best(&compiled.sort, compiled.num_to_collect, candidates);
                    }
                    if let Some(split_aggregations) = &answer.outcome.aggregations {
                        merge_into(&mut response.aggregations, split_aggregations.clone())?;
                    }
                    response.splits_from_cache += usize::from(answer.from_cache);
                }
                Err(error) => {
                    warn!(
                        index_id = compiled.index_id,
                        split_id = split.split_id,
                        details = error.details,
                        "split search failed"
                    );
                    if error.missing {
                        self.metastores.expire(&compiled.index_id);
                    }
                    response.failed_splits.push(FailedSplit {
                        split_id: split.split_id.clone(),
                        details: error.details,
                        missing: error.missing,
                    });
                }
            }
        }
        response.candidates = keep_best(&compiled.sort, compiled.num_to_collect, candidates);
        response.reads = reads.reads();
        Ok(response)
    }

    /// A split's answer from the cache, or from searching it.
    async fn answer_split(
        &self,
        compiled: &CompiledRequest,
        split: &LeafSplit,
        reads: &Arc<ReadCounter>,
    ) -> std::result::Result<SplitAnswer, SplitError> {
        if let Some(outcome) = self.leaves.get(&split.split_id, &compiled.fingerprint) {
            return Ok(SplitAnswer {
                outcome: renumbered(outcome, split.ordinal),
                from_cache: true,
            });
        }
        // The split's own counter knows its round trips; the search's keeps the longest.
        let reads = reads.for_split();
        let searcher = self.open_split(compiled, split, &reads).await?;
        // Warming up only saves round trips: if it fails, the search reads what it needs
        // itself, and fails with the cause if storage does.
        if let Err(error) = compiled.warmup.warm_up(&searcher, &reads).await {
            debug!(split_id = split.split_id, %error, "warming up failed");
        }
        let outcome = Arc::new(
            search_split(compiled, searcher, &split.split_id, split.ordinal, &reads).await?,
        );
        self.leaves
            .insert(&split.split_id, &compiled.fingerprint, outcome.clone());
        Ok(SplitAnswer {
            outcome,
            from_cache: false,
        })
    }

    /// Opens a split: its footer (one ranged GET, then cached), then tantivy over the hotcache
    /// and the byte-range fetcher: the local copy when the split cache has one, storage
    /// otherwise (and the split cache, if any, starts downloading it).
    pub(crate) async fn open_split(
        &self,
        compiled: &CompiledRequest,
        split: &LeafSplit,
        reads: &Arc<ReadCounter>,
    ) -> std::result::Result<Searcher, SplitError> {
        self.searchers
            .get_or_open(
                &split.split_id,
                self.open_split_uncached(compiled, split, reads),
            )
            .await
    }

    /// Opens a split for [`SearchService::open_split`], which caches it.
    async fn open_split_uncached(
        &self,
        compiled: &CompiledRequest,
        split: &LeafSplit,
        reads: &Arc<ReadCounter>,
    ) -> std::result::Result<OpenSplit, SplitError> {
        let path = paths::split_file(&compiled.index_id, &split.split_id);
        let local = self
            .split_cache
            .as_ref()
            .and_then(|cache| cache.fetcher(&split.split_id));
        let footer = self.footer(split, &path, local.as_ref(), reads).await?;
        let fetcher: Arc<dyn ByteRangeFetcher> = match local {
            Some(local) => Arc::new(local),
            None => self.storage_fetcher(split, path),
        };
        let doc_mapper = compiled.doc_mapper.clone();
        let reads = reads.clone();
        let searcher = tokio::task::spawn_blocking(move || {
            reads.count(|| {
                let mut index = SplitDirectory::new(footer, fetcher)
                    .open_index()
                    .map_err(|error| SplitError::other(error.to_string()))?;
                index.set_tokenizers(doc_mapper.tokenizers().clone());
                index.set_fast_field_tokenizers(doc_mapper.fast_field_normalizers().clone());
                // One decompressed doc store block (up to `docstore_blocksize`) is kept, for
                // the next hits in it: the open-split cache counts it once a hit is rendered.
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
        let footer_bytes = split.footer_offsets.end - split.footer_offsets.start;
        Ok(OpenSplit {
            searcher,
            bytes: footer_bytes + OPEN_SPLIT_READER_BYTES,
            holds_doc_block: false,
        })
    }

    /// A split's footer: cached, else read from the local copy, else one ranged GET.
    async fn footer(
        &self,
        split: &LeafSplit,
        path: &str,
        local: Option<&FileRangeFetcher>,
        reads: &ReadCounter,
    ) -> std::result::Result<Arc<SplitFooter>, SplitError> {
        if let Some(footer) = self.footers.get(&split.split_id) {
            return Ok(footer);
        }
        let footer = match local {
            Some(local) => local
                .read_footer(path, split.footer_offsets.clone())
                .map_err(SplitError::from_split_file)?,
            None => {
                let storage = self.metastore().storage();
                let offsets = Some(split.footer_offsets.clone());
                let footer = SplitFooter::read(storage.as_ref(), path, offsets)
                    .await
                    .map_err(SplitError::from_split_file)?;
                reads.add_get(split.footer_offsets.end - split.footer_offsets.start);
                reads.add_round_trip();
                footer
            }
        };
        let footer = Arc::new(footer);
        self.footers.insert(&split.split_id, footer.clone());
        Ok(footer)
    }

    /// Byte ranges from storage through the chunk cache; the split cache, if any, starts
    /// downloading the whole split for next time.
    fn storage_fetcher(&self, split: &LeafSplit, path: String) -> Arc<dyn ByteRangeFetcher> {
        let storage = self.metastore().storage().clone();
        if let Some(cache) = &self.split_cache {
            cache.download_in_background(
                storage.clone(),
                path.clone(),
                split.split_id.clone(),
                split.split_size_bytes,
            );
        }
        Arc::new(self.chunk_fetcher(split, &path))
    }

    /// A fetcher of `split`'s bytes from storage through the chunk cache.
    pub(crate) fn chunk_fetcher(&self, split: &LeafSplit, path: &str) -> StorageFetcher {
        StorageFetcher::new(
            self.metastore().storage().clone(),
            path,
            split.split_size_bytes,
            tokio::runtime::Handle::current(),
            self.chunks.clone(),
            self.chunk_fetches.clone(),
        )
    }
}

/// Why a split could not be searched: details for the logs, never for the caller.
pub(crate) struct SplitError {
    pub(crate) details: String,
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

    fn from_split_file(error: hydrant_index::IndexError) -> Self {
        SplitError {
            missing: error.is_not_found(),
            details: error.to_string(),
        }
    }
}

/// Cached candidates carry the ordinal of the request that computed them.
fn renumbered(outcome: Arc<LeafOutcome>, ordinal: usize) -> Arc<LeafOutcome> {
    if outcome
        .candidates
        .iter()
        .all(|candidate| candidate.split_ordinal == ordinal)
    {
        return outcome;
    }
    let mut renumbered = (*outcome).clone();
    for candidate in &mut renumbered.candidates {
        candidate.split_ordinal = ordinal;
    }
    Arc::new(renumbered)
}

/// Searches one open split on a blocking thread: the count, the best candidates and the
/// intermediate aggregations, in one pass of tantivy's collectors.
async fn search_split(
    compiled: &CompiledRequest,
    searcher: Searcher,
    split_id: &str,
    ordinal: usize,
    reads: &Arc<ReadCounter>,
) -> std::result::Result<LeafOutcome, SplitError> {
    let query = compiled.query.clone();
    let top_hits = TopHitsCollector::new(
        compiled.sort.clone(),
        compiled.num_to_collect,
        split_id,
        ordinal,
        compiled.after.clone(),
    );
    let aggregations = compiled.aggregations.clone();
    let bm25 = compiled.bm25.clone();
    let best_score = compiled.needs_scores().then_some(MaxScore);
    let count_all = compiled.count_all;
    let tokenizers = compiled.doc_mapper.tokenizers().clone();
    let reads = reads.clone();
    tokio::task::spawn_blocking(move || {
        reads.count(|| {
            let aggregation_collector = aggregations.map(|aggregations| {
                DistributedAggregationCollector::from_aggs(
                    aggregations,
                    AggContextParams::new(aggregations::limits(), tokenizers),
                )
            });
            let count = count_all.then_some(Count);
            let collectors = (count, top_hits, aggregation_collector, best_score);
            let (count, candidates, aggregations, max_score) = match &bm25 {
                Some(totals) => searcher.search_with_statistics_provider(
                    query.as_ref(),
                    &collectors,
                    &totals.for_schema(searcher.schema()),
                )?,
                None => searcher.search(query.as_ref(), &collectors)?,
            };
            Ok::<_, tantivy::TantivyError>(LeafOutcome {
                count: count.unwrap_or(0) as u64,
                candidates,
                aggregations,
                max_score: max_score.flatten(),
            })
        })
    })
    .await
    .map_err(|error| SplitError::other(format!("search task failed: {error}")))?
    .map_err(|error| SplitError::other(error.to_string()))
}

/// The footer bytes of the splits searched at once, bounded: `split_concurrency` bounds their
/// number, this their memory whatever their size. Shared by every search of the service, so
/// that the panels of an `_msearch` and concurrent requests stay within it together.
pub(crate) struct InFlightBudget {
    kib: tokio::sync::Semaphore,
    total_kib: u32,
}

impl InFlightBudget {
    pub(crate) fn new(bytes: u64) -> Self {
        let total_kib = (bytes >> 10).clamp(1, tokio::sync::Semaphore::MAX_PERMITS as u64);
        let total_kib = u32::try_from(total_kib).unwrap_or(u32::MAX);
        InFlightBudget {
            kib: tokio::sync::Semaphore::new(total_kib as usize),
            total_kib,
        }
    }

    /// Waits until `split`'s footer fits; a footer larger than the whole budget takes all of
    /// it and is searched alone.
    pub(crate) async fn acquire(
        &self,
        split: &LeafSplit,
    ) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let footer_kib = (split.footer_offsets.end - split.footer_offsets.start).div_ceil(1024);
        let kib = u32::try_from(footer_kib.clamp(1, u64::from(self.total_kib))).unwrap_or(1);
        self.kib.acquire_many(kib).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_with_footer(bytes: u64) -> LeafSplit {
        LeafSplit {
            split_id: format!("footer-{bytes}"),
            ordinal: 0,
            footer_offsets: 1_000..1_000 + bytes,
            split_size_bytes: 1_000 + bytes,
            doc_mapping_uid: String::new(),
        }
    }

    #[tokio::test]
    async fn footers_in_flight_stay_within_the_budget_and_a_huge_one_runs_alone() {
        let budget = InFlightBudget::new(1 << 20);
        let small = split_with_footer(300 << 10);
        let first = budget.acquire(&small).await.unwrap();
        let second = budget.acquire(&small).await.unwrap();
        let third = budget.acquire(&small).await.unwrap();
        // 900 KiB taken of 1,024: a fourth waits until one ends.
        assert!(budget.kib.try_acquire_many(300).is_err());
        drop(first);
        let fourth = budget.acquire(&small).await.unwrap();
        drop((second, third, fourth));
        // Larger than the whole budget: it takes all of it instead of waiting forever.
        let huge = budget.acquire(&split_with_footer(64 << 20)).await.unwrap();
        assert_eq!(budget.kib.available_permits(), 0);
        drop(huge);
        assert_eq!(budget.kib.available_permits(), 1024);
    }
}
