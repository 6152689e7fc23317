//! The `errors/` record format: what the indexer keeps of what it could not index, and how an
//! operator reads it back. Each kind of file has one type here, written and read by this
//! module alone; where the files go is `hydrant_metastore::paths`.
//!
//! - [`RejectedRecord`]: one record that did not parse or map, kept whole (text, or base64
//!   when it is not UTF-8) with its reason, source object and offset. One staging object's
//!   rejections are one gzip NDJSON file ([`RejectedRecordsWriter`]).
//! - A staging object kept whole (corrupt, or holding a record too large to keep alone): the
//!   object's own bytes, no envelope.
//! - [`SetAsideRecord`]: a queue message that can never succeed, whole, with its reason.
//!
//! [`read_error_file`] turns any of them back into [`ErrorEntry`]s, what `hydrant errors list`
//! shows.
//!
//! ```
//! use hydrant_ingest::error_records::{RejectedRecord, RejectedRecordsWriter, read_rejected_records};
//!
//! let mut writer = RejectedRecordsWriter::default();
//! writer.add(&RejectedRecord::new("invalid_json", "expected value", "bucket/key", 7, b"{oops"));
//! writer.add(&RejectedRecord::new("invalid_json", "not utf-8", "bucket/key", 12, &[0xff, b'\n']));
//! let bytes = writer.finish();
//! let records = read_rejected_records(&bytes, "example").unwrap();
//! assert_eq!(records[0].record.as_deref(), Some("{oops"));
//! assert_eq!(records[1].record_bytes().unwrap(), vec![0xff, b'\n']);
//! ```

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::Compression;
use flate2::write::GzEncoder;
use hydrant_metastore::Error as MetastoreError;
use hydrant_metastore::paths::{self, ErrorFile};
use hydrant_storage::{ObjectMeta, SharedStorage};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Most bytes of one rejected-records file read back: what a 256 MiB staging object could
/// reject, decompressed.
pub const MAX_REJECTED_RECORDS_BYTES: u64 = 512 * 1024 * 1024;

/// A rejected record, as kept under the index's `errors/` prefix. The record is kept whole: as
/// text when it is UTF-8, else as base64 (`record_base64`), so that no byte is replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// Why, as a short machine-readable name (`invalid_json`, `field_type_mismatch`, ...).
    pub reason: String,
    /// Why, for a person.
    pub message: String,
    /// The staging object (`bucket/key`).
    pub source: String,
    /// Byte offset of the record in the decompressed object.
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_base64: Option<String>,
}

impl RejectedRecord {
    pub fn new(reason: &str, message: &str, source: &str, offset: u64, bytes: &[u8]) -> Self {
        let (record, record_base64) = match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_string()), None),
            Err(_) => (None, Some(BASE64.encode(bytes))),
        };
        RejectedRecord {
            reason: reason.to_string(),
            message: message.to_string(),
            source: source.to_string(),
            offset,
            record,
            record_base64,
        }
    }

    /// The record's exact bytes; `None` when the base64 is damaged.
    pub fn record_bytes(&self) -> Option<Vec<u8>> {
        match (&self.record, &self.record_base64) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(encoded)) => BASE64.decode(encoded).ok(),
            (None, None) => Some(Vec::new()),
        }
    }
}

/// One staging object's rejected records, as gzip NDJSON.
pub struct RejectedRecordsWriter {
    encoder: GzEncoder<Vec<u8>>,
    count: u64,
}

impl Default for RejectedRecordsWriter {
    fn default() -> Self {
        RejectedRecordsWriter {
            encoder: GzEncoder::new(Vec::new(), Compression::default()),
            count: 0,
        }
    }
}

impl RejectedRecordsWriter {
    pub fn add(&mut self, record: &RejectedRecord) {
        let mut line = serde_json::to_vec(record).expect("a rejected record serializes");
        line.push(b'\n');
        self.encoder
            .write_all(&line)
            .expect("writing to memory cannot fail");
        self.count += 1;
    }

    /// Records added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.encoder
            .finish()
            .expect("writing to memory cannot fail")
    }
}

/// Reads a rejected-records file (at most [`MAX_REJECTED_RECORDS_BYTES`] decompressed);
/// `location` names it in errors.
pub fn read_rejected_records(bytes: &[u8], location: &str) -> Result<Vec<RejectedRecord>> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_REJECTED_RECORDS_BYTES)
        .read_to_string(&mut text)
        .map_err(|error| corrupt(location, format!("not gzip text: {error}")))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|error| corrupt(location, format!("not a rejected record: {error}")))
        })
        .collect()
}

/// The object a set-aside message named, when it named one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideObject {
    pub bucket: String,
    pub key: String,
    pub etag: Option<String>,
}

/// A queue message that can never succeed, kept whole with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideRecord {
    pub message_id: String,
    pub group_id: Option<String>,
    pub receive_count: u32,
    /// The index it was meant for, when that is known.
    pub index_id: Option<String>,
    pub object: Option<SetAsideObject>,
    pub reason: String,
    /// Unix seconds.
    pub set_aside_at: i64,
    /// The message body, whole.
    pub body: String,
}

impl SetAsideRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a set-aside record serializes")
    }

    pub fn from_bytes(bytes: &[u8], location: &str) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|error| corrupt(location, format!("not a set-aside record: {error}")))
    }
}

/// A file name for what an error file is about: `primary` and `secondary` (an object key and
/// its etag, a message id and its object) both readable, with unsafe characters replaced, then
/// a hash of both exact strings, so that two keys that read the same once cleaned (`a b` and
/// `a_b`) never share a name.
pub fn file_name(primary: &str, secondary: &str) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(primary.as_bytes());
    hasher.update([0u8]);
    hasher.update(secondary.as_bytes());
    let digest = hasher.finalize();
    let hash: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut name = sanitize_key(primary);
    if !secondary.is_empty() {
        name.push('.');
        name.push_str(&sanitize_key(secondary));
    }
    if name.is_empty() {
        name.push('_');
    }
    format!("{name}.{hash}")
}

/// Turns a source key into a valid storage path: safe characters kept, others replaced,
/// no empty or dot segments.
fn sanitize_key(key: &str) -> String {
    key.split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let cleaned: String = segment
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if cleaned.chars().all(|c| c == '.') {
                cleaned.replace('.', "_")
            } else {
                cleaned
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// One error an operator may act on, as `hydrant errors list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorEntry {
    /// `rejected_record`, `kept_object` or `set_aside_message`.
    pub kind: &'static str,
    pub index_id: Option<String>,
    /// Unix seconds it was recorded.
    pub recorded_at: i64,
    /// The staging object (`bucket/key`), when known.
    pub object: Option<String>,
    pub reason: String,
    pub message: String,
    /// Where the error is kept in the index storage.
    pub file: String,
    /// The record's byte offset in the decompressed object (rejected records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The record (base64 when it is not UTF-8) or message body, whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// The errors one file under `prefix` (an [`paths::errors_prefix`]) holds; nothing for a
/// file Hydrant does not write there. `recorded_at` is the file's time, for entries that
/// carry none of their own.
pub async fn read_error_file(
    storage: &SharedStorage,
    index_id: Option<&str>,
    prefix: &str,
    file: &ObjectMeta,
    recorded_at: i64,
) -> Result<Vec<ErrorEntry>> {
    let name = file.path.strip_prefix(prefix).unwrap_or(&file.path);
    let index_id = index_id.map(str::to_string);
    let location = storage.describe(&file.path);
    let Some(kind) = ErrorFile::classify(name) else {
        return Ok(Vec::new());
    };
    if kind == ErrorFile::KeptObject {
        return Ok(vec![ErrorEntry {
            kind: "kept_object",
            index_id,
            recorded_at,
            object: None,
            reason: "kept_whole".to_string(),
            message: format!(
                "a staging object kept whole ({} bytes): a corrupt gzip member or a record too \
                 large to keep in the rejected records",
                file.size
            ),
            file: location,
            offset: None,
            record: None,
        }]);
    }
    let bytes = storage.get(&file.path).await?.bytes;
    if kind == ErrorFile::SetAside {
        let record = SetAsideRecord::from_bytes(&bytes, &location)?;
        return Ok(vec![ErrorEntry {
            kind: "set_aside_message",
            index_id: index_id.or(record.index_id),
            recorded_at: record.set_aside_at,
            object: record
                .object
                .map(|object| format!("{}/{}", object.bucket, object.key)),
            reason: "set_aside".to_string(),
            message: record.reason,
            file: location,
            offset: None,
            record: Some(record.body),
        }]);
    }
    Ok(read_rejected_records(&bytes, &location)?
        .into_iter()
        .map(|rejected| ErrorEntry {
            kind: "rejected_record",
            index_id: index_id.clone(),
            recorded_at,
            object: Some(rejected.source),
            reason: rejected.reason,
            message: rejected.message,
            file: location.clone(),
            offset: Some(rejected.offset),
            record: rejected.record.or(rejected.record_base64),
        })
        .collect())
}

fn corrupt(location: &str, reason: String) -> crate::IngestError {
    MetastoreError::Corrupt {
        what: location.to_string(),
        reason,
    }
    .into()
}

/// Where the rejected records of the object `source_key` at version `etag` are kept.
pub fn rejected_records_path(index_id: &str, source_key: &str, etag: &str) -> String {
    paths::rejected_records_file(index_id, &file_name(source_key, etag))
}

/// Where the object `source_key` at version `etag` is kept whole.
pub fn kept_object_path(index_id: &str, source_key: &str, etag: &str) -> String {
    paths::kept_object_file(index_id, &file_name(source_key, etag))
}

/// Where a set-aside message is recorded.
pub fn set_aside_path(index_id: Option<&str>, message_id: &str, object_key: &str) -> String {
    paths::set_aside_file(index_id, &file_name(message_id, object_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sanitized_into_paths() {
        assert_eq!(
            sanitize_key("bucket/2026/11/22/x-1.gz"),
            "bucket/2026/11/22/x-1.gz"
        );
        assert_eq!(sanitize_key("b//a b/../c"), "b/a_b/__/c");
        // Keys that clean up alike keep names of their own.
        let names: std::collections::BTreeSet<String> = ["a b", "a_b", "a/b", "a//b", "a/./b"]
            .iter()
            .map(|key| file_name(key, "etag"))
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert_eq!(file_name("a b", "e"), file_name("a b", "e"));
        assert!(file_name("a b", "e").starts_with("a_b.e."));
    }

    #[tokio::test]
    async fn every_error_file_reads_back_as_written() {
        use hydrant_storage::{LocalStorage, PutMode};
        let root = tempfile::tempdir().unwrap();
        let storage: SharedStorage = std::sync::Arc::new(LocalStorage::new(root.path()).unwrap());

        let mut rejected = RejectedRecordsWriter::default();
        let text = RejectedRecord::new("invalid_json", "expected `:`", "staging/a b.gz", 3, b"{x");
        let binary = RejectedRecord::new("invalid_utf8", "not utf-8", "staging/a b.gz", 9, &[0xc3]);
        rejected.add(&text);
        rejected.add(&binary);
        let rejected_path = rejected_records_path("logs", "staging/a b.gz", "etag1");
        let kept_path = kept_object_path("logs", "staging/a b.gz", "etag1");
        let set_aside = SetAsideRecord {
            message_id: "m-1".to_string(),
            group_id: Some("logs".to_string()),
            receive_count: 2,
            index_id: Some("logs".to_string()),
            object: Some(SetAsideObject {
                bucket: "staging".to_string(),
                key: "gone.gz".to_string(),
                etag: None,
            }),
            reason: "object not found".to_string(),
            set_aside_at: 1_700_000_000,
            body: r#"{"bucket":"staging","key":"gone.gz"}"#.to_string(),
        };
        let set_aside_path = set_aside_path(Some("logs"), "m-1", "gone.gz");
        for (path, bytes) in [
            (&rejected_path, rejected.finish()),
            (&kept_path, b"\x1f\x8b broken".to_vec()),
            (&set_aside_path, set_aside.to_bytes()),
        ] {
            storage
                .put(path, bytes.into(), PutMode::Overwrite)
                .await
                .unwrap();
        }
        let read_back = SetAsideRecord::from_bytes(&set_aside.to_bytes(), "here").unwrap();
        assert_eq!(read_back, set_aside);

        let prefix = paths::errors_prefix(Some("logs"));
        let mut entries = Vec::new();
        for file in storage.list(&prefix).await.unwrap() {
            entries.extend(
                read_error_file(&storage, Some("logs"), &prefix, &file, 5)
                    .await
                    .unwrap(),
            );
        }
        let kinds: Vec<&str> = entries.iter().map(|entry| entry.kind).collect();
        assert_eq!(kinds.len(), 4, "{entries:?}");
        let records: Vec<_> = entries
            .iter()
            .filter(|entry| entry.kind == "rejected_record")
            .collect();
        assert_eq!(records[0].record.as_deref(), Some("{x"));
        assert_eq!(records[0].offset, Some(3));
        assert_eq!(records[0].object.as_deref(), Some("staging/a b.gz"));
        assert_eq!(records[1].record, binary.record_base64);
        assert_eq!(binary.record_bytes().unwrap(), vec![0xc3]);
        let message = entries
            .iter()
            .find(|entry| entry.kind == "set_aside_message")
            .unwrap();
        assert_eq!(message.record.as_deref(), Some(set_aside.body.as_str()));
        assert_eq!(message.object.as_deref(), Some("staging/gone.gz"));
        assert_eq!(message.recorded_at, 1_700_000_000);
        assert!(entries.iter().any(|entry| entry.kind == "kept_object"));

        // A damaged file is an error naming it, never a silent empty list.
        storage
            .put(
                &rejected_path,
                b"not gzip".to_vec().into(),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
        let file = storage.head(&rejected_path).await.unwrap();
        let error = read_error_file(&storage, Some("logs"), &prefix, &file, 5)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("corrupt"), "{error}");
    }
}
