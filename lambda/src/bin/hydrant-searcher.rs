//! The searcher Lambda: API Gateway (REST and HTTP APIs), Function URLs and direct invokes.
//! Settings are read once at cold start (`hydrant_search::settings`); the caches live as long
//! as the execution environment, so warm invocations reuse metastore documents, split footers
//! and fetched byte ranges. Every invocation is one [`hydrant_lambda::searcher::handle`].

use std::sync::Arc;

use hydrant_search::settings::SearcherSettings;
use hydrant_storage::StorageResolver;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hydrant_lambda::init_logging("warn,hydrant_lambda=info,hydrant_search=info");
    let started = async {
        let settings = SearcherSettings::from_env()?;
        hydrant_lambda::searcher::start(&settings, StorageResolver::from_env()?).await
    };
    let searcher = match started.await {
        Ok(searcher) => Arc::new(searcher),
        Err(error) => {
            eprintln!("hydrant-searcher cannot start: {error}");
            return Err(error.into());
        }
    };
    lambda_runtime::run(service_fn(move |event| {
        let searcher = searcher.clone();
        async move { hydrant_lambda::searcher::handle(&searcher, event).await }
    }))
    .await
}
