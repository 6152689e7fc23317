//! Export: a fast field's value for every document a query matches (Quickwit's
//! `GET /api/v1/{index}/search/stream`), as CSV lines or ClickHouse `RowBinary`, optionally in
//! chunks by the value of a second fast field.
//!
//! A Lambda answer is at most 6 MB (and API Gateway carries binary bodies base64-encoded), so
//! an export is bounded ([`MAX_STREAM_BYTES`] by default): past it the request fails with a
//! 413 that says how many values matched, rather than a truncated answer that looks complete.
//! Memory is bounded the same way: the splits read at once share one budget of values.
//!
//! ```
//! use hydrant_search::searcher::{StreamFormat, StreamRequest};
//!
//! let request = StreamRequest::from_query_string("query=*&fast_field=id&output_format=csv").unwrap();
//! assert_eq!(request.fast_field, "id");
//! assert_eq!(request.output_format, StreamFormat::Csv);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use futures::StreamExt as _;
use hydrant_index::doc_mapper::{DocMapper, FieldKind};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::SearchService;
use super::params::SearchParams;
use super::plan::CompiledRequest;
use super::plan::LeafSplit;
use crate::cost::ReadCounter;
use crate::error::{Result, SearchError};
use crate::query::parse_query;

/// Largest export body by default ([`super::SearcherConfig::max_stream_bytes`]): base64 (API
/// Gateway's encoding of binary bodies) of it still fits a Lambda response.
pub const MAX_STREAM_BYTES: usize = 4 * 1024 * 1024;

/// How the values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// One value per line.
    Csv,
    /// ClickHouse `RowBinary`: each value as 8 bytes, little-endian.
    ClickHouseRowBinary,
}

/// An export request.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRequest {
    pub query: String,
    /// A fast `u64` or `i64` field: its value for every match is exported.
    pub fast_field: String,
    /// Fields searched by clauses that name no field, instead of the index's defaults.
    pub search_field: Vec<String>,
    pub start_timestamp: Option<i64>,
    pub end_timestamp: Option<i64>,
    /// A fast `u64` or `i64` field: values are grouped in chunks by its value, each chunk
    /// `[partition value: 8 bytes][length: 8 bytes][values]` (little-endian) in `RowBinary`,
    /// or `partition,value` lines in CSV.
    pub partition_by_field: Option<String>,
    pub output_format: StreamFormat,
}

impl StreamRequest {
    /// Reads the GET parameters; unknown ones are refused.
    pub fn from_query_string(query_string: &str) -> Result<Self> {
        let mut request = StreamRequest {
            query: String::new(),
            fast_field: String::new(),
            search_field: Vec::new(),
            start_timestamp: None,
            end_timestamp: None,
            partition_by_field: None,
            output_format: StreamFormat::Csv,
        };
        let invalid = |message: String| SearchError::InvalidRequest(message);
        let timestamp = |key: &str, value: &str| {
            value.parse::<i64>().map_err(|_| {
                invalid(format!(
                    "`{key}` must be an integer number of seconds, got `{value}`"
                ))
            })
        };
        let mut has_query = false;
        for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
            match key.as_ref() {
                "query" => {
                    request.query = value.into_owned();
                    has_query = true;
                }
                "fast_field" => request.fast_field = value.into_owned(),
                "search_field" => {
                    request.search_field = value.split(',').map(str::to_string).collect();
                }
                "start_timestamp" => request.start_timestamp = Some(timestamp(&key, &value)?),
                "end_timestamp" => request.end_timestamp = Some(timestamp(&key, &value)?),
                "partition_by_field" => request.partition_by_field = Some(value.into_owned()),
                "output_format" => {
                    request.output_format = match value.as_ref() {
                        "csv" => StreamFormat::Csv,
                        "clickHouseRowBinary" | "click_house_row_binary" => {
                            StreamFormat::ClickHouseRowBinary
                        }
                        other => {
                            return Err(invalid(format!(
                                "output_format: `{other}` is neither csv nor clickHouseRowBinary"
                            )));
                        }
                    }
                }
                other => {
                    return Err(invalid(format!(
                        "unknown parameter `{other}` (search/stream takes query, fast_field, \
                         search_field, start_timestamp, end_timestamp, partition_by_field and \
                         output_format)"
                    )));
                }
            }
        }
        if !has_query {
            return Err(invalid("search/stream needs `query`".to_string()));
        }
        if request.fast_field.is_empty() {
            return Err(invalid("search/stream needs `fast_field`".to_string()));
        }
        Ok(request)
    }
}

/// A column's values as one signed or unsigned type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ValueType {
    U64,
    I64,
}

/// `name` must be a fast u64 or i64 field.
fn value_type(doc_mapper: &DocMapper, parameter: &str, name: &str) -> Result<ValueType> {
    let field = doc_mapper
        .fields()
        .iter()
        .find(|field| field.path == name)
        .ok_or_else(|| {
            SearchError::InvalidRequest(format!("{parameter}: unknown field `{name}`"))
        })?;
    match field.kind {
        FieldKind::U64 { fast: true, .. } => Ok(ValueType::U64),
        FieldKind::I64 { fast: true, .. } => Ok(ValueType::I64),
        _ => Err(SearchError::InvalidRequest(format!(
            "{parameter}: `{name}` must be a fast u64 or i64 field"
        ))),
    }
}

/// Values of one split, as raw 64-bit words (i64 values bit-cast) after their partitions;
/// `num_values` counts them all, kept or not.
#[derive(Default)]
struct SplitValues {
    values: Vec<(u64, u64)>,
    num_values: usize,
}

/// How many values an export may still keep, shared by every split it reads at once: past
/// the bound the export fails anyway, so what is kept beyond it would only cost memory.
#[derive(Clone)]
struct Budget {
    kept: Arc<AtomicUsize>,
    max_values: usize,
}

impl Budget {
    fn push(&self, values: &mut SplitValues, partition: u64, word: u64) {
        values.num_values += 1;
        if self.kept.fetch_add(1, AtomicOrdering::Relaxed) <= self.max_values {
            values.values.push((partition, word));
        }
    }
}

/// The columns an export reads (the value's, and the partition's if asked), and its budget.
#[derive(Clone)]
struct Columns {
    value: (String, ValueType),
    partition: Option<(String, ValueType)>,
    budget: Budget,
}

impl SearchService {
    /// The export of `request` over `index_id`: the body, in the format asked.
    pub async fn search_stream(&self, index_id: &str, request: &StreamRequest) -> Result<Vec<u8>> {
        let mut search = SearchParams::match_all(0);
        search.query = parse_query(&request.query)?;
        search.default_fields = request.search_field.clone();
        search.start_timestamp = request.start_timestamp;
        search.end_timestamp = request.end_timestamp;
        let plan = self.plan(index_id, &search).await?;
        let compiled = &plan.compiled;
        let doc_mapper = &compiled.doc_mapper;
        let value = value_type(doc_mapper, "fast_field", &request.fast_field)?;
        let partition = match &request.partition_by_field {
            Some(name) => Some((
                name.clone(),
                value_type(doc_mapper, "partition_by_field", name)?,
            )),
            None => None,
        };
        // Each value takes 8 bytes in RowBinary and at least 2 in CSV: past this many words,
        // the body would be too large; the collectors keep no more than that.
        let max_values = self.max_stream_bytes / 8;
        let budget = Budget {
            kept: Arc::new(AtomicUsize::new(0)),
            max_values,
        };
        let reads = Arc::new(ReadCounter::default());
        let reads: Vec<_> = plan
            .splits()
            .iter()
            .map(|split| {
                let columns = Columns {
                    value: (request.fast_field.clone(), value),
                    partition: partition.clone(),
                    budget: budget.clone(),
                };
                self.split_values(compiled.for_split(split), split, columns, &reads)
            })
            .collect();
        let answers: Vec<Result<SplitValues>> = futures::stream::iter(reads)
            .buffered(self.split_concurrency)
            .collect()
            .await;
        let mut values: Vec<(u64, u64)> = Vec::new();
        let mut num_values = 0usize;
        for answer in answers {
            let split = answer?;
            num_values = num_values.saturating_add(split.num_values);
            values.extend(split.values);
        }
        if num_values > max_values {
            return Err(too_large(num_values, self.max_stream_bytes));
        }
        let body = encode(
            values,
            value,
            partition.map(|(_, kind)| kind),
            request.output_format,
        );
        if body.len() > self.max_stream_bytes {
            return Err(too_large(num_values, self.max_stream_bytes));
        }
        Ok(body)
    }

    async fn split_values(
        &self,
        compiled: &CompiledRequest,
        split: &LeafSplit,
        columns: Columns,
        reads: &Arc<ReadCounter>,
    ) -> Result<SplitValues> {
        let searcher = self
            .open_split(compiled, split, reads)
            .await
            .map_err(|error| {
                SearchError::StorageUnavailable(format!(
                    "split {}: {}",
                    split.split_id, error.details
                ))
            })?;
        let query = compiled.query.clone();
        let collector = ValuesCollector { columns };
        let reads = reads.clone();
        tokio::task::spawn_blocking(move || {
            reads.count(|| searcher.search(query.as_ref(), &collector))
        })
        .await
        .map_err(|error| SearchError::Internal(format!("export task failed: {error}")))?
        .map_err(|error| SearchError::Internal(error.to_string()))
    }
}

fn too_large(num_values: usize, max_bytes: usize) -> SearchError {
    SearchError::ResponseTooLarge(format!(
        "the export holds {num_values} values, more than the {max_bytes} bytes a response \
         can carry; narrow the query or the time range (start_timestamp, \
         end_timestamp) and export in parts"
    ))
}

/// The values, partitioned if asked, in the output format.
fn encode(
    mut values: Vec<(u64, u64)>,
    value: ValueType,
    partition: Option<ValueType>,
    format: StreamFormat,
) -> Vec<u8> {
    let text = |word: u64, kind: ValueType| match kind {
        ValueType::U64 => word.to_string(),
        ValueType::I64 => (word as i64).to_string(),
    };
    let mut body = Vec::with_capacity(values.len() * 8);
    let Some(partition_kind) = partition else {
        for (_, word) in values {
            match format {
                StreamFormat::Csv => {
                    body.extend(text(word, value).as_bytes());
                    body.push(b'\n');
                }
                StreamFormat::ClickHouseRowBinary => body.extend(word.to_le_bytes()),
            }
        }
        return body;
    };
    // Stable: each partition keeps the order its values were found in.
    values.sort_by_key(|(partition, _)| *partition);
    let mut chunks: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (partition, word) in values {
        chunks.entry(partition).or_default().push(word);
    }
    for (partition, words) in chunks {
        match format {
            StreamFormat::Csv => {
                let partition = text(partition, partition_kind);
                for word in words {
                    body.extend(format!("{partition},{}\n", text(word, value)).as_bytes());
                }
            }
            StreamFormat::ClickHouseRowBinary => {
                body.extend(partition.to_le_bytes());
                body.extend(((words.len() * 8) as u64).to_le_bytes());
                for word in words {
                    body.extend(word.to_le_bytes());
                }
            }
        }
    }
    body
}

/// Collects every matching document's values of a fast column (and of the partition column),
/// in document order.
struct ValuesCollector {
    columns: Columns,
}

/// A fast column of either integer type, read as 64-bit words (i64 bit-cast).
enum WordColumn {
    U64(Column<u64>),
    I64(Column<i64>),
}

impl WordColumn {
    fn open(segment: &SegmentReader, (name, kind): &(String, ValueType)) -> tantivy::Result<Self> {
        let fast_fields = segment.fast_fields();
        Ok(match kind {
            ValueType::U64 => WordColumn::U64(fast_fields.u64(name)?),
            ValueType::I64 => WordColumn::I64(fast_fields.i64(name)?),
        })
    }

    fn first(&self, doc: DocId) -> Option<u64> {
        match self {
            WordColumn::U64(column) => column.first(doc),
            WordColumn::I64(column) => column.first(doc).map(|value| value as u64),
        }
    }

    fn each(&self, doc: DocId, mut visit: impl FnMut(u64)) {
        match self {
            WordColumn::U64(column) => column.values_for_doc(doc).for_each(visit),
            WordColumn::I64(column) => column
                .values_for_doc(doc)
                .for_each(|value| visit(value as u64)),
        }
    }
}

struct ValuesSegmentCollector {
    column: WordColumn,
    partition: Option<WordColumn>,
    budget: Budget,
    values: SplitValues,
}

impl Collector for ValuesCollector {
    type Fruit = SplitValues;
    type Child = ValuesSegmentCollector;

    fn for_segment(
        &self,
        _segment_ordinal: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<ValuesSegmentCollector> {
        Ok(ValuesSegmentCollector {
            column: WordColumn::open(segment, &self.columns.value)?,
            partition: self
                .columns
                .partition
                .as_ref()
                .map(|partition| WordColumn::open(segment, partition))
                .transpose()?,
            budget: self.columns.budget.clone(),
            values: SplitValues::default(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<SplitValues>) -> tantivy::Result<SplitValues> {
        let mut merged = SplitValues::default();
        for fruit in fruits {
            merged.num_values += fruit.num_values;
            merged.values.extend(fruit.values);
        }
        Ok(merged)
    }
}

impl SegmentCollector for ValuesSegmentCollector {
    type Fruit = SplitValues;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let partition = self
            .partition
            .as_ref()
            .and_then(|column| column.first(doc))
            .unwrap_or(0);
        let (values, budget) = (&mut self.values, &self.budget);
        self.column
            .each(doc, |word| budget.push(values, partition, word));
    }

    fn harvest(self) -> SplitValues {
        self.values
    }
}
