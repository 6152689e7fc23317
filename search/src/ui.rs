//! The search page, `GET /ui`: one HTML document with its style and script inline, embedded
//! in the binary (no CDN, no build step: `search/ui/index.html` is the source and what is
//! served). It talks to the API beside it, under whatever prefix the page was served from (an
//! API Gateway stage, a Function URL), with the API key the user enters kept in the
//! browser's session storage. The page holds no data, so it is served without a key: the
//! requests it makes carry one.

use crate::http::HttpResponse;

/// The page, as served.
pub const PAGE: &str = include_str!("../ui/index.html");

/// The page's answer: HTML with headers that keep it from being framed or reading anything
/// but the API it came from.
pub fn page() -> HttpResponse {
    let mut response = HttpResponse::bytes(200, "text/html; charset=utf-8", PAGE.into());
    response.headers.extend([
        (
            "content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-cache"),
    ]);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ResponseBody;

    #[test]
    fn the_page_is_html_with_its_script_inline() {
        let response = page();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.headers[0],
            ("content-type", "text/html; charset=utf-8")
        );
        let ResponseBody::Bytes(body) = response.body else {
            panic!("the page is bytes")
        };
        let html = String::from_utf8(body).unwrap();
        assert!(html.starts_with("<!doctype html>"));
        // Nothing is fetched from anywhere but the API: no external script, style or font.
        assert!(!html.contains("<script src"), "no external script");
        assert!(!html.contains("<link"), "no external style");
    }
}
