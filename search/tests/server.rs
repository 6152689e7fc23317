//! The local HTTP server on the wire: raw requests, as curl and other clients send them.

use std::sync::Arc;

use hydrant_metastore::Metastore;
use hydrant_metastore::storage::MemoryStorage;
use hydrant_search::server::ServerOptions;
use hydrant_search::{SearchService, SearcherConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start_server() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    start_server_with(ServerOptions::default()).await
}

async fn start_server_with(
    options: ServerOptions,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let metastore = Metastore::new(Arc::new(MemoryStorage::default()));
    let config = hydrant_metastore::index_config::IndexConfig::from_yaml(
        "index_id: things\ndoc_mapping:\n  field_mappings:\n    - {name: n, type: u64}\n",
    )
    .unwrap();
    metastore.create_index(config).await.unwrap();
    let service = Arc::new(SearchService::new(metastore, SearcherConfig::default()));
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
