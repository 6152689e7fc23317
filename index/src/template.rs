//! Index templates, as Quickwit has them: an index config without an index id, and the index
//! id patterns it applies to. A write to an index that does not exist yet creates it from the
//! matching template of highest priority (`hydrant_metastore::Metastore::index_metadata_or_create`): a
//! Firehose stream partitioned by tenant fans out into one index per tenant with no
//! deployment change.
//!
//! ```
//! use hydrant_index::template::IndexTemplate;
//!
//! let template = IndexTemplate::from_yaml(r#"
//! template_id: tenant-logs
//! index_id_patterns: [logs-*, -logs-internal]
//! doc_mapping:
//!   mode: dynamic
//! "#).unwrap();
//! assert!(template.matches("logs-acme"));
//! assert!(!template.matches("logs-internal"));
//! assert_eq!(template.index_config("logs-acme").unwrap().index_id, "logs-acme");
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::collections::BTreeMap;

use crate::config::{IndexConfig, IndexSpec, refuse_unknown_fields, validate_index_id};
use crate::error::{IndexError, Result};

/// Most patterns a template may list.
const MAX_PATTERNS: usize = 100;

/// A template: what every index it creates is configured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexTemplate {
    /// Quickwit's config format version; accepted and ignored, as for index configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    /// The template's name, with the index id rule.
    pub template_id: String,
    /// Globs (`logs-*`) the new index's id must match; a `-` before one excludes what it
    /// matches. The last pattern that matches an id decides.
    pub index_id_patterns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Of several matching templates, the highest priority wins (then the first by id).
    #[serde(default)]
    pub priority: u64,
    /// Quickwit's index location prefix; every index lives under the deployment's index
    /// storage, so it is accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_root_uri: Option<String>,
    /// What every index it creates is configured with.
    #[serde(flatten)]
    pub spec: IndexSpec,
    /// Fields no template has, refused by [`IndexTemplate::validate`].
    #[serde(flatten, skip_serializing)]
    unknown_fields: BTreeMap<String, Value>,
}

impl IndexTemplate {
    /// Parses a YAML template (JSON is YAML too) and validates it, mappings included.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let template: IndexTemplate = serde_yaml_ng::from_str(text)
            .map_err(|error| IndexError::InvalidConfig(format!("index template: {error}")))?;
        template.validate()?;
        Ok(template)
    }

    /// The id rule for the template id and for the patterns' literal parts; the config an
    /// index would get, with its mappings.
    pub fn validate(&self) -> Result<()> {
        refuse_unknown_fields("index template", &self.unknown_fields)?;
        validate_index_id(&self.template_id).map_err(|_| {
            IndexError::InvalidConfig(format!(
                "invalid template id `{}`: use 3 to 255 letters, digits, `-` or `_`, starting \
                 with a letter",
                self.template_id
            ))
        })?;
        if self.index_id_patterns.is_empty() || self.index_id_patterns.len() > MAX_PATTERNS {
            return Err(IndexError::InvalidConfig(format!(
                "template `{}`: index_id_patterns lists 1 to {MAX_PATTERNS} patterns",
                self.template_id
            )));
        }
        for pattern in &self.index_id_patterns {
            let glob = pattern.strip_prefix('-').unwrap_or(pattern);
            let valid = !glob.is_empty()
                && glob
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*'));
            if !valid {
                return Err(IndexError::InvalidConfig(format!(
                    "template `{}`: `{pattern}` is not an index id pattern (letters, digits, \
                     `-`, `_` and `*`)",
                    self.template_id
                )));
            }
        }
        let sample = self.index_config_unchecked("template-check");
        sample.validate()?;
        crate::doc_mapper::DocMapper::new(&sample)?;
        Ok(())
    }

    /// Whether an index with this id would be created from this template.
    pub fn matches(&self, index_id: &str) -> bool {
        self.index_id_patterns
            .iter()
            .rev()
            .find_map(|pattern| match pattern.strip_prefix('-') {
                Some(glob) => glob_matches(glob, index_id).then_some(false),
                None => glob_matches(pattern, index_id).then_some(true),
            })
            .unwrap_or(false)
    }

    /// The config of the index `index_id`, made from this template.
    pub fn index_config(&self, index_id: &str) -> Result<IndexConfig> {
        let config = self.index_config_unchecked(index_id);
        config.validate()?;
        Ok(config)
    }

    fn index_config_unchecked(&self, index_id: &str) -> IndexConfig {
        IndexConfig {
            version: self.version.clone(),
            ..IndexConfig::new(index_id, self.spec.clone())
        }
    }
}

/// The template for `index_id` among `templates`: the matching one of highest priority, the
/// first by id among equals.
pub fn template_for<'a>(
    templates: &'a [IndexTemplate],
    index_id: &str,
) -> Option<&'a IndexTemplate> {
    templates
        .iter()
        .filter(|template| template.matches(index_id))
        .max_by(|left, right| {
            left.priority
                .cmp(&right.priority)
                .then_with(|| right.template_id.cmp(&left.template_id))
        })
}

/// `*` matches any run of characters; the rest is literal. Index patterns everywhere (templates
/// here, the search API's index and field patterns) match with it.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().expect("split yields one part at least");
    for part in middle {
        match remaining.find(part) {
            Some(found) => remaining = &remaining[found + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(id: &str, patterns: &[&str], priority: u64) -> IndexTemplate {
        let mut template = IndexTemplate::from_yaml(&format!(
            "template_id: {id}\nindex_id_patterns: [{}]\ndoc_mapping: {{mode: dynamic}}\n",
            patterns.join(", ")
        ))
        .unwrap();
        template.priority = priority;
        template
    }

    #[test]
    fn the_highest_priority_matching_template_wins() {
        let templates = [
            template("logs-all", &["logs-*"], 0),
            template("logs-web", &["logs-web*"], 5),
            template("other", &["metrics-*"], 9),
        ];
        let found = |id| template_for(&templates, id).map(|t| t.template_id.as_str());
        assert_eq!(found("logs-web-1"), Some("logs-web"));
        assert_eq!(found("logs-api"), Some("logs-all"));
        assert_eq!(found("traces"), None);
    }

    #[test]
    fn invalid_templates_are_refused_with_the_problem() {
        for (yaml, needle) in [
            (
                "template_id: t\nindex_id_patterns: [a*]\ndoc_mapping: {}",
                "template id",
            ),
            (
                "template_id: tpl\nindex_id_patterns: []\ndoc_mapping: {}",
                "1 to 100",
            ),
            (
                "template_id: tpl\nindex_id_patterns: [\"a&*\"]\ndoc_mapping: {}",
                "not an index id pattern",
            ),
            (
                "template_id: tpl\nindex_id_patterns: [a*]\ndoc_mapping: {timestamp_field: ts}",
                "timestamp_field",
            ),
            (
                "template_id: tpl\nindex_id_patterns: [a*]\ndoc_mapping: {}\ncolour: red",
                "unknown field",
            ),
        ] {
            let error = IndexTemplate::from_yaml(yaml).unwrap_err().to_string();
            assert!(error.contains(needle), "{yaml}: {error}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_matches("a*b*c", "a-x-b-y-c"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("a*b", "ab-"));
        assert!(glob_matches("ab*b", "abb"));
        assert!(!glob_matches("ab*ba", "aba"));
    }
}
