//! A crash storm: `hydrant poll` (the indexer outside Lambda) is killed with SIGKILL at random
//! moments, over and over, while it indexes a FIFO queue of Firehose objects on S3 and SQS
//! (moto). Then a last indexer drains the queue and maintenance collects what the crashes
//! left. Every good record must be searchable exactly once, every bad record kept exactly
//! once, and no split, upload or scratch file left over.
//!
//! Batches are of one message: moto, unlike SQS, redelivers only the last message of a batch
//! whose visibility timed out together (the rest of the group starves), and a killed poller
//! leaves exactly such batches behind.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use common::{
    Schedule, aws_env, fifo_queue, kept_records, messages_left, searchable_ids, stop, storm_records,
};
use hydrant_index::config::IndexConfig;
use hydrant_ingest::testing::eventbridge_body;
use hydrant_metastore::{Metastore, SplitState};
use hydrant_storage::testing::{moto_bucket, moto_endpoint, moto_s3_config};
use hydrant_storage::{PutMode, SharedStorage, StorageResolver, StorageUri};

const OBJECTS: u64 = 120;
const RECORDS_PER_OBJECT: u64 = 20;
/// Every tenth record of an object is bad.
const BAD_EVERY: u64 = 10;
const KILLS: usize = 16;
/// The whole storm, drain included, must end within this.
const BOUND: Duration = Duration::from_secs(240);

const CONFIG: &str = r#"
index_id: storm
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

struct Storm {
    bucket: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
    scratch: tempfile::TempDir,
}

impl Storm {
    fn poller(&self) -> Child {
        self.poller_with_output(Stdio::null())
    }

    fn poller_with_output(&self, stdout: Stdio) -> Child {
        Command::new(env!("CARGO_BIN_EXE_hydrant"))
            .args([
                "poll",
                "--index-uri",
                &format!("s3://{}/index", self.bucket),
            ])
            .args(["--queue-url", &self.queue_url])
            .args([
                "--visibility-timeout-secs",
                "2",
                "--wait-time-secs",
                "1",
                "--batch-size",
                "1",
            ])
            .envs(self.env())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .expect("hydrant poll starts")
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = aws_env();
        env.extend([
            (
                "HYDRANT_TEMP_DIR",
                self.scratch.path().display().to_string(),
            ),
            // Nothing searches meanwhile: what the crashes leave may be collected at once.
            ("HYDRANT_GC_GRACE_PERIOD", "0s".into()),
            ("HYDRANT_STAGED_EXPIRY", "0s".into()),
            ("HYDRANT_ORPHAN_MIN_AGE", "0s".into()),
        ]);
        env
    }

    async fn messages_left(&self) -> u64 {
        messages_left(&self.sqs, &self.queue_url).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_storms_lose_nothing_and_duplicate_nothing() {
    let started = Instant::now();
    let (_, bucket) = moto_bucket("storm").await;
    let resolver = StorageResolver::new(moto_s3_config());
    let staging: SharedStorage = resolver
        .resolve(&StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: String::new(),
        })
        .await
        .unwrap();
    let index_storage: SharedStorage = resolver
        .resolve(&StorageUri::S3 {
            bucket: bucket.clone(),
            prefix: "index".into(),
        })
        .await
        .unwrap();
    let metastore = Metastore::new(index_storage.clone());
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();

    let sqs = hydrant_ingest::queue::sqs_client(Some(&moto_endpoint())).await;
    let queue_url = fifo_queue(&sqs, &bucket, 2).await;
    let storm = Storm {
        bucket: bucket.clone(),
        queue_url,
        sqs,
        scratch: tempfile::tempdir().unwrap(),
    };

    // The objects, announced in order in one group, with maintenance messages among them.
    let mut bodies = Vec::new();
    for object in 0..OBJECTS {
        let key = format!("firehose/2026/12/01/10/object-{object:03}");
        staging
            .put(&key, body(object).into_bytes().into(), PutMode::Create)
            .await
            .unwrap();
        bodies.push(eventbridge_body(&bucket, &key));
        if object % 9 == 8 {
            bodies.push(r#"{"type": "maintenance"}"#.to_string());
        }
    }
    for (chunk_number, chunk) in bodies.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(position, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(position.to_string())
                    .message_body(body)
                    .message_group_id("storm")
                    .message_deduplication_id(format!("{chunk_number}-{position}"))
                    .build()
                    .unwrap()
            })
            .collect();
        let sent = storm
            .sqs
            .send_message_batch()
            .queue_url(&storm.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(sent.failed().is_empty());
    }

    // The storm.
    let mut schedule = Schedule(0x5eed);
    for _ in 0..KILLS {
        let mut poller = storm.poller();
        tokio::time::sleep(Duration::from_millis(schedule.next_millis(1_200, 3_500))).await;
        poller.kill().unwrap();
        poller.wait().unwrap();
        let checkpointed = metastore
            .index_metadata("storm")
            .await
            .unwrap()
            .checkpoint
            .objects
            .len();
        let scratch = std::fs::read_dir(storm.scratch.path()).unwrap().count();
        eprintln!("killed; {checkpointed} of {OBJECTS} objects indexed, {scratch} scratch entries");
        assert!(started.elapsed() < BOUND, "the storm took too long");
    }

    // A last indexer drains the queue and stops cleanly once it is polling.
    let mut poller = storm.poller_with_output(Stdio::piped());
    let mut stdout = std::io::BufReader::new(poller.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("Polling"), "{line}");
    while storm.messages_left().await > 0 {
        assert!(started.elapsed() < BOUND, "the queue did not drain");
        assert!(
            poller.try_wait().unwrap().is_none(),
            "the last indexer exited"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A stopped indexer exits cleanly.
    stop(poller);

    // Maintenance collects what the crashes left: abandoned uploads and their files.
    let output = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .args([
            "maintenance",
            "--index-uri",
            &format!("s3://{bucket}/index"),
            "--index",
            "storm",
        ])
        .envs(storm.env())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Every good record exactly once.
    let counts = searchable_ids(&metastore, "storm").await;
    let expected: BTreeMap<u64, usize> = (0..OBJECTS * RECORDS_PER_OBJECT)
        .filter(|id| id % BAD_EVERY != BAD_EVERY - 1)
        .map(|id| (id, 1))
        .collect();
    assert_eq!(counts, expected, "every good record exactly once");

    // Every bad record kept exactly once (one error file per object, written again, never
    // twice, by the runs a crash interrupted).
    let kept = kept_records(&index_storage, "storm").await;
    assert_eq!(kept.len() as u64, OBJECTS * RECORDS_PER_OBJECT / BAD_EVERY);
    assert!(kept.values().all(|count| *count == 1), "{kept:?}");

    // Nothing left over: only published splits, each with its file, no other file.
    let metadata = metastore.index_metadata("storm").await.unwrap();
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
        .list("indexes/storm/splits/")
        .await
        .unwrap()
        .into_iter()
        .map(|object| object.path)
        .collect();
    let published: Vec<String> = metadata
        .splits
        .keys()
        .map(|split_id| format!("indexes/storm/splits/{split_id}.split"))
        .collect();
    assert_eq!(files, published, "no orphan split file");
    let scratch: Vec<_> = std::fs::read_dir(storm.scratch.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        scratch.is_empty(),
        "scratch files of killed indexers are gone: {scratch:?}"
    );
}
