//! The routes about indexes rather than documents: `_cat/indices`, `_resolve/index`,
//! `_stats` and `_mapping`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Shards, comma_list};

/// `_cat/indices` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct CatIndicesParams {
    /// `json`, the only format answered.
    pub format: Option<String>,
    /// Columns to keep.
    #[serde(default, deserialize_with = "comma_list")]
    pub h: Option<Vec<String>>,
    pub health: Option<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// One `_cat/indices` row: every value a string, as `_cat` gives them.
#[derive(Clone, Debug, Serialize)]
pub struct CatIndexRow {
    pub health: &'static str,
    pub status: &'static str,
    pub index: String,
    pub uuid: String,
    pub pri: &'static str,
    pub rep: &'static str,
    #[serde(rename = "docs.count")]
    pub docs_count: String,
    #[serde(rename = "docs.deleted")]
    pub docs_deleted: &'static str,
    #[serde(rename = "store.size")]
    pub store_size: String,
    #[serde(rename = "pri.store.size")]
    pub pri_store_size: String,
    #[serde(rename = "dataset.size")]
    pub dataset_size: String,
}

/// `_resolve/index/{pattern}`.
#[derive(Clone, Debug, Serialize)]
pub struct ResolveIndexResponse {
    pub indices: Vec<ResolvedIndex>,
    pub aliases: Vec<Value>,
    pub data_streams: Vec<Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResolvedIndex {
    pub name: String,
    pub attributes: Vec<&'static str>,
}

/// `_stats`: documents, bytes and segments (published splits), per index and in all.
#[derive(Clone, Debug, Serialize)]
pub struct StatsResponse {
    #[serde(rename = "_shards")]
    pub shards: Shards,
    #[serde(rename = "_all")]
    pub all: IndexStatsEntry,
    pub indices: BTreeMap<String, IndexStatsEntry>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IndexStatsEntry {
    pub primaries: IndexStats,
    pub total: IndexStats,
}

#[derive(Clone, Debug, Serialize)]
pub struct IndexStats {
    pub docs: DocsStats,
    pub store: StoreStats,
    pub segments: SegmentsStats,
}

#[derive(Clone, Debug, Serialize)]
pub struct DocsStats {
    pub count: u64,
    pub deleted: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoreStats {
    pub size_in_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SegmentsStats {
    pub count: usize,
}

impl IndexStatsEntry {
    pub fn new(docs: u64, bytes: u64, splits: usize) -> Self {
        let stats = IndexStats {
            docs: DocsStats {
                count: docs,
                deleted: 0,
            },
            store: StoreStats {
                size_in_bytes: bytes,
            },
            segments: SegmentsStats { count: splits },
        };
        IndexStatsEntry {
            primaries: stats.clone(),
            total: stats,
        }
    }
}

/// `_mapping`: each index's mappings.
pub type Mappings = BTreeMap<String, IndexMappings>;

#[derive(Clone, Debug, Serialize)]
pub struct IndexMappings {
    pub mappings: MappingsBody,
}

#[derive(Clone, Debug, Serialize)]
pub struct MappingsBody {
    pub dynamic: bool,
    pub properties: BTreeMap<String, MappingProperty>,
}

/// A field (`{"type"}`) or an object of fields (`{"type": "object"?, "properties"}`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MappingProperty {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, MappingProperty>>,
}

impl IndexMappings {
    pub fn new(dynamic: bool, properties: BTreeMap<String, MappingProperty>) -> Self {
        IndexMappings {
            mappings: MappingsBody {
                dynamic,
                properties,
            },
        }
    }
}
