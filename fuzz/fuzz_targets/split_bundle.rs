//! The split bundle reader: any bytes taken for a split file give a parsed footer or an error,
//! and every file of a parsed footer reads through the hotcache and the fetcher or errors.
//! (Fuzzing builds skip the footer checksum, so that mutations reach what it guards.)
#![no_main]

use std::path::PathBuf;
use std::sync::Arc;

use hydrant_index::split_bundle::{SplitDirectory, SplitFooter};
use libfuzzer_sys::fuzz_target;
use tantivy::directory::Directory;

/// The trailer's length (footer start, hotcache and file table lengths, crc, version, magic).
const TRAILER_LEN: usize = 40;

fuzz_target!(|split: &[u8]| {
    if split.len() < TRAILER_LEN {
        return;
    }
    let trailer = &split[split.len() - TRAILER_LEN..];
    let footer_start = u64::from_le_bytes(trailer[..8].try_into().unwrap());
    if footer_start > split.len() as u64 {
        return;
    }
    let bytes = bytes::Bytes::copy_from_slice(split);
    let footer_bytes = bytes.slice(footer_start as usize..);
    let Ok(footer) = SplitFooter::parse("fuzz", footer_bytes, footer_start..split.len() as u64)
    else {
        return;
    };
    let paths: Vec<PathBuf> = footer.files().map(|(path, _)| path.to_path_buf()).collect();
    let directory = SplitDirectory::new(
        Arc::new(footer),
        Arc::new(hydrant_fuzz::BufferFetcher(bytes)),
    );
    for path in paths {
        let _ = directory.atomic_read(&path);
        if let Ok(handle) = directory.get_file_handle(&path) {
            let length = handle.len();
            for range in [
                0..length.min(16),
                length / 2..length,
                0..length.saturating_add(1),
            ] {
                let _ = handle.read_bytes(range);
            }
        }
    }
});
