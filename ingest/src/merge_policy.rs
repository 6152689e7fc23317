//! Which splits to merge: a stable log-structured policy, or a bounded number of merges per
//! document (`limit_merge`).
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
//! With `limit_merge`, a split's level is the number of merges it went through, and a split
//! that went through `max_merge_ops` is mature: each document is rewritten at most that many
//! times.
//!
//! Merging stops when no level holds `merge_factor` immature splits: that is the invariant
//! maintenance leaves behind.

use std::collections::BTreeMap;
use std::time::Duration;

use hydrant_index::config::{IndexingSettings, MergePolicyConfig};
use hydrant_metastore::{SplitMetadata, SplitState};
use hydrant_storage::settings::parse_duration;

use crate::error::{IngestError, Result};

/// The merge policy of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergePolicy {
    pub merge_factor: usize,
    pub max_merge_factor: usize,
    pub levels: Levels,
    pub maturation_period: Duration,
    pub split_num_docs_target: u64,
}

/// What a split's level is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Levels {
    /// By size: splits under `min_level_num_docs` documents, then each `merge_factor` times
    /// more (`stable_log`).
    BySize { min_level_num_docs: u64 },
    /// By merges gone through, up to `max_merge_ops` (`limit_merge`).
    ByMergeOps { max_merge_ops: u32 },
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
            } => Self::checked(
                *merge_factor,
                *max_merge_factor,
                Levels::BySize {
                    min_level_num_docs: (*min_level_num_docs).max(1),
                },
                maturation_period,
                settings,
            )
            .map(Some),
            MergePolicyConfig::LimitMerge {
                merge_factor,
                max_merge_factor,
                max_merge_ops,
                maturation_period,
            } => Self::checked(
                *merge_factor,
                *max_merge_factor,
                Levels::ByMergeOps {
                    max_merge_ops: *max_merge_ops,
                },
                maturation_period,
                settings,
            )
            .map(Some),
        }
    }

    fn checked(
        merge_factor: usize,
        max_merge_factor: usize,
        levels: Levels,
        maturation_period: &str,
        settings: &IndexingSettings,
    ) -> Result<Self> {
        if merge_factor < 2 || max_merge_factor < merge_factor {
            return Err(IngestError::Config(format!(
                "merge policy: need 2 <= merge_factor <= max_merge_factor, got {merge_factor} and {max_merge_factor}"
            )));
        }
        let maturation_period = parse_duration(maturation_period).map_err(|message| {
            IngestError::Config(format!("merge policy maturation_period: {message}"))
        })?;
        Ok(MergePolicy {
            merge_factor,
            max_merge_factor,
            levels,
            maturation_period,
            split_num_docs_target: settings.split_num_docs_target,
        })
    }

    /// Whether a split is done merging.
    pub fn is_mature(&self, split: &SplitMetadata, now_secs: i64) -> bool {
        let merged_enough = match self.levels {
            Levels::ByMergeOps { max_merge_ops } => split.num_merge_ops >= max_merge_ops,
            Levels::BySize { .. } => false,
        };
        merged_enough
            || split.num_docs >= self.split_num_docs_target
            || split.create_timestamp + self.maturation_period.as_secs() as i64 <= now_secs
    }

    /// The level of a split.
    pub fn level(&self, split: &SplitMetadata) -> u32 {
        let min_level_num_docs = match self.levels {
            Levels::ByMergeOps { .. } => return split.num_merge_ops,
            Levels::BySize { min_level_num_docs } => min_level_num_docs,
        };
        let mut level = 0;
        let mut bound = min_level_num_docs;
        while split.num_docs >= bound {
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
                        self.level(split),
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
            levels: Levels::BySize {
                min_level_num_docs: 100_000,
            },
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
            shard: 0,
            delete_opstamp: None,
        }
    }

    #[test]
    fn levels_grow_by_the_merge_factor() {
        let policy = policy();
        let level = |num_docs| policy.level(&split(0, num_docs, 0));
        assert_eq!(level(1), 0);
        assert_eq!(level(99_999), 0);
        assert_eq!(level(100_000), 1);
        assert_eq!(level(999_999), 1);
        assert_eq!(level(1_000_000), 2);
    }

    #[test]
    fn limit_merge_levels_are_merges_gone_through() {
        let policy = MergePolicy {
            levels: Levels::ByMergeOps { max_merge_ops: 2 },
            ..policy()
        };
        let mut splits: Vec<SplitMetadata> = (0..10).map(|id| split(id, 100, 1_000)).collect();
        assert_eq!(policy.operations(&splits, 1_000).len(), 1);
        // Splits of different sizes but the same merge count merge together.
        splits[0].num_docs = 500_000;
        assert_eq!(policy.operations(&splits, 1_000).len(), 1);
        splits[0].num_merge_ops = 1;
        assert!(
            policy.operations(&splits, 1_000).is_empty(),
            "levels differ"
        );
        for split in &mut splits {
            split.num_merge_ops = 2;
        }
        assert!(
            policy.operations(&splits, 1_000).is_empty(),
            "merged max_merge_ops times: mature"
        );
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
