//! Cold start of the searcher binary: process start to the first search answered, through
//! the Lambda Runtime API that a Lambda sandbox (or `cargo lambda watch`) serves.
//!
//! [`measure`] serves that API on 127.0.0.1 itself: it starts `hydrant-searcher` with
//! `AWS_LAMBDA_RUNTIME_API` pointing at it, hands out one direct-invoke search event on the
//! binary's first `GET .../invocation/next`, and stops the clock when the response is posted.
//! What it leaves out is Lambda's own part (fetching the package, starting the sandbox),
//! which no local measurement can include.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{LoadtestError, Result};

/// One cold start.
#[derive(Clone, Debug, Serialize)]
pub struct ColdStart {
    /// Process start to its first request for work: the binary's initialization.
    pub init_ms: f64,
    /// Process start to the first search answered.
    pub first_response_ms: f64,
    /// The search response's `num_hits`.
    pub num_hits: u64,
}

/// Starts `binary` against index storage `index_uri`, sends `event`, and times it.
///
/// The Runtime API conversation (next invocation, response, the process stopped) reads in
/// the order it happens.
pub async fn measure(
    binary: &Path,
    index_uri: &str,
    event: &serde_json::Value,
) -> Result<ColdStart> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "hydrant-searcher")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/hydrant-searcher")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "loadtest")
        .env("AWS_REGION", "us-east-1")
        .env("HYDRANT_INDEX_URI", index_uri)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let mut init = None;
        loop {
            let (stream, _) = listener.accept().await?;
            let request = read_request(stream).await?;
            if request.method == "GET" && request.path.ends_with("/invocation/next") {
                if init.is_some() {
                    // Asking for a second event: the first was answered, or failed.
                    continue;
                }
                init = Some(started.elapsed());
                let body = event.to_string();
                let deadline_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |now| now.as_millis() + 30_000);
                let headers = format!(
                    "Lambda-Runtime-Aws-Request-Id: loadtest-1\r\nLambda-Runtime-Deadline-Ms: {deadline_ms}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:hydrant-searcher\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n"
                );
                request.respond(200, &headers, body.as_bytes()).await?;
            } else if request.method == "POST" && request.path.ends_with("/response") {
                let answered = started.elapsed();
                let response: serde_json::Value = serde_json::from_slice(&request.body)?;
                request.respond(202, "", b"").await?;
                let num_hits = response["num_hits"].as_u64().ok_or_else(|| {
                    LoadtestError::Check(format!("the searcher answered {response}"))
                })?;
                return Ok::<_, LoadtestError>(ColdStart {
                    init_ms: init.unwrap_or(answered).as_secs_f64() * 1e3,
                    first_response_ms: answered.as_secs_f64() * 1e3,
                    num_hits,
                });
            } else if request.path.ends_with("/error") {
                let message = String::from_utf8_lossy(&request.body).into_owned();
                request.respond(202, "", b"").await?;
                return Err(LoadtestError::Check(format!(
                    "the searcher reported an error: {message}"
                )));
            } else {
                request.respond(404, "", b"").await?;
            }
        }
    })
    .await;
    let _ = child.start_kill();
    let result = match outcome {
        Ok(result) => result,
        Err(_) => Err(LoadtestError::Check(
            "the searcher answered nothing within 30 s".to_string(),
        )),
    };
    with_stderr(result, &mut child).await
}

/// A failed measurement's error, with what the searcher wrote to stderr when it wrote anything.
async fn with_stderr(
    result: Result<ColdStart>,
    child: &mut tokio::process::Child,
) -> Result<ColdStart> {
    if result.is_err()
        && let Some(mut stderr) = child.stderr.take()
    {
        let mut text = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(1), stderr.read_to_string(&mut text)).await;
        if !text.trim().is_empty() {
            return Err(LoadtestError::Check(format!(
                "{}; its stderr: {}",
                result
                    .err()
                    .map(|error| error.to_string())
                    .unwrap_or_default(),
                text.trim()
            )));
        }
    }
    result
}

/// One HTTP/1.1 request of the Runtime API, read whole; answered on the same connection.
struct RuntimeRequest {
    method: String,
    path: String,
    body: Vec<u8>,
    stream: BufReader<TcpStream>,
}

impl RuntimeRequest {
    async fn respond(mut self, status: u16, headers: &str, body: &[u8]) -> Result<()> {
        let head = format!(
            "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.shutdown().await?;
        Ok(())
    }
}

async fn read_request(stream: TcpStream) -> Result<RuntimeRequest> {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut content_length = 0;
    loop {
        let mut header = String::new();
        if stream.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    stream.read_exact(&mut body).await?;
    Ok(RuntimeRequest {
        method,
        path,
        body,
        stream,
    })
}
