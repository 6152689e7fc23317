//! Partitioning: `doc_mapping.partition_key` routes each document into a partition, and a
//! split only ever holds one partition (merges keep them apart), so that a query pinning the
//! key searches only that partition's splits.
//!
//! The key is Quickwit's routing expression: comma-separated parts, each a field path or
//! `hash_mod(expression, n)`:
//!
//! - `tenant_id`: one partition per tenant;
//! - `tenant_id,app_id`: one per combination;
//! - `tenant_id,hash_mod(app_id, 8)`: up to 8 per tenant;
//! - `hash_mod((tenant_id,app_id), 50)`: 50 in all.
//!
//! An indexing run makes at most `max_num_partitions` partitions; documents of any further
//! one go to [`OTHER_PARTITION_ID`], which no query prunes.
//!
//! ```
//! use hydrant_index::partition::PartitionKey;
//! use serde_json::json;
//!
//! let key = PartitionKey::parse("tenant_id,hash_mod(app, 4)").unwrap();
//! let record = json!({"tenant_id": "acme", "app": "billing", "n": 1});
//! let same = json!({"tenant_id": "acme", "app": "billing", "n": 2});
//! let other = json!({"tenant_id": "globex", "app": "billing"});
//! let of = |record: &serde_json::Value| key.partition_of(record.as_object().unwrap());
//! assert_eq!(of(&record), of(&same));
//! assert_ne!(of(&record), of(&other));
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Where documents go once a run has made `max_num_partitions` partitions. Never pruned.
pub const OTHER_PARTITION_ID: u64 = u64::MAX;
/// `max_num_partitions` when the doc mapping does not say, as in Quickwit.
pub const DEFAULT_MAX_NUM_PARTITIONS: u32 = 200;
/// Longest partition key accepted, and deepest nesting of `hash_mod`: bounds parsing.
const MAX_KEY_LENGTH: usize = 1_024;
const MAX_NESTING: usize = 8;

/// A parsed `partition_key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionKey {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// A field's value, by dotted path.
    Field(String),
    /// The inner parts hashed, modulo `n`.
    HashMod(Vec<Part>, u64),
}

impl PartitionKey {
    /// Parses a routing expression; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<PartitionKey, String> {
        if text.len() > MAX_KEY_LENGTH {
            return Err(format!(
                "partition_key is longer than {MAX_KEY_LENGTH} bytes"
            ));
        }
        let mut parser = Parser {
            text,
            position: 0,
            depth: 0,
        };
        let parts = parser.parts()?;
        parser.skip_spaces();
        if parser.position < text.len() {
            return Err(parser.error("unexpected text"));
        }
        Ok(PartitionKey { parts })
    }

    /// The field paths the key reads, in order of first appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields = Vec::new();
        let mut pending: Vec<&Part> = self.parts.iter().rev().collect();
        while let Some(part) = pending.pop() {
            match part {
                Part::Field(path) => {
                    if !fields.contains(&path.as_str()) {
                        fields.push(path.as_str());
                    }
                }
                Part::HashMod(inner, _) => pending.extend(inner.iter().rev()),
            }
        }
        fields
    }

    /// The partition of a record.
    pub fn partition_of(&self, record: &Map<String, Value>) -> u64 {
        self.partition_with(&|path| canonical(lookup(record, path)))
    }

    /// The partition of documents whose key fields have these values (canonical text, as
    /// [`canonical_value`] writes them); `None` when a field of the key has no value given.
    pub fn partition_of_values(&self, values: &BTreeMap<String, String>) -> Option<u64> {
        if self
            .fields()
            .iter()
            .any(|field| !values.contains_key(*field))
        {
            return None;
        }
        Some(self.partition_with(&|path| values.get(path).map(|value| value.as_bytes().to_vec())))
    }

    fn partition_with(&self, value_of: &dyn Fn(&str) -> Option<Vec<u8>>) -> u64 {
        // The overflow partition's id is never a computed one.
        hash_parts(&self.parts, value_of).min(OTHER_PARTITION_ID - 1)
    }
}

/// FNV-1a over each part's bytes, a separator after each: stable across versions and
/// machines, which a partition id stored in split metadata must be.
fn hash_parts(parts: &[Part], value_of: &dyn Fn(&str) -> Option<Vec<u8>>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut feed = |bytes: &[u8]| {
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for part in parts {
        match part {
            Part::Field(path) => match value_of(path) {
                Some(bytes) => {
                    feed(b"v");
                    feed(&bytes);
                }
                None => feed(b"-"),
            },
            Part::HashMod(inner, modulus) => {
                feed(b"h");
                feed(&(hash_parts(inner, value_of) % modulus).to_le_bytes());
            }
        }
        feed(&[0xff]);
    }
    hash
}

/// The value at a dotted path of a record (`a.b` in `{"a": {"b": 1}}`, or the key `a.b`).
fn lookup<'a>(record: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = record.get(path) {
        return Some(value);
    }
    let (head, rest) = path.split_once('.')?;
    match record.get(head)? {
        Value::Object(object) => lookup(object, rest),
        _ => None,
    }
}

fn canonical(value: Option<&Value>) -> Option<Vec<u8>> {
    match value? {
        Value::Null => None,
        value => Some(canonical_value(value).into_bytes()),
    }
}

/// How a key field's value is hashed: a string as it is, anything else as JSON writes it
/// (`42`, `true`), so that `"42"` in one record and `42` in another land together, as a
/// coercing field indexes both as 42.
pub fn canonical_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

struct Parser<'a> {
    text: &'a str,
    position: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!(
            "partition_key `{}`: {what} at position {}",
            self.text, self.position
        )
    }

    fn skip_spaces(&mut self) {
        while self.text[self.position..].starts_with(' ') {
            self.position += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.position..].chars().next()
    }

    /// `part (, part)*`
    fn parts(&mut self) -> Result<Vec<Part>, String> {
        let mut parts = vec![self.part()?];
        loop {
            self.skip_spaces();
            if self.peek() != Some(',') {
                return Ok(parts);
            }
            self.position += 1;
            parts.push(self.part()?);
        }
    }

    /// A field path, `hash_mod(argument, n)`, or `(parts)`.
    fn part(&mut self) -> Result<Part, String> {
        self.skip_spaces();
        if self.peek() == Some('(') {
            return Err(self.error("a parenthesized list is only an argument of hash_mod"));
        }
        let start = self.position;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            self.position += 1;
        }
        let name = &self.text[start..self.position];
        if name.is_empty() {
            return Err(self.error("expected a field name or hash_mod(...)"));
        }
        self.skip_spaces();
        if self.peek() != Some('(') {
            return Ok(Part::Field(name.to_string()));
        }
        if name != "hash_mod" {
            return Err(self.error(&format!(
                "unknown function `{name}` (the only one is hash_mod)"
            )));
        }
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(&format!("hash_mod nests more than {MAX_NESTING} deep")));
        }
        self.position += 1;
        self.skip_spaces();
        let inner = if self.peek() == Some('(') {
            self.position += 1;
            let inner = self.parts()?;
            self.skip_spaces();
            if self.peek() != Some(')') {
                return Err(self.error("expected `)` to close the list"));
            }
            self.position += 1;
            inner
        } else {
            vec![self.part()?]
        };
        self.skip_spaces();
        if self.peek() != Some(',') {
            return Err(self.error("hash_mod needs a modulus: hash_mod(field, n)"));
        }
        self.position += 1;
        self.skip_spaces();
        let digits_start = self.position;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.position += 1;
        }
        let modulus: u64 = self.text[digits_start..self.position]
            .parse()
            .ok()
            .filter(|modulus| *modulus > 0)
            .ok_or_else(|| self.error("the modulus of hash_mod must be a positive integer"))?;
        self.skip_spaces();
        if self.peek() != Some(')') {
            return Err(self.error("expected `)` to close hash_mod"));
        }
        self.position += 1;
        self.depth -= 1;
        Ok(Part::HashMod(inner, modulus))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(key: &PartitionKey, record: Value) -> u64 {
        key.partition_of(record.as_object().unwrap())
    }

    #[test]
    fn expressions_of_quickwit_docs() {
        for text in [
            "tenant_id",
            "tenant_id,app_id",
            "tenant_id,hash_mod(app_id, 8)",
            "hash_mod((tenant_id,app_id), 50)",
            "resource.service",
        ] {
            PartitionKey::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        }
        let key = PartitionKey::parse("hash_mod((tenant_id,app_id), 50)").unwrap();
        assert_eq!(key.fields(), ["tenant_id", "app_id"]);
        let partitions: std::collections::BTreeSet<u64> = (0..500)
            .map(|n| {
                of(
                    &key,
                    json!({"tenant_id": n % 7, "app_id": format!("app{n}")}),
                )
            })
            .collect();
        assert!(partitions.len() <= 50, "{}", partitions.len());
    }

    #[test]
    fn values_route_as_the_records_do() {
        let key = PartitionKey::parse("tenant,resource.service").unwrap();
        let record = json!({"tenant": 42, "resource": {"service": "api"}});
        let values: BTreeMap<String, String> = [
            ("tenant".to_string(), "42".to_string()),
            ("resource.service".to_string(), "api".to_string()),
        ]
        .into();
        assert_eq!(Some(of(&key, record)), key.partition_of_values(&values));
        assert_eq!(
            of(&key, json!({"tenant": "42", "resource.service": "api"})),
            of(&key, json!({"tenant": 42, "resource": {"service": "api"}}))
        );
        let partial: BTreeMap<String, String> = [("tenant".to_string(), "42".to_string())].into();
        assert_eq!(key.partition_of_values(&partial), None);
        // A missing field is a partition of its own, not a crash.
        assert_ne!(
            of(&key, json!({"tenant": 42})),
            of(&key, json!({"tenant": 43}))
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (text, needle) in [
            ("", "expected a field name"),
            ("hash_mod(a)", "needs a modulus"),
            ("hash_mod(a, 0)", "positive integer"),
            ("md5(a)", "unknown function"),
            ("a b", "unexpected text"),
            ("(a, b)", "only an argument"),
            (&"hash_mod(".repeat(20), "nests more than"),
        ] {
            let error = PartitionKey::parse(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
