//! The four ways Hydrant indexes (the Lambda handler, `hydrant poll`, `hydrant index` and
//! local mode) all go through the same batch core, `IndexerRuntime::run_batch`: from the same
//! Firehose objects (good records and bad ones) they build the same index, document for
//! document, and keep the same rejected records.
//!
//! Staging is a moto bucket for the Lambda handler and the poller (as on AWS), local files for
//! `hydrant index` and local mode. Each mode writes its own index storage on local disk.

use std::collections::BTreeMap;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use common::{aws_env, fifo_queue, messages_left, stop};
use hydrant_datagen::firehose::{Framing, encode_object};
use hydrant_datagen::mock_sales::{MOCK_SALES_CONFIG, MockSales};
use hydrant_ingest::testing::eventbridge_body;
use hydrant_metastore::Metastore;
use hydrant_storage::testing::{moto_bucket, moto_endpoint, moto_s3_config};
use hydrant_storage::{LocalStorage, PutMode, SharedStorage, StorageResolver, StorageUri};
use lambda_runtime::{Context, LambdaEvent};

const INDEX_ID: &str = "mock-sales";
const OBJECTS: usize = 23;
const RECORDS_PER_OBJECT: usize = 40;
/// Every mode, each bounded.
const BOUND: Duration = Duration::from_secs(120);

/// Object `number`: mock-sales records, with a malformed line and a record of the wrong type
/// in every third object.
fn object(number: usize) -> Vec<u8> {
    let mut generator = MockSales::new(number as u64, (number * RECORDS_PER_OBJECT) as u64);
    let mut records: Vec<String> = (0..RECORDS_PER_OBJECT)
        .map(|i| generator.record(1_764_583_200_000 + (number * RECORDS_PER_OBJECT + i) as i64))
        .collect();
    if number.is_multiple_of(3) {
        records[5] = format!(r#"{{"ts": 1764583200000, "id": {number}"#);
        records[9] = format!(r#"{{"ts": 1764583200000, "id": "not a number {number}"}}"#);
    }
    encode_object(&records, Framing::NewlineDelimited, true)
}

fn key(number: usize) -> String {
    format!("hydrant-mock-sales-1-2026-12-01-10-00-{number:02}.gz")
}

/// What an index holds: every document, and every rejected record.
#[derive(Debug, PartialEq)]
struct Contents {
    documents: Vec<String>,
    rejected: BTreeMap<String, usize>,
}

async fn contents(index_dir: &Path) -> Contents {
    let storage: SharedStorage = std::sync::Arc::new(LocalStorage::new(index_dir).unwrap());
    let metastore = Metastore::new(storage.clone());
    let metadata = metastore.index_metadata(INDEX_ID).await.unwrap();
    assert_eq!(
        metadata.checkpoint.objects.len(),
        OBJECTS,
        "every object checkpointed"
    );
    let service =
        hydrant_search::SearchService::new(metastore, hydrant_search::SearcherConfig::default());
    let mut request = hydrant_search::SearchRequest::new("*");
    request.max_hits = 10_000;
    let response = service.search(INDEX_ID, &request).await.unwrap();
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let mut documents: Vec<String> = response.hits.iter().map(|hit| hit.to_string()).collect();
    documents.sort();
    let mut rejected = BTreeMap::new();
    for file in storage
        .list(&format!("indexes/{INDEX_ID}/errors/"))
        .await
        .unwrap()
    {
        if file.path.contains("/set-aside/") {
            continue;
        }
        let bytes = storage.get(&file.path).await.unwrap().bytes;
        let (reader, _) = hydrant_ingest::firehose::decompressing_reader(&bytes[..]).unwrap();
        let text = String::from_utf8(hydrant_ingest::firehose::read_all(reader).unwrap()).unwrap();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            *rejected
                .entry(entry["record"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    Contents {
        documents,
        rejected,
    }
}

fn hydrant(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydrant"));
    command.args(args);
    command
}

/// `hydrant index create` then `hydrant index ingest` over the local files.
fn with_index_command(files: &[PathBuf], config: &Path, index_dir: &Path) {
    let index_uri = index_dir.to_str().unwrap();
    let config = config.to_str().unwrap();
    let created = hydrant(&[
        "index",
        "create",
        "--index-uri",
        index_uri,
        "--index-config",
        config,
    ])
    .output()
    .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let mut command = hydrant(&[
        "index",
        "ingest",
        "--index-uri",
        index_uri,
        "--index",
        INDEX_ID,
    ]);
    command.args(files);
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `hydrant local --generate false` over a staging directory holding the files.
fn with_local_mode(files: &[PathBuf], data_dir: &Path) {
    let staging = data_dir.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    for file in files {
        std::fs::copy(file, staging.join(file.file_name().unwrap())).unwrap();
    }
    let child = hydrant(&["local", "--generate", "false", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let metastore = Metastore::new(std::sync::Arc::new(
        LocalStorage::new(data_dir.join("index")).unwrap(),
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    loop {
        let indexed = runtime.block_on(async {
            match metastore.index_metadata(INDEX_ID).await {
                Ok(metadata) => metadata.checkpoint.objects.len(),
                Err(_) => 0,
            }
        });
        if indexed == OBJECTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "local mode indexed {indexed} objects"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(child);
}

/// The Lambda handler, in process, with SQS batches of 10 EventBridge notifications.
async fn with_lambda_handler(bucket: &str, config: &Path, index_dir: &Path) {
    let index_uri = index_dir.to_str().unwrap().to_string();
    let config_uri = config.to_str().unwrap().to_string();
    let settings = hydrant_ingest::settings::IndexerSettings::from_lookup(|name| match name {
        "HYDRANT_INDEX_URI" => Some(index_uri.clone()),
        "HYDRANT_INDEX_CONFIGS" => Some(config_uri.clone()),
        _ => None,
    })
    .unwrap();
    let runtime = hydrant_lambda::indexer::start(&settings, StorageResolver::new(moto_s3_config()))
        .await
        .unwrap();
    let numbers: Vec<usize> = (0..OBJECTS).collect();
    for batch in numbers.chunks(10) {
        let mut event = SqsEvent::default();
        for number in batch {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("message-{number}"));
            record.body = Some(eventbridge_body(bucket, &key(*number)));
            record
                .attributes
                .insert("MessageGroupId".to_string(), INDEX_ID.to_string());
            event.records.push(record);
        }
        let response =
            hydrant_lambda::indexer::handle(&runtime, LambdaEvent::new(event, Context::default()))
                .await
                .unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
}

/// `hydrant poll` over a moto FIFO queue of EventBridge notifications, until it is drained.
async fn with_poller(bucket: &str, config: &Path, index_dir: &Path) {
    let sqs = hydrant_ingest::queue::sqs_client(Some(&moto_endpoint())).await;
    let queue_url = fifo_queue(&sqs, bucket, 30).await;
    let numbers: Vec<usize> = (0..OBJECTS).collect();
    for batch in numbers.chunks(10) {
        let entries = batch
            .iter()
            .map(|number| {
                SendMessageBatchRequestEntry::builder()
                    .id(number.to_string())
                    .message_body(eventbridge_body(bucket, &key(*number)))
                    .message_group_id(INDEX_ID)
                    .message_deduplication_id(number.to_string())
                    .build()
                    .unwrap()
            })
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(sent.failed().is_empty());
    }
    let child = hydrant(&["poll", "--index-uri", index_dir.to_str().unwrap()])
        .args(["--queue-url", &queue_url, "--wait-time-secs", "1"])
        .envs(aws_env())
        .env("HYDRANT_INDEX_CONFIGS", config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    loop {
        let left = messages_left(&sqs, &queue_url).await;
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} messages left in the queue"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_poll_index_and_local_mode_build_the_same_index() {
    let temp_dir = tempfile::tempdir().unwrap();
    let config = temp_dir.path().join("mock-sales.yaml");
    std::fs::write(&config, MOCK_SALES_CONFIG).unwrap();
    let files_dir = temp_dir.path().join("files");
    std::fs::create_dir_all(&files_dir).unwrap();
    let (_, bucket) = moto_bucket("one-core").await;
    let staging: SharedStorage = StorageResolver::new(moto_s3_config())
        .resolve(&StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: String::new(),
        })
        .await
        .unwrap();
    let mut files = Vec::new();
    for number in 0..OBJECTS {
        let path = files_dir.join(key(number));
        std::fs::write(&path, object(number)).unwrap();
        staging
            .put(&key(number), object(number).into(), PutMode::Create)
            .await
            .unwrap();
        files.push(path);
    }

    let lambda_dir = temp_dir.path().join("lambda");
    with_lambda_handler(&bucket, &config, &lambda_dir).await;
    let lambda = contents(&lambda_dir).await;
    assert_eq!(lambda.documents.len(), OBJECTS * RECORDS_PER_OBJECT - 2 * 8);
    assert_eq!(lambda.rejected.len(), 2 * 8);

    let poll_dir = temp_dir.path().join("poll");
    with_poller(&bucket, &config, &poll_dir).await;
    assert_eq!(contents(&poll_dir).await, lambda, "hydrant poll");

    let index_dir = temp_dir.path().join("index");
    let (files_for_index, config_for_index) = (files.clone(), config.clone());
    let index_dir_for_command = index_dir.clone();
    tokio::task::spawn_blocking(move || {
        with_index_command(&files_for_index, &config_for_index, &index_dir_for_command)
    })
    .await
    .unwrap();
    assert_eq!(contents(&index_dir).await, lambda, "hydrant index");

    let local_dir = temp_dir.path().join("local");
    let local_data = local_dir.clone();
    tokio::task::spawn_blocking(move || with_local_mode(&files, &local_data))
        .await
        .unwrap();
    assert_eq!(
        contents(&local_dir.join("index")).await,
        lambda,
        "hydrant local"
    );
}
