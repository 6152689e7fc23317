//! The runtime doc mapping: a validated [`IndexConfig`] turned into a tantivy schema, and the
//! two conversions every split needs: record JSON → tantivy document (indexing) and stored
//! document → hit JSON (search).
//!
//! Built once per index config (at cold start, or when the metastore changes), then shared.
//!
//! ```
//! use hydrant_metastore::doc_mapper::DocMapper;
//! use hydrant_metastore::index_config::IndexConfig;
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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use tantivy::schema::{
    BytesOptions as TantivyBytesOptions, DateOptions, DateTimePrecision, Field, IndexRecordOption,
    IpAddrOptions, JsonObjectOptions, NumericOptions as TantivyNumericOptions, OwnedValue, Schema,
    TextFieldIndexing, TextOptions as TantivyTextOptions, Value as _,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
    TokenizerManager, WhitespaceTokenizer,
};
use tantivy::{DateTime, TantivyDocument};

use crate::datetime::{DatetimeInputFormat, DatetimeOutputFormat, json_type_name, parse_datetime};
use crate::error::{Error, Result};
use crate::index_config::{
    BinaryFormat, DatetimePrecision, FastText, FieldMapping, FieldType, IndexConfig, IndexRecord,
    JsonOptions, Mode, NumericOutputFormat,
};

/// Field holding unmapped fields in `dynamic` mode.
pub const DYNAMIC_FIELD_NAME: &str = "_dynamic";
/// Field holding the original record when `store_source` is on.
pub const SOURCE_FIELD_NAME: &str = "_source";
/// Field recording which mapped fields a document has, when `index_field_presence` is on.
pub const FIELD_PRESENCE_FIELD_NAME: &str = "_field_presence";
/// Tokens longer than this are dropped at indexing, as Quickwit does.
const MAX_TOKEN_LENGTH: usize = 255;
/// Tokenizers a text field may name.
pub const TOKENIZER_NAMES: [&str; 5] = ["raw", "default", "en_stem", "lowercase", "whitespace"];
/// Normalizers a fast text field may name.
const NORMALIZER_NAMES: [&str; 2] = ["raw", "lowercase"];

/// Why a record was rejected. `as_str` is the stable code used in counts and error files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The bytes are not JSON.
    MalformedJson,
    /// The JSON is not an object.
    NotAnObject,
    /// A value does not fit its field's type.
    InvalidValue,
    /// `strict` mode and a field the mapping does not name.
    UnmappedField,
    /// The timestamp field is absent or null.
    MissingTimestamp,
    /// The timestamp field could not be read as a datetime.
    InvalidTimestamp,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::UnmappedField => "unmapped_field",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that does not fit the mapping, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocRejection {
    pub reason: RejectReason,
    pub message: String,
}

impl DocRejection {
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        DocRejection {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for DocRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

/// A record turned into a tantivy document.
#[derive(Debug)]
pub struct ParsedDoc {
    pub doc: TantivyDocument,
    /// Value of the timestamp field, in nanoseconds since the epoch.
    pub timestamp_nanos: Option<i64>,
}

/// A mapped leaf field (objects are flattened: `resource.service`).
#[derive(Clone, Debug)]
pub struct MappedField {
    /// Dotted path from the document root; also the tantivy field name.
    pub path: String,
    pub field: Field,
    pub is_array: bool,
    pub kind: FieldKind,
}

/// The type of a mapped leaf field with what conversions need.
#[derive(Clone, Debug)]
pub enum FieldKind {
    Text {
        tokenizer: String,
        has_positions: bool,
        fast: bool,
    },
    U64 {
        coerce: bool,
        as_string: bool,
        fast: bool,
    },
    I64 {
        coerce: bool,
        as_string: bool,
        fast: bool,
    },
    F64 {
        coerce: bool,
        as_string: bool,
        fast: bool,
    },
    Bool {
        fast: bool,
    },
    Datetime {
        input_formats: Vec<DatetimeInputFormat>,
        output_format: DatetimeOutputFormat,
        fast: bool,
    },
    Ip {
        fast: bool,
    },
    Bytes {
        input_format: BinaryFormat,
        output_format: BinaryFormat,
        fast: bool,
    },
    Json {
        tokenizer: String,
        has_positions: bool,
        fast: bool,
    },
}

impl FieldKind {
    /// The config type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Text { .. } => "text",
            FieldKind::U64 { .. } => "u64",
            FieldKind::I64 { .. } => "i64",
            FieldKind::F64 { .. } => "f64",
            FieldKind::Bool { .. } => "bool",
            FieldKind::Datetime { .. } => "datetime",
            FieldKind::Ip { .. } => "ip",
            FieldKind::Bytes { .. } => "bytes",
            FieldKind::Json { .. } => "json",
        }
    }

    /// Whether the field has a fast (columnar) column.
    pub fn is_fast(&self) -> bool {
        match self {
            FieldKind::Text { fast, .. }
            | FieldKind::U64 { fast, .. }
            | FieldKind::I64 { fast, .. }
            | FieldKind::F64 { fast, .. }
            | FieldKind::Bool { fast }
            | FieldKind::Datetime { fast, .. }
            | FieldKind::Ip { fast }
            | FieldKind::Bytes { fast, .. }
            | FieldKind::Json { fast, .. } => *fast,
        }
    }
}

/// Where a field path of a query lands.
#[derive(Clone, Debug)]
pub enum ResolvedField<'a> {
    /// A mapped leaf field.
    Mapped(&'a MappedField),
    /// A path inside a json field (or the dynamic field): the field and the path within it.
    JsonPath {
        field: &'a MappedField,
        json_path: String,
    },
}

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
    default_search_fields: Vec<String>,
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
    /// Builds the schema and validates everything that references a field.
    pub fn new(config: &IndexConfig) -> Result<Self> {
        let doc_mapping = &config.doc_mapping;
        let mut builder = MapperBuilder {
            schema_builder: Schema::builder(),
            fields: Vec::new(),
            field_index_by_path: HashMap::new(),
            timestamp_path: doc_mapping.timestamp_field.clone(),
        };
        let root = builder.add_mappings("", &doc_mapping.field_mappings)?;
        let dynamic_field = match doc_mapping.mode {
            Mode::Dynamic => {
                let options = doc_mapping
                    .dynamic_mapping
                    .clone()
                    .unwrap_or_else(JsonOptions::default_dynamic);
                let (tantivy_options, kind) = json_field_options(DYNAMIC_FIELD_NAME, &options)?;
                let field = builder
                    .schema_builder
                    .add_json_field(DYNAMIC_FIELD_NAME, tantivy_options);
                Some(MappedField {
                    path: DYNAMIC_FIELD_NAME.to_string(),
                    field,
                    is_array: false,
                    kind,
                })
            }
            Mode::Lenient | Mode::Strict => {
                if doc_mapping.dynamic_mapping.is_some() {
                    return Err(Error::InvalidConfig(
                        "dynamic_mapping is only used with `mode: dynamic`".to_string(),
                    ));
                }
                None
            }
        };
        let source_field = doc_mapping.store_source.then(|| {
            builder
                .schema_builder
                .add_json_field(SOURCE_FIELD_NAME, JsonObjectOptions::default().set_stored())
        });
        let field_presence_field = doc_mapping.index_field_presence.then(|| {
            builder.schema_builder.add_u64_field(
                FIELD_PRESENCE_FIELD_NAME,
                TantivyNumericOptions::default().set_indexed(),
            )
        });
        let timestamp_field = match &doc_mapping.timestamp_field {
            None => None,
            Some(path) => {
                let index = *builder.field_index_by_path.get(path).ok_or_else(|| {
                    Error::InvalidConfig(format!("timestamp_field `{path}` is not a mapped field"))
                })?;
                if !matches!(builder.fields[index].kind, FieldKind::Datetime { .. }) {
                    return Err(Error::InvalidConfig(format!(
                        "timestamp_field `{path}` must be of type datetime"
                    )));
                }
                Some(index)
            }
        };
        let mut mapper = DocMapper {
            schema: builder.schema_builder.build(),
            fields: builder.fields,
            field_index_by_path: builder.field_index_by_path,
            root,
            mode: doc_mapping.mode,
            timestamp_field,
            dynamic_field,
            source_field,
            field_presence_field,
            default_search_fields: Vec::new(),
            doc_mapping_uid: doc_mapping_uid(doc_mapping),
            tokenizers: hydrant_tokenizers(),
            fast_field_normalizers: hydrant_fast_field_normalizers(),
            docstore_compression_level: config.indexing_settings.docstore_compression_level,
            docstore_blocksize: config.indexing_settings.docstore_blocksize as usize,
        };
        for name in doc_mapping.tag_fields.iter() {
            mapper.resolve_field(name).ok_or_else(|| {
                Error::InvalidConfig(format!("tag field `{name}` is not a mapped field"))
            })?;
        }
        for name in &config.search_settings.default_search_fields {
            let resolved = mapper.resolve_field(name).ok_or_else(|| {
                Error::InvalidConfig(format!("default search field `{name}` is not a field"))
            })?;
            let indexed = match resolved {
                ResolvedField::Mapped(field) => {
                    mapper.schema.get_field_entry(field.field).is_indexed()
                }
                ResolvedField::JsonPath { field, .. } => {
                    mapper.schema.get_field_entry(field.field).is_indexed()
                }
            };
            if !indexed {
                return Err(Error::InvalidConfig(format!(
                    "default search field `{name}` is not indexed"
                )));
            }
        }
        mapper.default_search_fields = config.search_settings.default_search_fields.clone();
        Ok(mapper)
    }

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

    /// The field holding unmapped fields (`dynamic` mode only).
    pub fn dynamic_field(&self) -> Option<&MappedField> {
        self.dynamic_field.as_ref()
    }

    /// Resolves a dotted path from a query: a mapped field, a path inside a json field, or a
    /// path inside the dynamic field.
    pub fn resolve_field(&self, path: &str) -> Option<ResolvedField<'_>> {
        if let Some(&index) = self.field_index_by_path.get(path) {
            return Some(ResolvedField::Mapped(&self.fields[index]));
        }
        // The longest mapped prefix that is a json field owns the rest of the path.
        let mut split_at = path.len();
        while let Some(dot) = path[..split_at].rfind('.') {
            if let Some(&index) = self.field_index_by_path.get(&path[..dot]) {
                let field = &self.fields[index];
                if matches!(field.kind, FieldKind::Json { .. }) {
                    return Some(ResolvedField::JsonPath {
                        field,
                        json_path: path[dot + 1..].to_string(),
                    });
                }
                return None;
            }
            split_at = dot;
        }
        // A mapped object itself is not a field; anything else may be dynamic.
        let first_segment = path.split('.').next().unwrap_or(path);
        if self.root.children.contains_key(first_segment) {
            return None;
        }
        self.dynamic_field
            .as_ref()
            .map(|field| ResolvedField::JsonPath {
                field,
                json_path: path.to_string(),
            })
    }

    /// Turns one record into a document, or says why it does not fit.
    pub fn doc_from_json(&self, record: Map<String, Value>) -> Result<ParsedDoc, DocRejection> {
        let mut doc = TantivyDocument::new();
        let mut timestamp_nanos = None;
        let mut dynamic_values = Map::new();
        let source = self.source_field.map(|_| record.clone());
        self.add_object(
            &self.root,
            "",
            record,
            &mut doc,
            &mut dynamic_values,
            &mut timestamp_nanos,
        )?;
        if let Some(field) = self.timestamp_field()
            && timestamp_nanos.is_none()
        {
            return Err(DocRejection::new(
                RejectReason::MissingTimestamp,
                format!("timestamp field `{}` is missing", field.path),
            ));
        }
        if let Some(dynamic_field) = &self.dynamic_field
            && !dynamic_values.is_empty()
        {
            doc.add_field_value(dynamic_field.field, &OwnedValue::from(dynamic_values));
        }
        if let (Some(field), Some(source)) = (self.source_field, source) {
            doc.add_field_value(field, &OwnedValue::from(source));
        }
        Ok(ParsedDoc {
            doc,
            timestamp_nanos,
        })
    }

    fn add_object(
        &self,
        node: &ObjectNode,
        path_prefix: &str,
        object: Map<String, Value>,
        doc: &mut TantivyDocument,
        dynamic_values: &mut Map<String, Value>,
        timestamp_nanos: &mut Option<i64>,
    ) -> Result<(), DocRejection> {
        for (key, value) in object {
            if value.is_null() {
                continue;
            }
            match node.children.get(&key) {
                Some(MappingNode::Leaf(index)) => {
                    let field = &self.fields[*index];
                    let is_timestamp = self.timestamp_field == Some(*index);
                    let is_empty_array = value
                        .as_array()
                        .is_some_and(|values| values.iter().all(Value::is_null));
                    self.add_leaf_value(field, value, doc, is_timestamp, timestamp_nanos)?;
                    if let Some(presence) = self.field_presence_field
                        && !is_empty_array
                    {
                        doc.add_u64(presence, field_presence_hash(&field.path));
                    }
                }
                Some(MappingNode::Object(child)) => {
                    let path = join_path(path_prefix, &key);
                    let Value::Object(child_object) = value else {
                        return Err(DocRejection::new(
                            RejectReason::InvalidValue,
                            format!(
                                "`{path}` is an object field, got {}",
                                json_type_name(&value)
                            ),
                        ));
                    };
                    let mut child_dynamic = Map::new();
                    self.add_object(
                        child,
                        &path,
                        child_object,
                        doc,
                        &mut child_dynamic,
                        timestamp_nanos,
                    )?;
                    if !child_dynamic.is_empty() {
                        dynamic_values.insert(key, Value::Object(child_dynamic));
                    }
                }
                None => match self.mode {
                    Mode::Lenient => {}
                    Mode::Strict => {
                        return Err(DocRejection::new(
                            RejectReason::UnmappedField,
                            format!(
                                "field `{}` is not mapped (strict mode)",
                                join_path(path_prefix, &key)
                            ),
                        ));
                    }
                    Mode::Dynamic => {
                        dynamic_values.insert(key, value);
                    }
                },
            }
        }
        Ok(())
    }

    fn add_leaf_value(
        &self,
        field: &MappedField,
        value: Value,
        doc: &mut TantivyDocument,
        is_timestamp: bool,
        timestamp_nanos: &mut Option<i64>,
    ) -> Result<(), DocRejection> {
        if let Value::Array(values) = value {
            if matches!(field.kind, FieldKind::Json { .. }) {
                doc.add_field_value(field.field, &OwnedValue::from(Value::Array(values)));
                return Ok(());
            }
            for value in values.into_iter().filter(|value| !value.is_null()) {
                if value.is_array() {
                    return Err(DocRejection::new(
                        RejectReason::InvalidValue,
                        format!("field `{}` does not accept nested arrays", field.path),
                    ));
                }
                self.add_leaf_value(field, value, doc, is_timestamp, timestamp_nanos)?;
            }
            return Ok(());
        }
        let invalid = |expected: &str, value: &Value| {
            DocRejection::new(
                RejectReason::InvalidValue,
                format!(
                    "field `{}` expects {expected}, got {}",
                    field.path,
                    describe_value(value)
                ),
            )
        };
        match &field.kind {
            FieldKind::Text { .. } => match value {
                Value::String(text) => doc.add_text(field.field, text),
                Value::Number(_) | Value::Bool(_) => doc.add_text(field.field, value.to_string()),
                other => return Err(invalid("a string", &other)),
            },
            FieldKind::U64 { coerce, .. } => {
                let number = match &value {
                    Value::Number(number) => number.as_u64(),
                    Value::String(text) if *coerce => text.trim().parse::<u64>().ok(),
                    _ => None,
                };
                doc.add_u64(
                    field.field,
                    number.ok_or_else(|| invalid("an unsigned integer", &value))?,
                );
            }
            FieldKind::I64 { coerce, .. } => {
                let number = match &value {
                    Value::Number(number) => number.as_i64(),
                    Value::String(text) if *coerce => text.trim().parse::<i64>().ok(),
                    _ => None,
                };
                doc.add_i64(
                    field.field,
                    number.ok_or_else(|| invalid("a signed integer", &value))?,
                );
            }
            FieldKind::F64 { coerce, .. } => {
                let number = match &value {
                    Value::Number(number) => number.as_f64(),
                    Value::String(text) if *coerce => text
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|number| number.is_finite()),
                    _ => None,
                };
                doc.add_f64(
                    field.field,
                    number.ok_or_else(|| invalid("a number", &value))?,
                );
            }
            FieldKind::Bool { .. } => {
                let flag = match &value {
                    Value::Bool(flag) => Some(*flag),
                    Value::String(text) => match text.trim() {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    },
                    _ => None,
                };
                doc.add_bool(
                    field.field,
                    flag.ok_or_else(|| invalid("a boolean", &value))?,
                );
            }
            FieldKind::Datetime { input_formats, .. } => {
                let datetime = parse_datetime(&value, input_formats).map_err(|message| {
                    let reason = if is_timestamp {
                        RejectReason::InvalidTimestamp
                    } else {
                        RejectReason::InvalidValue
                    };
                    DocRejection::new(reason, format!("field `{}`: {message}", field.path))
                })?;
                if is_timestamp && timestamp_nanos.is_none() {
                    *timestamp_nanos = Some(datetime.into_timestamp_nanos());
                }
                doc.add_date(field.field, datetime);
            }
            FieldKind::Ip { .. } => {
                let address = match &value {
                    Value::String(text) => text.trim().parse::<IpAddr>().ok(),
                    _ => None,
                };
                let address = address.ok_or_else(|| invalid("an IP address", &value))?;
                doc.add_ip_addr(field.field, ip_to_v6(address));
            }
            FieldKind::Bytes { input_format, .. } => {
                let bytes = match (&value, input_format) {
                    (Value::String(text), BinaryFormat::Base64) => BASE64.decode(text.trim()).ok(),
                    (Value::String(text), BinaryFormat::Hex) => decode_hex(text.trim()),
                    _ => None,
                };
                let expected = match input_format {
                    BinaryFormat::Base64 => "a base64 string",
                    BinaryFormat::Hex => "a hex string",
                };
                doc.add_bytes(
                    field.field,
                    &bytes.ok_or_else(|| invalid(expected, &value))?,
                );
            }
            FieldKind::Json { .. } => match value {
                Value::Object(object) => {
                    doc.add_field_value(field.field, &OwnedValue::from(object));
                }
                other => return Err(invalid("an object", &other)),
            },
        }
        Ok(())
    }

    /// Renders a stored document as the hit a user sees: nested objects rebuilt from dotted
    /// paths, datetimes and numbers in their output formats, unmapped fields merged back.
    pub fn doc_to_json(&self, doc: &TantivyDocument) -> Map<String, Value> {
        let mut hit = Map::new();
        for mapped_field in &self.fields {
            let values: Vec<Value> = doc
                .get_all(mapped_field.field)
                .filter_map(|value| render_value(mapped_field, &OwnedValue::from(value)))
                .collect();
            if values.is_empty() {
                continue;
            }
            let rendered = if values.len() == 1 && !mapped_field.is_array {
                values.into_iter().next().expect("one value")
            } else {
                Value::Array(values)
            };
            insert_at_path(&mut hit, &mapped_field.path, rendered);
        }
        if let Some(dynamic_field) = &self.dynamic_field {
            for value in doc.get_all(dynamic_field.field) {
                if let Value::Object(object) = owned_to_json(&OwnedValue::from(value)) {
                    merge_objects(&mut hit, object);
                }
            }
        }
        hit
    }

    /// The term meaning "this document has a value for `path`", when `index_field_presence`
    /// is on: what `field:*` uses on fields that are not fast.
    pub fn field_presence_term(&self, path: &str) -> Option<tantivy::Term> {
        let presence = self.field_presence_field?;
        self.field_index_by_path.get(path)?;
        Some(tantivy::Term::from_field_u64(
            presence,
            field_presence_hash(path),
        ))
    }

    /// The original record, when `store_source` is on.
    pub fn source_of(&self, doc: &TantivyDocument) -> Option<Value> {
        let field = self.source_field?;
        doc.get_first(field)
            .map(|value| owned_to_json(&OwnedValue::from(value)))
    }
}

struct MapperBuilder {
    schema_builder: tantivy::schema::SchemaBuilder,
    fields: Vec<MappedField>,
    field_index_by_path: HashMap<String, usize>,
    timestamp_path: Option<String>,
}

impl MapperBuilder {
    fn add_mappings(&mut self, prefix: &str, mappings: &[FieldMapping]) -> Result<ObjectNode> {
        let mut node = ObjectNode::default();
        for mapping in mappings {
            validate_field_name(&mapping.name)?;
            if node.children.contains_key(&mapping.name) {
                return Err(Error::InvalidConfig(format!(
                    "field `{}` is mapped twice",
                    join_path(prefix, &mapping.name)
                )));
            }
            let path = join_path(prefix, &mapping.name);
            let child = match &mapping.field_type {
                FieldType::Object(object) => {
                    MappingNode::Object(self.add_mappings(&path, &object.field_mappings)?)
                }
                field_type => {
                    let is_timestamp = self.timestamp_path.as_deref() == Some(path.as_str());
                    let index = self.add_leaf(&path, mapping.is_array, field_type, is_timestamp)?;
                    MappingNode::Leaf(index)
                }
            };
            node.children.insert(mapping.name.clone(), child);
        }
        Ok(node)
    }

    fn add_leaf(
        &mut self,
        path: &str,
        is_array: bool,
        field_type: &FieldType,
        is_timestamp: bool,
    ) -> Result<usize> {
        let builder = &mut self.schema_builder;
        let (field, kind) = match field_type {
            FieldType::Text(options) => {
                check_name("tokenizer", path, &options.tokenizer, &TOKENIZER_NAMES)?;
                let mut tantivy_options = TantivyTextOptions::default();
                if options.indexed {
                    tantivy_options = tantivy_options.set_indexing_options(
                        TextFieldIndexing::default()
                            .set_tokenizer(&options.tokenizer)
                            .set_index_option(record_option(options.record))
                            .set_fieldnorms(options.fieldnorms),
                    );
                }
                if options.stored {
                    tantivy_options = tantivy_options.set_stored();
                }
                if let FastText::Enabled { normalizer } = &options.fast {
                    check_name("normalizer", path, normalizer, &NORMALIZER_NAMES)?;
                    tantivy_options = tantivy_options.set_fast(normalizer);
                }
                let kind = FieldKind::Text {
                    tokenizer: options.tokenizer.clone(),
                    has_positions: options.indexed && options.record == IndexRecord::Position,
                    fast: options.fast != FastText::Disabled,
                };
                (builder.add_text_field(path, tantivy_options), kind)
            }
            FieldType::U64(options) | FieldType::I64(options) | FieldType::F64(options) => {
                let mut tantivy_options = TantivyNumericOptions::default();
                if options.indexed {
                    tantivy_options = tantivy_options.set_indexed();
                }
                if options.stored {
                    tantivy_options = tantivy_options.set_stored();
                }
                if options.fast {
                    tantivy_options = tantivy_options.set_fast();
                }
                let coerce = options.coerce;
                let as_string = options.output_format == NumericOutputFormat::String;
                let fast = options.fast;
                match field_type {
                    FieldType::U64(_) => (
                        builder.add_u64_field(path, tantivy_options),
                        FieldKind::U64 {
                            coerce,
                            as_string,
                            fast,
                        },
                    ),
                    FieldType::I64(_) => (
                        builder.add_i64_field(path, tantivy_options),
                        FieldKind::I64 {
                            coerce,
                            as_string,
                            fast,
                        },
                    ),
                    _ => (
                        builder.add_f64_field(path, tantivy_options),
                        FieldKind::F64 {
                            coerce,
                            as_string,
                            fast,
                        },
                    ),
                }
            }
            FieldType::Bool(options) => {
                let mut tantivy_options = TantivyNumericOptions::default();
                if options.indexed {
                    tantivy_options = tantivy_options.set_indexed();
                }
                if options.stored {
                    tantivy_options = tantivy_options.set_stored();
                }
                if options.fast {
                    tantivy_options = tantivy_options.set_fast();
                }
                (
                    builder.add_bool_field(path, tantivy_options),
                    FieldKind::Bool { fast: options.fast },
                )
            }
            FieldType::Datetime(options) => {
                let input_formats = options
                    .input_formats
                    .iter()
                    .map(|name| DatetimeInputFormat::parse(name))
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|message| {
                        Error::InvalidConfig(format!("field `{path}`: {message}"))
                    })?;
                if input_formats.is_empty() {
                    return Err(Error::InvalidConfig(format!(
                        "field `{path}`: input_formats is empty"
                    )));
                }
                let output_format =
                    DatetimeOutputFormat::parse(&options.output_format).map_err(|message| {
                        Error::InvalidConfig(format!("field `{path}`: {message}"))
                    })?;
                // The timestamp field prunes and sorts through its fast column, so it is always
                // fast, whatever the config says.
                let fast = options.fast || is_timestamp;
                let mut tantivy_options =
                    DateOptions::default().set_precision(tantivy_precision(options.fast_precision));
                if options.indexed {
                    tantivy_options = tantivy_options.set_indexed();
                }
                if options.stored {
                    tantivy_options = tantivy_options.set_stored();
                }
                if fast {
                    tantivy_options = tantivy_options.set_fast();
                }
                (
                    builder.add_date_field(path, tantivy_options),
                    FieldKind::Datetime {
                        input_formats,
                        output_format,
                        fast,
                    },
                )
            }
            FieldType::Ip(options) => {
                let mut tantivy_options = IpAddrOptions::default();
                if options.indexed {
                    tantivy_options = tantivy_options.set_indexed();
                }
                if options.stored {
                    tantivy_options = tantivy_options.set_stored();
                }
                if options.fast {
                    tantivy_options = tantivy_options.set_fast();
                }
                (
                    builder.add_ip_addr_field(path, tantivy_options),
                    FieldKind::Ip { fast: options.fast },
                )
            }
            FieldType::Bytes(options) => {
                let mut tantivy_options = TantivyBytesOptions::default();
                if options.indexed {
                    tantivy_options = tantivy_options.set_indexed();
                }
                if options.stored {
                    tantivy_options = tantivy_options.set_stored();
                }
                if options.fast {
                    tantivy_options = tantivy_options.set_fast();
                }
                (
                    builder.add_bytes_field(path, tantivy_options),
                    FieldKind::Bytes {
                        input_format: options.input_format,
                        output_format: options.output_format,
                        fast: options.fast,
                    },
                )
            }
            FieldType::Json(options) => {
                let (tantivy_options, kind) = json_field_options(path, options)?;
                (builder.add_json_field(path, tantivy_options), kind)
            }
            FieldType::Object(_) => unreachable!("objects are walked by add_mappings"),
        };
        if is_timestamp && is_array {
            return Err(Error::InvalidConfig(format!(
                "timestamp_field `{path}` cannot be an array"
            )));
        }
        let index = self.fields.len();
        self.fields.push(MappedField {
            path: path.to_string(),
            field,
            is_array,
            kind,
        });
        self.field_index_by_path.insert(path.to_string(), index);
        Ok(index)
    }
}

/// A stable 64-bit hash of a field path (FNV-1a), the value recorded in `_field_presence`.
fn field_presence_hash(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A stable hash of a doc mapping's canonical JSON.
fn doc_mapping_uid(doc_mapping: &crate::index_config::DocMapping) -> String {
    let canonical = serde_json::to_vec(doc_mapping).expect("doc mapping serializes");
    let hash = canonical
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{hash:016x}")
}

fn json_field_options(path: &str, options: &JsonOptions) -> Result<(JsonObjectOptions, FieldKind)> {
    check_name("tokenizer", path, &options.tokenizer, &TOKENIZER_NAMES)?;
    let mut tantivy_options = JsonObjectOptions::default();
    if options.indexed {
        tantivy_options = tantivy_options.set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&options.tokenizer)
                .set_index_option(record_option(options.record)),
        );
    }
    if options.stored {
        tantivy_options = tantivy_options.set_stored();
    }
    if let FastText::Enabled { normalizer } = &options.fast {
        check_name("normalizer", path, normalizer, &NORMALIZER_NAMES)?;
        tantivy_options = tantivy_options.set_fast(normalizer);
    }
    if options.expand_dots {
        tantivy_options = tantivy_options.set_expand_dots_enabled();
    }
    let kind = FieldKind::Json {
        tokenizer: options.tokenizer.clone(),
        has_positions: options.indexed && options.record == IndexRecord::Position,
        fast: options.fast != FastText::Disabled,
    };
    Ok((tantivy_options, kind))
}

fn check_name(what: &str, path: &str, name: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&name) {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "field `{path}`: unknown {what} `{name}` (expected one of {})",
            allowed.join(", ")
        )))
    }
}

fn validate_field_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "invalid field name `{name}`: use letters, digits, `_` or `-`, starting with a letter \
             (nest fields with `type: object`)"
        )))
    }
}

fn record_option(record: IndexRecord) -> IndexRecordOption {
    match record {
        IndexRecord::Basic => IndexRecordOption::Basic,
        IndexRecord::Freq => IndexRecordOption::WithFreqs,
        IndexRecord::Position => IndexRecordOption::WithFreqsAndPositions,
    }
}

fn tantivy_precision(precision: DatetimePrecision) -> DateTimePrecision {
    match precision {
        DatetimePrecision::Seconds => DateTimePrecision::Seconds,
        DatetimePrecision::Milliseconds => DateTimePrecision::Milliseconds,
        DatetimePrecision::Microseconds => DateTimePrecision::Microseconds,
        DatetimePrecision::Nanoseconds => DateTimePrecision::Nanoseconds,
    }
}

/// Hydrant's tokenizers, identical at indexing and at search: Quickwit's definitions, dropping
/// tokens longer than 255 bytes.
pub fn hydrant_tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::new();
    manager.register(
        "raw",
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .build(),
    );
    manager.register(
        "default",
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .build(),
    );
    manager.register(
        "en_stem",
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .filter(Stemmer::new(tantivy::tokenizer::Language::English))
            .build(),
    );
    manager.register(
        "lowercase",
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .filter(LowerCaser)
            .build(),
    );
    manager.register(
        "whitespace",
        TextAnalyzer::builder(WhitespaceTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LENGTH))
            .build(),
    );
    manager
}

/// Normalizers of fast text columns.
fn hydrant_fast_field_normalizers() -> TokenizerManager {
    let manager = TokenizerManager::new();
    manager.register("raw", RawTokenizer::default());
    manager.register(
        "lowercase",
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
    manager
}

fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// IPv4 addresses are stored as IPv4-mapped IPv6 addresses, as tantivy requires.
pub fn ip_to_v6(address: IpAddr) -> Ipv6Addr {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn describe_value(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 64 {
        let cut = (0..=61)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}...", &text[..cut])
    } else {
        text
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn render_value(field: &MappedField, value: &OwnedValue) -> Option<Value> {
    let rendered = match (&field.kind, value) {
        (FieldKind::Text { .. }, OwnedValue::Str(text)) => Value::String(text.clone()),
        (FieldKind::U64 { as_string, .. }, OwnedValue::U64(number)) => {
            number_value(*number, *as_string)
        }
        (FieldKind::I64 { as_string, .. }, OwnedValue::I64(number)) => {
            number_value(*number, *as_string)
        }
        (FieldKind::F64 { as_string, .. }, OwnedValue::F64(number)) => {
            if *as_string {
                Value::String(number.to_string())
            } else {
                serde_json::Number::from_f64(*number).map(Value::Number)?
            }
        }
        (FieldKind::Bool { .. }, OwnedValue::Bool(flag)) => Value::Bool(*flag),
        (FieldKind::Datetime { output_format, .. }, OwnedValue::Date(datetime)) => {
            output_format.format(*datetime)
        }
        (FieldKind::Ip { .. }, OwnedValue::IpAddr(address)) => Value::String(
            address
                .to_ipv4_mapped()
                .map(|v4| v4.to_string())
                .unwrap_or_else(|| address.to_string()),
        ),
        (FieldKind::Bytes { output_format, .. }, OwnedValue::Bytes(bytes)) => {
            Value::String(match output_format {
                BinaryFormat::Base64 => BASE64.encode(bytes),
                BinaryFormat::Hex => encode_hex(bytes),
            })
        }
        (FieldKind::Json { .. }, value) => owned_to_json(value),
        _ => return None,
    };
    Some(rendered)
}

fn number_value<T: Into<serde_json::Number> + ToString + Copy>(
    number: T,
    as_string: bool,
) -> Value {
    if as_string {
        Value::String(number.to_string())
    } else {
        Value::Number(number.into())
    }
}

/// Converts a stored tantivy value back to JSON.
pub fn owned_to_json(value: &OwnedValue) -> Value {
    match value {
        OwnedValue::Null => Value::Null,
        OwnedValue::Str(text) => Value::String(text.clone()),
        OwnedValue::U64(number) => Value::from(*number),
        OwnedValue::I64(number) => Value::from(*number),
        OwnedValue::F64(number) => serde_json::Number::from_f64(*number)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        OwnedValue::Bool(flag) => Value::Bool(*flag),
        OwnedValue::Date(datetime) => DatetimeOutputFormat::Rfc3339.format(*datetime),
        OwnedValue::IpAddr(address) => Value::String(address.to_string()),
        OwnedValue::Bytes(bytes) => Value::String(BASE64.encode(bytes)),
        OwnedValue::Array(values) => Value::Array(values.iter().map(owned_to_json).collect()),
        OwnedValue::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(key, value)| (key.clone(), owned_to_json(value)))
                .collect(),
        ),
        OwnedValue::Facet(facet) => Value::String(facet.to_string()),
        OwnedValue::PreTokStr(text) => Value::String(text.text.clone()),
        OwnedValue::Custom(bytes) => Value::String(BASE64.encode(bytes)),
    }
}

fn insert_at_path(target: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            target.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = target
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert_at_path(child, rest, value);
            }
        }
    }
}

fn merge_objects(target: &mut Map<String, Value>, source: Map<String, Value>) {
    for (key, value) in source {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                merge_objects(existing, incoming)
            }
            (Some(_), _) => {}
            (None, value) => {
                target.insert(key, value);
            }
        }
    }
}

/// Reads the datetime of a stored value, for callers that hold raw stored values.
pub fn owned_datetime(value: &OwnedValue) -> Option<DateTime> {
    value.as_datetime()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapper(yaml: &str) -> DocMapper {
        DocMapper::new(&IndexConfig::from_yaml(yaml).unwrap()).unwrap()
    }

    fn parse(mapper: &DocMapper, record: Value) -> Result<ParsedDoc, DocRejection> {
        mapper.doc_from_json(record.as_object().unwrap().clone())
    }

    const ALL_TYPES: &str = r#"
index_id: all-types
doc_mapping:
  mode: strict
  field_mappings:
    - {name: ts, type: datetime, input_formats: [rfc3339, unix_timestamp], output_format: unix_timestamp_millis, fast_precision: milliseconds}
    - {name: message, type: text, record: position}
    - {name: big, type: u64, fast: true}
    - {name: delta, type: i64}
    - {name: ratio, type: f64, fast: true}
    - {name: ok, type: bool}
    - {name: client, type: ip}
    - {name: blob, type: bytes}
    - {name: tags, type: "array<text>", tokenizer: raw}
    - {name: attributes, type: json}
    - name: resource
      type: object
      field_mappings:
        - {name: service, type: text, tokenizer: raw}
  timestamp_field: ts
"#;

    #[test]
    fn every_type_roundtrips_to_the_hit() {
        let mapper = mapper(ALL_TYPES);
        let record = json!({
            "ts": "2023-11-14T22:13:20.123Z",
            "message": "hello world",
            "big": 18446744073709551615u64,
            "delta": -5,
            "ratio": 0.25,
            "ok": true,
            "client": "10.0.0.1",
            "blob": "aGVsbG8=",
            "tags": ["a", "b"],
            "attributes": {"color": "red", "size": 3},
            "resource": {"service": "api"},
        });
        let parsed = parse(&mapper, record).unwrap();
        assert_eq!(parsed.timestamp_nanos, Some(1_700_000_000_123_000_000));
        let hit = mapper.doc_to_json(&parsed.doc);
        assert_eq!(
            Value::Object(hit),
            json!({
                "ts": 1_700_000_000_123i64,
                "message": "hello world",
                "big": 18446744073709551615u64,
                "delta": -5,
                "ratio": 0.25,
                "ok": true,
                "client": "10.0.0.1",
                "blob": "aGVsbG8=",
                "tags": ["a", "b"],
                "attributes": {"color": "red", "size": 3},
                "resource": {"service": "api"},
            })
        );
    }

    #[test]
    fn bad_records_are_rejected_with_a_reason() {
        let mapper = mapper(ALL_TYPES);
        let cases = [
            (json!({"message": "no ts"}), RejectReason::MissingTimestamp),
            (json!({"ts": null}), RejectReason::MissingTimestamp),
            (json!({"ts": "not a date"}), RejectReason::InvalidTimestamp),
            (
                json!({"ts": 1_700_000_000, "big": -1}),
                RejectReason::InvalidValue,
            ),
            (
                json!({"ts": 1_700_000_000, "delta": 1.5}),
                RejectReason::InvalidValue,
            ),
            (
                json!({"ts": 1_700_000_000, "client": "nope"}),
                RejectReason::InvalidValue,
            ),
            (
                json!({"ts": 1_700_000_000, "blob": "!!"}),
                RejectReason::InvalidValue,
            ),
            (
                json!({"ts": 1_700_000_000, "resource": "flat"}),
                RejectReason::InvalidValue,
            ),
            (
                json!({"ts": 1_700_000_000, "surprise": 1}),
                RejectReason::UnmappedField,
            ),
            (
                json!({"ts": 1_700_000_000, "resource": {"x": 1}}),
                RejectReason::UnmappedField,
            ),
        ];
        for (record, reason) in cases {
            let rejection = parse(&mapper, record.clone()).unwrap_err();
            assert_eq!(rejection.reason, reason, "{record}: {rejection}");
        }
    }

    #[test]
    fn coercion_and_u64_exactness() {
        let mapper = mapper(ALL_TYPES);
        let parsed = parse(
            &mapper,
            json!({"ts": 1, "big": "18446744073709551615", "ok": "false"}),
        )
        .unwrap();
        let hit = mapper.doc_to_json(&parsed.doc);
        assert_eq!(hit["big"], json!(u64::MAX));
        assert_eq!(hit["ok"], json!(false));
    }

    #[test]
    fn dynamic_mode_keeps_unmapped_fields() {
        let mapper = mapper(
            "index_id: dyn\ndoc_mapping:\n  field_mappings:\n    - {name: a, type: u64}\n    - name: o\n      type: object\n      field_mappings:\n        - {name: b, type: u64}\n",
        );
        let parsed = parse(
            &mapper,
            json!({"a": 1, "extra": {"deep": "x"}, "o": {"b": 2, "c": 3}}),
        )
        .unwrap();
        let hit = mapper.doc_to_json(&parsed.doc);
        assert_eq!(
            Value::Object(hit),
            json!({"a": 1, "extra": {"deep": "x"}, "o": {"b": 2, "c": 3}})
        );
        assert!(matches!(
            mapper.resolve_field("extra.deep"),
            Some(ResolvedField::JsonPath { .. })
        ));
        assert!(matches!(
            mapper.resolve_field("o.b"),
            Some(ResolvedField::Mapped(_))
        ));
        assert!(mapper.resolve_field("o").is_none());
    }

    #[test]
    fn lenient_mode_drops_unmapped_fields() {
        let mapper = mapper(
            "index_id: len\ndoc_mapping:\n  mode: lenient\n  field_mappings:\n    - {name: a, type: u64}\n",
        );
        let parsed = parse(&mapper, json!({"a": 1, "extra": 2})).unwrap();
        assert_eq!(
            Value::Object(mapper.doc_to_json(&parsed.doc)),
            json!({"a": 1})
        );
        assert!(mapper.resolve_field("extra").is_none());
    }

    #[test]
    fn invalid_mappings_are_refused() {
        let cases = [
            (
                "    - {name: t, type: text, tokenizer: klingon}\n",
                "klingon",
            ),
            ("    - {name: 1x, type: u64}\n", "invalid field name"),
            (
                "    - {name: a, type: u64}\n    - {name: a, type: u64}\n",
                "twice",
            ),
            (
                "    - {name: d, type: datetime, input_formats: [sometimes]}\n",
                "sometimes",
            ),
        ];
        for (fields, expected) in cases {
            let yaml = format!("index_id: bad\ndoc_mapping:\n  field_mappings:\n{fields}");
            let error = IndexConfig::from_yaml(&yaml).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        let error = IndexConfig::from_yaml(
            "index_id: bad\ndoc_mapping:\n  field_mappings:\n    - {name: a, type: u64}\n  timestamp_field: a\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("must be of type datetime"), "{error}");
    }
}
