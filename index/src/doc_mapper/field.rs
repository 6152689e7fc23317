//! What a mapped field is, and why a record is rejected.

use std::fmt;

use tantivy::TantivyDocument;
use tantivy::schema::Field;

use crate::config::BinaryFormat;
use crate::datetime::{DatetimeInputFormat, DatetimeOutputFormat};

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
    /// The document's partition (`doc_mapping.partition_key`); 0 without a key.
    pub partition_id: u64,
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

/// The rule for the names a config gives its fields and tokenizers: a letter, then letters,
/// digits, `_` or `-`. Dots are kept for paths into object fields.
pub(super) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
