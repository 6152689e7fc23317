//! `loadtest stream --sigv4`'s requests carry a SigV4 signature that holds for what arrives on
//! the wire, checked the way API Gateway checks it: from the received request alone, with a
//! signature computed here from the AWS specification, not with the signer's own code.

use std::collections::BTreeMap;

use aws_credential_types::Credentials;
use hmac::{KeyInit, Mac};
use hydrant_loadtest::http_search::{HttpSearchClient, SearchAuth};
use hydrant_loadtest::sigv4::SigV4Signer;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// One request as it arrived: method, target, headers (lower-case names) and body.
struct Received {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Accepts one connection, reads one request, answers `{}`.
async fn receive_one(listener: TcpListener) -> Received {
    let (stream, _) = listener.accept().await.unwrap();
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap().to_string();
    let target = parts.next().unwrap().to_string();
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await.unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers
        .get("content-length")
        .map_or(0, |length| length.parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    stream
        .get_mut()
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
        .await
        .unwrap();
    Received {
        method,
        target,
        headers,
        body,
    }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The signature the request's `Authorization` header should carry, computed from the request
/// as received (SigV4: canonical request, string to sign, derived key). Our paths need no
/// escaping and the queries are empty, so both are taken as they arrive.
fn expected_signature(request: &Received, body: &[u8]) -> String {
    let authorization = &request.headers["authorization"];
    let credential = authorization
        .split("Credential=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let scope = credential.split_once('/').unwrap().1;
    let mut scope_parts = scope.split('/');
    let (date, region, service) = (
        scope_parts.next().unwrap(),
        scope_parts.next().unwrap(),
        scope_parts.next().unwrap(),
    );
    let signed_headers = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| format!("{name}:{}\n", request.headers[name]))
        .collect();
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let canonical_request = format!(
        "{}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        sha256_hex(body)
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.headers["x-amz-date"],
        sha256_hex(canonical_request.as_bytes())
    );
    let key = [date, region, service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{SECRET}").into_bytes(), |key, part| {
            hmac(&key, part)
        });
    hex::encode(hmac(&key, &string_to_sign))
}

fn signature_sent(request: &Received) -> String {
    request.headers["authorization"]
        .rsplit("Signature=")
        .next()
        .unwrap()
        .to_string()
}

async fn send_one(auth: SearchAuth, search: bool) -> Received {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(receive_one(listener));
    let client = HttpSearchClient::new(&url, auth).unwrap();
    // The answer (`{}`) is no search response; only what was sent matters here.
    if search {
        let _ = client
            .search("web-logs", &json!({"query": "status:500", "max_hits": 10}))
            .await;
    } else {
        let _ = client.index_summary("web-logs").await;
    }
    server.await.unwrap()
}

#[tokio::test]
async fn a_signed_search_verifies_from_the_request_as_received() {
    let signer = SigV4Signer::with_credentials(
        Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test"),
        "eu-west-1",
        "execute-api",
    );
    let request = send_one(SearchAuth::SigV4(signer), true).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/api/v1/web-logs/search");
    let authorization = &request.headers["authorization"];
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{authorization}"
    );
    assert!(
        authorization.contains("/eu-west-1/execute-api/aws4_request"),
        "{authorization}"
    );
    // The headers a gateway could see altered are all under the signature.
    let signed_headers: Vec<&str> = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    for header in ["host", "x-amz-date", "content-type", "accept"] {
        assert!(
            signed_headers.contains(&header),
            "{header} unsigned: {authorization}"
        );
    }
    assert!(!request.headers.contains_key("x-api-key"));
    assert_eq!(
        signature_sent(&request),
        expected_signature(&request, &request.body)
    );
    // The check is not vacuous: another body gives another signature.
    assert_ne!(
        signature_sent(&request),
        expected_signature(&request, b"{\"query\": \"*\"}")
    );
}

#[tokio::test]
async fn temporary_credentials_send_and_sign_their_session_token() {
    let signer = SigV4Signer::with_credentials(
        Credentials::new(
            "ASIAEXAMPLE",
            SECRET,
            Some("the-session-token".to_string()),
            None,
            "test",
        ),
        "us-east-2",
        "lambda",
    );
    let request = send_one(SearchAuth::SigV4(signer), false).await;
    assert_eq!(request.method, "GET");
    assert_eq!(request.headers["x-amz-security-token"], "the-session-token");
    assert!(
        request.headers["authorization"].contains("/us-east-2/lambda/aws4_request"),
        "{}",
        request.headers["authorization"]
    );
    assert_eq!(
        signature_sent(&request),
        expected_signature(&request, &request.body)
    );
}

#[tokio::test]
async fn an_api_key_is_sent_unsigned() {
    let request = send_one(SearchAuth::ApiKey("the-stack-key".to_string()), false).await;
    assert_eq!(request.headers["x-api-key"], "the-stack-key");
    assert!(!request.headers.contains_key("authorization"));
}
