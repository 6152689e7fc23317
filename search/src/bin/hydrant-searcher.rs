//! The searcher Lambda: API Gateway (REST and HTTP APIs), Function URLs and direct invokes.
//!
//! A thin adapter over [`hydrant_search::lambda::handle_event`]. Settings are read once at
//! cold start; the caches live as long as the execution environment, so warm invocations
//! reuse metastore documents, split footers and fetched byte ranges.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `HYDRANT_INDEX_URI` | index storage (`s3://bucket/prefix`) | required |
//! | `HYDRANT_CACHE_BYTES` | memory for fetched split bytes | 256 MB, or a quarter of the function's memory |
//! | `HYDRANT_SPLIT_CONCURRENCY` | splits searched at once | 100 |
//! | `HYDRANT_SPLIT_CACHE_BYTES` | disk for whole splits in `/tmp` (0: off) | 0 |
//! | `HYDRANT_SPLIT_CACHE_DIR` | where whole splits are kept | `/tmp/hydrant-splits` |

use std::sync::Arc;

use hydrant_metastore::Metastore;
use hydrant_metastore::storage::{StorageResolver, StorageUri};
use hydrant_search::split_cache::SplitCache;
use hydrant_search::{SearchService, SearcherConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,hydrant_search=info")),
        )
        .with_ansi(false)
        .without_time()
        .init();
    let service = match start().await {
        Ok(service) => Arc::new(service),
        Err(message) => {
            eprintln!("hydrant-searcher cannot start: {message}");
            return Err(message.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let service = service.clone();
        async move {
            Ok::<Value, Error>(hydrant_search::lambda::handle_event(&service, event.payload).await)
        }
    }))
    .await
}

async fn start() -> Result<SearchService, String> {
    let index_uri: StorageUri = std::env::var("HYDRANT_INDEX_URI")
        .map_err(|_| {
            "HYDRANT_INDEX_URI is not set: it names the index storage, e.g. s3://my-index-bucket"
                .to_string()
        })?
        .parse()
        .map_err(|error| format!("HYDRANT_INDEX_URI: {error}"))?;
    let mut config = SearcherConfig::default();
    // Lambda tells the function's memory; keep a quarter of it for fetched split bytes.
    if let Some(memory_mb) = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|mb| mb.parse::<u64>().ok())
    {
        config.chunk_cache_bytes = (memory_mb << 20) / 4;
    }
    if let Ok(bytes) = std::env::var("HYDRANT_CACHE_BYTES") {
        config.chunk_cache_bytes = bytes
            .parse()
            .map_err(|_| format!("HYDRANT_CACHE_BYTES must be a number of bytes, got `{bytes}`"))?;
    }
    if let Ok(count) = std::env::var("HYDRANT_SPLIT_CONCURRENCY") {
        config.split_concurrency =
            count
                .parse()
                .ok()
                .filter(|count| *count > 0)
                .ok_or_else(|| {
                    format!("HYDRANT_SPLIT_CONCURRENCY must be a positive number, got `{count}`")
                })?;
    }
    let storage = StorageResolver::from_env()
        .map_err(|error| error.to_string())?
        .resolve(&index_uri)
        .await
        .map_err(|error| format!("cannot open {index_uri}: {error}"))?;
    let mut service = SearchService::new(Metastore::new(storage), config);
    let split_cache_bytes: u64 = match std::env::var("HYDRANT_SPLIT_CACHE_BYTES") {
        Err(_) => 0,
        Ok(bytes) => bytes.parse().map_err(|_| {
            format!("HYDRANT_SPLIT_CACHE_BYTES must be a number of bytes, got `{bytes}`")
        })?,
    };
    if split_cache_bytes > 0 {
        let dir = std::env::var("HYDRANT_SPLIT_CACHE_DIR")
            .unwrap_or_else(|_| "/tmp/hydrant-splits".to_string());
        let cache = SplitCache::open(&dir, split_cache_bytes)
            .map_err(|error| format!("cannot use {dir} for the split cache: {error}"))?;
        service = service.with_split_cache(cache);
    }
    Ok(service)
}
