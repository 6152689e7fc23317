//! What may change in an index's config once it holds splits, and what may not.
//!
//! An update never rewrites a split: each split keeps the doc mapping it was built with (its
//! `doc_mapping_uid`), and searches compile their request for each mapping they meet. So a
//! change is allowed when a split of the old mapping still answers as a user expects next to
//! one of the new mapping:
//!
//! - **allowed**: new fields (at any depth of an object field), a field's options within its
//!   type (indexed, stored, fast, tokenizer, formats, ...: older splits answer as they were
//!   built, so a field made fast sorts and aggregates as missing there), fields removed (no
//!   longer searchable; documents of older splits still show their stored values, and a
//!   previous mapping may be restored), new tokenizers, the
//!   `store_source`, `index_field_presence`, `store_document_size` and `max_num_partitions`
//!   switches, and the search settings, retention and indexing settings;
//! - **refused**, with an error naming what: a field's type (compared with every mapping the
//!   index has had, so that a field removed cannot come back with another type), the timestamp
//!   field, the tag fields, the partition key, the mode and dynamic mapping, and a tokenizer
//!   redefined or removed. Each of these changes what a split's metadata means (its time
//!   range, tags, partition) or would make older documents answer differently from newer
//!   ones under one name; a new field, or a new index, is the way to such a change.
//!
//! These are Quickwit's rules (its `PUT /api/v1/indexes/{id}`) made stricter where Quickwit
//! converts values of a changed type on a best-effort basis.
//!
//! ```
//! use hydrant_index::config::IndexConfig;
//! use hydrant_index::update::check_update;
//!
//! let current = IndexConfig::from_yaml(r#"
//! index_id: logs
//! doc_mapping:
//!   field_mappings:
//!     - {name: message, type: text}
//! "#).unwrap();
//! let added = IndexConfig::from_yaml(r#"
//! index_id: logs
//! doc_mapping:
//!   field_mappings:
//!     - {name: message, type: text}
//!     - {name: level, type: text, tokenizer: raw, fast: true}
//! search_settings:
//!   default_search_fields: [message, level]
//! "#).unwrap();
//! let update = check_update(&current, &added, []).unwrap();
//! assert_eq!(update.added_fields, ["level"]);
//! assert!(update.search_settings_changed);
//!
//! let retyped = IndexConfig::from_yaml(r#"
//! index_id: logs
//! doc_mapping:
//!   field_mappings:
//!     - {name: message, type: u64}
//! "#).unwrap();
//! let error = check_update(&current, &retyped, []).unwrap_err().to_string();
//! assert!(error.contains("field `message`"), "{error}");
//! ```

use std::collections::BTreeMap;

use crate::config::{DocMapping, FieldMapping, FieldType, IndexConfig};
use crate::error::{IndexError, Result};

/// What an allowed update changes, for the one who asked for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexUpdate {
    /// Paths of the fields the new mapping adds.
    pub added_fields: Vec<String>,
    /// Paths of the fields whose options change (their type stays).
    pub changed_fields: Vec<String>,
    /// Paths of the fields the new mapping no longer has.
    pub removed_fields: Vec<String>,
    /// Whether the doc mapping changes at all: new splits then record a new mapping uid.
    pub doc_mapping_changed: bool,
    pub search_settings_changed: bool,
    pub retention_changed: bool,
    pub indexing_settings_changed: bool,
}

impl IndexUpdate {
    /// Whether the new config is the current one.
    pub fn is_empty(&self) -> bool {
        !(self.doc_mapping_changed
            || self.search_settings_changed
            || self.retention_changed
            || self.indexing_settings_changed)
    }
}

/// Checks that `new` may replace `current` (see the module documentation); both are assumed
/// valid on their own. `previous_mappings` are the mappings the index had before `current`'s,
/// which splits may still hold. The error names the first refused change.
pub fn check_update<'a>(
    current: &IndexConfig,
    new: &IndexConfig,
    previous_mappings: impl IntoIterator<Item = &'a DocMapping>,
) -> Result<IndexUpdate> {
    if new.index_id != current.index_id {
        return Err(refused(format!(
            "the config is for index `{}`, not `{}`",
            new.index_id, current.index_id
        )));
    }
    let (before, after) = (&current.spec, &new.spec);
    let mut update = IndexUpdate {
        doc_mapping_changed: before.doc_mapping != after.doc_mapping,
        search_settings_changed: before.search_settings != after.search_settings,
        retention_changed: before.retention != after.retention,
        indexing_settings_changed: before.indexing_settings != after.indexing_settings,
        ..IndexUpdate::default()
    };
    if update.doc_mapping_changed {
        check_doc_mapping(&before.doc_mapping, &after.doc_mapping, &mut update)?;
        let after_fields = leaves(&after.doc_mapping.field_mappings);
        for mapping in previous_mappings {
            for (path, field) in leaves(&mapping.field_mappings) {
                check_type(
                    &path,
                    field,
                    after_fields.get(&path).copied(),
                    "an earlier mapping",
                )?;
            }
        }
    }
    Ok(update)
}

fn refused(message: String) -> IndexError {
    IndexError::InvalidConfig(format!("index update refused: {message}"))
}

/// Refuses a change of a doc mapping setting that must stay as it is.
fn unchanged<T: PartialEq + std::fmt::Debug>(
    name: &str,
    before: &T,
    after: &T,
    why: &str,
) -> Result<()> {
    if before == after {
        return Ok(());
    }
    Err(refused(format!(
        "doc_mapping.{name} cannot change ({before:?} to {after:?}): {why}"
    )))
}

fn check_doc_mapping(
    before: &DocMapping,
    after: &DocMapping,
    update: &mut IndexUpdate,
) -> Result<()> {
    unchanged(
        "timestamp_field",
        &before.timestamp_field,
        &after.timestamp_field,
        "every split's time range is of it",
    )?;
    unchanged(
        "tag_fields",
        &before.tag_fields,
        &after.tag_fields,
        "older splits list the values of the old ones only, and searches prune by them",
    )?;
    unchanged(
        "partition_key",
        &before.partition_key,
        &after.partition_key,
        "every split holds one partition of it",
    )?;
    unchanged(
        "mode",
        &before.mode,
        &after.mode,
        "unmapped fields of older splits would be searched differently from newer ones",
    )?;
    unchanged(
        "dynamic_mapping",
        &before.dynamic_mapping,
        &after.dynamic_mapping,
        "unmapped fields of older splits would be searched differently from newer ones",
    )?;
    for tokenizer in &before.tokenizers {
        match after
            .tokenizers
            .iter()
            .find(|new| new.name == tokenizer.name)
        {
            Some(new) if new == tokenizer => {}
            Some(_) => {
                return Err(refused(format!(
                    "tokenizer `{}` cannot be redefined: add a tokenizer of another name",
                    tokenizer.name
                )));
            }
            None => {
                return Err(refused(format!(
                    "tokenizer `{}` cannot be removed",
                    tokenizer.name
                )));
            }
        }
    }
    let before_fields = leaves(&before.field_mappings);
    let after_fields = leaves(&after.field_mappings);
    for (path, field) in &before_fields {
        match after_fields.get(path) {
            None => update.removed_fields.push(path.clone()),
            Some(new) => {
                check_type(path, field, Some(new), "the current mapping")?;
                if new != field && !matches!(field.field_type, FieldType::Object(_)) {
                    update.changed_fields.push(path.clone());
                }
            }
        }
    }
    update.added_fields = (after_fields.keys())
        .filter(|path| !before_fields.contains_key(*path))
        .cloned()
        .collect();
    Ok(())
}

/// Refuses `new` if it gives the field at `path` another type than `old` had in `which`.
fn check_type(
    path: &str,
    old: &FieldMapping,
    new: Option<&FieldMapping>,
    which: &str,
) -> Result<()> {
    let Some(new) = new else {
        return Ok(());
    };
    let (old_type, new_type) = (old.field_type.type_name(), new.field_type.type_name());
    if old_type == new_type {
        return Ok(());
    }
    Err(refused(format!(
        "field `{path}` cannot change type from `{old_type}` (in {which}) to `{new_type}`: \
         splits indexed it as `{old_type}` (add a field of another name instead)"
    )))
}

/// Every field of `mappings` by dotted path, object fields and their sub-fields alike.
fn leaves(mappings: &[FieldMapping]) -> BTreeMap<String, &FieldMapping> {
    let mut fields = BTreeMap::new();
    let mut pending: Vec<(String, &FieldMapping)> = (mappings.iter())
        .map(|field| (field.name.clone(), field))
        .collect();
    // Object fields nest as deep as the config does, which the config parser bounds.
    while let Some((path, field)) = pending.pop() {
        if let FieldType::Object(options) = &field.field_type {
            for child in &options.field_mappings {
                pending.push((format!("{path}.{}", child.name), child));
            }
        }
        fields.insert(path, field);
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> IndexConfig {
        IndexConfig::from_yaml(&format!("index_id: logs\n{yaml}")).unwrap()
    }

    const BASE: &str = "doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: message, type: text}
    - name: user
      type: object
      field_mappings:
        - {name: id, type: u64}
  timestamp_field: ts
  tag_fields: [user.id]
  tokenizers:
    - {name: words, type: simple, filters: [lower_caser]}
";

    fn refusal(yaml: &str) -> String {
        check_update(&config(BASE), &config(yaml), [])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn same_config_changes_nothing() {
        let update = check_update(&config(BASE), &config(BASE), []).unwrap();
        assert!(update.is_empty());
    }

    #[test]
    fn fields_may_be_added_at_any_depth_and_options_change() {
        let new = BASE
            .replace(
                "{name: id, type: u64}",
                "{name: id, type: u64, fast: true}\n        - {name: name, type: text}",
            )
            .replace(
                "    - {name: message, type: text}",
                "    - {name: message, type: text, tokenizer: words}\n    - {name: level, type: text, tokenizer: raw}",
            )
            + "search_settings:\n  default_search_fields: [message, level]\nretention:\n  period: 30 days\n";
        let update = check_update(&config(BASE), &config(&new), []).unwrap();
        assert_eq!(update.added_fields, ["level", "user.name"]);
        assert_eq!(update.changed_fields, ["message", "user.id"]);
        assert!(update.doc_mapping_changed && update.search_settings_changed);
        assert!(update.retention_changed && !update.indexing_settings_changed);
    }

    /// A field removed is no longer searchable; it cannot come back with another type while
    /// splits of a mapping that had it may exist.
    #[test]
    fn removed_fields_keep_their_type() {
        let without = BASE.replace("    - {name: message, type: text}\n", "");
        let update = check_update(&config(BASE), &config(&without), []).unwrap();
        assert_eq!(update.removed_fields, ["message"]);
        let retyped = without.replace(
            "    - {name: ts,",
            "    - {name: message, type: u64}\n    - {name: ts,",
        );
        let base = config(BASE);
        let error = check_update(
            &config(&without),
            &config(&retyped),
            [&base.spec.doc_mapping],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error
                .contains("field `message` cannot change type from `text` (in an earlier mapping)"),
            "{error}"
        );
    }

    #[test]
    fn refused_changes_name_what_they_change() {
        let retyped = refusal(&BASE.replace("{name: id, type: u64}", "{name: id, type: text}"));
        assert!(
            retyped.contains(
                "field `user.id` cannot change type from `u64` (in the current mapping) to `text`"
            ),
            "{retyped}"
        );
        let timestamp = refusal(&BASE.replace("timestamp_field: ts", "timestamp_field: null"));
        assert!(
            timestamp.contains("doc_mapping.timestamp_field"),
            "{timestamp}"
        );
        let tags = refusal(&BASE.replace("tag_fields: [user.id]", "tag_fields: []"));
        assert!(tags.contains("doc_mapping.tag_fields"), "{tags}");
        let tokenizer = refusal(&BASE.replace("[lower_caser]", "[]"));
        assert!(
            tokenizer.contains("tokenizer `words` cannot be redefined"),
            "{tokenizer}"
        );
        let mode = refusal(&format!("{BASE}  mode: strict\n"));
        assert!(mode.contains("doc_mapping.mode"), "{mode}");
        let other = check_update(
            &config(BASE),
            &IndexConfig {
                index_id: "other".to_string(),
                ..config(BASE)
            },
            [],
        )
        .unwrap_err()
        .to_string();
        assert!(other.contains("not `logs`"), "{other}");
    }
}
