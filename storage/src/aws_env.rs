//! The AWS SDK's configuration, read from the environment: one place for every client Hydrant
//! builds (S3 here, SQS in the indexer's poller, Lambda for the searcher's leaves).
//!
//! With the `sdk-default-chain` feature (the `hydrant` CLI and the tools people run), the SDK's
//! default chain: profiles, SSO, web identity, instance metadata. Without it (the Lambda
//! packages), only what a Lambda function's environment gives: the region, credentials in
//! environment variables or from a container credentials endpoint (SnapStart, ECS), and
//! endpoint URLs. The default chain's providers and the STS client its web identity and role
//! providers need are code downloaded on every cold start and never run there: leaving them
//! out takes 183 KB off the searcher's zip and 168 KB off the indexer's (BENCHMARKS.md).

use std::sync::OnceLock;

use aws_config::SdkConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The HTTP client of every AWS client: the SDK's own (hyper, rustls, the system's
/// certificates), with rustls over ring rather than aws-lc, the SDK's default, whose
/// cryptography adds about 100 KB to each Lambda package (BENCHMARKS.md). Built once and
/// shared, so every client shares its connection pool.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
        .clone()
}

/// What a client sets beside the environment.
#[derive(Clone, Debug, Default)]
pub struct SdkSettings {
    /// The service's name in `AWS_ENDPOINT_URL_{SERVICE}` (`S3`, `SQS`, `LAMBDA`).
    pub service: &'static str,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub credentials: Option<Credentials>,
    pub timeouts: Option<TimeoutConfig>,
}

impl SdkSettings {
    pub fn for_service(service: &'static str) -> Self {
        SdkSettings {
            service,
            ..SdkSettings::default()
        }
    }
}

/// The SDK configuration of `settings` over the environment's.
#[cfg(feature = "sdk-default-chain")]
pub async fn load_sdk_config(settings: SdkSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(endpoint) = settings.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = settings.region {
        loader = loader.region(Region::new(region));
    }
    if let Some(credentials) = settings.credentials {
        loader = loader.credentials_provider(credentials);
    }
    if let Some(timeouts) = settings.timeouts {
        loader = loader.timeout_config(timeouts);
    }
    loader.load().await
}

/// The SDK configuration of `settings` over what a Lambda function's environment gives.
#[cfg(not(feature = "sdk-default-chain"))]
pub async fn load_sdk_config(settings: SdkSettings) -> SdkConfig {
    use aws_config::ecs::EcsCredentialsProvider;
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::meta::credentials::CredentialsProviderChain;
    use aws_config::provider_config::ProviderConfig;
    use aws_sdk_s3::config::SharedCredentialsProvider;

    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let region = settings
        .region
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"));
    let endpoint = settings.endpoint.or_else(|| {
        env(&format!("AWS_ENDPOINT_URL_{}", settings.service)).or_else(|| env("AWS_ENDPOINT_URL"))
    });
    let credentials = match settings.credentials {
        Some(credentials) => SharedCredentialsProvider::new(credentials),
        None => SharedCredentialsProvider::new(
            CredentialsProviderChain::first_try(
                "Environment",
                EnvironmentVariableCredentialsProvider::new(),
            )
            .or_else(
                "EcsContainer",
                EcsCredentialsProvider::builder()
                    .configure(&ProviderConfig::without_region().with_http_client(http_client()))
                    .build(),
            ),
        ),
    };
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client())
        .credentials_provider(credentials)
        .region(region.map(Region::new));
    builder.set_endpoint_url(endpoint);
    if let Some(timeouts) = settings.timeouts {
        builder = builder.timeout_config(timeouts);
    }
    builder.build()
}
