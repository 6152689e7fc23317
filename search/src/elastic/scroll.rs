//! Scrolls that survive Lambda: `_search?scroll=1m`, then `_search/scroll` page after page.
//!
//! Consecutive pages land on different invocations and containers, so a scroll keeps no
//! state on any searcher: the scroll id carries the request, the splits the scroll started
//! on (pinned, so that documents indexed meanwhile neither shift pages nor appear halfway),
//! the exact position of the last hit served (sort values and split, segment, document, so
//! that no page repeats or skips a hit, ties included), the total and the expiry. It is
//! signed ([`crate::signing`]): a client can hand it back, not alter it.
//!
//! A merge replaces splits, but the replaced ones stay readable for the garbage-collection
//! grace period (15 minutes by default), so a scroll outlives merges as long as its pages are
//! closer together than that; past it, the next page answers 404
//! `search_context_missing_exception` rather than a page with documents missing.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::model::{
    ClearScrollBody, ClearScrollResponse, ScrollBody, ScrollParams, SearchResponse,
    TRANSPORT_PARAMS, from_query_string, refuse_unknown,
};
use super::search::ElasticSearch;
use crate::error::{Result, SearchError};
use crate::http::RequestBody;
use crate::searcher::{IndexesResponse, SearchAfterParam, SearchService};

/// The longest keep-alive a scroll may ask for, as Quickwit allows.
pub const MAX_KEEP_ALIVE: Duration = Duration::from_secs(30 * 60);

/// 2: the search as the core's parameters, not the native request.
const STATE_VERSION: u8 = 2;

/// What a scroll id carries.
#[derive(Debug, Serialize, Deserialize)]
struct ScrollState {
    version: u8,
    index_ids: Vec<String>,
    /// By index.
    split_ids: BTreeMap<String, Vec<String>>,
    /// The next page's search: its `search_after` is the last hit served.
    search: ElasticSearch,
    total: u64,
    /// No hit is left (a page came back short).
    exhausted: bool,
    keep_alive_secs: u64,
    /// Unix seconds after which the id is refused.
    expires_at: u64,
}

/// A keep-alive as Elasticsearch writes durations: `30s`, `1m`, `2h`, `1d`, `500ms`.
pub fn parse_keep_alive(text: &str) -> Result<Duration> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| invalid_keep_alive(text))?;
    let millis = match unit {
        "ms" => Some(number),
        "s" => number.checked_mul(1_000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        "d" => number.checked_mul(86_400_000),
        _ => return Err(invalid_keep_alive(text)),
    }
    .ok_or_else(|| invalid_keep_alive(text))?;
    let keep_alive = Duration::from_millis(millis);
    if keep_alive > MAX_KEEP_ALIVE {
        return Err(SearchError::InvalidRequest(format!(
            "scroll keep-alive `{text}` is longer than the {} seconds Hydrant keeps a scroll",
            MAX_KEEP_ALIVE.as_secs()
        )));
    }
    if keep_alive.is_zero() {
        return Err(invalid_keep_alive(text));
    }
    Ok(keep_alive)
}

fn invalid_keep_alive(text: &str) -> SearchError {
    SearchError::InvalidRequest(format!(
        "[scroll] `{text}` is not a keep-alive (a number and a unit: ms, s, m, h or d)"
    ))
}

/// The first page of a scroll, with its `_scroll_id`.
pub(super) async fn start(
    service: &SearchService,
    index_ids: Vec<String>,
    mut search: ElasticSearch,
    keep_alive: Duration,
) -> Result<SearchResponse> {
    if search.params.start_offset > 0 {
        return Err(SearchError::InvalidRequest(
            "[from] is not allowed in a scroll context; every page follows the last".to_string(),
        ));
    }
    let mut answer = service
        .search_indexes(&index_ids, &search.params, None)
        .await?;
    let page = &answer.answer;
    let exhausted = page.hits.len() < search.params.max_hits;
    let total = page.num_hits;
    let last_hit = page.last_hit_position.clone();
    let split_ids = std::mem::take(&mut answer.split_ids);
    let mut response = search.response(answer);
    // Later pages: no aggregations, no counting, after the last hit served.
    search.params.aggregations = None;
    search.params.count_all = false;
    search.params.search_after = last_hit.map(SearchAfterParam::Position);
    let state = ScrollState {
        version: STATE_VERSION,
        index_ids,
        split_ids,
        search,
        total,
        exhausted,
        keep_alive_secs: keep_alive.as_secs().max(1),
        expires_at: 0,
    };
    response.scroll_id = Some(seal(service, state).await?);
    Ok(response)
}

/// `GET|POST _search/scroll`: the page after the one a scroll id was issued with.
pub(super) async fn next_page(
    service: &SearchService,
    query_string: &str,
    body: &RequestBody<'_>,
) -> Result<SearchResponse> {
    let (scroll_id, keep_alive) = scroll_parameters(query_string, body)?;
    let mut state = open(service, &scroll_id).await?;
    if let Some(keep_alive) = keep_alive {
        state.keep_alive_secs = parse_keep_alive(&keep_alive)?.as_secs().max(1);
    }
    let mut answer = if state.exhausted {
        IndexesResponse::default()
    } else {
        service
            .search_indexes(
                &state.index_ids,
                &state.search.params,
                Some(&state.split_ids),
            )
            .await?
    };
    let page = &mut answer.answer;
    if page.hits.len() < state.search.params.max_hits {
        state.exhausted = true;
    }
    if let Some(position) = page.last_hit_position.clone() {
        state.search.params.search_after = Some(SearchAfterParam::Position(position));
    }
    page.num_hits = state.total;
    let mut response = state.search.response(answer);
    response.scroll_id = Some(seal(service, state).await?);
    Ok(response)
}

/// `DELETE _search/scroll`: nothing is held anywhere, so every valid id is already free.
pub(super) async fn clear(
    service: &SearchService,
    query_string: &str,
    body: &RequestBody<'_>,
) -> ClearScrollResponse {
    let mut ids: Vec<String> = form_urlencoded::parse(query_string.as_bytes())
        .filter(|(key, _)| key == "scroll_id")
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(str::to_string)
                .collect::<Vec<String>>()
        })
        .collect();
    if let Ok(ClearScrollBody {
        scroll_id: Some(body_ids),
    }) = body.parse_json::<ClearScrollBody>()
    {
        ids.extend(body_ids.into_vec());
    }
    let mut freed = 0;
    for id in &ids {
        if open(service, id).await.is_ok() {
            freed += 1;
        }
    }
    ClearScrollResponse {
        succeeded: true,
        num_freed: freed,
    }
}

/// The scroll id and keep-alive, from the URL or the body (`{"scroll_id", "scroll"}`).
fn scroll_parameters(
    query_string: &str,
    body: &RequestBody<'_>,
) -> Result<(String, Option<String>)> {
    let url: ScrollParams = from_query_string(query_string)?;
    refuse_unknown(
        &url.unknown,
        &[TRANSPORT_PARAMS, &["rest_total_hits_as_int"]].concat(),
    )?;
    let body = if body.is_empty() {
        ScrollBody::default()
    } else {
        body.parse_json::<ScrollBody>().map_err(|error| {
            SearchError::InvalidRequest(format!(
                "the scroll body must be a JSON object with scroll_id and scroll, as strings: \
                 {error}"
            ))
        })?
    };
    let scroll_id = body
        .scroll_id
        .or(url.scroll_id)
        .ok_or_else(|| SearchError::InvalidRequest("scroll_id is missing".to_string()))?;
    Ok((scroll_id, body.scroll.or(url.scroll)))
}

async fn seal(service: &SearchService, mut state: ScrollState) -> Result<String> {
    state.expires_at = unix_now().saturating_add(state.keep_alive_secs);
    let payload = serde_json::to_vec(&state).expect("scroll state serializes");
    Ok(service.signing_key().await?.seal(&payload))
}

async fn open(service: &SearchService, scroll_id: &str) -> Result<ScrollState> {
    let refused = || {
        SearchError::ScrollNotFound(
            "the scroll id is not one this deployment issued (or it was altered)".to_string(),
        )
    };
    let payload = service
        .signing_key()
        .await?
        .open(scroll_id.trim())
        .ok_or_else(refused)?;
    let state: ScrollState = serde_json::from_slice(&payload).map_err(|_| refused())?;
    if state.version != STATE_VERSION {
        return Err(refused());
    }
    if unix_now() > state.expires_at {
        return Err(SearchError::ScrollNotFound(
            "the scroll expired: its keep-alive passed since the last page".to_string(),
        ));
    }
    Ok(state)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alives_read_as_elasticsearch_writes_them() {
        assert_eq!(parse_keep_alive("30m").unwrap(), MAX_KEEP_ALIVE);
        assert_eq!(parse_keep_alive("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_keep_alive("500ms").unwrap(),
            Duration::from_millis(500)
        );
        for bad in [
            "31m",
            "1d",
            "",
            "m",
            "10",
            "10 years",
            "0s",
            "99999999999999999999h",
        ] {
            assert!(parse_keep_alive(bad).is_err(), "{bad}");
        }
    }
}
