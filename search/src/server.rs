//! The local HTTP server (local mode): HTTP/1.1 in front of the [`Router`].
//!
//! Why not hyper: the `http` crate refuses request targets with characters such as `>`, and
//! `curl '.../search?query=quantity:>5'` (the query users type, unencoded) must work. Request
//! heads are parsed with httparse, which accepts them; everything else here is the small part
//! of HTTP/1.1 a JSON API needs: `Content-Length` and chunked bodies, keep-alive, limits.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::http::{HttpRequest, HttpResponse, MAX_REQUEST_BODY_BYTES};
use crate::router::Router;

/// Largest request head (request line and headers), enforced while it is read.
pub const MAX_HEAD_BYTES: usize = 16 << 10;
const MAX_HEADERS: usize = 64;
/// Longest chunk-size line or trailer line of a chunked body.
const MAX_CHUNK_LINE_BYTES: usize = 1 << 10;
/// An idle or slow client is disconnected after this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait to be accepted. Each holds at most a head and a body
/// of bounded size, so this bounds the server's memory.
const MAX_CONNECTIONS: usize = 512;
/// How long to wait before accepting again when the process is out of file descriptors (or
/// memory): the connections being served will close and free some.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the server asks of clients.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// When set, every request must carry this value in `x-api-key`, as API Gateway asks of
    /// the deployed API; other requests are answered 403 `{"message": "Forbidden"}`, as API
    /// Gateway answers them. An empty key is refused at start-up: it would let anyone in.
    pub api_key: Option<String>,
}

impl ServerOptions {
    /// Checks the options before anything is served.
    pub fn validate(&self) -> io::Result<()> {
        if self
            .api_key
            .as_deref()
            .is_some_and(|key| key.trim().is_empty())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the API key is empty: give a key, or no key option at all to serve without one",
            ));
        }
        Ok(())
    }
}

/// Serves the REST API on `listener` until `shutdown` completes, to anyone who connects.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_with(listener, router, ServerOptions::default(), shutdown).await
}

/// Serves the REST API on `listener` until `shutdown` completes, as `options` say.
///
/// Failing to accept a connection never stops the server: out of file descriptors, it waits
/// for served connections to close and accepts again.
pub async fn serve_with(
    listener: TcpListener,
    router: Arc<Router>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    options.validate()?;
    let options = Arc::new(options);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
            () = &mut shutdown => return Ok(()),
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: resources come back as connections close.
                    // Anything else (a connection reset before it was accepted) concerns one
                    // client only.
                    warn!(%error, "cannot accept a connection; still serving");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        // Without this, a response's head and body (two writes) meet Nagle's algorithm and the
        // client's delayed ACK: every keep-alive request then takes 40 ms more.
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "cannot set TCP_NODELAY");
        }
        let (router, options) = (router.clone(), options.clone());
        tokio::spawn(async move {
            if let Err(error) = serve_connection(stream, router.as_ref(), &options).await {
                debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// A request read off the wire.
#[derive(Debug)]
pub struct WireRequest {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
    pub keep_alive: bool,
    pub api_key: Option<String>,
}

/// What reading a request gave.
#[derive(Debug)]
pub enum ReadOutcome {
    Request(WireRequest),
    /// The client closed the connection between requests.
    Closed,
    /// The request is unacceptable: answer and close.
    Reject(HttpResponse),
}

async fn serve_connection(
    stream: TcpStream,
    router: &Router,
    options: &ServerOptions,
) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    loop {
        let outcome = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
            Ok(outcome) => outcome?,
            Err(_) => return Ok(()),
        };
        let (response, keep_alive) = match outcome {
            ReadOutcome::Closed => return Ok(()),
            ReadOutcome::Reject(response) => {
                write_response(stream.get_mut(), &response, false).await?;
                linger(stream).await;
                return Ok(());
            }
            // The page holds no data and asks for the key itself: served without one.
            ReadOutcome::Request(request)
                if !request.is_page()
                    && !api_key_matches(options.api_key.as_deref(), request.api_key.as_deref()) =>
            {
                (HttpResponse::error(403, "Forbidden"), request.keep_alive)
            }
            ReadOutcome::Request(request) => {
                let (path, query_string) = match request.target.split_once('?') {
                    Some((path, query)) => (path, Some(query)),
                    None => (request.target.as_str(), None),
                };
                let started = std::time::Instant::now();
                let (response, cost) = crate::cost::measure(router.handle(HttpRequest::new(
                    &request.method,
                    path,
                    query_string,
                    &request.body,
                )))
                .await;
                // One line per request, errors included: what was asked, answered and read.
                info!(
                    method = request.method,
                    path,
                    status = response.status,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    splits_searched = cost.stats.splits_searched,
                    splits_pruned = cost.stats.splits_pruned,
                    gets = cost.stats.reads.storage_gets,
                    bytes_fetched = cost.stats.reads.storage_bytes,
                    round_trips = cost.stats.reads.round_trips,
                    "request"
                );
                (response, request.keep_alive)
            }
        };
        write_response(stream.get_mut(), &response, keep_alive).await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// After refusing a request whose bytes may still be arriving, stops writing and reads (and
/// drops) what follows for a moment, as nginx's lingering close does: closing a socket with
/// unread data sends a reset, which can destroy the refusal before the client reads it.
async fn linger(mut stream: BufReader<TcpStream>) {
    const LINGER_BYTES: usize = 1 << 20;
    const LINGER_TIME: Duration = Duration::from_secs(2);
    let _ = stream.get_mut().shutdown().await;
    let drain = async {
        let mut sink = [0u8; 8 << 10];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => drained += read,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

fn reject(status: u16, message: impl Into<String>) -> ReadOutcome {
    ReadOutcome::Reject(HttpResponse::error(status, message))
}

/// Reads `reader` up to and including `\n`, at most `limit` bytes in all; `None` when the line
/// is longer. The limit holds while reading: a client sending no newline cannot make it grow.
async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Option<usize>> {
    let start = line.len();
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(Some(line.len() - start));
        }
        let (taken, done) = match buffer.iter().position(|&byte| byte == b'\n') {
            Some(end) => (end + 1, true),
            None => (buffer.len(), false),
        };
        if line.len() - start + taken > limit {
            return Ok(None);
        }
        line.extend_from_slice(&buffer[..taken]);
        reader.consume(taken);
        if done {
            return Ok(Some(line.len() - start));
        }
    }
}

/// Reads one request: its head (bounded while it is read), then its body (`Content-Length` or
/// chunked, bounded). Anything ambiguous is refused rather than guessed: two different
/// `Content-Length`s, a length beside chunked encoding, an overflowing chunk size, two API keys.
pub async fn read_request<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<ReadOutcome> {
    let head = match read_head(reader).await? {
        Ok(head) => head,
        Err(outcome) => return Ok(outcome),
    };
    let head = match parse_head(&head) {
        Ok(head) => head,
        Err(refusal) => return Ok(refusal),
    };
    let body = match read_body(reader, head.body).await? {
        Ok(body) => body,
        Err(refusal) => return Ok(refusal),
    };
    let body = if head.gzip {
        match gunzip_bounded(&body) {
            Ok(body) => body,
            Err(refusal) => return Ok(refusal),
        }
    } else {
        body
    };
    Ok(ReadOutcome::Request(WireRequest {
        method: head.method,
        target: head.target,
        body,
        keep_alive: head.keep_alive,
        api_key: head.api_key,
    }))
}

impl WireRequest {
    fn is_page(&self) -> bool {
        let path = self.target.split('?').next().unwrap_or_default();
        matches!(self.method.as_str(), "GET" | "HEAD") && path.trim_matches('/') == "ui"
    }
}

/// A parsed request head, and how its body is framed.
struct Head {
    method: String,
    target: String,
    keep_alive: bool,
    api_key: Option<String>,
    body: BodyFraming,
    /// `Content-Encoding: gzip`: the body is decompressed before it is handled.
    gzip: bool,
}

/// Largest body once decompressed (`Content-Encoding: gzip`); what a route accepts is then
/// its own limit.
pub const MAX_DECODED_BODY_BYTES: usize = 32 << 20;

/// Decompresses a gzip body, refusing one that is corrupt or inflates past
/// [`MAX_DECODED_BODY_BYTES`] (read in bounded steps: a small bomb stays small).
fn gunzip_bounded(body: &[u8]) -> Result<Vec<u8>, ReadOutcome> {
    use std::io::Read as _;
    let mut decoded = Vec::new();
    let mut decoder =
        flate2::read::MultiGzDecoder::new(body).take(MAX_DECODED_BODY_BYTES as u64 + 1);
    if decoder.read_to_end(&mut decoded).is_err() {
        return Err(reject(
            400,
            "the body is not valid gzip (Content-Encoding: gzip)",
        ));
    }
    if decoded.len() > MAX_DECODED_BODY_BYTES {
        return Err(reject(
            413,
            format!("the body decompresses to more than {MAX_DECODED_BODY_BYTES} bytes"),
        ));
    }
    Ok(decoded)
}

#[derive(Clone, Copy)]
enum BodyFraming {
    Length(usize),
    Chunked,
}

/// The head's bytes, up to and including the blank line; or what to answer instead (the end of
/// the connection, or a refusal).
async fn read_head<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> io::Result<Result<Vec<u8>, ReadOutcome>> {
    let mut head = Vec::new();
    loop {
        let room = MAX_HEAD_BYTES - head.len();
        let Some(read) = read_line_bounded(reader, &mut head, room).await? else {
            return Ok(Err(reject(431, "request head too large")));
        };
        if read == 0 {
            return Ok(Err(if head.is_empty() {
                ReadOutcome::Closed
            } else {
                reject(400, "incomplete request")
            }));
        }
        if head == b"\r\n" || head == b"\n" {
            // Tolerate blank lines between requests.
            head.clear();
            continue;
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(Ok(head));
        }
    }
}

/// Parses a head; anything ambiguous is a refusal.
fn parse_head(head: &[u8]) -> Result<Head, ReadOutcome> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Err(reject(431, format!("more than {MAX_HEADERS} headers")));
        }
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(reject(400, "malformed HTTP request"));
        }
    }
    let values = |name: &str| -> Vec<&str> {
        parsed
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| {
                std::str::from_utf8(header.value)
                    .unwrap_or("\u{fffd}")
                    .trim()
            })
            .collect()
    };
    let api_key = match values("x-api-key").as_slice() {
        [] => None,
        [key] => Some(key.to_string()),
        _ => return Err(reject(400, "more than one x-api-key header")),
    };
    let connection = values("connection")
        .first()
        .map(|value| value.to_ascii_lowercase());
    let keep_alive = match connection.as_deref() {
        Some("close") => false,
        Some("keep-alive") => true,
        _ => parsed.version.unwrap_or(1) == 1,
    };
    let body = body_framing(&values("transfer-encoding"), &values("content-length"))?;
    let gzip = match values("content-encoding").as_slice() {
        [] => false,
        [encoding] if encoding.eq_ignore_ascii_case("identity") => false,
        [encoding] if encoding.eq_ignore_ascii_case("gzip") => true,
        _ => {
            return Err(reject(
                415,
                "unsupported Content-Encoding (gzip and identity are)",
            ));
        }
    };
    Ok(Head {
        method: parsed.method.unwrap_or("GET").to_string(),
        target: parsed.path.unwrap_or("/").to_string(),
        keep_alive,
        api_key,
        body,
        gzip,
    })
}

/// How the body is framed, from `Transfer-Encoding` and `Content-Length`: one or the other,
/// never both, and only chunked encoding.
fn body_framing(transfer_encodings: &[&str], lengths: &[&str]) -> Result<BodyFraming, ReadOutcome> {
    let chunked = match transfer_encodings {
        [] => false,
        [encoding] if encoding.eq_ignore_ascii_case("chunked") => true,
        _ => {
            return Err(reject(
                400,
                "unsupported Transfer-Encoding (only chunked is)",
            ));
        }
    };
    let content_length = match lengths.first() {
        None => None,
        Some(first) if lengths.iter().any(|length| length != first) => {
            return Err(reject(400, "conflicting Content-Length headers"));
        }
        // Digits only: Rust's parser would also take a leading `+`, which HTTP does not.
        Some(length) if !length.is_empty() && length.bytes().all(|byte| byte.is_ascii_digit()) => {
            // More digits than a usize holds is certainly more than the limit.
            Some(length.parse::<usize>().unwrap_or(usize::MAX))
        }
        Some(_) => return Err(reject(400, "invalid Content-Length")),
    };
    match (chunked, content_length) {
        (true, Some(_)) => Err(reject(
            400,
            "Content-Length beside chunked Transfer-Encoding",
        )),
        (true, None) => Ok(BodyFraming::Chunked),
        (false, length) => Ok(BodyFraming::Length(length.unwrap_or(0))),
    }
}

/// The body, bounded; or the refusal to answer instead.
async fn read_body<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    framing: BodyFraming,
) -> io::Result<Result<Vec<u8>, ReadOutcome>> {
    let too_large = || {
        reject(
            413,
            format!("the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        )
    };
    match framing {
        BodyFraming::Chunked => Ok(match read_chunked_body(reader).await? {
            ChunkedBody::Complete(body) => Ok(body),
            ChunkedBody::TooLarge => Err(too_large()),
            ChunkedBody::Malformed(reason) => Err(reject(400, reason)),
        }),
        BodyFraming::Length(length) if length > MAX_REQUEST_BODY_BYTES => Ok(Err(too_large())),
        BodyFraming::Length(length) => {
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).await.is_err() {
                return Ok(Err(reject(
                    400,
                    "the body is shorter than its Content-Length",
                )));
            }
            Ok(Ok(body))
        }
    }
}

/// Whether a request's key is the one required. The comparison takes the same time wherever
/// two keys of the required length differ, so response times do not reveal a key's prefix.
fn api_key_matches(required: Option<&str>, given: Option<&str>) -> bool {
    let Some(required) = required else {
        return true;
    };
    let given = given.unwrap_or("");
    required.len() == given.len()
        && required
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

enum ChunkedBody {
    Complete(Vec<u8>),
    TooLarge,
    Malformed(&'static str),
}

/// Reads a chunked body, every line and the total bounded.
async fn read_chunked_body<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<ChunkedBody> {
    let mut body = Vec::new();
    loop {
        let mut size_line = Vec::new();
        match read_line_bounded(reader, &mut size_line, MAX_CHUNK_LINE_BYTES).await? {
            None => return Ok(ChunkedBody::Malformed("chunk size line too long")),
            Some(0) => return Ok(ChunkedBody::Malformed("the chunked body ends early")),
            Some(_) => {}
        }
        let size_line = String::from_utf8_lossy(&size_line);
        let size_text = size_line.trim().split(';').next().unwrap_or("").trim();
        // At most 8 hex digits: a chunk can never be larger than the whole body allowed.
        if size_text.is_empty()
            || size_text.len() > 8
            || !size_text.bytes().all(|byte| byte.is_ascii_hexdigit())
        {
            return Ok(ChunkedBody::Malformed("invalid chunk size"));
        }
        let size = usize::from_str_radix(size_text, 16).unwrap_or(usize::MAX);
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut line = Vec::new();
                match read_line_bounded(reader, &mut line, MAX_CHUNK_LINE_BYTES).await? {
                    None => return Ok(ChunkedBody::Malformed("trailer line too long")),
                    Some(0) => return Ok(ChunkedBody::Complete(body)),
                    Some(_) if line.trim_ascii().is_empty() => {
                        return Ok(ChunkedBody::Complete(body));
                    }
                    Some(_) => {}
                }
            }
        }
        if size > MAX_REQUEST_BODY_BYTES - body.len() {
            return Ok(ChunkedBody::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        if reader.read_exact(&mut body[start..]).await.is_err() {
            return Ok(ChunkedBody::Malformed("the chunked body ends early"));
        }
        let mut crlf = [0u8; 2];
        if reader.read_exact(&mut crlf).await.is_err() || &crlf != b"\r\n" {
            return Ok(ChunkedBody::Malformed("a chunk does not end with CRLF"));
        }
    }
}

async fn write_response(
    stream: &mut TcpStream,
    response: &HttpResponse,
    keep_alive: bool,
) -> std::io::Result<()> {
    let body = response.body_bytes();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
        response.status,
        reason_phrase(response.status),
        response.content_type(),
        body.len(),
    );
    for (name, value) in &response.headers {
        if !name.eq_ignore_ascii_case("content-type") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    head.push_str(&format!("connection: {connection}\r\n\r\n"));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.flush().await
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, ReadBuf};

    use super::*;

    async fn read(raw: &[u8]) -> ReadOutcome {
        let mut reader = raw;
        read_request(&mut reader).await.unwrap()
    }

    fn status(outcome: &ReadOutcome) -> u16 {
        match outcome {
            ReadOutcome::Reject(response) => response.status,
            ReadOutcome::Request(_) => 200,
            ReadOutcome::Closed => 0,
        }
    }

    /// Serves `byte` forever, counting what it served.
    struct Endless {
        byte: u8,
        served: usize,
    }

    impl AsyncRead for Endless {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buffer: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let length = buffer.remaining();
            buffer.put_slice(&vec![self.byte; length]);
            self.served += length;
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_head_without_end_is_refused_after_reading_a_bounded_amount() {
        for byte in [b'a', b'\r'] {
            let mut reader = BufReader::new(Endless { byte, served: 0 });
            let outcome = read_request(&mut reader).await.unwrap();
            assert_eq!(status(&outcome), 431);
            assert!(
                reader.get_ref().served < 64 << 10,
                "{}",
                reader.get_ref().served
            );
        }
        // Endless header lines, each short.
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend(b"x-filler: yes\r\n".repeat(10_000));
        assert_eq!(status(&read(&head).await), 431);
    }

    #[tokio::test]
    async fn ambiguous_framing_is_refused() {
        let cases: [(&[u8], u16); 9] = [
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n", 413),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
            (b"GET / HTTP/1.1\r\nx-api-key: a\r\nX-Api-Key: b\r\n\r\n", 400),
        ];
        for (raw, expected) in cases {
            let outcome = read(raw).await;
            assert_eq!(
                status(&outcome),
                expected,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        // The same lengths twice are one length.
        let outcome =
            read(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab").await;
        assert!(matches!(outcome, ReadOutcome::Request(request) if request.body == b"ab"));
    }

    #[tokio::test]
    async fn only_the_page_is_served_without_the_key() {
        let cases: [(&[u8], bool); 6] = [
            (b"GET /ui HTTP/1.1\r\n\r\n", true),
            (b"GET /ui/?index=logs HTTP/1.1\r\n\r\n", true),
            (b"HEAD /ui HTTP/1.1\r\n\r\n", true),
            (b"POST /ui HTTP/1.1\r\nContent-Length: 0\r\n\r\n", false),
            (b"GET /uix HTTP/1.1\r\n\r\n", false),
            (b"GET /api/v1/indexes HTTP/1.1\r\n\r\n", false),
        ];
        for (raw, is_page) in cases {
            let ReadOutcome::Request(request) = read(raw).await else {
                panic!("{}", String::from_utf8_lossy(raw))
            };
            assert_eq!(
                request.is_page(),
                is_page,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[tokio::test]
    async fn an_empty_api_key_is_refused_at_start_up() {
        for key in ["", "  "] {
            let options = ServerOptions {
                api_key: Some(key.to_string()),
            };
            assert!(options.validate().is_err());
        }
        assert!(ServerOptions::default().validate().is_ok());
    }
}
