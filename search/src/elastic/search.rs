//! `_search` and `_count`: an Elasticsearch request (URL parameters and JSON body) becomes a
//! [`SearchRequest`] with a query AST, and the [`SearchResponse`] goes back in
//! Elasticsearch's shape.

use serde_json::{Map, Value, json};

use super::glob_matches;
use super::query_dsl::{query_from_dsl, query_from_query_string};
use crate::error::{Result, SearchError};
use crate::query::{DefaultOperator, QueryAst};
use crate::request::{SearchRequest, SearchStats};
use crate::searcher::{IndexesResponse, SearchService};
use crate::sort::{DOCUMENT_ORDER_SORT_KEY, MAX_SORT_KEYS, POSITION_SORT_KEY, is_order_marker};

/// Hits per page when the request does not say, as in Elasticsearch.
const DEFAULT_SIZE: usize = 10;

/// Body keys that change nothing Hydrant returns (scoring, explanations, highlighting and
/// versioning details); accepted so that clients which always send them work.
const IGNORED_BODY_KEYS: &[&str] = &[
    "stored_fields",
    "docvalue_fields",
    "highlight",
    "timeout",
    "version",
    "track_scores",
    "seq_no_primary_term",
    "explain",
    "profile",
    "min_score",
    "indices_boost",
    "script_fields",
    "fields",
];

/// URL parameters of `_search` and `_count` that Hydrant reads or may ignore.
#[derive(Debug, Default, PartialEq)]
pub struct EsSearchParams {
    pub q: Option<String>,
    /// `q`'s default operator: OR unless told, as in Elasticsearch.
    pub default_operator: Option<DefaultOperator>,
    pub df: Vec<String>,
    pub from: Option<usize>,
    pub size: Option<usize>,
    pub sort: Option<String>,
    pub track_total_hits: Option<Value>,
    pub source: Option<Value>,
    pub source_includes: Option<Vec<String>>,
    pub source_excludes: Option<Vec<String>>,
    /// Quickwit's `extra_filters`: comma-separated query strings every hit must also match.
    pub extra_filters: Vec<String>,
    /// Start a scroll that keeps this long between pages (`1m`).
    pub scroll: Option<String>,
    /// `false`: a split that cannot be searched fails the whole request instead of leaving
    /// its hits out.
    pub allow_partial_search_results: Option<bool>,
    /// `true`: index names that do not exist select nothing instead of failing (404).
    pub ignore_unavailable: bool,
}

impl EsSearchParams {
    /// Reads the query string; unknown parameters are an error naming them.
    pub fn parse(query_string: &str) -> Result<Self> {
        let mut params = EsSearchParams::default();
        for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
            let number = |value: &str| {
                value.parse::<usize>().map_err(|_| {
                    SearchError::InvalidRequest(format!(
                        "[{key}] must be a non-negative integer, got `{value}`"
                    ))
                })
            };
            let list = |value: &str| value.split(',').map(str::to_string).collect::<Vec<_>>();
            match key.as_ref() {
                "q" => params.q = Some(value.into_owned()),
                "default_operator" => {
                    params.default_operator = match value.to_ascii_uppercase().as_str() {
                        "AND" => Some(DefaultOperator::And),
                        "OR" => Some(DefaultOperator::Or),
                        _ => {
                            return Err(SearchError::InvalidRequest(format!(
                                "[default_operator] must be AND or OR, got `{value}`"
                            )));
                        }
                    }
                }
                "df" => params.df = list(&value),
                "from" => params.from = Some(number(&value)?),
                "size" => params.size = Some(number(&value)?),
                "sort" => params.sort = Some(value.into_owned()),
                "track_total_hits" => params.track_total_hits = Some(scalar(&value)),
                "_source" => params.source = Some(scalar(&value)),
                "_source_includes" => params.source_includes = Some(list(&value)),
                "_source_excludes" => params.source_excludes = Some(list(&value)),
                "extra_filters" => params.extra_filters.extend(list(&value)),
                "scroll" => params.scroll = Some(value.into_owned()),
                "allow_partial_search_results" => {
                    params.allow_partial_search_results =
                        Some(value.parse::<bool>().map_err(|_| {
                            SearchError::InvalidRequest(format!(
                                "[allow_partial_search_results] must be true or false, got \
                                 `{value}`"
                            ))
                        })?)
                }
                "ignore_unavailable" => {
                    params.ignore_unavailable = value.parse::<bool>().map_err(|_| {
                        SearchError::InvalidRequest(format!(
                            "[ignore_unavailable] must be true or false, got `{value}`"
                        ))
                    })?
                }
                // Transport, routing and shard options: no shards, no replicas.
                "allow_no_indices"
                | "expand_wildcards"
                | "timeout"
                | "typed_keys"
                | "request_cache"
                | "rest_total_hits_as_int"
                | "batched_reduce_size"
                | "pre_filter_shard_size"
                | "max_concurrent_shard_requests"
                | "ccs_minimize_roundtrips"
                | "search_type"
                | "preference"
                | "routing"
                | "stats"
                | "track_scores"
                | "version"
                | "seq_no_primary_term"
                | "explain"
                | "error_trace"
                | "filter_path"
                | "pretty"
                | "human"
                | "analyze_wildcard"
                | "lenient"
                | "terminate_after" => {}
                other => {
                    return Err(SearchError::InvalidRequest(format!(
                        "request contains unrecognized parameter: [{other}]"
                    )));
                }
            }
        }
        Ok(params)
    }
}

/// `true`, `false` and numbers as JSON; anything else as a string.
fn scalar(value: &str) -> Value {
    serde_json::from_str::<Value>(value)
        .ok()
        .filter(|parsed| parsed.is_boolean() || parsed.is_number())
        .unwrap_or_else(|| Value::String(value.to_string()))
}

/// What to keep of each hit's `_source`.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SourceFilter {
    /// `_source: false`: no source at all.
    pub disabled: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

/// The parts of an Elasticsearch search that are not the [`SearchRequest`].
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct EsExtras {
    pub source: SourceFilter,
    /// `track_total_hits: false` leaves `hits.total` out.
    pub track_total_hits: bool,
}

/// Builds the [`SearchRequest`] of an Elasticsearch search, URL parameters (which win, as in
/// Elasticsearch) over the JSON body, with what the response needs beside it.
fn build_request(params: &EsSearchParams, body: &[u8]) -> Result<(SearchRequest, EsExtras)> {
    let mut body = parse_body(body)?;
    let query_ast = match (&params.q, body.remove("query")) {
        (Some(q), _) => {
            let default_operator = params.default_operator.unwrap_or(DefaultOperator::Or);
            query_from_query_string(q, default_operator, &params.df)?
        }
        (None, Some(query)) => query_from_dsl(&query)?,
        (None, None) => QueryAst::MatchAll,
    };
    let query_ast = with_extra_filters(query_ast, &params.extra_filters)?;
    let mut request = SearchRequest::new("*");
    request.query_ast = Some(query_ast);
    request.stats = true;
    request.sort_values = true;
    request.max_hits = match (params.size, body.remove("size")) {
        (Some(size), _) => size,
        (None, Some(size)) => usize_field(&size, "size")?,
        (None, None) => DEFAULT_SIZE,
    };
    request.start_offset = match (params.from, body.remove("from")) {
        (Some(from), _) => from,
        (None, Some(from)) => usize_field(&from, "from")?,
        (None, None) => 0,
    };
    let sort = match (&params.sort, body.remove("sort")) {
        (Some(sort), _) => EsSort {
            keys: sort_from_param(sort),
            datetime_nanos: false,
        },
        (None, Some(sort)) => sort_from_body(&sort)?,
        (None, None) => EsSort::default(),
    };
    request.sort_by = sort.keys;
    request.sort_datetime_nanos = sort.datetime_nanos;
    match body.remove("search_after") {
        None | Some(Value::Null) => {}
        Some(Value::Array(values)) => request.search_after = values,
        Some(other) => {
            return Err(SearchError::InvalidRequest(format!(
                "[search_after] must be a list of sort values, got {other}"
            )));
        }
    }
    let aggs = body.remove("aggs");
    let aggregations = body.remove("aggregations");
    request.aggs = aggs.or(aggregations);
    let track_total_hits = params
        .track_total_hits
        .clone()
        .or_else(|| body.remove("track_total_hits"))
        .unwrap_or(Value::Bool(true));
    let track_total_hits = !matches!(track_total_hits, Value::Bool(false));
    request.count_all = track_total_hits;
    let source = source_filter(params, body.remove("_source"))?;
    for key in IGNORED_BODY_KEYS {
        body.remove(*key);
    }
    if let Some(key) = body.keys().next() {
        return Err(SearchError::InvalidRequest(format!(
            "unknown key [{key}] in the search body (Hydrant reads query, from, size, sort, \
             search_after, aggs, track_total_hits and _source)"
        )));
    }
    request.validate()?;
    Ok((
        request,
        EsExtras {
            source,
            track_total_hits,
        },
    ))
}

fn with_extra_filters(query_ast: QueryAst, extra_filters: &[String]) -> Result<QueryAst> {
    if extra_filters.is_empty() {
        return Ok(query_ast);
    }
    let mut clauses = vec![query_ast];
    for filter in extra_filters
        .iter()
        .filter(|filter| !filter.trim().is_empty())
    {
        clauses.push(query_from_query_string(filter, DefaultOperator::And, &[])?);
    }
    Ok(QueryAst::And(clauses))
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SearchError::InvalidRequest(
            "the search body must be a JSON object".to_string(),
        )),
        Err(error) => Err(SearchError::InvalidRequest(format!(
            "the search body is not JSON: {error}"
        ))),
    }
}

fn usize_field(value: &Value, key: &str) -> Result<usize> {
    value
        .as_u64()
        .and_then(|number| usize::try_from(number).ok())
        .ok_or_else(|| {
            SearchError::InvalidRequest(format!("[{key}] must be a non-negative integer"))
        })
}

/// `sort=field:desc,other` into Hydrant's `sort_by`.
fn sort_from_param(sort: &str) -> Vec<String> {
    sort.split(',')
        .filter(|part| !part.is_empty())
        .filter_map(|part| {
            let (field, order) = part.split_once(':').unwrap_or((part, ""));
            sort_key(field, order.eq_ignore_ascii_case("desc").then_some(true))
        })
        .collect()
}

/// A request's sort, as Hydrant's `sort_by` writes it.
#[derive(Debug, Default, PartialEq)]
struct EsSort {
    keys: Vec<String>,
    /// A key asked for `format: epoch_nanos_int` (Quickwit's datetime sort-value format).
    datetime_nanos: bool,
}

/// The body's `sort`: a field, `{field: order}`, `{field: {order, format, ...}}`, or a list of
/// them.
fn sort_from_body(sort: &Value) -> Result<EsSort> {
    let entries: Vec<&Value> = match sort {
        Value::Array(entries) => entries.iter().collect(),
        other => vec![other],
    };
    let mut sort = EsSort::default();
    for entry in entries {
        let (field, descending) = match entry {
            Value::String(field) => (field.as_str(), None),
            Value::Object(map) if map.len() == 1 => {
                let (field, spec) = map.iter().next().expect("one entry");
                let order = match spec {
                    Value::String(order) => Some(order.as_str()),
                    Value::Object(options) => {
                        match options.get("format").and_then(Value::as_str) {
                            None | Some("epoch_millis") => {}
                            Some("epoch_nanos_int") => sort.datetime_nanos = true,
                            Some(format) => {
                                return Err(SearchError::InvalidRequest(format!(
                                    "[sort] format `{format}` is not supported (epoch_millis \
                                     or epoch_nanos_int)"
                                )));
                            }
                        }
                        options.get("order").and_then(Value::as_str)
                    }
                    _ => None,
                };
                let descending = match order {
                    None => None,
                    Some(order) if order.eq_ignore_ascii_case("desc") => Some(true),
                    Some(order) if order.eq_ignore_ascii_case("asc") => Some(false),
                    Some(order) => {
                        return Err(SearchError::InvalidRequest(format!(
                            "[sort] order must be asc or desc, got `{order}`"
                        )));
                    }
                };
                (field.as_str(), descending)
            }
            other => {
                return Err(SearchError::InvalidRequest(format!(
                    "[sort] cannot read {other}"
                )));
            }
        };
        sort.keys.extend(sort_key(field, descending));
    }
    let fields = sort.keys.iter().filter(|key| !is_order_marker(key)).count();
    if fields > MAX_SORT_KEYS {
        return Err(SearchError::InvalidRequest(format!(
            "[sort] takes at most {MAX_SORT_KEYS} fields"
        )));
    }
    Ok(sort)
}

/// One sort key as `sort_by` writes it; `_doc` is the document order Hydrant breaks ties with
/// anyway, and `_shard_doc` the same order with each hit's position as a sort value.
/// `_score` sorts descending unless told, fields ascending.
fn sort_key(field: &str, descending: Option<bool>) -> Option<String> {
    match field {
        // Elasticsearch's `_doc` is ascending, oldest first, unless told.
        "_doc" if descending.unwrap_or(false) => Some(format!("-{DOCUMENT_ORDER_SORT_KEY}")),
        "_doc" => Some(DOCUMENT_ORDER_SORT_KEY.to_string()),
        "_shard_doc" => Some(POSITION_SORT_KEY.to_string()),
        "_score" => Some(if descending.unwrap_or(true) {
            "_score".to_string()
        } else {
            "-_score".to_string()
        }),
        field if descending.unwrap_or(false) => Some(format!("-{field}")),
        field => Some(field.to_string()),
    }
}

fn source_filter(params: &EsSearchParams, body_source: Option<Value>) -> Result<SourceFilter> {
    let mut filter = SourceFilter::default();
    let source = params.source.clone().or(body_source);
    match source {
        None | Some(Value::Bool(true)) | Some(Value::Null) => {}
        Some(Value::Bool(false)) => filter.disabled = true,
        Some(Value::String(fields)) => {
            filter.includes = fields.split(',').map(str::to_string).collect();
        }
        Some(Value::Array(fields)) => filter.includes = strings(&fields, "_source")?,
        Some(Value::Object(spec)) => {
            for (key, value) in spec {
                let fields = match value {
                    Value::String(field) => vec![field],
                    Value::Array(fields) => strings(&fields, "_source")?,
                    _ => Vec::new(),
                };
                match key.as_str() {
                    "includes" | "include" => filter.includes = fields,
                    "excludes" | "exclude" => filter.excludes = fields,
                    other => {
                        return Err(SearchError::InvalidRequest(format!(
                            "[_source] unknown key [{other}]"
                        )));
                    }
                }
            }
        }
        Some(other) => {
            return Err(SearchError::InvalidRequest(format!(
                "[_source] cannot read {other}"
            )));
        }
    }
    if let Some(includes) = &params.source_includes {
        filter.includes = includes.clone();
    }
    if let Some(excludes) = &params.source_excludes {
        filter.excludes = excludes.clone();
    }
    Ok(filter)
}

fn strings(values: &[Value], key: &str) -> Result<Vec<String>> {
    values
        .iter()
        .map(|value| {
            value.as_str().map(str::to_string).ok_or_else(|| {
                SearchError::InvalidRequest(format!("[{key}] must list field names"))
            })
        })
        .collect()
}

/// `_search` on one index.
pub(super) async fn search(
    service: &SearchService,
    pattern: &str,
    query_string: &str,
    body: &[u8],
) -> Result<Value> {
    let params = EsSearchParams::parse(query_string)?;
    let (request, extras) = build_request(&params, body)?;
    let index_ids = index_ids(service, pattern, params.ignore_unavailable).await?;
    if let Some(keep_alive) = &params.scroll {
        let keep_alive = super::scroll::parse_keep_alive(keep_alive)?;
        return super::scroll::start(service, index_ids, request, extras, keep_alive).await;
    }
    let answer = service.search_indexes(&index_ids, &request, None).await?;
    if params.allow_partial_search_results == Some(false) && !answer.response.errors.is_empty() {
        return Err(partial_results_refused(&answer.response.errors));
    }
    Ok(es_search_response(answer, &extras))
}

/// The ids of the indexes `pattern` selects; with `ignore_unavailable`, names that do not
/// exist select nothing instead of failing.
///
/// Searches resolve their pattern on every request, so this reads no index document: a single
/// name is checked through the metastore cache the search uses anyway, a pattern against the
/// cached list of index ids.
pub async fn index_ids(
    service: &SearchService,
    pattern: &str,
    ignore_unavailable: bool,
) -> Result<Vec<String>> {
    let parsed = super::IndexPattern::parse(pattern)?;
    if let Some(name) = parsed.single_name() {
        return match service.index_exists(name).await? {
            true => Ok(vec![name.to_string()]),
            false if ignore_unavailable => Ok(Vec::new()),
            false => Err(SearchError::IndexNotFound(name.to_string())),
        };
    }
    let all = service.index_ids().await?;
    if !ignore_unavailable
        && let Some(missing) = parsed
            .concrete_names()
            .find(|name| !all.iter().any(|id| id == name))
    {
        return Err(SearchError::IndexNotFound(missing.to_string()));
    }
    Ok(all
        .iter()
        .filter(|id| parsed.matches(id))
        .cloned()
        .collect())
}

/// The error of a search that lost splits when partial results are not allowed.
fn partial_results_refused(errors: &[String]) -> SearchError {
    SearchError::StorageUnavailable(format!(
        "{} splits could not be searched and allow_partial_search_results is false: {}",
        errors.len(),
        errors.join("; ")
    ))
}

/// Most searches one `_msearch` may carry.
pub const MAX_MULTI_SEARCHES: usize = 100;

/// `_msearch`: NDJSON pairs of a header (`{"index": ...}`) and a search body, answered
/// together in order. A search that fails answers its own error; the others are unaffected.
/// URL parameters apply to every search.
pub(super) async fn multi_search(
    service: &SearchService,
    path_index: Option<&str>,
    query_string: &str,
    body: &[u8],
) -> Result<Value> {
    let started = std::time::Instant::now();
    let params = multi_search_params(query_string)?;
    let text = std::str::from_utf8(body)
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
            let (request, extras) = build_request(&params, pair[1].as_bytes())?;
            let ignore_unavailable = ignore_unavailable || params.ignore_unavailable;
            let index_ids = index_ids(service, &pattern, ignore_unavailable).await?;
            let answer = service.search_indexes(&index_ids, &request, None).await?;
            Ok::<Value, SearchError>(es_search_response(answer, &extras))
        }
        .await;
        match answer {
            Ok(mut response) => {
                response["status"] = json!(200);
                response
            }
            Err(error) => super::search_error_body(&error),
        }
    });
    let responses = futures::future::join_all(searches).await;
    Ok(json!({"took": started.elapsed().as_millis() as u64, "responses": responses}))
}

/// URL parameters of `_msearch`: those of `_search` that apply to every search, and the
/// concurrency hints clients send.
fn multi_search_params(query_string: &str) -> Result<EsSearchParams> {
    let kept: Vec<(String, String)> = form_urlencoded::parse(query_string.as_bytes())
        .filter(|(key, _)| {
            !matches!(
                key.as_ref(),
                "max_concurrent_searches" | "max_concurrent_shard_requests"
            )
        })
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let query_string = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish();
    EsSearchParams::parse(&query_string)
}

/// The index pattern of one `_msearch` header (the path's when the header names none), and
/// its `ignore_unavailable`.
fn msearch_index(header: &str, path_index: Option<&str>) -> Result<(String, bool)> {
    let header: Value = serde_json::from_str(header).map_err(|error| {
        SearchError::InvalidRequest(format!("an _msearch header is not JSON: {error}"))
    })?;
    let index = match header.get("index") {
        Some(Value::String(index)) => Some(index.clone()),
        Some(Value::Array(indexes)) => Some(
            indexes
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    let ignore_unavailable = header
        .get("ignore_unavailable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let index = index
        .or_else(|| path_index.map(str::to_string))
        .ok_or_else(|| {
            SearchError::InvalidRequest("an _msearch header must name its index".to_string())
        })?;
    Ok((index, ignore_unavailable))
}

/// `_count` over the indexes a pattern selects: `{"count", "_shards"}`.
pub(super) async fn count(
    service: &SearchService,
    pattern: &str,
    query_string: &str,
    body: &[u8],
) -> Result<Value> {
    let params = EsSearchParams::parse(query_string)?;
    let (mut request, _) = build_request(&params, body)?;
    request.max_hits = 0;
    request.start_offset = 0;
    request.count_all = true;
    let index_ids = index_ids(service, pattern, params.ignore_unavailable).await?;
    let response = service
        .search_indexes(&index_ids, &request, None)
        .await?
        .response;
    let shards = shards_of(&response.stats, response.errors.len());
    Ok(json!({"count": response.num_hits, "_shards": shards}))
}

/// An Elasticsearch search response, each hit named by its index.
pub(super) fn es_search_response(answer: IndexesResponse, extras: &EsExtras) -> Value {
    let IndexesResponse {
        response,
        hit_index_ids,
        ..
    } = answer;
    let mut sort_values = response.sort_values.unwrap_or_default().into_iter();
    let hits: Vec<Value> = response
        .hits
        .into_iter()
        .zip(hit_index_ids)
        .map(|(mut document, index_id)| {
            let mut hit = json!({"_index": index_id, "_id": "", "_score": null});
            if !extras.source.disabled {
                filter_source(&mut document, &extras.source, "");
                hit["_source"] = document;
            }
            // Elasticsearch gives `sort` only to hits of a sorted search.
            if let Some(values) = sort_values.next().filter(|values| !values.is_empty()) {
                hit["sort"] = Value::Array(values);
            }
            hit
        })
        .collect();
    let mut hits_section = json!({"max_score": null, "hits": hits});
    if extras.track_total_hits {
        hits_section["total"] = json!({"value": response.num_hits, "relation": "eq"});
    }
    let mut body = json!({
        "took": response.elapsed_time_micros / 1_000,
        "timed_out": false,
        "_shards": shards_of(&response.stats, response.errors.len()),
        "hits": hits_section,
    });
    if let Some(aggregations) = response.aggregations {
        body["aggregations"] = aggregations;
    }
    body
}

/// Elasticsearch's `_shards`, with the splits searched for shards.
fn shards_of(stats: &Option<SearchStats>, failed: usize) -> Value {
    let searched = stats.as_ref().map_or(0, |stats| stats.splits_searched);
    json!({
        "total": searched,
        "successful": searched.saturating_sub(failed),
        "skipped": 0,
        "failed": failed,
    })
}

/// Keeps the fields `filter` includes (all when it lists none) and drops those it excludes.
/// Patterns are dotted paths with `*` wildcards; an object is kept when its path or any of
/// its fields' paths match.
fn filter_source(value: &mut Value, filter: &SourceFilter, prefix: &str) {
    filter_fields(value, filter, prefix, filter.includes.is_empty());
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
    use super::*;

    #[test]
    fn url_parameters_win_over_the_body() {
        let params = EsSearchParams::parse("q=type:PushEvent&size=3").unwrap();
        let body = br#"{"query": {"term": {"type": "x"}}, "size": 7, "from": 2}"#;
        let (request, _) = build_request(&params, body).unwrap();
        assert_eq!((request.max_hits, request.start_offset), (3, 2));
        assert!(matches!(request.query_ast, Some(QueryAst::Term { .. })));
    }

    #[test]
    fn sorts_in_every_form() {
        assert_eq!(
            sort_from_body(&json!([{"ts": {"order": "desc"}}, "_doc"]))
                .unwrap()
                .keys,
            ["-ts", "_doc"]
        );
        assert_eq!(
            sort_from_body(&json!({"_score": "asc"})).unwrap().keys,
            ["-_score"]
        );
        let nanos =
            sort_from_body(&json!([{"ts": {"format": "epoch_nanos_int"}}, "_shard_doc"])).unwrap();
        assert_eq!(nanos.keys, ["ts", POSITION_SORT_KEY]);
        assert!(nanos.datetime_nanos);
        assert!(sort_from_body(&json!({"ts": {"format": "yyyy"}})).is_err());
        assert_eq!(sort_from_param("ts:desc,id"), ["-ts", "id"]);
        assert!(sort_from_body(&json!({"ts": "sideways"})).is_err());
    }

    #[test]
    fn unknown_parameters_and_body_keys_are_named() {
        let error = EsSearchParams::parse("colour=red").unwrap_err().to_string();
        assert!(error.contains("[colour]"), "{error}");
        let error = build_request(&EsSearchParams::default(), br#"{"collapse": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[collapse]"), "{error}");
    }

    #[test]
    fn sources_are_filtered_by_dotted_globs() {
        let mut document = json!({"actor": {"id": 1, "login": "x"}, "type": "Push", "id": "7"});
        let filter = SourceFilter {
            includes: vec!["actor.*".into(), "type".into()],
            excludes: vec!["actor.login".into()],
            ..SourceFilter::default()
        };
        filter_source(&mut document, &filter, "");
        assert_eq!(document, json!({"actor": {"id": 1}, "type": "Push"}));
        assert!(glob_matches("a*c*e", "abcde"));
        assert!(!glob_matches("a*c", "ab"));
    }
}
