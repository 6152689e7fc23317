//! Record JSON → tantivy document: every value coerced and checked against its mapping, or
//! the record rejected with a reason.

use std::net::{IpAddr, Ipv6Addr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use tantivy::TantivyDocument;
use tantivy::schema::OwnedValue;

use super::{
    DocMapper, DocRejection, FieldKind, MappedField, MappingNode, ObjectNode, ParsedDoc,
    RejectReason, field_presence_hash, join_path,
};
use crate::config::{BinaryFormat, Mode};
use crate::datetime::parse_datetime;
use crate::error::Result;
use crate::json_type_name;

impl DocMapper {
    /// Turns one record into a document, or says why it does not fit.
    pub fn doc_from_json(&self, record: Map<String, Value>) -> Result<ParsedDoc, DocRejection> {
        let size_bytes = match self.doc_length_field {
            Some(_) => serde_json::to_vec(&record).map_or(0, |bytes| bytes.len()),
            None => 0,
        };
        self.doc_from_record(record, size_bytes)
    }

    /// [`DocMapper::doc_from_json`] for a record read from `size_bytes` bytes, the size
    /// `store_document_size` keeps.
    pub fn doc_from_record(
        &self,
        record: Map<String, Value>,
        size_bytes: usize,
    ) -> Result<ParsedDoc, DocRejection> {
        let partition_id = self
            .partition_key
            .as_ref()
            .map_or(0, |key| key.partition_of(&record));
        let mut doc = TantivyDocument::new();
        if let Some(field) = self.doc_length_field {
            doc.add_u64(field, size_bytes as u64);
        }
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
            if let Some(presence) = self.field_presence_field
                && !dynamic_field.kind.is_fast()
            {
                add_json_presence(&mut doc, presence, "", &dynamic_values);
            }
            if !self.concatenations.of_dynamic.is_empty() {
                for value in dynamic_values.values() {
                    add_concatenated(&mut doc, &self.concatenations.of_dynamic, value);
                }
            }
            doc.add_field_value(dynamic_field.field, &OwnedValue::from(dynamic_values));
        }
        if let (Some(field), Some(source)) = (self.source_field, source) {
            doc.add_field_value(field, &OwnedValue::from(source));
        }
        Ok(ParsedDoc {
            doc,
            timestamp_nanos,
            partition_id,
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
                    if let Some(presence) = self.field_presence_field
                        && !is_empty_array
                    {
                        doc.add_u64(presence, field_presence_hash(&field.path));
                        if matches!(field.kind, FieldKind::Json { .. })
                            && !field.kind.is_fast()
                            && let Value::Object(object) = &value
                        {
                            add_json_presence(doc, presence, &field.path, object);
                        }
                    }
                    if let Some(targets) = self.concatenations.by_source.get(index) {
                        add_concatenated(doc, targets, &value);
                    }
                    self.add_leaf_value(field, value, doc, is_timestamp, timestamp_nanos)?;
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
        add_scalar(field, value, doc, is_timestamp, timestamp_nanos)
    }
}

/// Adds one value (not an array) of `field` to `doc`, coerced as the mapping allows.
///
/// Longer than most functions here on purpose: one arm per field kind, so that the coercion
/// rules of all kinds read side by side (and match Quickwit's table of them).
fn add_scalar(
    field: &MappedField,
    value: Value,
    doc: &mut TantivyDocument,
    is_timestamp: bool,
    timestamp_nanos: &mut Option<i64>,
) -> Result<(), DocRejection> {
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
            let number = coerced(&value, *coerce, serde_json::Number::as_u64);
            let number = number.ok_or_else(|| invalid("an unsigned integer", &value))?;
            doc.add_u64(field.field, number);
        }
        FieldKind::I64 { coerce, .. } => {
            let number = coerced(&value, *coerce, serde_json::Number::as_i64);
            let number = number.ok_or_else(|| invalid("a signed integer", &value))?;
            doc.add_i64(field.field, number);
        }
        FieldKind::F64 { coerce, .. } => {
            let number = coerced(&value, *coerce, serde_json::Number::as_f64)
                .filter(|number| number.is_finite());
            doc.add_f64(
                field.field,
                number.ok_or_else(|| invalid("a number", &value))?,
            );
        }
        FieldKind::Bool { .. } => {
            let flag = match &value {
                Value::Bool(flag) => Some(*flag),
                Value::String(text) => text.trim().parse::<bool>().ok(),
                _ => None,
            };
            doc.add_bool(
                field.field,
                flag.ok_or_else(|| invalid("a boolean", &value))?,
            );
        }
        FieldKind::Datetime { input_formats, .. } => {
            let datetime = parse_datetime(&value, input_formats).map_err(|message| {
                // A bad timestamp is counted apart: it is what makes records unfindable by time.
                let reason = match is_timestamp {
                    true => RejectReason::InvalidTimestamp,
                    false => RejectReason::InvalidValue,
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
            let bytes = decode_bytes(&value, *input_format);
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
            Value::Object(object) => doc.add_field_value(field.field, &OwnedValue::from(object)),
            other => return Err(invalid("an object", &other)),
        },
    }
    Ok(())
}

/// Records every path inside a json value (`json_text.a`, and `json_text.a.b` below it) in
/// the field presence field, so that `json_text.a:*` finds documents with any value there on
/// json fields that have no fast column to ask. Depth is bounded by the JSON parser's own
/// recursion limit.
fn add_json_presence(
    doc: &mut TantivyDocument,
    presence: tantivy::schema::Field,
    prefix: &str,
    object: &Map<String, Value>,
) {
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        let path = join_path(prefix, key);
        doc.add_u64(presence, field_presence_hash(&path));
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Value::Object(child) => add_json_presence(doc, presence, &path, child),
                Value::Array(items) => pending.extend(items),
                _ => {}
            }
        }
    }
}

/// Adds every scalar inside `value` to the `concatenate` fields `targets`, as text: strings
/// as they are, numbers and booleans as JSON writes them (`42`, `1.5`, `true`); objects and
/// arrays give their leaves, paths left out. Datetimes inside json stay strings here, so a
/// prefix (`"2024-01-01"*`) finds them.
fn add_concatenated(doc: &mut TantivyDocument, targets: &[tantivy::schema::Field], value: &Value) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text.clone(),
            Value::Bool(flag) => flag.to_string(),
            Value::Number(number) => number.to_string(),
            Value::Array(items) => {
                pending.extend(items.iter().rev());
                continue;
            }
            Value::Object(object) => {
                pending.extend(object.values().rev());
                continue;
            }
        };
        for &target in targets {
            doc.add_text(target, &text);
        }
    }
}

fn decode_bytes(value: &Value, input_format: BinaryFormat) -> Option<Vec<u8>> {
    let Value::String(text) = value else {
        return None;
    };
    match input_format {
        BinaryFormat::Base64 => BASE64.decode(text.trim()).ok(),
        BinaryFormat::Hex => decode_hex(text.trim()),
    }
}

/// A JSON number as `T`, or with `coerce` a string that parses as one.
fn coerced<T: std::str::FromStr>(
    value: &Value,
    coerce: bool,
    from_number: fn(&serde_json::Number) -> Option<T>,
) -> Option<T> {
    match value {
        Value::Number(number) => from_number(number),
        Value::String(text) if coerce => text.trim().parse::<T>().ok(),
        _ => None,
    }
}

/// IPv4 addresses are stored as IPv4-mapped IPv6 addresses, as tantivy requires.
pub fn ip_to_v6(address: IpAddr) -> Ipv6Addr {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

pub(super) fn describe_value(value: &Value) -> String {
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

pub(super) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
