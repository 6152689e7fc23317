//! `loadtest stream` against its S3+SQS and deployed-stack targets, on moto (S3 and SQS on
//! loopback, started by the test harness).
//!
//! The deployed-stack test stands up the stack's parts on loopback: moto buckets and a FIFO
//! queue, the poll-mode indexer for the indexer Lambda, a watcher of the staging bucket for
//! S3 → EventBridge, and `hydrant serve` with an API key for API Gateway and the searcher.
//! The target itself only writes to the staging bucket and queries the URL, as it does on AWS.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::IndexerRuntime;
use hydrant_ingest::queue::{Poller, sqs_client};
use hydrant_ingest::{Indexer, StagingBuckets};
use hydrant_loadtest::bench::NoProgress;
use hydrant_loadtest::error::LoadtestError;
use hydrant_loadtest::generator::Dataset;
use hydrant_loadtest::http_search::SearchAuth;
use hydrant_loadtest::stream::{self, StreamConfig, StreamReport};
use hydrant_loadtest::target::{SearchApi, Target, TargetSpec, object_created_event};
use hydrant_metastore::Metastore;
use hydrant_search::server::{ServerOptions, serve_with};
use hydrant_search::{SearchService, SearcherConfig};
use hydrant_storage::testing::{moto_bucket, moto_endpoint, moto_s3_config};
use hydrant_storage::{StorageResolver, StorageUri};

fn small_stream() -> StreamConfig {
    StreamConfig {
        num_objects: 4,
        records_per_object: 1_000,
        bad_share: 0.01,
        query_runs: 2,
        searchable_timeout: Duration::from_secs(60),
        ..StreamConfig::default()
    }
}

fn web_logs_config() -> IndexConfig {
    IndexConfig::from_yaml(Dataset::WebLogs.index_config_yaml()).unwrap()
}

fn assert_everything_counted(report: &StreamReport, config: &StreamConfig) {
    assert_eq!(report.freshness.samples, config.num_objects);
    assert_eq!(report.docs_before, 0);
    assert_eq!(report.end_to_end.docs, report.dataset.good_records);
    assert_eq!(report.index.docs, report.dataset.good_records);
    assert_eq!(
        report.dataset.good_records + report.dataset.bad_records,
        (config.num_objects * config.records_per_object) as u64
    );
    assert!(report.dataset.bad_records > 0);
    assert!(report.index.splits >= 1);
    for row in &report.queries {
        assert_eq!(row.expected_hits, Some(row.num_hits), "{}", row.name);
        assert_eq!(row.latency.samples, config.query_runs);
    }
    assert!(report.queries.iter().any(|row| row.num_hits > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_sqs_target_indexes_through_the_fifo_queue_and_counts_agree() {
    let spec = TargetSpec::S3Sqs {
        endpoint: Some(moto_endpoint()),
        staging_bucket: None,
        index_uri: None,
        queue_url: None,
    };
    let target = Target::connect(&spec, &web_logs_config(), None)
        .await
        .unwrap();
    assert!(target.description.starts_with("s3-sqs"));
    let config = small_stream();
    let report = stream::run(&config, &target, &NoProgress).await.unwrap();
    target.shutdown().await.unwrap();
    assert_everything_counted(&report, &config);
    // Storage requests are reported by the in-process searcher.
    assert!(report.queries.iter().all(|row| row.first_gets.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_indexer_ends_the_s3_sqs_run_with_its_reason() {
    let (_, staging_bucket) = moto_bucket("failing-staging").await;
    let sqs = sqs_client(Some(&moto_endpoint())).await;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{staging_bucket}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // First in the index's group: an event for an object that is not there.
    let missing = object_created_event(&staging_bucket, "firehose/never-written", 10, "0");
    sqs.send_message()
        .queue_url(&queue_url)
        .message_group_id("web-logs")
        .message_body(missing.to_string())
        .send()
        .await
        .unwrap();
    let spec = TargetSpec::S3Sqs {
        endpoint: Some(moto_endpoint()),
        staging_bucket: Some(staging_bucket),
        index_uri: None,
        queue_url: Some(queue_url),
    };
    let target = Target::connect(&spec, &web_logs_config(), None)
        .await
        .unwrap();
    let error = stream::run(&small_stream(), &target, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("the indexer failed a batch")
            && error.to_string().contains("never-written"),
        "{error}"
    );
    target.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_target_writes_to_staging_and_queries_the_search_url_with_its_key() {
    // The stack: buckets, queue, indexer, EventBridge, API with a key.
    let (s3, staging_bucket) = moto_bucket("stack-staging").await;
    let (_, index_bucket) = moto_bucket("stack-index").await;
    let resolver = StorageResolver::new(moto_s3_config());
    let metastore = Metastore::new(
        resolver
            .resolve(&StorageUri::S3 {
                bucket: index_bucket,
                prefix: String::new(),
            })
            .await
            .unwrap(),
    );
    metastore.create_index(web_logs_config()).await.unwrap();
    let sqs = sqs_client(Some(&moto_endpoint())).await;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{staging_bucket}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let runtime = IndexerRuntime::new(
        Indexer::new(metastore.clone(), StagingBuckets::new(resolver)),
        Vec::new(),
    )
    .await
    .unwrap();
    let indexer = {
        let (sqs, queue_url) = (sqs.clone(), queue_url.clone());
        tokio::spawn(async move {
            let poller = Poller {
                client: sqs,
                queue_url,
                runtime: &runtime,
                visibility_timeout: Duration::from_secs(60),
                wait_time: Duration::from_secs(1),
                retry_backoff: Duration::from_secs(1),
                batch_size: 10,
            };
            poller.run(std::future::pending()).await
        })
    };
    let eventbridge = {
        let (s3, sqs, bucket) = (s3.clone(), sqs.clone(), staging_bucket.clone());
        tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            loop {
                let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
                for object in listed.contents() {
                    let key = object.key().unwrap().to_string();
                    if seen.insert(key.clone()) {
                        let event = object_created_event(
                            &bucket,
                            &key,
                            object.size().unwrap_or_default() as usize,
                            object.e_tag().unwrap_or_default().trim_matches('"'),
                        );
                        sqs.send_message()
                            .queue_url(&queue_url)
                            .message_group_id("web-logs")
                            .message_body(event.to_string())
                            .send()
                            .await
                            .unwrap();
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let search_url = format!("http://{}", listener.local_addr().unwrap());
    let api = tokio::spawn(serve_with(
        listener,
        Arc::new(hydrant_search::router::Router::new(Arc::new(
            SearchService::new(metastore, SearcherConfig::default()),
        ))),
        ServerOptions {
            api_key: Some("the-stack-key".to_string()),
        },
        std::future::pending(),
    ));

    // A wrong key is refused, as API Gateway refuses it, and the run says so.
    let spec = TargetSpec::Aws {
        endpoint: Some(moto_endpoint()),
        staging_bucket: staging_bucket.clone(),
    };
    let config = small_stream();
    let wrong_key = SearchApi {
        url: search_url.clone(),
        auth: SearchAuth::ApiKey("not-the-key".to_string()),
    };
    let target = Target::connect(&spec, &web_logs_config(), Some(&wrong_key))
        .await
        .unwrap();
    let error = stream::run(&config, &target, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LoadtestError::Http(message) if message.contains("403")),
        "{error}"
    );

    // Without a search URL there is nothing to query.
    assert!(
        Target::connect(&spec, &web_logs_config(), None)
            .await
            .is_err()
    );

    let api_key = SearchApi {
        url: search_url,
        auth: SearchAuth::ApiKey("the-stack-key".to_string()),
    };
    let target = Target::connect(&spec, &web_logs_config(), Some(&api_key))
        .await
        .unwrap();
    let report = stream::run(&config, &target, &NoProgress).await.unwrap();
    target.shutdown().await.unwrap();
    assert_everything_counted(&report, &config);
    assert!(report.target.starts_with("aws"));
    for task in [
        indexer.abort_handle(),
        eventbridge.abort_handle(),
        api.abort_handle(),
    ] {
        task.abort();
    }
}
