//! The answers of `_search` (and each page of a scroll) and `_count`.

use serde::Serialize;
use serde_json::Value;

/// A search answer, Elasticsearch's shape.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResponse {
    pub took: u64,
    pub timed_out: bool,
    #[serde(rename = "_shards")]
    pub shards: Shards,
    pub hits: HitsSection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregations: Option<Value>,
    #[serde(rename = "_scroll_id", skip_serializing_if = "Option::is_none")]
    pub scroll_id: Option<String>,
}

/// Splits stand for shards: searched, and failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shards {
    pub total: usize,
    pub successful: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl Shards {
    pub fn of(searched: usize, failed: usize) -> Self {
        Shards {
            total: searched,
            successful: searched.saturating_sub(failed),
            skipped: 0,
            failed,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct HitsSection {
    /// Left out with `track_total_hits: false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<TotalHits>,
    pub max_score: Option<f32>,
    pub hits: Vec<Hit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TotalHits {
    pub value: u64,
    /// `eq`: every match is counted.
    pub relation: &'static str,
}

/// One hit, named by its index.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    #[serde(rename = "_index")]
    pub index: String,
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_score")]
    pub score: Option<f32>,
    /// Left out with `_source: false`.
    #[serde(rename = "_source", skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
    /// Only the hits of a sorted search have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<Vec<Value>>,
}

/// `_count`'s answer.
#[derive(Clone, Debug, Serialize)]
pub struct CountResponse {
    pub count: u64,
    #[serde(rename = "_shards")]
    pub shards: Shards,
}
