//! The search core: one request over every published split of an index.
//!
//! 1. Read the index's metastore document; prune splits by their time range.
//! 2. Per split, on a blocking thread (bounded concurrency): open it from its footer (one
//!    ranged GET, cached), run the query, keep the count and the top `start_offset + max_hits`
//!    sort keys.
//! 3. Merge the per-split tops into the global page, fetch only those documents, render them.
//!
//! A split that fails is reported in `errors`; the others still answer.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::Instant;

use futures::StreamExt;
use hydrant_metastore::doc_mapper::{DocMapper, FieldKind};
use hydrant_metastore::split_bundle::{SplitDirectory, SplitFooter};
use hydrant_metastore::{IndexMetadata, Metastore, SplitFilter, SplitMetadata};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use serde_json::Value;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::{DateTime, DocAddress, Order, ReloadPolicy, Searcher, TantivyDocument, Term};
use tracing::{info, warn};

use crate::error::{Result, SearchError};
use crate::fetcher::{ChunkCache, FetchStats, StorageFetcher};
use crate::query::{build_query, parse_query};
use crate::request::{SearchRequest, SearchResponse};

/// Splits searched at the same time.
const DEFAULT_SPLIT_CONCURRENCY: usize = 8;

/// Sizes of the caches kept across requests (warm Lambda invocations).
#[derive(Clone, Debug)]
pub struct SearcherConfig {
    /// Bytes of split data (fetched ranges) kept in memory.
    pub chunk_cache_bytes: u64,
    /// Bytes of split footers (hotcaches) kept in memory.
    pub footer_cache_bytes: u64,
    pub split_concurrency: usize,
}

impl Default for SearcherConfig {
    fn default() -> Self {
        SearcherConfig {
            chunk_cache_bytes: 256 << 20,
            footer_cache_bytes: 64 << 20,
            split_concurrency: DEFAULT_SPLIT_CONCURRENCY,
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
    metastore: Metastore,
    footers: Cache<String, Arc<SplitFooter>, FooterWeighter>,
    chunks: Arc<ChunkCache>,
    split_concurrency: usize,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchService").finish_non_exhaustive()
    }
}

/// A sort value; documents without one sort last.
#[derive(Clone, Copy, Debug, PartialEq)]
enum SortValue {
    U64(u64),
    I64(i64),
    F64(f64),
}

impl SortValue {
    fn compare(&self, other: &SortValue) -> Ordering {
        match (self, other) {
            (SortValue::U64(left), SortValue::U64(right)) => left.cmp(right),
            (SortValue::I64(left), SortValue::I64(right)) => left.cmp(right),
            (SortValue::F64(left), SortValue::F64(right)) => left.total_cmp(right),
            // One request sorts one field, so values share a type.
            _ => Ordering::Equal,
        }
    }
}

/// How hits are ordered.
#[derive(Clone, Debug)]
enum SortSpec {
    Score,
    Field {
        name: String,
        kind: SortKind,
        order: Order,
    },
}

#[derive(Clone, Copy, Debug)]
enum SortKind {
    U64,
    I64,
    F64,
    Datetime,
}

/// One candidate hit of one split.
#[derive(Clone, Debug)]
struct Candidate {
    value: Option<SortValue>,
    split_ordinal: usize,
    address: DocAddress,
}

/// What a split returned.
struct LeafResult {
    searcher: Searcher,
    count: u64,
    candidates: Vec<Candidate>,
}

impl SearchService {
    pub fn new(metastore: Metastore, config: SearcherConfig) -> Self {
        SearchService {
            metastore,
            footers: Cache::with_weighter(1024, config.footer_cache_bytes, FooterWeighter),
            chunks: Arc::new(ChunkCache::with_capacity_bytes(config.chunk_cache_bytes)),
            split_concurrency: config.split_concurrency.max(1),
        }
    }

    pub fn metastore(&self) -> &Metastore {
        &self.metastore
    }

    /// Runs `request` on `index_id`.
    pub async fn search(&self, index_id: &str, request: &SearchRequest) -> Result<SearchResponse> {
        let started = Instant::now();
        request.validate()?;
        let metadata = self.metastore.index_metadata(index_id).await?;
        let doc_mapper = Arc::new(
            DocMapper::new(&metadata.index_config)
                .map_err(|error| SearchError::Internal(error.to_string()))?,
        );
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
        let sort = sort_spec(&doc_mapper, request)?;
        let query: Arc<dyn Query> = Arc::from(query);
        let splits = splits_to_search(&metadata, request);
        let stats = Arc::new(FetchStats::default());
        let num_to_collect = request.start_offset + request.max_hits;

        // The futures are built first so the stream's type names no closure: rustc cannot
        // prove a mapping closure over borrowed splits `Send` for every lifetime.
        let split_searches: Vec<_> = splits
            .iter()
            .enumerate()
            .map(|(ordinal, split)| {
                let query = query.clone();
                let sort = sort.clone();
                let doc_mapper = doc_mapper.clone();
                let stats = stats.clone();
                async move {
                    let outcome = self
                        .search_split(
                            index_id,
                            split,
                            ordinal,
                            doc_mapper,
                            query,
                            sort,
                            num_to_collect,
                            stats,
                        )
                        .await;
                    (ordinal, outcome)
                }
            })
            .collect();
        let mut leaf_results: Vec<(usize, std::result::Result<LeafResult, String>)> =
            futures::stream::iter(split_searches)
                .buffer_unordered(self.split_concurrency)
                .collect()
                .await;
        leaf_results.sort_by_key(|(ordinal, _)| *ordinal);

        let mut errors = Vec::new();
        let mut num_hits = 0u64;
        let mut candidates = Vec::new();
        let mut searchers: BTreeMap<usize, Searcher> = BTreeMap::new();
        for (ordinal, outcome) in leaf_results {
            match outcome {
                Ok(leaf) => {
                    num_hits += leaf.count;
                    candidates.extend(leaf.candidates);
                    searchers.insert(ordinal, leaf.searcher);
                }
                Err(message) => {
                    warn!(index_id, split_id = %splits[ordinal].split_id, message, "split search failed");
                    errors.push(format!("split {}: {message}", splits[ordinal].split_id));
                }
            }
        }
        let descending = match &sort {
            SortSpec::Score => true,
            SortSpec::Field { order, .. } => *order == Order::Desc,
        };
        candidates.sort_by(|left, right| compare_candidates(left, right, descending));
        let page: Vec<Candidate> = candidates
            .into_iter()
            .skip(request.start_offset)
            .take(request.max_hits)
            .collect();
        let hits = fetch_hits(&page, &searchers, &doc_mapper).await?;
        let elapsed_time_micros = started.elapsed().as_micros() as u64;
        info!(
            index_id,
            num_hits,
            splits_searched = splits.len(),
            splits_total = metadata.published_splits().count(),
            gets = stats.num_gets.load(AtomicOrdering::Relaxed),
            bytes_fetched = stats.bytes_fetched.load(AtomicOrdering::Relaxed),
            cache_hits = stats.cache_hits.load(AtomicOrdering::Relaxed),
            elapsed_micros = elapsed_time_micros,
            "search"
        );
        Ok(SearchResponse {
            num_hits,
            hits,
            elapsed_time_micros,
            errors,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn search_split(
        &self,
        index_id: &str,
        split: &SplitMetadata,
        ordinal: usize,
        doc_mapper: Arc<DocMapper>,
        query: Arc<dyn Query>,
        sort: SortSpec,
        num_to_collect: usize,
        stats: Arc<FetchStats>,
    ) -> std::result::Result<LeafResult, String> {
        let path = SplitMetadata::split_path(index_id, &split.split_id);
        let footer = match self.footers.get(&split.split_id) {
            Some(footer) => footer,
            None => {
                let footer = SplitFooter::read(
                    self.metastore.storage().as_ref(),
                    &path,
                    Some(split.footer_offsets.clone()),
                )
                .await
                .map_err(|error| error.to_string())?;
                stats.record_get(split.footer_offsets.end - split.footer_offsets.start);
                let footer = Arc::new(footer);
                self.footers.insert(split.split_id.clone(), footer.clone());
                footer
            }
        };
        let fetcher = StorageFetcher::new(
            self.metastore.storage().clone(),
            &path,
            split.split_size_bytes,
            tokio::runtime::Handle::current(),
            self.chunks.clone(),
            stats,
        );
        tokio::task::spawn_blocking(move || {
            let mut index = SplitDirectory::new(footer, Arc::new(fetcher))
                .open_index()
                .map_err(|error| error.to_string())?;
            index.set_tokenizers(doc_mapper.tokenizers().clone());
            index.set_fast_field_tokenizers(doc_mapper.fast_field_normalizers().clone());
            let reader = index
                .reader_builder()
                .reload_policy(ReloadPolicy::Manual)
                .try_into()
                .map_err(|error: tantivy::TantivyError| error.to_string())?;
            let searcher = reader.searcher();
            let (count, candidates) =
                collect_top(&searcher, query.as_ref(), &sort, num_to_collect, ordinal)
                    .map_err(|error| error.to_string())?;
            Ok(LeafResult {
                searcher,
                count: count as u64,
                candidates,
            })
        })
        .await
        .map_err(|error| format!("search task failed: {error}"))?
    }
}

fn collect_top(
    searcher: &Searcher,
    query: &dyn Query,
    sort: &SortSpec,
    limit: usize,
    split_ordinal: usize,
) -> tantivy::Result<(usize, Vec<Candidate>)> {
    let top = TopDocs::with_limit(limit.max(1));
    let candidate = |value: Option<SortValue>, address: DocAddress| Candidate {
        value,
        split_ordinal,
        address,
    };
    let (count, candidates): (usize, Vec<Candidate>) = match sort {
        SortSpec::Score => {
            let (count, docs) = searcher.search(query, &(Count, top.order_by_score()))?;
            (
                count,
                docs.into_iter()
                    .map(|(score, address)| candidate(Some(SortValue::F64(score as f64)), address))
                    .collect(),
            )
        }
        SortSpec::Field { name, kind, order } => match kind {
            SortKind::U64 => {
                let (count, docs) = searcher.search(
                    query,
                    &(Count, top.order_by_fast_field::<u64>(name, *order)),
                )?;
                (
                    count,
                    docs.into_iter()
                        .map(|(value, address)| candidate(value.map(SortValue::U64), address))
                        .collect(),
                )
            }
            SortKind::I64 => {
                let (count, docs) = searcher.search(
                    query,
                    &(Count, top.order_by_fast_field::<i64>(name, *order)),
                )?;
                (
                    count,
                    docs.into_iter()
                        .map(|(value, address)| candidate(value.map(SortValue::I64), address))
                        .collect(),
                )
            }
            SortKind::F64 => {
                let (count, docs) = searcher.search(
                    query,
                    &(Count, top.order_by_fast_field::<f64>(name, *order)),
                )?;
                (
                    count,
                    docs.into_iter()
                        .map(|(value, address)| candidate(value.map(SortValue::F64), address))
                        .collect(),
                )
            }
            SortKind::Datetime => {
                let (count, docs) = searcher.search(
                    query,
                    &(Count, top.order_by_fast_field::<DateTime>(name, *order)),
                )?;
                (
                    count,
                    docs.into_iter()
                        .map(|(value, address)| {
                            candidate(
                                value.map(|datetime| {
                                    SortValue::I64(datetime.into_timestamp_nanos())
                                }),
                                address,
                            )
                        })
                        .collect(),
                )
            }
        },
    };
    let candidates = if limit == 0 { Vec::new() } else { candidates };
    Ok((count, candidates))
}

/// Orders candidates: by value (missing values last), then by split and address so that
/// pagination is stable.
fn compare_candidates(left: &Candidate, right: &Candidate, descending: bool) -> Ordering {
    let by_value = match (&left.value, &right.value) {
        (Some(left_value), Some(right_value)) => {
            let ordering = left_value.compare(right_value);
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_value
        .then(left.split_ordinal.cmp(&right.split_ordinal))
        .then(left.address.cmp(&right.address))
}

async fn fetch_hits(
    page: &[Candidate],
    searchers: &BTreeMap<usize, Searcher>,
    doc_mapper: &Arc<DocMapper>,
) -> Result<Vec<Value>> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let page = page.to_vec();
    let searchers = searchers.clone();
    let doc_mapper = doc_mapper.clone();
    tokio::task::spawn_blocking(move || {
        page.iter()
            .map(|candidate| {
                let searcher = &searchers[&candidate.split_ordinal];
                let doc: TantivyDocument = searcher.doc(candidate.address).map_err(|error| {
                    SearchError::Internal(format!("cannot fetch a hit: {error}"))
                })?;
                Ok(Value::Object(doc_mapper.doc_to_json(&doc)))
            })
            .collect()
    })
    .await
    .map_err(|error| SearchError::Internal(format!("hit fetching task failed: {error}")))?
}

fn splits_to_search<'a>(
    metadata: &'a IndexMetadata,
    request: &SearchRequest,
) -> Vec<&'a SplitMetadata> {
    let filter = SplitFilter::published_in(request.start_timestamp, request.end_timestamp);
    metadata.splits_matching(&filter).collect()
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
    let bound_term = |secs: i64| {
        Term::from_field_date(timestamp_field.field, DateTime::from_timestamp_secs(secs))
    };
    let lower = request
        .start_timestamp
        .map(|secs| Bound::Included(bound_term(secs)))
        .unwrap_or(Bound::Unbounded);
    let upper = request
        .end_timestamp
        .map(|secs| Bound::Excluded(bound_term(secs)))
        .unwrap_or(Bound::Unbounded);
    Ok(Some(Box::new(RangeQuery::new(lower, upper))))
}

/// The request's order; by default newest first when the index has a timestamp field, by
/// relevance otherwise.
fn sort_spec(doc_mapper: &DocMapper, request: &SearchRequest) -> Result<SortSpec> {
    let (name, order) = match request.sort_by.first() {
        None => match doc_mapper.timestamp_field() {
            Some(field) => (field.path.clone(), Order::Desc),
            None => return Ok(SortSpec::Score),
        },
        Some(spec) if spec == "_score" || spec == "-_score" => return Ok(SortSpec::Score),
        Some(spec) => match spec.strip_prefix('-') {
            Some(name) => (name.to_string(), Order::Desc),
            None => (
                spec.strip_prefix('+').unwrap_or(spec).to_string(),
                Order::Asc,
            ),
        },
    };
    let field = doc_mapper
        .fields()
        .iter()
        .find(|field| field.path == name)
        .ok_or_else(|| SearchError::InvalidRequest(format!("sort_by: unknown field `{name}`")))?;
    if !field.kind.is_fast() {
        return Err(SearchError::InvalidRequest(format!(
            "sort_by: field `{name}` must be fast (fast: true)"
        )));
    }
    let kind = match field.kind {
        FieldKind::U64 { .. } => SortKind::U64,
        FieldKind::I64 { .. } => SortKind::I64,
        FieldKind::F64 { .. } => SortKind::F64,
        FieldKind::Datetime { .. } => SortKind::Datetime,
        _ => {
            return Err(SearchError::InvalidRequest(format!(
                "sort_by: field `{name}` is {}; sorting takes u64, i64, f64 or datetime fields",
                field.kind.type_name()
            )));
        }
    };
    Ok(SortSpec::Field { name, kind, order })
}
