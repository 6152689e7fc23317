//! `_search/scroll` (the next page) and `DELETE _search/scroll`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::OneOrMany;

/// The next page's URL parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ScrollParams {
    pub scroll_id: Option<String>,
    /// A new keep-alive.
    pub scroll: Option<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// The next page's body (what the official clients send).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrollBody {
    pub scroll_id: Option<String>,
    pub scroll: Option<String>,
}

/// The body of `DELETE _search/scroll`.
#[derive(Debug, Default, Deserialize)]
pub struct ClearScrollBody {
    pub scroll_id: Option<OneOrMany<String>>,
}

/// Nothing is held anywhere, so every valid id is already free.
#[derive(Clone, Debug, Serialize)]
pub struct ClearScrollResponse {
    pub succeeded: bool,
    pub num_freed: usize,
}
