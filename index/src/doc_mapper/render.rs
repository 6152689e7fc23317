//! Stored document → hit JSON, in the shapes the mapping's output formats ask for.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use tantivy::schema::{OwnedValue, Value as _};
use tantivy::{DateTime, TantivyDocument};

use super::{DocMapper, FieldKind, MappedField, field_presence_hash};
use crate::config::BinaryFormat;
use crate::datetime::DatetimeOutputFormat;

impl DocMapper {
    /// Renders a stored document as the hit a user sees: nested objects rebuilt from dotted
    /// paths, datetimes and numbers in their output formats, unmapped fields merged back.
    pub fn doc_to_json(&self, doc: &TantivyDocument) -> Map<String, Value> {
        let mut hit = Map::new();
        for mapped_field in &self.fields {
            if Some(mapped_field.field) == self.doc_length_field {
                // Stored for aggregations, not part of the record.
                continue;
            }
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

    /// The term meaning "this document has a value for `path`" (a mapped field, or a path
    /// inside a json field or the dynamic field as the user writes it), when
    /// `index_field_presence` is on: what `field:*` uses on fields that are not fast.
    pub fn field_presence_term(&self, path: &str) -> Option<tantivy::Term> {
        let presence = self.field_presence_field?;
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

pub(super) fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(super) fn render_value(field: &MappedField, value: &OwnedValue) -> Option<Value> {
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

pub(super) fn number_value<T: Into<serde_json::Number> + ToString + Copy>(
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

pub(super) fn insert_at_path(target: &mut Map<String, Value>, path: &str, value: Value) {
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

pub(super) fn merge_objects(target: &mut Map<String, Value>, source: Map<String, Value>) {
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
