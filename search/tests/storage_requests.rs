//! How many storage requests a search costs, counted on an instrumented storage: one GET
//! opens a cold split, a cold term query needs at most four, a warm repeat none.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use hydrant_index::config::IndexConfig;
use hydrant_index::split_bundle::SplitFooter;
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::paths;
use hydrant_metastore::{Metastore, SplitMetadata};
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use hydrant_storage::{
    GetResult, GetStreamResult, LocalStorage, ObjectMeta, ObjectVersion, PutMode, PutPayload,
    PutResult, SharedStorage, Storage, StorageUri,
};

/// Counts read requests on split files, and every read of any object (listings included).
#[derive(Debug)]
struct CountingStorage {
    inner: SharedStorage,
    split_reads: AtomicU64,
    all_reads: AtomicU64,
}

impl CountingStorage {
    fn count(&self, path: &str) {
        self.all_reads.fetch_add(1, Ordering::SeqCst);
        if path.ends_with(".split") {
            self.split_reads.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn take_all(&self) -> u64 {
        self.all_reads.swap(0, Ordering::SeqCst)
    }

    fn take(&self) -> u64 {
        self.split_reads.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl Storage for CountingStorage {
    async fn get(&self, path: &str) -> hydrant_storage::StorageResult<GetResult> {
        self.count(path);
        self.inner.get(path).await
    }
    async fn get_if_modified(
        &self,
        path: &str,
        version: &ObjectVersion,
    ) -> hydrant_storage::StorageResult<Option<GetResult>> {
        self.count(path);
        self.inner.get_if_modified(path, version).await
    }
    async fn get_stream(&self, path: &str) -> hydrant_storage::StorageResult<GetStreamResult> {
        self.count(path);
        self.inner.get_stream(path).await
    }
    async fn get_range(
        &self,
        path: &str,
        range: Range<u64>,
    ) -> hydrant_storage::StorageResult<Bytes> {
        self.count(path);
        self.inner.get_range(path, range).await
    }
    async fn put(
        &self,
        path: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> hydrant_storage::StorageResult<PutResult> {
        self.inner.put(path, payload, mode).await
    }
    async fn delete(&self, path: &str) -> hydrant_storage::StorageResult<()> {
        self.inner.delete(path).await
    }
    async fn list(&self, prefix: &str) -> hydrant_storage::StorageResult<Vec<ObjectMeta>> {
        self.count(prefix);
        self.inner.list(prefix).await
    }
    async fn head(&self, path: &str) -> hydrant_storage::StorageResult<ObjectMeta> {
        self.count(path);
        self.inner.head(path).await
    }
    fn describe(&self, path: &str) -> String {
        self.inner.describe(path)
    }
}

const CONFIG: &str = r#"
index_id: logs
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: service, type: text, tokenizer: raw}
    - {name: status, type: u64, fast: true}
    - {name: message, type: text}
  timestamp_field: ts
"#;

/// One split of 60,000 log lines, large enough that its files span many chunks.
async fn one_split() -> (tempfile::TempDir, Arc<CountingStorage>, SplitMetadata) {
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging = LocalStorage::new(&staging_dir).unwrap();
    let counting = Arc::new(CountingStorage {
        all_reads: AtomicU64::new(0),
        inner: Arc::new(LocalStorage::new(temp_dir.path().join("index")).unwrap()),
        split_reads: AtomicU64::new(0),
    });
    let metastore = Metastore::new(counting.clone());
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let services = ["api", "auth", "billing", "search", "web", "worker"];
    let words = [
        "started", "finished", "request", "timeout", "retry", "user", "cache", "miss", "hit",
        "slow",
    ];
    let body: String = (0..60_000u64)
        .map(|i| {
            format!(
                "{{\"ts\":{},\"service\":\"{}\",\"status\":{},\"message\":\"{} {} {} number {i}\"}}\n",
                1_700_000_000 + i,
                services[(i * 7 % 6) as usize],
                [200, 200, 200, 404, 500][(i % 5) as usize],
                words[(i % 10) as usize],
                words[(i * 3 % 10) as usize],
                words[(i * 7 % 10) as usize],
            )
        })
        .collect();
    staging
        .put("object", body.into_bytes().into(), PutMode::Create)
        .await
        .unwrap();
    let indexer = Indexer::new(
        metastore.clone(),
        StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir)),
    );
    indexer
        .index_objects("logs", &[ObjectRef::new("staging", "object")], None)
        .await
        .unwrap();
    let metadata = metastore.index_metadata("logs").await.unwrap();
    let split = metadata.published_splits().next().unwrap().clone();
    assert!(
        split.split_size_bytes > 1 << 20,
        "the split is {} bytes",
        split.split_size_bytes
    );
    counting.take();
    (temp_dir, counting, split)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_cold_split_is_one_get() {
    let (_temp_dir, counting, split) = one_split().await;
    let path = paths::split_file("logs", &split.split_id);
    SplitFooter::read(counting.as_ref(), &path, Some(split.footer_offsets.clone()))
        .await
        .unwrap();
    assert_eq!(counting.take(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_term_query_needs_at_most_four_gets_and_a_warm_one_none() {
    let (_temp_dir, counting, _split) = one_split().await;
    let service = SearchService::new(Metastore::new(counting.clone()), SearcherConfig::default());
    let mut request = SearchRequest::new("service:billing");
    request.stats = true;
    let cold = service.search("logs", &request).await.unwrap();
    assert_eq!(cold.num_hits, 10_000);
    assert_eq!(cold.hits.len(), 20);
    let cold_gets = counting.take();
    assert!(
        cold_gets <= 4,
        "a cold term query made {cold_gets} split GETs"
    );
    assert_eq!(cold.stats.as_ref().unwrap().reads.storage_gets, cold_gets);

    let warm = service.search("logs", &request).await.unwrap();
    assert_eq!(warm.hits, cold.hits);
    assert_eq!(counting.take(), 0, "a warm repeat made split GETs");

    // Another page of the same query: the answer is new, the bytes are not.
    request.start_offset = 20;
    let next_page = service.search("logs", &request).await.unwrap();
    assert_eq!(next_page.hits.len(), 20);
    assert_eq!(counting.take(), 0, "the next page made split GETs");
}

/// Round trips, not GETs, are what a cold search waits for: the split's footer, then what
/// the query touches (postings, columns) together, then the page's documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_term_query_waits_for_three_round_trips_after_the_metastore() {
    let (_temp_dir, counting, _split) = one_split().await;
    let round_trips = |query: &str, sort_by: Option<&str>| {
        let counting = counting.clone();
        let mut request = SearchRequest::new(query);
        request.stats = true;
        request.sort_by = sort_by.into_iter().map(str::to_string).collect();
        async move {
            let service = SearchService::new(Metastore::new(counting), SearcherConfig::default());
            let answer = service.search("logs", &request).await.unwrap();
            assert!(answer.num_hits > 0, "`{}` found nothing", request.query);
            answer.stats.unwrap().reads.round_trips
        }
    };
    // `service` has six values: its whole term dictionary is in the hotcache.
    assert_eq!(round_trips("service:billing", None).await, 3);
    // Sorting reads the column in the same round trip as the postings.
    assert_eq!(round_trips("service:billing", Some("-ts")).await, 3);
    // A range on a fast field reads its column; aggregations and counts no documents.
    assert_eq!(round_trips("status:[400 TO 500]", Some("-ts")).await, 3);
    // `message` has 60,000 distinct terms: its dictionary block is one more round trip.
    assert_eq!(round_trips("message:number", None).await, 4);
    // Ranked by relevance: the statistics pass warms what the search then reads (field
    // norms with the postings), so the two passes wait for no more than one would.
    assert_eq!(round_trips("service:billing", Some("_score")).await, 3);
    assert_eq!(round_trips("message:number", Some("_score")).await, 4);
}

/// Searches running at the same time over the same cold split (the panels of an `_msearch`)
/// wait for one fetch of each range instead of each making its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_searches_share_their_fetches() {
    let (_temp_dir, counting, _split) = one_split().await;
    let request = SearchRequest::new("service:billing AND status:500");
    let alone = SearchService::new(Metastore::new(counting.clone()), SearcherConfig::default());
    alone.search("logs", &request).await.unwrap();
    let gets_alone = counting.take();

    let together = SearchService::new(Metastore::new(counting.clone()), SearcherConfig::default());
    // Another request (a page of ten, not twenty) over the same bytes.
    let mut shorter = request.clone();
    shorter.max_hits = 10;
    let (first, second) = futures::join!(
        together.search("logs", &request),
        together.search("logs", &shorter)
    );
    assert_eq!(first.unwrap().num_hits, second.unwrap().num_hits);
    assert_eq!(
        counting.take(),
        gets_alone,
        "two searches at once fetched more than one alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_elasticsearch_searches_read_nothing_even_by_pattern() {
    let (_temp_dir, counting, _split) = one_split().await;
    // Trusted for longer than any test machine takes between the two searches.
    let config = SearcherConfig {
        metastore_ttl: std::time::Duration::from_secs(600),
        ..SearcherConfig::default()
    };
    let service = SearchService::new(Metastore::new(counting.clone()), config);
    let body = br#"{"query": {"term": {"service": "billing"}}, "size": 5}"#;
    for path in [
        "/api/v1/_elastic/logs/_search",
        "/api/v1/_elastic/lo*,-x/_search",
    ] {
        let search = || async {
            let request = hydrant_search::http::HttpRequest::new("POST", path, None, body);
            hydrant_search::router::handle(&service, None, request).await
        };
        assert_eq!(search().await.status, 200);
        counting.take_all();
        let warm = search().await;
        assert_eq!(warm.status, 200);
        assert_eq!(
            counting.take_all(),
            0,
            "a warm search of {path} read storage"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_split_cache_takes_over_after_the_first_search() {
    let (temp_dir, counting, split) = one_split().await;
    let cache = hydrant_search::split_cache::SplitCache::open(
        temp_dir.path().join("split-cache"),
        64 << 20,
    )
    .unwrap();
    let service = SearchService::new(Metastore::new(counting.clone()), SearcherConfig::default())
        .with_split_cache(cache.clone());
    let cold = service
        .search("logs", &SearchRequest::new("service:api"))
        .await
        .unwrap();
    cache.wait_for_downloads().await;
    assert!(cache.contains(&split.split_id));
    assert_eq!(cache.total_bytes(), split.split_size_bytes);
    counting.take();
    // A different query, and a new searcher (a new Lambda environment on the same /tmp).
    let warm = service
        .search("logs", &SearchRequest::new("status:404"))
        .await
        .unwrap();
    assert_eq!(warm.num_hits, 12_000);
    let reopened = hydrant_search::split_cache::SplitCache::open(
        temp_dir.path().join("split-cache"),
        64 << 20,
    )
    .unwrap();
    let fresh_service =
        SearchService::new(Metastore::new(counting.clone()), SearcherConfig::default())
            .with_split_cache(reopened);
    let again = fresh_service
        .search("logs", &SearchRequest::new("service:api"))
        .await
        .unwrap();
    assert_eq!(again.hits, cold.hits);
    assert_eq!(
        counting.take(),
        0,
        "splits on disk must not be read from storage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_split_cache_stays_within_its_capacity() {
    let (temp_dir, counting, split) = one_split().await;
    // Room for the split, but not for the split twice.
    let capacity = split.split_size_bytes * 2 + 10;
    let cache = hydrant_search::split_cache::SplitCache::open(
        temp_dir.path().join("split-cache"),
        capacity,
    )
    .unwrap();
    std::fs::write(
        temp_dir.path().join("split-cache").join("leftover.partial"),
        b"half",
    )
    .unwrap();
    let service = SearchService::new(Metastore::new(counting.clone()), SearcherConfig::default())
        .with_split_cache(cache.clone());
    service
        .search("logs", &SearchRequest::new("*"))
        .await
        .unwrap();
    cache.wait_for_downloads().await;
    assert!(cache.total_bytes() <= capacity);
    // Too small a cache does not try.
    let tiny = hydrant_search::split_cache::SplitCache::open(
        temp_dir.path().join("tiny"),
        split.split_size_bytes,
    )
    .unwrap();
    let service = SearchService::new(Metastore::new(counting.clone()), SearcherConfig::default())
        .with_split_cache(tiny.clone());
    service
        .search("logs", &SearchRequest::new("*"))
        .await
        .unwrap();
    tiny.wait_for_downloads().await;
    assert_eq!(tiny.total_bytes(), 0);
    // Partial downloads of an earlier run are cleaned at open.
    let reopened = hydrant_search::split_cache::SplitCache::open(
        temp_dir.path().join("split-cache"),
        capacity,
    )
    .unwrap();
    assert!(!reopened.dir().join("leftover.partial").exists());
}
