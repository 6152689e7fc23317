//! The local HTTP server (local mode): HTTP/1.1 over [`handle_request`].
//!
//! Why not hyper: the `http` crate refuses request targets with characters such as `>`, and
//! `curl '.../search?query=quantity:>5'` (the query users type, unencoded) must work. Request
//! heads are parsed with httparse, which accepts them; everything else here is the small part
//! of HTTP/1.1 a JSON API needs: `Content-Length` and chunked bodies, keep-alive, limits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::rest::{HttpRequest, HttpResponse, MAX_REQUEST_BODY_BYTES, handle_request};
use crate::searcher::SearchService;

/// Largest request head (request line and headers).
const MAX_HEAD_BYTES: usize = 16 << 10;
const MAX_HEADERS: usize = 64;
/// An idle or slow client is disconnected after this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server asks of clients.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// When set, every request must carry this value in `x-api-key`, as API Gateway asks of
    /// the deployed API; other requests are answered 403 `{"message": "Forbidden"}`, as API
    /// Gateway answers them.
    pub api_key: Option<String>,
}

/// Serves the REST API on `listener` until `shutdown` completes, to anyone who connects.
pub async fn serve(
    listener: TcpListener,
    service: Arc<SearchService>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, service, ServerOptions::default(), shutdown).await
}

/// Serves the REST API on `listener` until `shutdown` completes, as `options` say.
pub async fn serve_with(
    listener: TcpListener,
    service: Arc<SearchService>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let options = Arc::new(options);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        // Without this, a response's head and body (two writes) meet Nagle's algorithm and the
        // client's delayed ACK: every keep-alive request then takes 40 ms more.
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "cannot set TCP_NODELAY");
        }
        let (service, options) = (service.clone(), options.clone());
        tokio::spawn(async move {
            if let Err(error) = serve_connection(stream, &service, &options).await {
                debug!(%error, "connection ended with an error");
            }
        });
    }
}

/// A request read off the wire.
struct WireRequest {
    method: String,
    target: String,
    body: Vec<u8>,
    keep_alive: bool,
    api_key: Option<String>,
}

enum ReadOutcome {
    Request(WireRequest),
    /// The client closed the connection between requests.
    Closed,
    /// The request is unacceptable: answer and close.
    Reject(HttpResponse),
}

async fn serve_connection(
    stream: TcpStream,
    service: &SearchService,
    options: &ServerOptions,
) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    loop {
        let outcome = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
            Ok(outcome) => outcome?,
            Err(_) => return Ok(()),
        };
        let (response, keep_alive) = match outcome {
            ReadOutcome::Closed => return Ok(()),
            ReadOutcome::Reject(response) => (response, false),
            ReadOutcome::Request(request)
                if !api_key_matches(options.api_key.as_deref(), request.api_key.as_deref()) =>
            {
                (HttpResponse::error(403, "Forbidden"), request.keep_alive)
            }
            ReadOutcome::Request(request) => {
                let (path, query_string) = match request.target.split_once('?') {
                    Some((path, query)) => (path, Some(query)),
                    None => (request.target.as_str(), None),
                };
                let response = handle_request(
                    service,
                    HttpRequest {
                        method: &request.method,
                        path,
                        query_string,
                        body: &request.body,
                    },
                )
                .await;
                (response, request.keep_alive)
            }
        };
        write_response(stream.get_mut(), &response, keep_alive).await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

async fn read_request(stream: &mut BufReader<TcpStream>) -> std::io::Result<ReadOutcome> {
    let mut head = Vec::new();
    // Read up to the blank line that ends the head.
    loop {
        let read = stream.read_until(b'\n', &mut head).await?;
        if read == 0 {
            return Ok(if head.is_empty() {
                ReadOutcome::Closed
            } else {
                ReadOutcome::Reject(HttpResponse::error(400, "incomplete request"))
            });
        }
        if head.len() > MAX_HEAD_BYTES {
            return Ok(ReadOutcome::Reject(HttpResponse::error(
                431,
                "request head too large",
            )));
        }
        if head == b"\r\n" || head == b"\n" {
            // Tolerate blank lines between requests.
            head.clear();
            continue;
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Ok(ReadOutcome::Reject(HttpResponse::error(
                400,
                "malformed HTTP request",
            )));
        }
    }
    let method = parsed.method.unwrap_or("GET").to_string();
    let target = parsed.path.unwrap_or("/").to_string();
    let version = parsed.version.unwrap_or(1);
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .and_then(|header| std::str::from_utf8(header.value).ok())
            .map(str::trim)
    };
    let api_key = header("x-api-key").map(str::to_string);
    let connection = header("connection").map(str::to_ascii_lowercase);
    let keep_alive = match connection.as_deref() {
        Some("close") => false,
        Some("keep-alive") => true,
        _ => version == 1,
    };
    let chunked =
        header("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    let content_length = match header("content-length").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(length)) => length,
        Some(Err(_)) => {
            return Ok(ReadOutcome::Reject(HttpResponse::error(
                400,
                "invalid Content-Length",
            )));
        }
    };
    let too_large = || {
        ReadOutcome::Reject(HttpResponse::error(
            413,
            format!("the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        ))
    };
    let body = if chunked {
        match read_chunked_body(stream).await? {
            Some(body) => body,
            None => return Ok(too_large()),
        }
    } else {
        if content_length > MAX_REQUEST_BODY_BYTES {
            return Ok(too_large());
        }
        let mut body = vec![0u8; content_length];
        stream.read_exact(&mut body).await?;
        body
    };
    Ok(ReadOutcome::Request(WireRequest {
        method,
        target,
        body,
        keep_alive,
        api_key,
    }))
}

/// Whether a request's key is the one required. Keys of the required length are compared in
/// the same time wherever they differ, so response times do not reveal a key's prefix.
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

/// Reads a chunked body; `None` if it exceeds the limit.
async fn read_chunked_body(stream: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        stream.read_line(&mut size_line).await?;
        let size_text = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid chunk size")
        })?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                    return Ok(Some(body));
                }
            }
        }
        if body.len() + size > MAX_REQUEST_BODY_BYTES {
            return Ok(None);
        }
        let start = body.len();
        body.resize(start + size, 0);
        stream.read_exact(&mut body[start..]).await?;
        let mut crlf = [0u8; 2];
        stream.read_exact(&mut crlf).await?;
    }
}

async fn write_response(
    stream: &mut TcpStream,
    response: &HttpResponse,
    keep_alive: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: {}\r\n\r\n",
        response.status,
        reason_phrase(response.status),
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&response.body).await?;
    stream.flush().await
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "",
    }
}
