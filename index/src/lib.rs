//! What an index is, independent of where it is stored and of who writes it:
//!
//! - [`config`]: the index config a user writes (Quickwit's, as plain serde types), with the
//!   checks that need no schema, and [`template`]: the templates indexes are created from on
//!   first sight, and [`update`]: what an update of a config may change;
//! - [`doc_mapper`]: the config turned into a tantivy schema, records into documents and
//!   stored documents back into hits ([`datetime`] parses and renders its datetimes,
//!   [`partition`] gives a document's partition);
//! - [`split_bundle`]: the split file format, one object holding a whole tantivy index and
//!   openable with one ranged read.
//!
//! ```
//! use hydrant_index::config::IndexConfig;
//! use hydrant_index::doc_mapper::DocMapper;
//!
//! let config = IndexConfig::from_yaml(r#"
//! index_id: sales
//! doc_mapping:
//!   field_mappings:
//!     - {name: name, type: text}
//!     - {name: price, type: f64, fast: true}
//! "#).unwrap();
//! let doc_mapper = DocMapper::new(&config).unwrap();
//! assert!(doc_mapper.resolve_field("price").is_some());
//! ```

pub mod config;
pub mod datetime;
pub mod doc_mapper;
pub mod error;
pub mod partition;
pub mod split_bundle;
pub mod template;
pub mod update;

pub use error::{IndexError, Result};

/// What a JSON value is, for messages: "a string", "an array", "null", ...
pub fn json_type_name(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
