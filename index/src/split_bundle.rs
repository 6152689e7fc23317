//! The split bundle: one object holding a whole tantivy index, openable with one ranged read.
//!
//! ```text
//! [file 0][file 1]...[file n-1]   the tantivy files of the index, concatenated
//! [hotcache]                      every byte range tantivy reads to open the index
//! [file table]                    JSON: {"files": [{"path", "start", "end"}]}
//! [trailer, 40 bytes]             footer_start u64 | hotcache_len u64 | file_table_len u64
//!                                 | crc32(hotcache + file table) u32 | format_version u32
//!                                 | magic "HYDRSPLT"
//! ```
//!
//! The *footer* is everything from the hotcache to the end. The metastore records its byte
//! range (`footer_offsets`), so a searcher opens a cold split with exactly one ranged GET; the
//! hotcache then serves every read tantivy makes while opening the index, and a query fetches
//! only the ranges it needs through a [`ByteRangeFetcher`]. Without the offsets, reading the
//! trailer first finds the footer.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback,
    WatchHandle, WritePtr,
};
use tantivy::{HasLen, Index, ReloadPolicy};

use crate::error::{IndexError, Result};
use hydrant_storage::Storage;

/// Current bundle format version.
pub const SPLIT_FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"HYDRSPLT";
/// Size of the fixed trailer.
pub const TRAILER_LEN: u64 = 40;

/// Where a finished bundle's pieces are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleInfo {
    pub split_size_bytes: u64,
    pub footer_offsets: Range<u64>,
    pub hotcache_len: u64,
}

#[derive(Serialize, Deserialize)]
struct FileTable {
    files: Vec<FileTableEntry>,
}

#[derive(Serialize, Deserialize)]
struct FileTableEntry {
    path: String,
    start: u64,
    end: u64,
}

/// Writes the bundle of the finished tantivy index in `index_dir` to `output_path`.
///
/// The index is the one of `meta.json`: files of other segments (left by an interrupted merge,
/// say) are not bundled.
pub fn write_split_bundle(index_dir: &Path, output_path: &Path) -> Result<BundleInfo> {
    let io_error =
        |error: io::Error| IndexError::storage(output_path.display(), "cannot write split", error);
    let directory = MmapDirectory::open(index_dir)
        .map_err(|error| IndexError::storage(index_dir.display(), "cannot open index", error))?;
    let index = Index::open(directory)?;
    let segment_ids: Vec<String> = index
        .searchable_segment_metas()?
        .iter()
        .map(|meta| meta.id().uuid_string())
        .collect();
    let mut file_names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(index_dir).map_err(io_error)? {
        let name = entry.map_err(io_error)?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "meta.json" || segment_ids.iter().any(|id| name.starts_with(id.as_str())) {
            file_names.push(name.to_string());
        }
    }
    file_names.sort();

    let mut output = BufWriter::new(File::create(output_path).map_err(io_error)?);
    let mut offset = 0u64;
    let mut files = Vec::with_capacity(file_names.len());
    for name in &file_names {
        let mut source = File::open(index_dir.join(name)).map_err(io_error)?;
        let copied = io::copy(&mut source, &mut output).map_err(io_error)?;
        files.push(FileTableEntry {
            path: name.clone(),
            start: offset,
            end: offset + copied,
        });
        offset += copied;
    }
    let footer_start = offset;
    let hotcache = build_hotcache(index_dir)?;
    let file_table = serde_json::to_vec(&FileTable { files }).expect("file table serializes");
    let mut crc = crc32fast::Hasher::new();
    crc.update(&hotcache);
    crc.update(&file_table);
    output.write_all(&hotcache).map_err(io_error)?;
    output.write_all(&file_table).map_err(io_error)?;
    let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
    trailer.extend_from_slice(&footer_start.to_le_bytes());
    trailer.extend_from_slice(&(hotcache.len() as u64).to_le_bytes());
    trailer.extend_from_slice(&(file_table.len() as u64).to_le_bytes());
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    trailer.extend_from_slice(&SPLIT_FORMAT_VERSION.to_le_bytes());
    trailer.extend_from_slice(MAGIC);
    debug_assert_eq!(trailer.len() as u64, TRAILER_LEN);
    output.write_all(&trailer).map_err(io_error)?;
    let file = output
        .into_inner()
        .map_err(|error| io_error(error.into_error()))?;
    file.sync_all().map_err(io_error)?;
    let split_size_bytes =
        footer_start + hotcache.len() as u64 + file_table.len() as u64 + TRAILER_LEN;
    Ok(BundleInfo {
        split_size_bytes,
        footer_offsets: footer_start..split_size_bytes,
        hotcache_len: hotcache.len() as u64,
    })
}

/// Opens the index with a directory that records every read, does what opening a split for
/// search does, and serializes the recorded ranges.
fn build_hotcache(index_dir: &Path) -> Result<Vec<u8>> {
    let inner = MmapDirectory::open(index_dir)
        .map_err(|error| IndexError::storage(index_dir.display(), "cannot open index", error))?;
    let recording = RecordingDirectory {
        inner: Box::new(inner),
        reads: Arc::default(),
    };
    let index = Index::open(recording.clone())?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    let searcher = reader.searcher();
    let schema = index.schema();
    for segment_reader in searcher.segment_readers() {
        let mut dictionaries = Vec::new();
        for (field, entry) in schema.fields() {
            if entry.is_indexed() {
                let inverted_index = segment_reader.inverted_index(field)?;
                dictionaries.push(inverted_index.terms().file_slice_for_range(.., None));
            }
        }
        // Small dictionaries whole, in field order while the budget lasts: a term query on
        // their fields reads no block of them.
        let mut budget = HOTCACHE_TERM_DICTIONARIES_MAX;
        for blocks in dictionaries {
            let size = blocks.len() as u64;
            if size > HOTCACHE_TERM_DICTIONARY_MAX || size > budget {
                continue;
            }
            budget -= size;
            blocks.read_bytes().map_err(|error| {
                IndexError::storage(index_dir.display(), "cannot read terms", error)
            })?;
        }
        // The column directory: a query reads a column's values with no lookup before.
        let fast_fields = segment_reader.fast_fields();
        for (_, entry) in schema.fields().filter(|(_, entry)| entry.is_fast()) {
            fast_fields.dynamic_column_handles(entry.name())?;
            fast_fields.dynamic_subpath_column_handles(entry.name())?;
        }
        segment_reader.get_store_reader(0).map_err(|error| {
            IndexError::storage(index_dir.display(), "cannot open doc store", error)
        })?;
    }
    drop(searcher);
    drop(reader);
    let reads = recording
        .reads
        .lock()
        .expect("recording lock poisoned")
        .clone();
    let mut hotcache = HotCacheBuilder::default();
    for (path, ranges) in reads {
        let handle = recording
            .inner
            .get_file_handle(&path)
            .map_err(tantivy::TantivyError::from)?;
        for range in merge_ranges(ranges) {
            let bytes = handle
                .read_bytes(range.clone())
                .map_err(|error| IndexError::storage(path.display(), "cannot read", error))?;
            hotcache.add(&path, range.start as u64, bytes.as_slice());
        }
    }
    Ok(hotcache.serialize())
}

/// Term dictionaries at most this large go into the hotcache whole (low-cardinality fields:
/// status codes, methods, countries, log levels), until [`HOTCACHE_TERM_DICTIONARIES_MAX`]: a cold term query on them skips the round trip for its
/// dictionary block. Measured on web logs (issue 25): the dictionaries of 7 of 11 fields took
/// 2.4 KB in all; the other four were 38 to 82 KB each.
pub const HOTCACHE_TERM_DICTIONARY_MAX: u64 = 16 << 10;
/// What all whole term dictionaries of a split may add to its hotcache.
pub const HOTCACHE_TERM_DICTIONARIES_MAX: u64 = 64 << 10;

fn merge_ranges(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|range| (range.start, range.end));
    let mut merged: Vec<Range<usize>> = Vec::new();
    for range in ranges.into_iter().filter(|range| !range.is_empty()) {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// A directory that remembers which byte ranges were read.
#[derive(Clone, Debug)]
struct RecordingDirectory {
    inner: Box<dyn Directory>,
    reads: Arc<Mutex<BTreeMap<PathBuf, Vec<Range<usize>>>>>,
}

#[derive(Debug)]
struct RecordingFileHandle {
    path: PathBuf,
    inner: Arc<dyn FileHandle>,
    reads: Arc<Mutex<BTreeMap<PathBuf, Vec<Range<usize>>>>>,
}

impl HasLen for RecordingFileHandle {
    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl FileHandle for RecordingFileHandle {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        self.reads
            .lock()
            .expect("recording lock poisoned")
            .entry(self.path.clone())
            .or_default()
            .push(range.clone());
        self.inner.read_bytes(range)
    }
}

impl Directory for RecordingDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        Ok(Arc::new(RecordingFileHandle {
            path: path.to_path_buf(),
            inner: self.inner.get_file_handle(path)?,
            reads: self.reads.clone(),
        }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(read_only_delete(path))
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(read_only_write(path))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let bytes = self.inner.atomic_read(path)?;
        self.reads
            .lock()
            .expect("recording lock poisoned")
            .entry(path.to_path_buf())
            .or_default()
            .push(0..bytes.len());
        Ok(bytes)
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(read_only_io(path))
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        // Nothing writes to a split: readers need no lock.
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}

/// Byte ranges of the split's files, kept in the footer. Serialized as
/// `u32 num_files`, then per file `u16 path_len, path, u32 num_slices`, then per slice
/// `u64 start, u32 len, bytes`, all little-endian.
#[derive(Default)]
struct HotCacheBuilder {
    slices: BTreeMap<String, Vec<(u64, Vec<u8>)>>,
}

impl HotCacheBuilder {
    fn add(&mut self, path: &Path, start: u64, bytes: &[u8]) {
        self.slices
            .entry(path.to_string_lossy().into_owned())
            .or_default()
            .push((start, bytes.to_vec()));
    }

    fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.slices.len() as u32).to_le_bytes());
        for (path, slices) in &self.slices {
            out.extend_from_slice(&(path.len() as u16).to_le_bytes());
            out.extend_from_slice(path.as_bytes());
            out.extend_from_slice(&(slices.len() as u32).to_le_bytes());
            for (start, bytes) in slices {
                out.extend_from_slice(&start.to_le_bytes());
                out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                out.extend_from_slice(bytes);
            }
        }
        out
    }
}

/// The hotcache, parsed: per file, sorted non-overlapping slices sharing the footer's buffer.
#[derive(Debug, Default)]
pub struct HotCache {
    slices: BTreeMap<PathBuf, Vec<(u64, OwnedBytes)>>,
}

impl HotCache {
    fn parse(bytes: OwnedBytes) -> Result<Self> {
        let corrupt = || IndexError::corrupt("split hotcache", "truncated");
        let mut cursor = 0usize;
        let mut take = |len: usize| -> Result<OwnedBytes> {
            let end = cursor
                .checked_add(len)
                .filter(|end| *end <= bytes.len())
                .ok_or_else(corrupt)?;
            let slice = bytes.slice(cursor..end);
            cursor = end;
            Ok(slice)
        };
        let read_u32 =
            |slice: OwnedBytes| u32::from_le_bytes(slice.as_slice().try_into().expect("4 bytes"));
        let num_files = read_u32(take(4)?);
        let mut slices = BTreeMap::new();
        for _ in 0..num_files {
            let path_len = u16::from_le_bytes(take(2)?.as_slice().try_into().expect("2 bytes"));
            let path_bytes = take(path_len as usize)?;
            let path = std::str::from_utf8(path_bytes.as_slice())
                .map_err(|_| IndexError::corrupt("split hotcache", "path is not utf-8"))?;
            let num_slices = read_u32(take(4)?);
            // A count read from the bytes: reserve no more than the bytes left could hold.
            let mut file_slices = Vec::with_capacity((num_slices as usize).min(bytes.len() / 12));
            for _ in 0..num_slices {
                let start = u64::from_le_bytes(take(8)?.as_slice().try_into().expect("8 bytes"));
                let len = read_u32(take(4)?);
                file_slices.push((start, take(len as usize)?));
            }
            slices.insert(PathBuf::from(path), file_slices);
        }
        Ok(HotCache { slices })
    }

    /// The bytes of `range` of `path`, if one cached slice holds all of them.
    pub fn get(&self, path: &Path, range: &Range<u64>) -> Option<OwnedBytes> {
        slice_of(self.slices.get(path)?, range)
    }

    /// The slices of one file, to look ranges up in without finding the file each time.
    fn file_slices(&self, path: &Path) -> Vec<(u64, OwnedBytes)> {
        self.slices.get(path).cloned().unwrap_or_default()
    }

    /// Bytes held by the hotcache.
    pub fn num_bytes(&self) -> usize {
        self.slices
            .values()
            .flat_map(|slices| slices.iter().map(|(_, bytes)| bytes.len()))
            .sum()
    }
}

/// `range` of a file from its sorted hotcache slices, if one holds it whole.
fn slice_of(file_slices: &[(u64, OwnedBytes)], range: &Range<u64>) -> Option<OwnedBytes> {
    let index = file_slices.partition_point(|(start, _)| *start <= range.start);
    let (start, bytes) = file_slices.get(index.checked_sub(1)?)?;
    let end = start.checked_add(bytes.len() as u64)?;
    (range.end <= end)
        .then(|| bytes.slice((range.start - start) as usize..(range.end - start) as usize))
}

/// A split's parsed footer: where each file is, and the hotcache.
#[derive(Debug)]
pub struct SplitFooter {
    files: BTreeMap<PathBuf, Range<u64>>,
    hotcache: HotCache,
    footer_offsets: Range<u64>,
}

impl SplitFooter {
    /// Reads the footer of the split at `path`: one ranged GET when `footer_offsets` are known,
    /// two otherwise (the trailer, then the footer).
    pub async fn read(
        storage: &dyn Storage,
        path: &str,
        footer_offsets: Option<Range<u64>>,
    ) -> Result<SplitFooter> {
        let footer_offsets = match footer_offsets {
            Some(offsets) => offsets,
            None => {
                let size = storage.head(path).await?.size;
                if size < TRAILER_LEN {
                    return Err(IndexError::corrupt(
                        storage.describe(path),
                        "too small to be a split",
                    ));
                }
                let trailer = storage.get_range(path, size - TRAILER_LEN..size).await?;
                let footer_start = u64::from_le_bytes(trailer[..8].try_into().expect("8 bytes"));
                footer_start..size
            }
        };
        let bytes = storage.get_range(path, footer_offsets.clone()).await?;
        SplitFooter::parse(&storage.describe(path), bytes, footer_offsets)
    }

    /// Parses footer bytes read at `footer_offsets`.
    pub fn parse(location: &str, bytes: Bytes, footer_offsets: Range<u64>) -> Result<SplitFooter> {
        let corrupt = |reason: &str| IndexError::corrupt(location, reason);
        let bytes = OwnedBytes::new(bytes.to_vec());
        if bytes.len() < TRAILER_LEN as usize {
            return Err(corrupt("footer shorter than its trailer"));
        }
        let trailer = &bytes.as_slice()[bytes.len() - TRAILER_LEN as usize..];
        let read_u64 =
            |at: usize| u64::from_le_bytes(trailer[at..at + 8].try_into().expect("8 bytes"));
        let read_u32 =
            |at: usize| u32::from_le_bytes(trailer[at..at + 4].try_into().expect("4 bytes"));
        if &trailer[32..40] != MAGIC {
            return Err(corrupt("not a Hydrant split (bad magic)"));
        }
        let format_version = read_u32(28);
        if format_version != SPLIT_FORMAT_VERSION {
            return Err(corrupt(&format!(
                "split format version {format_version} is not supported (this build reads {SPLIT_FORMAT_VERSION})"
            )));
        }
        let footer_start = read_u64(0);
        let hotcache_len = usize::try_from(read_u64(8)).unwrap_or(usize::MAX);
        let file_table_len = usize::try_from(read_u64(16)).unwrap_or(usize::MAX);
        let expected_crc = read_u32(24);
        let lengths_match = hotcache_len
            .checked_add(file_table_len)
            .and_then(|length| length.checked_add(TRAILER_LEN as usize))
            == Some(bytes.len());
        if footer_start != footer_offsets.start || !lengths_match {
            return Err(corrupt("footer offsets do not match the trailer"));
        }
        let body = &bytes.as_slice()[..hotcache_len + file_table_len];
        // Fuzzing builds skip the checksum, so that mutated footers reach the parsing behind it.
        if !cfg!(fuzzing) && crc32fast::hash(body) != expected_crc {
            return Err(corrupt("footer checksum mismatch"));
        }
        let file_table: FileTable = serde_json::from_slice(&body[hotcache_len..])
            .map_err(|error| corrupt(&format!("file table: {error}")))?;
        let mut files = BTreeMap::new();
        for entry in file_table.files {
            if entry.start > entry.end || entry.end > footer_start {
                return Err(corrupt("file range outside the split"));
            }
            files.insert(PathBuf::from(entry.path), entry.start..entry.end);
        }
        let hotcache = HotCache::parse(bytes.slice(0..hotcache_len))?;
        Ok(SplitFooter {
            files,
            hotcache,
            footer_offsets,
        })
    }

    /// Byte range of `path` in the split.
    pub fn file_range(&self, path: &Path) -> Option<Range<u64>> {
        self.files.get(path).cloned()
    }

    /// The files of the split.
    pub fn files(&self) -> impl Iterator<Item = (&Path, &Range<u64>)> {
        self.files
            .iter()
            .map(|(path, range)| (path.as_path(), range))
    }

    pub fn hotcache(&self) -> &HotCache {
        &self.hotcache
    }

    pub fn footer_offsets(&self) -> &Range<u64> {
        &self.footer_offsets
    }
}

/// A fetch in flight, as [`ByteRangeFetcher::fetch_async`] returns it.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = io::Result<OwnedBytes>> + Send + 'a>>;

/// Reads byte ranges of one split (absolute offsets). Implementations decide where the bytes
/// come from (storage, caches, a local copy).
///
/// tantivy's searches read synchronously ([`ByteRangeFetcher::fetch`]); a searcher warming a
/// split up before searching it reads asynchronously ([`ByteRangeFetcher::fetch_async`]),
/// many ranges at once, and the synchronous reads that follow must then find those bytes
/// without waiting. Fetchers that wait on nothing (local files) keep the default, which reads
/// synchronously.
pub trait ByteRangeFetcher: std::fmt::Debug + Send + Sync + 'static {
    fn fetch(&self, range: Range<u64>) -> io::Result<OwnedBytes>;

    fn fetch_async(&self, range: Range<u64>) -> FetchFuture<'_> {
        Box::pin(std::future::ready(self.fetch(range)))
    }
}

/// Reads a split from a local file (a downloaded or cached copy).
#[derive(Debug)]
pub struct FileRangeFetcher {
    file: File,
}

impl FileRangeFetcher {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(FileRangeFetcher {
            file: File::open(path)?,
        })
    }

    /// Parses the footer of the split in this file.
    pub fn read_footer(&self, location: &str, footer_offsets: Range<u64>) -> Result<SplitFooter> {
        read_footer(self, location, footer_offsets)
    }
}

impl ByteRangeFetcher for FileRangeFetcher {
    fn fetch(&self, range: Range<u64>) -> io::Result<OwnedBytes> {
        use std::os::unix::fs::FileExt;
        let mut bytes = vec![0u8; (range.end - range.start) as usize];
        self.file.read_exact_at(&mut bytes, range.start)?;
        Ok(OwnedBytes::new(bytes))
    }
}

/// A split file on local disk, memory-mapped: a range is a slice of the mapping, with no
/// system call and no copy. For reading a whole split many times over (a merge reads every
/// block of its inputs); [`FileRangeFetcher`] where a few ranges are read.
pub struct MmapRangeFetcher {
    file: tantivy::directory::FileSlice,
}

impl MmapRangeFetcher {
    pub fn open(path: &Path) -> io::Result<Self> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a file path", path.display()),
            ));
        };
        let directory = MmapDirectory::open(dir).map_err(io::Error::other)?;
        let file = directory
            .open_read(Path::new(name))
            .map_err(io::Error::other)?;
        Ok(MmapRangeFetcher { file })
    }

    /// Parses the footer of the split in this file.
    pub fn read_footer(&self, location: &str, footer_offsets: Range<u64>) -> Result<SplitFooter> {
        read_footer(self, location, footer_offsets)
    }
}

impl std::fmt::Debug for MmapRangeFetcher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MmapRangeFetcher")
            .field("len", &self.file.len())
            .finish()
    }
}

impl ByteRangeFetcher for MmapRangeFetcher {
    fn fetch(&self, range: Range<u64>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.file.len() as u64 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read {range:?} past the end of a {} byte file",
                    self.file.len()
                ),
            ));
        }
        self.file
            .read_bytes_slice(range.start as usize..range.end as usize)
    }
}

/// Parses the footer of the split `fetcher` reads.
fn read_footer(
    fetcher: &dyn ByteRangeFetcher,
    location: &str,
    footer_offsets: Range<u64>,
) -> Result<SplitFooter> {
    let bytes = fetcher
        .fetch(footer_offsets.clone())
        .map_err(|error| IndexError::storage(location, "cannot read the footer", error))?;
    SplitFooter::parse(
        location,
        Bytes::copy_from_slice(bytes.as_slice()),
        footer_offsets,
    )
}

/// A read-only tantivy directory over a split: the hotcache first, then the fetcher.
#[derive(Clone, Debug)]
pub struct SplitDirectory {
    footer: Arc<SplitFooter>,
    fetcher: Arc<dyn ByteRangeFetcher>,
}

impl SplitDirectory {
    pub fn new(footer: Arc<SplitFooter>, fetcher: Arc<dyn ByteRangeFetcher>) -> Self {
        SplitDirectory { footer, fetcher }
    }

    /// Opens the tantivy index of the split.
    pub fn open_index(self) -> Result<Index> {
        Ok(Index::open(self)?)
    }
}

#[derive(Debug)]
struct SplitFileHandle {
    path: PathBuf,
    file_range: Range<u64>,
    /// This file's hotcache slices: tantivy reads a file in many small ranges (a merge reads
    /// every postings block), and finding the file's slices by path each time showed in
    /// profiles.
    hot_slices: Vec<(u64, OwnedBytes)>,
    fetcher: Arc<dyn ByteRangeFetcher>,
}

impl HasLen for SplitFileHandle {
    fn len(&self) -> usize {
        (self.file_range.end - self.file_range.start) as usize
    }
}

impl SplitFileHandle {
    /// The bytes of `range` if the hotcache holds them, else the range in the split to fetch.
    fn hot_or_absolute(
        &self,
        range: Range<usize>,
    ) -> io::Result<std::result::Result<OwnedBytes, Range<u64>>> {
        let range = range.start as u64..range.end as u64;
        if range.start > range.end || range.end > self.file_range.end - self.file_range.start {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read {range:?} past the end of {}", self.path.display()),
            ));
        }
        if let Some(bytes) = slice_of(&self.hot_slices, &range) {
            return Ok(Ok(bytes));
        }
        let start = self.file_range.start + range.start;
        Ok(Err(start..start + (range.end - range.start)))
    }
}

#[async_trait::async_trait]
impl FileHandle for SplitFileHandle {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        match self.hot_or_absolute(range)? {
            Ok(bytes) => Ok(bytes),
            Err(absolute) => self.fetcher.fetch(absolute),
        }
    }

    async fn read_bytes_async(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        match self.hot_or_absolute(range)? {
            Ok(bytes) => Ok(bytes),
            Err(absolute) => self.fetcher.fetch_async(absolute).await,
        }
    }
}

impl Directory for SplitDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let file_range = self
            .footer
            .file_range(path)
            .ok_or_else(|| OpenReadError::FileDoesNotExist(path.to_path_buf()))?;
        Ok(Arc::new(SplitFileHandle {
            path: path.to_path_buf(),
            file_range,
            hot_slices: self.footer.hotcache.file_slices(path),
            fetcher: self.fetcher.clone(),
        }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(read_only_delete(path))
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        Ok(self.footer.files.contains_key(path))
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(read_only_write(path))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let handle = self.get_file_handle(path)?;
        let bytes = handle
            .read_bytes(0..handle.len())
            .map_err(|io_error| OpenReadError::wrap_io_error(io_error, path.to_path_buf()))?;
        Ok(bytes.as_slice().to_vec())
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(read_only_io(path))
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        // Nothing writes to a split: readers need no lock.
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}

fn read_only_io(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("split directories are read-only ({})", path.display()),
    )
}

fn read_only_delete(path: &Path) -> DeleteError {
    DeleteError::IoError {
        io_error: Arc::new(read_only_io(path)),
        filepath: path.to_path_buf(),
    }
}

fn read_only_write(path: &Path) -> OpenWriteError {
    OpenWriteError::IoError {
        io_error: Arc::new(read_only_io(path)),
        filepath: path.to_path_buf(),
    }
}
