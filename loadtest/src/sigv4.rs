//! AWS Signature Version 4 on search requests, for a stack deployed with `ApiAuth: IAM`: API
//! Gateway (service `execute-api`) or the searcher's Function URL (service `lambda`).
//!
//! Credentials come from the default AWS chain (environment, profile, SSO, instance role), as
//! the AWS CLI and `curl --aws-sigv4` find them; the signing itself is `aws-sigv4`, the crate
//! the SDK signs with, so only the choice of service, region and payload is ours.
//!
//! ```
//! use hydrant_loadtest::sigv4::service_and_region;
//!
//! let url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod";
//! assert_eq!(service_and_region(url), ("execute-api", Some("eu-west-1".to_string())));
//! let url = "https://xyz.lambda-url.us-east-2.on.aws/";
//! assert_eq!(service_and_region(url), ("lambda", Some("us-east-2".to_string())));
//! ```

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::error::{LoadtestError, Result};

/// Signs requests to one IAM-authorized search API.
#[derive(Clone, Debug)]
pub struct SigV4Signer {
    credentials: SharedCredentialsProvider,
    region: String,
    service: &'static str,
}

impl SigV4Signer {
    /// A signer for the API under `url`, with credentials from the default AWS chain. The
    /// region is `region` when given, else the one in the URL's host, else the AWS
    /// configuration's (`AWS_REGION`, the profile).
    pub async fn from_environment(url: &str, region: Option<String>) -> Result<Self> {
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let (service, region_in_url) = service_and_region(url);
        let region = region
            .or(region_in_url)
            .or_else(|| sdk_config.region().map(ToString::to_string))
            .ok_or_else(|| {
                LoadtestError::Http(format!(
                    "{url}: no region to sign for: pass --sigv4-region or set AWS_REGION"
                ))
            })?;
        let credentials = sdk_config.credentials_provider().ok_or_else(|| {
            LoadtestError::Http("no AWS credentials to sign search requests with".to_string())
        })?;
        Ok(SigV4Signer {
            credentials,
            region,
            service,
        })
    }

    /// A signer with fixed credentials, for tests and for callers that hold their own.
    pub fn with_credentials(credentials: Credentials, region: &str, service: &'static str) -> Self {
        SigV4Signer {
            credentials: SharedCredentialsProvider::new(credentials),
            region: region.to_string(),
            service,
        }
    }

    /// Adds `Authorization`, `X-Amz-Date` (and `X-Amz-Security-Token` for temporary
    /// credentials) to `request`, whose body is `body`. Call it last: headers added after it
    /// are not signed, and a changed signed header invalidates the signature.
    pub async fn sign<B>(&self, request: &mut http::Request<B>, body: &[u8]) -> Result<()> {
        // The provider caches and refreshes temporary credentials itself.
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|error| LoadtestError::Http(format!("no AWS credentials: {error}")))?;
        let identity: Identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| LoadtestError::Http(format!("SigV4 parameters: {error}")))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri,
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|error| LoadtestError::Http(format!("cannot sign {}: {error}", request.uri())))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|error| {
                LoadtestError::Http(format!("cannot sign {}: {error}", request.uri()))
            })?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The service a search URL's requests are signed for, and the region its host names:
/// `execute-api` for API Gateway, `lambda` for a Function URL (`….lambda-url.{region}.on.aws`).
/// Another host (a custom domain) is taken to be API Gateway, with no region.
pub fn service_and_region(url: &str) -> (&'static str, Option<String>) {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':', '?'])
        .next()
        .unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let region_after = |marker: &str| {
        labels
            .iter()
            .position(|label| *label == marker)
            .and_then(|at| labels.get(at + 1))
            .filter(|region| !region.is_empty())
            .map(|region| (*region).to_string())
    };
    match region_after("lambda-url") {
        Some(region) => ("lambda", Some(region)),
        None => ("execute-api", region_after("execute-api")),
    }
}
