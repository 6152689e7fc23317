//! Schema building: the config's field mappings, checked and turned into tantivy fields and the
//! tree that walks a record.

use std::collections::HashMap;

use tantivy::schema::{
    BytesOptions as TantivyBytesOptions, DateOptions, DateTimePrecision, Field, IndexRecordOption,
    IpAddrOptions, JsonObjectOptions, NumericOptions as TantivyNumericOptions, Schema,
    SchemaBuilder, TextFieldIndexing, TextOptions as TantivyTextOptions,
};

use super::tokenizers::{NORMALIZER_NAMES, hydrant_fast_field_normalizers, index_tokenizers};
use super::{
    Concatenations, DOC_LENGTH_FIELD_NAME, DYNAMIC_FIELD_NAME, DocMapper,
    FIELD_PRESENCE_FIELD_NAME, FieldKind, MappedField, MappingNode, ObjectNode, ResolvedField,
    SOURCE_FIELD_NAME, join_path,
};
use crate::config::{
    ConcatenateOptions, DatetimeOptions, DatetimePrecision, DocMapping, FastText, FieldMapping,
    FieldType, IndexConfig, IndexRecord, JsonOptions, Mode, NumericOptions, NumericOutputFormat,
    TextOptions,
};
use crate::datetime::{DatetimeInputFormat, DatetimeOutputFormat};
use crate::error::{IndexError, Result};
use crate::partition::{DEFAULT_MAX_NUM_PARTITIONS, PartitionKey};

impl DocMapper {
    /// Builds the schema and validates everything that references a field.
    pub fn new(config: &IndexConfig) -> Result<Self> {
        let doc_mapping = &config.spec.doc_mapping;
        let (tokenizers, tokenizer_names) = index_tokenizers(&doc_mapping.tokenizers)?;
        let mut builder = MapperBuilder {
            tokenizer_names,
            dynamic_mode: doc_mapping.mode == Mode::Dynamic,
            schema_builder: Schema::builder(),
            fields: Vec::new(),
            field_index_by_path: HashMap::new(),
            timestamp_path: doc_mapping.timestamp_field.clone(),
            pending_concatenations: Vec::new(),
            concatenations: Concatenations::default(),
        };
        let root = builder.add_mappings("", &doc_mapping.field_mappings)?;
        builder.add_concatenate_fields()?;
        let dynamic_field = builder.add_dynamic_field(doc_mapping)?;
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
        let doc_length_field = doc_mapping
            .store_document_size
            .then(|| builder.add_doc_length_field())
            .transpose()?;
        let timestamp_field = builder.timestamp_field_index()?;
        let partition_key = doc_mapping
            .partition_key
            .as_deref()
            .map(PartitionKey::parse)
            .transpose()
            .map_err(IndexError::InvalidConfig)?;
        let mut mapper = DocMapper {
            partition_key,
            max_num_partitions: doc_mapping
                .max_num_partitions
                .map_or(DEFAULT_MAX_NUM_PARTITIONS, std::num::NonZeroU32::get),
            concatenations: builder.concatenations,
            schema: builder.schema_builder.build(),
            fields: builder.fields,
            field_index_by_path: builder.field_index_by_path,
            root,
            mode: doc_mapping.mode,
            timestamp_field,
            dynamic_field,
            source_field,
            field_presence_field,
            doc_length_field,
            default_search_fields: Vec::new(),
            tag_fields: Vec::new(),
            doc_mapping_uid: doc_mapping.uid(),
            tokenizers,
            fast_field_normalizers: hydrant_fast_field_normalizers(),
            docstore_compression_level: config.spec.indexing_settings.docstore_compression_level,
            docstore_blocksize: config.spec.indexing_settings.docstore_blocksize as usize,
        };
        mapper.check_field_references(config)?;
        mapper.tag_fields = config
            .spec
            .doc_mapping
            .tag_fields
            .iter()
            .filter_map(|name| mapper.field_index_by_path.get(name).copied())
            .collect();
        mapper.default_search_fields = config.spec.search_settings.default_search_fields.clone();
        Ok(mapper)
    }

    /// Tag fields and default search fields name fields that exist; search fields are indexed.
    fn check_field_references(&self, config: &IndexConfig) -> Result<()> {
        for name in &config.spec.doc_mapping.tag_fields {
            self.check_tag_field(name)?;
        }
        let default_fields = &config.spec.search_settings.default_search_fields;
        for (position, name) in default_fields.iter().enumerate() {
            if default_fields[..position].contains(name) {
                return Err(IndexError::InvalidConfig(format!(
                    "default search field `{name}` is listed twice"
                )));
            }
            let field = match self.resolve_field(name) {
                Some(ResolvedField::Mapped(field)) => field,
                Some(ResolvedField::JsonPath { field, .. }) => field,
                None => {
                    return Err(IndexError::InvalidConfig(format!(
                        "unknown default search field `{name}`: it is neither a mapped field \
                         nor a path the dynamic mapping or a json field can hold"
                    )));
                }
            };
            if !self.schema.get_field_entry(field.field).is_indexed() {
                return Err(IndexError::InvalidConfig(format!(
                    "default search field `{name}` is not indexed"
                )));
            }
        }
        Ok(())
    }

    /// Tags are exact values a split lists for pruning, so only fields with one spelling
    /// per value qualify: indexed `u64`, `i64`, or text with the `raw` tokenizer (as in
    /// Quickwit; `0.10` and `0.1`, or `True` and `true`, would be different tags).
    fn check_tag_field(&self, name: &str) -> Result<()> {
        let invalid = |why: String| IndexError::InvalidConfig(format!("tag field `{name}`: {why}"));
        let field = match self.resolve_field(name) {
            Some(ResolvedField::Mapped(field)) => field,
            Some(ResolvedField::JsonPath { .. }) => {
                return Err(invalid(
                    "tags must be mapped fields, not paths in a json field or the dynamic \
                     mapping"
                        .to_string(),
                ));
            }
            None => return Err(invalid("not a mapped field".to_string())),
        };
        match &field.kind {
            FieldKind::U64 { .. } | FieldKind::I64 { .. } => {}
            FieldKind::Text { tokenizer, .. } if tokenizer == "raw" => {}
            FieldKind::Text { tokenizer, .. } => {
                return Err(invalid(format!(
                    "tags on text fields need the `raw` tokenizer, not `{tokenizer}`"
                )));
            }
            other => {
                return Err(invalid(format!(
                    "tags are allowed on u64, i64 and raw text fields, not on {} fields",
                    other.type_name()
                )));
            }
        }
        if !self.schema.get_field_entry(field.field).is_indexed() {
            return Err(invalid("tag fields must be indexed".to_string()));
        }
        Ok(())
    }
}

pub(super) struct MapperBuilder {
    schema_builder: tantivy::schema::SchemaBuilder,
    fields: Vec<MappedField>,
    field_index_by_path: HashMap<String, usize>,
    timestamp_path: Option<String>,
    pending_concatenations: Vec<(String, ConcatenateOptions)>,
    concatenations: Concatenations,
    /// Built-in and custom tokenizers fields may name.
    tokenizer_names: Vec<String>,
    /// `mode: dynamic`: unmapped fields are kept (what concatenations may include).
    dynamic_mode: bool,
}

impl MapperBuilder {
    /// `_doc_length`: fast, neither indexed nor stored, and a field queries and aggregations
    /// can name.
    fn add_doc_length_field(&mut self) -> Result<Field> {
        if self.field_index_by_path.contains_key(DOC_LENGTH_FIELD_NAME) {
            return Err(IndexError::InvalidConfig(format!(
                "`{DOC_LENGTH_FIELD_NAME}` is reserved for store_document_size"
            )));
        }
        let field = self.schema_builder.add_u64_field(
            DOC_LENGTH_FIELD_NAME,
            TantivyNumericOptions::default().set_fast(),
        );
        self.field_index_by_path
            .insert(DOC_LENGTH_FIELD_NAME.to_string(), self.fields.len());
        self.fields.push(MappedField {
            path: DOC_LENGTH_FIELD_NAME.to_string(),
            field,
            is_array: false,
            kind: FieldKind::U64 {
                coerce: false,
                as_string: false,
                fast: true,
            },
        });
        Ok(field)
    }

    /// The json field that holds unmapped fields, in `dynamic` mode.
    fn add_dynamic_field(&mut self, doc_mapping: &DocMapping) -> Result<Option<MappedField>> {
        if doc_mapping.mode != Mode::Dynamic {
            if doc_mapping.dynamic_mapping.is_some() {
                return Err(IndexError::InvalidConfig(
                    "dynamic_mapping is only used with `mode: dynamic`".to_string(),
                ));
            }
            return Ok(None);
        }
        let options = doc_mapping
            .dynamic_mapping
            .clone()
            .unwrap_or_else(JsonOptions::default_dynamic);
        self.check_tokenizer(DYNAMIC_FIELD_NAME, &options.tokenizer)?;
        let (tantivy_options, kind) = json_field_options(DYNAMIC_FIELD_NAME, &options)?;
        let field = self
            .schema_builder
            .add_json_field(DYNAMIC_FIELD_NAME, tantivy_options);
        Ok(Some(MappedField {
            path: DYNAMIC_FIELD_NAME.to_string(),
            field,
            is_array: false,
            kind,
        }))
    }

    /// The timestamp field's position among the mapped fields: it must be a datetime.
    fn timestamp_field_index(&self) -> Result<Option<usize>> {
        let Some(path) = &self.timestamp_path else {
            return Ok(None);
        };
        let index = *self.field_index_by_path.get(path).ok_or_else(|| {
            IndexError::InvalidConfig(format!("timestamp_field `{path}` is not a mapped field"))
        })?;
        if !matches!(self.fields[index].kind, FieldKind::Datetime { .. }) {
            return Err(IndexError::InvalidConfig(format!(
                "timestamp_field `{path}` must be of type datetime"
            )));
        }
        Ok(Some(index))
    }

    fn add_mappings(&mut self, prefix: &str, mappings: &[FieldMapping]) -> Result<ObjectNode> {
        let mut node = ObjectNode::default();
        for mapping in mappings {
            validate_field_name(&mapping.name)?;
            if node.children.contains_key(&mapping.name) {
                return Err(IndexError::InvalidConfig(format!(
                    "field `{}` is mapped twice",
                    join_path(prefix, &mapping.name)
                )));
            }
            let path = join_path(prefix, &mapping.name);
            let child = match &mapping.field_type {
                FieldType::Object(object) => {
                    MappingNode::Object(self.add_mappings(&path, &object.field_mappings)?)
                }
                // Built once every field it names exists; records never hold it themselves.
                FieldType::Concatenate(options) => {
                    self.pending_concatenations.push((path, options.clone()));
                    continue;
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
        match field_type {
            FieldType::Text(TextOptions { tokenizer, .. })
            | FieldType::Json(JsonOptions { tokenizer, .. }) => {
                self.check_tokenizer(path, tokenizer)?;
            }
            _ => {}
        }
        let (field, kind) = leaf_field(&mut self.schema_builder, path, field_type, is_timestamp)?;
        if is_timestamp && is_array {
            return Err(IndexError::InvalidConfig(format!(
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

/// A leaf field of the schema: its tantivy field, added to `builder`, and what it is.
fn leaf_field(
    builder: &mut tantivy::schema::SchemaBuilder,
    path: &str,
    field_type: &FieldType,
    is_timestamp: bool,
) -> Result<(Field, FieldKind)> {
    Ok(match field_type {
        FieldType::Text(options) => text_field(builder, path, options)?,
        FieldType::U64(options) | FieldType::I64(options) | FieldType::F64(options) => {
            numeric_field(builder, path, field_type, options)
        }
        FieldType::Bool(options) => {
            let tantivy_options = switched(
                TantivyNumericOptions::default(),
                options.indexed,
                options.stored,
                options.fast,
            );
            let field = builder.add_bool_field(path, tantivy_options);
            (field, FieldKind::Bool { fast: options.fast })
        }
        FieldType::Datetime(options) => datetime_field(builder, path, options, is_timestamp)?,
        FieldType::Ip(options) => {
            let tantivy_options = switched(
                IpAddrOptions::default(),
                options.indexed,
                options.stored,
                options.fast,
            );
            let field = builder.add_ip_addr_field(path, tantivy_options);
            (field, FieldKind::Ip { fast: options.fast })
        }
        FieldType::Bytes(options) => {
            let tantivy_options = switched(
                TantivyBytesOptions::default(),
                options.indexed,
                options.stored,
                options.fast,
            );
            let kind = FieldKind::Bytes {
                input_format: options.input_format,
                output_format: options.output_format,
                fast: options.fast,
            };
            (builder.add_bytes_field(path, tantivy_options), kind)
        }
        FieldType::Json(options) => {
            let (tantivy_options, kind) = json_field_options(path, options)?;
            (builder.add_json_field(path, tantivy_options), kind)
        }
        // The caller builds these from their children; reaching here is a bug in the caller,
        // reported rather than panicking.
        FieldType::Object(_) | FieldType::Concatenate(_) => {
            return Err(IndexError::InvalidConfig(format!(
                "`{path}` is an object or concatenate field, which has no single tantivy field"
            )));
        }
    })
}

impl MapperBuilder {
    /// A tokenizer name is a built-in or one of the doc mapping's own.
    fn check_tokenizer(&self, path: &str, name: &str) -> Result<()> {
        if self.tokenizer_names.iter().any(|known| known == name) {
            return Ok(());
        }
        Err(IndexError::InvalidConfig(format!(
            "field `{path}`: unknown tokenizer `{name}` (expected one of {}, or one defined in \
             doc_mapping.tokenizers)",
            self.tokenizer_names.join(", ")
        )))
    }

    /// The `concatenate` fields: a text field each, indexed with its own tokenizer, fed the
    /// values of the fields it names (and of dynamic fields, if asked).
    fn add_concatenate_fields(&mut self) -> Result<()> {
        for (path, options) in std::mem::take(&mut self.pending_concatenations) {
            if self.field_index_by_path.contains_key(&path) {
                return Err(IndexError::InvalidConfig(format!(
                    "field `{path}` is mapped twice"
                )));
            }
            let text_options = TextOptions {
                indexed: true,
                stored: false,
                tokenizer: options.tokenizer.clone(),
                record: options.record,
                fieldnorms: options.fieldnorms,
                fast: FastText::Disabled,
            };
            self.check_tokenizer(&path, &text_options.tokenizer)?;
            let (field, kind) = text_field(&mut self.schema_builder, &path, &text_options)?;
            let mut sources = Vec::with_capacity(options.concatenate_fields.len());
            for name in &options.concatenate_fields {
                let invalid = |why: &str| {
                    IndexError::InvalidConfig(format!("concatenate field `{path}`: `{name}` {why}"))
                };
                let index = *self
                    .field_index_by_path
                    .get(name)
                    .ok_or_else(|| invalid("is not a mapped field (objects and paths inside json fields cannot be concatenated)"))?;
                match &self.fields[index].kind {
                    FieldKind::Text { .. }
                    | FieldKind::Bool { .. }
                    | FieldKind::U64 { .. }
                    | FieldKind::I64 { .. }
                    | FieldKind::F64 { .. }
                    | FieldKind::Json { .. } => sources.push(index),
                    other => {
                        return Err(invalid(&format!(
                            "is a {} field; only text, bool, u64, i64, f64 and json fields can be concatenated",
                            other.type_name()
                        )));
                    }
                }
            }
            for source in sources {
                self.concatenations
                    .by_source
                    .entry(source)
                    .or_default()
                    .push(field);
            }
            if options.include_dynamic_fields {
                if !self.dynamic_mode {
                    return Err(IndexError::InvalidConfig(format!(
                        "concatenate field `{path}` sets include_dynamic_fields, but the mode is \
                         not dynamic: there are no dynamic fields"
                    )));
                }
                self.concatenations.of_dynamic.push(field);
            }
            let index = self.fields.len();
            self.fields.push(MappedField {
                path: path.clone(),
                field,
                is_array: false,
                kind,
            });
            self.field_index_by_path.insert(path, index);
            self.concatenations.fields.push(index);
        }
        Ok(())
    }
}

/// The switches every non-text tantivy option type has, under the same three names.
trait FieldSwitches: Sized {
    fn set_indexed(self) -> Self;
    fn set_stored(self) -> Self;
    fn set_fast(self) -> Self;
}

macro_rules! field_switches {
    ($($options:ty),*) => {$(
        impl FieldSwitches for $options {
            fn set_indexed(self) -> Self {
                <$options>::set_indexed(self)
            }
            fn set_stored(self) -> Self {
                <$options>::set_stored(self)
            }
            fn set_fast(self) -> Self {
                <$options>::set_fast(self)
            }
        }
    )*};
}

field_switches!(
    TantivyNumericOptions,
    DateOptions,
    IpAddrOptions,
    TantivyBytesOptions
);

/// `options` with the switches the mapping turns on.
fn switched<T: FieldSwitches>(mut options: T, indexed: bool, stored: bool, fast: bool) -> T {
    if indexed {
        options = options.set_indexed();
    }
    if stored {
        options = options.set_stored();
    }
    if fast {
        options = options.set_fast();
    }
    options
}

fn text_field(
    builder: &mut SchemaBuilder,
    path: &str,
    options: &TextOptions,
) -> Result<(Field, FieldKind)> {
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
    Ok((builder.add_text_field(path, tantivy_options), kind))
}

/// A u64, i64 or f64 field: the same options, three tantivy types.
fn numeric_field(
    builder: &mut SchemaBuilder,
    path: &str,
    field_type: &FieldType,
    options: &NumericOptions,
) -> (Field, FieldKind) {
    let tantivy_options = switched(
        TantivyNumericOptions::default(),
        options.indexed,
        options.stored,
        options.fast,
    );
    let (coerce, fast) = (options.coerce, options.fast);
    let as_string = options.output_format == NumericOutputFormat::String;
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

fn datetime_field(
    builder: &mut SchemaBuilder,
    path: &str,
    options: &DatetimeOptions,
    is_timestamp: bool,
) -> Result<(Field, FieldKind)> {
    let invalid = |message: String| IndexError::InvalidConfig(format!("field `{path}`: {message}"));
    let input_formats = options
        .input_formats
        .iter()
        .map(|name| DatetimeInputFormat::parse(name))
        .collect::<Result<Vec<_>, String>>()
        .map_err(invalid)?;
    if input_formats.is_empty() {
        return Err(invalid("input_formats is empty".to_string()));
    }
    let output_format = DatetimeOutputFormat::parse(&options.output_format).map_err(invalid)?;
    // The timestamp field prunes and sorts through its fast column, so it is always fast,
    // whatever the config says.
    let fast = options.fast || is_timestamp;
    let tantivy_options = switched(
        DateOptions::default().set_precision(tantivy_precision(options.fast_precision)),
        options.indexed,
        options.stored,
        fast,
    );
    let kind = FieldKind::Datetime {
        input_formats,
        output_format,
        fast,
    };
    Ok((builder.add_date_field(path, tantivy_options), kind))
}

pub(super) fn json_field_options(
    path: &str,
    options: &JsonOptions,
) -> Result<(JsonObjectOptions, FieldKind)> {
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
        Err(IndexError::InvalidConfig(format!(
            "field `{path}`: unknown {what} `{name}` (expected one of {})",
            allowed.join(", ")
        )))
    }
}

/// Letters, digits, `_` or `-`, starting with a letter: what field and tokenizer names are.
pub(super) fn validate_field_name(name: &str) -> Result<()> {
    if super::field::is_valid_name(name) {
        Ok(())
    } else {
        Err(IndexError::InvalidConfig(format!(
            "invalid field name `{name}`: use letters, digits, `_` or `-`, starting with a letter \
             (nest fields with `type: object`)"
        )))
    }
}

pub(super) fn record_option(record: IndexRecord) -> IndexRecordOption {
    match record {
        IndexRecord::Basic => IndexRecordOption::Basic,
        IndexRecord::Freq => IndexRecordOption::WithFreqs,
        IndexRecord::Position => IndexRecordOption::WithFreqsAndPositions,
    }
}

pub(super) fn tantivy_precision(precision: DatetimePrecision) -> DateTimePrecision {
    match precision {
        DatetimePrecision::Seconds => DateTimePrecision::Seconds,
        DatetimePrecision::Milliseconds => DateTimePrecision::Milliseconds,
        DatetimePrecision::Microseconds => DateTimePrecision::Microseconds,
        DatetimePrecision::Nanoseconds => DateTimePrecision::Nanoseconds,
    }
}
