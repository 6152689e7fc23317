//! Warming a split up before searching it: what the request will read, fetched in as few
//! round trips as the data allows, so that tantivy's synchronous search then runs on memory.
//!
//! A cold split's reads depend on each other: a term's dictionary block gives where its
//! postings are, a column's entry in the column directory gives where its values are. Read
//! one at a time by the search itself, each is a round trip to storage. Warming up reads them
//! level by level instead, everything of one level together:
//!
//! 1. the dictionary blocks of every term, and the column directory entries of every column
//!    the request reads (sort fields, aggregated fields, fields of ranges and `exists`, the
//!    timestamp of a time filter);
//! 2. the postings (and positions, for phrases) of those terms, the columns' values, and the
//!    field norms when hits are scored.
//!
//! Fetches go through the split's fetcher and land in the chunk cache, where the search's
//! reads find them; fetches already in flight for another search are shared. Warming up is an
//! optimization only: whatever it did not foresee (a regular expression's terms, say) the
//! search still reads, one round trip at a time.

use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;

use futures::future::{BoxFuture, try_join_all};
use tantivy::aggregation::agg_req::get_fast_field_names;
use tantivy::columnar::DynamicColumnHandle;
use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::{Searcher, SegmentReader, Term};

use crate::cost::ReadCounter;
use crate::query::QueryAst;
use crate::sort::{SortKey, SortSpec};

/// What a request reads from every split it searches, worked out once per request.
#[derive(Debug, Default)]
pub(crate) struct WarmupPlan {
    /// Terms looked up, with whether their positions are read too.
    terms: Vec<(Term, bool)>,
    /// Fast fields whose columns are read whole.
    columns: BTreeSet<String>,
    /// Fields whose norms are read: those of the terms, when hits are scored.
    fieldnorms: BTreeSet<Field>,
}

impl WarmupPlan {
    /// The plan of a compiled request: its query (as built), the AST it was built from, its
    /// sort and aggregations, and the timestamp field when a time filter applies.
    pub(crate) fn new(
        query: &dyn Query,
        ast: &QueryAst,
        sort: &SortSpec,
        aggregations: Option<&tantivy::aggregation::agg_req::Aggregations>,
        time_filter_field: Option<&str>,
    ) -> Self {
        let mut plan = WarmupPlan::default();
        query.query_terms(&mut |term, with_positions| match plan
            .terms
            .iter_mut()
            .find(|(known, _)| known == term)
        {
            Some((_, positions)) => *positions |= with_positions,
            None => plan.terms.push((term.clone(), with_positions)),
        });
        if sort.requires_scoring() {
            plan.fieldnorms = plan.terms.iter().map(|(term, _)| term.field()).collect();
        }
        for (key, _) in &sort.keys {
            if let SortKey::Field { name, .. } = key {
                plan.columns.insert(name.clone());
            }
        }
        if let Some(aggregations) = aggregations {
            plan.columns.extend(get_fast_field_names(aggregations));
        }
        plan.columns.extend(time_filter_field.map(str::to_string));
        column_fields_of(ast, &mut plan.columns);
        plan
    }

    /// Nothing to warm up: the query reads no term and no column.
    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.columns.is_empty()
    }

    /// Warms `searcher`'s split up, counting each level's reads as one round trip.
    pub(crate) async fn warm_up(
        &self,
        searcher: &Searcher,
        reads: &Arc<ReadCounter>,
    ) -> io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        for segment in searcher.segment_readers() {
            let columns = reads.batch(self.first_level(segment)).await?;
            reads.batch(self.second_level(segment, &columns)).await?;
        }
        Ok(())
    }

    /// Term dictionary blocks and column directory entries; returns the columns found.
    async fn first_level(&self, segment: &SegmentReader) -> io::Result<Vec<DynamicColumnHandle>> {
        // Boxed, so that one `try_join_all` serves every kind of read (each instance of it
        // costs the searcher's package kilobytes).
        let mut reads: Vec<BoxFuture<'_, io::Result<Vec<DynamicColumnHandle>>>> = Vec::new();
        for (term, _) in &self.terms {
            reads.push(Box::pin(async move {
                let inverted_index = segment
                    .inverted_index(term.field())
                    .map_err(io::Error::other)?;
                inverted_index.doc_freq_async(term).await?;
                Ok(Vec::new())
            }));
        }
        let fast_fields = segment.fast_fields();
        for name in &self.columns {
            // A field that is not fast has no column (listing it is an error): its clause
            // reads the term dictionary as the search goes.
            reads.push(Box::pin(async move {
                let mut handles = fast_fields
                    .list_dynamic_column_handles(name)
                    .await
                    .unwrap_or_default();
                // A json field's columns are its paths'.
                handles.extend(
                    fast_fields
                        .list_subpath_dynamic_column_handles(name)
                        .await
                        .unwrap_or_default(),
                );
                Ok(handles)
            }));
        }
        Ok(try_join_all(reads).await?.into_iter().flatten().collect())
    }

    /// Postings (and positions), columns' values, field norms.
    async fn second_level(
        &self,
        segment: &SegmentReader,
        columns: &[DynamicColumnHandle],
    ) -> io::Result<()> {
        let mut reads: Vec<BoxFuture<'_, io::Result<()>>> = Vec::new();
        for (term, with_positions) in &self.terms {
            reads.push(Box::pin(async move {
                let inverted_index = segment
                    .inverted_index(term.field())
                    .map_err(io::Error::other)?;
                inverted_index.warm_postings(term, *with_positions).await?;
                Ok(())
            }));
        }
        for column in columns {
            reads.push(Box::pin(async move {
                column.file_slice().read_bytes_async().await?;
                Ok(())
            }));
        }
        let norms_file = segment.fieldnorms_readers().get_inner_file();
        for field in &self.fieldnorms {
            if let Some(norms) = norms_file.open_read(*field) {
                reads.push(Box::pin(async move {
                    norms.read_bytes_async().await?;
                    Ok(())
                }));
            }
        }
        try_join_all(reads).await?;
        Ok(())
    }
}

/// Fields the query reads columns of: those of ranges and `exists` clauses (a field without
/// a column lists none, and its clause reads the term dictionary as the search goes).
fn column_fields_of(ast: &QueryAst, fields: &mut BTreeSet<String>) {
    match ast {
        QueryAst::Range { field, .. } | QueryAst::Exists { field, .. } if !field.is_empty() => {
            fields.insert(field.clone());
        }
        QueryAst::And(clauses) | QueryAst::Or(clauses) => {
            clauses
                .iter()
                .for_each(|clause| column_fields_of(clause, fields));
        }
        QueryAst::Not(inner) | QueryAst::Lenient(inner) | QueryAst::Filter(inner) => {
            column_fields_of(inner, fields)
        }
        QueryAst::Bool {
            must,
            should,
            must_not,
            ..
        } => {
            for clause in must.iter().chain(should).chain(must_not) {
                column_fields_of(clause, fields);
            }
        }
        _ => {}
    }
}
