//! Where the simulated Firehose delivers objects, and where queries go.
//!
//! - [`TargetSpec::Local`]: the embedded mode. Staging and index on local disk; the indexer
//!   runs in this process and is fed in delivery order, up to 10 objects a batch, as the FIFO
//!   queue feeds the Lambda.
//! - [`TargetSpec::S3Sqs`]: S3 and SQS endpoints (moto locally, or an AWS account). Each object
//!   goes into a staging bucket, then into the FIFO queue goes the message EventBridge would
//!   send for it (an `Object Created` event, message group = index id); the poll-mode indexer
//!   (`hydrant poll`'s code) consumes the queue in this process.
//! - [`TargetSpec::Aws`]: a deployed stack. Objects go into its staging bucket; S3,
//!   EventBridge, SQS and the indexer Lambda do the rest, and queries go to its search URL
//!   with the API key.
//!
//! Queries go to an in-process searcher over the index storage, unless a search URL is given
//! (always for a deployed stack): then over HTTP, as users query.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use bytes::Bytes;
use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::BatchOutcome;
use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::queue::{Poller, sqs_client};
use hydrant_ingest::{Indexer, StagingBuckets};
use hydrant_metastore::{Error as MetastoreError, Metastore};
use hydrant_search::{SearchRequest, SearchResponse, SearchService, SearcherConfig};
use hydrant_storage::{
    LocalStorage, PutMode, S3Config, SharedStorage, StorageResolver, StorageUri,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{LoadtestError, Result};
use crate::http_search::{HttpSearchClient, SearchAuth};

/// Objects per indexer batch in the local target: SQS's batch size.
const LOCAL_BATCH_SIZE: usize = 10;

/// Which target, and how to reach it.
#[derive(Clone, Debug)]
pub enum TargetSpec {
    /// Everything on local disk under `dir`, the indexer in this process.
    Local { dir: PathBuf },
    /// S3 and SQS at `endpoint` (the AWS environment's when `None`). Buckets and the queue
    /// are created, with unique names, when not given.
    S3Sqs {
        endpoint: Option<String>,
        staging_bucket: Option<String>,
        /// `s3://bucket[/prefix]` of the index.
        index_uri: Option<String>,
        queue_url: Option<String>,
    },
    /// A deployed stack: its staging bucket and its search API.
    Aws {
        /// S3 endpoint override; `None` for AWS itself.
        endpoint: Option<String>,
        staging_bucket: String,
    },
}

/// A search API to query instead of an in-process searcher.
#[derive(Clone, Debug)]
pub struct SearchApi {
    pub url: String,
    pub auth: SearchAuth,
}

/// The index's splits, as the target reports them.
#[derive(Clone, Debug, Default)]
pub struct IndexSummary {
    pub splits: u64,
    pub docs: u64,
    pub split_bytes: u64,
}

/// A connected target.
pub struct Target {
    /// What it is, for the report.
    pub description: String,
    index_id: String,
    delivery: Delivery,
    search: SearchEndpoint,
    /// The in-process indexer, and how to stop it.
    indexer: Mutex<Option<InProcessIndexer>>,
}

type InProcessIndexer = (JoinHandle<Result<()>>, oneshot::Sender<()>);

enum Delivery {
    Local {
        staging: SharedStorage,
        messages: mpsc::UnboundedSender<QueueMessage>,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        /// Where to send what EventBridge would; `None` when EventBridge does it.
        queue: Option<(aws_sdk_sqs::Client, String)>,
    },
}

enum SearchEndpoint {
    InProcess(SearchService),
    Http(HttpSearchClient),
}

/// The bucket name the local target's messages give; the indexer maps it to the staging dir.
const LOCAL_STAGING_BUCKET: &str = "staging";

impl Target {
    /// Connects to the target, creating what it may create (directories, buckets, queue, the
    /// index, the in-process indexer). `search_api` replaces the in-process searcher; a
    /// deployed stack needs one.
    pub async fn connect(
        spec: &TargetSpec,
        index_config: &IndexConfig,
        search_api: Option<&SearchApi>,
    ) -> Result<Target> {
        let index_id = index_config.index_id.clone();
        let http = search_api
            .map(|api| HttpSearchClient::new(&api.url, api.auth.clone()))
            .transpose()?;
        match spec {
            TargetSpec::Local { dir } => {
                Self::connect_local(dir, index_config, index_id, http).await
            }
            TargetSpec::S3Sqs {
                endpoint,
                staging_bucket,
                index_uri,
                queue_url,
            } => {
                let names = (
                    staging_bucket.as_deref(),
                    index_uri.as_deref(),
                    queue_url.as_deref(),
                );
                Self::connect_s3_sqs(endpoint.as_deref(), names, index_config, index_id, http).await
            }
            TargetSpec::Aws {
                endpoint,
                staging_bucket,
            } => {
                let Some(http) = http else {
                    return Err(LoadtestError::Check(
                        "a deployed stack is queried through its search URL: give --search-url \
                         (the stack's SearchUrl output) and --api-key, or --sigv4 in IAM mode"
                            .to_string(),
                    ));
                };
                Ok(Target {
                    description: format!(
                        "aws (s3://{staging_bucket}, {})",
                        search_api.map_or("", |api| api.url.as_str())
                    ),
                    index_id,
                    delivery: Delivery::S3 {
                        client: s3_config(endpoint.as_deref()).build_client().await,
                        bucket: staging_bucket.clone(),
                        queue: None,
                    },
                    search: SearchEndpoint::Http(http),
                    indexer: Mutex::new(None),
                })
            }
        }
    }

    /// Local disk, with the indexer in process, fed in delivery order.
    async fn connect_local(
        dir: &std::path::Path,
        index_config: &IndexConfig,
        index_id: String,
        http: Option<HttpSearchClient>,
    ) -> Result<Target> {
        let staging: SharedStorage = Arc::new(LocalStorage::new(dir.join("staging"))?);
        let metastore = Metastore::new(Arc::new(LocalStorage::new(dir.join("index"))?));
        create_index_if_missing(&metastore, index_config).await?;
        let indexer = Indexer::new(
            metastore.clone(),
            StagingBuckets::default().bind_storage(LOCAL_STAGING_BUCKET, staging.clone()),
        )
        .with_temp_root(dir.to_path_buf());
        let runtime = IndexerRuntime::new(indexer, Vec::new()).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(feed_local_indexer(runtime, receiver, stopped));
        Ok(Target {
            description: format!("local ({})", dir.display()),
            index_id,
            delivery: Delivery::Local {
                staging,
                messages: sender,
            },
            search: search_endpoint(http, metastore),
            indexer: Mutex::new(Some((task, stop))),
        })
    }

    /// S3 and SQS (moto or AWS): the buckets and the FIFO queue given or created, and the
    /// poll-mode indexer in process.
    async fn connect_s3_sqs(
        endpoint: Option<&str>,
        (staging_bucket, index_uri, queue_url): (Option<&str>, Option<&str>, Option<&str>),
        index_config: &IndexConfig,
        index_id: String,
        http: Option<HttpSearchClient>,
    ) -> Result<Target> {
        let s3_config = s3_config(endpoint);
        let s3 = s3_config.build_client().await;
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let staging_bucket = match staging_bucket {
            Some(bucket) => bucket.to_string(),
            None => create_bucket(&s3, &format!("hydrant-staging-{suffix}")).await?,
        };
        let index_uri = match index_uri {
            Some(uri) => uri.parse::<StorageUri>()?,
            None => StorageUri::S3 {
                bucket: create_bucket(&s3, &format!("hydrant-index-{suffix}")).await?,
                prefix: String::new(),
            },
        };
        let sqs = sqs_client(endpoint).await;
        let queue_url = match queue_url {
            Some(url) => url.to_string(),
            None => create_fifo_queue(&sqs, &format!("hydrant-indexing-{suffix}")).await?,
        };
        let resolver = StorageResolver::new(s3_config);
        let metastore = Metastore::new(resolver.resolve(&index_uri).await?);
        create_index_if_missing(&metastore, index_config).await?;
        let runtime = IndexerRuntime::new(
            Indexer::new(metastore.clone(), StagingBuckets::new(resolver)),
            Vec::new(),
        )
        .await?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(poll_queue(runtime, sqs.clone(), queue_url.clone(), stopped));
        Ok(Target {
            description: format!(
                "s3-sqs ({}; s3://{staging_bucket} → {queue_url} → {index_uri})",
                endpoint.unwrap_or("AWS")
            ),
            index_id,
            delivery: Delivery::S3 {
                client: s3,
                bucket: staging_bucket,
                queue: Some((sqs, queue_url)),
            },
            search: search_endpoint(http, metastore),
            indexer: Mutex::new(Some((task, stop))),
        })
    }

    /// Puts an object into staging and, where nobody else does, tells the indexer about it.
    /// Returns once the object has landed (S3 acknowledged the PUT).
    pub async fn deliver(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        match &self.delivery {
            Delivery::Local { staging, messages } => {
                staging
                    .put(key, Bytes::from(bytes).into(), PutMode::Overwrite)
                    .await?;
                let message = QueueMessage::new(
                    uuid::Uuid::new_v4().to_string(),
                    Some(self.index_id.clone()),
                    json!({"bucket": LOCAL_STAGING_BUCKET, "key": key}).to_string(),
                );
                messages.send(message).map_err(|_| {
                    LoadtestError::Check("the local indexer has stopped".to_string())
                })?;
            }
            Delivery::S3 {
                client,
                bucket,
                queue,
            } => {
                let size = bytes.len();
                let put = client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(bytes.into())
                    .send()
                    .await
                    .map_err(|error| aws_error(format!("cannot put s3://{bucket}/{key}"), error))?;
                if let Some((sqs, queue_url)) = queue {
                    let etag = put.e_tag().unwrap_or_default().trim_matches('"');
                    // No deduplication id: EventBridge sends none, the queue deduplicates by
                    // content, and every event has its own id.
                    sqs.send_message()
                        .queue_url(queue_url)
                        .message_group_id(&self.index_id)
                        .message_body(object_created_event(bucket, key, size, etag).to_string())
                        .send()
                        .await
                        .map_err(|error| aws_error(format!("cannot send to {queue_url}"), error))?;
                }
            }
        }
        Ok(())
    }

    /// Runs a search request (the REST API's JSON body).
    pub async fn search(&self, request: &Value) -> Result<SearchResponse> {
        match &self.search {
            SearchEndpoint::InProcess(service) => {
                let request: SearchRequest = serde_json::from_value(request.clone())?;
                service
                    .search(&self.index_id, &request)
                    .await
                    .map_err(|error| LoadtestError::Check(format!("search failed: {error}")))
            }
            SearchEndpoint::Http(client) => client.search(&self.index_id, request).await,
        }
    }

    /// How often to count documents while waiting for them: through an API every request
    /// counts against the key's quota (100,000 a day by default), in process nothing does.
    pub fn watch_interval(&self) -> Duration {
        match &self.search {
            SearchEndpoint::InProcess(_) => Duration::from_millis(100),
            SearchEndpoint::Http(_) => Duration::from_millis(250),
        }
    }

    /// Splits, documents and bytes of the index.
    pub async fn index_summary(&self) -> Result<IndexSummary> {
        match &self.search {
            SearchEndpoint::InProcess(service) => {
                let metadata = service.metastore().index_metadata(&self.index_id).await?;
                let splits: Vec<_> = metadata.published_splits().collect();
                Ok(IndexSummary {
                    splits: splits.len() as u64,
                    docs: metadata.num_published_docs(),
                    split_bytes: splits.iter().map(|split| split.split_size_bytes).sum(),
                })
            }
            SearchEndpoint::Http(client) => {
                let summary = client.index_summary(&self.index_id).await?;
                let number = |field: &str| summary[field].as_u64().unwrap_or_default();
                Ok(IndexSummary {
                    splits: number("num_published_splits"),
                    docs: number("num_published_docs"),
                    split_bytes: number("size_published_splits_bytes"),
                })
            }
        }
    }

    /// An error if the in-process indexer has stopped, with why.
    pub async fn check_indexer(&self) -> Result<()> {
        let stopped = {
            let mut indexer = self.indexer.lock().expect("not poisoned");
            if indexer.as_ref().is_some_and(|(task, _)| task.is_finished()) {
                indexer.take()
            } else {
                None
            }
        };
        match stopped {
            None => Ok(()),
            Some((task, _)) => {
                task.await.map_err(|error| {
                    LoadtestError::Check(format!("the indexer panicked: {error}"))
                })??;
                Err(LoadtestError::Check(
                    "the in-process indexer stopped".to_string(),
                ))
            }
        }
    }

    /// Stops the in-process indexer after its current batch.
    pub async fn shutdown(self) -> Result<()> {
        let indexer = self.indexer.into_inner().expect("not poisoned");
        if let Some((task, stop)) = indexer {
            let _ = stop.send(());
            task.await.map_err(|error| {
                LoadtestError::Check(format!("the indexer panicked: {error}"))
            })??;
        }
        Ok(())
    }
}

fn search_endpoint(http: Option<HttpSearchClient>, metastore: Metastore) -> SearchEndpoint {
    match http {
        Some(client) => SearchEndpoint::Http(client),
        None => SearchEndpoint::InProcess(SearchService::new(metastore, SearcherConfig::default())),
    }
}

fn s3_config(endpoint: Option<&str>) -> S3Config {
    match endpoint {
        Some(endpoint) => hydrant_storage::testing::s3_config_for_endpoint(endpoint),
        None => S3Config::default(),
    }
}

/// An S3 or SQS error with what was being done, and the service's own message and code.
fn aws_error(context: String, error: impl std::error::Error) -> LoadtestError {
    LoadtestError::Aws(format!(
        "{context}: {}",
        aws_sdk_s3::error::DisplayErrorContext(error)
    ))
}

async fn create_index_if_missing(metastore: &Metastore, config: &IndexConfig) -> Result<()> {
    match metastore.create_index(config.clone()).await {
        Ok(_) | Err(MetastoreError::IndexAlreadyExists(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) -> Result<String> {
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(|error| aws_error(format!("cannot create bucket {name}"), error))?;
    Ok(name.to_string())
}

/// A FIFO queue as the stack makes it: content-based deduplication, one group per index.
async fn create_fifo_queue(client: &aws_sdk_sqs::Client, name: &str) -> Result<String> {
    let created = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, "120")
        .send()
        .await
        .map_err(|error| aws_error(format!("cannot create queue {name}.fifo"), error))?;
    created
        .queue_url
        .ok_or_else(|| LoadtestError::Aws(format!("no URL for the new queue {name}.fifo")))
}

/// The event EventBridge puts on the queue when S3 creates `key` in `bucket`: the body the
/// production indexer receives.
pub fn object_created_event(bucket: &str, key: &str, size: usize, etag: &str) -> Value {
    let now = time::OffsetDateTime::now_utc();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": url_encode_key(key), "size": size, "etag": etag},
            "request-id": uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase(),
            "requester": "000000000000",
            "reason": "PutObject",
        },
    })
}

/// Keys in S3 events are URL-encoded, `/` kept and a space as `+`.
fn url_encode_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                encoded.push(byte as char)
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The local target's indexer: takes what has been delivered, in order, up to a batch at a
/// time, as the FIFO queue hands a backlog to the Lambda.
async fn feed_local_indexer(
    runtime: IndexerRuntime,
    mut messages: mpsc::UnboundedReceiver<QueueMessage>,
    mut stopped: oneshot::Receiver<()>,
) -> Result<()> {
    loop {
        let first = tokio::select! {
            message = messages.recv() => match message {
                Some(message) => message,
                None => return Ok(()),
            },
            _ = &mut stopped => return Ok(()),
        };
        let mut batch = vec![first];
        while batch.len() < LOCAL_BATCH_SIZE {
            match messages.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let outcome = runtime.run_batch(&batch, None).await;
        if let Some(reason) = batch_problem(&outcome) {
            return Err(LoadtestError::Check(format!(
                "the indexer failed a batch: {reason}"
            )));
        }
    }
}

/// Why a batch of generated messages did not index cleanly: every message the stream sends
/// must be indexed, so a failure, a message set aside or one dead-lettered ends the run.
fn batch_problem(outcome: &BatchOutcome) -> Option<String> {
    outcome
        .failure
        .as_ref()
        .or(outcome.dead_lettered.first())
        .map(|failure| failure.reason.clone())
        .or_else(|| {
            outcome
                .set_aside
                .first()
                .map(|set_aside| format!("message set aside: {}", set_aside.reason))
        })
}

/// The poll-mode indexer's receive-index-delete cycle, until told to stop.
///
/// Unlike `Poller::run`, which logs and retries as a long-running service should, a failed
/// batch or receive ends the run with its reason: nothing here prints logs, and a load test
/// must not wait out its timeout on an indexer that keeps failing.
async fn poll_queue(
    runtime: IndexerRuntime,
    client: aws_sdk_sqs::Client,
    queue_url: String,
    mut stopped: oneshot::Receiver<()>,
) -> Result<()> {
    let poller = Poller {
        client,
        queue_url,
        runtime: &runtime,
        visibility_timeout: Duration::from_secs(120),
        wait_time: Duration::from_secs(1),
        retry_backoff: Duration::from_secs(1),
        batch_size: 10,
    };
    loop {
        let outcome = tokio::select! {
            outcome = poller.poll_once() => outcome?,
            _ = &mut stopped => return Ok(()),
        };
        if let Some(reason) = outcome.as_ref().and_then(batch_problem) {
            return Err(LoadtestError::Check(format!(
                "the indexer failed a batch: {reason}"
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_created_events_parse_as_the_indexer_reads_them() {
        let event = object_created_event("staging", "firehose/2026/11/23/a b+c", 42, "abc");
        let parsed = hydrant_ingest::message::parse_message(&event.to_string()).unwrap();
        let hydrant_ingest::message::IndexerMessage::IndexObjects { objects, .. } = parsed else {
            panic!("not an indexing message: {parsed:?}");
        };
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].bucket, "staging");
        assert_eq!(objects[0].key, "firehose/2026/11/23/a b+c");
        assert_eq!(objects[0].etag.as_deref(), Some("abc"));
    }
}
