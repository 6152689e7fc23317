//! Hit ordering: up to two sort keys (fast fields or `_score`), then document order.
//!
//! Without `sort_by`, hits come in document order, newest first: splits are compared by id
//! (ids are time-ordered UUIDv7s, so a later split holds later data) and, within a split, by
//! descending document id (the order documents were indexed in). That order needs no fast
//! field read, so a cold search touches only the term dictionary, postings and doc store.
//!
//! [`TopHitsCollector`] keeps the best `limit` documents of each split by these keys;
//! [`compare_candidates`] orders candidates of all splits the same way for the final page.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use hydrant_metastore::doc_mapper::{DocMapper, FieldKind};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
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
}

/// Sort keys with their orders; empty means document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SortSpec {
    pub keys: Vec<(SortKey, Order)>,
}

impl SortSpec {
    /// Parses `sort_by` (`field`, `-field`, `+field`, `_score`, `-_score`) against a mapping.
    /// `_score` alone sorts by descending relevance.
    pub fn parse(sort_by: &[String], doc_mapper: &DocMapper) -> Result<Self> {
        if sort_by.len() > MAX_SORT_KEYS {
            return Err(SearchError::InvalidRequest(format!(
                "sort_by takes at most {MAX_SORT_KEYS} fields, got {}",
                sort_by.len()
            )));
        }
        let mut keys = Vec::with_capacity(sort_by.len());
        for spec in sort_by {
            let (name, order) = match spec.strip_prefix('-') {
                Some(name) => (name, Order::Desc),
                None => (spec.strip_prefix('+').unwrap_or(spec), Order::Asc),
            };
            if name == "_score" {
                // Relevance reads naturally as "best first" whatever the sign.
                keys.push((SortKey::Score, Order::Desc));
                continue;
            }
            let field = doc_mapper
                .fields()
                .iter()
                .find(|field| field.path == name)
                .ok_or_else(|| {
                    SearchError::InvalidRequest(format!("sort_by: unknown field `{name}`"))
                })?;
            if !field.kind.is_fast() {
                return Err(SearchError::InvalidRequest(format!(
                    "sort_by: field `{name}` must be fast (fast: true)"
                )));
            }
            let kind = match field.kind {
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
            };
            keys.push((
                SortKey::Field {
                    name: name.to_string(),
                    kind,
                },
                order,
            ));
        }
        Ok(SortSpec { keys })
    }

    pub fn requires_scoring(&self) -> bool {
        self.keys.iter().any(|(key, _)| *key == SortKey::Score)
    }
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
}

#[derive(serde::Serialize, serde::Deserialize)]
enum SortValueRepr {
    U64(u64),
    I64(i64),
    F64Bits(u64),
}

impl From<SortValue> for SortValueRepr {
    fn from(value: SortValue) -> Self {
        match value {
            SortValue::U64(value) => SortValueRepr::U64(value),
            SortValue::I64(value) => SortValueRepr::I64(value),
            SortValue::F64(value) => SortValueRepr::F64Bits(value.to_bits()),
        }
    }
}

impl From<SortValueRepr> for SortValue {
    fn from(value: SortValueRepr) -> Self {
        match value {
            SortValueRepr::U64(value) => SortValue::U64(value),
            SortValueRepr::I64(value) => SortValue::I64(value),
            SortValueRepr::F64Bits(bits) => SortValue::F64(f64::from_bits(bits)),
        }
    }
}

impl SortValue {
    fn compare(&self, other: &SortValue) -> Ordering {
        match (self, other) {
            (SortValue::U64(left), SortValue::U64(right)) => left.cmp(right),
            (SortValue::I64(left), SortValue::I64(right)) => left.cmp(right),
            (SortValue::F64(left), SortValue::F64(right)) => left.total_cmp(right),
            _ => Ordering::Equal,
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
    left.split_ordinal
        .cmp(&right.split_ordinal)
        .then(right.segment_ord.cmp(&left.segment_ord))
        .then(right.doc_id.cmp(&left.doc_id))
}

/// Collects the best `limit` documents of one split by a [`SortSpec`].
pub struct TopHitsCollector {
    pub spec: SortSpec,
    pub limit: usize,
    pub split_ordinal: usize,
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
            KeyReader::Bool(column) => column
                .first(doc)
                .map(|flag| SortValue::U64(u64::from(flag))),
            KeyReader::Missing => None,
        }
    }
}

pub struct TopHitsSegmentCollector {
    spec: SortSpec,
    limit: usize,
    split_ordinal: usize,
    segment_ord: SegmentOrdinal,
    readers: Vec<KeyReader>,
    /// Document order only: documents arrive in increasing id order, so the newest `limit`
    /// are simply the last ones.
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
            if self.last.len() == self.limit {
                self.last.pop_front();
            }
            self.last.push_back(doc);
            return;
        }
        self.kept.push(Candidate {
            values: self
                .readers
                .iter()
                .map(|reader| reader.value(doc, score))
                .collect(),
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
            return self
                .last
                .into_iter()
                .rev()
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
