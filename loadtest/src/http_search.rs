//! Queries over HTTP: the Quickwit-compatible REST API of a deployed stack (API Gateway with its
//! API key in `x-api-key`, or signed with SigV4 in IAM mode) or of `hydrant serve`.
//!
//! One pooled HTTP/1.1 client over rustls with the system's roots: the TLS stack the AWS SDK
//! already brings, so talking to `https://….execute-api…` costs no second one.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hydrant_search::SearchResponse;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::error::{LoadtestError, Result};
use crate::sigv4::SigV4Signer;

/// A request that takes longer than this failed (API Gateway itself gives up at 29 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How requests show they may search: the stack's three `ApiAuth` modes.
#[derive(Clone, Debug, Default)]
pub enum SearchAuth {
    /// Nothing (`hydrant serve` without `--api-key`).
    #[default]
    None,
    /// `x-api-key` on every request (`ApiAuth: API_KEY`, `hydrant serve --api-key`).
    ApiKey(String),
    /// Every request signed with SigV4 (`ApiAuth: IAM`).
    SigV4(SigV4Signer),
}

/// A client of one search API.
#[derive(Clone, Debug)]
pub struct HttpSearchClient {
    base_url: String,
    auth: SearchAuth,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpSearchClient {
    /// A client of the API under `base_url` (the stack's `SearchUrl` output, or
    /// `http://127.0.0.1:7280`), authorizing every request as `auth` says.
    pub fn new(base_url: &str, auth: SearchAuth) -> Result<Self> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(LoadtestError::Http(format!(
                "the search URL must start with http:// or https://, got `{base_url}`"
            )));
        }
        // Small requests and responses: send them now rather than wait for ACKs (Nagle).
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|error| LoadtestError::Http(format!("no TLS root certificates: {error}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(HttpSearchClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            auth,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// `POST /api/v1/{index_id}/search` with `request` as the body.
    pub async fn search(&self, index_id: &str, request: &Value) -> Result<SearchResponse> {
        let body = self
            .call(
                http::Method::POST,
                &format!("/api/v1/{index_id}/search"),
                Some(serde_json::to_vec(request)?),
            )
            .await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// `GET /api/v1/indexes/{index_id}`: splits, documents and sizes of the index.
    pub async fn index_summary(&self, index_id: &str) -> Result<Value> {
        let body = self
            .call(
                http::Method::GET,
                &format!("/api/v1/indexes/{index_id}"),
                None,
            )
            .await?;
        Ok(serde_json::from_slice(&body)?)
    }

    async fn call(&self, method: http::Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes> {
        let url = format!("{}{path}", self.base_url);
        let mut request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let SearchAuth::ApiKey(api_key) = &self.auth {
            request = request.header("x-api-key", api_key);
        }
        let body = Bytes::from(body.unwrap_or_default());
        let mut request = request
            .body(Full::new(body.clone()))
            .map_err(|error| LoadtestError::Http(format!("{url}: {error}")))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, async {
            // Last, and under the timeout: every header set above is signed, and fetching
            // credentials (a profile's SSO, an instance role) is a network call too.
            if let SearchAuth::SigV4(signer) = &self.auth {
                signer.sign(&mut request, &body).await?;
            }
            let response = self.client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
        })
        .await;
        let (status, body) = match response {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(LoadtestError::Http(format!("{url}: {error}"))),
            Err(_) => {
                return Err(LoadtestError::Http(format!(
                    "{url}: no answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                )));
            }
        };
        if !status.is_success() {
            let excerpt: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(LoadtestError::Http(format!("{url}: {status}: {excerpt}")));
        }
        Ok(body)
    }
}
