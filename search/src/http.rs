//! Requests and responses as the router sees them, whatever carried them: the local HTTP
//! server, API Gateway (v1 and v2), a Function URL or a direct Lambda invocation.
//!
//! A body is bytes when it came over HTTP, or JSON when a direct invocation carried it as JSON:
//! handlers read either without turning one into the other ([`RequestBody::parse_json`]).
//! Likewise a response body is JSON until a transport writes it ([`HttpResponse::body_bytes`]):
//! a direct invocation returns the JSON as it is.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::SearchError;

/// Largest request body accepted.
pub const MAX_REQUEST_BODY_BYTES: usize = 1 << 20;

/// A request, transport-independent.
#[derive(Clone, Debug)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query_string: Option<&'a str>,
    pub body: RequestBody<'a>,
}

impl<'a> HttpRequest<'a> {
    /// A request whose body is bytes, as HTTP carries it.
    pub fn new(
        method: &'a str,
        path: &'a str,
        query_string: Option<&'a str>,
        body: &'a [u8],
    ) -> Self {
        HttpRequest {
            method,
            path,
            query_string,
            body: RequestBody::Bytes(body),
        }
    }
}

/// A request body: bytes off the wire, or JSON a direct invocation carried.
#[derive(Clone, Debug)]
pub enum RequestBody<'a> {
    Bytes(&'a [u8]),
    Json(Value),
}

impl RequestBody<'_> {
    /// No body at all (or only whitespace, or JSON `null`).
    pub fn is_empty(&self) -> bool {
        match self {
            RequestBody::Bytes(bytes) => bytes.iter().all(u8::is_ascii_whitespace),
            RequestBody::Json(value) => value.is_null(),
        }
    }

    /// The body's size as it arrived (JSON bodies as they would be written).
    pub fn len(&self) -> usize {
        match self {
            RequestBody::Bytes(bytes) => bytes.len(),
            RequestBody::Json(value) => serialized_len(value),
        }
    }

    /// The body as bytes: NDJSON routes (`_msearch`, `_bulk`, `ingest`) read lines. A JSON
    /// string is its text; other JSON is written out.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            RequestBody::Bytes(bytes) => Cow::Borrowed(bytes),
            RequestBody::Json(Value::String(text)) => Cow::Borrowed(text.as_bytes()),
            RequestBody::Json(value) => Cow::Owned(value.to_string().into_bytes()),
        }
    }

    /// The body read as `T`: parsed from bytes, or converted from the JSON a direct
    /// invocation gave (a JSON string holding a document is parsed as the text it holds).
    pub fn parse_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self {
            RequestBody::Bytes(bytes) => serde_json::from_slice(bytes),
            RequestBody::Json(Value::String(text)) => serde_json::from_str(text),
            RequestBody::Json(value) => T::deserialize(value),
        }
    }
}

/// A response, transport-independent: a JSON value until a transport writes it, or bytes of
/// another type (an export's CSV or RowBinary) named by a `content-type` header.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: ResponseBody,
    /// Headers beside `content-length`, which every transport sets, and `content-type`, which
    /// transports set to JSON unless one is given here.
    pub headers: Vec<(&'static str, &'static str)>,
}

/// What a response carries.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseBody {
    Json { value: Value, pretty: bool },
    Bytes(Vec<u8>),
}

impl HttpResponse {
    /// `value` as JSON.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        HttpResponse::json_formatted(status, value, false)
    }

    /// `value` as JSON, indented when `pretty`.
    pub fn json_formatted(status: u16, value: &impl Serialize, pretty: bool) -> Self {
        let value = serde_json::to_value(value).expect("responses serialize");
        HttpResponse {
            status,
            body: ResponseBody::Json { value, pretty },
            headers: Vec::new(),
        }
    }

    /// A body of another type than JSON.
    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            body: ResponseBody::Bytes(body),
            headers: vec![("content-type", content_type)],
        }
    }

    /// An error response: `{"message": ...}`, as Quickwit answers.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        HttpResponse::json(
            status,
            &ErrorMessage {
                message: message.into(),
            },
        )
    }

    /// The answer to a failed request: logged as an operator must see it, answered with
    /// [`SearchError::public_message`] only.
    pub fn search_error(error: &SearchError) -> Self {
        log_search_error(error);
        HttpResponse::error(error.status_code(), error.public_message())
    }

    /// The `content-type` the response sets, JSON by default.
    pub fn content_type(&self) -> &'static str {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map_or("application/json; charset=utf-8", |(_, value)| value)
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The same response without a body (an answer to `HEAD`).
    pub fn without_body(self) -> Self {
        HttpResponse {
            body: ResponseBody::Bytes(Vec::new()),
            ..self
        }
    }

    /// The body as a transport writes it.
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            ResponseBody::Json {
                value,
                pretty: true,
            } => serde_json::to_vec_pretty(value).expect("JSON values serialize"),
            ResponseBody::Json { value, .. } => {
                serde_json::to_vec(value).expect("JSON values serialize")
            }
            ResponseBody::Bytes(bytes) => bytes.clone(),
        }
    }

    /// The body's size once written, without writing it.
    pub fn body_len(&self) -> usize {
        match &self.body {
            ResponseBody::Json {
                value,
                pretty: false,
            } => serialized_len(value),
            ResponseBody::Json { .. } => self.body_bytes().len(),
            ResponseBody::Bytes(bytes) => bytes.len(),
        }
    }

    /// The JSON body, when it is one.
    pub fn json_body(&self) -> Option<&Value> {
        match &self.body {
            ResponseBody::Json { value, .. } => Some(value),
            ResponseBody::Bytes(_) => None,
        }
    }
}

/// Quickwit's error body.
#[derive(Serialize)]
struct ErrorMessage {
    message: String,
}

/// Logs what an operator must see (internal errors, storage trouble): callers get only
/// [`SearchError::public_message`].
pub fn log_search_error(error: &SearchError) {
    match error {
        SearchError::Config(details) | SearchError::Internal(details) => {
            tracing::error!(details, "search failed")
        }
        SearchError::StorageUnavailable(details) => {
            tracing::warn!(details, "index storage unavailable")
        }
        _ => {}
    }
}

/// Bytes `value` takes written compactly, counted without keeping them.
fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).expect("JSON values serialize");
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_read_alike_from_bytes_and_from_json() {
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Query {
            query: String,
        }
        let from_bytes = RequestBody::Bytes(br#"{"query": "a"}"#);
        let from_json = RequestBody::Json(serde_json::json!({"query": "a"}));
        let from_text = RequestBody::Json(Value::String(r#"{"query": "a"}"#.to_string()));
        for body in [&from_bytes, &from_json, &from_text] {
            assert_eq!(
                body.parse_json::<Query>().unwrap(),
                Query { query: "a".into() }
            );
        }
        assert_eq!(from_json.len(), from_bytes.bytes().len() - 1);
        let response = HttpResponse::json(200, &serde_json::json!({"a": [1, 2]}));
        assert_eq!(response.body_len(), response.body_bytes().len());
    }
}
