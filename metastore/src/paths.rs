//! Where everything lives in the index storage: the one definition of every object path
//! Hydrant writes there. Writers and readers (the indexer, maintenance, the searcher, the
//! operator's commands) all take their paths from here.
//!
//! ```text
//! metastore/{index_id}.json                           the index's document (its config)
//! templates/{template_id}.json                        an index template
//! indexes/{index_id}/shards/{shard}.json              a shard's document (splits, checkpoint)
//! indexes/{index_id}/checkpoints/{shard}/{id}.json    a checkpoint segment of a shard
//! indexes/{index_id}/splits/{split_id}.split          a split bundle
//! indexes/{index_id}/errors/{name}.ndjson.gz          rejected records of one staging object
//! indexes/{index_id}/errors/objects/{name}            a staging object kept whole
//! indexes/{index_id}/errors/set-aside/{name}.json     a queue message set aside
//! errors/set-aside/{name}.json                        ... when no index can be told
//! searcher/signing-key                                the key scroll ids are signed with
//! ```
//!
//! ```
//! use hydrant_metastore::paths;
//!
//! assert_eq!(paths::split_file("logs", "01J"), "indexes/logs/splits/01J.split");
//! assert_eq!(paths::set_aside_file(None, "m.1a2b"), "errors/set-aside/m.1a2b.json");
//! let name = paths::ErrorFile::classify("objects/a.gz.1a2b");
//! assert_eq!(name, Some(paths::ErrorFile::KeptObject));
//! ```

/// Prefix of the metastore documents, one per index.
pub const METASTORE_PREFIX: &str = "metastore/";
/// Prefix of the index templates.
pub const TEMPLATES_PREFIX: &str = "templates/";
/// Suffix of metastore documents and templates.
pub const DOCUMENT_SUFFIX: &str = ".json";
/// The key scroll ids are signed with: the one object a searcher writes.
pub const SIGNING_KEY: &str = "searcher/signing-key";

const REJECTED_RECORDS_SUFFIX: &str = ".ndjson.gz";
const KEPT_OBJECTS_DIR: &str = "objects/";
const SET_ASIDE_DIR: &str = "set-aside/";

/// `metastore/{index_id}.json`.
pub fn index_document(index_id: &str) -> String {
    format!("{METASTORE_PREFIX}{index_id}{DOCUMENT_SUFFIX}")
}

/// `templates/{template_id}.json`.
pub fn template_document(template_id: &str) -> String {
    format!("{TEMPLATES_PREFIX}{template_id}{DOCUMENT_SUFFIX}")
}

/// `indexes/{index_id}/`: every file of the index (splits and errors).
pub fn index_prefix(index_id: &str) -> String {
    format!("indexes/{index_id}/")
}

/// `indexes/{index_id}/shards/`: the shard documents of an index.
pub fn shards_prefix(index_id: &str) -> String {
    format!("{}shards/", index_prefix(index_id))
}

/// `indexes/{index_id}/shards/{shard}.json`, the shard zero-padded to three digits so that a
/// listing is in shard order.
pub fn shard_document(index_id: &str, shard: u32) -> String {
    format!("{}{shard:03}{DOCUMENT_SUFFIX}", shards_prefix(index_id))
}

/// The shard a path under [`shards_prefix`] names.
pub fn shard_of_document(index_id: &str, path: &str) -> Option<u32> {
    document_id(&shards_prefix(index_id), path)?.parse().ok()
}

/// `indexes/{index_id}/checkpoints/`: the checkpoint segments of every shard.
pub fn checkpoints_prefix(index_id: &str) -> String {
    format!("{}checkpoints/", index_prefix(index_id))
}

/// `indexes/{index_id}/checkpoints/{shard}/{segment_id}.json`.
pub fn checkpoint_segment(index_id: &str, shard: u32, segment_id: &str) -> String {
    format!(
        "{}{shard:03}/{segment_id}{DOCUMENT_SUFFIX}",
        checkpoints_prefix(index_id)
    )
}

/// The segment id a path under [`checkpoints_prefix`] names.
pub fn segment_of_path<'a>(index_id: &str, path: &'a str) -> Option<&'a str> {
    let name = path.strip_prefix(&checkpoints_prefix(index_id))?;
    let (_, file) = name.split_once('/')?;
    file.strip_suffix(DOCUMENT_SUFFIX)
}

/// `indexes/{index_id}/delete_tasks.json`: the index's delete tasks (`delete_task.rs`).
pub fn delete_tasks_document(index_id: &str) -> String {
    format!("{}delete_tasks.json", index_prefix(index_id))
}

/// `indexes/{index_id}/splits/`.
pub fn splits_prefix(index_id: &str) -> String {
    format!("{}splits/", index_prefix(index_id))
}

/// `indexes/{index_id}/splits/{split_id}.split`.
pub fn split_file(index_id: &str, split_id: &str) -> String {
    format!("{}{split_id}.split", splits_prefix(index_id))
}

/// Where an index's errors are kept (`indexes/{index_id}/errors/`), or, with no index, the
/// errors no index can be told for (`errors/`).
pub fn errors_prefix(index_id: Option<&str>) -> String {
    match index_id {
        Some(index_id) => format!("{}errors/", index_prefix(index_id)),
        None => "errors/".to_string(),
    }
}

/// The rejected records of one staging object, `name` naming the object and its version.
pub fn rejected_records_file(index_id: &str, name: &str) -> String {
    format!(
        "{}{name}{REJECTED_RECORDS_SUFFIX}",
        errors_prefix(Some(index_id))
    )
}

/// A staging object kept whole (corrupt, or holding a record too large to keep alone).
pub fn kept_object_file(index_id: &str, name: &str) -> String {
    format!("{}{KEPT_OBJECTS_DIR}{name}", errors_prefix(Some(index_id)))
}

/// A queue message set aside, under its index's errors or, with none, the global ones.
pub fn set_aside_file(index_id: Option<&str>, name: &str) -> String {
    format!(
        "{}{SET_ASIDE_DIR}{name}{DOCUMENT_SUFFIX}",
        errors_prefix(index_id)
    )
}

/// What a file under an errors prefix holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFile {
    /// Rejected records of one object: gzip NDJSON.
    RejectedRecords,
    /// A staging object, whole.
    KeptObject,
    /// One set-aside message: JSON.
    SetAside,
}

impl ErrorFile {
    /// What the file at `name` (its path after the errors prefix) holds; `None` for a file
    /// Hydrant does not write there.
    pub fn classify(name: &str) -> Option<ErrorFile> {
        // By suffix first: rejected-record names come from object keys, which may begin like
        // the other two directories; theirs never end in `.ndjson.gz`.
        if name.ends_with(REJECTED_RECORDS_SUFFIX) {
            return Some(ErrorFile::RejectedRecords);
        }
        if name.starts_with(KEPT_OBJECTS_DIR) {
            return Some(ErrorFile::KeptObject);
        }
        if name.starts_with(SET_ASIDE_DIR) && name.ends_with(DOCUMENT_SUFFIX) {
            return Some(ErrorFile::SetAside);
        }
        None
    }
}

/// The id a metastore document or template path names (`metastore/logs.json` → `logs`).
pub fn document_id<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    path.strip_prefix(prefix)?.strip_suffix(DOCUMENT_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_file_is_classified_as_written() {
        let index = errors_prefix(Some("logs"));
        for (path, kind) in [
            (
                rejected_records_file("logs", "objects/x.e.1"),
                ErrorFile::RejectedRecords,
            ),
            (kept_object_file("logs", "a.e.1"), ErrorFile::KeptObject),
            (set_aside_file(Some("logs"), "m.1"), ErrorFile::SetAside),
        ] {
            let name = path.strip_prefix(&index).unwrap();
            assert_eq!(ErrorFile::classify(name), Some(kind), "{path}");
        }
        let global = set_aside_file(None, "m.1");
        let name = global.strip_prefix(&errors_prefix(None)).unwrap();
        assert_eq!(ErrorFile::classify(name), Some(ErrorFile::SetAside));
        assert_eq!(ErrorFile::classify("notes.txt"), None);
        assert_eq!(
            document_id(METASTORE_PREFIX, &index_document("logs")),
            Some("logs")
        );
        assert_eq!(shard_document("logs", 7), "indexes/logs/shards/007.json");
        assert_eq!(
            shard_of_document("logs", &shard_document("logs", 7)),
            Some(7)
        );
        let segment = checkpoint_segment("logs", 7, "0a1b");
        assert_eq!(segment, "indexes/logs/checkpoints/007/0a1b.json");
        assert_eq!(segment_of_path("logs", &segment), Some("0a1b"));
    }
}
