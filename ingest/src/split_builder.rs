//! Builds one split: tantivy documents in, a finished split bundle on local disk out.
//!
//! The index is written to a temporary directory (Lambda's `/tmp`), committed, merged to a
//! single segment (one segment per split keeps searches to one term dictionary lookup per
//! term), and bundled next to it. Nothing here touches remote storage.

use std::path::PathBuf;

use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::split_bundle::write_split_bundle;
use hydrant_metastore::paths;
use hydrant_metastore::split::{SplitMetadata, SplitState, SplitTags, TimeRange};
use hydrant_storage::{PutPayload, SharedStorage, recognise};
use tantivy::schema::{Field, Value as _};
use tantivy::{Index, IndexWriter, TantivyDocument};

use hydrant_storage::scratch::scratch_prefix;

use crate::error::{IngestError, Result};

/// tantivy refuses writer heaps below this.
const MIN_HEAP_BYTES: usize = 15_000_000;

/// A split being built.
pub struct SplitBuilder {
    split_id: String,
    temp_dir: tempfile::TempDir,
    index: Index,
    writer: IndexWriter<TantivyDocument>,
    num_docs: u64,
    uncompressed_docs_size_bytes: u64,
    time_range: Option<TimeRange>,
    /// The doc mapping's tag fields (path, field), and the values seen in them.
    tag_fields: Vec<(String, Field)>,
    tags: SplitTags,
    doc_mapping_uid: String,
    partition_id: u64,
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
        let index_dir = temp_dir.path().join("index");
        std::fs::create_dir(&index_dir).map_err(|error| IngestError::Io {
            context: format!("cannot create {}", index_dir.display()),
            source: error,
        })?;
        let mut index = Index::builder()
            .schema(doc_mapper.schema().clone())
            .settings(doc_mapper.index_settings())
            .create_in_dir(&index_dir)
            .map_err(IngestError::Tantivy)?;
        index.set_tokenizers(doc_mapper.tokenizers().clone());
        index.set_fast_field_tokenizers(doc_mapper.fast_field_normalizers().clone());
        let heap = (heap_size_bytes as usize).max(MIN_HEAP_BYTES);
        // One indexing thread: a split is one segment, and the other cores decompress and
        // parse records ahead of it.
        let writer = index
            .writer_with_num_threads(1, heap)
            .map_err(IngestError::Tantivy)?;
        // The segments flushed while indexing are merged once, in `finish`; a background merge
        // would race that one and do part of the work twice.
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        Ok(SplitBuilder {
            split_id: SplitMetadata::new_split_id(),
            temp_dir,
            index,
            writer,
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
        Ok(())
    }

    /// Commits, merges to one segment, and writes the bundle. Blocking: call it off the
    /// async executor.
    pub fn finish(mut self) -> Result<BuiltSplit> {
        self.writer.commit().map_err(IngestError::Tantivy)?;
        let segment_ids = self
            .index
            .searchable_segment_ids()
            .map_err(IngestError::Tantivy)?;
        if segment_ids.len() > 1 {
            self.writer
                .merge(&segment_ids)
                .wait()
                .map_err(IngestError::Tantivy)?;
        }
        self.writer
            .wait_merging_threads()
            .map_err(IngestError::Tantivy)?;
        let index_dir = self.temp_dir.path().join("index");
        let bundle_path = self
            .temp_dir
            .path()
            .join(format!("{}.split", self.split_id));
        let bundle = write_split_bundle(&index_dir, &bundle_path)?;
        // The bundle has everything; free the disk of the index files now.
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
        };
        Ok(BuiltSplit {
            metadata,
            bundle_path,
            temp_dir: self.temp_dir,
        })
    }
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
