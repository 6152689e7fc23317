//! `_msearch`: NDJSON pairs of a header and a search body in, one answer per pair out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ElasticError, OneOrMany, SearchResponse};

/// The header line of one search.
#[derive(Debug, Default, Deserialize)]
pub struct MultiSearchHeader {
    /// The index pattern, or names; the path's when absent.
    pub index: Option<OneOrMany<String>>,
    pub ignore_unavailable: Option<bool>,
    /// Routing and preference options: nothing to route here.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The answers, in the order of the searches.
#[derive(Clone, Debug, Serialize)]
pub struct MultiSearchResponse {
    pub took: u64,
    pub responses: Vec<MultiSearchItem>,
}

/// One search's answer: its response with its status, or its own error; the others are
/// unaffected.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum MultiSearchItem {
    Ok {
        #[serde(flatten)]
        response: Box<SearchResponse>,
        status: u16,
    },
    Err(ElasticError),
}
