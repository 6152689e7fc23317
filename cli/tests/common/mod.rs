//! What the CLI's end-to-end tests share: the AWS environment that points a `hydrant` process
//! at moto, FIFO queues and their depth, the port a child listens on, and stopping a child the way
//! an operator does, and the schedule the crash tests kill by.

#![allow(dead_code)]

use std::io::Read;
use std::process::Child;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use hydrant_storage::testing::moto_endpoint;

/// A small deterministic generator of kill delays: the schedule is the same every run (what a
/// kill hits still depends on timing, which is the point: every moment must be safe).
pub struct Schedule(pub u64);

impl Schedule {
    /// A delay in `low..high` milliseconds.
    pub fn next_millis(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        low + (self.0 >> 33) % (high - low)
    }
}

/// The port a `hydrant serve` or `hydrant local` child started with `--listen 127.0.0.1:0` says
/// it listens on, and the standard output it printed up to that line (its stdout must be piped).
///
/// Why not pick a free port first and pass it: the port is free only until the process binds
/// it, and while another test thread forks, the child holds a copy of the probe listener, so a
/// connection can land in that copy and be reset. A port the server bound itself has no such
/// window, and its line says the server is ready.
pub fn listening_port(child: &mut Child) -> (u16, String) {
    let mut stdout = child.stdout.take().expect("the child's stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Byte by byte: what follows the line stays in the pipe for `stop` to read.
        let mut printed = Vec::new();
        let mut byte = [0u8; 1];
        let port = loop {
            match stdout.read(&mut byte) {
                Ok(1) => printed.push(byte[0]),
                _ => break None,
            }
            if byte[0] != b'\n' {
                continue;
            }
            let text = String::from_utf8_lossy(&printed);
            let line = text.lines().last().unwrap_or_default();
            if let Some((_, rest)) = line.split_once("http://127.0.0.1:") {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                break digits.parse::<u16>().ok();
            }
        };
        let _ = sender.send((stdout, port, String::from_utf8_lossy(&printed).into_owned()));
    });
    let (stdout, port, printed) = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the child did not say where it listens within 60 s");
    child.stdout = Some(stdout);
    let port = port.unwrap_or_else(|| panic!("the child exited without listening:\n{printed}"));
    (port, printed)
}

/// The environment of a `hydrant` process that talks to moto.
pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto_endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// A FIFO queue on moto named `{name}.fifo`; returns its URL.
pub async fn fifo_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
) -> String {
    sqs.create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}

/// Messages still in the queue, visible or in flight.
pub async fn messages_left(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| attributes[name].parse::<u64>().unwrap())
    .sum()
}

/// Stops `child` with SIGTERM, waits at most 30 s, and checks it exited cleanly; returns its
/// standard output (empty when it was not piped).
pub fn stop(mut child: Child) -> String {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "hydrant did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The records of staging object `object` in the storm tests: `per_object` JSON lines with ids
/// `object * per_object + i`, the last of every `bad_every` one refused by the mapping (its id
/// is a string).
pub fn storm_records(object: u64, per_object: u64, bad_every: u64) -> String {
    (0..per_object)
        .map(|i| {
            let id = object * per_object + i;
            if i % bad_every == bad_every - 1 {
                format!("{{\"ts\":1700000000,\"id\":\"bad-{id}\"}}\n")
            } else {
                format!("{{\"ts\":{},\"id\":{id}}}\n", 1_700_000_000 + id)
            }
        })
        .collect()
}

/// How many times each id is searchable in `index_id` (up to 10,000 hits).
pub async fn searchable_ids(
    metastore: &hydrant_metastore::Metastore,
    index_id: &str,
) -> std::collections::BTreeMap<u64, usize> {
    let service = hydrant_search::SearchService::new(
        metastore.clone(),
        hydrant_search::SearcherConfig::default(),
    );
    let mut request = hydrant_search::SearchRequest::new("*");
    request.max_hits = 10_000;
    let response = service.search(index_id, &request).await.unwrap();
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let mut counts = std::collections::BTreeMap::new();
    for hit in &response.hits {
        *counts.entry(hit["id"].as_u64().unwrap()).or_default() += 1;
    }
    counts
}

/// How many times each rejected record is kept under `index_id`'s errors.
pub async fn kept_records(
    index_storage: &hydrant_storage::SharedStorage,
    index_id: &str,
) -> std::collections::BTreeMap<String, usize> {
    let mut kept = std::collections::BTreeMap::new();
    let prefix = format!("indexes/{index_id}/errors/");
    for file in index_storage.list(&prefix).await.unwrap() {
        let bytes = index_storage.get(&file.path).await.unwrap().bytes;
        let (reader, _) = hydrant_ingest::firehose::decompressing_reader(&bytes[..]).unwrap();
        let text = hydrant_ingest::firehose::read_all(reader).unwrap();
        for line in String::from_utf8(text).unwrap().lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            *kept
                .entry(entry["record"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    kept
}
