//! Elasticsearch's query DSL into the [`QueryAst`] the rest of the searcher runs.
//!
//! Each DSL query is one JSON object with one key, its type; compound queries (`bool`) nest.
//! The translation recurses once per level, so nesting is bounded by [`MAX_QUERY_DEPTH`] and
//! leaves by [`MAX_QUERY_CLAUSES`], as for query strings: a crafted body gets a 400, never a
//! stack overflow. Scoring options (`boost`, `_name`) are accepted and have no effect.
//!
//! ```
//! use hydrant_search::elastic::query_from_dsl;
//! use hydrant_search::query::QueryAst;
//! use serde_json::json;
//!
//! let ast = query_from_dsl(&json!({"term": {"type": "PushEvent"}})).unwrap();
//! assert!(matches!(ast, QueryAst::ExactTerm { .. }));
//! assert!(query_from_dsl(&json!({"tern": {}})).is_err());
//! ```

use std::ops::Bound;

use serde_json::{Map, Value};

use crate::error::{Result, SearchError};
use hydrant_index::datetime::{DatetimeOutputFormat, StrptimeFormat};
use hydrant_index::doc_mapper::TOKENIZER_NAMES;
use hydrant_index::json_type_name;
use tantivy::DateTime;

use crate::query::{
    DefaultOperator, MAX_PATTERN_BYTES, MAX_QUERY_CLAUSES, MAX_QUERY_DEPTH, QueryAst,
    parse_query_with, regex_escape, wildcard_to_regex,
};

/// Most values a `terms` query may list.
pub const MAX_TERMS: usize = 10_000;

/// Translates one DSL query.
pub fn query_from_dsl(query: &Value) -> Result<QueryAst> {
    Translator::default()
        .query(query)
        .map_err(SearchError::InvalidRequest)
}

/// Translates a query string as `q=` and `query_string` read it: Elasticsearch's default
/// operator (OR) unless told, clauses without a field searching `fields` when given.
pub fn query_from_query_string(
    query: &str,
    default_operator: DefaultOperator,
    fields: &[String],
) -> Result<QueryAst> {
    let ast = parse_query_with(query, default_operator)?;
    Ok(if fields.is_empty() {
        ast
    } else {
        with_default_fields(ast, fields)
    })
}

type DslResult<T> = std::result::Result<T, String>;

#[derive(Default)]
struct Translator {
    depth: usize,
    clauses: usize,
}

impl Translator {
    fn query(&mut self, query: &Value) -> DslResult<QueryAst> {
        let (kind, body) = single_entry(query, "a query")?;
        if self.depth >= MAX_QUERY_DEPTH {
            return Err(format!(
                "the query nests compound queries more than {MAX_QUERY_DEPTH} levels deep"
            ));
        }
        if kind != "bool" {
            self.clauses += 1;
            if self.clauses > MAX_QUERY_CLAUSES {
                return Err(format!(
                    "the query has more than {MAX_QUERY_CLAUSES} clauses"
                ));
            }
        }
        self.depth += 1;
        let translated = self.query_of_kind(kind, body);
        self.depth -= 1;
        translated.map_err(|message| {
            if message.starts_with('[') {
                message
            } else {
                format!("[{kind}] {message}")
            }
        })
    }

    fn query_of_kind(&mut self, kind: &str, body: &Value) -> DslResult<QueryAst> {
        match kind {
            "match_all" => Ok(QueryAst::MatchAll),
            "match_none" => Ok(QueryAst::MatchNone),
            "bool" => self.bool_query(object(body, "bool")?),
            "match" => match_query(body, false),
            "match_bool_prefix" => match_query(body, true),
            "match_phrase" => phrase_query(body, false),
            "match_phrase_prefix" => phrase_query(body, true),
            "multi_match" => multi_match_query(object(body, "multi_match")?),
            "term" => term_query(body),
            "terms" => terms_query(object(body, "terms")?),
            "range" => range_query(body),
            "exists" => {
                let field = required_str(object(body, "exists")?, "field")?;
                Ok(QueryAst::Exists {
                    field: field.to_string(),
                    position: 0,
                })
            }
            "prefix" => pattern_query(body, |value| format!("{}.*", regex_escape(value))),
            "wildcard" => pattern_query(body, |pattern| wildcard_to_regex(pattern, false)),
            "regexp" => pattern_query(body, str::to_string),
            "query_string" => query_string_query(object(body, "query_string")?),
            "simple_query_string" => query_string_query(object(body, "simple_query_string")?),
            other => Err(format!(
                "[{other}] is not a query Hydrant knows (it knows bool, match_all, match_none, \
                 match, match_phrase, match_phrase_prefix, match_bool_prefix, multi_match, \
                 query_string, term, terms, range, exists, prefix, wildcard and regexp)"
            )),
        }
    }

    fn bool_query(&mut self, body: &Map<String, Value>) -> DslResult<QueryAst> {
        let mut must = Vec::new();
        let mut should = Vec::new();
        let mut must_not = Vec::new();
        let mut minimum_should_match = None;
        for (key, value) in body {
            if value.is_null() {
                // Clients building queries from templates send `"must": null`: nothing.
                continue;
            }
            match key.as_str() {
                "must" => must.extend(self.clause_list(value)?),
                // Required, and scoring nothing, as in Elasticsearch.
                "filter" => must.extend(
                    self.clause_list(value)?
                        .into_iter()
                        .map(|clause| QueryAst::Filter(Box::new(clause))),
                ),
                "should" => should.extend(self.clause_list(value)?),
                "must_not" => must_not.extend(self.clause_list(value)?),
                "minimum_should_match" => minimum_should_match = Some(value.clone()),
                "boost" | "_name" | "adjust_pure_negative" => {}
                other => return Err(format!("[bool] unknown field [{other}]")),
            }
        }
        // Elasticsearch: at least one `should` must match when nothing else is required,
        // whatever a smaller minimum says.
        let at_least = usize::from(must.is_empty() && !should.is_empty());
        let minimum_should_match = match minimum_should_match {
            None => at_least,
            Some(value) => parse_minimum_should_match(&value, should.len())?.max(at_least),
        };
        Ok(QueryAst::Bool {
            must,
            should,
            must_not,
            minimum_should_match,
        })
    }

    /// One query or a list of them.
    fn clause_list(&mut self, value: &Value) -> DslResult<Vec<QueryAst>> {
        match value {
            Value::Array(queries) => queries.iter().map(|query| self.query(query)).collect(),
            query => Ok(vec![self.query(query)?]),
        }
    }
}

/// `{"kind": body}`, the shape of every DSL query and of field-keyed bodies.
fn single_entry<'a>(value: &'a Value, what: &str) -> DslResult<(&'a str, &'a Value)> {
    let Value::Object(map) = value else {
        return Err(format!(
            "{what} must be a JSON object, got {}",
            json_type_name(value)
        ));
    };
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some((key, body)), None) => Ok((key.as_str(), body)),
        (None, _) => Err(format!("{what} must have one key, it has none")),
        (Some(_), Some(_)) => Err(format!(
            "{what} must have one key, it has {}: {}",
            map.len(),
            map.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
    }
}

fn object<'a>(value: &'a Value, kind: &str) -> DslResult<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| format!("[{kind}] takes an object, got {}", json_type_name(value)))
}

fn required_str<'a>(body: &'a Map<String, Value>, key: &str) -> DslResult<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("[{key}] is required and must be a string"))
}

/// A term value as text: strings as they are, numbers and booleans as JSON writes them.
fn value_text(value: &Value) -> DslResult<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(format!(
            "a value must be a string, a number or a boolean, got {}",
            json_type_name(other)
        )),
    }
}

/// `{"field": value}` or `{"field": {"<value_key>": value, options...}}`: the field, the
/// value, and the options object (empty for the short form).
fn field_and_value<'a>(body: &'a Value, value_key: &str) -> DslResult<FieldValue<'a>> {
    let (field, inner) = single_entry(body, "the query body")?;
    match inner {
        Value::Object(options) => {
            let value = options
                .get(value_key)
                .ok_or_else(|| format!("[{field}] needs [{value_key}]"))?;
            Ok(FieldValue(field, value_text(value)?, Some(options)))
        }
        value => Ok(FieldValue(field, value_text(value)?, None)),
    }
}

/// A field-keyed query body: the field, its value, and its options (none in the short form).
struct FieldValue<'a>(&'a str, String, Option<&'a Map<String, Value>>);

fn option_bool(options: Option<&Map<String, Value>>, key: &str) -> bool {
    options
        .and_then(|options| options.get(key))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn conjunction(options: Option<&Map<String, Value>>) -> DslResult<bool> {
    match options.and_then(|options| options.get("operator")) {
        None => Ok(false),
        Some(Value::String(operator)) if operator.eq_ignore_ascii_case("and") => Ok(true),
        Some(Value::String(operator)) if operator.eq_ignore_ascii_case("or") => Ok(false),
        Some(other) => Err(format!("[operator] must be `and` or `or`, got {other}")),
    }
}

fn match_query(body: &Value, last_is_prefix: bool) -> DslResult<QueryAst> {
    let FieldValue(field, text, options) = field_and_value(body, "query")?;
    Ok(QueryAst::Match {
        field: Some(field.to_string()),
        text,
        conjunction: conjunction(options)?,
        last_is_prefix,
        zero_terms_match_all: zero_terms_match_all(options)?,
        position: 0,
    })
}

/// `zero_terms_query`: `none` (the default) or `all`.
fn zero_terms_match_all(options: Option<&Map<String, Value>>) -> DslResult<bool> {
    match options.and_then(|options| options.get("zero_terms_query")) {
        None => Ok(false),
        Some(Value::String(value)) if value.eq_ignore_ascii_case("none") => Ok(false),
        Some(Value::String(value)) if value.eq_ignore_ascii_case("all") => Ok(true),
        Some(other) => Err(format!(
            "[zero_terms_query] must be `none` or `all`, got {other}"
        )),
    }
}

fn phrase_query(body: &Value, prefix: bool) -> DslResult<QueryAst> {
    let FieldValue(field, text, options) = field_and_value(body, "query")?;
    match options.and_then(|options| options.get("analyzer")) {
        None => {}
        Some(Value::String(analyzer)) if analyzer == "raw" => {
            // The whole text is one token: a term (or a prefix of one) as indexed.
            return Ok(if prefix {
                QueryAst::Regex {
                    field: field.to_string(),
                    pattern: format!("{}.*", regex_escape(&text)),
                    position: 0,
                }
            } else {
                QueryAst::ExactTerm {
                    field: field.to_string(),
                    value: text,
                    position: 0,
                }
            });
        }
        // Another known analyzer: the query is tokenized as the field's terms were, by its
        // own tokenizer; only `raw` (one token) changes what matches.
        Some(Value::String(analyzer)) if TOKENIZER_NAMES.contains(&analyzer.as_str()) => {}
        Some(other) => {
            return Err(format!(
                "[analyzer] {other} is not an analyzer Hydrant knows ({})",
                TOKENIZER_NAMES.join(", ")
            ));
        }
    }
    Ok(phrase_ast(field, text, slop(options)?, prefix))
}

fn phrase_ast(field: &str, text: String, slop: u32, prefix: bool) -> QueryAst {
    let field = Some(field.to_string());
    if prefix {
        QueryAst::Prefix {
            field,
            prefix: text,
            position: 0,
        }
    } else {
        QueryAst::Phrase {
            field,
            text,
            slop,
            position: 0,
        }
    }
}

fn slop(options: Option<&Map<String, Value>>) -> DslResult<u32> {
    match options.and_then(|options| options.get("slop")) {
        None => Ok(0),
        Some(value) => value
            .as_u64()
            .and_then(|slop| u32::try_from(slop).ok())
            .ok_or_else(|| format!("[slop] must be a non-negative integer, got {value}")),
    }
}

fn multi_match_query(body: &Map<String, Value>) -> DslResult<QueryAst> {
    let text = value_text(body.get("query").ok_or("[query] is required")?)?;
    let fields = string_list(body.get("fields"), "fields")?;
    if fields.is_empty() {
        return Err("[fields] must name at least one field".to_string());
    }
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("best_fields");
    let conjunction = conjunction(Some(body))?;
    let zero_terms_match_all = zero_terms_match_all(Some(body))?;
    let slop = slop(Some(body))?;
    let per_field = |field: &String| -> DslResult<QueryAst> {
        Ok(match kind {
            "best_fields" | "most_fields" | "cross_fields" => QueryAst::Match {
                field: Some(field.clone()),
                text: text.clone(),
                conjunction,
                last_is_prefix: false,
                zero_terms_match_all,
                position: 0,
            },
            "bool_prefix" => QueryAst::Match {
                field: Some(field.clone()),
                text: text.clone(),
                conjunction,
                last_is_prefix: true,
                zero_terms_match_all,
                position: 0,
            },
            "phrase" => phrase_ast(field, text.clone(), slop, false),
            "phrase_prefix" => phrase_ast(field, text.clone(), slop, true),
            other => {
                return Err(format!(
                    "[type] `{other}` is not one of best_fields, most_fields, cross_fields, \
                     phrase, phrase_prefix, bool_prefix"
                ));
            }
        })
    };
    let clauses = fields
        .iter()
        .map(per_field)
        .collect::<DslResult<Vec<_>>>()?;
    Ok(QueryAst::Or(clauses))
}

/// A list of field names (`"f"` or `["f", "g^2"]`), boosts dropped.
fn string_list(value: Option<&Value>, key: &str) -> DslResult<Vec<String>> {
    let names: Vec<&str> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => names
            .iter()
            .map(|name| {
                name.as_str()
                    .ok_or_else(|| format!("[{key}] must list strings"))
            })
            .collect::<DslResult<_>>()?,
        Some(other) => return Err(format!("[{key}] must be a list of strings, got {other}")),
    };
    Ok(names
        .into_iter()
        .map(|name| name.split('^').next().unwrap_or(name).to_string())
        .collect())
}

fn term_query(body: &Value) -> DslResult<QueryAst> {
    let FieldValue(field, value, options) = field_and_value(body, "value")?;
    if option_bool(options, "case_insensitive") {
        return Ok(QueryAst::Regex {
            field: field.to_string(),
            pattern: format!("(?i){}", regex_escape(&value)),
            position: 0,
        });
    }
    Ok(QueryAst::ExactTerm {
        field: field.to_string(),
        value,
        position: 0,
    })
}

fn terms_query(body: &Map<String, Value>) -> DslResult<QueryAst> {
    let mut fields = body
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "boost" | "_name"));
    let (Some((field, values)), None) = (fields.next(), fields.next()) else {
        return Err("[terms] takes exactly one field".to_string());
    };
    let Value::Array(values) = values else {
        return Err(format!("[{field}] must list the values to match"));
    };
    if values.len() > MAX_TERMS {
        return Err(format!("[{field}] lists more than {MAX_TERMS} values"));
    }
    let clauses = values
        .iter()
        .map(|value| {
            Ok(QueryAst::ExactTerm {
                field: field.clone(),
                value: value_text(value)?,
                position: 0,
            })
        })
        .collect::<DslResult<Vec<_>>>()?;
    Ok(QueryAst::Or(clauses))
}

fn range_query(body: &Value) -> DslResult<QueryAst> {
    let (field, bounds) = single_entry(body, "the query body")?;
    let bounds = object(bounds, "range")?;
    let mut lower = Bound::Unbounded;
    let mut upper = Bound::Unbounded;
    let format = match bounds.get("format") {
        None => None,
        Some(Value::String(format)) => Some(format.as_str()),
        Some(other) => return Err(format!("[{field}] [format] must be a string, got {other}")),
    };
    let bound_text = |value: &Value| -> DslResult<String> {
        let text = value_text(value)?;
        match format {
            None => Ok(text),
            Some(format) => date_in_format(&text, format)
                .map_err(|error| format!("[{field}] cannot read `{text}` as `{format}`: {error}")),
        }
    };
    for (key, value) in bounds {
        match key.as_str() {
            "gt" => lower = Bound::Excluded(bound_text(value)?),
            "gte" | "from" => lower = Bound::Included(bound_text(value)?),
            "lt" => upper = Bound::Excluded(bound_text(value)?),
            "lte" | "to" => upper = Bound::Included(bound_text(value)?),
            "format" | "boost" | "_name" | "time_zone" | "relation" => {}
            other => return Err(format!("[{field}] unknown range option [{other}]")),
        }
    }
    Ok(QueryAst::Range {
        field: field.to_string(),
        lower,
        upper,
        position: 0,
    })
}

/// A range bound in a range's `format`, as RFC 3339 (what the query builder reads); formats
/// it reads itself pass through. `epoch_millis` and `epoch_second` are integers; a Java-style
/// pattern (`yyyy|MM|dd 'T'HH:mm:ss.SSSSSS'Z'`) becomes the strptime pattern index configs
/// use, in UTC.
fn date_in_format(text: &str, format: &str) -> Result<String, String> {
    let epoch = |nanos_per_unit: i64| -> Result<DateTime, String> {
        let count: i64 = text.parse().map_err(|_| "not an integer")?;
        count
            .checked_mul(nanos_per_unit)
            .map(DateTime::from_timestamp_nanos)
            .ok_or_else(|| "out of the datetime range".to_string())
    };
    let datetime = match format {
        "epoch_millis" => epoch(1_000_000)?,
        "epoch_second" => epoch(1_000_000_000)?,
        // Other named formats (`strict_date_optional_time`, `date`): ISO dates, which the
        // builder reads as they are. A pattern's letters are only pattern letters.
        named
            if !named.contains('\'')
                && named
                    .chars()
                    .any(|c| c.is_ascii_alphabetic() && !"yMdHmsS".contains(c))
                && named.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
        {
            return Ok(text.to_string());
        }
        pattern => {
            let strptime = StrptimeFormat::new(&java_to_strptime(pattern)?)?;
            DateTime::from_utc(strptime.parse(text)?)
        }
    };
    Ok(match DatetimeOutputFormat::Rfc3339.format(datetime) {
        Value::String(rfc3339) => rfc3339,
        other => other.to_string(),
    })
}

/// A Java date pattern as strptime: `yyyy` `MM` `dd` `HH` `mm` `ss` and `S...` (a fraction),
/// quoted text and other characters literal.
fn java_to_strptime(pattern: &str) -> Result<String, String> {
    let mut strptime = String::with_capacity(pattern.len() + 8);
    let literal = |strptime: &mut String, c: char| {
        if c == '%' {
            strptime.push_str("%%");
        } else {
            strptime.push(c);
        }
    };
    let mut chars = pattern.chars().peekable();
    while let Some(symbol) = chars.next() {
        if symbol == '\'' {
            for c in chars.by_ref().take_while(|c| *c != '\'') {
                literal(&mut strptime, c);
            }
            continue;
        }
        if !symbol.is_ascii_alphabetic() {
            literal(&mut strptime, symbol);
            continue;
        }
        let mut width = 1;
        while chars.next_if_eq(&symbol).is_some() {
            width += 1;
        }
        strptime.push_str(match (symbol, width) {
            ('y', 4) => "%Y",
            ('y', 2) => "%y",
            ('M', 2) => "%m",
            ('d', 2) => "%d",
            ('H', 2) => "%H",
            ('m', 2) => "%M",
            ('s', 2) => "%S",
            ('S', _) => "%f",
            _ => {
                return Err(format!(
                    "`{}` is not a supported pattern part (yyyy, yy, MM, dd, HH, mm, ss, S...)",
                    symbol.to_string().repeat(width)
                ));
            }
        });
    }
    Ok(strptime)
}

fn pattern_query(body: &Value, to_regex: impl Fn(&str) -> String) -> DslResult<QueryAst> {
    let FieldValue(field, value, options) = field_and_value(body, "value")?;
    if value.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "[{field}] the pattern is longer than {MAX_PATTERN_BYTES} bytes"
        ));
    }
    let mut pattern = to_regex(&value);
    if option_bool(options, "case_insensitive") {
        pattern.insert_str(0, "(?i)");
    }
    Ok(QueryAst::Regex {
        field: field.to_string(),
        pattern,
        position: 0,
    })
}

fn query_string_query(body: &Map<String, Value>) -> DslResult<QueryAst> {
    let query = required_str(body, "query")?;
    let default_operator = match body.get("default_operator").and_then(Value::as_str) {
        None => DefaultOperator::Or,
        Some(operator) if operator.eq_ignore_ascii_case("or") => DefaultOperator::Or,
        Some(operator) if operator.eq_ignore_ascii_case("and") => DefaultOperator::And,
        Some(other) => return Err(format!("[default_operator] must be AND or OR, got {other}")),
    };
    if let Some(Value::String(_)) = body.get("fields") {
        return Err("[fields] must be a list of field names".to_string());
    }
    let fields = string_list(body.get("fields"), "fields")?;
    let default_field = string_list(body.get("default_field"), "default_field")?;
    if !fields.is_empty() && !default_field.is_empty() {
        return Err("[fields] and [default_field] cannot be given together".to_string());
    }
    let mut fields = if fields.is_empty() {
        default_field
    } else {
        fields
    };
    fields.retain(|field| field != "*");
    let ast =
        query_from_query_string(query, default_operator, &fields).map_err(|error| match error {
            SearchError::InvalidRequest(message) => message,
            other => other.to_string(),
        })?;
    let lenient = match body.get("lenient") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(lenient)) => *lenient,
        Some(other) => return Err(format!("[lenient] must be true or false, got {other}")),
    };
    Ok(if lenient {
        QueryAst::Lenient(Box::new(ast))
    } else {
        ast
    })
}

/// Clauses that name no field search `fields` (any of them may match); `fields` is not
/// empty.
fn with_default_fields(ast: QueryAst, fields: &[String]) -> QueryAst {
    let recurse = |clauses: Vec<QueryAst>| -> Vec<QueryAst> {
        clauses
            .into_iter()
            .map(|clause| with_default_fields(clause, fields))
            .collect()
    };
    match ast {
        QueryAst::And(clauses) => QueryAst::And(recurse(clauses)),
        QueryAst::Or(clauses) => QueryAst::Or(recurse(clauses)),
        QueryAst::Not(inner) => QueryAst::Not(Box::new(with_default_fields(*inner, fields))),
        QueryAst::Lenient(inner) => {
            QueryAst::Lenient(Box::new(with_default_fields(*inner, fields)))
        }
        QueryAst::Filter(inner) => QueryAst::Filter(Box::new(with_default_fields(*inner, fields))),
        QueryAst::Bool {
            must,
            should,
            must_not,
            minimum_should_match,
        } => QueryAst::Bool {
            must: recurse(must),
            should: recurse(should),
            must_not: recurse(must_not),
            minimum_should_match,
        },
        clause => {
            let mut per_field: Vec<QueryAst> = fields
                .iter()
                .map_while(|field| on_field(&clause, field))
                .collect();
            match per_field.len() {
                0 => clause,
                1 => per_field.swap_remove(0),
                _ => QueryAst::Or(per_field),
            }
        }
    }
}

/// A clause that names no field, on `field` instead; `None` for any other clause.
fn on_field(clause: &QueryAst, field: &str) -> Option<QueryAst> {
    let mut clause = clause.clone();
    match &mut clause {
        QueryAst::Term { field: slot, .. }
        | QueryAst::Phrase { field: slot, .. }
        | QueryAst::Prefix { field: slot, .. }
        | QueryAst::Wildcard { field: slot, .. }
            if slot.is_none() =>
        {
            *slot = Some(field.to_string())
        }
        QueryAst::Range { field: slot, .. } if slot.is_empty() => *slot = field.to_string(),
        _ => return None,
    }
    Some(clause)
}

/// `minimum_should_match`: a count (`2`, `"2"`), a count of clauses that may be missing
/// (`"-1"`), or a percentage (`"75%"`, `"-25%"`), rounded down as Elasticsearch does.
fn parse_minimum_should_match(value: &Value, num_should: usize) -> DslResult<usize> {
    let invalid = || format!("[minimum_should_match] cannot read {value}");
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_string(),
        _ => return Err(invalid()),
    };
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let count = match magnitude.strip_suffix('%') {
        Some(percent) => {
            let percent: usize = percent.parse().map_err(|_| invalid())?;
            num_should * percent.min(100) / 100
        }
        None => magnitude.parse::<usize>().map_err(|_| invalid())?,
    };
    let required = if negative {
        num_should.saturating_sub(count)
    } else {
        count
    };
    Ok(required)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn translate(query: Value) -> QueryAst {
        query_from_dsl(&query).unwrap()
    }

    fn refused(query: Value) -> String {
        query_from_dsl(&query).unwrap_err().to_string()
    }

    #[test]
    fn leaf_queries_in_short_and_long_form() {
        let short = translate(json!({"term": {"type": "PushEvent"}}));
        let long = translate(json!({"term": {"type": {"value": "PushEvent", "boost": 2}}}));
        assert_eq!(short, long);
        assert_eq!(
            translate(json!({"match": {"title": {"query": "a b", "operator": "AND"}}})),
            QueryAst::Match {
                field: Some("title".into()),
                text: "a b".into(),
                conjunction: true,
                last_is_prefix: false,
                zero_terms_match_all: false,
                position: 0,
            }
        );
        assert_eq!(
            translate(json!({"term": {"count": 3}})),
            QueryAst::ExactTerm {
                field: "count".into(),
                value: "3".into(),
                position: 0
            }
        );
        assert_eq!(
            translate(json!({"range": {"ts": {"gte": "2015-01-01", "lt": 10}}})),
            QueryAst::Range {
                field: "ts".into(),
                lower: Bound::Included("2015-01-01".into()),
                upper: Bound::Excluded("10".into()),
                position: 0,
            }
        );
    }

    #[test]
    fn bool_defaults_follow_elasticsearch() {
        let QueryAst::Bool {
            minimum_should_match,
            ..
        } = translate(json!({"bool": {"should": [{"match_all": {}}]}}))
        else {
            panic!("a bool query");
        };
        assert_eq!(minimum_should_match, 1);
        let QueryAst::Bool {
            minimum_should_match,
            must,
            ..
        } = translate(json!({"bool": {
            "filter": {"match_all": {}},
            "should": [{"match_all": {}}, {"match_none": {}}],
        }}))
        else {
            panic!("a bool query");
        };
        assert_eq!((minimum_should_match, must.len()), (0, 1));
        for (value, expected) in [
            (json!(2), 2),
            (json!("-1"), 3),
            (json!("50%"), 2),
            (json!("-25%"), 3),
        ] {
            assert_eq!(parse_minimum_should_match(&value, 4).unwrap(), expected);
        }
    }

    #[test]
    fn range_formats_become_rfc3339() {
        let cases = [
            (
                "2015|02|01 T00:00:00.001999Z",
                "yyyy|MM|dd 'T'HH:mm:ss.SSSSSS'Z'",
                "2015-02-01T00:00:00.001999Z",
            ),
            ("2024-02-29", "yyyy-MM-dd", "2024-02-29T00:00:00Z"),
            ("1422748800001", "epoch_millis", "2015-02-01T00:00:00.001Z"),
            ("-1", "epoch_second", "1969-12-31T23:59:59Z"),
            (
                "2015-02-01T00:00:00Z",
                "strict_date_optional_time",
                "2015-02-01T00:00:00Z",
            ),
            ("2015-02-01", "date", "2015-02-01"),
        ];
        for (text, format, expected) in cases {
            assert_eq!(date_in_format(text, format).unwrap(), expected, "{format}");
        }
        for (text, format) in [
            ("2015-13-01", "yyyy-MM-dd"),
            ("2015-01-01x", "yyyy-MM-dd"),
            ("20150101", "yyyy-MM-dd"),
            ("2015", "yyyy QQ"),
            ("2015", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"),
            ("99999999999999999999", "epoch_millis"),
            ("9223372036854775807", "epoch_second"),
        ] {
            assert!(date_in_format(text, format).is_err(), "{text} as {format}");
        }
    }

    #[test]
    fn patterns_become_anchored_regular_expressions() {
        assert_eq!(wildcard_to_regex("ki*y?", false), "ki.*y.");
        assert_eq!(wildcard_to_regex("Ki*Y", true), "ki.*y");
        assert_eq!(wildcard_to_regex("a.b", false), "a\\x{2e}b");
        assert_eq!(wildcard_to_regex("a\\*", false), "a\\x{2a}");
        let QueryAst::Regex { pattern, .. } =
            translate(json!({"prefix": {"name": {"value": "Qui", "case_insensitive": true}}}))
        else {
            panic!("a regex");
        };
        assert_eq!(pattern, "(?i)Qui.*");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(refused(json!({"tern": {"a": 1}})).contains("[tern] is not a query"));
        assert!(refused(json!({"bool": {"musts": []}})).contains("unknown field [musts]"));
        assert!(refused(json!({"term": {"a": 1}, "match": {}})).contains("one key"));
        assert!(refused(json!({"term": {"a": [1]}})).contains("[term]"));
        assert!(refused(json!([])).contains("JSON object"));
    }

    #[test]
    fn nesting_and_size_are_bounded() {
        let mut query = json!({"match_all": {}});
        for _ in 0..MAX_QUERY_DEPTH {
            query = json!({"bool": {"must": [query]}});
        }
        assert!(refused(query).contains("levels deep"));
        let many: Vec<Value> = (0..=MAX_QUERY_CLAUSES)
            .map(|i| json!({"term": {"a": i}}))
            .collect();
        assert!(refused(json!({"bool": {"should": many}})).contains("clauses"));
        let values: Vec<u32> = (0..=MAX_TERMS as u32).collect();
        assert!(refused(json!({"terms": {"a": values}})).contains("more than"));
    }

    #[test]
    fn query_strings_use_or_and_the_given_fields() {
        let ast = query_from_query_string("a b", DefaultOperator::Or, &["title".into()]).unwrap();
        let QueryAst::Bool { should, .. } = ast else {
            panic!("a bool query");
        };
        assert!(matches!(&should[0], QueryAst::Term { field: Some(f), .. } if f == "title"));
    }
}
