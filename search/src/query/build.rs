//! Binds a [`QueryAst`] to a doc mapping: resolves fields, tokenizes and types values, and
//! builds the tantivy query. Every problem is a [`BuildError`] naming the clause's position.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Bound;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hydrant_index::datetime::{DatetimeInputFormat, parse_datetime_str, query_datetime_formats};
use hydrant_index::doc_mapper::{DocMapper, FieldKind, MappedField, ResolvedField, ip_to_v6};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EmptyQuery, ExistsQuery, InvertedIndexRangeQuery,
    Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DateTime, Term};

use super::ast::QueryAst;

/// A query that parses but does not fit the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    pub message: String,
    pub position: usize,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at position {})", self.message, self.position)
    }
}

impl std::error::Error for BuildError {}

pub(super) type BuildResult<T> = Result<T, BuildError>;

/// Builds the tantivy query for `ast`. Clauses naming no field search `default_fields`.
pub fn build_query(
    ast: &QueryAst,
    doc_mapper: &DocMapper,
    default_fields: &[String],
) -> BuildResult<Box<dyn Query>> {
    QueryBuilder {
        doc_mapper,
        default_fields,
        lenient: false,
    }
    .build(ast)
}

#[derive(Clone, Copy)]
pub(super) struct QueryBuilder<'a> {
    doc_mapper: &'a DocMapper,
    default_fields: &'a [String],
    /// Inside [`QueryAst::Lenient`]: a clause that does not fit matches nothing.
    lenient: bool,
}

pub(super) fn error(position: usize, message: impl Into<String>) -> BuildError {
    BuildError {
        message: message.into(),
        position,
    }
}

fn all_except(excluded: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
        (Occur::MustNot, excluded),
    ]))
}

pub(super) fn any_of(mut queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match queries.len() {
        0 => Box::new(EmptyQuery),
        1 => queries.pop().expect("one query"),
        _ => Box::new(BooleanQuery::new(
            queries
                .into_iter()
                .map(|query| (Occur::Should, query))
                .collect(),
        )),
    }
}

pub(super) fn all_of(mut queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match queries.len() {
        0 => Box::new(AllQuery),
        1 => queries.pop().expect("one query"),
        _ => Box::new(BooleanQuery::new(
            queries
                .into_iter()
                .map(|query| (Occur::Must, query))
                .collect(),
        )),
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A bound with its value converted by `convert`, or `convert`'s error.
fn try_map_bound<T, E>(
    bound: &Bound<String>,
    convert: impl FnOnce(&String) -> Result<T, E>,
) -> Result<Bound<T>, E> {
    Ok(match bound {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(value) => Bound::Included(convert(value)?),
        Bound::Excluded(value) => Bound::Excluded(convert(value)?),
    })
}

impl QueryBuilder<'_> {
    pub(super) fn build(&self, ast: &QueryAst) -> BuildResult<Box<dyn Query>> {
        let built = self.build_clause(ast);
        let compound = matches!(
            ast,
            QueryAst::And(_)
                | QueryAst::Or(_)
                | QueryAst::Not(_)
                | QueryAst::Bool { .. }
                | QueryAst::Lenient(_)
                | QueryAst::Filter(_)
        );
        match built {
            Err(_) if self.lenient && !compound => Ok(Box::new(EmptyQuery)),
            built => built,
        }
    }

    /// One arm per kind of clause, so that every kind the AST has is seen to be built here
    /// (the match is exhaustive); each arm hands its work to a named method.
    fn build_clause(&self, ast: &QueryAst) -> BuildResult<Box<dyn Query>> {
        match ast {
            QueryAst::Lenient(inner) => QueryBuilder {
                lenient: true,
                ..*self
            }
            .build(inner),
            // Required, and scoring nothing: a filter leaves relevance to the other clauses.
            QueryAst::Filter(inner) => Ok(Box::new(ConstScoreQuery::new(self.build(inner)?, 0.0))),
            QueryAst::MatchAll => Ok(Box::new(AllQuery)),
            QueryAst::MatchNone => Ok(Box::new(EmptyQuery)),
            QueryAst::And(clauses) => self.and_query(clauses),
            QueryAst::Or(clauses) => Ok(any_of(
                clauses
                    .iter()
                    .map(|clause| self.build(clause))
                    .collect::<BuildResult<_>>()?,
            )),
            QueryAst::Not(inner) => Ok(all_except(self.build(inner)?)),
            QueryAst::Term {
                field,
                value,
                position,
            } => self.for_each_field(field.as_deref(), *position, |resolved| {
                self.term_query(resolved, value, *position)
            }),
            QueryAst::Phrase {
                field,
                text,
                slop,
                position,
            } => self.for_each_field(field.as_deref(), *position, |resolved| {
                self.phrase_query(resolved, text, *slop, *position)
            }),
            QueryAst::Prefix {
                field,
                prefix,
                position,
            } => self.for_each_field(field.as_deref(), *position, |resolved| {
                self.prefix_query(resolved, prefix, *position)
            }),
            QueryAst::Range {
                field,
                lower,
                upper,
                position,
            } => {
                // An empty field name is the default fields (`:>10` in the query language).
                let field = Some(field.as_str()).filter(|field| !field.is_empty());
                self.for_each_field(field, *position, |resolved| {
                    self.range_query(resolved, lower, upper, *position)
                })
            }
            QueryAst::Set {
                field,
                values,
                position,
            } => self.set_query(field, values, *position),
            QueryAst::Exists { field, position } => self.exists_clause(field, *position),
            QueryAst::Bool {
                must,
                should,
                must_not,
                minimum_should_match,
            } => self.bool_query(must, should, must_not, *minimum_should_match),
            QueryAst::Match {
                field,
                text,
                conjunction,
                last_is_prefix,
                zero_terms_match_all,
                position,
            } => self.for_each_field(field.as_deref(), *position, |resolved| {
                let query =
                    self.match_query(resolved, text, *conjunction, *last_is_prefix, *position)?;
                Ok(if *zero_terms_match_all && query.is::<EmptyQuery>() {
                    Box::new(AllQuery)
                } else {
                    query
                })
            }),
            QueryAst::ExactTerm {
                field,
                value,
                position,
            } => {
                let resolved = self.resolve(field, *position)?;
                self.exact_term_query(resolved, value, *position)
            }
            QueryAst::Regex {
                field,
                pattern,
                position,
            } => {
                let resolved = self.resolve(field, *position)?;
                self.regex_query(resolved, pattern, *position)
            }
            QueryAst::Wildcard {
                field,
                pattern,
                position,
            } => self.for_each_field(field.as_deref(), *position, |resolved| {
                self.wildcard_query(resolved, pattern, *position)
            }),
        }
    }

    /// Every positive clause must match and no negated one may; a conjunction of negations
    /// alone matches everything else.
    fn and_query(&self, clauses: &[QueryAst]) -> BuildResult<Box<dyn Query>> {
        let mut subqueries = Vec::with_capacity(clauses.len() + 1);
        let mut has_positive = false;
        for clause in clauses {
            match clause {
                QueryAst::Not(inner) => subqueries.push((Occur::MustNot, self.build(inner)?)),
                clause => {
                    has_positive = true;
                    subqueries.push((Occur::Must, self.build(clause)?));
                }
            }
        }
        if !has_positive {
            subqueries.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Box::new(BooleanQuery::new(subqueries)))
    }

    /// `field: IN [a b c]`: any of the values.
    fn set_query(
        &self,
        field: &str,
        values: &[String],
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let resolved = self.resolve(field, position)?;
        let queries = values
            .iter()
            .map(|value| self.term_query(resolved.clone(), value, position))
            .collect::<BuildResult<Vec<_>>>()?;
        Ok(any_of(queries))
    }

    /// `field:*`: on an object field, any of its leaves.
    fn exists_clause(&self, field: &str, position: usize) -> BuildResult<Box<dyn Query>> {
        if let Some(leaves) = self.doc_mapper.object_leaves(field) {
            return self.object_exists_query(field, leaves, position);
        }
        let resolved = self.resolve(field, position)?;
        self.exists_query(resolved, position)
    }

    fn resolve(&self, field: &str, position: usize) -> BuildResult<ResolvedField<'_>> {
        self.doc_mapper
            .resolve_field(field)
            .ok_or_else(|| error(position, format!("unknown field `{field}`")))
    }

    /// Applies `build_one` to the named field, or to each default field (any may match).
    fn for_each_field(
        &self,
        field: Option<&str>,
        position: usize,
        build_one: impl Fn(ResolvedField<'_>) -> BuildResult<Box<dyn Query>>,
    ) -> BuildResult<Box<dyn Query>> {
        match field {
            Some(field) => build_one(self.resolve(field, position)?),
            None => {
                if self.default_fields.is_empty() {
                    return Err(error(
                        position,
                        "this clause names no field and the index has no default search fields: \
                         write `field:value`, or pass `search_field`",
                    ));
                }
                let queries = self
                    .default_fields
                    .iter()
                    .map(|name| {
                        let built = self.resolve(name, position).and_then(&build_one);
                        match built {
                            Err(_) if self.lenient => Ok(Box::new(EmptyQuery) as Box<dyn Query>),
                            built => built,
                        }
                    })
                    .collect::<BuildResult<Vec<_>>>()?;
                Ok(any_of(queries))
            }
        }
    }

    pub(super) fn check_indexed(&self, field: &MappedField, position: usize) -> BuildResult<()> {
        if self
            .doc_mapper
            .schema()
            .get_field_entry(field.field)
            .is_indexed()
        {
            Ok(())
        } else {
            Err(error(
                position,
                format!("field `{}` is not indexed (indexed: false)", field.path),
            ))
        }
    }

    /// A field with a fast column but no inverted index (`indexed: false, fast: true`).
    pub(super) fn is_fast_only(&self, field: &MappedField) -> bool {
        field.kind.is_fast()
            && !self
                .doc_mapper
                .schema()
                .get_field_entry(field.field)
                .is_indexed()
    }

    /// A term on a fast-only field, answered from its column: the range `[value, value]`,
    /// text normalized as the column was (`raw` or `lowercase`).
    pub(super) fn fast_only_term_query(
        &self,
        field: &MappedField,
        value: &str,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let term = match &field.kind {
            FieldKind::Text { .. } => {
                Term::from_field_text(field.field, &self.fast_normalized(field.field, value))
            }
            _ => self.typed_term(field, value, position)?,
        };
        Ok(Box::new(RangeQuery::new(
            Bound::Included(term.clone()),
            Bound::Included(term),
        )))
    }

    /// `text` as a field's fast column stores strings: through its fast normalizer, if any.
    pub(super) fn fast_normalized(&self, field: tantivy::schema::Field, text: &str) -> String {
        let normalizer = match self.doc_mapper.schema().get_field_entry(field).field_type() {
            tantivy::schema::FieldType::Str(options) => {
                options.get_fast_field_tokenizer_name().map(str::to_string)
            }
            tantivy::schema::FieldType::JsonObject(options) => {
                options.get_fast_field_tokenizer_name().map(str::to_string)
            }
            _ => None,
        };
        let Some(mut analyzer) =
            normalizer.and_then(|name| self.doc_mapper.fast_field_normalizers().get(&name))
        else {
            return text.to_string();
        };
        let mut stream = analyzer.token_stream(text);
        let mut normalized = String::new();
        while let Some(token) = stream.next() {
            normalized.push_str(&token.text);
        }
        normalized
    }

    fn tokenizer(&self, name: &str) -> TextAnalyzer {
        self.doc_mapper
            .tokenizers()
            .get(name)
            .expect("doc mapper validated tokenizer names")
    }

    pub(super) fn tokens(&self, tokenizer: &str, text: &str) -> Vec<String> {
        let mut analyzer = self.tokenizer(tokenizer);
        let mut stream = analyzer.token_stream(text);
        let mut tokens = Vec::new();
        while let Some(token) = stream.next() {
            tokens.push(token.text.clone());
        }
        tokens
    }

    fn term_query(
        &self,
        resolved: ResolvedField<'_>,
        value: &str,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let resolved = json_root_as_path(resolved);
        match resolved {
            ResolvedField::Mapped(field) if self.is_fast_only(field) => {
                self.fast_only_term_query(field, value, position)
            }
            ResolvedField::Mapped(field) => {
                self.check_indexed(field, position)?;
                match &field.kind {
                    FieldKind::Text {
                        tokenizer,
                        has_positions,
                        ..
                    } => {
                        self.text_tokens_query(field, tokenizer, *has_positions, value, 0, position)
                    }
                    _ => Ok(term_query(self.typed_term(field, value, position)?)),
                }
            }
            ResolvedField::JsonPath { field, json_path } => {
                self.check_indexed(field, position)?;
                Ok(any_of(self.json_alternatives(field, &json_path, value)))
            }
        }
    }

    /// Tokens of `text` on a text field: one term, or a phrase (with positions), or all terms
    /// (without positions, like Quickwit).
    fn text_tokens_query(
        &self,
        field: &MappedField,
        tokenizer: &str,
        has_positions: bool,
        text: &str,
        slop: u32,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let terms: Vec<Term> = self
            .tokens(tokenizer, text)
            .iter()
            .map(|token| Term::from_field_text(field.field, token))
            .collect();
        self.terms_as_phrase(field, terms, has_positions, slop, position, false)
    }

    fn terms_as_phrase(
        &self,
        field: &MappedField,
        mut terms: Vec<Term>,
        has_positions: bool,
        slop: u32,
        position: usize,
        explicit_phrase: bool,
    ) -> BuildResult<Box<dyn Query>> {
        match terms.len() {
            0 => Ok(Box::new(EmptyQuery)),
            1 => Ok(term_query(terms.pop().expect("one term"))),
            _ if has_positions => {
                let mut phrase = PhraseQuery::new(terms);
                phrase.set_slop(slop);
                Ok(Box::new(phrase))
            }
            _ if explicit_phrase => Err(error(
                position,
                format!(
                    "phrase queries need positions: field `{}` is not indexed with `record: position`",
                    field.path
                ),
            )),
            _ => Ok(all_of(terms.into_iter().map(term_query).collect())),
        }
    }

    fn phrase_query(
        &self,
        resolved: ResolvedField<'_>,
        text: &str,
        slop: u32,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let resolved = json_root_as_path(resolved);
        match resolved {
            ResolvedField::Mapped(field) => {
                self.check_indexed(field, position)?;
                match &field.kind {
                    FieldKind::Text {
                        tokenizer,
                        has_positions,
                        ..
                    } => {
                        let terms: Vec<Term> = self
                            .tokens(tokenizer, text)
                            .iter()
                            .map(|token| Term::from_field_text(field.field, token))
                            .collect();
                        self.terms_as_phrase(field, terms, *has_positions, slop, position, true)
                    }
                    // A quoted value on a non-text field is just a value.
                    _ => self.term_query(ResolvedField::Mapped(field), text, position),
                }
            }
            ResolvedField::JsonPath { field, json_path } => {
                self.check_indexed(field, position)?;
                let FieldKind::Json {
                    tokenizer,
                    has_positions,
                    ..
                } = &field.kind
                else {
                    unreachable!("json paths resolve to json fields");
                };
                let tokens = self.tokens(tokenizer, text);
                if tokens.len() <= 1 {
                    return Ok(any_of(self.json_alternatives(field, &json_path, text)));
                }
                let terms = tokens
                    .iter()
                    .map(|token| json_text_term(field, &json_path, token))
                    .collect();
                self.terms_as_phrase(field, terms, *has_positions, slop, position, true)
            }
        }
    }

    fn prefix_query(
        &self,
        resolved: ResolvedField<'_>,
        prefix: &str,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let resolved = json_root_as_path(resolved);
        let (field, mut terms, has_positions) = match resolved {
            ResolvedField::Mapped(field) => {
                self.check_indexed(field, position)?;
                let FieldKind::Text {
                    tokenizer,
                    has_positions,
                    ..
                } = &field.kind
                else {
                    return Err(error(
                        position,
                        format!(
                            "prefix queries need a text field; `{}` is {}",
                            field.path,
                            field.kind.type_name()
                        ),
                    ));
                };
                let terms: Vec<Term> = self
                    .tokens(tokenizer, prefix)
                    .iter()
                    .map(|token| Term::from_field_text(field.field, token))
                    .collect();
                (field, terms, *has_positions)
            }
            ResolvedField::JsonPath { field, json_path } => {
                self.check_indexed(field, position)?;
                let FieldKind::Json {
                    tokenizer,
                    has_positions,
                    ..
                } = &field.kind
                else {
                    unreachable!("json paths resolve to json fields");
                };
                let terms = self
                    .tokens(tokenizer, prefix)
                    .iter()
                    .map(|token| json_text_term(field, &json_path, token))
                    .collect();
                (field, terms, *has_positions)
            }
        };
        match terms.len() {
            0 => Ok(Box::new(AllQuery)),
            1 => Ok(prefix_term_query(terms.pop().expect("one term"))),
            _ if has_positions => Ok(Box::new(PhrasePrefixQuery::new(terms))),
            _ => Err(error(
                position,
                format!(
                    "a prefix of several words needs positions: field `{}` is not indexed with `record: position`",
                    field.path
                ),
            )),
        }
    }

    fn range_query(
        &self,
        resolved: ResolvedField<'_>,
        lower: &Bound<String>,
        upper: &Bound<String>,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
            return self.exists_query(resolved, position);
        }
        match json_root_as_path(resolved) {
            ResolvedField::Mapped(field) if matches!(field.kind, FieldKind::Ip { .. }) => {
                self.ip_range_query(field, lower, upper, position)
            }
            ResolvedField::Mapped(field) if self.doc_mapper.is_concatenate(field) => Err(error(
                position,
                format!(
                    "`{}` is a concatenate field: it holds the text of other fields, which \
                     ranges cannot compare (range over the fields themselves)",
                    field.path
                ),
            )),
            ResolvedField::Mapped(field) => {
                let lower = try_map_bound(lower, |value| self.range_term(field, value, position))?;
                let upper = try_map_bound(upper, |value| self.range_term(field, value, position))?;
                if !field.kind.is_fast() {
                    self.check_indexed(field, position)?;
                }
                Ok(Box::new(RangeQuery::new(lower, upper)))
            }
            ResolvedField::JsonPath { field, json_path } => {
                self.json_range_query(field, &json_path, lower, upper, position)
            }
        }
    }

    /// A range inside a json field, over its fast column: numbers if both bounds are numbers,
    /// strings otherwise, and datetimes too when both bounds read as datetimes (json keeps
    /// datetimes as their own type).
    fn json_range_query(
        &self,
        field: &MappedField,
        json_path: &str,
        lower: &Bound<String>,
        upper: &Bound<String>,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        if !field.kind.is_fast() {
            return Err(error(
                position,
                format!(
                    "range queries inside json field `{}` need it to be fast",
                    field.path
                ),
            ));
        }
        let numeric = [lower, upper].iter().all(|bound| match bound {
            Bound::Included(value) | Bound::Excluded(value) => value.parse::<f64>().is_ok(),
            Bound::Unbounded => true,
        });
        let value_term = |value: &String| {
            let mut term = Term::from_field_json_path(field.field, json_path, true);
            if numeric {
                match value.parse::<i64>() {
                    Ok(integer) => term.append_type_and_fast_value(integer),
                    Err(_) => term.append_type_and_fast_value(value.parse::<f64>().unwrap_or(0.0)),
                }
            } else {
                term.append_type_and_str(&self.fast_normalized(field.field, value));
            }
            term
        };
        let values = Box::new(RangeQuery::new(
            lower.as_ref().map(value_term),
            upper.as_ref().map(value_term),
        ));
        if numeric {
            return Ok(values);
        }
        let datetime_term = |value: &String| {
            let datetime = parse_datetime_str(value, query_datetime_formats()).ok()?;
            let mut term = Term::from_field_json_path(field.field, json_path, true);
            term.append_type_and_fast_value(datetime);
            Some(term)
        };
        let datetime_bound = |bound| try_map_bound(bound, |value| datetime_term(value).ok_or(()));
        match (datetime_bound(lower), datetime_bound(upper)) {
            (Ok(lower), Ok(upper)) => Ok(any_of(vec![
                values,
                Box::new(RangeQuery::new(lower, upper)),
            ])),
            _ => Ok(values),
        }
    }

    /// IP ranges with inclusive bounds only: tantivy adds or subtracts one to an excluded IP
    /// bound without checking, which wraps at `::` and the last address and then matches
    /// everything. An exclusive bound at either end matches nothing beyond it.
    fn ip_range_query(
        &self,
        field: &MappedField,
        lower: &Bound<String>,
        upper: &Bound<String>,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        if !field.kind.is_fast() {
            self.check_indexed(field, position)?;
        }
        let address = |value: &String| -> BuildResult<u128> {
            let address: IpAddr = value.parse().map_err(|_| {
                error(
                    position,
                    format!("`{value}` is not an IP address (field `{}`)", field.path),
                )
            })?;
            Ok(ip_to_v6(address).to_bits())
        };
        let lower = match lower {
            Bound::Unbounded => Some(Bound::Unbounded),
            Bound::Included(value) => Some(Bound::Included(address(value)?)),
            Bound::Excluded(value) => address(value)?.checked_add(1).map(Bound::Included),
        };
        let upper = match upper {
            Bound::Unbounded => Some(Bound::Unbounded),
            Bound::Included(value) => Some(Bound::Included(address(value)?)),
            Bound::Excluded(value) => address(value)?.checked_sub(1).map(Bound::Included),
        };
        let (Some(lower), Some(upper)) = (lower, upper) else {
            return Ok(Box::new(EmptyQuery));
        };
        let term = |bits: u128| Term::from_field_ip_addr(field.field, Ipv6Addr::from_bits(bits));
        Ok(Box::new(RangeQuery::new(lower.map(term), upper.map(term))))
    }

    fn range_term(&self, field: &MappedField, value: &str, position: usize) -> BuildResult<Term> {
        match &field.kind {
            // Text ranges compare raw terms.
            FieldKind::Text { .. } => Ok(Term::from_field_text(field.field, value)),
            // Bounds at the precision the column keeps (`fast_precision`), as Quickwit
            // truncates them: a bound of 00:00:00.001999 on a millisecond column is .001.
            FieldKind::Datetime { .. } => {
                let datetime = parse_query_datetime(field, value, position)?;
                let precision = match self
                    .doc_mapper
                    .schema()
                    .get_field_entry(field.field)
                    .field_type()
                {
                    tantivy::schema::FieldType::Date(options) => options.get_precision(),
                    _ => tantivy::schema::DateTimePrecision::Nanoseconds,
                };
                Ok(Term::from_field_date(
                    field.field,
                    datetime.truncate(precision),
                ))
            }
            _ => self.typed_term(field, value, position),
        }
    }

    /// The term of `value` on a non-text mapped field.
    pub(super) fn typed_term(
        &self,
        field: &MappedField,
        value: &str,
        position: usize,
    ) -> BuildResult<Term> {
        let invalid = |expected: &str| {
            error(
                position,
                format!("`{value}` is not {expected} (field `{}`)", field.path),
            )
        };
        let term = match &field.kind {
            FieldKind::U64 { .. } => Term::from_field_u64(
                field.field,
                value.parse().map_err(|_| invalid("an unsigned integer"))?,
            ),
            FieldKind::I64 { .. } => Term::from_field_i64(
                field.field,
                value.parse().map_err(|_| invalid("an integer"))?,
            ),
            FieldKind::F64 { .. } => {
                let number: f64 = value.parse().map_err(|_| invalid("a number"))?;
                Term::from_field_f64(field.field, number)
            }
            FieldKind::Bool { .. } => Term::from_field_bool(
                field.field,
                match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("`true` or `false`")),
                },
            ),
            FieldKind::Datetime { .. } => Term::from_field_date_for_search(
                field.field,
                parse_query_datetime(field, value, position)?,
            ),
            FieldKind::Ip { .. } => {
                let address: IpAddr = value.parse().map_err(|_| invalid("an IP address"))?;
                Term::from_field_ip_addr(field.field, ip_to_v6(address))
            }
            FieldKind::Bytes { .. } => {
                let bytes = BASE64.decode(value).map_err(|_| invalid("base64"))?;
                Term::from_field_bytes(field.field, &bytes)
            }
            FieldKind::Text { .. } | FieldKind::Json { .. } => {
                unreachable!("text and json values are tokenized, not typed")
            }
        };
        Ok(term)
    }

    /// A json value can be a string, a number or a boolean: match any reading of it.
    pub(super) fn json_alternatives(
        &self,
        field: &MappedField,
        json_path: &str,
        value: &str,
    ) -> Vec<Box<dyn Query>> {
        let FieldKind::Json { tokenizer, .. } = &field.kind else {
            unreachable!("json paths resolve to json fields");
        };
        let mut alternatives: Vec<Box<dyn Query>> = Vec::new();
        let text_terms: Vec<Term> = self
            .tokens(tokenizer, value)
            .iter()
            .map(|token| json_text_term(field, json_path, token))
            .collect();
        if !text_terms.is_empty() {
            alternatives.push(all_of(text_terms.into_iter().map(term_query).collect()));
        }
        alternatives.extend(self.json_typed_alternatives(field, json_path, value));
        alternatives
    }

    /// The readings of `value` as a json number, boolean or datetime.
    pub(super) fn json_typed_alternatives(
        &self,
        field: &MappedField,
        json_path: &str,
        value: &str,
    ) -> Vec<Box<dyn Query>> {
        let mut alternatives: Vec<Box<dyn Query>> = Vec::new();
        let typed = |append: &dyn Fn(&mut Term)| {
            let mut term = Term::from_field_json_path(field.field, json_path, true);
            append(&mut term);
            term_query(term)
        };
        if let Ok(integer) = value.parse::<i64>() {
            alternatives.push(typed(&|term| term.append_type_and_fast_value(integer)));
        } else if let Ok(unsigned) = value.parse::<u64>() {
            alternatives.push(typed(&|term| term.append_type_and_fast_value(unsigned)));
        }
        if let Ok(float) = value.parse::<f64>() {
            alternatives.push(typed(&|term| term.append_type_and_fast_value(float)));
        }
        if let Ok(flag) = value.parse::<bool>() {
            alternatives.push(typed(&|term| term.append_type_and_fast_value(flag)));
        }
        if let Ok(datetime) = parse_datetime_str(value, &[DatetimeInputFormat::Rfc3339]) {
            alternatives.push(typed(&|term| term.append_type_and_fast_value(datetime)));
        }
        alternatives
    }

    fn exists_query(
        &self,
        resolved: ResolvedField<'_>,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let is_dynamic = |field: &MappedField| {
            self.doc_mapper
                .dynamic_field()
                .is_some_and(|dynamic| dynamic.field == field.field)
        };
        // `full_path` names the column; `presence_path` is the path as the user writes it,
        // which is what the field presence field records.
        let (field, full_path, presence_path, json_path) = match resolved {
            ResolvedField::Mapped(field) => (
                field,
                field.path.clone(),
                field.path.clone(),
                matches!(field.kind, FieldKind::Json { .. }).then(String::new),
            ),
            ResolvedField::JsonPath { field, json_path } => {
                let presence_path = if is_dynamic(field) {
                    json_path.clone()
                } else {
                    format!("{}.{json_path}", field.path)
                };
                (
                    field,
                    format!("{}.{json_path}", field.path),
                    presence_path,
                    Some(json_path),
                )
            }
        };
        if field.kind.is_fast() {
            return Ok(Box::new(ExistsQuery::new(full_path, json_path.is_some())));
        }
        if let Some(term) = self.doc_mapper.field_presence_term(&presence_path) {
            return Ok(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
        }
        if self.check_indexed(field, position).is_ok() {
            return Ok(indexed_exists_query(field, json_path.as_deref()));
        }
        Err(error(
            position,
            format!(
                "`{full_path}:*` needs field `{}` to be indexed or fast, or the index to set \
                 doc_mapping.index_field_presence",
                field.path
            ),
        ))
    }

    /// `object:*`: a value in any mapped field under the object, or (in dynamic mode) any
    /// unmapped path below it. A leaf that cannot answer `*` fails the query, as it would
    /// alone: leaving it out would miss the documents that only it holds.
    fn object_exists_query(
        &self,
        path: &str,
        leaves: Vec<&MappedField>,
        position: usize,
    ) -> BuildResult<Box<dyn Query>> {
        let dynamic = self
            .doc_mapper
            .dynamic_field()
            .map(|field| ResolvedField::JsonPath {
                field,
                json_path: path.to_string(),
            });
        let queries = leaves
            .into_iter()
            .map(ResolvedField::Mapped)
            .chain(dynamic)
            .map(|resolved| self.exists_query(resolved, position))
            .collect::<BuildResult<Vec<_>>>()?;
        Ok(any_of(queries))
    }
}

/// A json field named without a path is searched at its root path, the way tantivy's own
/// query parser treats json default fields; values are not typed there, they are json values.
pub(super) fn json_root_as_path(resolved: ResolvedField<'_>) -> ResolvedField<'_> {
    match resolved {
        ResolvedField::Mapped(field) if matches!(field.kind, FieldKind::Json { .. }) => {
            ResolvedField::JsonPath {
                field,
                json_path: String::new(),
            }
        }
        other => other,
    }
}

/// Every term of the dictionary that starts with `start`'s value, however many.
pub(super) fn prefix_term_query(start: Term) -> Box<dyn Query> {
    let value_bytes = start.serialized_value_bytes().to_vec();
    let upper = match prefix_end(&value_bytes) {
        Some(end_bytes) => {
            let mut end = start.clone();
            end.truncate_value_bytes(0);
            end.append_bytes(&end_bytes);
            Bound::Excluded(end)
        }
        None => Bound::Unbounded,
    };
    Box::new(InvertedIndexRangeQuery::new(Bound::Included(start), upper))
}

/// Separates the segments of a JSON path in a term (tantivy-common's, not re-exported).
const JSON_PATH_SEGMENT_SEP: u8 = 1;

/// `field:*` read from the term dictionary, for an indexed field with neither a column nor
/// field presence: a document has the field if it has any term of it, or (in a JSON field)
/// any term at the path or below it. Correct for every indexed field; it walks the field's
/// terms, which is why a column or field presence answers first where there is one.
fn indexed_exists_query(field: &MappedField, json_path: Option<&str>) -> Box<dyn Query> {
    let path = match json_path {
        None | Some("") => return prefix_term_query(Term::from_field_text(field.field, "")),
        Some(path) => path,
    };
    // The path's own values end it with the end-of-path byte; deeper paths continue it with
    // the segment separator.
    let at_path = Term::from_field_json_path(field.field, path, true);
    let mut below_path = at_path.clone();
    let path_bytes = at_path.serialized_value_bytes();
    below_path.truncate_value_bytes(path_bytes.len().saturating_sub(1));
    below_path.append_bytes(&[JSON_PATH_SEGMENT_SEP]);
    any_of(vec![
        prefix_term_query(at_path),
        prefix_term_query(below_path),
    ])
}

pub(super) fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
}

pub(super) fn json_text_term(field: &MappedField, json_path: &str, token: &str) -> Term {
    let mut term = Term::from_field_json_path(field.field, json_path, true);
    term.append_type_and_str(token);
    term
}

/// Datetimes in queries: any of [`query_datetime_formats`].
fn parse_query_datetime(
    field: &MappedField,
    value: &str,
    position: usize,
) -> BuildResult<DateTime> {
    parse_datetime_str(value, query_datetime_formats()).map_err(|_| {
        error(
            position,
            format!(
                "`{value}` is not a datetime for field `{}`: use RFC 3339 \
                 (2024-01-31T12:00:00Z), RFC 2822, a unix timestamp, `2024-01-31 12:00:00[.f]`, \
                 `2024-01-31` or `2024/01/31`",
                field.path
            ),
        )
    })
}
