//! Relevance over the whole index: BM25 with statistics summed over every split a search
//! reads (documents, tokens per field, documents per query term), so that a document's score
//! does not depend on which split holds it, how splits were merged, or how a search was
//! shared out: Elasticsearch's `dfs_query_then_fetch`, always. Per-split statistics (what
//! tantivy and Quickwit use alone) rank a rare word in a small split above a common one in a
//! large split, and change a document's score when its split merges.
//!
//! A scored search takes two passes over its splits: the first gathers each split's
//! statistics for the query's terms (reading their term dictionary entries, which the second
//! pass then finds cached), the second searches with the totals. Leaves in other invocations
//! answer the first pass with `statistics_only` requests.
//!
//! ```
//! use hydrant_search::searcher::Bm25Totals;
//!
//! let mut totals = Bm25Totals::default();
//! let split = Bm25Totals { num_docs: 10, ..Bm25Totals::default() };
//! totals.add(&split);
//! totals.add(&split);
//! assert_eq!(totals.num_docs, 20);
//! ```

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::hash::{Hash, Hasher};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{Bm25StatisticsProvider, Query};
use tantivy::schema::{Field, Schema};
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader, Term};

/// BM25 statistics of a set of splits for one query's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bm25Totals {
    /// Documents in the splits.
    pub num_docs: u64,
    /// Tokens indexed in each field the query has terms in, by field name: splits of
    /// different doc mappings (an index updated) number their fields differently.
    pub field_tokens: BTreeMap<String, u64>,
    /// Documents holding each query term, by its field name and value bytes (`body:cmVk`).
    pub doc_freqs: BTreeMap<String, u64>,
}

impl Bm25Totals {
    /// The statistics of one open split for `query`'s terms (reads their dictionary entries).
    pub(crate) fn of_split(searcher: &Searcher, query: &dyn Query) -> tantivy::Result<Self> {
        let mut terms: Vec<Term> = Vec::new();
        query.query_terms(&mut |term, _| terms.push(term.clone()));
        let mut totals = Bm25Totals {
            num_docs: searcher.num_docs(),
            ..Bm25Totals::default()
        };
        let schema = searcher.schema();
        for term in &terms {
            let field = term.field();
            let name = schema.get_field_name(field);
            if let Entry::Vacant(entry) = totals.field_tokens.entry(name.to_string()) {
                entry.insert(Bm25StatisticsProvider::total_num_tokens(searcher, field)?);
            }
            if let Entry::Vacant(entry) = totals.doc_freqs.entry(term_key(schema, term)) {
                entry.insert(searcher.doc_freq(term)?);
            }
        }
        Ok(totals)
    }

    /// Adds another set of splits' statistics.
    pub fn add(&mut self, other: &Bm25Totals) {
        self.num_docs += other.num_docs;
        for (field, tokens) in &other.field_tokens {
            *self.field_tokens.entry(field.clone()).or_default() += tokens;
        }
        for (term, doc_freq) in &other.doc_freqs {
            *self.doc_freqs.entry(term.clone()).or_default() += doc_freq;
        }
    }

    /// Tells these totals apart in a per-split cache key: a split's scores change with them.
    pub(crate) fn digest(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }
}

/// A term as a map key: its field's name and its value bytes (a field's terms share one
/// type, and keep it across updates of the mapping).
fn term_key(schema: &Schema, term: &Term) -> String {
    format!(
        "{}:{}",
        schema.get_field_name(term.field()),
        BASE64.encode(term.serialized_value_bytes())
    )
}

/// The better of two best scores.
pub(crate) fn max_score(left: Option<f32>, right: Option<f32>) -> Option<f32> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.max(right)),
        (left, right) => left.or(right),
    }
}

/// Collects the best score of the documents a query matches (Elasticsearch's `max_score`,
/// over every match, not only the page).
pub(crate) struct MaxScore;

pub(crate) struct SegmentMaxScore(Option<Score>);

impl Collector for MaxScore {
    type Fruit = Option<Score>;
    type Child = SegmentMaxScore;

    fn for_segment(&self, _: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<Self::Child> {
        Ok(SegmentMaxScore(None))
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Option<Score>>) -> tantivy::Result<Option<Score>> {
        Ok(fruits.into_iter().fold(None, max_score))
    }
}

impl SegmentCollector for SegmentMaxScore {
    type Fruit = Option<Score>;

    fn collect(&mut self, _: DocId, score: Score) {
        self.0 = max_score(self.0, Some(score));
    }

    fn harvest(self) -> Option<Score> {
        self.0
    }
}

impl Bm25Totals {
    /// These totals as the statistics of a split with `schema`, whose field ids they are
    /// looked up by.
    pub(crate) fn for_schema<'a>(&'a self, schema: &'a Schema) -> SchemaBm25<'a> {
        SchemaBm25 {
            totals: self,
            schema,
        }
    }
}

/// [`Bm25Totals`] seen through one split's schema.
pub(crate) struct SchemaBm25<'a> {
    totals: &'a Bm25Totals,
    schema: &'a Schema,
}

impl Bm25StatisticsProvider for SchemaBm25<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let name = self.schema.get_field_name(field);
        Ok(self.totals.field_tokens.get(name).copied().unwrap_or(0))
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.totals.num_docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let key = term_key(self.schema, term);
        Ok(self.totals.doc_freqs.get(&key).copied().unwrap_or(0))
    }
}
