//! Fetching, the root's last step: only the page's documents are read, split by split, and
//! rendered to JSON (with snippets when asked). Plain hits depend only on the document, so
//! they are cached across requests; snippets depend on the query and are not.

use std::collections::BTreeMap;
use std::sync::Arc;

use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::split_bundle::ByteRangeFetcher;
use hydrant_metastore::{SplitState, paths};
use serde_json::{Map, Value};
use tantivy::query::Query;
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Searcher, TantivyDocument};

use super::SearchService;
use super::plan::{CompiledRequest, LeafSplit};
use crate::cache::DocKey;
use crate::cost::ReadCounter;
use crate::error::{Result, SearchError};
use crate::fetcher::probe_ranges;
use crate::searcher::SearchParams;
use crate::sort::{Candidate, DocPosition};

impl SearchService {
    /// The document a hit's `_id` names (`split:segment:doc`) in `index_id`: `None` if the
    /// id is not one, or its split is no longer published (merged, deleted), or holds no
    /// such address. Elasticsearch's `GET {index}/_doc/{id}`.
    pub async fn get_document(&self, index_id: &str, id: &str) -> Result<Option<Value>> {
        let metadata = self.metastores.get(index_id).await?;
        let Some(position) = DocPosition::from_id(id) else {
            return Ok(None);
        };
        let Some(split) = metadata
            .splits
            .get(&position.split_id)
            .filter(|split| split.state == SplitState::Published)
        else {
            return Ok(None);
        };
        let params = SearchParams::match_all(0);
        let split = LeafSplit::new(0, split);
        let compiled =
            CompiledRequest::compile(index_id, self.doc_mappers.get(&metadata)?, &params)?
                .with_older_mappings(
                    &metadata,
                    &self.doc_mappers,
                    &params,
                    std::slice::from_ref(&split),
                )?;
        let compiled = compiled.for_split(&split);
        let reads = Arc::new(ReadCounter::default());
        let searcher = (self.open_split(compiled, &split, &reads).await).map_err(|error| {
            SearchError::Internal(format!("cannot open a split: {}", error.details))
        })?;
        // An address past the split's documents (an id made up, or of another split) is none.
        let in_split = (searcher.segment_readers())
            .get(position.segment_ord as usize)
            .is_some_and(|segment| position.doc_id < segment.max_doc());
        if !in_split {
            return Ok(None);
        }
        let candidate = Candidate {
            values: Vec::new(),
            split_ordinal: 0,
            segment_ord: position.segment_ord,
            doc_id: position.doc_id,
        };
        let (hits, _) = self
            .fetch_hits(compiled, &[split], &[candidate], &[], &reads)
            .await?;
        Ok(hits.into_iter().next())
    }

    /// Fetches and renders the page's documents, split by split, in page order.
    pub(crate) async fn fetch_hits(
        &self,
        compiled: &CompiledRequest,
        splits: &[LeafSplit],
        page: &[Candidate],
        snippet_fields: &[String],
        reads: &Arc<ReadCounter>,
    ) -> Result<(Vec<Value>, Option<Vec<Value>>)> {
        let mut by_split: BTreeMap<usize, Vec<(usize, &Candidate)>> = BTreeMap::new();
        for (position, candidate) in page.iter().enumerate() {
            by_split
                .entry(candidate.split_ordinal)
                .or_default()
                .push((position, candidate));
        }
        let mut hits = vec![Value::Null; page.len()];
        let mut snippets = vec![Value::Null; page.len()];
        // Snippets depend on the query; plain hits only on the document, so they are cached.
        let use_doc_cache = snippet_fields.is_empty();
        let doc_key = |split: &LeafSplit, candidate: &Candidate| DocKey {
            split_id: split.split_id.clone(),
            segment_ord: candidate.segment_ord,
            doc_id: candidate.doc_id,
        };
        // Each split's share is rendered at the same time as the others': a cold page is one
        // round trip, not one per split.
        let mut renders = Vec::new();
        for (ordinal, mut candidates) in by_split {
            // A leaf answer from elsewhere could name any ordinal: only planned splits count.
            let split = splits.get(ordinal).ok_or_else(|| {
                SearchError::Internal(format!("a hit names split {ordinal}, which is not planned"))
            })?;
            if use_doc_cache {
                candidates.retain(|(position, candidate)| {
                    match self.docs.get(&doc_key(split, candidate)) {
                        Some(hit) => {
                            hits[*position] = (*hit).clone();
                            false
                        }
                        None => true,
                    }
                });
                if candidates.is_empty() {
                    continue;
                }
            }
            let addresses: Vec<(usize, DocAddress)> = candidates
                .iter()
                .map(|(position, candidate)| {
                    let address = DocAddress::new(candidate.segment_ord, candidate.doc_id);
                    (*position, address)
                })
                .collect();
            let split_reads = reads.for_split();
            renders.push(async move {
                let rendered = self
                    .render_split_hits(compiled, split, addresses, snippet_fields, &split_reads)
                    .await?;
                Ok::<_, SearchError>((split, rendered))
            });
        }
        for (split, rendered) in futures::future::try_join_all(renders).await? {
            for (position, hit, snippet) in rendered {
                if use_doc_cache {
                    let key = doc_key(split, &page[position]);
                    self.docs.insert(key, Arc::new(hit.clone()));
                }
                hits[position] = hit;
                snippets[position] = snippet;
            }
        }
        Ok((hits, (!snippet_fields.is_empty()).then_some(snippets)))
    }

    /// Renders one split's share of the page on a blocking thread, the split opened again
    /// if the open-split cache let it go since the leaf search.
    async fn render_split_hits(
        &self,
        compiled: &CompiledRequest,
        split: &LeafSplit,
        addresses: Vec<(usize, DocAddress)>,
        snippet_fields: &[String],
        reads: &Arc<ReadCounter>,
    ) -> Result<Vec<(usize, Value, Value)>> {
        // Rendered with the mapping the split was built with: its schema's field ids.
        let compiled = compiled.for_split(split);
        let searcher = self
            .open_split(compiled, split, reads)
            .await
            .map_err(|error| {
                SearchError::Internal(format!("cannot reopen a split: {}", error.details))
            })?;
        self.prefetch_doc_blocks(compiled, split, &searcher, &addresses, reads)
            .await?;
        // Rendering leaves a decompressed block in the split's doc store: count it.
        let block_bytes = compiled.doc_mapper.index_settings().docstore_blocksize as u64;
        self.searchers.holds_doc_block(&split.split_id, block_bytes);
        let doc_mapper = compiled.doc_mapper.clone();
        let query = compiled.query.clone();
        let snippet_fields = snippet_fields.to_vec();
        let reads = reads.clone();
        tokio::task::spawn_blocking(move || {
            reads.count(|| {
                render_hits(
                    &searcher,
                    &doc_mapper,
                    query.as_ref(),
                    addresses,
                    &snippet_fields,
                )
            })
        })
        .await
        .map_err(|error| SearchError::Internal(format!("hit fetching task failed: {error}")))?
    }
}

impl SearchService {
    /// Fetches the doc store blocks of `addresses` together, one round trip however many
    /// blocks they are in: a dry run of the reads finds their ranges without reading them.
    async fn prefetch_doc_blocks(
        &self,
        compiled: &CompiledRequest,
        split: &LeafSplit,
        searcher: &Searcher,
        addresses: &[(usize, DocAddress)],
        reads: &Arc<ReadCounter>,
    ) -> Result<()> {
        let local_copy = self
            .split_cache
            .as_ref()
            .is_some_and(|cache| cache.contains(&split.split_id));
        if local_copy {
            return Ok(());
        }
        let probing = searcher.clone();
        let probed: Vec<DocAddress> = addresses.iter().map(|(_, address)| *address).collect();
        let ranges = tokio::task::spawn_blocking(move || {
            probe_ranges(|| {
                for address in probed {
                    // Fails on every block not cached, which is the point: its range is kept.
                    let _ = probing.doc::<TantivyDocument>(address);
                }
            })
        })
        .await
        .map_err(|error| SearchError::Internal(format!("hit probing task failed: {error}")))?;
        if ranges.is_empty() {
            return Ok(());
        }
        let path = paths::split_file(&compiled.index_id, &split.split_id);
        let fetcher = self.chunk_fetcher(split, &path);
        let blocks: Vec<futures::future::BoxFuture<'_, std::io::Result<()>>> = ranges
            .into_iter()
            .map(|range| {
                let block = fetcher.fetch_async(range);
                Box::pin(async move { block.await.map(drop) }) as _
            })
            .collect();
        reads
            .batch(futures::future::try_join_all(blocks))
            .await
            .map_err(|error| SearchError::Internal(format!("cannot fetch hits: {error}")))?;
        Ok(())
    }
}

/// Documents and snippets of one split's share of the page.
fn render_hits(
    searcher: &Searcher,
    doc_mapper: &DocMapper,
    query: &dyn Query,
    mut addresses: Vec<(usize, DocAddress)>,
    snippet_fields: &[String],
) -> Result<Vec<(usize, Value, Value)>> {
    // In document order: hits in one doc store block follow each other, and the block is
    // read and decompressed once (the store keeps the last block).
    addresses.sort_by_key(|(_, address)| *address);
    let schema = searcher.schema();
    let mut generators = Vec::new();
    for name in snippet_fields {
        // Checked against the index's mapping when planned: a field this split's schema lacks
        // (it was added since the split was built) has nothing to show here.
        let Ok(field) = schema.get_field(name) else {
            generators.push((name.clone(), None));
            continue;
        };
        let generator = SnippetGenerator::create(searcher, query, field).map_err(|error| {
            SearchError::InvalidRequest(format!("snippet_fields: `{name}`: {error}"))
        })?;
        generators.push((name.clone(), Some(generator)));
    }
    addresses
        .into_iter()
        .map(|(position, address)| {
            let doc: TantivyDocument = searcher
                .doc(address)
                .map_err(|error| SearchError::Internal(format!("cannot fetch a hit: {error}")))?;
            let mut snippet = Map::new();
            for (name, generator) in &generators {
                let fragment = generator
                    .as_ref()
                    .map(|generator| generator.snippet_from_doc(&doc));
                let fragments = match fragment {
                    Some(fragment) if !fragment.is_empty() => {
                        vec![Value::String(fragment.to_html())]
                    }
                    _ => Vec::new(),
                };
                snippet.insert(name.clone(), Value::Array(fragments));
            }
            Ok((
                position,
                Value::Object(doc_mapper.doc_to_json(&doc)),
                Value::Object(snippet),
            ))
        })
        .collect()
}
