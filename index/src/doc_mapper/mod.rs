//! The runtime doc mapping: a validated [`IndexConfig`] turned into a tantivy schema, and the
//! two conversions every split needs: record JSON → tantivy document (indexing) and stored
//! document → hit JSON (search).
//!
//! Built once per index config (at cold start, or when the metastore changes), then shared.
//!
//! ```
//! use hydrant_index::doc_mapper::DocMapper;
//! use hydrant_index::config::IndexConfig;
//!
//! let config = IndexConfig::from_yaml(r#"
//! index_id: sales
//! doc_mapping:
//!   field_mappings:
//!     - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
//!     - {name: quantity, type: u64}
//!   timestamp_field: ts
//! "#).unwrap();
//! let doc_mapper = DocMapper::new(&config).unwrap();
//! let record = serde_json::json!({"ts": 1_700_000_000, "quantity": 3});
//! let parsed = doc_mapper.doc_from_json(record.as_object().unwrap().clone()).unwrap();
//! assert_eq!(parsed.timestamp_nanos, Some(1_700_000_000_000_000_000));
//! // An unparseable value rejects the record, with a reason.
//! let record = serde_json::json!({"ts": 1_700_000_000, "quantity": "many"});
//! let rejection = doc_mapper.doc_from_json(record.as_object().unwrap().clone()).unwrap_err();
//! assert_eq!(rejection.reason.as_str(), "invalid_value");
//! ```

//!
//! The modules, in the order a record meets them:
//! - [`field`]: what a mapped field is ([`MappedField`], [`FieldKind`]) and why a record is
//!   rejected ([`RejectReason`], [`DocRejection`]);
//! - `schema`: the config's field mappings turned into a tantivy schema and the walking tree;
//! - `tokenizers`: the tokenizers and normalizers an index may name;
//! - `document`: record JSON → tantivy document ([`DocMapper::doc_from_json`]);
//! - `render`: stored document → hit JSON ([`DocMapper::doc_to_json`]).

mod document;
pub mod field;
mod render;
mod schema;
#[cfg(test)]
mod tests;
mod tokenizers;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use tantivy::schema::{Field, Schema};
use tantivy::tokenizer::TokenizerManager;

use crate::config::Mode;

pub use self::document::ip_to_v6;
pub use self::field::{
    DocRejection, FieldKind, MappedField, ParsedDoc, RejectReason, ResolvedField,
};
pub use self::render::{owned_datetime, owned_to_json};
pub use self::tokenizers::{TOKENIZER_NAMES, hydrant_tokenizers};

/// Field holding unmapped fields in `dynamic` mode.
pub const DYNAMIC_FIELD_NAME: &str = "_dynamic";
/// Field holding the original record when `store_source` is on.
pub const SOURCE_FIELD_NAME: &str = "_source";
/// Field recording which mapped fields a document has, when `index_field_presence` is on.
pub const FIELD_PRESENCE_FIELD_NAME: &str = "_field_presence";
/// Fast field holding each record's size in bytes, when `store_document_size` is on.
pub const DOC_LENGTH_FIELD_NAME: &str = "_doc_length";
/// The input-walking tree: object nodes by key, leaves by index into `fields`.
#[derive(Debug, Default)]
struct ObjectNode {
    children: BTreeMap<String, MappingNode>,
}

#[derive(Debug)]
enum MappingNode {
    Leaf(usize),
    Object(ObjectNode),
}

/// The `concatenate` fields, and where their values come from.
#[derive(Debug, Default)]
struct Concatenations {
    /// Indexes into `fields` of the concatenate fields.
    fields: Vec<usize>,
    /// Concatenate fields fed by each mapped leaf (by index into `fields`).
    by_source: HashMap<usize, Vec<Field>>,
    /// Concatenate fields fed by every dynamic value.
    of_dynamic: Vec<Field>,
}

/// A validated doc mapping. See the module documentation.
pub struct DocMapper {
    schema: Schema,
    fields: Vec<MappedField>,
    field_index_by_path: HashMap<String, usize>,
    root: ObjectNode,
    mode: Mode,
    timestamp_field: Option<usize>,
    dynamic_field: Option<MappedField>,
    source_field: Option<Field>,
    field_presence_field: Option<Field>,
    doc_length_field: Option<Field>,
    default_search_fields: Vec<String>,
    concatenations: Concatenations,
    partition_key: Option<crate::partition::PartitionKey>,
    max_num_partitions: u32,
    /// Fields whose values each split lists (`doc_mapping.tag_fields`), by index.
    tag_fields: Vec<usize>,
    doc_mapping_uid: String,
    tokenizers: TokenizerManager,
    fast_field_normalizers: TokenizerManager,
    docstore_compression_level: i32,
    docstore_blocksize: usize,
}

impl fmt::Debug for DocMapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocMapper")
            .field("fields", &self.fields)
            .field("mode", &self.mode)
            .finish()
    }
}
impl DocMapper {
    /// The tantivy schema of every split of this mapping.
    /// The tantivy settings every split of the index is written with (doc store compression),
    /// for new splits and merges alike.
    pub fn index_settings(&self) -> tantivy::IndexSettings {
        tantivy::IndexSettings {
            docstore_compression: tantivy::store::Compressor::Zstd(
                tantivy::store::ZstdCompressor {
                    compression_level: Some(self.docstore_compression_level),
                },
            ),
            docstore_blocksize: self.docstore_blocksize,
            ..tantivy::IndexSettings::default()
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// A hash of the doc mapping: splits built with different mappings never merge.
    pub fn doc_mapping_uid(&self) -> &str {
        &self.doc_mapping_uid
    }

    /// Tokenizers to register on every tantivy index of this mapping (writer and reader).
    pub fn tokenizers(&self) -> &TokenizerManager {
        &self.tokenizers
    }

    /// Normalizers of fast text fields, to register as the index's fast field tokenizers.
    pub fn fast_field_normalizers(&self) -> &TokenizerManager {
        &self.fast_field_normalizers
    }

    /// Mapped leaf fields, in mapping order.
    pub fn fields(&self) -> &[MappedField] {
        &self.fields
    }

    /// The timestamp field, if the mapping has one.
    pub fn timestamp_field(&self) -> Option<&MappedField> {
        self.timestamp_field.map(|index| &self.fields[index])
    }

    /// Fields searched by query terms that name no field.
    pub fn default_search_fields(&self) -> &[String] {
        &self.default_search_fields
    }

    /// The tag fields (`doc_mapping.tag_fields`): each split lists their values, so that a
    /// query pinning one skips the splits without it.
    pub fn tag_fields(&self) -> impl Iterator<Item = &MappedField> {
        self.tag_fields.iter().map(|&index| &self.fields[index])
    }

    /// The partition key (`doc_mapping.partition_key`), if the index has one.
    pub fn partition_key(&self) -> Option<&crate::partition::PartitionKey> {
        self.partition_key.as_ref()
    }

    /// Most partitions one indexing run makes (`doc_mapping.max_num_partitions`).
    pub fn max_num_partitions(&self) -> u32 {
        self.max_num_partitions
    }

    /// Whether `field` is a `concatenate` field (a text field no record writes directly).
    pub fn is_concatenate(&self, field: &MappedField) -> bool {
        self.concatenations
            .fields
            .iter()
            .any(|&index| self.fields[index].field == field.field)
    }

    /// The field holding unmapped fields (`dynamic` mode only).
    pub fn dynamic_field(&self) -> Option<&MappedField> {
        self.dynamic_field.as_ref()
    }

    /// Resolves a dotted path from a query: a mapped field, a path inside a json field, or a
    /// path inside the dynamic field.
    pub fn resolve_field(&self, path: &str) -> Option<ResolvedField<'_>> {
        // tantivy ends a json path at a NUL and separates its segments with 0x01: a name
        // holding either would build a term tantivy decodes wrongly (and panics on).
        if path.contains(['\u{0}', '\u{1}']) {
            return None;
        }
        if let Some(&index) = self.field_index_by_path.get(path) {
            return Some(ResolvedField::Mapped(&self.fields[index]));
        }
        // Walk the mapped objects: a json leaf owns the rest of the path; a name no mapping
        // knows (at the root or under a mapped object) may be dynamic.
        let mut node = &self.root;
        let mut consumed = 0;
        for segment in path.split('.') {
            match node.children.get(segment) {
                Some(MappingNode::Object(child)) => node = child,
                Some(MappingNode::Leaf(index)) => {
                    let field = &self.fields[*index];
                    let rest = path.get(consumed + segment.len() + 1..)?;
                    return matches!(field.kind, FieldKind::Json { .. }).then(|| {
                        ResolvedField::JsonPath {
                            field,
                            json_path: rest.to_string(),
                        }
                    });
                }
                None => {
                    return self
                        .dynamic_field
                        .as_ref()
                        .map(|field| ResolvedField::JsonPath {
                            field,
                            json_path: path.to_string(),
                        });
                }
            }
            consumed += segment.len() + 1;
        }
        // A mapped object itself is not a field (see `object_leaves`).
        None
    }

    /// The mapped leaves under the mapped object at `path` (`object_multi` for
    /// `object_multi.a` and `object_multi.b.c`), or `None` when `path` is not a mapped object.
    pub fn object_leaves(&self, path: &str) -> Option<Vec<&MappedField>> {
        let mut node = &self.root;
        for segment in path.split('.') {
            match node.children.get(segment) {
                Some(MappingNode::Object(child)) => node = child,
                _ => return None,
            }
        }
        let mut leaves = Vec::new();
        let mut pending = vec![node];
        while let Some(node) = pending.pop() {
            for child in node.children.values() {
                match child {
                    MappingNode::Leaf(index) => leaves.push(&self.fields[*index]),
                    MappingNode::Object(object) => pending.push(object),
                }
            }
        }
        Some(leaves)
    }
}

/// A stable 64-bit hash of a field path (FNV-1a), the value recorded in `_field_presence`.
pub(super) fn field_presence_hash(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(super) fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
