//! Builds one split: tantivy documents in, a finished split bundle on local disk out.
//!
//! Documents are indexed in the calling thread, straight into one segment
//! (`SingleSegmentIndexWriter`), in a temporary directory (Lambda's `/tmp`), then bundled next
//! to it: one segment per split keeps searches to one term dictionary lookup per term. The
//! caller is already a thread of its own (it decompresses and parses too), and handing each
//! document to tantivy's indexing thread cost more than it saved: about 15% of the CPU time of
//! a run went to the hand-off and to the caller spinning on a full channel (BENCHMARKS.md,
//! issue 24). Past the writer's heap, the segment is finished as a chunk and another begun;
//! the chunks are merged into one segment when the split finishes, so memory stays bounded
//! whatever the size of an object. Nothing here touches remote storage.

use std::path::{Path, PathBuf};

use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::split_bundle::write_split_bundle;
use hydrant_metastore::paths;
use hydrant_metastore::split::{SplitMetadata, SplitState, SplitTags, TimeRange};
use hydrant_storage::{PutPayload, SharedStorage, recognise};
use tantivy::directory::MmapDirectory;
use tantivy::schema::Schema;
use tantivy::schema::{Field, Value as _};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{Index, IndexSettings, SingleSegmentIndexWriter, TantivyDocument};

use hydrant_storage::scratch::scratch_prefix;

use crate::error::{IngestError, Result};

/// tantivy refuses writer heaps below this.
const MIN_HEAP_BYTES: usize = 15_000_000;

/// A split being built.
pub struct SplitBuilder {
    split_id: String,
    temp_dir: tempfile::TempDir,
    /// What every chunk's index is created with.
    chunk_spec: ChunkSpec,
    heap_bytes: usize,
    /// The segment being written.
    writer: SingleSegmentIndexWriter<TantivyDocument>,
    /// Segments finished when the writer's heap was full, merged with the last one at the end.
    chunks: Vec<Index>,
    num_docs: u64,
    uncompressed_docs_size_bytes: u64,
    time_range: Option<TimeRange>,
    /// The doc mapping's tag fields (path, field), and the values seen in them.
    tag_fields: Vec<(String, Field)>,
    tags: SplitTags,
    doc_mapping_uid: String,
    partition_id: u64,
}

/// What a chunk's index is created with: the doc mapping's schema, settings and tokenizers.
#[derive(Clone)]
struct ChunkSpec {
    schema: Schema,
    settings: IndexSettings,
    tokenizers: TokenizerManager,
    fast_field_tokenizers: TokenizerManager,
}

impl ChunkSpec {
    /// A writer of one segment in a new directory `dir`.
    fn writer(
        &self,
        dir: &Path,
        heap_bytes: usize,
    ) -> Result<SingleSegmentIndexWriter<TantivyDocument>> {
        std::fs::create_dir(dir).map_err(|error| IngestError::Io {
            context: format!("cannot create {}", dir.display()),
            source: error,
        })?;
        let directory =
            MmapDirectory::open(dir).map_err(|error| IngestError::Tantivy(error.into()))?;
        Index::builder()
            .schema(self.schema.clone())
            .settings(self.settings.clone())
            .tokenizers(self.tokenizers.clone())
            .fast_field_tokenizers(self.fast_field_tokenizers.clone())
            .single_segment_index_writer(directory, heap_bytes)
            .map_err(IngestError::Tantivy)
    }
}

/// A finished split: its bundle on local disk and its metadata (state `Staged`).
pub struct BuiltSplit {
    pub metadata: SplitMetadata,
    pub bundle_path: PathBuf,
    /// Holds the bundle's directory; dropping it deletes the files.
    pub temp_dir: tempfile::TempDir,
}

impl SplitBuilder {
    /// Starts a split in a new temporary directory under `temp_root` (the system temp
    /// directory if `None`).
    pub fn new(
        doc_mapper: &DocMapper,
        doc_mapping_uid: &str,
        heap_size_bytes: u64,
        temp_root: Option<&std::path::Path>,
    ) -> Result<Self> {
        Self::for_partition(doc_mapper, doc_mapping_uid, 0, heap_size_bytes, temp_root)
    }

    /// [`SplitBuilder::new`] for the documents of one partition.
    pub fn for_partition(
        doc_mapper: &DocMapper,
        doc_mapping_uid: &str,
        partition_id: u64,
        heap_size_bytes: u64,
        temp_root: Option<&std::path::Path>,
    ) -> Result<Self> {
        let temp_dir = match temp_root {
            Some(root) => tempfile::Builder::new()
                .prefix(&scratch_prefix("split"))
                .tempdir_in(root),
            None => tempfile::Builder::new()
                .prefix(&scratch_prefix("split"))
                .tempdir(),
        }
        .map_err(|error| IngestError::Io {
            context: "cannot create a temporary split directory".to_string(),
            source: error,
        })?;
        let chunk_spec = ChunkSpec {
            schema: doc_mapper.schema().clone(),
            settings: doc_mapper.index_settings(),
            tokenizers: doc_mapper.tokenizers().clone(),
            fast_field_tokenizers: doc_mapper.fast_field_normalizers().clone(),
        };
        let heap_bytes = (heap_size_bytes as usize).max(MIN_HEAP_BYTES);
        let writer = chunk_spec.writer(&chunk_dir(temp_dir.path(), 0), heap_bytes)?;
        Ok(SplitBuilder {
            split_id: SplitMetadata::new_split_id(),
            temp_dir,
            chunk_spec,
            heap_bytes,
            writer,
            chunks: Vec::new(),
            num_docs: 0,
            uncompressed_docs_size_bytes: 0,
            time_range: None,
            tag_fields: doc_mapper
                .tag_fields()
                .map(|field| (field.path.clone(), field.field))
                .collect(),
            tags: SplitTags::default(),
            doc_mapping_uid: doc_mapping_uid.to_string(),
            partition_id,
        })
    }

    /// Throws away every document of this split, keeping its id: the same split, empty.
    pub fn restart(
        self,
        doc_mapper: &DocMapper,
        heap_size_bytes: u64,
        temp_root: Option<&std::path::Path>,
    ) -> Result<Self> {
        let mut restarted = SplitBuilder::for_partition(
            doc_mapper,
            &self.doc_mapping_uid,
            self.partition_id,
            heap_size_bytes,
            temp_root,
        )?;
        restarted.split_id = self.split_id;
        Ok(restarted)
    }

    pub fn split_id(&self) -> &str {
        &self.split_id
    }

    pub fn num_docs(&self) -> u64 {
        self.num_docs
    }

    /// Adds one document built from a record of `record_num_bytes` bytes.
    pub fn add(
        &mut self,
        doc: TantivyDocument,
        timestamp_nanos: Option<i64>,
        record_num_bytes: u64,
    ) -> Result<()> {
        for (path, field) in &self.tag_fields {
            for value in doc.get_all(*field) {
                if let Some(text) = value.as_str() {
                    self.tags.add(path, text);
                } else if let Some(number) = value.as_u64() {
                    self.tags.add(path, &number.to_string());
                } else if let Some(number) = value.as_i64() {
                    self.tags.add(path, &number.to_string());
                }
            }
        }
        self.writer
            .add_document(doc)
            .map_err(IngestError::Tantivy)?;
        self.num_docs += 1;
        self.uncompressed_docs_size_bytes += record_num_bytes;
        if let Some(nanos) = timestamp_nanos {
            self.time_range = Some(TimeRange::extend(self.time_range, nanos));
        }
        // Summing the writer's memory walks its columns: every few hundred documents is enough
        // (a document adds kilobytes to a heap of at least 15 MB).
        if self.num_docs.is_multiple_of(256) && self.writer.mem_usage() >= self.heap_bytes {
            self.next_chunk()?;
        }
        Ok(())
    }

    /// Finishes the segment being written as a chunk, and starts the next one.
    fn next_chunk(&mut self) -> Result<()> {
        let dir = chunk_dir(self.temp_dir.path(), self.chunks.len() + 1);
        let next = self.chunk_spec.writer(&dir, self.heap_bytes)?;
        let full = std::mem::replace(&mut self.writer, next);
        self.chunks
            .push(full.finalize().map_err(IngestError::Tantivy)?);
        Ok(())
    }

    /// Finishes the segment, merges the chunks into one if there are several, and writes the
    /// bundle. Blocking: call it off the async executor.
    pub fn finish(mut self) -> Result<BuiltSplit> {
        let last = self.writer.finalize().map_err(IngestError::Tantivy)?;
        let index_dir = if self.chunks.is_empty() {
            chunk_dir(self.temp_dir.path(), 0)
        } else {
            self.chunks.push(last);
            let merged_dir = self.temp_dir.path().join("merged");
            std::fs::create_dir(&merged_dir).map_err(|error| IngestError::Io {
                context: format!("cannot create {}", merged_dir.display()),
                source: error,
            })?;
            let directory = MmapDirectory::open(&merged_dir)
                .map_err(|error| IngestError::Tantivy(error.into()))?;
            tantivy::indexer::merge_indices(&self.chunks, directory)
                .map_err(IngestError::Tantivy)?;
            merged_dir
        };
        let bundle_path = self
            .temp_dir
            .path()
            .join(format!("{}.split", self.split_id));
        let bundle = write_split_bundle(&index_dir, &bundle_path)?;
        // The bundle has everything; free the disk of the index files now.
        let num_chunks = self.chunks.len();
        drop(self.chunks);
        for number in 0..=num_chunks {
            let _ = std::fs::remove_dir_all(chunk_dir(self.temp_dir.path(), number));
        }
        let _ = std::fs::remove_dir_all(&index_dir);
        let metadata = SplitMetadata {
            split_id: self.split_id,
            state: SplitState::Staged,
            num_docs: self.num_docs,
            uncompressed_docs_size_bytes: self.uncompressed_docs_size_bytes,
            time_range: self.time_range,
            tags: (!self.tag_fields.is_empty()).then(|| self.tags.finish()),
            partition_id: self.partition_id,
            // Set when staged: the shard is the publisher's.
            shard: 0,
            split_size_bytes: bundle.split_size_bytes,
            footer_offsets: bundle.footer_offsets,
            doc_mapping_uid: self.doc_mapping_uid,
            num_merge_ops: 0,
            create_timestamp: 0,
            update_timestamp: 0,
            publish_timestamp: None,
            delete_opstamp: None,
        };
        Ok(BuiltSplit {
            metadata,
            bundle_path,
            temp_dir: self.temp_dir,
        })
    }
}

/// The directory of chunk `number` of a split being built in `temp_dir`.
fn chunk_dir(temp_dir: &Path, number: usize) -> PathBuf {
    temp_dir.join(format!("chunk-{number}"))
}

/// Uploads a built split to its path on the index storage. See [`upload_split_file`].
pub async fn upload_split(
    storage: &SharedStorage,
    index_id: &str,
    split: &BuiltSplit,
) -> Result<()> {
    upload_split_file(storage, index_id, &split.metadata, &split.bundle_path).await
}

/// Uploads the bundle of split `metadata` from `bundle_path`. The path holds a fresh split id,
/// so an upload whose response was lost is recognised by the object's size.
pub async fn upload_split_file(
    storage: &SharedStorage,
    index_id: &str,
    metadata: &SplitMetadata,
    bundle_path: &std::path::Path,
) -> Result<()> {
    recognise::create_unique(
        storage.as_ref(),
        &paths::split_file(index_id, &metadata.split_id),
        PutPayload::File(bundle_path.to_path_buf()),
        metadata.split_size_bytes,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hydrant_index::config::IndexConfig;
    use hydrant_index::split_bundle::{FileRangeFetcher, SplitDirectory};

    use super::*;

    /// Past the writer's heap, a split is written in chunks and merged into one segment at the
    /// end: memory stays bounded and the split is as if written at once.
    #[test]
    fn a_split_past_its_heap_is_still_one_segment() {
        let config = IndexConfig::from_yaml(
            "index_id: chunks\ndoc_mapping:\n  field_mappings:\n    - {name: body, type: text}\n    - {name: n, type: u64, fast: true}\n",
        )
        .unwrap();
        let doc_mapper = DocMapper::new(&config).unwrap();
        let temp_dir = tempfile::tempdir().unwrap();
        let mut builder = SplitBuilder::new(&doc_mapper, "uid", 0, Some(temp_dir.path())).unwrap();
        let num_docs = 120_000u64;
        for n in 0..num_docs {
            let record = serde_json::json!({
                "body": format!("record {n} of a split written in chunks, word{}", n % 977),
                "n": n,
            });
            let serde_json::Value::Object(record) = record else {
                unreachable!()
            };
            let parsed = doc_mapper.doc_from_json(record).unwrap();
            builder.add(parsed.doc, None, 64).unwrap();
        }
        assert!(builder.chunks.len() >= 2, "{} chunks", builder.chunks.len());
        let built = builder.finish().unwrap();
        assert_eq!(built.metadata.num_docs, num_docs);

        let fetcher = FileRangeFetcher::open(&built.bundle_path).unwrap();
        let footer = fetcher
            .read_footer("split", built.metadata.footer_offsets.clone())
            .unwrap();
        let index = SplitDirectory::new(Arc::new(footer), Arc::new(fetcher))
            .open_index()
            .unwrap();
        let segments = index.searchable_segment_metas().unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(u64::from(segments[0].num_docs()), num_docs);
        // Only the bundle is left in the split's directory.
        let left: Vec<_> = std::fs::read_dir(built.temp_dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
