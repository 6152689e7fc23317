//! Hit ordering: up to two sort keys (fast fields or `_score`), then document order.
//!
//! Without `sort_by`, hits come in document order, newest first: splits are compared by id
//! (ids are time-ordered UUIDv7s, so a later split holds later data) and, within a split, by
//! descending document id (the order documents were indexed in). That order needs no fast
//! field read, so a cold search touches only the term dictionary, postings and doc store.
//!
//! [`TopHitsCollector`] keeps the best `limit` documents of each split by these keys;
//! [`compare_candidates`] orders candidates of all splits the same way for the final page.
//!
//! [`SearchAfter`] resumes that order strictly after a position: the sort values of the last
//! hit seen (Elasticsearch's `search_after`) and, when known, the hit itself, which breaks
//! ties so that pages neither repeat nor skip documents with equal values.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use hydrant_index::doc_mapper::{DocMapper, FieldKind, ResolvedField};
use serde_json::Value;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, DynamicColumn};
use tantivy::{DocId, Order, Score, SegmentOrdinal, SegmentReader};

use crate::error::{Result, SearchError};

/// At most this many sort keys per request.
pub const MAX_SORT_KEYS: usize = 2;

/// What one sort key compares.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    /// BM25 relevance.
    Score,
    /// A fast field's first value.
    Field { name: String, kind: SortKind },
}

/// The column type a sort field is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKind {
    U64,
    I64,
    F64,
    Datetime,
    Bool,
    /// A path in a json or the dynamic field: each split's column there, whatever its type.
    Dynamic,
}

/// What one entry of a request's sort asks for: the typed form every API's sort becomes
/// (native `sort_by` strings, Elasticsearch's `sort`), checked against a mapping by
/// [`SortSpec::new`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    /// BM25 relevance, best first whatever order is asked: relevance reads naturally as "best
    /// first".
    Score,
    /// A fast field's first value.
    Field { name: String, descending: bool },
    /// Ties (and a sort with no field) in indexing order: newest first by default, oldest
    /// first as Elasticsearch's `_doc` ascending. Must come after the fields.
    DocumentOrder { oldest_first: bool },
    /// Each hit's position (split, segment, document) as its last sort value, as
    /// Elasticsearch's `_shard_doc`; document order breaks ties anyway. Must come last.
    Position,
}

/// The native `sort_by` entry for document order: `_doc` (or `+_doc`) is oldest first,
/// `-_doc` newest first (the default).
const DOCUMENT_ORDER_SORT_KEY: &str = "_doc";
/// The native `sort_by` entry for [`SortField::Position`].
const POSITION_SORT_KEY: &str = "_shard_doc";

impl SortField {
    /// A native `sort_by` entry: `field`, `+field` (ascending), `-field` (descending),
    /// `_score`, `_doc`, `-_doc` or `_shard_doc`.
    pub fn parse_native(entry: &str) -> SortField {
        if entry == POSITION_SORT_KEY {
            return SortField::Position;
        }
        let (name, descending) = match entry.strip_prefix('-') {
            Some(name) => (name, true),
            None => (entry.strip_prefix('+').unwrap_or(entry), false),
        };
        match name {
            DOCUMENT_ORDER_SORT_KEY => SortField::DocumentOrder {
                oldest_first: !descending,
            },
            "_score" => SortField::Score,
            name => SortField::Field {
                name: name.to_string(),
                descending,
            },
        }
    }

    /// Whether it compares a value (a field or the score) rather than ordering ties.
    pub fn is_key(&self) -> bool {
        matches!(self, SortField::Score | SortField::Field { .. })
    }
}

/// Sort keys with their orders, checked against a mapping; no key means document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SortSpec {
    pub keys: Vec<(SortKey, Order)>,
    /// Hits' sort values end with their position ([`SortField::Position`]).
    pub position_value: bool,
    /// Ties (and a sort with no key) in indexing order, oldest first, instead of newest
    /// first: Elasticsearch's `_doc` ascending.
    pub oldest_first: bool,
}

impl SortSpec {
    /// Checks a sort against a mapping: at most [`MAX_SORT_KEYS`] fields, each a fast field
    /// (or a path in a fast json or the dynamic field), then document order or the position.
    pub fn new(sort: &[SortField], doc_mapper: &DocMapper) -> Result<Self> {
        // The score is not counted: Elasticsearch's `track_scores` adds it to two fields.
        let num_keys = (sort.iter())
            .filter(|field| matches!(field, SortField::Field { .. }))
            .count();
        if num_keys > MAX_SORT_KEYS {
            return Err(SearchError::InvalidRequest(format!(
                "sort_by takes at most {MAX_SORT_KEYS} fields, got {num_keys}"
            )));
        }
        let mut keys = Vec::with_capacity(sort.len());
        let mut position_value = false;
        let mut document_order: Option<bool> = None;
        for field in sort {
            if *field == SortField::Position {
                position_value = true;
                continue;
            }
            if position_value || document_order.is_some() {
                return Err(SearchError::InvalidRequest(format!(
                    "sort_by: `{DOCUMENT_ORDER_SORT_KEY}` and `{POSITION_SORT_KEY}` must come \
                     after the sort fields"
                )));
            }
            match field {
                SortField::DocumentOrder { oldest_first } => document_order = Some(*oldest_first),
                SortField::Score => keys.push((SortKey::Score, Order::Desc)),
                SortField::Field { name, descending } => {
                    let kind = sort_kind(name, doc_mapper)?;
                    let order = if *descending { Order::Desc } else { Order::Asc };
                    keys.push((
                        SortKey::Field {
                            name: name.clone(),
                            kind,
                        },
                        order,
                    ));
                }
                SortField::Position => {}
            }
        }
        Ok(SortSpec {
            keys,
            position_value,
            oldest_first: document_order.unwrap_or(false),
        })
    }

    /// Whether hits come in plain document order (no key to read).
    pub fn is_document_order(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn requires_scoring(&self) -> bool {
        self.keys.iter().any(|(key, _)| *key == SortKey::Score)
    }

    /// The kind of each key's values (`None` for `_score`).
    pub fn kinds(&self) -> impl Iterator<Item = Option<SortKind>> + '_ {
        self.keys.iter().map(|(key, _)| match key {
            SortKey::Score => None,
            SortKey::Field { kind, .. } => Some(*kind),
        })
    }
}

/// How a sort field's values are read: its mapped type, or, inside a json or the dynamic
/// field, whatever numeric, datetime or bool column each split has at that path.
fn sort_kind(name: &str, doc_mapper: &DocMapper) -> Result<SortKind> {
    let field = match doc_mapper.resolve_field(name) {
        Some(ResolvedField::Mapped(field)) => field,
        Some(ResolvedField::JsonPath { field, .. }) if field.kind.is_fast() => {
            return Ok(SortKind::Dynamic);
        }
        Some(ResolvedField::JsonPath { .. }) => {
            return Err(SearchError::InvalidRequest(format!(
                "sort_by: `{name}` is inside a json field that is not fast (fast: true)"
            )));
        }
        None => {
            return Err(SearchError::InvalidRequest(format!(
                "sort_by: unknown field `{name}`"
            )));
        }
    };
    if !field.kind.is_fast() {
        return Err(SearchError::InvalidRequest(format!(
            "sort_by: field `{name}` must be fast (fast: true)"
        )));
    }
    Ok(match field.kind {
        FieldKind::U64 { .. } => SortKind::U64,
        FieldKind::I64 { .. } => SortKind::I64,
        FieldKind::F64 { .. } => SortKind::F64,
        FieldKind::Datetime { .. } => SortKind::Datetime,
        FieldKind::Bool { .. } => SortKind::Bool,
        _ => {
            return Err(SearchError::InvalidRequest(format!(
                "sort_by: field `{name}` is {}; sorting takes numeric, datetime or bool fields",
                field.kind.type_name()
            )));
        }
    })
}

/// One sort value. Values of one key share a variant.
///
/// Serialized with floats as their bits: JSON has no NaN or infinities, and a leaf's answer
/// must come back exactly as it left.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "SortValueRepr", into = "SortValueRepr")]
pub enum SortValue {
    U64(u64),
    I64(i64),
    F64(f64),
    /// Orders as 0 and 1 among numbers (as Quickwit orders a column mixing both), shown as a
    /// boolean.
    Bool(bool),
}

#[derive(serde::Serialize, serde::Deserialize)]
enum SortValueRepr {
    U64(u64),
    I64(i64),
    F64Bits(u64),
    Bool(bool),
}

impl From<SortValue> for SortValueRepr {
    fn from(value: SortValue) -> Self {
        match value {
            SortValue::U64(value) => SortValueRepr::U64(value),
            SortValue::I64(value) => SortValueRepr::I64(value),
            SortValue::F64(value) => SortValueRepr::F64Bits(value.to_bits()),
            SortValue::Bool(value) => SortValueRepr::Bool(value),
        }
    }
}

impl From<SortValueRepr> for SortValue {
    fn from(value: SortValueRepr) -> Self {
        match value {
            SortValueRepr::U64(value) => SortValue::U64(value),
            SortValueRepr::I64(value) => SortValue::I64(value),
            SortValueRepr::F64Bits(bits) => SortValue::F64(f64::from_bits(bits)),
            SortValueRepr::Bool(value) => SortValue::Bool(value),
        }
    }
}

impl SortValue {
    /// Numeric order, across types too: one field may be `u64` in a split and `i64` or `f64`
    /// in another (dynamic fields, or indexes whose mappings differ).
    fn compare(&self, other: &SortValue) -> Ordering {
        match (self, other) {
            (SortValue::F64(left), SortValue::F64(right)) => left.total_cmp(right),
            (SortValue::F64(left), integer) => compare_float_int(*left, integer.as_i128()),
            (integer, SortValue::F64(right)) => {
                compare_float_int(*right, integer.as_i128()).reverse()
            }
            (left, right) => left.as_i128().cmp(&right.as_i128()),
        }
    }

    /// Integers exactly (floats truncated; only called on integers).
    fn as_i128(&self) -> i128 {
        match *self {
            SortValue::U64(value) => i128::from(value),
            SortValue::I64(value) => i128::from(value),
            SortValue::F64(value) => value as i128,
            SortValue::Bool(value) => i128::from(value),
        }
    }

    /// The value as JSON, for the response's `sort` of a hit.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            SortValue::U64(value) => value.into(),
            SortValue::I64(value) => value.into(),
            SortValue::F64(value) => serde_json::Number::from_f64(value)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            SortValue::Bool(value) => value.into(),
        }
    }
}

/// Orders a float against an integer; NaN sorts after every number, as `total_cmp` has it.
fn compare_float_int(float: f64, integer: i128) -> Ordering {
    (float)
        .partial_cmp(&(integer as f64))
        .unwrap_or_else(|| float.total_cmp(&0.0))
        .then_with(|| {
            // Equal as floats: decide exactly where the float is an integer in range.
            if float.fract() == 0.0 && float.abs() < 1.7e38 {
                (float as i128).cmp(&integer)
            } else {
                Ordering::Equal
            }
        })
}

/// Where a hit sits in the sort order beyond its values: its split, segment and document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocPosition {
    pub split_id: String,
    pub segment_ord: SegmentOrdinal,
    pub doc_id: DocId,
}

impl DocPosition {
    /// `split:segment:doc`, the form of a hit's [`POSITION_SORT_KEY`] value and its `_id`.
    pub fn to_sort_value(&self) -> String {
        format!("{}:{}:{}", self.split_id, self.segment_ord, self.doc_id)
    }

    /// Reads an `_id` ([`DocPosition::to_sort_value`]); `None` if it is not one.
    pub fn from_id(id: &str) -> Option<DocPosition> {
        let mut parts = id.rsplitn(3, ':');
        let doc_id = parts.next()?.parse().ok()?;
        let segment_ord = parts.next()?.parse().ok()?;
        let split_id = parts.next().filter(|split_id| !split_id.is_empty())?;
        Some(DocPosition {
            split_id: split_id.to_string(),
            segment_ord,
            doc_id,
        })
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.rsplitn(3, ':');
        let doc_id = parts.next()?.parse().ok()?;
        let segment_ord = parts.next()?.parse().ok()?;
        let split_id = parts.next()?;
        (!split_id.is_empty()).then(|| DocPosition {
            split_id: split_id.to_string(),
            segment_ord,
            doc_id,
        })
    }
}

/// A hit's exact place in the sort order: what a scroll resumes after.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HitPosition {
    pub values: Vec<Option<SortValue>>,
    pub doc: DocPosition,
}

/// One `search_after` value, read against its key's type.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AfterBound {
    /// After the documents that have a value: among those without one.
    Missing,
    Int(i128),
    Float(f64),
}

impl AfterBound {
    fn from_sort_value(value: Option<SortValue>) -> Self {
        match value {
            None => AfterBound::Missing,
            Some(SortValue::F64(value)) => AfterBound::Float(value),
            Some(integer) => AfterBound::Int(integer.as_i128()),
        }
    }

    /// A client's value: a number, a string holding one, a bool or null. Datetimes are in
    /// milliseconds, or nanoseconds when `datetime_nanos`, as hits' sort values are.
    fn from_json(value: &Value, kind: Option<SortKind>, datetime_nanos: bool) -> Result<Self> {
        let bound = match value {
            Value::Null => Some(AfterBound::Missing),
            Value::Bool(flag) => Some(AfterBound::Int(i128::from(*flag))),
            Value::Number(number) => number_bound(&number.to_string()),
            Value::String(text) => number_bound(text.trim()),
            _ => None,
        }
        .ok_or_else(|| {
            SearchError::InvalidRequest(format!(
                "search_after: cannot read {value} as a sort value (a number, a string holding \
                 one, or null)"
            ))
        })?;
        if kind != Some(SortKind::Datetime) || datetime_nanos {
            return Ok(bound);
        }
        Ok(match bound {
            AfterBound::Int(millis) => AfterBound::Int(millis.saturating_mul(1_000_000)),
            AfterBound::Float(millis) => AfterBound::Float(millis * 1e6),
            AfterBound::Missing => AfterBound::Missing,
        })
    }

    /// Where `value` sits relative to this bound in `order`, missing values last.
    fn compare(&self, value: Option<SortValue>, order: Order) -> Ordering {
        let natural = match (value, self) {
            (Some(_), AfterBound::Missing) => return Ordering::Less,
            (None, AfterBound::Missing) => return Ordering::Equal,
            (None, _) => return Ordering::Greater,
            (Some(SortValue::F64(value)), AfterBound::Float(bound)) => value.total_cmp(bound),
            (Some(SortValue::F64(value)), AfterBound::Int(bound)) => {
                compare_float_int(value, *bound)
            }
            (Some(integer), AfterBound::Float(bound)) => {
                compare_float_int(*bound, integer.as_i128()).reverse()
            }
            (Some(integer), AfterBound::Int(bound)) => integer.as_i128().cmp(bound),
        };
        if order == Order::Desc {
            natural.reverse()
        } else {
            natural
        }
    }
}

/// Integers exactly (within i128, so `u64::MAX` and beyond compare right), others as floats.
fn number_bound(text: &str) -> Option<AfterBound> {
    if let Ok(integer) = text.parse::<i128>() {
        return Some(AfterBound::Int(integer));
    }
    let float: f64 = text.parse().ok()?;
    if float.is_nan() {
        return None;
    }
    Some(AfterBound::Float(float))
}

/// How a split's documents whose values equal the bound on every key are taken.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TieRule {
    /// The split comes before the position: its ties were already served.
    Exclude,
    /// The split comes after the position.
    Include,
    /// The position's own split, newest first: documents below (segment, document).
    Before(SegmentOrdinal, DocId),
    /// The position's own split, oldest first: documents above (segment, document).
    Beyond(SegmentOrdinal, DocId),
}

/// Resumes the sort order strictly after a position (`search_after`, and scrolls).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchAfter {
    bounds: Vec<AfterBound>,
    /// Breaks ties on every key; without it, documents equal to the bounds are skipped, as
    /// Elasticsearch skips them.
    position: Option<DocPosition>,
}

impl SearchAfter {
    /// From a client's values: one per sort key, then the position when the sort asks for it
    /// ([`POSITION_SORT_KEY`]).
    pub fn from_values(spec: &SortSpec, values: &[Value], datetime_nanos: bool) -> Result<Self> {
        let expected = spec.keys.len() + usize::from(spec.position_value);
        if values.len() != expected {
            return Err(SearchError::InvalidRequest(format!(
                "search_after has {} values; the sort has {expected} keys",
                values.len()
            )));
        }
        let bounds = spec
            .kinds()
            .zip(values)
            .map(|(kind, value)| AfterBound::from_json(value, kind, datetime_nanos))
            .collect::<Result<Vec<_>>>()?;
        let position = match spec.position_value {
            false => None,
            true => {
                let value = &values[spec.keys.len()];
                let position = value.as_str().and_then(DocPosition::parse).ok_or_else(|| {
                    SearchError::InvalidRequest(format!(
                        "search_after: {value} is not a `{POSITION_SORT_KEY}` value \
                         (split:segment:doc, as hits' sort values give it)"
                    ))
                })?;
                Some(position)
            }
        };
        Ok(SearchAfter { bounds, position })
    }

    /// From a hit's exact position.
    pub fn from_position(spec: &SortSpec, position: &HitPosition) -> Result<Self> {
        if position.values.len() != spec.keys.len() {
            return Err(SearchError::InvalidRequest(
                "the position does not match the sort".to_string(),
            ));
        }
        Ok(SearchAfter {
            bounds: position
                .values
                .iter()
                .map(|value| AfterBound::from_sort_value(*value))
                .collect(),
            position: Some(position.doc.clone()),
        })
    }

    fn tie_rule(&self, split_id: &str, oldest_first: bool) -> TieRule {
        let Some(position) = &self.position else {
            return TieRule::Exclude;
        };
        // Newest first, greater split ids (newer splits) come first.
        let order = split_id.cmp(position.split_id.as_str());
        match (order, oldest_first) {
            (Ordering::Equal, false) => TieRule::Before(position.segment_ord, position.doc_id),
            (Ordering::Equal, true) => TieRule::Beyond(position.segment_ord, position.doc_id),
            (Ordering::Greater, false) | (Ordering::Less, true) => TieRule::Exclude,
            (Ordering::Less, false) | (Ordering::Greater, true) => TieRule::Include,
        }
    }
}

/// The filter a split's collector applies: a [`SearchAfter`] with the split's tie rule.
#[derive(Clone, Debug)]
struct AfterFilter {
    after: Arc<SearchAfter>,
    tie: TieRule,
}

impl AfterFilter {
    fn admits(
        &self,
        spec: &SortSpec,
        values: &[Option<SortValue>],
        segment_ord: SegmentOrdinal,
        doc: DocId,
    ) -> bool {
        for ((bound, (_, order)), value) in self.after.bounds.iter().zip(&spec.keys).zip(values) {
            match bound.compare(*value, *order) {
                Ordering::Less => return false,
                Ordering::Greater => return true,
                Ordering::Equal => {}
            }
        }
        match self.tie {
            TieRule::Exclude => false,
            TieRule::Include => true,
            TieRule::Before(position_segment, position_doc) => {
                (segment_ord, doc) < (position_segment, position_doc)
            }
            TieRule::Beyond(position_segment, position_doc) => {
                (segment_ord, doc) > (position_segment, position_doc)
            }
        }
    }
}

/// A document of a split with its sort values.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// One value per sort key; `None` when the document has none.
    pub values: Vec<Option<SortValue>>,
    /// Position of the split in newest-first order.
    pub split_ordinal: usize,
    pub segment_ord: SegmentOrdinal,
    pub doc_id: DocId,
}

/// Orders two candidates: by each key (missing values last, whatever the order), then newest
/// first (lower split ordinal, then higher segment and document).
pub fn compare_candidates(spec: &SortSpec, left: &Candidate, right: &Candidate) -> Ordering {
    for (position, (_, order)) in spec.keys.iter().enumerate() {
        let ordering = match (&left.values[position], &right.values[position]) {
            (Some(left_value), Some(right_value)) => {
                let natural = left_value.compare(right_value);
                if *order == Order::Desc {
                    natural.reverse()
                } else {
                    natural
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    let newest_first = left
        .split_ordinal
        .cmp(&right.split_ordinal)
        .then(right.segment_ord.cmp(&left.segment_ord))
        .then(right.doc_id.cmp(&left.doc_id));
    if spec.oldest_first {
        newest_first.reverse()
    } else {
        newest_first
    }
}

/// Collects the best `limit` documents of one split by a [`SortSpec`], after a position if
/// given.
pub struct TopHitsCollector {
    spec: SortSpec,
    limit: usize,
    split_ordinal: usize,
    after: Option<AfterFilter>,
}

impl TopHitsCollector {
    pub fn new(
        spec: SortSpec,
        limit: usize,
        split_id: &str,
        split_ordinal: usize,
        after: Option<Arc<SearchAfter>>,
    ) -> Self {
        let after = after.map(|after| AfterFilter {
            tie: after.tie_rule(split_id, spec.oldest_first),
            after,
        });
        TopHitsCollector {
            spec,
            limit,
            split_ordinal,
            after,
        }
    }
}

/// A heap entry ordered so that the heap's top is the worst kept candidate.
struct Ranked<'a> {
    candidate: Candidate,
    spec: &'a SortSpec,
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked<'_> {}
impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_candidates(self.spec, &self.candidate, &other.candidate)
    }
}

/// Keeps the `limit` best of a stream of candidates.
pub fn keep_best(
    spec: &SortSpec,
    limit: usize,
    candidates: impl IntoIterator<Item = Candidate>,
) -> Vec<Candidate> {
    if limit == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Ranked<'_>> = BinaryHeap::with_capacity(limit + 1);
    for candidate in candidates {
        heap.push(Ranked { candidate, spec });
        if heap.len() > limit {
            heap.pop();
        }
    }
    let mut best: Vec<Candidate> = heap.into_iter().map(|ranked| ranked.candidate).collect();
    best.sort_by(|left, right| compare_candidates(spec, left, right));
    best
}

enum KeyReader {
    Score,
    U64(Column<u64>),
    I64(Column<i64>),
    F64(Column<f64>),
    Datetime(Column<tantivy::DateTime>),
    Bool(Column<bool>),
    /// The column does not exist in this split (no document had the field).
    Missing,
    /// Several columns of one dynamic path: the first that has a value.
    FirstOf(Vec<KeyReader>),
}

impl KeyReader {
    fn value(&self, doc: DocId, score: Score) -> Option<SortValue> {
        match self {
            KeyReader::Score => Some(SortValue::F64(f64::from(score))),
            KeyReader::U64(column) => column.first(doc).map(SortValue::U64),
            KeyReader::I64(column) => column.first(doc).map(SortValue::I64),
            KeyReader::F64(column) => column.first(doc).map(SortValue::F64),
            KeyReader::Datetime(column) => column
                .first(doc)
                .map(|datetime| SortValue::I64(datetime.into_timestamp_nanos())),
            KeyReader::Bool(column) => column.first(doc).map(SortValue::Bool),
            KeyReader::Missing => None,
            KeyReader::FirstOf(readers) => {
                readers.iter().find_map(|reader| reader.value(doc, score))
            }
        }
    }
}

/// The columns a dynamic path has in a segment, read in this order: numbers (a segment holds
/// one numeric column per path), then datetimes, then bools; text and other columns do not
/// sort. A document takes its value from the first column that has one.
fn dynamic_reader(
    fast_fields: &tantivy::fastfield::FastFieldReaders,
    name: &str,
) -> tantivy::Result<KeyReader> {
    let mut ranked: Vec<(u8, KeyReader)> = Vec::new();
    for handle in fast_fields.dynamic_column_handles(name)? {
        ranked.push(match handle.open()? {
            DynamicColumn::I64(column) => (0, KeyReader::I64(column)),
            DynamicColumn::U64(column) => (0, KeyReader::U64(column)),
            DynamicColumn::F64(column) => (0, KeyReader::F64(column)),
            DynamicColumn::DateTime(column) => (1, KeyReader::Datetime(column)),
            DynamicColumn::Bool(column) => (2, KeyReader::Bool(column)),
            _ => continue,
        });
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    let mut readers: Vec<KeyReader> = ranked.into_iter().map(|(_, reader)| reader).collect();
    Ok(match readers.len() {
        0 => KeyReader::Missing,
        1 => readers.pop().expect("one reader"),
        _ => KeyReader::FirstOf(readers),
    })
}

pub struct TopHitsSegmentCollector {
    spec: SortSpec,
    limit: usize,
    split_ordinal: usize,
    segment_ord: SegmentOrdinal,
    readers: Vec<KeyReader>,
    after: Option<AfterFilter>,
    /// Document order only: documents arrive in increasing id order, so the newest `limit`
    /// are simply the last ones (and the oldest the first ones).
    last: std::collections::VecDeque<DocId>,
    kept: Vec<Candidate>,
}

impl Collector for TopHitsCollector {
    type Fruit = Vec<Candidate>;
    type Child = TopHitsSegmentCollector;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let fast_fields = segment.fast_fields();
        let readers = self
            .spec
            .keys
            .iter()
            .map(|(key, _)| {
                Ok(match key {
                    SortKey::Score => KeyReader::Score,
                    SortKey::Field { name, kind } => match kind {
                        SortKind::U64 => fast_fields
                            .column_opt::<u64>(name)?
                            .map_or(KeyReader::Missing, KeyReader::U64),
                        SortKind::I64 => fast_fields
                            .column_opt::<i64>(name)?
                            .map_or(KeyReader::Missing, KeyReader::I64),
                        SortKind::F64 => fast_fields
                            .column_opt::<f64>(name)?
                            .map_or(KeyReader::Missing, KeyReader::F64),
                        SortKind::Datetime => fast_fields
                            .column_opt::<tantivy::DateTime>(name)?
                            .map_or(KeyReader::Missing, KeyReader::Datetime),
                        SortKind::Bool => fast_fields
                            .column_opt::<bool>(name)?
                            .map_or(KeyReader::Missing, KeyReader::Bool),
                        SortKind::Dynamic => dynamic_reader(fast_fields, name)?,
                    },
                })
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(TopHitsSegmentCollector {
            spec: self.spec.clone(),
            limit: self.limit,
            split_ordinal: self.split_ordinal,
            segment_ord,
            readers,
            after: self.after.clone(),
            last: std::collections::VecDeque::with_capacity(self.limit.min(1 << 16)),
            kept: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.spec.requires_scoring()
    }

    fn merge_fruits(&self, segment_fruits: Vec<Vec<Candidate>>) -> tantivy::Result<Vec<Candidate>> {
        Ok(keep_best(
            &self.spec,
            self.limit,
            segment_fruits.into_iter().flatten(),
        ))
    }
}

impl SegmentCollector for TopHitsSegmentCollector {
    type Fruit = Vec<Candidate>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.limit == 0 {
            return;
        }
        if self.readers.is_empty() {
            if let Some(after) = &self.after
                && !after.admits(&self.spec, &[], self.segment_ord, doc)
            {
                return;
            }
            if self.last.len() == self.limit {
                if self.spec.oldest_first {
                    // Documents arrive oldest first: the first `limit` are the page.
                    return;
                }
                self.last.pop_front();
            }
            self.last.push_back(doc);
            return;
        }
        let values: Vec<Option<SortValue>> = self
            .readers
            .iter()
            .map(|reader| reader.value(doc, score))
            .collect();
        if let Some(after) = &self.after
            && !after.admits(&self.spec, &values, self.segment_ord, doc)
        {
            return;
        }
        self.kept.push(Candidate {
            values,
            split_ordinal: self.split_ordinal,
            segment_ord: self.segment_ord,
            doc_id: doc,
        });
        // Trim now and then, so memory stays proportional to `limit`.
        if self.kept.len() >= self.limit.saturating_mul(2).max(1024) {
            let kept = std::mem::take(&mut self.kept);
            self.kept = keep_best(&self.spec, self.limit, kept);
        }
    }

    fn harvest(self) -> Vec<Candidate> {
        if self.readers.is_empty() {
            let (split_ordinal, segment_ord) = (self.split_ordinal, self.segment_ord);
            let mut docs: Vec<DocId> = self.last.into();
            if !self.spec.oldest_first {
                docs.reverse();
            }
            return docs
                .into_iter()
                .map(|doc_id| Candidate {
                    values: Vec::new(),
                    split_ordinal,
                    segment_ord,
                    doc_id,
                })
                .collect();
        }
        keep_best(&self.spec, self.limit, self.kept)
    }
}

/// Merges candidates of all splits into the page `[start_offset, start_offset + max_hits)`.
pub fn final_page(
    spec: &SortSpec,
    candidates: Vec<Candidate>,
    start_offset: usize,
    max_hits: usize,
) -> Vec<Candidate> {
    let best = keep_best(spec, start_offset + max_hits, candidates);
    best.into_iter().skip(start_offset).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(values: Vec<Option<SortValue>>, split_ordinal: usize, doc_id: DocId) -> Candidate {
        Candidate {
            values,
            split_ordinal,
            segment_ord: 0,
            doc_id,
        }
    }

    #[test]
    fn keys_then_newest_first() {
        let spec = SortSpec {
            keys: vec![(
                SortKey::Field {
                    name: "n".into(),
                    kind: SortKind::U64,
                },
                Order::Asc,
            )],
            position_value: false,
            oldest_first: false,
        };
        let candidates = vec![
            candidate(vec![Some(SortValue::U64(5))], 0, 1),
            candidate(vec![None], 0, 2),
            candidate(vec![Some(SortValue::U64(1))], 1, 3),
            candidate(vec![Some(SortValue::U64(5))], 0, 9),
            candidate(vec![Some(SortValue::U64(5))], 1, 10),
        ];
        let page = final_page(&spec, candidates, 0, 10);
        let order: Vec<(usize, DocId)> = page.iter().map(|c| (c.split_ordinal, c.doc_id)).collect();
        assert_eq!(order, [(1, 3), (0, 9), (0, 1), (1, 10), (0, 2)]);
        let second_page = final_page(&spec, page, 2, 2);
        assert_eq!(
            second_page.iter().map(|c| c.doc_id).collect::<Vec<_>>(),
            [1, 10]
        );
    }

    #[test]
    fn two_keys_with_mixed_orders() {
        let key = |name: &str| SortKey::Field {
            name: name.into(),
            kind: SortKind::I64,
        };
        let spec = SortSpec {
            keys: vec![(key("a"), Order::Desc), (key("b"), Order::Asc)],
            position_value: false,
            oldest_first: false,
        };
        let value = |v: i64| Some(SortValue::I64(v));
        let mut candidates = [
            candidate(vec![value(1), value(2)], 0, 0),
            candidate(vec![value(2), value(9)], 0, 1),
            candidate(vec![value(2), value(3)], 0, 2),
            candidate(vec![value(1), value(1)], 0, 3),
        ];
        candidates.sort_by(|l, r| compare_candidates(&spec, l, r));
        assert_eq!(
            candidates.iter().map(|c| c.doc_id).collect::<Vec<_>>(),
            [2, 1, 3, 0]
        );
    }
}
