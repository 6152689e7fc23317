//! Index configuration: the Quickwit-style YAML (or JSON) a user writes, as plain serde types.
//!
//! This module only parses and validates the *shape* of a config. The runtime object built from
//! it, which owns the tantivy schema and turns records into documents, is
//! the doc mapper (`crate::doc_mapper`).
//!
//! ```
//! use hydrant_index::config::IndexConfig;
//!
//! let config = IndexConfig::from_yaml(r#"
//! index_id: mock-sales
//! doc_mapping:
//!   field_mappings:
//!     - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
//!     - {name: description, type: text}
//!   timestamp_field: ts
//! "#).unwrap();
//! assert_eq!(config.index_id, "mock-sales");
//! assert_eq!(config.spec.doc_mapping.field_mappings.len(), 2);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{IndexError, Result};

/// The whole configuration of one index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// Quickwit's config file format version (`0.7`, ...). Accepted and ignored: the format
    /// Hydrant reads is the same for every version it accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    /// Letters, digits, `-` and `_`; starts with a letter; 3 to 255 characters.
    pub index_id: String,
    /// Quickwit's index location. Hydrant stores every index under the deployment's index
    /// storage, so this is accepted for compatibility and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_uri: Option<String>,
    /// Quickwit's ingest API shard settings (`min_shards`). Hydrant ingests what Firehose
    /// lands, with no shards, so these are accepted for compatibility and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_settings: Option<serde_json::Value>,
    #[serde(flatten)]
    pub spec: IndexSpec,
    /// Fields no config has, refused by [`IndexConfig::validate`]: serde cannot deny unknown
    /// fields beside a flattened struct, so they are caught here.
    #[serde(flatten, skip_serializing)]
    pub(crate) unknown_fields: BTreeMap<String, Value>,
}

/// What an index is configured with beyond its identity: its doc mapping and settings. An
/// index config holds one; so does an index template, which gives it to every index it
/// creates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexSpec {
    pub doc_mapping: DocMapping,
    #[serde(default)]
    pub indexing_settings: IndexingSettings,
    #[serde(default)]
    pub search_settings: SearchSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionPolicy>,
}

/// Refuses the first of `unknown_fields`, as serde's `deny_unknown_fields` would (`what` is
/// the document: "index config", "index template").
pub(crate) fn refuse_unknown_fields(
    what: &str,
    unknown_fields: &BTreeMap<String, Value>,
) -> Result<()> {
    match unknown_fields.keys().next() {
        None => Ok(()),
        Some(name) => Err(IndexError::InvalidConfig(format!(
            "{what}: unknown field `{name}`"
        ))),
    }
}

impl IndexConfig {
    /// Parses a YAML config (JSON is YAML too) and validates it.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let config: IndexConfig = serde_yaml_ng::from_str(text)
            .map_err(|error| IndexError::InvalidConfig(format!("index config: {error}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot and needs no schema for: the index id, settings ranges,
    /// retention. The field mappings are checked by building the doc mapper from the config
    /// (`DocMapper::new`), which `Metastore::create_index` does: the config knows nothing of
    /// the mapper, so that the two modules do not import each other.
    pub fn validate(&self) -> Result<()> {
        refuse_unknown_fields("index config", &self.unknown_fields)?;
        validate_index_id(&self.index_id)?;
        self.spec.validate()
    }

    /// A config of `index_id` with `spec`.
    pub fn new(index_id: impl Into<String>, spec: IndexSpec) -> Self {
        IndexConfig {
            version: None,
            index_id: index_id.into(),
            index_uri: None,
            ingest_settings: None,
            spec,
            unknown_fields: BTreeMap::new(),
        }
    }
}

impl IndexSpec {
    /// The settings' ranges and the retention's needs (the field mappings are checked by the
    /// doc mapper; see [`IndexConfig::validate`]).
    pub fn validate(&self) -> Result<()> {
        if self.indexing_settings.split_num_docs_target == 0 {
            return Err(IndexError::InvalidConfig(
                "indexing_settings.split_num_docs_target must be positive".to_string(),
            ));
        }
        let settings = &self.indexing_settings;
        if !(1..=22).contains(&settings.docstore_compression_level) {
            return Err(IndexError::InvalidConfig(format!(
                "indexing_settings.docstore_compression_level must be 1 to 22 (zstd), got {}",
                settings.docstore_compression_level
            )));
        }
        if settings.resources.heap_size > MAX_HEAP_SIZE {
            return Err(IndexError::InvalidConfig(format!(
                "indexing_settings.resources.heap_size must be at most 4GB (tantivy's limit per \
                 indexing thread), got {} bytes",
                settings.resources.heap_size
            )));
        }
        if !(4_096..=64_000_000).contains(&settings.docstore_blocksize) {
            return Err(IndexError::InvalidConfig(format!(
                "indexing_settings.docstore_blocksize must be 4KB to 64MB, got {} bytes",
                settings.docstore_blocksize
            )));
        }
        if let Some(retention) = &self.retention {
            retention.period()?;
            if self.doc_mapping.timestamp_field.is_none() {
                return Err(IndexError::InvalidConfig(
                    "retention needs doc_mapping.timestamp_field: splits expire by the age of their newest document"
                        .to_string(),
                ));
            }
        }
        Ok(())
    }
}

/// Checks Quickwit's index id rule.
pub fn validate_index_id(index_id: &str) -> Result<()> {
    let mut chars = index_id.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let valid = starts_with_letter
        && (3..=255).contains(&index_id.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(IndexError::InvalidConfig(format!(
            "invalid index id `{index_id}`: use 3 to 255 letters, digits, `-` or `_`, starting \
             with a letter"
        )))
    }
}

/// How documents map onto fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocMapping {
    #[serde(default)]
    pub field_mappings: Vec<FieldMapping>,
    /// What happens to fields the mappings do not name.
    #[serde(default)]
    pub mode: Mode,
    /// How unmapped fields are indexed in `dynamic` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_mapping: Option<JsonOptions>,
    /// The datetime field that orders and prunes splits. It must be present in every document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_field: Option<String>,
    /// Fields whose values are few and often filtered on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_fields: Vec<String>,
    /// Also keep each original record, unchanged, in a `_source` field.
    #[serde(default)]
    pub store_source: bool,
    /// Index which fields each document has, so `field:*` works on non-fast fields.
    #[serde(default)]
    pub index_field_presence: bool,
    /// Keep each record's size in bytes in a fast `_doc_length` field, for aggregations (not
    /// returned with the document), as Quickwit does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub store_document_size: bool,
    /// Routes each document to a partition, and each split holds one: Quickwit's routing
    /// expression (`tenant_id`, `hash_mod(app, 8)`; see [`crate::partition`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// Most partitions one indexing run makes; documents of further ones share one extra
    /// partition [default: 200].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_partitions: Option<std::num::NonZeroU32>,
    /// Tokenizers of this index's own, which fields name like the built-in ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokenizers: Vec<TokenizerDefinition>,
}

impl DocMapping {
    /// A stable hash of the mapping's canonical JSON: what each split records of the mapping
    /// it was built with, and what tells a split of an older mapping apart after an update.
    pub fn uid(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("doc mapping serializes");
        let hash = canonical
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
                (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("{hash:016x}")
    }
}

/// A custom tokenizer (`doc_mapping.tokenizers`), as Quickwit defines them:
///
/// ```yaml
/// tokenizers:
///   - {name: service_regex, type: regex, pattern: "\\w*"}
///   - {name: trigrams, type: ngram, min_gram: 3, max_gram: 3, filters: [lower_caser]}
///   - {name: words, type: simple, filters: [remove_long, lower_caser, ascii_folding]}
/// ```
///
/// The options each type needs are checked when the doc mapping is built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerDefinition {
    pub name: String,
    /// `regex`, `ngram` or `simple`.
    #[serde(rename = "type")]
    pub tokenizer_type: String,
    /// `regex`: each match is a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `ngram`: the shortest and longest grams, and whether only prefixes are made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_gram: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gram: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_only: Option<bool>,
    /// Applied in order: `remove_long` (tokens over 255 bytes), `lower_caser`,
    /// `ascii_folding`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
}

/// What happens to a field the mappings do not name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Unmapped fields are dropped.
    Lenient,
    /// A record with an unmapped field is rejected.
    Strict,
    /// Unmapped fields are indexed as JSON, per `dynamic_mapping` (Quickwit's default).
    #[default]
    Dynamic,
}

/// One field of the mapping: its name, and its type with that type's options.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldMapping {
    pub name: String,
    pub description: Option<String>,
    /// `array<...>`: the field takes several values. Every field accepts arrays on input;
    /// this only decides whether a single value is rendered as an array.
    pub is_array: bool,
    pub field_type: FieldType,
}

/// A field type and its options.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldType {
    Text(TextOptions),
    U64(NumericOptions),
    I64(NumericOptions),
    F64(NumericOptions),
    Bool(BasicOptions),
    Datetime(DatetimeOptions),
    Ip(BasicOptions),
    Bytes(BytesOptions),
    Json(JsonOptions),
    Object(ObjectOptions),
    Concatenate(ConcatenateOptions),
}

impl FieldType {
    /// The name used in configs (`text`, `u64`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldType::Text(_) => "text",
            FieldType::U64(_) => "u64",
            FieldType::I64(_) => "i64",
            FieldType::F64(_) => "f64",
            FieldType::Bool(_) => "bool",
            FieldType::Datetime(_) => "datetime",
            FieldType::Ip(_) => "ip",
            FieldType::Bytes(_) => "bytes",
            FieldType::Json(_) => "json",
            FieldType::Object(_) => "object",
            FieldType::Concatenate(_) => "concatenate",
        }
    }
}

fn default_true() -> bool {
    true
}

/// Options of `text` fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextOptions {
    #[serde(default = "default_true")]
    pub indexed: bool,
    #[serde(default = "default_true")]
    pub stored: bool,
    /// `raw`, `default`, `en_stem`, `lowercase` or `whitespace`.
    #[serde(default = "default_tokenizer")]
    pub tokenizer: String,
    #[serde(default)]
    pub record: IndexRecord,
    #[serde(default)]
    pub fieldnorms: bool,
    #[serde(default)]
    pub fast: FastText,
}

fn default_tokenizer() -> String {
    "default".to_string()
}

/// What an inverted index records per term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexRecord {
    /// Document ids only.
    #[default]
    Basic,
    /// Document ids and term frequencies.
    Freq,
    /// Also positions, which phrase queries need.
    Position,
}

/// `fast` of a text field: `true`/`false`, or `{normalizer: raw|lowercase}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FastText {
    #[default]
    Disabled,
    Enabled {
        normalizer: String,
    },
}

impl Serialize for FastText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FastText::Disabled => serializer.serialize_bool(false),
            FastText::Enabled { normalizer } if normalizer == "raw" => {
                serializer.serialize_bool(true)
            }
            FastText::Enabled { normalizer } => {
                let mut map = BTreeMap::new();
                map.insert("normalizer", normalizer);
                map.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for FastText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Normalizer {
            normalizer: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Flag(bool),
            Options(Normalizer),
        }
        match Repr::deserialize(deserializer).map_err(|_| {
            D::Error::custom("`fast` must be a boolean or {normalizer: raw|lowercase}")
        })? {
            Repr::Flag(false) => Ok(FastText::Disabled),
            Repr::Flag(true) => Ok(FastText::Enabled {
                normalizer: "raw".to_string(),
            }),
            Repr::Options(Normalizer { normalizer }) => Ok(FastText::Enabled { normalizer }),
        }
    }
}

/// Options of `u64`, `i64` and `f64` fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericOptions {
    #[serde(default = "default_true")]
    pub indexed: bool,
    #[serde(default = "default_true")]
    pub stored: bool,
    #[serde(default)]
    pub fast: bool,
    /// Accept numbers written as strings (`"42"`).
    #[serde(default = "default_true")]
    pub coerce: bool,
    #[serde(default)]
    pub output_format: NumericOutputFormat,
}

/// How numbers are rendered in hits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumericOutputFormat {
    #[default]
    Number,
    String,
}

/// Options of `bool` and `ip` fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicOptions {
    #[serde(default = "default_true")]
    pub indexed: bool,
    #[serde(default = "default_true")]
    pub stored: bool,
    #[serde(default)]
    pub fast: bool,
}

/// Options of `datetime` fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatetimeOptions {
    #[serde(default = "default_true")]
    pub indexed: bool,
    #[serde(default = "default_true")]
    pub stored: bool,
    #[serde(default)]
    pub fast: bool,
    /// Formats tried in order on input.
    #[serde(default = "default_input_formats")]
    pub input_formats: Vec<String>,
    /// Format of the value in hits.
    #[serde(default = "default_output_format")]
    pub output_format: String,
    /// Precision kept in the fast field; `precision` is the older name.
    #[serde(default, alias = "precision")]
    pub fast_precision: DatetimePrecision,
}

fn default_input_formats() -> Vec<String> {
    vec!["rfc3339".to_string(), "unix_timestamp".to_string()]
}

fn default_output_format() -> String {
    "rfc3339".to_string()
}

/// Truncation applied to datetime fast values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatetimePrecision {
    #[default]
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// Options of `bytes` fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BytesOptions {
    #[serde(default = "default_true")]
    pub indexed: bool,
    #[serde(default = "default_true")]
    pub stored: bool,
    #[serde(default)]
    pub fast: bool,
    #[serde(default)]
    pub input_format: BinaryFormat,
    #[serde(default)]
    pub output_format: BinaryFormat,
}

/// Text encoding of binary values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryFormat {
    #[default]
    Base64,
    Hex,
}

/// Options of `json` fields, and of the dynamic mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {
    #[serde(default = "default_true")]
    pub indexed: bool,
    #[serde(default = "default_true")]
    pub stored: bool,
    /// Tokenizer of the strings inside the object.
    #[serde(default = "default_tokenizer")]
    pub tokenizer: String,
    #[serde(default)]
    pub record: IndexRecord,
    #[serde(default)]
    pub fast: FastText,
    /// Treat `{"a.b": 1}` like `{"a": {"b": 1}}`.
    #[serde(default = "default_true")]
    pub expand_dots: bool,
}

impl JsonOptions {
    /// Quickwit's default `dynamic_mapping`: raw strings, fast, stored, indexed.
    pub fn default_dynamic() -> Self {
        JsonOptions {
            indexed: true,
            stored: true,
            tokenizer: "raw".to_string(),
            record: IndexRecord::Basic,
            fast: FastText::Enabled {
                normalizer: "raw".to_string(),
            },
            expand_dots: true,
        }
    }
}

/// Options of `object` fields: the mappings of their sub-fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectOptions {
    pub field_mappings: Vec<FieldMapping>,
    /// Accepted because Quickwit accepts it (its own configs and REST scenarios set it), and
    /// ignored as Quickwit ignores it: each sub-field says whether it is fast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast: Option<bool>,
}

/// Options of `concatenate` fields: one text field searching the values of several others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatenateOptions {
    /// Mapped text, bool, u64, i64, f64 or json fields whose values this field indexes.
    #[serde(default)]
    pub concatenate_fields: Vec<String>,
    /// Also the values of every unmapped field (dynamic mode).
    #[serde(default)]
    pub include_dynamic_fields: bool,
    /// Tokenizer of every value, whatever the source field's own tokenizer.
    #[serde(default = "default_tokenizer")]
    pub tokenizer: String,
    #[serde(default)]
    pub record: IndexRecord,
    #[serde(default)]
    pub fieldnorms: bool,
}

impl Serialize for FieldMapping {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let options = match &self.field_type {
            FieldType::Text(options) => serde_json::to_value(options),
            FieldType::U64(options) | FieldType::I64(options) | FieldType::F64(options) => {
                serde_json::to_value(options)
            }
            FieldType::Bool(options) | FieldType::Ip(options) => serde_json::to_value(options),
            FieldType::Datetime(options) => serde_json::to_value(options),
            FieldType::Bytes(options) => serde_json::to_value(options),
            FieldType::Json(options) => serde_json::to_value(options),
            FieldType::Object(options) => serde_json::to_value(options),
            FieldType::Concatenate(options) => serde_json::to_value(options),
        }
        .map_err(serde::ser::Error::custom)?;
        let mut map = Map::new();
        map.insert("name".to_string(), Value::String(self.name.clone()));
        let type_name = self.field_type.type_name();
        let type_name = if self.is_array {
            format!("array<{type_name}>")
        } else {
            type_name.to_string()
        };
        map.insert("type".to_string(), Value::String(type_name));
        if let Some(description) = &self.description {
            map.insert(
                "description".to_string(),
                Value::String(description.clone()),
            );
        }
        if let Value::Object(options) = options {
            map.extend(options);
        }
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FieldMapping {
    /// Reads `{name, type, description?, ...options}`, then the options strictly for that type,
    /// so a misspelt option is an error that names the field.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let name = match map.remove("name") {
            Some(Value::String(name)) => name,
            _ => return Err(D::Error::custom("a field mapping needs a string `name`")),
        };
        let type_name = match map.remove("type") {
            Some(Value::String(type_name)) => type_name,
            _ => {
                return Err(D::Error::custom(format!(
                    "field `{name}` needs a string `type`"
                )));
            }
        };
        let description = match map.remove("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(description)) => Some(description),
            Some(_) => {
                return Err(D::Error::custom(format!(
                    "field `{name}`: `description` must be a string"
                )));
            }
        };
        let (is_array, base_type) = match type_name
            .strip_prefix("array<")
            .and_then(|rest| rest.strip_suffix('>'))
        {
            Some(inner) => (true, inner.trim()),
            None => (false, type_name.as_str()),
        };
        let options = Value::Object(map);
        fn parse<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            name: &str,
            options: Value,
        ) -> Result<T, E> {
            serde_json::from_value(options)
                .map_err(|error| E::custom(format!("field `{name}`: {error}")))
        }
        let field_type = match base_type {
            "text" => FieldType::Text(parse(&name, options)?),
            "u64" => FieldType::U64(parse(&name, options)?),
            "i64" => FieldType::I64(parse(&name, options)?),
            "f64" => FieldType::F64(parse(&name, options)?),
            "bool" => FieldType::Bool(parse(&name, options)?),
            "datetime" => FieldType::Datetime(parse(&name, options)?),
            "ip" => FieldType::Ip(parse(&name, options)?),
            "bytes" => FieldType::Bytes(parse(&name, options)?),
            "json" => FieldType::Json(parse(&name, options)?),
            "object" if !is_array => FieldType::Object(parse(&name, options)?),
            "concatenate" if !is_array => FieldType::Concatenate(parse(&name, options)?),
            "concatenate" => {
                return Err(D::Error::custom(format!(
                    "field `{name}`: a concatenate field cannot be an array"
                )));
            }
            "object" => {
                return Err(D::Error::custom(format!(
                    "field `{name}`: arrays of objects are not supported; map it as `json`"
                )));
            }
            other => {
                return Err(D::Error::custom(format!(
                    "field `{name}`: unknown type `{other}` (expected text, u64, i64, f64, bool, \
                     datetime, ip, bytes, json, object, concatenate, or array<...> of one of \
                     them)"
                )));
            }
        };
        Ok(FieldMapping {
            name,
            description,
            is_array,
            field_type,
        })
    }
}

/// Indexing settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexingSettings {
    /// A split is closed once it holds this many documents.
    #[serde(default = "default_split_num_docs_target")]
    pub split_num_docs_target: u64,
    /// Quickwit's commit timeout. A Lambda invocation commits when its batch ends, so this is
    /// accepted for compatibility and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_timeout_secs: Option<u64>,
    /// Which splits are merged together; see [`MergePolicyConfig`].
    #[serde(default)]
    pub merge_policy: MergePolicyConfig,
    #[serde(default)]
    pub resources: IndexingResources,
    /// zstd level of the document store (Quickwit's setting). Stored fields are most of a
    /// split's bytes. The default, 1, was chosen from a measured curve (BENCHMARKS.md, issue
    /// 24): levels 1 and 2 cost the same CPU, 3 to 5 about 10% more, Quickwit's 8 about 30%
    /// more, for an index 10% smaller than level 1's (which is 2.7 times the gzip input).
    /// Storage a month costs more than indexing once: an index kept many months, or searched
    /// more than it is written, may set 8.
    #[serde(default = "default_docstore_compression_level")]
    pub docstore_compression_level: i32,
    /// Bytes of documents compressed together. Bigger blocks compress better, and a fetched
    /// hit costs reading one block.
    #[serde(
        default = "default_docstore_blocksize",
        deserialize_with = "deserialize_byte_size"
    )]
    pub docstore_blocksize: u64,
}

fn default_split_num_docs_target() -> u64 {
    10_000_000
}

fn default_docstore_compression_level() -> i32 {
    1
}

fn default_docstore_blocksize() -> u64 {
    1_000_000
}

impl Default for IndexingSettings {
    fn default() -> Self {
        IndexingSettings {
            split_num_docs_target: default_split_num_docs_target(),
            commit_timeout_secs: None,
            merge_policy: MergePolicyConfig::default(),
            resources: IndexingResources::default(),
            docstore_compression_level: default_docstore_compression_level(),
            docstore_blocksize: default_docstore_blocksize(),
        }
    }
}

/// Memory given to the tantivy writer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexingResources {
    /// Bytes of indexing heap; accepts `"1GB"`-style strings or a number of bytes.
    #[serde(
        default = "default_heap_size",
        deserialize_with = "deserialize_byte_size"
    )]
    pub heap_size: u64,
}

/// tantivy's limit of the indexing heap per thread (just under 4 GiB).
const MAX_HEAP_SIZE: u64 = 4_000_000_000;

fn default_heap_size() -> u64 {
    256 << 20
}

impl Default for IndexingResources {
    fn default() -> Self {
        IndexingResources {
            heap_size: default_heap_size(),
        }
    }
}

fn deserialize_byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(u64),
        Text(String),
    }
    match Repr::deserialize(deserializer)? {
        Repr::Number(bytes) => Ok(bytes),
        Repr::Text(text) => parse_byte_size(&text).map_err(D::Error::custom),
    }
}

/// Parses `"512MB"`, `"2 GiB"`, `"3G"`, `"1000"` into bytes (a bare `K`, `M`, `G` or `T` is
/// decimal, as Quickwit reads it).
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let number: f64 = text[..digits_end]
        .replace('_', "")
        .parse()
        .map_err(|_| format!("invalid byte size `{text}`"))?;
    let multiplier: u64 = match text[digits_end..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "ti" | "tib" => 1 << 40,
        _ => return Err(format!("invalid byte size unit in `{text}`")),
    };
    let bytes = number * multiplier as f64;
    if !(bytes.is_finite() && bytes < u64::MAX as f64) {
        return Err(format!("byte size `{text}` is too large"));
    }
    Ok(bytes as u64)
}

/// The merge policy (merges are run by the indexer; see the ingest crate).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MergePolicyConfig {
    /// Merge splits of similar size and close time span (Quickwit's default).
    #[serde(alias = "default")]
    StableLog {
        #[serde(default = "default_merge_factor")]
        merge_factor: usize,
        #[serde(default = "default_max_merge_factor")]
        max_merge_factor: usize,
        #[serde(default = "default_min_level_num_docs")]
        min_level_num_docs: u64,
        /// A split older than this is mature and never merged again (`"48 hours"`).
        #[serde(default = "default_maturation_period")]
        maturation_period: String,
    },
    /// Merge `merge_factor` splits that went through the same number of merges, until each
    /// document went through `max_merge_ops` (Quickwit's `limit_merge`: a bounded write
    /// amplification).
    LimitMerge {
        #[serde(default = "default_merge_factor")]
        merge_factor: usize,
        #[serde(default = "default_max_merge_factor")]
        max_merge_factor: usize,
        #[serde(default = "default_max_merge_ops")]
        max_merge_ops: u32,
        #[serde(default = "default_maturation_period")]
        maturation_period: String,
    },
    /// Never merge.
    NoMerge,
}

fn default_max_merge_ops() -> u32 {
    4
}

fn default_merge_factor() -> usize {
    10
}
fn default_max_merge_factor() -> usize {
    12
}
fn default_min_level_num_docs() -> u64 {
    100_000
}
fn default_maturation_period() -> String {
    "48 hours".to_string()
}

impl Default for MergePolicyConfig {
    fn default() -> Self {
        MergePolicyConfig::StableLog {
            merge_factor: default_merge_factor(),
            max_merge_factor: default_max_merge_factor(),
            min_level_num_docs: default_min_level_num_docs(),
            maturation_period: default_maturation_period(),
        }
    }
}

/// Search settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Fields searched by terms that name no field.
    #[serde(default)]
    pub default_search_fields: Vec<String>,
}

/// How long data is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// `"90 days"`, `"12 hours"`, ...
    pub period: String,
    /// Quickwit's evaluation schedule. Hydrant evaluates retention on every maintenance run,
    /// so this is accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

impl RetentionPolicy {
    /// The retention period as a duration.
    pub fn period(&self) -> Result<Duration> {
        hydrant_storage::settings::parse_duration(&self.period)
            .map_err(|message| IndexError::InvalidConfig(format!("retention.period: {message}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tutorial's config must load exactly as written.
    pub(crate) const MOCK_SALES_YAML: &str = r#"
index_id: mock-sales
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], output_format: unix_timestamp_millis, precision: milliseconds, fast: true}
    - {name: id, type: u64}
    - {name: name, type: text, tokenizer: raw}
    - {name: price, type: f64}
    - {name: quantity, type: u64}
    - {name: description, type: text, tokenizer: default}
  timestamp_field: ts
"#;

    #[test]
    fn mock_sales_config_loads_verbatim() {
        let config = IndexConfig::from_yaml(MOCK_SALES_YAML).unwrap();
        assert_eq!(config.index_id, "mock-sales");
        assert_eq!(
            config.spec.doc_mapping.timestamp_field.as_deref(),
            Some("ts")
        );
        assert_eq!(config.spec.doc_mapping.mode, Mode::Dynamic);
        let FieldType::Datetime(ts) = &config.spec.doc_mapping.field_mappings[0].field_type else {
            panic!("ts is a datetime");
        };
        assert_eq!(ts.fast_precision, DatetimePrecision::Milliseconds);
        assert_eq!(ts.output_format, "unix_timestamp_millis");
        assert!(ts.fast);
        let FieldType::Text(name) = &config.spec.doc_mapping.field_mappings[2].field_type else {
            panic!("name is text");
        };
        assert_eq!(name.tokenizer, "raw");
    }

    #[test]
    fn fast_on_an_object_is_accepted_as_quickwit_accepts_it() {
        let config = IndexConfig::from_yaml(
            r#"{"index_id": "gharchive", "doc_mapping": {"field_mappings": [
                {"name": "actor", "type": "object", "fast": true,
                 "field_mappings": [{"name": "id", "type": "u64", "fast": true}]}]}}"#,
        )
        .unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(config, serde_json::from_str::<IndexConfig>(&json).unwrap());
        crate::doc_mapper::DocMapper::new(&config).unwrap();
    }

    #[test]
    fn config_roundtrips_through_json() {
        let config = IndexConfig::from_yaml(MOCK_SALES_YAML).unwrap();
        let json = serde_json::to_string(&config).unwrap();
        let reparsed: IndexConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(config, reparsed);
    }

    #[test]
    fn quickwit_hdfs_example_loads() {
        let config = IndexConfig::from_yaml(
            r#"
version: 0.7
index_id: "hdfs"
index_uri: "s3://my-bucket/hdfs"
doc_mapping:
  mode: lenient
  field_mappings:
    - name: timestamp
      type: datetime
      input_formats:
        - unix_timestamp
      output_format: unix_timestamp_secs
      fast_precision: seconds
      fast: true
    - name: severity_text
      type: text
      tokenizer: raw
      fast:
        normalizer: lowercase
    - name: body
      type: text
      tokenizer: default
      record: position
    - name: resource
      type: object
      field_mappings:
        - name: service
          type: text
          tokenizer: raw
  tag_fields: ["resource.service"]
  timestamp_field: timestamp
  index_field_presence: true
search_settings:
  default_search_fields: [severity_text, body]
retention:
  period: 90 days
  schedule: daily
"#,
        )
        .unwrap();
        assert_eq!(
            config.spec.retention.unwrap().period().unwrap(),
            Duration::from_secs(90 * 86_400)
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let error = IndexConfig::from_yaml(
            "index_id: abc\ndoc_mapping:\n  field_mappings:\n    - {name: price, type: f64, fastt: true}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("price") && error.contains("fastt"),
            "{error}"
        );
        let error = IndexConfig::from_yaml(
            "index_id: abc\ndoc_mapping:\n  field_mappings:\n    - {name: x, type: float}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown type `float`"), "{error}");
        let error = IndexConfig::from_yaml("index_id: a\ndoc_mapping: {}\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid index id"), "{error}");
        let error = IndexConfig::from_yaml("index_id: abc\ndoc_mapping: {}\nsurprise: 1\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("surprise"), "{error}");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_byte_size("512 MB").unwrap(), 512_000_000);
        assert_eq!(parse_byte_size("1000").unwrap(), 1000);
        assert_eq!(parse_byte_size("3G").unwrap(), 3_000_000_000);
        assert!(parse_byte_size("1e30 TB").is_err());
    }
}
