//! The query language: parsing into a schema-free [`QueryAst`], then binding it to a doc
//! mapping as a tantivy query.

mod ast;
mod build;
mod parser;

pub use ast::QueryAst;
pub use build::{BuildError, build_query};
pub use parser::{QueryParseError, parse_query};
