//! Split metadata: what the metastore knows about each split without opening it.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Lifecycle of a split.
///
/// `Staged` (registered before its upload, so an upload that never gets published can be found
/// and collected) → `Published` (searchable) → `MarkedForDeletion` (replaced by a merge or past
/// retention; still readable during the grace period) → removed from the metastore once its
/// file is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitState {
    Staged,
    Published,
    MarkedForDeletion,
}

/// Inclusive range of the timestamp field's values in a split, in nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_nanos: i64,
    pub end_nanos: i64,
}

impl TimeRange {
    /// Widens the range to include `nanos`.
    pub fn extend(range: Option<TimeRange>, nanos: i64) -> TimeRange {
        match range {
            None => TimeRange {
                start_nanos: nanos,
                end_nanos: nanos,
            },
            Some(range) => TimeRange {
                start_nanos: range.start_nanos.min(nanos),
                end_nanos: range.end_nanos.max(nanos),
            },
        }
    }

    /// Whether the split can hold a document with `start_secs <= ts < end_secs` (the search
    /// API's convention; `None` is unbounded).
    pub fn overlaps_secs(&self, start_secs: Option<i64>, end_secs: Option<i64>) -> bool {
        let starts_before_end = end_secs
            .is_none_or(|end| i128::from(self.start_nanos) < i128::from(end) * 1_000_000_000);
        let ends_after_start = start_secs
            .is_none_or(|start| i128::from(self.end_nanos) >= i128::from(start) * 1_000_000_000);
        starts_before_end && ends_after_start
    }
}

/// Everything the metastore records about a split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMetadata {
    /// Unique and time-ordered (a UUIDv7).
    pub split_id: String,
    pub state: SplitState,
    pub num_docs: u64,
    /// Bytes of the JSON records the split was built from.
    pub uncompressed_docs_size_bytes: u64,
    /// Timestamp range of the documents; `None` without a timestamp field or documents.
    pub time_range: Option<TimeRange>,
    /// Size of the split bundle object.
    pub split_size_bytes: u64,
    /// Byte range of the bundle's footer (hotcache, file table, trailer): one ranged GET of
    /// this range opens the split.
    pub footer_offsets: Range<u64>,
    /// Hash of the doc mapping the split was built with; only equal ones merge.
    pub doc_mapping_uid: String,
    /// How many merges produced this split (0 for a split built from records).
    pub num_merge_ops: u32,
    /// Unix seconds.
    pub create_timestamp: i64,
    /// Unix seconds of the last state change.
    pub update_timestamp: i64,
    /// Unix seconds of publication.
    pub publish_timestamp: Option<i64>,
}

impl SplitMetadata {
    /// Path of the split bundle under the index storage root.
    pub fn split_path(index_id: &str, split_id: &str) -> String {
        format!("indexes/{index_id}/splits/{split_id}.split")
    }

    /// A new time-ordered split id.
    pub fn new_split_id() -> String {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_range_overlap_uses_start_inclusive_end_exclusive() {
        let range = TimeRange {
            start_nanos: 10_000_000_000,
            end_nanos: 20_000_000_000,
        };
        assert!(range.overlaps_secs(None, None));
        assert!(range.overlaps_secs(Some(20), None));
        assert!(!range.overlaps_secs(Some(21), None));
        assert!(range.overlaps_secs(None, Some(11)));
        assert!(!range.overlaps_secs(None, Some(10)));
        assert!(range.overlaps_secs(Some(0), Some(100)));
    }
}
