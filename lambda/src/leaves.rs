//! Leaf searches in other invocations of the searcher: the [`LeafInvoker`] a root uses when a
//! search plans more splits than one invocation should read (`HYDRANT_SPLITS_PER_LEAF`).
//!
//! A leaf invocation's payload is `{"leaf_search": <LeafSearchRequest>}`; its answer is
//! `{"leaf_search_response": <LeafSearchResponse>}`, or `{"status", "message"}` when the leaf
//! refuses it. The Lambda client is built on the first fan-out, so a searcher that never fans
//! out never loads it.

use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use futures::future::BoxFuture;
use hydrant_search::SearchError;
use hydrant_search::searcher::fan_out::LeafInvoker;
use hydrant_search::searcher::{LeafSearchRequest, LeafSearchResponse};
use hydrant_storage::aws_env::{SdkSettings, load_sdk_config};
use serde_json::Value;
use tokio::sync::OnceCell;

/// The key of a leaf invocation's payload.
pub const LEAF_SEARCH: &str = "leaf_search";
/// The key of its answer.
pub const LEAF_SEARCH_RESPONSE: &str = "leaf_search_response";

/// How long a leaf invocation may take before the root searches its splits itself: under
/// API Gateway's 29 s, with room for the root's own search of them.
const LEAF_TIMEOUT: Duration = Duration::from_secs(12);

/// Invokes a Lambda function (the searcher itself) for each leaf search.
#[derive(Debug)]
pub struct LambdaLeafInvoker {
    function_name: String,
    client: OnceCell<Client>,
}

impl LambdaLeafInvoker {
    pub fn new(function_name: impl Into<String>) -> Self {
        LambdaLeafInvoker {
            function_name: function_name.into(),
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let config = load_sdk_config(SdkSettings::for_service("LAMBDA")).await;
                let config = aws_sdk_lambda::config::Builder::from(&config)
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(3))
                            .operation_timeout(LEAF_TIMEOUT)
                            .build(),
                    )
                    // A throttled leaf is searched by the root at once rather than retried.
                    .retry_config(RetryConfig::standard().with_max_attempts(1))
                    .build();
                Client::from_conf(config)
            })
            .await
    }

    async fn invoke_leaf(
        &self,
        request: &LeafSearchRequest,
    ) -> Result<LeafSearchResponse, SearchError> {
        let failed = |message: String| SearchError::LeafInvocation(message);
        let payload = serde_json::to_vec(&serde_json::json!({ LEAF_SEARCH: request }))
            .map_err(|error| failed(format!("cannot encode the request: {error}")))?;
        let output = self
            .client()
            .await
            .invoke()
            .function_name(&self.function_name)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|error| failed(format!("{}", DisplayErrorContext(error))))?;
        let body = output.payload().map(Blob::as_ref).unwrap_or_default();
        if let Some(function_error) = output.function_error() {
            let body = String::from_utf8_lossy(&body[..body.len().min(500)]);
            return Err(failed(format!("function error {function_error}: {body}")));
        }
        let mut answer: Value = serde_json::from_slice(body)
            .map_err(|error| failed(format!("the answer is not JSON: {error}")))?;
        match answer.get_mut(LEAF_SEARCH_RESPONSE).map(Value::take) {
            Some(response) => serde_json::from_value(response)
                .map_err(|error| failed(format!("the answer does not parse: {error}"))),
            None => Err(failed(format!(
                "the leaf refused the request: {}",
                answer.get("message").unwrap_or(&answer)
            ))),
        }
    }
}

impl LeafInvoker for LambdaLeafInvoker {
    fn invoke<'a>(
        &'a self,
        request: &'a LeafSearchRequest,
    ) -> BoxFuture<'a, Result<LeafSearchResponse, SearchError>> {
        Box::pin(self.invoke_leaf(request))
    }
}
