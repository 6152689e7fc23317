//! Index patterns, as both APIs take them: a comma-separated list of index ids and `*` globs,
//! each optionally `-excluded` from what the entries before it matched (Elasticsearch's
//! multi-target syntax, which Quickwit's native API shares).
//!
//! ```
//! use hydrant_search::index_pattern::IndexPattern;
//!
//! let pattern = IndexPattern::parse("logs-*,-logs-debug").unwrap();
//! assert!(pattern.matches("logs-web"));
//! assert!(!pattern.matches("logs-debug"));
//! ```

use hydrant_index::template::glob_matches;
use hydrant_metastore::IndexMetadata;

use crate::error::{Result, SearchError};
use crate::searcher::SearchService;

/// Most entries a pattern may list.
const MAX_PATTERN_ENTRIES: usize = 100;

/// A parsed index pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexPattern {
    /// In order: (excluded, glob).
    entries: Vec<(bool, String)>,
}

impl IndexPattern {
    /// Parses `a,b*,-c`; `_all` and an empty pattern mean every index.
    pub fn parse(pattern: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for entry in pattern.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (excluded, glob) = match entry.strip_prefix('-') {
                Some(glob) => (true, glob),
                None => (false, entry),
            };
            let glob = if glob == "_all" { "*" } else { glob };
            entries.push((excluded, glob.to_string()));
        }
        if entries.len() > MAX_PATTERN_ENTRIES {
            return Err(SearchError::InvalidRequest(format!(
                "an index pattern lists at most {MAX_PATTERN_ENTRIES} entries"
            )));
        }
        if entries.iter().all(|(excluded, _)| *excluded) {
            entries.insert(0, (false, "*".to_string()));
        }
        Ok(IndexPattern { entries })
    }

    /// Whether `index_id` is selected: the last entry that matches it decides.
    pub fn matches(&self, index_id: &str) -> bool {
        self.entries
            .iter()
            .rev()
            .find(|(_, glob)| glob_matches(glob, index_id))
            .is_some_and(|(excluded, _)| !excluded)
    }

    /// The indexes of `indexes` the pattern selects, in id order.
    pub fn select(&self, mut indexes: Vec<IndexMetadata>) -> Vec<IndexMetadata> {
        indexes.retain(|index| self.matches(index.index_id()));
        indexes.sort_by(|left, right| left.index_id().cmp(right.index_id()));
        indexes
    }

    /// The one index a pattern of one plain name selects.
    pub fn single_name(&self) -> Option<&str> {
        match self.entries.as_slice() {
            [(false, name)] if !name.contains('*') => Some(name),
            _ => None,
        }
    }

    /// Index ids named without a glob, which must exist.
    pub fn concrete_names(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(excluded, glob)| !excluded && !glob.contains('*'))
            .map(|(_, glob)| glob.as_str())
    }
}

/// The indexes `pattern` selects, in id order. A concrete name that does not exist is an
/// error (404), as in Elasticsearch; a glob may select nothing.
pub async fn resolve_indexes(service: &SearchService, pattern: &str) -> Result<Vec<IndexMetadata>> {
    let pattern = IndexPattern::parse(pattern)?;
    let indexes = service.metastore().list_indexes().await?;
    for name in pattern.concrete_names() {
        if !indexes.iter().any(|index| index.index_id() == name) {
            return Err(SearchError::IndexNotFound(name.to_string()));
        }
    }
    Ok(pattern.select(indexes))
}

/// The ids of the indexes `pattern` selects; with `ignore_unavailable`, names that do not
/// exist select nothing instead of failing.
///
/// Searches resolve their pattern on every request, so this reads no index document: a single
/// name is checked through the metastore cache the search uses anyway, a pattern against the
/// cached list of index ids.
pub async fn index_ids(
    service: &SearchService,
    pattern: &str,
    ignore_unavailable: bool,
) -> Result<Vec<String>> {
    let parsed = IndexPattern::parse(pattern)?;
    if let Some(name) = parsed.single_name() {
        return match service.index_exists(name).await? {
            true => Ok(vec![name.to_string()]),
            false if ignore_unavailable => Ok(Vec::new()),
            false => Err(SearchError::IndexNotFound(name.to_string())),
        };
    }
    let all = service.index_ids().await?;
    if !ignore_unavailable
        && let Some(missing) = parsed
            .concrete_names()
            .find(|name| !all.iter().any(|id| id == name))
    {
        return Err(SearchError::IndexNotFound(missing.to_string()));
    }
    Ok(all
        .iter()
        .filter(|id| parsed.matches(id))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_include_then_exclude() {
        let pattern = IndexPattern::parse("a*,-ab*,abc").unwrap();
        assert!(pattern.matches("a"));
        assert!(!pattern.matches("abd"));
        assert!(pattern.matches("abc"));
        assert!(!pattern.matches("b"));
        assert!(IndexPattern::parse("-x").unwrap().matches("y"));
        assert!(IndexPattern::parse("_all").unwrap().matches("y"));
    }

    #[test]
    fn a_plain_name_is_a_single_index() {
        assert_eq!(
            IndexPattern::parse("logs").unwrap().single_name(),
            Some("logs")
        );
        for pattern in ["logs,web", "logs*", "-logs", "_all"] {
            assert_eq!(
                IndexPattern::parse(pattern).unwrap().single_name(),
                None,
                "{pattern}"
            );
        }
    }
}
