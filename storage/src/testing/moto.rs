//! Test support shared by every crate's tests: a real S3 API on loopback (moto), never a mock.
//!
//! [`moto_endpoint`] uses `HYDRANT_TEST_S3_ENDPOINT` when the test runner started moto itself
//! (`scripts/test` does); otherwise it starts `moto_server` from `PATH` once per test process,
//! on a free loopback port, under a shell watchdog that stops it when the test process ends.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{S3Config, S3Storage};

/// Environment variable naming an already running moto server.
pub const MOTO_ENDPOINT_ENV: &str = "HYDRANT_TEST_S3_ENDPOINT";

/// The endpoint of a moto server on 127.0.0.1, started on first use if needed.
///
/// Panics with instructions when no server is configured and `moto_server` cannot be started:
/// a test that needs S3 must not silently pass without it.
pub fn moto_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(endpoint) = std::env::var(MOTO_ENDPOINT_ENV) {
                return endpoint;
            }
            start_moto_server()
        })
        .clone()
}

fn start_moto_server() -> String {
    let port = spawn_moto_server("");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if answers_http(port) {
            return format!("http://127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "tests need an S3 API on loopback and `moto_server` did not start: run `scripts/test` \
         (it installs moto), or `pip install 'moto[server]'`, or set {MOTO_ENDPOINT_ENV}"
    );
}

/// Starts `moto_server` from `PATH` on a free loopback port, with `extra_args` (TLS options,
/// say), under a shell watchdog that stops it when this process ends; returns the port without
/// waiting for the server to answer.
pub fn spawn_moto_server(extra_args: &str) -> u16 {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free loopback port");
    let watchdog = format!(
        "moto_server -H 127.0.0.1 -p {port} {extra_args} >/dev/null 2>&1 & moto=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $moto 2>/dev/null; do sleep 1; done; \
         kill $moto 2>/dev/null",
        parent = std::process::id()
    );
    // The watchdog outlives this call on purpose: it stops moto when the test process exits.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .stdin(Stdio::null())
        .spawn()
        .expect("cannot run sh to start moto_server");
    port
}

/// Whether an HTTP server answers on the port. A connection alone proves nothing: while another
/// test thread forks, the child briefly holds a copy of the listener that picked the port, and a
/// connection that lands there is reset once the child execs.
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = [0u8; 5];
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .and_then(|()| stream.read_exact(&mut head))
        .is_ok_and(|()| &head == b"HTTP/")
}

/// S3 settings for an S3-compatible test server on `endpoint`, with moto's static credentials.
pub fn s3_config_for_endpoint(endpoint: impl Into<String>) -> S3Config {
    S3Config {
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".to_string()),
        static_credentials: Some(("testing".to_string(), "testing".to_string())),
        ..S3Config::default()
    }
}

/// S3 settings for the moto server, with small multipart parts so tests exercise them.
pub fn moto_s3_config() -> S3Config {
    S3Config {
        multipart_threshold: 6 << 20,
        multipart_part_size: 5 << 20,
        ..s3_config_for_endpoint(moto_endpoint())
    }
}

/// A fresh, uniquely named bucket on moto. Tests never share a bucket, so they run in
/// parallel without resetting the server.
pub async fn moto_bucket(name_hint: &str) -> (aws_sdk_s3::Client, String) {
    let client = moto_s3_config().build_client().await;
    let hint: String = name_hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(30)
        .collect();
    let bucket = format!(
        "{hint}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|error| panic!("cannot create bucket {bucket} on moto: {error:?}"));
    (client, bucket)
}

/// Storage on a fresh moto bucket, under `prefix`.
pub async fn moto_storage(name_hint: &str, prefix: &str) -> S3Storage {
    let (client, bucket) = moto_bucket(name_hint).await;
    S3Storage::new(client, &moto_s3_config(), &bucket, prefix)
}
