//! The indexer Lambda: SQS FIFO batches in, `batchItemFailures` out. Settings are read and
//! validated once at cold start (`hydrant_ingest::settings`); every invocation is one
//! [`hydrant_lambda::indexer::handle`].

use std::sync::Arc;

use hydrant_ingest::settings::IndexerSettings;
use hydrant_storage::StorageResolver;
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hydrant_lambda::init_logging(
        "warn,hydrant_lambda=info,hydrant_ingest=info,hydrant_metastore=info,hydrant_storage=info",
    );
    let started = async {
        let settings = IndexerSettings::from_env()?;
        hydrant_lambda::indexer::start(&settings, StorageResolver::from_env()?).await
    };
    let runtime = match started.await {
        Ok(runtime) => Arc::new(runtime),
        Err(error) => {
            // One line a person can act on; the init fails and nothing is retried in a loop.
            eprintln!("hydrant-indexer cannot start: {error}");
            return Err(error.into());
        }
    };
    lambda_runtime::run(service_fn(move |event| {
        let runtime = runtime.clone();
        async move { hydrant_lambda::indexer::handle(&runtime, event).await }
    }))
    .await
}
