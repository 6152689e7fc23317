//! The search tests' fixture: the shared fruit-sales index (400 records in 4 splits, indexed
//! by the real indexer on local disk, `hydrant_ingest::testing`) behind a searcher.

#![allow(dead_code)]

use hydrant_ingest::testing::LocalIndex;
use hydrant_search::http::{HttpRequest, HttpResponse};
use hydrant_search::router;
use hydrant_search::{SearchService, SearcherConfig};
use hydrant_storage::SharedStorage;

pub struct Fixture {
    pub local: LocalIndex,
    pub service: SearchService,
    pub index_storage: SharedStorage,
}

/// 400 records in 4 objects of 100, one split each.
pub async fn fixture() -> Fixture {
    let local = LocalIndex::fruit_sales().await;
    Fixture {
        service: SearchService::new(local.metastore.clone(), SearcherConfig::default()),
        index_storage: local.index_storage.clone(),
        local,
    }
}

/// One request through the REST core, as a transport would send it.
pub async fn request(
    service: &SearchService,
    method: &str,
    path: &str,
    query_string: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    router::handle(
        service,
        None,
        HttpRequest::new(method, path, query_string, body),
    )
    .await
}
