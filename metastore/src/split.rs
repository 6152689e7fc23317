//! Split metadata: what the metastore knows about each split without opening it.

use std::collections::{BTreeMap, BTreeSet};
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
    /// Values of the tag fields in the split: `field:value`, or `field!` when the field has
    /// more than [`MAX_TAG_VALUES_PER_FIELD`] of them. `None`: not recorded (no tag fields, or
    /// a split from before tags), so never pruned by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeSet<String>>,
    /// The one partition of the split's documents (`doc_mapping.partition_key`; 0 without a
    /// key). Only splits of one partition merge.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub partition_id: u64,
    /// The shard that published it (`crate::shard`); merges combine splits of one shard.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shard: crate::shard::ShardId,
    /// The newest delete task applied to it (`crate::delete_task`); `None` for a split built
    /// from records, which counts as having had the tasks created before its publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_opstamp: Option<u64>,
}

fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl SplitMetadata {
    /// A new time-ordered split id.
    pub fn new_split_id() -> String {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

/// Whether a split listing `tags` may hold a document whose tag field `field` is `value`.
pub fn lists_tag(tags: &BTreeSet<String>, field: &str, value: &str) -> bool {
    tags.contains(&format!("{field}:{value}")) || tags.contains(&format!("{field}!"))
}

/// Most distinct values of one tag field a split lists; past it, the split lists `field!`
/// (any value) and is never pruned by that field. Bounds the metadata of high-cardinality
/// fields.
pub const MAX_TAG_VALUES_PER_FIELD: usize = 1_000;
/// Most bytes of values one tag field lists per split, for the same reason: every split's
/// tags are in the index's metastore document, which each cold searcher reads whole, and a
/// raw text value can be long.
pub const MAX_TAG_BYTES_PER_FIELD: usize = 16 * 1024;

/// The tags of a split being built or merged.
///
/// ```
/// use hydrant_metastore::split::SplitTags;
///
/// let mut tags = SplitTags::default();
/// tags.add("tenant", "acme");
/// tags.add("tenant", "acme");
/// assert_eq!(tags.finish().into_iter().collect::<Vec<_>>(), ["tenant:acme"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SplitTags {
    /// Values by field, with their total bytes; `None` once a field passed a limit.
    values: BTreeMap<String, Option<(BTreeSet<String>, usize)>>,
}

impl SplitTags {
    /// Records that a document has `value` in tag field `field`.
    pub fn add(&mut self, field: &str, value: &str) {
        let entry = match self.values.get_mut(field) {
            Some(entry) => entry,
            None => self
                .values
                .entry(field.to_string())
                .or_insert_with(|| Some((BTreeSet::new(), 0))),
        };
        if let Some((values, bytes)) = entry {
            if !values.contains(value) {
                values.insert(value.to_string());
                *bytes += value.len();
            }
            if values.len() > MAX_TAG_VALUES_PER_FIELD || *bytes > MAX_TAG_BYTES_PER_FIELD {
                *entry = None;
            }
        }
    }

    /// Adds the tags another split lists (a merge's input).
    pub fn add_listed(&mut self, tags: &BTreeSet<String>) {
        for tag in tags {
            if let Some(field) = tag.strip_suffix('!') {
                self.values.insert(field.to_string(), None);
            } else if let Some((field, value)) = tag.split_once(':') {
                self.add(field, value);
            }
        }
    }

    /// The tags as the split metadata lists them.
    pub fn finish(self) -> BTreeSet<String> {
        let mut tags = BTreeSet::new();
        for (field, values) in self.values {
            match values {
                None => {
                    tags.insert(format!("{field}!"));
                }
                Some((values, _)) => {
                    tags.extend(values.into_iter().map(|value| format!("{field}:{value}")))
                }
            }
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_cap_each_field_and_merge() {
        let mut tags = SplitTags::default();
        for value in 0..=MAX_TAG_VALUES_PER_FIELD {
            tags.add("id", &value.to_string());
        }
        tags.add("tenant", "a:b");
        let listed = tags.finish();
        assert!(listed.contains("id!"));
        assert!(listed.contains("tenant:a:b"));
        assert_eq!(listed.len(), 2);
        let mut merged = SplitTags::default();
        merged.add_listed(&listed);
        merged.add("tenant", "c");
        let merged = merged.finish();
        assert_eq!(merged.len(), 3, "{merged:?}");
        assert!(lists_tag(&merged, "tenant", "a:b"));
        assert!(lists_tag(&merged, "id", "anything"));
        assert!(!lists_tag(&merged, "tenant", "d"));

        // Long values pass the byte bound before the count bound: any value, then.
        let mut long = SplitTags::default();
        for value in 0..20 {
            long.add("message", &format!("{value}{}", "x".repeat(1024)));
        }
        assert_eq!(long.finish().into_iter().collect::<Vec<_>>(), ["message!"]);
    }

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
