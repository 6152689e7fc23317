//! The query AST: what a query means, before it is bound to any schema. Query strings parse
//! into it, and so does Elasticsearch's query DSL; it is serializable, so a leaf search in
//! another invocation receives it as planned.

use std::ops::Bound;

use serde::{Deserialize, Serialize};

/// A parsed query. Field names are as written (dotted paths); `None` means the index's
/// default search fields (or the request's `search_field`). `position` is the character
/// position of the clause in the query string, for error messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryAst {
    /// Every document.
    MatchAll,
    /// No document.
    MatchNone,
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
    /// Values between two bounds. An empty `field` is the default fields (a range the query
    /// string gives no field: `>=5`).
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
    /// Elasticsearch's `bool`: every `must` clause, no `must_not` clause, and at least
    /// `minimum_should_match` of the `should` clauses (`filter` clauses are `must` clauses
    /// inside [`QueryAst::Filter`], which scores nothing).
    Bool {
        must: Vec<QueryAst>,
        should: Vec<QueryAst>,
        must_not: Vec<QueryAst>,
        minimum_should_match: usize,
    },
    /// Text tokenized like the field's values, each token a term; all tokens must match
    /// (`conjunction`) or any. With `last_is_prefix`, the last token matches as a prefix
    /// (Elasticsearch's `match_bool_prefix`).
    Match {
        field: Option<String>,
        text: String,
        conjunction: bool,
        last_is_prefix: bool,
        /// A text that tokenizes to nothing matches every document (Elasticsearch's
        /// `zero_terms_query: all`) rather than none.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        zero_terms_match_all: bool,
        position: usize,
    },
    /// A value as indexed, not tokenized: Elasticsearch's `term`.
    ExactTerm {
        field: String,
        value: String,
        position: usize,
    },
    /// Terms matching a regular expression, whole.
    Regex {
        field: String,
        pattern: String,
        position: usize,
    },
    /// Terms matching a wildcard pattern whole (`*` any run, `?` any one character, `\`
    /// escapes), lowercased first on fields whose tokenizer lowercases: `jou*al`. `None` is
    /// the default fields.
    Wildcard {
        field: Option<String>,
        pattern: String,
        position: usize,
    },
    /// Clauses inside that do not fit the mapping (an unknown field, a value of the wrong
    /// type) match nothing instead of failing the query: Elasticsearch's `lenient`.
    Lenient(Box<QueryAst>),
    /// Matches what the clause matches and adds nothing to a document's score:
    /// Elasticsearch's `filter` clauses of `bool`.
    Filter(Box<QueryAst>),
}

impl QueryAst {
    /// How deeply clauses nest: a bare clause is 1.
    pub fn depth(&self) -> usize {
        let deepest = |clauses: &[QueryAst]| clauses.iter().map(QueryAst::depth).max().unwrap_or(0);
        match self {
            QueryAst::And(clauses) | QueryAst::Or(clauses) => 1 + deepest(clauses),
            QueryAst::Not(inner) | QueryAst::Lenient(inner) | QueryAst::Filter(inner) => {
                1 + inner.depth()
            }
            QueryAst::Bool {
                must,
                should,
                must_not,
                ..
            } => 1 + deepest(must).max(deepest(should)).max(deepest(must_not)),
            _ => 1,
        }
    }
}
