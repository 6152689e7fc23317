//! The Elasticsearch-compatible API over a real index of every field type: any URL parameters
//! and body, on `_search` (one index or a pattern), `_count`, `_msearch`, scrolls,
//! `_field_caps`, `_mapping`, the index routes or `_doc/{id}` (the id from the first line),
//! give an answer in Elasticsearch's shape with a known status. Never a panic, never a stack overflow (the query
//! DSL's nesting and size are bounded).
#![no_main]

use hydrant_search::http::HttpRequest;
use hydrant_search::router;
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 11] = [
    "/api/v1/_elastic/fuzz/_search",
    "/api/v1/_elastic/fuzz/_count",
    "/api/v1/_elastic/_msearch",
    "/api/v1/_elastic/_cat/indices/fuzz*",
    "/api/v1/_elastic/fuzz*,-x/_stats",
    "/api/v1/indexes",
    "/api/v1/_elastic/fuzz,fu*/_search",
    "/api/v1/_elastic/_search/scroll",
    "/api/v1/_elastic/fuzz*/_field_caps",
    "/api/v1/_elastic/fuzz/_mapping",
    // The id follows, from the input's first line.
    "/api/v1/_elastic/fuzz/_doc/",
];

fuzz_target!(|input: &[u8]| {
    let Some((&route, rest)) = input.split_first() else {
        return;
    };
    // The first line is the query string, the rest the body.
    let (query, body) = match rest.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&rest[..end], &rest[end + 1..]),
        None => (&rest[..0], rest),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let mut path = PATHS[usize::from(route) % PATHS.len()].to_string();
    let mut method = if route & 0x80 == 0 { "POST" } else { "GET" };
    let mut query = query;
    if path.ends_with("/_doc/") {
        path.push_str(query);
        (method, query) = ("GET", "");
    }
    let response = hydrant_fuzz::runtime().block_on(router::handle(
        hydrant_fuzz::service(),
        None,
        HttpRequest::new(method, &path, Some(query), body),
    ));
    assert!(
        matches!(response.status, 200 | 400 | 404 | 405 | 413),
        "status {}: {}",
        response.status,
        String::from_utf8_lossy(&response.body_bytes())
    );
});
