//! S3 requests never wait without bound: against an endpoint that accepts connections and never
//! answers, or one that stops sending in the middle of a download, requests fail within their
//! timeouts with a message naming the endpoint. The endpoints here are loopback sockets that
//! misbehave on purpose (the failures a proxy dropping responses produces).

use std::time::Duration;

use futures::StreamExt;
use hydrant_storage::{S3Config, S3Storage, S3Timeouts, Storage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Far above the timeouts under test: only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

fn short_timeouts() -> S3Timeouts {
    S3Timeouts {
        connect: Duration::from_secs(1),
        first_byte: Duration::from_secs(1),
        operation: Duration::from_secs(4),
        stalled_stream: Duration::from_secs(1),
        ..S3Timeouts::default()
    }
}

async fn storage_on(endpoint: &str) -> S3Storage {
    let config = S3Config {
        timeouts: short_timeouts(),
        ..hydrant_storage::testing::s3_config_for_endpoint(endpoint)
    };
    S3Storage::new(config.build_client().await, &config, "bucket", "")
}

/// Accepts connections, reads nothing, answers nothing.
async fn silent_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{address}")
}

/// Answers every request with the head of a large object and a little of it, then stalls.
async fn stalling_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let response = "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\nETag: \"abc\"\r\n\
                                Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n";
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.write_all(&vec![b'{'; 64 << 10]).await;
                tokio::time::sleep(HANG * 2).await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn a_silent_endpoint_fails_fast_and_is_named() {
    let endpoint = silent_endpoint().await;
    let storage = storage_on(&endpoint).await;
    let (get, put, list) = tokio::join!(
        tokio::time::timeout(HANG, storage.get("metastore/logs.json")),
        tokio::time::timeout(
            HANG,
            storage.put("x", "y".into(), hydrant_storage::PutMode::Overwrite)
        ),
        tokio::time::timeout(HANG, storage.list("indexes/")),
    );
    for outcome in [
        get.map(|r| r.map(drop)),
        put.map(|r| r.map(drop)),
        list.map(|r| r.map(drop)),
    ] {
        let error = outcome
            .expect("the request returned before the hang bound")
            .unwrap_err();
        let message = error.to_string();
        eprintln!("{message}");
        assert!(message.contains(&endpoint), "{message}");
        assert!(
            message.contains("did not answer") || message.contains("no answer"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_stalled_download_fails_instead_of_waiting() {
    let endpoint = stalling_endpoint().await;
    let storage = storage_on(&endpoint).await;
    let read_all = async {
        let mut stream = storage.get_stream("objects/big").await?;
        let mut received = 0usize;
        while let Some(chunk) = stream.chunks.next().await {
            received += chunk?.len();
        }
        Ok::<_, hydrant_storage::StorageError>(received)
    };
    let outcome = tokio::time::timeout(HANG, read_all).await;
    let error = outcome.expect("the stall was detected").unwrap_err();
    assert!(error.to_string().contains("cannot read body"), "{error}");
}

#[test]
fn timeouts_are_configurable_and_checked() {
    let timeouts = S3Timeouts::from_lookup(|name| match name {
        "HYDRANT_S3_FIRST_BYTE_TIMEOUT" => Some("2s".to_string()),
        "HYDRANT_S3_STALL_TIMEOUT" => Some("30 seconds".to_string()),
        _ => None,
    })
    .unwrap();
    assert_eq!(timeouts.first_byte, Duration::from_secs(2));
    assert_eq!(timeouts.stalled_stream, Duration::from_secs(30));
    assert_eq!(timeouts.connect, S3Timeouts::default().connect);
    for bad in ["0s", "2 days", "soon"] {
        let error = S3Timeouts::from_lookup(|name| {
            (name == "HYDRANT_S3_CONNECT_TIMEOUT").then(|| bad.to_string())
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("HYDRANT_S3_CONNECT_TIMEOUT"),
            "{error}"
        );
    }
}
