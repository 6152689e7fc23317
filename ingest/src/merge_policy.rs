//! Which splits to merge: a stable log-structured policy.
//!
//! Firehose delivers many small objects, so indexing makes many small splits; a searcher pays
//! per split. Splits are grouped in *levels* by size: level 0 holds splits of fewer than
//! `min_level_num_docs` documents, level `k` splits up to `merge_factor^k` times that. When a
//! level holds at least `merge_factor` immature splits, the oldest of them (at most
//! `max_merge_factor`, never more than `split_num_docs_target` documents together) are merged,
//! in time order so that merged splits keep tight time ranges for pruning. Splits merge only
//! with splits of the same doc mapping. A split is *mature*, and never merged again, once it
//! holds `split_num_docs_target` documents or is older than the maturation period.
//!
//! Merging stops when no level holds `merge_factor` immature splits: that is the invariant
//! maintenance leaves behind.

use std::collections::BTreeMap;
use std::time::Duration;

use hydrant_metastore::index_config::{IndexingSettings, MergePolicyConfig, parse_duration};
use hydrant_metastore::{SplitMetadata, SplitState};

use crate::error::{IngestError, Result};

/// The stable log merge policy of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergePolicy {
    pub merge_factor: usize,
    pub max_merge_factor: usize,
    pub min_level_num_docs: u64,
    pub maturation_period: Duration,
    pub split_num_docs_target: u64,
}

impl MergePolicy {
    /// The policy of an index's settings; `None` when the index never merges.
    pub fn from_settings(settings: &IndexingSettings) -> Result<Option<Self>> {
        match &settings.merge_policy {
            MergePolicyConfig::NoMerge => Ok(None),
            MergePolicyConfig::StableLog {
                merge_factor,
                max_merge_factor,
                min_level_num_docs,
                maturation_period,
            } => {
                if *merge_factor < 2 || max_merge_factor < merge_factor {
                    return Err(IngestError::Config(format!(
                        "merge policy: need 2 <= merge_factor <= max_merge_factor, got {merge_factor} and {max_merge_factor}"
                    )));
                }
                let maturation_period = parse_duration(maturation_period).map_err(|message| {
                    IngestError::Config(format!("merge policy maturation_period: {message}"))
                })?;
                Ok(Some(MergePolicy {
                    merge_factor: *merge_factor,
                    max_merge_factor: *max_merge_factor,
                    min_level_num_docs: (*min_level_num_docs).max(1),
                    maturation_period,
                    split_num_docs_target: settings.split_num_docs_target,
                }))
            }
        }
    }

    /// Whether a split is done merging.
    pub fn is_mature(&self, split: &SplitMetadata, now_secs: i64) -> bool {
        split.num_docs >= self.split_num_docs_target
            || split.create_timestamp + self.maturation_period.as_secs() as i64 <= now_secs
    }

    /// The level of a split of `num_docs` documents.
    pub fn level(&self, num_docs: u64) -> u32 {
        let mut level = 0;
        let mut bound = self.min_level_num_docs;
        while num_docs >= bound {
            level += 1;
            bound = bound.saturating_mul(self.merge_factor as u64);
        }
        level
    }

    /// The merges to run now: disjoint groups of published, immature splits.
    pub fn operations(&self, splits: &[SplitMetadata], now_secs: i64) -> Vec<Vec<SplitMetadata>> {
        // Splits merge only with splits of the same mapping, partition and level.
        let mut by_mapping_and_level: BTreeMap<(&str, u64, u32), Vec<&SplitMetadata>> =
            BTreeMap::new();
        for split in splits {
            if split.state == SplitState::Published && !self.is_mature(split, now_secs) {
                by_mapping_and_level
                    .entry((
                        split.doc_mapping_uid.as_str(),
                        split.partition_id,
                        self.level(split.num_docs),
                    ))
                    .or_default()
                    .push(split);
            }
        }
        let mut operations = Vec::new();
        for (_, mut level_splits) in by_mapping_and_level {
            // Oldest data first, so that merges keep contiguous time ranges.
            level_splits.sort_by_key(|split| {
                (
                    split
                        .time_range
                        .map(|range| range.start_nanos)
                        .unwrap_or(i64::MIN),
                    split.split_id.clone(),
                )
            });
            let mut remaining: &[&SplitMetadata] = &level_splits;
            while remaining.len() >= self.merge_factor {
                let mut taken = 0;
                let mut num_docs = 0u64;
                for split in remaining.iter().take(self.max_merge_factor) {
                    if taken >= 2 && num_docs + split.num_docs > self.split_num_docs_target {
                        break;
                    }
                    num_docs += split.num_docs;
                    taken += 1;
                }
                if taken < self.merge_factor {
                    // The oldest splits cannot form a full merge under the target: they are
                    // as large as they should get together.
                    remaining = &remaining[1..];
                    continue;
                }
                operations.push(
                    remaining[..taken]
                        .iter()
                        .map(|split| (*split).clone())
                        .collect(),
                );
                remaining = &remaining[taken..];
            }
        }
        operations
    }
}

#[cfg(test)]
mod tests {
    use hydrant_metastore::TimeRange;

    use super::*;

    fn policy() -> MergePolicy {
        MergePolicy {
            merge_factor: 10,
            max_merge_factor: 12,
            min_level_num_docs: 100_000,
            maturation_period: Duration::from_secs(48 * 3600),
            split_num_docs_target: 10_000_000,
        }
    }

    fn split(id: usize, num_docs: u64, created: i64) -> SplitMetadata {
        SplitMetadata {
            split_id: format!("{id:04}"),
            state: SplitState::Published,
            num_docs,
            uncompressed_docs_size_bytes: num_docs * 100,
            time_range: Some(TimeRange {
                start_nanos: id as i64 * 1_000,
                end_nanos: id as i64 * 1_000 + 999,
            }),
            split_size_bytes: num_docs * 50,
            footer_offsets: 0..1,
            doc_mapping_uid: "m".to_string(),
            num_merge_ops: 0,
            create_timestamp: created,
            update_timestamp: created,
            publish_timestamp: Some(created),
            tags: None,
            partition_id: 0,
        }
    }

    #[test]
    fn levels_grow_by_the_merge_factor() {
        let policy = policy();
        assert_eq!(policy.level(1), 0);
        assert_eq!(policy.level(99_999), 0);
        assert_eq!(policy.level(100_000), 1);
        assert_eq!(policy.level(999_999), 1);
        assert_eq!(policy.level(1_000_000), 2);
    }

    #[test]
    fn full_levels_merge_oldest_first_in_bounded_groups() {
        let policy = policy();
        let splits: Vec<SplitMetadata> = (0..25).map(|id| split(id, 100, 1_000)).collect();
        let operations = policy.operations(&splits, 1_000);
        assert_eq!(operations.len(), 2);
        assert_eq!(operations[0].len(), 12);
        assert_eq!(operations[0][0].split_id, "0000");
        assert_eq!(operations[1][0].split_id, "0012");
        // Fewer than merge_factor at a level: nothing to do.
        assert!(policy.operations(&splits[..9], 1_000).is_empty());
    }

    #[test]
    fn mature_splits_other_mappings_and_other_states_stay_out() {
        let policy = policy();
        let mut splits: Vec<SplitMetadata> = (0..10).map(|id| split(id, 100, 1_000)).collect();
        splits[3].create_timestamp = 0;
        assert!(
            policy.operations(&splits, 48 * 3600 + 500).is_empty(),
            "one split matured"
        );
        splits[3].create_timestamp = 1_000;
        splits[4].doc_mapping_uid = "other".to_string();
        assert!(policy.operations(&splits, 1_000).is_empty());
        splits[4].doc_mapping_uid = "m".to_string();
        splits[4].partition_id = 7;
        assert!(
            policy.operations(&splits, 1_000).is_empty(),
            "partitions never mix"
        );
        splits[4].partition_id = 0;
        splits[5].state = SplitState::MarkedForDeletion;
        assert!(policy.operations(&splits, 1_000).is_empty());
        splits[5].state = SplitState::Published;
        assert_eq!(policy.operations(&splits, 1_000).len(), 1);
    }

    #[test]
    fn merges_stay_under_the_split_target() {
        let mut policy = policy();
        policy.split_num_docs_target = 550;
        let splits: Vec<SplitMetadata> = (0..20).map(|id| split(id, 100, 1_000)).collect();
        // 10 splits of 100 exceed 550: no full merge fits.
        assert!(policy.operations(&splits, 1_000).is_empty());
        policy.split_num_docs_target = 1_000;
        let operations = policy.operations(&splits, 1_000);
        assert_eq!(operations.len(), 2);
        assert!(operations.iter().all(|operation| operation.len() == 10));
    }
}
