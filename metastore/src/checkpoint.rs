//! The source checkpoint: which staging object versions are in a published split, kept apart
//! from the split lists so that what a searcher reads does not grow with the objects ever
//! indexed.
//!
//! A shard's checkpoint is a list of immutable *segments* (`checkpoints/{shard}/{id}.json`
//! under the index's prefix), each referenced from the shard document with its size, key range
//! and age, and the newest entries *inline* in the shard document. A publish adds its delta to
//! the inline entries in the compare-and-swap that publishes its splits, so the two happen
//! together and the publish writes nothing else. Once [`INLINE_CHECKPOINT_ENTRIES`] are
//! inline, compaction writes them as a segment and swaps the reference in for them (its own
//! commit, after the publish): a segment no document references is an orphan that garbage
//! collection deletes. Segments are compacted
//! by size tier (eight of one tier become one of the next), so a shard holds a few dozen
//! references at most and each entry is rewritten a logarithmic number of times; entries past
//! the checkpoint retention are dropped, whole segments without a read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The staging objects already indexed, by source key (`bucket/key`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    pub objects: BTreeMap<String, CheckpointEntry>,
}

impl SourceCheckpoint {
    /// Whether this exact object version was indexed.
    pub fn contains(&self, source_key: &str, etag: &str) -> bool {
        self.objects
            .get(source_key)
            .is_some_and(|entry| entry.etag == etag)
    }
}

/// One indexed staging object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEntry {
    pub etag: String,
    /// The split its records went into; `None` when it held no valid record.
    pub split_id: Option<String>,
    /// Unix seconds.
    pub indexed_at: i64,
}

/// One staging object an indexing run consumed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceObject {
    /// `bucket/key`: what the checkpoint is keyed by.
    pub source_key: String,
    pub etag: String,
}

impl SourceObject {
    /// The object key, without its bucket: what shards are chosen by.
    pub fn object_key(&self) -> &str {
        object_key(&self.source_key)
    }
}

/// The object key of a source key (`bucket/key` → `key`).
pub fn object_key(source_key: &str) -> &str {
    source_key
        .split_once('/')
        .map_or(source_key, |(_, key)| key)
}

/// A checkpoint segment as stored: immutable once written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSegment {
    pub objects: BTreeMap<String, CheckpointEntry>,
}

impl CheckpointSegment {
    /// The reference a shard document keeps to this segment, stored as `segment_id`.
    /// `None` for an empty segment (never written).
    pub fn reference(&self, segment_id: String) -> Option<SegmentRef> {
        let first_key = self.objects.keys().next()?.clone();
        let last_key = self.objects.keys().next_back()?.clone();
        let indexed_at = self.objects.values().map(|entry| entry.indexed_at);
        Some(SegmentRef {
            segment_id,
            num_objects: self.objects.len() as u64,
            first_key,
            last_key,
            oldest_indexed_at: indexed_at.clone().min().unwrap_or_default(),
            newest_indexed_at: indexed_at.max().unwrap_or_default(),
        })
    }
}

/// What a shard document knows of one of its checkpoint segments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRef {
    pub segment_id: String,
    pub num_objects: u64,
    /// The smallest and largest source keys in it: a lookup reads only the segments whose
    /// range holds its keys (Firehose keys grow with time, so new objects fall past old
    /// segments).
    pub first_key: String,
    pub last_key: String,
    /// Unix seconds: the segment is dropped whole once its newest entry is past retention.
    pub oldest_indexed_at: i64,
    pub newest_indexed_at: i64,
}

impl SegmentRef {
    /// Whether the segment may hold `source_key`.
    pub fn may_hold(&self, source_key: &str) -> bool {
        self.first_key.as_str() <= source_key && source_key <= self.last_key.as_str()
    }
}

/// Inline entries of a shard document (see `ShardDocument::inline_checkpoint`) that are
/// moved into a segment of their own: a publish then writes only the shard document, and a
/// cold reader of the document reads at most this many entries more (about 12 KB).
pub const INLINE_CHECKPOINT_ENTRIES: usize = 64;

/// Segments of one size tier that trigger a compaction.
pub const SEGMENTS_PER_TIER: usize = 8;

/// The size tier of a segment of `num_objects` entries: 0 up to 7 entries, 1 up to 63, ...
fn tier(num_objects: u64) -> u32 {
    let mut tier = 0;
    let mut bound = SEGMENTS_PER_TIER as u64;
    while num_objects >= bound && tier < 16 {
        tier += 1;
        bound = bound.saturating_mul(SEGMENTS_PER_TIER as u64);
    }
    tier
}

/// The segments to compact into one, if any: every segment of the lowest tier holding
/// [`SEGMENTS_PER_TIER`] or more, or every segment holding an entry older than
/// `prune_before` without being wholly older (those are dropped without compaction).
pub fn compaction_candidates(segments: &[SegmentRef], prune_before: Option<i64>) -> Vec<usize> {
    let mut by_tier: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (position, segment) in segments.iter().enumerate() {
        by_tier
            .entry(tier(segment.num_objects))
            .or_default()
            .push(position);
    }
    if let Some(full) = by_tier
        .into_values()
        .find(|positions| positions.len() >= SEGMENTS_PER_TIER)
    {
        return full;
    }
    let Some(cutoff) = prune_before else {
        return Vec::new();
    };
    let straddling: Vec<usize> = segments
        .iter()
        .enumerate()
        .filter(|(_, segment)| {
            segment.oldest_indexed_at < cutoff && segment.newest_indexed_at >= cutoff
        })
        .map(|(position, _)| position)
        .collect();
    // Pruning alone is worth a rewrite only when it drops much: wait for a pair.
    if straddling.len() >= 2 {
        straddling
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(id: &str, num_objects: u64, oldest: i64, newest: i64) -> SegmentRef {
        SegmentRef {
            segment_id: id.to_string(),
            num_objects,
            first_key: "a".to_string(),
            last_key: "b".to_string(),
            oldest_indexed_at: oldest,
            newest_indexed_at: newest,
        }
    }

    #[test]
    fn segments_compact_by_size_tier() {
        let mut segments: Vec<SegmentRef> =
            (0..7).map(|n| segment(&n.to_string(), 5, 0, 10)).collect();
        segments.push(segment("big", 5_000, 0, 10));
        assert!(compaction_candidates(&segments, None).is_empty());
        segments.push(segment("7", 1, 0, 10));
        assert_eq!(
            compaction_candidates(&segments, None),
            vec![0, 1, 2, 3, 4, 5, 6, 8]
        );
    }

    #[test]
    fn segments_straddling_the_cutoff_are_rewritten_in_pairs() {
        let segments = vec![segment("a", 100, 0, 50), segment("b", 100, 40, 90)];
        assert!(compaction_candidates(&segments[..1], Some(45)).is_empty());
        assert_eq!(compaction_candidates(&segments, Some(45)), vec![0, 1]);
        assert!(compaction_candidates(&segments, Some(10)).is_empty());
    }

    #[test]
    fn references_say_what_a_segment_holds() {
        let mut stored = CheckpointSegment::default();
        assert_eq!(stored.reference("s".to_string()), None);
        for (key, at) in [("b/2", 7), ("b/1", 9), ("b/3", 8)] {
            let entry = CheckpointEntry {
                etag: "e".to_string(),
                split_id: None,
                indexed_at: at,
            };
            stored.objects.insert(key.to_string(), entry);
        }
        let reference = stored.reference("s".to_string()).unwrap();
        assert_eq!(
            (reference.first_key.as_str(), reference.last_key.as_str()),
            ("b/1", "b/3")
        );
        assert_eq!(
            (reference.oldest_indexed_at, reference.newest_indexed_at),
            (7, 9)
        );
        assert!(reference.may_hold("b/2") && !reference.may_hold("b/4"));
        assert_eq!(object_key("bucket/a/b.gz"), "a/b.gz");
    }
}
