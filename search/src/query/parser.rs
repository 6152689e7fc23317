//! The query string parser: Quickwit's query language into a [`QueryAst`].
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*              implicit AND between clauses
//! unary   := ("NOT" | "-") unary | "+" unary | primary
//! primary := "(" or ")" | "*" | phrase | field ":" value | term
//! value   := "(" or ")"                          the field applies inside the group
//!          | ("[" | "{") bound "TO" bound ("]" | "}")
//!          | (">" | ">=" | "<" | "<=") bound
//!          | "IN" "[" (term | phrase)* "]"
//!          | "*"                                 the field exists
//!          | phrase ["~" slop] | term ["*"]      a trailing `*` makes a prefix
//! ```
//!
//! `AND`, `OR`, `NOT` and `TO` are keywords only in capitals. A backslash escapes the next
//! character. Errors carry the character position of the problem.
//!
//! The parser recurses once per nesting level, so nesting is bounded ([`MAX_QUERY_DEPTH`]
//! levels of parentheses and `NOT`/`-`/`+`), and so is the number of clauses
//! ([`MAX_QUERY_CLAUSES`]): a crafted query gets an error, never a stack overflow, and the AST
//! built from it stays small enough to walk (and drop) recursively.

use std::fmt;
use std::ops::Bound;

use super::ast::QueryAst;

/// Deepest nesting of groups and negations a query may have (Elasticsearch refuses bool
/// queries nested deeper than 30 by default).
pub const MAX_QUERY_DEPTH: usize = 32;
/// Most clauses (terms, phrases, ranges, ...) a query may have (Elasticsearch's default
/// `max_clause_count` is 4,096 for the expanded query; this counts what the user wrote).
pub const MAX_QUERY_CLAUSES: usize = 1_024;

/// A query that does not parse: what is wrong, and where (0-based character position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryParseError {
    pub message: String,
    pub position: usize,
}

impl fmt::Display for QueryParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at position {})", self.message, self.position)
    }
}

impl std::error::Error for QueryParseError {}

/// Parses a query string.
///
/// ```
/// use hydrant_search::query::{QueryAst, parse_query};
///
/// let ast = parse_query("quantity:>5 AND -name:cheese").unwrap();
/// assert!(matches!(ast, QueryAst::And(_)));
/// let error = parse_query("name:(apple").unwrap_err();
/// assert_eq!(error.position, 11);
/// ```
pub fn parse_query(query: &str) -> Result<QueryAst, QueryParseError> {
    parse_query_with(query, DefaultOperator::And)
}

/// How clauses side by side without `AND` or `OR` between them combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultOperator {
    /// Every clause must match: Quickwit's native API.
    #[default]
    And,
    /// Any clause may match, and `-clause` must not: Elasticsearch's `query_string` and `q=`.
    /// An explicit `AND` still binds its neighbours together.
    Or,
}

/// Parses a query string whose clauses combine by `default_operator`.
///
/// ```
/// use hydrant_search::query::{DefaultOperator, QueryAst, parse_query_with};
///
/// let ast = parse_query_with("apple pear", DefaultOperator::Or).unwrap();
/// assert!(matches!(ast, QueryAst::Bool { minimum_should_match: 1, .. }));
/// ```
pub fn parse_query_with(
    query: &str,
    default_operator: DefaultOperator,
) -> Result<QueryAst, QueryParseError> {
    let mut parser = Parser {
        input: query,
        position: 0,
        field_context: None,
        depth: 0,
        clauses: 0,
        default_operator,
    };
    parser.skip_whitespace();
    if parser.at_end() {
        return Err(parser.error_here("the query is empty; use `*` to match all documents"));
    }
    let ast = parser.parse_or()?;
    parser.skip_whitespace();
    if !parser.at_end() {
        let unexpected = parser.peek().unwrap_or(' ');
        return Err(parser.error_here(format!("unexpected `{unexpected}`")));
    }
    Ok(ast)
}

struct Parser<'a> {
    input: &'a str,
    /// Byte offset of the next character.
    position: usize,
    /// The field of an enclosing `field:(...)` group.
    field_context: Option<String>,
    /// Groups and negations enclosing the position.
    depth: usize,
    /// Clauses parsed so far.
    clauses: usize,
    default_operator: DefaultOperator,
}

/// Characters that end a bare word.
fn is_word_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '"')
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.position..]
    }

    fn at_end(&self) -> bool {
        self.position >= self.input.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn advance(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += c.len_utf8();
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.advance();
        }
    }

    fn char_position(&self, byte_position: usize) -> usize {
        self.input[..byte_position.min(self.input.len())]
            .chars()
            .count()
    }

    fn error_at(&self, byte_position: usize, message: impl Into<String>) -> QueryParseError {
        QueryParseError {
            message: message.into(),
            position: self.char_position(byte_position),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> QueryParseError {
        self.error_at(self.position, message)
    }

    /// Whether a capitalized keyword starts here, followed by a delimiter.
    fn at_keyword(&self, keyword: &str) -> bool {
        let rest = self.rest();
        rest.starts_with(keyword)
            && rest[keyword.len()..].chars().next().is_none_or(|next| {
                next.is_whitespace() || next == '(' || next == '"' || next == '\''
            })
    }

    fn expect(&mut self, expected: char, what: &str) -> Result<(), QueryParseError> {
        self.skip_whitespace();
        match self.peek() {
            Some(c) if c == expected => {
                self.advance();
                Ok(())
            }
            Some(c) => Err(self.error_here(format!("expected {what}, found `{c}`"))),
            None => Err(self.error_here(format!("expected {what}, found the end of the query"))),
        }
    }

    /// Enters one more level of nesting, refusing to go deeper than [`MAX_QUERY_DEPTH`].
    fn descend(&mut self) -> Result<(), QueryParseError> {
        if self.depth >= MAX_QUERY_DEPTH {
            return Err(self.error_here(format!(
                "the query nests groups and negations more than {MAX_QUERY_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    /// Counts one more clause, refusing more than [`MAX_QUERY_CLAUSES`].
    fn count_clause(&mut self, start: usize) -> Result<(), QueryParseError> {
        self.clauses += 1;
        if self.clauses > MAX_QUERY_CLAUSES {
            return Err(self.error_at(
                start,
                format!("the query has more than {MAX_QUERY_CLAUSES} clauses"),
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<QueryAst, QueryParseError> {
        let mut clauses = vec![self.parse_and()?];
        loop {
            self.skip_whitespace();
            if !self.at_keyword("OR") {
                break;
            }
            self.position += 2;
            clauses.push(self.parse_and()?);
        }
        Ok(if clauses.len() == 1 {
            clauses.pop().expect("one clause")
        } else {
            QueryAst::Or(clauses)
        })
    }

    fn parse_and(&mut self) -> Result<QueryAst, QueryParseError> {
        // Runs of clauses joined by an explicit AND; a run ends where the default operator
        // joins the next clause (with the AND default, all clauses form one run).
        let mut runs = vec![vec![self.parse_unary()?]];
        loop {
            self.skip_whitespace();
            if self.at_end() || self.peek() == Some(')') || self.at_keyword("OR") {
                break;
            }
            if self.at_keyword("AND") {
                self.position += 3;
            } else if self.default_operator == DefaultOperator::Or {
                runs.push(Vec::new());
            }
            let clause = self.parse_unary()?;
            runs.last_mut().expect("a run").push(clause);
        }
        let mut groups: Vec<QueryAst> = runs
            .into_iter()
            .map(|mut run| {
                if run.len() == 1 {
                    run.pop().expect("one clause")
                } else {
                    QueryAst::And(run)
                }
            })
            .collect();
        if groups.len() == 1 {
            return Ok(groups.pop().expect("one group"));
        }
        let (must_not, should): (Vec<QueryAst>, Vec<QueryAst>) = groups
            .into_iter()
            .partition(|group| matches!(group, QueryAst::Not(_)));
        let must_not = must_not
            .into_iter()
            .map(|group| match group {
                QueryAst::Not(inner) => *inner,
                other => other,
            })
            .collect();
        Ok(QueryAst::Bool {
            must: Vec::new(),
            minimum_should_match: usize::from(!should.is_empty()),
            should,
            must_not,
        })
    }

    fn parse_unary(&mut self) -> Result<QueryAst, QueryParseError> {
        self.skip_whitespace();
        self.descend()?;
        let unary = self.parse_unary_at_depth();
        self.depth -= 1;
        unary
    }

    fn parse_unary_at_depth(&mut self) -> Result<QueryAst, QueryParseError> {
        if self.at_keyword("NOT") {
            self.position += 3;
            return Ok(QueryAst::Not(Box::new(self.parse_unary()?)));
        }
        if self.at_keyword("AND") || self.at_keyword("OR") {
            return Err(self.error_here("expected a clause before the operator"));
        }
        match self.peek() {
            Some('-') => {
                self.advance();
                if self.peek().is_none_or(char::is_whitespace) {
                    return Err(self.error_here("expected a clause after `-`"));
                }
                Ok(QueryAst::Not(Box::new(self.parse_unary()?)))
            }
            Some('+') => {
                self.advance();
                self.parse_unary()
            }
            _ => self.parse_primary(),
        }
    }

    fn parse_primary(&mut self) -> Result<QueryAst, QueryParseError> {
        self.skip_whitespace();
        let start = self.position;
        if !matches!(self.peek(), Some('(') | None) {
            self.count_clause(start)?;
        }
        match self.peek() {
            None => Err(self.error_here("expected a clause, found the end of the query")),
            Some('(') => {
                self.advance();
                let inner = self.parse_or()?;
                self.expect(')', "`)`")?;
                Ok(inner)
            }
            Some(')') => Err(self.error_here("unexpected `)`")),
            Some('*')
                if self.rest()[1..]
                    .chars()
                    .next()
                    .is_none_or(is_word_delimiter) =>
            {
                self.advance();
                Ok(match &self.field_context {
                    Some(field) => QueryAst::Exists {
                        field: field.clone(),
                        position: self.char_position(start),
                    },
                    None => QueryAst::MatchAll,
                })
            }
            Some('"' | '\'') => {
                let field = self.field_context.clone();
                self.parse_phrase(field, start)
            }
            // A range or comparison in a field group applies to the group's field; alone, to
            // the default fields (an empty field name, see `QueryAst::Range`).
            Some('[' | '{') => {
                let field = self.field_context.clone().unwrap_or_default();
                let position = self.char_position(start);
                self.parse_range(field, position)
            }
            Some('>' | '<') => {
                let field = self.field_context.clone().unwrap_or_default();
                let position = self.char_position(start);
                self.parse_comparison(field, position)
            }
            Some(c) if matches!(c, ']' | '}') => Err(self.error_here(format!("unexpected `{c}`"))),
            Some(_) => {
                let word = self.read_word(false)?;
                if self.peek() == Some(':') {
                    self.advance();
                    if self.field_context.is_some() {
                        return Err(self.error_at(start, "a field inside a field group"));
                    }
                    return self.parse_field_value(word.text, start);
                }
                let field = self.field_context.clone();
                Ok(self.term_or_prefix(field, word, start))
            }
        }
    }

    fn parse_field_value(
        &mut self,
        field: String,
        field_start: usize,
    ) -> Result<QueryAst, QueryParseError> {
        if field.is_empty() {
            return Err(self.error_at(field_start, "empty field name before `:`"));
        }
        let value_start = self.position;
        let position = self.char_position(field_start);
        match self.peek() {
            None => Err(self.error_here(format!("expected a value after `{field}:`"))),
            Some(c) if c.is_whitespace() => {
                Err(self.error_here(format!("expected a value right after `{field}:`")))
            }
            Some('(') => {
                self.advance();
                let outer = self.field_context.replace(field);
                let inner = self.parse_or();
                self.field_context = outer;
                let inner = inner?;
                self.expect(')', "`)`")?;
                Ok(inner)
            }
            Some('[') | Some('{') => self.parse_range(field, position),
            Some('>') | Some('<') => self.parse_comparison(field, position),
            Some('"' | '\'') => self.parse_phrase(Some(field), field_start),
            Some('*')
                if self.rest()[1..]
                    .chars()
                    .next()
                    .is_none_or(is_word_delimiter) =>
            {
                self.advance();
                Ok(QueryAst::Exists { field, position })
            }
            Some(_) if self.at_keyword("IN") => {
                self.position += 2;
                self.parse_set(field, position)
            }
            Some(_) => {
                let word = self.read_word(true)?;
                if word.text.is_empty() {
                    return Err(
                        self.error_at(value_start, format!("expected a value after `{field}:`"))
                    );
                }
                Ok(self.term_or_prefix(Some(field), word, field_start))
            }
        }
    }

    /// `>v`, `>=v`, `<v`, `<=v` on `field`.
    fn parse_comparison(
        &mut self,
        field: String,
        position: usize,
    ) -> Result<QueryAst, QueryParseError> {
        let is_greater = self.advance() == Some('>');
        let inclusive = self.peek() == Some('=');
        if inclusive {
            self.advance();
        }
        let bound_start = self.position;
        let value = self.read_bound_value()?;
        if value.is_none() {
            return Err(self.error_at(bound_start, "a comparison needs a value, not `*`"));
        }
        let bound = match (value, inclusive) {
            (Some(value), true) => Bound::Included(value),
            (Some(value), false) => Bound::Excluded(value),
            (None, _) => Bound::Unbounded,
        };
        let (lower, upper) = if is_greater {
            (bound, Bound::Unbounded)
        } else {
            (Bound::Unbounded, bound)
        };
        Ok(QueryAst::Range {
            field,
            lower,
            upper,
            position,
        })
    }

    fn term_or_prefix(&self, field: Option<String>, word: Word, start: usize) -> QueryAst {
        let position = self.char_position(start);
        if let Some(pattern) = word.wildcard {
            QueryAst::Wildcard {
                field,
                pattern,
                position,
            }
        } else if word.ends_with_wildcard {
            QueryAst::Prefix {
                field,
                prefix: word.text,
                position,
            }
        } else {
            QueryAst::Term {
                field,
                value: word.text,
                position,
            }
        }
    }

    fn parse_phrase(
        &mut self,
        field: Option<String>,
        start: usize,
    ) -> Result<QueryAst, QueryParseError> {
        let text = self.read_quoted()?;
        // `"a b"*`: the phrase with its last word as a prefix.
        if self.peek() == Some('*') {
            self.advance();
            return Ok(QueryAst::Prefix {
                field,
                prefix: text,
                position: self.char_position(start),
            });
        }
        let mut slop = 0;
        if self.peek() == Some('~') {
            self.advance();
            let digits_start = self.position;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.advance();
            }
            slop = self.input[digits_start..self.position]
                .parse()
                .map_err(|_| self.error_at(digits_start, "expected a number after `~`"))?;
        }
        Ok(QueryAst::Phrase {
            field,
            text,
            slop,
            position: self.char_position(start),
        })
    }

    fn parse_range(&mut self, field: String, position: usize) -> Result<QueryAst, QueryParseError> {
        let lower_inclusive = self.advance() == Some('[');
        self.skip_whitespace();
        let lower = self.read_bound_value()?;
        self.skip_whitespace();
        if !self.at_keyword("TO") {
            return Err(self.error_here("expected `TO` in the range"));
        }
        self.position += 2;
        self.skip_whitespace();
        let upper = self.read_bound_value()?;
        self.skip_whitespace();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            Some(c) => {
                return Err(self.error_here(format!(
                    "expected `]` or `}}` to close the range, found `{c}`"
                )));
            }
            None => return Err(self.error_here("expected `]` or `}` to close the range")),
        };
        self.advance();
        let bound = |value: Option<String>, inclusive: bool| match value {
            None => Bound::Unbounded,
            Some(value) if inclusive => Bound::Included(value),
            Some(value) => Bound::Excluded(value),
        };
        Ok(QueryAst::Range {
            field,
            lower: bound(lower, lower_inclusive),
            upper: bound(upper, upper_inclusive),
            position,
        })
    }

    fn parse_set(&mut self, field: String, position: usize) -> Result<QueryAst, QueryParseError> {
        self.skip_whitespace();
        self.expect('[', "`[` after IN")?;
        let mut values = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(']') => {
                    self.advance();
                    break;
                }
                Some('"' | '\'') => values.push(self.read_quoted()?),
                Some(_) => {
                    let word = self.read_word(true)?;
                    if word.text.is_empty() {
                        let c = self.peek().unwrap_or(' ');
                        return Err(self.error_here(format!("unexpected `{c}` in the IN set")));
                    }
                    values.push(word.text);
                }
                None => return Err(self.error_here("expected `]` to close the IN set")),
            }
        }
        Ok(QueryAst::Set {
            field,
            values,
            position,
        })
    }

    /// A range or comparison bound: `*` (unbounded) or a word that may contain `:`. As in
    /// Quickwit, a bound is one word: neither a phrase nor a word with escaped spaces.
    fn read_bound_value(&mut self) -> Result<Option<String>, QueryParseError> {
        match self.peek() {
            Some('"' | '\'') => Err(self.error_here(
                "a range bound is one word, not a phrase (for values with spaces, use the \
                 Elasticsearch API's `range` query)",
            )),
            Some('*')
                if self.rest()[1..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || matches!(c, ']' | '}' | ')')) =>
            {
                self.advance();
                Ok(None)
            }
            _ => {
                let start = self.position;
                let word = self.read_word(true)?;
                if word.text.is_empty() {
                    return Err(self.error_at(start, "expected a value"));
                }
                if word.has_escaped_whitespace {
                    return Err(self.error_at(
                        start,
                        "a range bound cannot hold escaped spaces (for values with spaces, use \
                         the Elasticsearch API's `range` query)",
                    ));
                }
                Ok(Some(word.text))
            }
        }
    }

    /// A phrase between double or single quotes (`"a b"`, `'a b'`); `\\` escapes the quote.
    fn read_quoted(&mut self) -> Result<String, QueryParseError> {
        let start = self.position;
        let quote = self.advance().unwrap_or('"');
        let unterminated = || format!("unterminated phrase: missing `{quote}`");
        let mut text = String::new();
        loop {
            match self.advance() {
                None => return Err(self.error_at(start, unterminated())),
                Some(c) if c == quote => return Ok(text),
                Some('\\') => match self.advance() {
                    Some(escaped) => text.push(escaped),
                    None => return Err(self.error_at(start, unterminated())),
                },
                Some(c) => text.push(c),
            }
        }
    }

    /// A bare word, unescaped. `allow_colon`: inside a field value, `:` is an ordinary
    /// character (`ts:>2024-01-01T00:00:00Z`).
    fn read_word(&mut self, allow_colon: bool) -> Result<Word, QueryParseError> {
        let mut text = String::new();
        let mut pattern = String::new();
        let mut ends_with_wildcard = false;
        let mut inner_wildcard = false;
        let mut has_escaped_whitespace = false;
        while let Some(c) = self.peek() {
            if is_word_delimiter(c) || (c == ':' && !allow_colon) {
                break;
            }
            self.advance();
            ends_with_wildcard = false;
            match c {
                '\\' => match self.advance() {
                    Some(escaped) => {
                        has_escaped_whitespace |= escaped.is_whitespace();
                        text.push(escaped);
                        pattern.push('\\');
                        pattern.push(escaped);
                    }
                    None => return Err(self.error_here("a query cannot end with `\\`")),
                },
                '*' => {
                    pattern.push('*');
                    // A trailing `*` alone makes a prefix; anywhere else, a wildcard.
                    if self
                        .peek()
                        .is_none_or(|next| is_word_delimiter(next) || next == ':')
                    {
                        ends_with_wildcard = true;
                    } else {
                        text.push('*');
                        inner_wildcard = true;
                    }
                }
                '?' => {
                    text.push('?');
                    pattern.push('?');
                    inner_wildcard = true;
                }
                c => {
                    text.push(c);
                    pattern.push(c);
                }
            }
        }
        Ok(Word {
            text,
            ends_with_wildcard,
            wildcard: inner_wildcard.then_some(pattern),
            has_escaped_whitespace,
        })
    }
}

struct Word {
    text: String,
    ends_with_wildcard: bool,
    /// The word as a wildcard pattern (`\\` escapes), when it has a `?` or a `*` before its
    /// end.
    wildcard: Option<String>,
    /// `a\ b`: one word holding a space.
    has_escaped_whitespace: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(field: Option<&str>, value: &str, position: usize) -> QueryAst {
        QueryAst::Term {
            field: field.map(str::to_string),
            value: value.to_string(),
            position,
        }
    }

    #[test]
    fn terms_and_boolean_operators() {
        assert_eq!(parse_query("*").unwrap(), QueryAst::MatchAll);
        assert_eq!(parse_query("apple").unwrap(), term(None, "apple", 0));
        assert_eq!(
            parse_query("a b OR c AND NOT d").unwrap(),
            QueryAst::Or(vec![
                QueryAst::And(vec![term(None, "a", 0), term(None, "b", 2)]),
                QueryAst::And(vec![
                    term(None, "c", 7),
                    QueryAst::Not(Box::new(term(None, "d", 17))),
                ]),
            ])
        );
        assert_eq!(
            parse_query("-name:x +y").unwrap(),
            QueryAst::And(vec![
                QueryAst::Not(Box::new(term(Some("name"), "x", 1))),
                term(None, "y", 9),
            ])
        );
        assert_eq!(
            parse_query("name:(a OR b)").unwrap(),
            QueryAst::Or(vec![
                term(Some("name"), "a", 6),
                term(Some("name"), "b", 11)
            ])
        );
        assert_eq!(parse_query("ANDROID").unwrap(), term(None, "ANDROID", 0));
    }

    #[test]
    fn phrases_prefixes_ranges_sets_exists() {
        assert_eq!(
            parse_query(r#"body:"hello \"big\" world"~2"#).unwrap(),
            QueryAst::Phrase {
                field: Some("body".into()),
                text: "hello \"big\" world".into(),
                slop: 2,
                position: 0,
            }
        );
        assert_eq!(
            parse_query("qui*").unwrap(),
            QueryAst::Prefix {
                field: None,
                prefix: "qui".into(),
                position: 0
            }
        );
        assert_eq!(
            parse_query("quantity:>=5").unwrap(),
            QueryAst::Range {
                field: "quantity".into(),
                lower: Bound::Included("5".into()),
                upper: Bound::Unbounded,
                position: 0,
            }
        );
        assert_eq!(
            parse_query("ts:[2024-01-01T00:00:00Z TO *}").unwrap(),
            QueryAst::Range {
                field: "ts".into(),
                lower: Bound::Included("2024-01-01T00:00:00Z".into()),
                upper: Bound::Unbounded,
                position: 0,
            }
        );
        assert_eq!(
            parse_query("price:{1 TO 2]").unwrap(),
            QueryAst::Range {
                field: "price".into(),
                lower: Bound::Excluded("1".into()),
                upper: Bound::Included("2".into()),
                position: 0,
            }
        );
        assert_eq!(
            parse_query(r#"name:IN [a "b c" d]"#).unwrap(),
            QueryAst::Set {
                field: "name".into(),
                values: vec!["a".into(), "b c".into(), "d".into()],
                position: 0
            }
        );
        assert_eq!(
            parse_query("name:*").unwrap(),
            QueryAst::Exists {
                field: "name".into(),
                position: 0
            }
        );
        assert_eq!(
            parse_query(r"path:a\:b").unwrap(),
            term(Some("path"), "a:b", 0)
        );
        assert_eq!(
            parse_query("url:http://x").unwrap(),
            term(Some("url"), "http://x", 0)
        );
    }

    #[test]
    fn nesting_and_clauses_are_bounded() {
        let nested = |levels: usize| format!("{}a{}", "(".repeat(levels), ")".repeat(levels));
        assert!(parse_query(&nested(MAX_QUERY_DEPTH - 1)).is_ok());
        for hostile in [
            nested(MAX_QUERY_DEPTH),
            nested(100_000),
            format!("{}a", "NOT ".repeat(50_000)),
            format!("{}a", "-".repeat(50_000)),
            format!("{}a", "+".repeat(50_000)),
            format!("f:{}a{}", "(".repeat(50_000), ")".repeat(50_000)),
        ] {
            let error = parse_query(&hostile).unwrap_err();
            assert!(error.message.contains("levels deep"), "{error}");
        }
        let many = "a ".repeat(MAX_QUERY_CLAUSES);
        assert!(parse_query(&many).is_ok());
        let error = parse_query(&format!("{many} b")).unwrap_err();
        assert!(error.message.contains("clauses"), "{error}");
        assert_eq!(error.position, 2 * MAX_QUERY_CLAUSES + 1);
    }

    #[test]
    fn wildcards_and_ranges_without_a_field() {
        assert_eq!(
            parse_query("body:Jou*al").unwrap(),
            QueryAst::Wildcard {
                field: Some("body".into()),
                pattern: "Jou*al".into(),
                position: 0,
            }
        );
        assert_eq!(
            parse_query(r"a\*b?").unwrap(),
            QueryAst::Wildcard {
                field: None,
                pattern: r"a\*b?".into(),
                position: 0,
            }
        );
        // Ranges alone search the default fields; in a group, the group's field.
        assert_eq!(
            parse_query(">=5").unwrap(),
            QueryAst::Range {
                field: String::new(),
                lower: Bound::Included("5".into()),
                upper: Bound::Unbounded,
                position: 0,
            }
        );
        assert_eq!(
            parse_query("n:(>1 AND [2 TO 3])").unwrap(),
            QueryAst::And(vec![
                QueryAst::Range {
                    field: "n".into(),
                    lower: Bound::Excluded("1".into()),
                    upper: Bound::Unbounded,
                    position: 3,
                },
                QueryAst::Range {
                    field: "n".into(),
                    lower: Bound::Included("2".into()),
                    upper: Bound::Included("3".into()),
                    position: 10,
                },
            ])
        );
    }

    #[test]
    fn single_quotes_make_phrases() {
        assert_eq!(
            parse_query(r"f:'AB CD' 'it\'s'").unwrap(),
            QueryAst::And(vec![
                QueryAst::Phrase {
                    field: Some("f".into()),
                    text: "AB CD".into(),
                    slop: 0,
                    position: 0,
                },
                QueryAst::Phrase {
                    field: None,
                    text: "it's".into(),
                    slop: 0,
                    position: 10,
                },
            ])
        );
        assert_eq!(
            parse_query(r#"f:"2024-01-01"*"#).unwrap(),
            QueryAst::Prefix {
                field: Some("f".into()),
                prefix: "2024-01-01".into(),
                position: 0,
            }
        );
        // Inside a word, `'` is an ordinary character.
        assert_eq!(parse_query("don't").unwrap(), term(None, "don't", 0));
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            ("", 0, "empty"),
            ("name:(apple", 11, "`)`"),
            ("a AND", 5, "end of the query"),
            ("OR a", 0, "before the operator"),
            ("a )", 2, "unexpected `)`"),
            ("x:[1 2]", 5, "TO"),
            ("x:[1 TO 2", 9, "close the range"),
            ("\"open", 0, "unterminated"),
            ("name: x", 5, "right after"),
            ("]", 0, "unexpected `]`"),
            ("x:>*", 3, "not `*`"),
            ("'open", 0, "missing `'`"),
            // A range bound is one word, as in Quickwit's query language.
            (r#"x:["a b" TO c]"#, 3, "one word"),
            ("x:[a TO 'b c']", 8, "one word"),
            (r"x:[a\ b TO c]", 3, "escaped spaces"),
            (r"x:>=a\ b", 4, "escaped spaces"),
        ];
        for (query, position, needle) in cases {
            let error = parse_query(query).unwrap_err();
            assert_eq!(error.position, position, "{query}: {error}");
            assert!(error.message.contains(needle), "{query}: {error}");
        }
    }
}
