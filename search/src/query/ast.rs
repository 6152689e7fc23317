//! The query AST: what a query string means, before it is bound to any schema.

use std::ops::Bound;

/// A parsed query. Field names are as written (dotted paths); `None` means the index's
/// default search fields (or the request's `search_field`). `position` is the character
/// position of the clause in the query string, for error messages.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryAst {
    /// Every document.
    MatchAll,
    /// All clauses match.
    And(Vec<QueryAst>),
    /// At least one clause matches.
    Or(Vec<QueryAst>),
    /// The clause does not match.
    Not(Box<QueryAst>),
    /// A value, tokenized like the field's indexed values; several tokens form a phrase.
    Term {
        field: Option<String>,
        value: String,
        position: usize,
    },
    /// Tokens in order, at most `slop` positions apart.
    Phrase {
        field: Option<String>,
        text: String,
        slop: u32,
        position: usize,
    },
    /// Any term starting with `prefix`.
    Prefix {
        field: Option<String>,
        prefix: String,
        position: usize,
    },
    /// Values between two bounds.
    Range {
        field: String,
        lower: Bound<String>,
        upper: Bound<String>,
        position: usize,
    },
    /// Any of the values.
    Set {
        field: String,
        values: Vec<String>,
        position: usize,
    },
    /// The field has a value.
    Exists { field: String, position: usize },
}
