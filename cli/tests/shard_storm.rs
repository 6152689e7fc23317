//! Shards under a storm: an index fed through 4 message groups, indexed by 4 `hydrant poll`
//! processes in parallel (killed with SIGKILL at random moments and started again) and by one
//! in-process poller whose index storage loses the responses of some of its writes
//! (`FaultyStorage`). Objects are announced first under one shard (the index before its shard
//! count was raised), then again under 4 shards, and some twice: every delivery after the
//! first must be recognised. Then maintenance runs, and every good record must be searchable
//! exactly once, every bad record kept once, and no split file or checkpoint segment left that
//! the metastore does not reference.
//!
//! Batches are of one message, as in `crash_storm.rs` (moto's FIFO redelivery quirk).

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use common::{
    aws_env, fifo_queue, kept_records, messages_left, searchable_ids, stop, storm_records,
};
use hydrant_index::config::IndexConfig;
use hydrant_ingest::batch::IndexerRuntime;
use hydrant_ingest::queue::Poller;
use hydrant_ingest::testing::eventbridge_body;
use hydrant_ingest::{Indexer, StagingBuckets};
use hydrant_metastore::shard::{message_group, shard_for};
use hydrant_metastore::{Metastore, SplitState};
use hydrant_storage::testing::{
    Fault, FaultRule, FaultyStorage, Operation, moto_bucket, moto_endpoint, moto_s3_config,
};
use hydrant_storage::{PutMode, SharedStorage, StorageResolver, StorageUri};

const INDEX: &str = "shards";
const SHARDS: u32 = 4;
const OBJECTS: u64 = 200;
/// Objects announced under one shard first, before the count was raised.
const BEFORE_RAISE: u64 = 40;
const RECORDS_PER_OBJECT: u64 = 10;
/// The last record of every object is bad.
const BAD_EVERY: u64 = 10;
const POLLERS: usize = 4;
const KILLS: usize = 12;
/// The whole test must end within this.
const BOUND: Duration = Duration::from_secs(420);

const CONFIG: &str = r#"
index_id: shards
doc_mapping:
  mode: strict
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64, fast: true}
  timestamp_field: ts
indexing_settings:
  merge_policy: {type: stable_log, merge_factor: 3, max_merge_factor: 4, maturation_period: 1h}
"#;

fn body(object: u64) -> String {
    storm_records(object, RECORDS_PER_OBJECT, BAD_EVERY)
}

/// A Firehose-like key: it ends in hex digits, so the stack's rules can shard it.
fn key(object: u64) -> String {
    let suffix = object.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16;
    format!("firehose/2026/12/05/10/shards-1-2026-12-05-10-00-00-{object:04}-{suffix:012x}")
}

struct Cluster {
    bucket: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
    scratch: tempfile::TempDir,
}

impl Cluster {
    fn poller(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_hydrant"))
            .args([
                "poll",
                "--index-uri",
                &format!("s3://{}/index", self.bucket),
            ])
            .args(["--queue-url", &self.queue_url])
            .args(["--visibility-timeout-secs", "3", "--wait-time-secs", "1"])
            .args(["--batch-size", "1"])
            .envs(self.env(false))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hydrant poll starts")
    }

    /// Grace periods of zero, so that maintenance collects at once; orphans only when
    /// `collect_orphans` (nothing else runs then: a checkpoint segment is an orphan for the
    /// moment between its write and its commit).
    fn env(&self, collect_orphans: bool) -> Vec<(&'static str, String)> {
        let mut env = aws_env();
        env.extend([
            (
                "HYDRANT_TEMP_DIR",
                self.scratch.path().display().to_string(),
            ),
            ("HYDRANT_GC_GRACE_PERIOD", "0s".into()),
            ("HYDRANT_STAGED_EXPIRY", "0s".into()),
        ]);
        if collect_orphans {
            env.push(("HYDRANT_ORPHAN_MIN_AGE", "0s".into()));
        }
        env
    }

    /// Sends `(group, body)` messages, each with its own deduplication id.
    async fn send(&self, messages: &[(String, String)], round: &str) {
        for (chunk_number, chunk) in messages.chunks(10).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(position, (group, body))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(position.to_string())
                        .message_body(body)
                        .message_group_id(group)
                        .message_deduplication_id(format!("{round}-{chunk_number}-{position}"))
                        .build()
                        .unwrap()
                })
                .collect();
            let sent = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            assert!(sent.failed().is_empty(), "{:?}", sent.failed());
        }
    }

    /// Runs the pollers while killing one at random every so often, until `kills` kills are
    /// done and the queue is empty.
    async fn storm(&self, kills: usize, seed: &mut u64, started: Instant) {
        let mut pollers: Vec<Child> = (0..POLLERS).map(|_| self.poller()).collect();
        let mut killed = 0;
        loop {
            *seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            tokio::time::sleep(Duration::from_millis(800 + (*seed >> 33) % 1_700)).await;
            assert!(started.elapsed() < BOUND, "the storm took too long");
            if killed < kills {
                let victim = (*seed >> 40) as usize % POLLERS;
                pollers[victim].kill().unwrap();
                pollers[victim].wait().unwrap();
                pollers[victim] = self.poller();
                killed += 1;
            } else if messages_left(&self.sqs, &self.queue_url).await == 0 {
                break;
            }
        }
        for poller in pollers {
            stop(poller);
        }
    }
}

/// An in-process poller over an index storage that loses the response of one write in
/// seven, alternating an error with the SDK's own retry of the applied write.
fn faulty_index_storage(index_storage: SharedStorage) -> Arc<FaultyStorage> {
    let faulty = Arc::new(FaultyStorage::new(index_storage));
    for position in 0..60 {
        let fault = if position % 2 == 0 {
            Fault::ResponseLost
        } else {
            Fault::Retried
        };
        faulty.inject(FaultRule::new(Operation::Write, fault).skip(3 + position * 7));
    }
    faulty
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_four_indexers_lose_nothing_and_duplicate_nothing() {
    let started = Instant::now();
    let (_, bucket) = moto_bucket("shards").await;
    let resolver = StorageResolver::new(moto_s3_config());
    let mut storages = Vec::new();
    for prefix in ["", "index"] {
        let uri = StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: prefix.to_string(),
        };
        storages.push(resolver.resolve(&uri).await.unwrap());
    }
    let (staging, index_storage): (SharedStorage, SharedStorage) =
        (storages[0].clone(), storages[1].clone());
    let metastore = Metastore::new(index_storage.clone());
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let sqs = hydrant_ingest::queue::sqs_client(Some(&moto_endpoint())).await;
    let queue_url = fifo_queue(&sqs, &bucket, 3).await;
    let cluster = Cluster {
        bucket: bucket.clone(),
        queue_url: queue_url.clone(),
        sqs: sqs.clone(),
        scratch: tempfile::tempdir().unwrap(),
    };
    for object in 0..OBJECTS {
        staging
            .put(
                &key(object),
                body(object).into_bytes().into(),
                PutMode::Create,
            )
            .await
            .unwrap();
    }

    // The fifth indexer, in this process, losing write responses all along.
    let faulty = faulty_index_storage(index_storage.clone());
    let runtime = IndexerRuntime::new(
        Indexer::new(
            Metastore::new(faulty.clone()),
            StagingBuckets::new(StorageResolver::new(moto_s3_config())),
        ),
        Vec::new(),
    )
    .await
    .unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let in_process = {
        let (running, sqs, queue_url) = (running.clone(), sqs.clone(), queue_url.clone());
        tokio::spawn(async move {
            let poller = Poller {
                client: sqs,
                queue_url,
                runtime: &runtime,
                visibility_timeout: Duration::from_secs(3),
                wait_time: Duration::from_secs(1),
                retry_backoff: Duration::from_secs(1),
                batch_size: 1,
            };
            while running.load(Ordering::Relaxed) {
                // A lost response may fail a batch: its messages come back, as from SQS.
                let _ = poller.poll_once().await;
            }
        })
    };

    // Before the raise: some objects in the index's one group, with maintenance among them.
    let mut seed = 0x5eed_u64;
    let mut before: Vec<(String, String)> = (0..BEFORE_RAISE)
        .map(|object| (INDEX.to_string(), eventbridge_body(&bucket, &key(object))))
        .collect();
    before.insert(
        20,
        (INDEX.to_string(), r#"{"type": "maintenance"}"#.to_string()),
    );
    cluster.send(&before, "before").await;
    cluster.storm(KILLS / 3, &mut seed, started).await;

    // After: every object to its shard's group (the first ones again), every fifth twice.
    let mut after = Vec::new();
    for object in 0..OBJECTS {
        let group = message_group(INDEX, shard_for(&key(object), SHARDS));
        let body = eventbridge_body(&bucket, &key(object));
        after.push((group.clone(), body.clone()));
        if object % 5 == 0 {
            after.push((group, body));
        }
        if object % 50 == 49 {
            after.push((INDEX.to_string(), r#"{"type": "maintenance"}"#.to_string()));
        }
    }
    cluster.send(&after, "after").await;
    cluster.storm(KILLS - KILLS / 3, &mut seed, started).await;
    running.store(false, Ordering::Relaxed);
    in_process.await.unwrap();
    assert!(faulty.faults_injected() > 0, "no write response was lost");

    // Maintenance collects what the crashes and lost responses left.
    let output = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .args([
            "maintenance",
            "--index-uri",
            &format!("s3://{bucket}/index"),
        ])
        .args(["--index", INDEX])
        .envs(cluster.env(true))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    check(&metastore, &index_storage).await;
}

async fn check(metastore: &Metastore, index_storage: &SharedStorage) {
    // Every good record exactly once.
    let counts = searchable_ids(metastore, INDEX).await;
    let expected: BTreeMap<u64, usize> = (0..OBJECTS * RECORDS_PER_OBJECT)
        .filter(|id| id % BAD_EVERY != BAD_EVERY - 1)
        .map(|id| (id, 1))
        .collect();
    assert_eq!(counts, expected, "every good record exactly once");

    // Every bad record kept once.
    let kept = kept_records(index_storage, INDEX).await;
    assert_eq!(kept.len() as u64, OBJECTS * RECORDS_PER_OBJECT / BAD_EVERY);
    assert!(kept.values().all(|count| *count == 1), "{kept:?}");

    // Every shard published; every object checkpointed; nothing left over.
    let metadata = metastore.index_metadata(INDEX).await.unwrap();
    assert_eq!(
        metadata.shards.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(metadata.checkpoint.objects.len() as u64, OBJECTS);
    assert!(
        metadata
            .splits
            .values()
            .all(|split| split.state == SplitState::Published),
        "{:?}",
        metadata
            .splits
            .values()
            .map(|split| split.state)
            .collect::<Vec<_>>()
    );
    let files: Vec<String> = index_storage
        .list("indexes/shards/splits/")
        .await
        .unwrap()
        .into_iter()
        .map(|object| object.path)
        .collect();
    let published: Vec<String> = metadata
        .splits
        .keys()
        .map(|split_id| format!("indexes/shards/splits/{split_id}.split"))
        .collect();
    assert_eq!(files, published, "no orphan split file");
    let orphans = metastore.unreferenced_segments(INDEX).await.unwrap();
    assert!(
        orphans.is_empty(),
        "orphan checkpoint segments: {orphans:?}"
    );
}
