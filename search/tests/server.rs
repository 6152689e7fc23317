//! The local HTTP server on the wire: raw requests, as curl and other clients send them.

use std::sync::Arc;

use hydrant_metastore::Metastore;
use hydrant_search::router::Router;
use hydrant_search::server::ServerOptions;
use hydrant_search::{SearchService, SearcherConfig};
use hydrant_storage::testing::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start_server() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    start_server_with(ServerOptions::default()).await
}

async fn start_server_with(
    options: ServerOptions,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
    let config = hydrant_index::config::IndexConfig::from_yaml(
        "index_id: things\ndoc_mapping:\n  field_mappings:\n    - {name: n, type: u64}\n",
    )
    .unwrap();
    metastore.create_index(config).await.unwrap();
    let service = Arc::new(Router::new(Arc::new(SearchService::new(
        metastore,
        SearcherConfig::default(),
    ))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hydrant_search::server::serve_with(
        listener,
        service,
        options,
        async {
            let _ = stopped.await;
        },
    ));
    (address, stop)
}

async fn exchange(address: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn unencoded_operators_in_the_query_string_are_accepted() {
    let (address, _stop) = start_server().await;
    let response = exchange(
        address,
        b"GET /api/v1/things/search?query=n:>5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"num_hits\":0"), "{response}");
}

#[tokio::test]
async fn keep_alive_bodies_and_errors() {
    let (address, _stop) = start_server().await;
    let body = r#"{"query": "n:1"}"#;
    let request = format!(
        "POST /api/v1/things/search HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}\
         POST /api/v1/things/search HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len(),
        body.len()
    );
    let response = exchange(address, request.as_bytes()).await;
    assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 2, "{response}");
    let response = exchange(
        address,
        b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let response = exchange(
        address,
        b"POST /api/v1/things/search HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let response = exchange(address, b"garbage\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
}

#[tokio::test]
async fn an_api_key_is_required_when_configured() {
    let (address, _stop) = start_server_with(ServerOptions {
        api_key: Some("s3cret-key".to_string()),
    })
    .await;
    for key_header in ["", "x-api-key: wrong-key\r\n", "x-api-key: s3cret-ke\r\n"] {
        let request = format!(
            "GET /api/v1/things/search?query=* HTTP/1.1\r\n{key_header}Connection: close\r\n\r\n"
        );
        let response = exchange(address, request.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 403 Forbidden"), "{response}");
        assert!(
            response.contains(r#"{"message":"Forbidden"}"#),
            "{response}"
        );
    }
    let response = exchange(
        address,
        b"GET /api/v1/things/search?query=* HTTP/1.1\r\nX-Api-Key: s3cret-key\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

/// Sends `raw` while reading the answer, as a client that does not wait would; the server may
/// close the connection before `raw` is all sent. Returns what came back.
async fn hostile_exchange(address: std::net::SocketAddr, raw: Vec<u8>) -> String {
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(&raw).await;
        let _ = writer.shutdown().await;
    });
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reader.read_to_end(&mut response),
    )
    .await;
    sending.abort();
    String::from_utf8_lossy(&response).into_owned()
}

async fn still_answers(address: std::net::SocketAddr) {
    let response = exchange(
        address,
        b"GET /health HTTP/1.1\r\nx-api-key: k3y\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

/// Each hostile request gets a 4xx, and the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_and_the_server_keeps_answering() {
    let (address, _stop) = start_server_with(ServerOptions {
        api_key: Some("k3y".to_string()),
    })
    .await;
    let key = "x-api-key: k3y\r\n";
    let nested = format!("{}a{}", "(".repeat(20_000), ")".repeat(20_000));
    let deep_body = format!(r#"{{"query": "{nested}"}}"#);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // A head that never ends: refused once it passes the limit, not buffered.
        (vec![b'A'; 4 << 20], "431"),
        (format!("GET /health HTTP/1.1\r\n{}", "x-filler: 1\r\n".repeat(5_000)).into_bytes(), "431"),
        (format!("POST /api/v1/things/search HTTP/1.1\r\n{key}Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n").into_bytes(), "400"),
        (format!("POST /api/v1/things/search HTTP/1.1\r\n{key}Content-Length: 5\r\nContent-Length: 6\r\n\r\n{{}}").into_bytes(), "400"),
        (format!("POST /api/v1/things/search HTTP/1.1\r\n{key}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes(), "400"),
        (format!("GET /health HTTP/1.1\r\n{key}{key}\r\n").into_bytes(), "400"),
        (format!("POST /api/v1/things/search HTTP/1.1\r\n{key}Content-Length: {}\r\n\r\n{deep_body}", deep_body.len()).into_bytes(), "400"),
        (format!("GET /api/v1/things/search?query={} HTTP/1.1\r\n{key}Connection: close\r\n\r\n", "NOT%20".repeat(2_000)).into_bytes(), "400"),
        (format!("POST /api/v1/things/search HTTP/1.1\r\n{key}Content-Length: 99999999999999999999\r\n\r\n").into_bytes(), "413"),
        (format!("POST /api/v1/things/search HTTP/1.1\r\n{key}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n", 8 << 20).into_bytes(), "413"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(), "400"),
    ];
    for (raw, status) in cases {
        let excerpt = String::from_utf8_lossy(&raw[..raw.len().min(80)]).into_owned();
        let response = hostile_exchange(address, raw).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{excerpt}: {}",
            &response[..response.len().min(200)]
        );
        still_answers(address).await;
    }
}

#[tokio::test]
async fn an_empty_api_key_is_refused_at_start_up() {
    let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
    let service = Arc::new(Router::new(Arc::new(SearchService::new(
        metastore,
        SearcherConfig::default(),
    ))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = hydrant_search::server::serve_with(
        listener,
        service,
        ServerOptions {
            api_key: Some(String::new()),
        },
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("API key is empty"), "{error}");
}
