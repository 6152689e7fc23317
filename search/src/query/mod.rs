//! The query language: parsing into a schema-free [`QueryAst`], then binding it to a doc
//! mapping as a tantivy query.

mod ast;
mod build;
mod build_dsl;
mod parser;
mod tags;

pub use ast::QueryAst;
pub use build::{BuildError, build_query};
pub use build_dsl::{MAX_PATTERN_BYTES, regex_escape, wildcard_to_regex};
pub use parser::{
    DefaultOperator, MAX_QUERY_CLAUSES, MAX_QUERY_DEPTH, QueryParseError, parse_query,
    parse_query_with,
};
pub use tags::{TagFilter, pinned_partition};
