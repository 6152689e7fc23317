//! The storage contract, run against every backend: local disk, memory, and S3 (moto).
//!
//! Each `conformance_*` function states one clause of the contract in `storage/src/lib.rs`; the
//! `backend_tests!` macro runs all of them against one backend.

use std::sync::Arc;

use bytes::Bytes;
use hydrant_storage::testing::{
    Fault, FaultRule, FaultyStorage, MemoryStorage, Operation, ThrottledStorage,
};
use hydrant_storage::{LocalStorage, PutMode, PutPayload, SharedStorage, Storage};

async fn conformance_put_get_roundtrip(storage: SharedStorage) {
    let written = storage
        .put(
            "a/b/object.bin",
            Bytes::from_static(b"hello world").into(),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    let read = storage.get("a/b/object.bin").await.unwrap();
    assert_eq!(&read.bytes[..], b"hello world");
    assert_eq!(read.meta.size, 11);
    assert_eq!(
        read.meta.version, written.version,
        "get returns the version put returned"
    );
    let head = storage.head("a/b/object.bin").await.unwrap();
    assert_eq!(head.size, 11);
    assert_eq!(head.version, written.version);
    // Empty objects are objects too.
    storage
        .put("empty", Bytes::new().into(), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(storage.get("empty").await.unwrap().bytes.len(), 0);
    assert_eq!(storage.head("empty").await.unwrap().size, 0);
}

async fn conformance_missing_objects(storage: SharedStorage) {
    assert!(storage.get("missing").await.unwrap_err().is_not_found());
    assert!(storage.head("missing").await.unwrap_err().is_not_found());
    assert!(
        storage
            .get_range("missing", 0..1)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Deletes are idempotent.
    storage.delete("missing").await.unwrap();
}

async fn conformance_ranged_reads(storage: SharedStorage) {
    let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    storage
        .put("ranged", content.clone().into(), PutMode::Overwrite)
        .await
        .unwrap();
    for range in [0..1, 0..10_000, 5_000..5_001, 9_990..10_000, 1_234..7_777] {
        let bytes = storage.get_range("ranged", range.clone()).await.unwrap();
        assert_eq!(
            &bytes[..],
            &content[range.start as usize..range.end as usize]
        );
    }
    assert_eq!(
        storage.get_range("ranged", 100..100).await.unwrap().len(),
        0
    );
    // No short reads: a range past the end is an error.
    assert!(storage.get_range("ranged", 9_999..10_001).await.is_err());
    assert!(storage.get_range("ranged", 20_000..20_010).await.is_err());
}

async fn conformance_overwrite_changes_version(storage: SharedStorage) {
    let first = storage
        .put("doc", "one".into(), PutMode::Overwrite)
        .await
        .unwrap();
    let second = storage
        .put("doc", "two".into(), PutMode::Overwrite)
        .await
        .unwrap();
    assert_ne!(first.version, second.version);
    assert_eq!(&storage.get("doc").await.unwrap().bytes[..], b"two");
    assert_eq!(storage.head("doc").await.unwrap().version, second.version);
}

async fn conformance_create_only_if_absent(storage: SharedStorage) {
    storage
        .put("created", "first".into(), PutMode::Create)
        .await
        .unwrap();
    let error = storage
        .put("created", "second".into(), PutMode::Create)
        .await
        .unwrap_err();
    assert!(error.is_precondition_failed(), "{error}");
    assert_eq!(&storage.get("created").await.unwrap().bytes[..], b"first");
    // After a delete, create succeeds again.
    storage.delete("created").await.unwrap();
    storage
        .put("created", "third".into(), PutMode::Create)
        .await
        .unwrap();
    assert_eq!(&storage.get("created").await.unwrap().bytes[..], b"third");
}

async fn conformance_update_only_if_unchanged(storage: SharedStorage) {
    let first = storage
        .put("cas", "v1".into(), PutMode::Create)
        .await
        .unwrap();
    let second = storage
        .put("cas", "v2".into(), PutMode::Update(first.version.clone()))
        .await
        .unwrap();
    // The stale version loses and changes nothing.
    let error = storage
        .put("cas", "v3".into(), PutMode::Update(first.version))
        .await
        .unwrap_err();
    assert!(error.is_precondition_failed(), "{error}");
    assert_eq!(&storage.get("cas").await.unwrap().bytes[..], b"v2");
    storage
        .put("cas", "v3".into(), PutMode::Update(second.version.clone()))
        .await
        .unwrap();
    // Updating a deleted object is "not found".
    storage.delete("cas").await.unwrap();
    let error = storage
        .put("cas", "v4".into(), PutMode::Update(second.version))
        .await
        .unwrap_err();
    assert!(
        error.is_not_found() || error.is_precondition_failed(),
        "{error}"
    );
    assert!(storage.get("cas").await.unwrap_err().is_not_found());
}

async fn conformance_list_by_prefix(storage: SharedStorage) {
    for path in [
        "list/b/2.split",
        "list/a/1.split",
        "list/a/0.split",
        "list/ab",
        "listing/other",
        "unrelated",
    ] {
        storage
            .put(path, "x".into(), PutMode::Overwrite)
            .await
            .unwrap();
    }
    let paths = |objects: Vec<hydrant_storage::ObjectMeta>| -> Vec<String> {
        objects.into_iter().map(|object| object.path).collect()
    };
    assert_eq!(
        paths(storage.list("list/").await.unwrap()),
        [
            "list/a/0.split",
            "list/a/1.split",
            "list/ab",
            "list/b/2.split"
        ]
    );
    assert_eq!(
        paths(storage.list("list/a").await.unwrap()),
        ["list/a/0.split", "list/a/1.split", "list/ab"]
    );
    assert_eq!(
        paths(storage.list("list/a/").await.unwrap()),
        ["list/a/0.split", "list/a/1.split"]
    );
    assert_eq!(paths(storage.list("lis").await.unwrap()).len(), 5);
    assert!(storage.list("nothing/here/").await.unwrap().is_empty());
    let listed = storage.list("list/a/0").await.unwrap();
    assert_eq!(listed[0].size, 1);
    assert_eq!(
        listed[0].version,
        storage.head("list/a/0.split").await.unwrap().version
    );
    storage.delete("list/a/0.split").await.unwrap();
    assert_eq!(
        paths(storage.list("list/a/").await.unwrap()),
        ["list/a/1.split"]
    );
}

async fn conformance_file_payloads(storage: SharedStorage) {
    let temp_dir = tempfile::tempdir().unwrap();
    // Large enough to be a multipart upload on S3 in tests (threshold 6 MiB, 5 MiB parts).
    let content: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let file_path = temp_dir.path().join("big.bin");
    std::fs::write(&file_path, &content).unwrap();
    storage
        .put(
            "files/big.bin",
            PutPayload::File(file_path.clone()),
            PutMode::Create,
        )
        .await
        .unwrap();
    assert_eq!(
        storage.head("files/big.bin").await.unwrap().size,
        content.len() as u64
    );
    let across_parts = 5 * 1024 * 1024 - 10..5 * 1024 * 1024 + 10;
    assert_eq!(
        &storage
            .get_range("files/big.bin", across_parts.clone())
            .await
            .unwrap()[..],
        &content[across_parts.start as usize..across_parts.end as usize]
    );
    assert!(storage.get("files/big.bin").await.unwrap().bytes[..] == content[..]);
    // A small file is a single put.
    let small_path = temp_dir.path().join("small.bin");
    std::fs::write(&small_path, b"small").unwrap();
    storage
        .put(
            "files/small.bin",
            PutPayload::File(small_path),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    assert_eq!(
        &storage.get("files/small.bin").await.unwrap().bytes[..],
        b"small"
    );
}

async fn conformance_streamed_reads(storage: SharedStorage) {
    use futures::TryStreamExt;
    let content: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let written = storage
        .put("streamed", content.clone().into(), PutMode::Overwrite)
        .await
        .unwrap();
    let stream = storage.get_stream("streamed").await.unwrap();
    assert_eq!(stream.meta.size, content.len() as u64);
    assert_eq!(stream.meta.version, written.version);
    let chunks: Vec<Bytes> = stream.chunks.try_collect().await.unwrap();
    assert!(chunks.iter().all(|chunk| !chunk.is_empty()));
    assert_eq!(chunks.concat(), content);
    assert!(
        storage
            .get_stream("missing")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn conformance_conditional_reads(storage: SharedStorage) {
    let first = storage
        .put("cached", "one".into(), PutMode::Overwrite)
        .await
        .unwrap();
    assert!(
        storage
            .get_if_modified("cached", &first.version)
            .await
            .unwrap()
            .is_none()
    );
    let second = storage
        .put("cached", "two".into(), PutMode::Overwrite)
        .await
        .unwrap();
    let changed = storage
        .get_if_modified("cached", &first.version)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&changed.bytes[..], b"two");
    assert_eq!(changed.meta.version, second.version);
    assert!(
        storage
            .get_if_modified("cached", &second.version)
            .await
            .unwrap()
            .is_none()
    );
    storage.delete("cached").await.unwrap();
    assert!(
        storage
            .get_if_modified("cached", &second.version)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn conformance_rejects_empty_paths(storage: SharedStorage) {
    assert!(
        storage
            .put("", "x".into(), PutMode::Overwrite)
            .await
            .is_err()
    );
    assert!(storage.get("").await.is_err());
}

/// Keys S3 accepts but a file system cannot hold as they are: ordinary objects on S3 and in
/// memory, a clear refusal on local disk (never a file outside the root).
const UNUSUAL_KEYS: [&str; 5] = ["/abs", "a/../b", "trailing/", "a//b", "./x"];

async fn any_s3_key_is_a_path(storage: SharedStorage) {
    for (number, key) in UNUSUAL_KEYS.iter().enumerate() {
        let content = number.to_string().into_bytes();
        storage
            .put(key, content.clone().into(), PutMode::Create)
            .await
            .unwrap_or_else(|error| panic!("{key}: {error}"));
        assert_eq!(storage.get(key).await.unwrap().bytes, content, "{key}");
        assert_eq!(storage.head(key).await.unwrap().size, 1, "{key}");
        assert_eq!(
            storage.get_range(key, 0..1).await.unwrap(),
            content,
            "{key}"
        );
    }
    // Stored under exactly these keys, not normalized ones.
    let listed: Vec<String> = storage
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|object| object.path)
        .collect();
    let mut expected: Vec<String> = UNUSUAL_KEYS.iter().map(|key| key.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for key in UNUSUAL_KEYS {
        storage.delete(key).await.unwrap();
        assert!(storage.head(key).await.unwrap_err().is_not_found(), "{key}");
    }
}

/// N tasks each add M to one counter through conditional updates; the result must be
/// exactly N×M, and each successful write must have seen a distinct value.
async fn conformance_compare_and_swap_race(storage: SharedStorage) {
    const NUM_TASKS: u64 = 8;
    const INCREMENTS_PER_TASK: u64 = 10;
    storage
        .put("race/counter", "0".into(), PutMode::Create)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..NUM_TASKS {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            let mut values_written = Vec::new();
            for _ in 0..INCREMENTS_PER_TASK {
                loop {
                    let current = storage.get("race/counter").await.unwrap();
                    let value: u64 = std::str::from_utf8(&current.bytes)
                        .unwrap()
                        .parse()
                        .unwrap();
                    let next = value + 1;
                    match storage
                        .put(
                            "race/counter",
                            next.to_string().into_bytes().into(),
                            PutMode::Update(current.meta.version),
                        )
                        .await
                    {
                        Ok(_) => {
                            values_written.push(next);
                            break;
                        }
                        Err(error) if error.is_precondition_failed() => continue,
                        Err(error) => panic!("unexpected error in CAS loop: {error}"),
                    }
                }
            }
            values_written
        }));
    }
    let mut all_written = Vec::new();
    for task in tasks {
        all_written.extend(task.await.unwrap());
    }
    let final_value: u64 = std::str::from_utf8(&storage.get("race/counter").await.unwrap().bytes)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(final_value, NUM_TASKS * INCREMENTS_PER_TASK);
    all_written.sort_unstable();
    assert_eq!(
        all_written,
        (1..=NUM_TASKS * INCREMENTS_PER_TASK).collect::<Vec<_>>()
    );
}

/// Concurrent creates of one path: exactly one wins.
async fn conformance_create_race(storage: SharedStorage) {
    let mut tasks = Vec::new();
    for task_id in 0..8u32 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            storage
                .put(
                    "race/created",
                    task_id.to_string().into_bytes().into(),
                    PutMode::Create,
                )
                .await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(error) => assert!(error.is_precondition_failed(), "{error}"),
        }
    }
    assert_eq!(winners, 1);
}

macro_rules! backend_tests {
    ($backend:ident, $make_storage:expr) => {
        mod $backend {
            use super::*;

            backend_tests!(@tests $make_storage;
                conformance_put_get_roundtrip,
                conformance_missing_objects,
                conformance_ranged_reads,
                conformance_overwrite_changes_version,
                conformance_create_only_if_absent,
                conformance_update_only_if_unchanged,
                conformance_list_by_prefix,
                conformance_file_payloads,
                conformance_streamed_reads,
                conformance_conditional_reads,
                conformance_rejects_empty_paths,
                conformance_compare_and_swap_race,
                conformance_create_race,
            );
        }
    };
    (@tests $make_storage:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let (storage, _guard) = $make_storage(stringify!($test)).await;
                super::$test(storage).await;
            }
        )*
    };
}

async fn local_storage(_name: &str) -> (SharedStorage, tempfile::TempDir) {
    let temp_dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::new(temp_dir.path().join("root")).unwrap();
    (Arc::new(storage), temp_dir)
}

async fn memory_storage(_name: &str) -> (SharedStorage, ()) {
    (Arc::new(MemoryStorage::default()), ())
}

async fn s3_storage(name: &str) -> (SharedStorage, ()) {
    let storage = hydrant_storage::testing::moto_storage(name, "some/prefix").await;
    (Arc::new(storage), ())
}

backend_tests!(local, local_storage);
backend_tests!(memory, memory_storage);
backend_tests!(s3, s3_storage);

/// The latency wrapper keeps every clause of the contract of what it wraps.
async fn throttled_storage(_name: &str) -> (SharedStorage, ()) {
    let inner = Arc::new(MemoryStorage::default());
    let storage = ThrottledStorage::new(inner, std::time::Duration::from_millis(1));
    (Arc::new(storage), ())
}

backend_tests!(throttled, throttled_storage);

/// So does the fault-injecting wrapper while no rule picks a request: here a rule that only
/// fails a path no clause uses, to show that rules leave other requests alone.
async fn faulty_storage(_name: &str) -> (SharedStorage, ()) {
    let storage = FaultyStorage::new(Arc::new(MemoryStorage::default()));
    storage.inject(
        FaultRule::new(Operation::Any, Fault::Unavailable)
            .path_contains("never-used-by-the-suite")
            .times(u64::MAX),
    );
    (Arc::new(storage), ())
}

backend_tests!(faulty, faulty_storage);

#[tokio::test]
async fn s3_accepts_any_key() {
    let (storage, _) = s3_storage("any-key").await;
    any_s3_key_is_a_path(storage).await;
}

#[tokio::test]
async fn memory_accepts_any_key() {
    any_s3_key_is_a_path(Arc::new(MemoryStorage::default())).await;
}

#[tokio::test]
async fn local_refuses_keys_it_cannot_map_to_files() {
    let temp_dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::new(temp_dir.path().join("root")).unwrap();
    for key in UNUSUAL_KEYS {
        let error = storage
            .put(key, "x".into(), PutMode::Overwrite)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("local disk"), "{key}: {error}");
        assert!(storage.get(key).await.is_err(), "{key}");
    }
    assert!(
        !temp_dir.path().join("b").exists(),
        "nothing escapes the root"
    );
}

/// Two handles on one directory behave like two processes sharing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_cas_race_across_handles() {
    let temp_dir = tempfile::tempdir().unwrap();
    let first = LocalStorage::new(temp_dir.path()).unwrap();
    let second = LocalStorage::new(temp_dir.path()).unwrap();
    first
        .put("race/counter", "0".into(), PutMode::Create)
        .await
        .unwrap();
    let handles: [SharedStorage; 2] = [Arc::new(first), Arc::new(second)];
    let mut tasks = Vec::new();
    for task_id in 0..6 {
        let storage = handles[task_id % 2].clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let current = storage.get("race/counter").await.unwrap();
                    let value: u64 = std::str::from_utf8(&current.bytes)
                        .unwrap()
                        .parse()
                        .unwrap();
                    let put = storage
                        .put(
                            "race/counter",
                            (value + 1).to_string().into_bytes().into(),
                            PutMode::Update(current.meta.version),
                        )
                        .await;
                    if put.is_ok() {
                        break;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let value = handles[0].get("race/counter").await.unwrap().bytes;
    assert_eq!(&value[..], b"60");
}

/// The local backend keeps its bookkeeping out of listings and paths.
#[tokio::test]
async fn local_hides_bookkeeping() {
    let temp_dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::new(temp_dir.path()).unwrap();
    storage
        .put(
            "a",
            "x".into(),
            PutMode::Update(hydrant_storage::ObjectVersion("nope".into())),
        )
        .await
        .unwrap_err();
    storage
        .put("visible", "x".into(), PutMode::Overwrite)
        .await
        .unwrap();
    let listed: Vec<String> = storage
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    assert_eq!(listed, ["visible"]);
    assert!(
        storage
            .put(".hydrant-locks/00.lock", "x".into(), PutMode::Overwrite)
            .await
            .is_err()
    );
    // No temporary file survives a failed or a successful put.
    assert_eq!(
        std::fs::read_dir(temp_dir.path().join(".hydrant-tmp"))
            .unwrap()
            .count(),
        0
    );
}

/// A put interrupted by a killed process leaves a temporary file; the next opening of the
/// storage removes it, and leaves alone those of live processes (this one included).
#[tokio::test]
async fn local_removes_temporary_files_of_stopped_processes() {
    let temp_dir = tempfile::tempdir().unwrap();
    LocalStorage::new(temp_dir.path()).unwrap();
    let tmp = temp_dir.path().join(".hydrant-tmp");
    let stopped = tmp.join("hydrant-4000000000-put-0123");
    let live = tmp.join(format!(
        "{}0123",
        hydrant_storage::scratch::scratch_prefix("put")
    ));
    std::fs::write(&stopped, "half a put").unwrap();
    std::fs::write(&live, "a put in flight").unwrap();
    LocalStorage::new(temp_dir.path()).unwrap();
    assert!(!stopped.exists());
    assert!(live.exists());
}
