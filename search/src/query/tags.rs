//! Split pruning by tag fields: what a query says about the values its matching documents
//! must have in the doc mapping's `tag_fields`, checked against each split's listed tags
//! before the split is opened.
//!
//! Only what the query requires prunes: `tenant:acme AND level:error` needs a split listing
//! `tenant:acme`; `tenant:acme OR tenant:globex` needs either; a negation (`-tenant:acme`),
//! a clause on another field, or a range requires nothing, so it keeps every split.
//!
//! ```
//! use hydrant_index::doc_mapper::DocMapper;
//! use hydrant_index::config::IndexConfig;
//! use hydrant_search::query::{TagFilter, parse_query};
//!
//! let config = IndexConfig::from_yaml(r#"
//! index_id: logs
//! doc_mapping:
//!   field_mappings:
//!     - {name: tenant, type: text, tokenizer: raw}
//!     - {name: body, type: text}
//!   tag_fields: [tenant]
//! "#).unwrap();
//! let doc_mapper = DocMapper::new(&config).unwrap();
//! let filter = TagFilter::new(&parse_query("tenant:acme AND body:timeout").unwrap(), &doc_mapper);
//! let acme: std::collections::BTreeSet<String> = ["tenant:acme".to_string()].into();
//! let globex: std::collections::BTreeSet<String> = ["tenant:globex".to_string()].into();
//! assert!(filter.may_match(Some(&acme)));
//! assert!(!filter.may_match(Some(&globex)));
//! // A split that recorded no tags may hold anything.
//! assert!(filter.may_match(None));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use hydrant_index::doc_mapper::{DocMapper, FieldKind};
use hydrant_index::partition::canonical_value;
use hydrant_metastore::split::lists_tag;

use super::QueryAst;

/// What a query requires of a split's tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagFilter {
    /// Nothing: any split may match.
    Any,
    /// The split lists `field:value` (or `field!`).
    Tag { field: String, value: String },
    /// Every one holds.
    All(Vec<TagFilter>),
    /// At least one holds.
    AnyOf(Vec<TagFilter>),
}

impl TagFilter {
    /// The requirement `ast` puts on the tag fields of `doc_mapper`.
    pub fn new(ast: &QueryAst, doc_mapper: &DocMapper) -> TagFilter {
        if doc_mapper.tag_fields().next().is_none() {
            return TagFilter::Any;
        }
        Self::of(ast, doc_mapper).simplified()
    }

    fn of(ast: &QueryAst, doc_mapper: &DocMapper) -> TagFilter {
        let tag = |field: &str, value: &str| tag_of(doc_mapper, field, value);
        match ast {
            QueryAst::Term {
                field: Some(field),
                value,
                ..
            }
            | QueryAst::ExactTerm { field, value, .. } => tag(field, value),
            QueryAst::Phrase {
                field: Some(field),
                text,
                ..
            }
            | QueryAst::Match {
                field: Some(field),
                text,
                last_is_prefix: false,
                zero_terms_match_all: false,
                ..
            } => tag(field, text),
            QueryAst::Set { field, values, .. } => {
                TagFilter::AnyOf(values.iter().map(|value| tag(field, value)).collect())
            }
            QueryAst::And(clauses) => {
                TagFilter::All(clauses.iter().map(|c| Self::of(c, doc_mapper)).collect())
            }
            QueryAst::Or(clauses) => {
                TagFilter::AnyOf(clauses.iter().map(|c| Self::of(c, doc_mapper)).collect())
            }
            QueryAst::Bool {
                must,
                should,
                minimum_should_match,
                ..
            } => {
                let mut all: Vec<TagFilter> =
                    must.iter().map(|c| Self::of(c, doc_mapper)).collect();
                if *minimum_should_match > 0 && !should.is_empty() {
                    all.push(TagFilter::AnyOf(
                        should.iter().map(|c| Self::of(c, doc_mapper)).collect(),
                    ));
                }
                TagFilter::All(all)
            }
            // A lenient clause that does not fit matches nothing: requiring its tag stays true.
            QueryAst::Lenient(inner) => Self::of(inner, doc_mapper),
            QueryAst::Filter(inner) => Self::of(inner, doc_mapper),
            _ => TagFilter::Any,
        }
    }

    /// `Any` absorbed where it decides the answer, so that a query with no tag clause costs
    /// nothing per split.
    fn simplified(self) -> TagFilter {
        match self {
            TagFilter::All(clauses) => {
                let mut kept: Vec<TagFilter> = clauses
                    .into_iter()
                    .map(TagFilter::simplified)
                    .filter(|clause| *clause != TagFilter::Any)
                    .collect();
                match kept.len() {
                    0 => TagFilter::Any,
                    1 => kept.pop().expect("one clause"),
                    _ => TagFilter::All(kept),
                }
            }
            TagFilter::AnyOf(clauses) => {
                let mut kept: Vec<TagFilter> =
                    clauses.into_iter().map(TagFilter::simplified).collect();
                if kept.is_empty() || kept.contains(&TagFilter::Any) {
                    return TagFilter::Any;
                }
                if kept.len() == 1 {
                    return kept.pop().expect("one clause");
                }
                TagFilter::AnyOf(kept)
            }
            leaf => leaf,
        }
    }

    /// Whether a split listing `tags` may hold a matching document (`None`: the split
    /// recorded no tags).
    pub fn may_match(&self, tags: Option<&BTreeSet<String>>) -> bool {
        let Some(tags) = tags else {
            return true;
        };
        self.holds(tags)
    }

    fn holds(&self, tags: &BTreeSet<String>) -> bool {
        match self {
            TagFilter::Any => true,
            TagFilter::Tag { field, value } => lists_tag(tags, field, value),
            TagFilter::All(clauses) => clauses.iter().all(|clause| clause.holds(tags)),
            TagFilter::AnyOf(clauses) => clauses.iter().any(|clause| clause.holds(tags)),
        }
    }
}

/// The partition every match of `ast` is in, when the query requires an exact value for
/// each field of the doc mapping's partition key (`tenant:acme AND body:x`, with `tenant` a
/// raw text or numeric field); `None` when it does not pin them all.
pub fn pinned_partition(ast: &QueryAst, doc_mapper: &DocMapper) -> Option<u64> {
    let key = doc_mapper.partition_key()?;
    let fields = key.fields();
    let mut values = BTreeMap::new();
    let mut pending = vec![ast];
    while let Some(ast) = pending.pop() {
        let (field, value) = match ast {
            QueryAst::And(clauses) => {
                pending.extend(clauses);
                continue;
            }
            QueryAst::Bool { must, .. } => {
                pending.extend(must);
                continue;
            }
            QueryAst::Filter(inner) => {
                pending.push(inner);
                continue;
            }
            QueryAst::Term {
                field: Some(field),
                value,
                ..
            }
            | QueryAst::ExactTerm { field, value, .. }
            | QueryAst::Phrase {
                field: Some(field),
                text: value,
                ..
            } => (field, value),
            _ => continue,
        };
        if !fields.contains(&field.as_str()) {
            continue;
        }
        if let Some(value) = exact_value(doc_mapper, field, value) {
            values.insert(field.clone(), value);
        }
    }
    key.partition_of_values(&values)
}

/// `value` as the partition key hashes the field's values, for fields whose query value
/// is the stored value exactly: raw text, numbers and booleans.
fn exact_value(doc_mapper: &DocMapper, field: &str, value: &str) -> Option<String> {
    let mapped = doc_mapper
        .fields()
        .iter()
        .find(|mapped| mapped.path == field)?;
    let value = value.trim();
    let json = match &mapped.kind {
        FieldKind::Text { tokenizer, .. } if tokenizer == "raw" => {
            return Some(value.to_string());
        }
        FieldKind::U64 { .. } => serde_json::Value::from(value.parse::<u64>().ok()?),
        FieldKind::I64 { .. } => serde_json::Value::from(value.parse::<i64>().ok()?),
        FieldKind::F64 { .. } => serde_json::Number::from_f64(value.parse::<f64>().ok()?)?.into(),
        FieldKind::Bool { .. } => serde_json::Value::from(value.parse::<bool>().ok()?),
        _ => return None,
    };
    Some(canonical_value(&json))
}

/// The tag `field:value` names, with numbers in the form the split lists them (`tag:01` is
/// `tag:1`); `Any` when `field` is not a tag field or `value` cannot be one of its values.
fn tag_of(doc_mapper: &DocMapper, field: &str, value: &str) -> TagFilter {
    let Some(tag_field) = doc_mapper.tag_fields().find(|tag| tag.path == field) else {
        return TagFilter::Any;
    };
    let value = match &tag_field.kind {
        FieldKind::U64 { .. } => value.trim().parse::<u64>().ok().map(|n| n.to_string()),
        FieldKind::I64 { .. } => value.trim().parse::<i64>().ok().map(|n| n.to_string()),
        FieldKind::Text { .. } => Some(value.to_string()),
        _ => None,
    };
    match value {
        Some(value) => TagFilter::Tag {
            field: field.to_string(),
            value,
        },
        None => TagFilter::Any,
    }
}

#[cfg(test)]
mod tests {
    use hydrant_index::config::IndexConfig;

    use super::*;
    use crate::query::parse_query;

    fn doc_mapper() -> DocMapper {
        let config = IndexConfig::from_yaml(
            r#"
index_id: tags
doc_mapping:
  field_mappings:
    - {name: tag, type: u64}
    - {name: tenant, type: text, tokenizer: raw}
    - {name: body, type: text}
  tag_fields: [tag, tenant]
"#,
        )
        .unwrap();
        DocMapper::new(&config).unwrap()
    }

    fn filter(query: &str) -> TagFilter {
        TagFilter::new(&parse_query(query).unwrap(), &doc_mapper())
    }

    fn tags(listed: &[&str]) -> BTreeSet<String> {
        listed.iter().map(|tag| tag.to_string()).collect()
    }

    #[test]
    fn required_tags_prune_and_the_rest_keeps_every_split() {
        let split = tags(&["tag:1", "tenant:acme"]);
        assert!(filter("tag:1").may_match(Some(&split)));
        assert!(filter("tag:01").may_match(Some(&split)));
        assert!(!filter("tag:2").may_match(Some(&split)));
        assert!(!filter("tag:1 AND tenant:globex").may_match(Some(&split)));
        assert!(filter("tag:2 OR tenant:acme").may_match(Some(&split)));
        assert!(filter("tag:IN [2 1]").may_match(Some(&split)));
        assert!(!filter("tag:IN [2 3]").may_match(Some(&split)));
        // Negations, other fields and ranges require nothing.
        assert_eq!(filter("-tag:1"), TagFilter::Any);
        assert_eq!(filter("-tag:2"), TagFilter::Any);
        assert_eq!(filter("body:x OR tag:2"), TagFilter::Any);
        assert_eq!(filter("tag:[1 TO 3]"), TagFilter::Any);
        assert_eq!(filter("tag:x"), TagFilter::Any);
        // A field with too many values to list is `field!`: any value.
        assert!(filter("tenant:anyone").may_match(Some(&tags(&["tenant!"]))));
    }
}
