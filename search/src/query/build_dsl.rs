//! The clauses only Elasticsearch's query DSL produces (`bool` with `minimum_should_match`,
//! `match`, `term`, `regexp` and `wildcard`), bound to a doc mapping as the query string's are
//! in `build.rs`.

use std::fmt::Write as _;

use hydrant_index::doc_mapper::{FieldKind, MappedField, ResolvedField};
use tantivy::Term;
use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, Query, RegexQuery};

use super::ast::QueryAst;
use super::build::{
    BuildResult, QueryBuilder, all_of, any_of, error, json_root_as_path, json_text_term,
    prefix_term_query, term_query,
};

/// Longest regular expression (or wildcard pattern) accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1_000;

impl QueryBuilder<'_> {
    /// Every `must`, no `must_not`, at least `minimum_should_match` of `should`. With a
    /// minimum of 0 the `should` clauses would only change scores, which Hydrant does not
    /// compute for them: they are left out.
    pub(super) fn bool_query(
        &self,
        must: &[QueryAst],
        should: &[QueryAst],
        must_not: &[QueryAst],
        minimum_should_match: usize,
    ) -> BuildResult<Box<dyn Query>> {
        if minimum_should_match > should.len() {
            return Ok(Box::new(EmptyQuery));
        }
        let mut clauses = Vec::with_capacity(must.len() + must_not.len() + 1);
        for clause in must {
            clauses.push((Occur::Must, self.build(clause)?));
        }
        for clause in must_not {
            clauses.push((Occur::MustNot, self.build(clause)?));
        }
        if minimum_should_match > 0 {
            let should = should
                .iter()
                .map(|clause| self.build(clause))
                .collect::<BuildResult<Vec<_>>>()?;
            let at_least = if minimum_should_match == 1 {
                any_of(should)
            } else {
                let should = should
                    .into_iter()
                    .map(|query| (Occur::Should, query))
                    .collect();
                Box::new(BooleanQuery::with_minimum_required_clauses(
                    should,
                    minimum_should_match,
                ))
            };
            clauses.push((Occur::Must, at_least));
        }
        if !clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// `text` tokenized as the field's values are; every token a term, all or any of them
    /// required. A value on a non-text field is one typed value.
    pub(super) fn match_query(
        &self,
        resolved: ResolvedField<'_>,
        text: &str,
        conjunction: bool,
        last_is_prefix: bool,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let terms: Vec<Term> = match json_root_as_path(resolved) {
            ResolvedField::Mapped(field) => {
                self.check_indexed(field, position)?;
                let FieldKind::Text { tokenizer, .. } = &field.kind else {
                    return Ok(term_query(self.typed_term(field, text, position)?));
                };
                self.tokens(tokenizer, text)
                    .iter()
                    .map(|token| Term::from_field_text(field.field, token))
                    .collect()
            }
            ResolvedField::JsonPath { field, json_path } => {
                self.check_indexed(field, position)?;
                let tokens = self.tokens(json_tokenizer(field), text);
                if tokens.is_empty() {
                    return Ok(Box::new(EmptyQuery));
                }
                if tokens.len() == 1 && !last_is_prefix {
                    // One token: a number, a boolean or a date may be what is meant.
                    return Ok(any_of(self.json_alternatives(field, &json_path, text)));
                }
                tokens
                    .iter()
                    .map(|token| json_text_term(field, &json_path, token))
                    .collect()
            }
        };
        let mut queries: Vec<Box<dyn Query>> = Vec::with_capacity(terms.len());
        let last = terms.len().saturating_sub(1);
        for (index, term) in terms.into_iter().enumerate() {
            if last_is_prefix && index == last {
                queries.push(prefix_term_query(term));
            } else {
                queries.push(term_query(term));
            }
        }
        if queries.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        Ok(if conjunction {
            all_of(queries)
        } else {
            any_of(queries)
        })
    }

    /// `value` as the term it would be indexed as, without tokenizing it: `PushEvent` does
    /// not match a lowercased `pushevent`, as in Elasticsearch.
    pub(super) fn exact_term_query(
        &self,
        resolved: ResolvedField<'_>,
        value: &str,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        match json_root_as_path(resolved) {
            ResolvedField::Mapped(field) if self.is_fast_only(field) => {
                self.fast_only_term_query(field, value, position)
            }
            ResolvedField::Mapped(field) => {
                self.check_indexed(field, position)?;
                Ok(term_query(match &field.kind {
                    FieldKind::Text { .. } => Term::from_field_text(field.field, value),
                    _ => self.typed_term(field, value, position)?,
                }))
            }
            ResolvedField::JsonPath { field, json_path } => {
                self.check_indexed(field, position)?;
                let mut alternatives = vec![term_query(json_text_term(field, &json_path, value))];
                alternatives.extend(self.json_typed_alternatives(field, &json_path, value));
                Ok(any_of(alternatives))
            }
        }
    }

    /// Terms matching a wildcard pattern whole, lowercased if the field's tokenizer lowercases
    /// (as its indexed terms were).
    pub(super) fn wildcard_query(
        &self,
        resolved: ResolvedField<'_>,
        pattern: &str,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let tokenizer = match &resolved {
            ResolvedField::Mapped(field) | ResolvedField::JsonPath { field, .. } => {
                match &field.kind {
                    FieldKind::Text { tokenizer, .. } | FieldKind::Json { tokenizer, .. } => {
                        Some(tokenizer.clone())
                    }
                    _ => None,
                }
            }
        };
        let lowercase = tokenizer.is_some_and(|tokenizer| self.tokens(&tokenizer, "A") == ["a"]);
        self.regex_query(resolved, &wildcard_to_regex(pattern, lowercase), position)
    }

    /// Terms matching `pattern` whole, on a text field or a json path.
    pub(super) fn regex_query(
        &self,
        resolved: ResolvedField<'_>,
        pattern: &str,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(error(
                position,
                format!("the pattern is longer than {MAX_PATTERN_BYTES} bytes"),
            ));
        }
        let (field, full_pattern) = match json_root_as_path(resolved) {
            ResolvedField::Mapped(field) => {
                self.check_indexed(field, position)?;
                if !matches!(field.kind, FieldKind::Text { .. }) {
                    return Err(error(
                        position,
                        format!(
                            "regexp and wildcard queries need a text field; `{}` is {}",
                            field.path,
                            field.kind.type_name()
                        ),
                    ));
                }
                (field, pattern.to_string())
            }
            ResolvedField::JsonPath { field, json_path } => {
                self.check_indexed(field, position)?;
                // A json term is its path, a separator and a type byte, then the text:
                // the pattern applies to the text after that literal prefix.
                let prefix = json_text_term(field, &json_path, "");
                let mut full_pattern = String::new();
                for character in String::from_utf8_lossy(prefix.serialized_value_bytes()).chars() {
                    let _ = write!(full_pattern, "\\x{{{:x}}}", character as u32);
                }
                full_pattern.push_str("(?:");
                full_pattern.push_str(pattern);
                full_pattern.push(')');
                (field, full_pattern)
            }
        };
        let query = RegexQuery::from_pattern(&full_pattern, field.field).map_err(|cause| {
            error(
                position,
                format!("`{pattern}` is not a regular expression Hydrant can run: {cause}"),
            )
        })?;
        Ok(Box::new(query))
    }
}

fn json_tokenizer(field: &MappedField) -> &str {
    match &field.kind {
        FieldKind::Json { tokenizer, .. } => tokenizer,
        _ => "raw",
    }
}

/// `text` with every character a regular expression would read specially escaped.
pub fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_alphanumeric() || character == '_' || character == ' ' {
            escaped.push(character);
        } else {
            escaped.push_str(&format!("\\x{{{:x}}}", character as u32));
        }
    }
    escaped
}

/// A wildcard pattern as a regular expression: `*` any run of characters, `?` any one
/// character, `\` escapes; literal characters lowercased when `lowercase`.
pub fn wildcard_to_regex(pattern: &str, lowercase: bool) -> String {
    let literal = |character: char| {
        if lowercase {
            regex_escape(&character.to_lowercase().to_string())
        } else {
            regex_escape(&character.to_string())
        }
    };
    let mut regex = String::with_capacity(pattern.len() + 8);
    let mut characters = pattern.chars();
    while let Some(character) = characters.next() {
        match character {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            '\\' => {
                if let Some(escaped) = characters.next() {
                    regex.push_str(&literal(escaped));
                }
            }
            other => regex.push_str(&literal(other)),
        }
    }
    regex
}
