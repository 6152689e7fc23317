//! Golden files of the persisted formats: what this build writes must stay what the files
//! hold, and every format it ever wrote must still read. A format change fails here first;
//! then it needs a new format version (and a reader for the old one), not a new golden file.
//!
//! `HYDRANT_UPDATE_GOLDEN=1 cargo test -p hydrant-metastore --test golden` rewrites the files
//! of the current format, for a deliberate change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use hydrant_index::config::IndexConfig;
use hydrant_metastore::checkpoint::{CheckpointEntry, CheckpointSegment, SegmentRef};
use hydrant_metastore::delete_task::{
    ApplicationOutcome, DeleteApplication, DeleteProgress, DeleteQuery, DeleteTask, DeleteTasks,
};
use hydrant_metastore::index_document::{IndexDocument, ShardDocument, StoredIndex};
use hydrant_metastore::split::{SplitMetadata, SplitState, TimeRange};
use hydrant_metastore::{Metastore, PublishRequest, SourceObject};
use hydrant_storage::testing::MemoryStorage;
use hydrant_storage::{PutMode, SharedStorage};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// `value` serializes to the golden file `name` (pretty, for review), and the file parses
/// back to `value`.
fn check_golden<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    name: &str,
    value: &T,
) {
    let path = golden_path(name);
    let written = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("HYDRANT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &written).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, golden, "{name}: the persisted format changed");
    let read: T = serde_json::from_str(&golden).unwrap();
    assert_eq!(&read, value, "{name}: does not read back");
}

fn config() -> IndexConfig {
    IndexConfig::from_yaml(
        "index_id: logs
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, fast: true}
    - {name: body, type: text}
  timestamp_field: ts
indexing_settings:
  docstore_compression_level: 8
",
    )
    .unwrap()
}

fn split(split_id: &str, shard: u32) -> SplitMetadata {
    SplitMetadata {
        split_id: split_id.to_string(),
        state: SplitState::Published,
        num_docs: 1200,
        uncompressed_docs_size_bytes: 480_000,
        time_range: Some(TimeRange {
            start_nanos: 1_764_000_000_000_000_000,
            end_nanos: 1_764_000_060_000_000_000,
        }),
        split_size_bytes: 210_000,
        footer_offsets: 190_000..210_000,
        doc_mapping_uid: "3c9f0c1d2b7a4e55".to_string(),
        num_merge_ops: 0,
        create_timestamp: 1_764_000_100,
        update_timestamp: 1_764_000_101,
        publish_timestamp: Some(1_764_000_101),
        tags: None,
        partition_id: 0,
        shard,
        delete_opstamp: None,
    }
}

#[test]
fn index_document_format_2() {
    let document = IndexDocument {
        format_version: 2,
        index_uid: "019aee0c8d2c7b3e9f1a2b3c4d5e6f70".to_string(),
        index_config: config(),
        create_timestamp: 1_764_000_000,
        previous_doc_mappings: BTreeMap::new(),
        update_timestamp: None,
    };
    check_golden("index_v2.json", &document);
    let golden = std::fs::read(golden_path("index_v2.json")).unwrap();
    let stored = StoredIndex::parse("index_v2.json", &golden).unwrap();
    assert_eq!(stored, StoredIndex::Current(document));
}

/// Format 2 after an update of the doc mapping: the mapping it replaced, by uid, which the
/// splits built with it are searched with. Documents without the two fields (every one written
/// before updates existed) read as never updated.
#[test]
fn index_document_format_2_updated() {
    let mut index_config = config();
    let previous = index_config.spec.doc_mapping.clone();
    index_config.spec.doc_mapping.field_mappings.push(
        IndexConfig::from_yaml(
            "index_id: logs\ndoc_mapping:\n  field_mappings:\n    - {name: level, type: text, tokenizer: raw, fast: true}\n",
        )
        .unwrap()
        .spec
        .doc_mapping
        .field_mappings
        .remove(0),
    );
    index_config.spec.search_settings.default_search_fields = vec!["body".into(), "level".into()];
    let document = IndexDocument {
        format_version: 2,
        index_uid: "019aee0c8d2c7b3e9f1a2b3c4d5e6f70".to_string(),
        index_config,
        create_timestamp: 1_764_000_000,
        previous_doc_mappings: BTreeMap::from([(previous.uid(), previous)]),
        update_timestamp: Some(1_764_086_400),
    };
    check_golden("index_v2_updated.json", &document);
    let golden = std::fs::read(golden_path("index_v2_updated.json")).unwrap();
    let StoredIndex::Current(stored) =
        StoredIndex::parse("index_v2_updated.json", &golden).unwrap()
    else {
        panic!("not format 2");
    };
    // The uid is of the mapping as read back, so it keys the same mapping in every build.
    let (uid, mapping) = stored.previous_doc_mappings.first_key_value().unwrap();
    assert_eq!(uid, &mapping.uid());
}

#[test]
fn shard_document_format_2() {
    let mut splits = BTreeMap::new();
    splits.insert(
        "019aee0d00007000800000000000000a".to_string(),
        split("019aee0d00007000800000000000000a", 3),
    );
    let document = ShardDocument {
        format_version: 2,
        index_uid: "019aee0c8d2c7b3e9f1a2b3c4d5e6f70".to_string(),
        shard: 3,
        generation: 12,
        splits,
        checkpoint: vec![SegmentRef {
            segment_id: "019aee0d00017000800000000000000b".to_string(),
            num_objects: 2,
            first_key: "staging/firehose/2025/11/24/16/logs-1-2025-11-24-16-00-00-0a1b2c3d"
                .to_string(),
            last_key: "staging/firehose/2025/11/24/16/logs-1-2025-11-24-16-01-00-9f8e7d03"
                .to_string(),
            oldest_indexed_at: 1_764_000_101,
            newest_indexed_at: 1_764_000_101,
        }],
        inline_checkpoint: BTreeMap::new(),
        last_publish_timestamp: Some(1_764_000_101),
        recent_commits: vec!["5f0c3a9e8b7d4c2a9e1f0b3c4d5a6e7f".to_string()],
    };
    check_golden("shard_v2.json", &document);
}

/// Format 3: format 2 with the newest checkpoint entries inline (what a publish writes).
#[test]
fn shard_document_format_3() {
    let mut splits = BTreeMap::new();
    splits.insert(
        "019aee0d00007000800000000000000a".to_string(),
        split("019aee0d00007000800000000000000a", 3),
    );
    let mut inline_checkpoint = BTreeMap::new();
    inline_checkpoint.insert(
        "staging/firehose/2025/11/24/16/logs-1-2025-11-24-16-02-00-4c5d6e03".to_string(),
        CheckpointEntry {
            etag: "\"9b2cf535f27731c974343645a3985328\"".to_string(),
            split_id: Some("019aee0d00007000800000000000000a".to_string()),
            indexed_at: 1_764_000_101,
        },
    );
    let document = ShardDocument {
        format_version: 3,
        index_uid: "019aee0c8d2c7b3e9f1a2b3c4d5e6f70".to_string(),
        shard: 3,
        generation: 13,
        splits,
        checkpoint: Vec::new(),
        inline_checkpoint,
        last_publish_timestamp: Some(1_764_000_101),
        recent_commits: vec!["5f0c3a9e8b7d4c2a9e1f0b3c4d5a6e7f".to_string()],
    };
    check_golden("shard_v3.json", &document);
}

/// Delete tasks (format 1): two tasks, one complete and one with an application under way;
/// and a split that had them applied.
#[test]
fn delete_tasks_format_1() {
    let query = |user: &str| DeleteQuery {
        query_ast: serde_json::json!({"term": {"field": "user", "value": user, "position": 0}}),
        search_fields: vec!["body".to_string()],
        start_timestamp: Some(1_764_000_000),
        end_timestamp: None,
    };
    let tasks = DeleteTasks {
        format_version: 1,
        index_uid: "019aee0c8d2c7b3e9f1a2b3c4d5e6f70".to_string(),
        tasks: vec![
            DeleteTask {
                opstamp: 1,
                create_timestamp: 1_764_000_200,
                delete_query: query("alice"),
                progress: DeleteProgress {
                    splits_rewritten: 2,
                    splits_unchanged: 5,
                    docs_deleted: 31,
                    replaced_split_ids: Vec::new(),
                    completed_timestamp: Some(1_764_001_200),
                },
            },
            DeleteTask {
                opstamp: 2,
                create_timestamp: 1_764_000_300,
                delete_query: query("bob"),
                progress: DeleteProgress {
                    splits_rewritten: 1,
                    splits_unchanged: 0,
                    docs_deleted: 4,
                    replaced_split_ids: vec!["019aee0c8d2c7b3e9f1a2b3c4d5e6f71".to_string()],
                    completed_timestamp: None,
                },
            },
        ],
        in_flight: vec![DeleteApplication {
            split_id: "019aee0c8d2c7b3e9f1a2b3c4d5e6f72".to_string(),
            opstamp: 2,
            outcome: ApplicationOutcome::Rewritten {
                output_split_id: "019aee0c8d2c7b3e9f1a2b3c4d5e6f73".to_string(),
            },
            docs_deleted: vec![(2, 3)],
        }],
        recent_commits: vec!["5d41402abc4b2a76b9719d911017c592".to_string()],
    };
    check_golden("delete_tasks_v1.json", &tasks);
    let mut rewritten = split("019aee0c8d2c7b3e9f1a2b3c4d5e6f74", 0);
    rewritten.delete_opstamp = Some(2);
    check_golden("split_with_delete_opstamp.json", &rewritten);
}

#[test]
fn checkpoint_segment_format() {
    let mut segment = CheckpointSegment::default();
    for (key, split_id) in [
        (
            "staging/firehose/2025/11/24/16/logs-1-2025-11-24-16-00-00-0a1b2c3d",
            Some("019aee0d00007000800000000000000a"),
        ),
        (
            "staging/firehose/2025/11/24/16/logs-1-2025-11-24-16-01-00-9f8e7d03",
            None,
        ),
    ] {
        segment.objects.insert(
            key.to_string(),
            CheckpointEntry {
                etag: "\"9b2cf535f27731c974343645a3985328\"".to_string(),
                split_id: split_id.map(str::to_string),
                indexed_at: 1_764_000_101,
            },
        );
    }
    check_golden("checkpoint_segment.json", &segment);
}

/// A format 1 document, as the builds before shards wrote it, reads as shard 0 and migrates
/// on the first commit, keeping its splits and its checkpoint. (The golden file was checked
/// against the build before shards, 581e72e: it reads it and writes it back field for field.)
#[tokio::test]
async fn format_1_documents_still_read_and_migrate() {
    let golden = std::fs::read(golden_path("index_v1.json")).unwrap();
    let storage: SharedStorage = Arc::new(MemoryStorage::default());
    storage
        .put("metastore/logs.json", golden.into(), PutMode::Create)
        .await
        .unwrap();
    let metastore = Metastore::new(storage.clone());
    let before = metastore.index_metadata("logs").await.unwrap();
    assert_eq!(before.format_version, 1);
    assert_eq!(before.published_splits().count(), 1);
    assert_eq!(before.checkpoint.objects.len(), 2);

    let staged = SplitMetadata {
        state: SplitState::Staged,
        ..split("019aee0e000070008000000000000001", 0)
    };
    metastore
        .stage_splits("logs", 0, vec![staged])
        .await
        .unwrap();
    let object = SourceObject {
        source_key: "staging/firehose/2025/11/24/17/logs-1-2025-11-24-17-00-00-77aa88bb"
            .to_string(),
        etag: "e".to_string(),
    };
    let request = PublishRequest {
        staged_split_ids: vec!["019aee0e000070008000000000000001".to_string()],
        checkpoint_delta: vec![(object, Some("019aee0e000070008000000000000001".to_string()))],
        ..PublishRequest::default()
    };
    metastore.publish_splits("logs", 0, request).await.unwrap();

    let after = metastore.index_metadata("logs").await.unwrap();
    assert_eq!(after.format_version, 2);
    assert_eq!(after.index_uid, "v1-1764000000");
    assert_eq!(after.published_splits().count(), 2);
    assert_eq!(after.checkpoint.objects.len(), 3);
    for (key, entry) in &before.checkpoint.objects {
        assert!(after.checkpoint.contains(key, &entry.etag), "{key}");
    }
    let bytes = storage.get("metastore/logs.json").await.unwrap().bytes;
    let stored = StoredIndex::parse("metastore/logs.json", &bytes).unwrap();
    assert!(matches!(stored, StoredIndex::Current(_)));
}
