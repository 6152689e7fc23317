//! A delete task applied by `hydrant maintenance` processes killed with SIGKILL at random
//! moments, over and over, then finished by a last run: the task deletes exactly the records
//! of one user, every other record is still found exactly once, the task's counts are those of
//! an uninterrupted run, and once garbage collection has run no split file that held a deleted
//! record is left. On local disk: what is tested is the order of the writes, which is the same
//! on S3.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Schedule;
use hydrant_ingest::testing::LocalIndex;
use hydrant_metastore::paths;
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use serde_json::{Value, json};

const INDEX: &str = "events";
const CONFIG: &str = r#"
index_id: events
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64, fast: true}
    - {name: user, type: text, tokenizer: raw}
  timestamp_field: ts
indexing_settings:
  merge_policy: {type: no_merge}
"#;
const SPLITS: u64 = 60;
const RECORDS_PER_SPLIT: u64 = 25;
/// At most this many runs are killed.
const MAX_KILLS: usize = 24;
/// The kills and the last runs must end within this.
const BOUND: Duration = Duration::from_secs(300);

fn user_of(id: u64) -> String {
    format!("u{}", id % 29)
}

fn hydrant(index_dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydrant"));
    command
        .args(args)
        .arg("--index-uri")
        .arg(index_dir)
        // Replaced split files are deleted by the first run after the task is applied.
        .env("HYDRANT_GC_GRACE_PERIOD", "0s")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn run_to_end(mut command: Command) -> Value {
    let output = command.stdout(Stdio::piped()).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

fn kill_after(mut child: Child, millis: u64) -> bool {
    std::thread::sleep(Duration::from_millis(millis));
    let finished = child.try_wait().unwrap().is_some();
    if !finished {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    !finished
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_maintenance_runs_finish_a_delete_task_exactly() {
    let started = Instant::now();
    let local = LocalIndex::with_index(CONFIG).await;
    let index_dir = local.temp_dir.path().join("index");
    for split in 0..SPLITS {
        let body: String = (split * RECORDS_PER_SPLIT..(split + 1) * RECORDS_PER_SPLIT)
            .map(|id| {
                let record = json!({"ts": 1_700_000_000 + id, "id": id, "user": user_of(id)});
                record.to_string() + "\n"
            })
            .collect();
        let key = format!("object-{split}");
        local.put_object(&key, body.into_bytes()).await;
        local.index(INDEX, &[&key]).await;
    }
    let deleted = |id: u64| user_of(id) == "u7";
    let all: Vec<u64> = (0..SPLITS * RECORDS_PER_SPLIT).collect();
    let holding: BTreeSet<u64> = (all.iter())
        .filter(|id| deleted(**id))
        .map(|id| id / RECORDS_PER_SPLIT)
        .collect();
    let files_before = split_files(&local).await;

    // The task is recorded whole, then applied by runs killed part way.
    let created = run_to_end(hydrant(
        &index_dir,
        &[
            "index",
            "delete-docs",
            "--index",
            INDEX,
            "--query",
            "user:u7",
            "--apply",
            "false",
            "--json",
        ],
    ));
    assert_eq!(created["opstamp"], 1, "{created}");
    // Runs killed at random moments until one finishes on its own: each kill lands somewhere
    // in the application of the task to a split (download, rewrite, upload, the intent, the
    // commit, the settling).
    let mut schedule = Schedule(26);
    let (mut killed, mut mid_task, mut mid_application) = (0, 0, 0);
    while killed < MAX_KILLS {
        let child = hydrant(&index_dir, &["maintenance", "--index", INDEX])
            .spawn()
            .unwrap();
        if !kill_after(child, schedule.next_millis(30, 700)) {
            break;
        }
        killed += 1;
        let tasks = local.metastore.delete_tasks(INDEX).await.unwrap();
        let progress = &tasks.tasks[0].progress;
        let applied = progress.splits_rewritten + progress.splits_unchanged;
        mid_task += usize::from(0 < applied && applied < SPLITS);
        mid_application += usize::from(!tasks.in_flight.is_empty());
        assert!(started.elapsed() < BOUND, "the kills took too long");
    }
    eprintln!(
        "{killed} runs killed before one finished: {mid_task} part way through the task, \
         {mid_application} between an application's intent and its settling"
    );
    assert!(killed >= 2, "too few runs killed: {killed}");
    assert!(mid_task >= 1, "no kill landed part way through the task");
    // A run that finishes applies what is left; the next one collects the replaced files.
    run_to_end(hydrant(&index_dir, &["maintenance", "--index", INDEX]));
    // With no indexer running, what killed runs left may go at once: rewrites staged but never
    // published (abandoned), and then their files, which no document knows.
    let mut collect = hydrant(&index_dir, &["maintenance", "--index", INDEX]);
    collect
        .env("HYDRANT_STAGED_EXPIRY", "0s")
        .env("HYDRANT_ORPHAN_MIN_AGE", "0s");
    run_to_end(collect);
    assert!(started.elapsed() < BOUND, "the runs took too long");

    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let mut request = SearchRequest::new("*");
    request.max_hits = 10_000;
    let answer = service.search(INDEX, &request).await.unwrap();
    assert!(answer.errors.is_empty(), "{:?}", answer.errors);
    let found: Vec<u64> = (answer.hits.iter())
        .map(|hit| hit["id"].as_u64().unwrap())
        .collect();
    let unique: BTreeSet<u64> = found.iter().copied().collect();
    assert_eq!(unique.len(), found.len(), "a record is found twice");
    let expected: BTreeSet<u64> = all.iter().copied().filter(|id| !deleted(*id)).collect();
    assert_eq!(unique, expected, "exactly the task's records are gone");

    let tasks = local.metastore.delete_tasks(INDEX).await.unwrap();
    let task = &tasks.tasks[0];
    assert_eq!(
        task.progress.docs_deleted,
        all.iter().filter(|id| deleted(**id)).count() as u64,
        "counted once, whatever was interrupted"
    );
    assert_eq!(task.progress.splits_rewritten, holding.len() as u64);
    assert_eq!(
        task.progress.splits_unchanged,
        SPLITS - holding.len() as u64
    );
    assert!(
        task.progress.completed_timestamp.is_some(),
        "{:?}",
        task.progress
    );
    assert!(tasks.in_flight.is_empty());
    // No file of a split that held a deleted record is left, and nothing else is either:
    // every split file is a published split's.
    let files_after = split_files(&local).await;
    let metadata = local.metastore.index_splits(INDEX).await.unwrap();
    let published: BTreeSet<String> = (metadata.published_splits())
        .map(|split| split.split_id.clone())
        .collect();
    assert_eq!(files_after, published, "orphans or replaced files left");
    let replaced: Vec<&String> = files_before.difference(&files_after).collect();
    assert_eq!(replaced.len(), holding.len(), "{replaced:?}");
}

async fn split_files(local: &LocalIndex) -> BTreeSet<String> {
    let prefix = paths::splits_prefix(INDEX);
    let listed = local.index_storage.list(&prefix).await.unwrap();
    listed
        .iter()
        .filter_map(|object| object.path.strip_prefix(&prefix))
        .filter_map(|name| name.strip_suffix(".split"))
        .map(str::to_string)
        .collect()
}
