//! `_search`, `_count` and `_msearch`: an Elasticsearch request (URL parameters over the JSON
//! body) becomes the core's [`SearchParams`], and its [`SearchAnswer`] goes back in
//! Elasticsearch's shape.

use hydrant_index::template::glob_matches;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{
    CountResponse, Hit, HitsSection, MultiSearchHeader, MultiSearchItem, MultiSearchResponse,
    SearchBody, SearchQueryParams, SearchResponse, Shards, SortParam, SourceParam, TotalHits,
    TrackTotalHits,
};
use super::query_dsl::{query_from_dsl, query_from_query_string};
use crate::error::{Result, SearchError};
use crate::http::RequestBody;
use crate::index_pattern::index_ids;
use crate::query::{DefaultOperator, QueryAst};
use crate::searcher::{
    AggregationRequest, IndexesResponse, SearchAfterParam, SearchParams, SearchService,
};
use crate::sort::SortField;

/// Hits per page when the request does not say, as in Elasticsearch.
const DEFAULT_SIZE: usize = 10;

/// Most searches one `_msearch` may carry.
pub const MAX_MULTI_SEARCHES: usize = 100;

/// What to keep of each hit's `_source`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SourceFilter {
    /// `_source: false`: no source at all.
    pub disabled: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

/// An Elasticsearch search: the core's parameters, and what its answer is written with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ElasticSearch {
    pub params: SearchParams,
    pub source: SourceFilter,
    /// `track_total_hits: false` leaves `hits.total` out.
    pub track_total_hits: bool,
    /// Where a hit's score is among its sort values, when hits are scored.
    #[serde(default)]
    pub score_value: Option<usize>,
    /// The request gave a sort: hits show their sort values (relevance, the default, shows
    /// none, as in Elasticsearch).
    #[serde(default)]
    pub show_sort: bool,
    /// The score is a sort value only because `track_scores` asked for it: not shown in
    /// `sort`.
    #[serde(default)]
    pub hidden_score: bool,
}

impl ElasticSearch {
    /// URL parameters (which win, as in Elasticsearch) over the body.
    pub fn new(url: &SearchQueryParams, body: SearchBody) -> Result<Self> {
        let query = match (&url.q, &body.query) {
            (Some(q), _) => {
                let default_operator = url.default_operator.unwrap_or(DefaultOperator::Or);
                query_from_query_string(q, default_operator, url.df.as_deref().unwrap_or(&[]))?
            }
            (None, Some(query)) => query_from_dsl(query)?,
            (None, None) => QueryAst::MatchAll,
        };
        let query = with_extra_filters(query, url.extra_filters.as_deref().unwrap_or(&[]))?;
        let max_hits = url.size.or(body.size).unwrap_or(DEFAULT_SIZE);
        let (mut sort, show_sort) = match (&url.sort, body.sort) {
            (Some(sort), _) => (SortParam::from_url(sort), true),
            (None, Some(sort)) => (sort, true),
            // Relevance, as Elasticsearch ranks by default; a search for no hits (counts,
            // aggregations) has nothing to rank and skips scoring.
            (None, None) if max_hits > 0 => (SortParam::relevance(), false),
            (None, None) => (SortParam::default(), false),
        };
        let track_scores = url.track_scores.or(body.track_scores).unwrap_or(false);
        let hidden_score = track_scores && !sort.fields.contains(&SortField::Score);
        if hidden_score {
            // After the fields, before document order: it changes no order but ties'.
            let keys_end = (sort.fields.iter())
                .position(|field| !field.is_key())
                .unwrap_or(sort.fields.len());
            sort.fields.insert(keys_end, SortField::Score);
        }
        let score_value = (sort.fields.iter())
            .filter(|field| field.is_key())
            .position(|field| *field == SortField::Score);
        let track_total_hits = url
            .track_total_hits
            .or(body.track_total_hits)
            .unwrap_or(TrackTotalHits::Enabled(true))
            .is_tracked();
        let aggregations = body
            .aggs
            .or(body.aggregations)
            .map(AggregationRequest::parse)
            .transpose()?;
        let params = SearchParams {
            query,
            default_fields: Vec::new(),
            start_timestamp: None,
            end_timestamp: None,
            max_hits,
            start_offset: url.from.or(body.from).unwrap_or(0),
            sort: sort.fields,
            snippet_fields: Vec::new(),
            aggregations,
            count_all: track_total_hits,
            search_after: body.search_after.map(SearchAfterParam::Values),
            sort_values: true,
            datetime_sort_nanos: sort.datetime_nanos,
        };
        params.validate()?;
        Ok(ElasticSearch {
            params,
            source: source_filter(url, body.source),
            track_total_hits,
            score_value,
            show_sort,
            hidden_score,
        })
    }

    /// The answer in Elasticsearch's shape, each hit named by its index.
    pub fn response(&self, answer: IndexesResponse) -> SearchResponse {
        let IndexesResponse {
            answer,
            hit_index_ids,
            ..
        } = answer;
        let mut sort_values = answer.sort_values.unwrap_or_default().into_iter();
        let hits = answer
            .hits
            .into_iter()
            .zip(hit_index_ids)
            .zip(answer.hit_ids)
            .map(|((mut document, index), id)| {
                let source = (!self.source.disabled).then(|| {
                    filter_source(&mut document, &self.source);
                    document
                });
                let mut values = sort_values.next().unwrap_or_default();
                let score = (self.score_value)
                    .and_then(|at| values.get(at))
                    .and_then(Value::as_f64)
                    .map(|score| score as f32);
                if let Some(at) = self.score_value.filter(|_| self.hidden_score) {
                    values.remove(at);
                }
                Hit {
                    index,
                    id,
                    score,
                    source,
                    // Elasticsearch gives `sort` only to hits of a sorted search.
                    sort: (self.show_sort && !values.is_empty()).then_some(values),
                }
            })
            .collect();
        let total = self.track_total_hits.then_some(TotalHits {
            value: answer.num_hits,
            relation: "eq",
        });
        SearchResponse {
            took: answer.elapsed_time_micros / 1_000,
            timed_out: false,
            shards: Shards::of(answer.stats.splits_searched, answer.errors.len()),
            hits: HitsSection {
                total,
                max_score: self.score_value.and(answer.max_score),
                hits,
            },
            aggregations: answer.aggregations,
            scroll_id: None,
        }
    }
}

fn with_extra_filters(query: QueryAst, extra_filters: &[String]) -> Result<QueryAst> {
    let filters: Vec<&String> = extra_filters
        .iter()
        .filter(|filter| !filter.trim().is_empty())
        .collect();
    if filters.is_empty() {
        return Ok(query);
    }
    let mut clauses = vec![query];
    for filter in filters {
        clauses.push(query_from_query_string(filter, DefaultOperator::And, &[])?);
    }
    Ok(QueryAst::And(clauses))
}

fn source_filter(url: &SearchQueryParams, body_source: Option<SourceParam>) -> SourceFilter {
    let mut filter = SourceFilter::default();
    match url.source.clone().or(body_source) {
        None | Some(SourceParam::Enabled(true)) => {}
        Some(SourceParam::Enabled(false)) => filter.disabled = true,
        Some(SourceParam::Fields(fields)) => filter.includes = fields,
        Some(SourceParam::Filter { includes, excludes }) => {
            filter.includes = includes;
            filter.excludes = excludes;
        }
    }
    if let Some(includes) = &url.source_includes {
        filter.includes = includes.clone();
    }
    if let Some(excludes) = &url.source_excludes {
        filter.excludes = excludes.clone();
    }
    filter
}

/// A `_search` request, read: its URL parameters, the search, and the indexes it selects.
pub(super) struct SearchRoute {
    pub url: SearchQueryParams,
    pub search: ElasticSearch,
    pub index_ids: Vec<String>,
}

impl SearchRoute {
    pub async fn read(
        service: &SearchService,
        pattern: &str,
        query_string: &str,
        body: &RequestBody<'_>,
    ) -> Result<Self> {
        let url = SearchQueryParams::parse(query_string)?;
        let search = ElasticSearch::new(&url, SearchBody::parse(body)?)?;
        let ignore_unavailable = url.ignore_unavailable.unwrap_or(false);
        let index_ids = index_ids(service, pattern, ignore_unavailable).await?;
        Ok(SearchRoute {
            url,
            search,
            index_ids,
        })
    }
}

/// `_search` over the indexes a pattern selects (a scroll's first page is `scroll.rs`'s).
pub(super) async fn search(service: &SearchService, route: SearchRoute) -> Result<SearchResponse> {
    let answer = service
        .search_indexes(&route.index_ids, &route.search.params, None)
        .await?;
    if route.url.allow_partial_search_results == Some(false) && !answer.answer.errors.is_empty() {
        return Err(partial_results_refused(&answer.answer.errors));
    }
    Ok(route.search.response(answer))
}

/// The error of a search that lost splits when partial results are not allowed.
fn partial_results_refused(errors: &[String]) -> SearchError {
    SearchError::StorageUnavailable(format!(
        "{} splits could not be searched and allow_partial_search_results is false: {}",
        errors.len(),
        errors.join("; ")
    ))
}

/// `_msearch`: NDJSON pairs of a header (`{"index": ...}`) and a search body, answered
/// together in order. A search that fails answers its own error; the others are unaffected.
/// URL parameters apply to every search.
pub(super) async fn multi_search(
    service: &SearchService,
    path_index: Option<&str>,
    query_string: &str,
    body: &RequestBody<'_>,
) -> Result<MultiSearchResponse> {
    let started = std::time::Instant::now();
    let url = SearchQueryParams::parse_multi_search(query_string)?;
    let bytes = body.bytes();
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| SearchError::InvalidRequest("the _msearch body is not UTF-8".to_string()))?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    if !lines.len().is_multiple_of(2) {
        return Err(SearchError::InvalidRequest(
            "_msearch takes pairs of lines: a header, then a search body".to_string(),
        ));
    }
    if lines.len() / 2 > MAX_MULTI_SEARCHES {
        return Err(SearchError::InvalidRequest(format!(
            "_msearch takes at most {MAX_MULTI_SEARCHES} searches"
        )));
    }
    let searches = lines.chunks(2).map(|pair| async {
        let answer = async {
            let (pattern, ignore_unavailable) = msearch_index(pair[0], path_index)?;
            let body = SearchBody::parse(&RequestBody::Bytes(pair[1].as_bytes()))?;
            let search = ElasticSearch::new(&url, body)?;
            let ignore_unavailable = ignore_unavailable || url.ignore_unavailable == Some(true);
            let index_ids = index_ids(service, &pattern, ignore_unavailable).await?;
            let answer = service
                .search_indexes(&index_ids, &search.params, None)
                .await?;
            Ok::<_, SearchError>(search.response(answer))
        }
        .await;
        match answer {
            Ok(response) => MultiSearchItem::Ok {
                response: Box::new(response),
                status: 200,
            },
            Err(error) => MultiSearchItem::Err(super::search_error_body(&error)),
        }
    });
    let responses = futures::future::join_all(searches).await;
    Ok(MultiSearchResponse {
        took: started.elapsed().as_millis() as u64,
        responses,
    })
}

/// The index pattern of one `_msearch` header (the path's when the header names none), and
/// its `ignore_unavailable`.
fn msearch_index(header: &str, path_index: Option<&str>) -> Result<(String, bool)> {
    let header: MultiSearchHeader = serde_json::from_str(header).map_err(|error| {
        SearchError::InvalidRequest(format!("an _msearch header is not JSON: {error}"))
    })?;
    let index = header
        .index
        .map(|index| index.into_vec().join(","))
        .or_else(|| path_index.map(str::to_string))
        .ok_or_else(|| {
            SearchError::InvalidRequest("an _msearch header must name its index".to_string())
        })?;
    Ok((index, header.ignore_unavailable.unwrap_or(false)))
}

/// `_count` over the indexes a pattern selects.
pub(super) async fn count(
    service: &SearchService,
    pattern: &str,
    query_string: &str,
    body: &RequestBody<'_>,
) -> Result<CountResponse> {
    let url = SearchQueryParams::parse(query_string)?;
    let mut search = ElasticSearch::new(&url, SearchBody::parse(body)?)?;
    search.params.max_hits = 0;
    search.params.start_offset = 0;
    search.params.count_all = true;
    let index_ids = index_ids(service, pattern, url.ignore_unavailable.unwrap_or(false)).await?;
    let answer = service
        .search_indexes(&index_ids, &search.params, None)
        .await?
        .answer;
    Ok(CountResponse {
        count: answer.num_hits,
        shards: Shards::of(answer.stats.splits_searched, answer.errors.len()),
    })
}

/// Keeps the fields `filter` includes (all when it lists none) and drops those it excludes.
/// Patterns are dotted paths with `*` wildcards; an object is kept when its path or any of
/// its fields' paths match.
fn filter_source(value: &mut Value, filter: &SourceFilter) {
    filter_fields(value, filter, "", filter.includes.is_empty());
}

/// `included`: an enclosing object matched an include, so every field below is included.
fn filter_fields(value: &mut Value, filter: &SourceFilter, prefix: &str, included: bool) {
    let Value::Object(fields) = value else {
        return;
    };
    fields.retain(|name, child| {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if filter
            .excludes
            .iter()
            .any(|pattern| glob_matches(pattern, &path))
        {
            return false;
        }
        let included = included
            || filter
                .includes
                .iter()
                .any(|pattern| glob_matches(pattern, &path));
        if child.is_object() {
            filter_fields(child, filter, &path, included);
            return included || child.as_object().is_some_and(|map| !map.is_empty());
        }
        included
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn search(query_string: &str, body: Value) -> Result<ElasticSearch> {
        let url = SearchQueryParams::parse(query_string)?;
        ElasticSearch::new(&url, SearchBody::from_value(body)?)
    }

    #[test]
    fn url_parameters_win_over_the_body() {
        let search = search(
            "q=type:PushEvent&size=3",
            json!({"query": {"term": {"type": "x"}}, "size": 7, "from": 2}),
        )
        .unwrap();
        assert_eq!((search.params.max_hits, search.params.start_offset), (3, 2));
        assert!(matches!(search.params.query, QueryAst::Term { .. }));
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_named() {
        let error = SearchQueryParams::parse("colour=red")
            .unwrap_err()
            .to_string();
        assert!(error.contains("[colour]"), "{error}");
        let error = SearchQueryParams::parse("size=many")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[size] must be a non-negative integer"),
            "{error}"
        );
        let error = SearchQueryParams::parse("default_operator=xor")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[default_operator] must be AND or OR"),
            "{error}"
        );
        assert!(SearchQueryParams::parse("pretty=true&typed_keys=true").is_ok());
        assert!(SearchQueryParams::parse("max_concurrent_searches=4").is_err());
        assert!(SearchQueryParams::parse_multi_search("max_concurrent_searches=4").is_ok());
    }

    #[test]
    fn sources_are_filtered_by_dotted_globs() {
        let search = search(
            "_source_excludes=actor.login",
            json!({"_source": ["actor.*", "type"]}),
        )
        .unwrap();
        let mut document = json!({"actor": {"id": 1, "login": "x"}, "type": "Push", "id": "7"});
        filter_source(&mut document, &search.source);
        assert_eq!(document, json!({"actor": {"id": 1}, "type": "Push"}));
        assert!(glob_matches("a*c*e", "abcde"));
        assert!(!glob_matches("a*c", "ab"));
    }
}
