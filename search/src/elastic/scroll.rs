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
use serde_json::{Value, json};

use super::search::{EsExtras, es_search_response};
use crate::error::{Result, SearchError};
use crate::request::SearchRequest;
use crate::searcher::{IndexesResponse, SearchService};

/// The longest keep-alive a scroll may ask for, as Quickwit allows.
pub const MAX_KEEP_ALIVE: Duration = Duration::from_secs(30 * 60);

const STATE_VERSION: u8 = 1;

/// What a scroll id carries.
#[derive(Debug, Serialize, Deserialize)]
struct ScrollState {
    version: u8,
    index_ids: Vec<String>,
    /// By index.
    split_ids: BTreeMap<String, Vec<String>>,
    /// The next page's request: its `search_after_position` is the last hit served.
    request: SearchRequest,
    extras: EsExtras,
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
    mut request: SearchRequest,
    extras: EsExtras,
    keep_alive: Duration,
) -> Result<Value> {
    if request.start_offset > 0 {
        return Err(SearchError::InvalidRequest(
            "[from] is not allowed in a scroll context; every page follows the last".to_string(),
        ));
    }
    request.sort_values = true;
    let mut answer = service.search_indexes(&index_ids, &request, None).await?;
    request.aggs = None;
    request.search_after.clear();
    request.count_all = false;
    let response = &answer.response;
    let state = ScrollState {
        version: STATE_VERSION,
        index_ids,
        split_ids: std::mem::take(&mut answer.split_ids),
        exhausted: response.hits.len() < request.max_hits,
        total: response.num_hits,
        keep_alive_secs: keep_alive.as_secs().max(1),
        expires_at: 0,
        request: SearchRequest {
            search_after_position: response.last_hit_position.clone(),
            ..request
        },
        extras,
    };
    let mut body = es_search_response(answer, &state.extras);
    body["_scroll_id"] = seal(service, state).await?.into();
    Ok(body)
}

/// `GET|POST _search/scroll`: the page after the one a scroll id was issued with.
pub(super) async fn next_page(
    service: &SearchService,
    query_string: &str,
    body: &[u8],
) -> Result<Value> {
    let (scroll_id, keep_alive) = scroll_parameters(query_string, body)?;
    let mut state = open(service, &scroll_id).await?;
    if let Some(keep_alive) = keep_alive {
        state.keep_alive_secs = parse_keep_alive(&keep_alive)?.as_secs().max(1);
    }
    let mut answer = if state.exhausted {
        IndexesResponse::default()
    } else {
        service
            .search_indexes(&state.index_ids, &state.request, Some(&state.split_ids))
            .await?
    };
    let response = &mut answer.response;
    if response.hits.len() < state.request.max_hits {
        state.exhausted = true;
    }
    if let Some(position) = response.last_hit_position.clone() {
        state.request.search_after_position = Some(position);
    }
    response.num_hits = state.total;
    let mut body = es_search_response(answer, &state.extras);
    body["_scroll_id"] = seal(service, state).await?.into();
    Ok(body)
}

/// `DELETE _search/scroll`: nothing is held anywhere, so every valid id is already free.
pub(super) async fn clear(service: &SearchService, query_string: &str, body: &[u8]) -> Value {
    let mut ids: Vec<String> = form_urlencoded::parse(query_string.as_bytes())
        .filter(|(key, _)| key == "scroll_id")
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(str::to_string)
                .collect::<Vec<String>>()
        })
        .collect();
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        match map.get("scroll_id") {
            Some(Value::String(id)) => ids.push(id.clone()),
            Some(Value::Array(list)) => {
                ids.extend(list.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => {}
        }
    }
    let mut freed = 0;
    for id in &ids {
        if open(service, id).await.is_ok() {
            freed += 1;
        }
    }
    json!({"succeeded": true, "num_freed": freed})
}

/// The scroll id and keep-alive, from the URL or the body (`{"scroll_id", "scroll"}`).
fn scroll_parameters(query_string: &str, body: &[u8]) -> Result<(String, Option<String>)> {
    let mut scroll_id = None;
    let mut keep_alive = None;
    for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
        match key.as_ref() {
            "scroll_id" => scroll_id = Some(value.into_owned()),
            "scroll" => keep_alive = Some(value.into_owned()),
            "rest_total_hits_as_int" | "pretty" | "error_trace" | "filter_path" => {}
            other => {
                return Err(SearchError::InvalidRequest(format!(
                    "request contains unrecognized parameter: [{other}]"
                )));
            }
        }
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Err(SearchError::InvalidRequest(
                "the scroll body must be a JSON object with scroll_id".to_string(),
            ));
        };
        for (key, value) in map {
            match (key.as_str(), value) {
                ("scroll_id", Value::String(id)) => scroll_id = Some(id),
                ("scroll", Value::String(text)) => keep_alive = Some(text),
                (key, value) => {
                    return Err(SearchError::InvalidRequest(format!(
                        "cannot read [{key}] = {value} in the scroll body (scroll_id and scroll, \
                         as strings)"
                    )));
                }
            }
        }
    }
    let scroll_id =
        scroll_id.ok_or_else(|| SearchError::InvalidRequest("scroll_id is missing".to_string()))?;
    Ok((scroll_id, keep_alive))
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
