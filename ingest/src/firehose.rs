//! Reading Firehose objects: decompression and record framing.
//!
//! Firehose concatenates records exactly as producers sent them, so an object may be
//! newline-delimited JSON, or JSON objects back to back (`{..}{..}`), with any whitespace
//! between. Compression is detected from the gzip magic bytes, never from the key, and gzip
//! objects may have several members.
//!
//! **Integrity.** A gzip member's CRC is only checked at its end, and a corrupted back-reference
//! decodes into plausible JSON long before that. [`decompressing_reader`] therefore reports,
//! through its [`Verification`], how many decompressed bytes belong to members whose check
//! passed: records past that offset are not known to be what the producer wrote. The indexer
//! counts only verified records (see `crate::indexer`).
//!
//! **Framing.** The first line of an object decides how it is framed:
//! - *newline-delimited* (a first line holding one value, or garbage): one line is one record,
//!   whatever it contains, and the JSON parser judges it. A broken line is one rejected record,
//!   and valid JSON after garbage on the same line is not a record of its own.
//! - *concatenated* (a first line holding several values, `{..}{..}`, or no newline at all): a
//!   record ends where its braces balance, and a newline or a `{` that cannot continue the
//!   current value (after anything but `:`, `,` or `[`) ends a broken record early, so one bad
//!   record cannot swallow its neighbours. Anything that is not an object or array (a scalar,
//!   or garbage) is framed up to the next line or record, for the JSON parser to judge.
//!
//! Broken records are returned as [`Frame::Malformed`] with their bytes, to be kept, not
//! dropped. A record is held in memory up to [`MAX_RECORD_BYTES`]; a longer one is returned cut
//! there and marked [`Frame::Malformed::truncated`], so that its object is kept whole instead.
//!
//! ```
//! use hydrant_ingest::firehose::{Frame, RecordFramer};
//!
//! let object = br#"{"a":1}{"a":2}
//! {"a":3"#;
//! let frames: Vec<Frame> = RecordFramer::new(&object[..]).map(Result::unwrap).collect();
//! assert!(matches!(&frames[0], Frame::Record { offset: 0, .. }));
//! assert!(matches!(&frames[1], Frame::Record { offset: 7, .. }));
//! assert!(matches!(&frames[2], Frame::Malformed { offset: 15, .. }));
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The first bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Records longer than this are rejected (Firehose's own limit is 1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// One framed record of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A balanced JSON value, or a line; it may still fail to parse.
    Record { offset: u64, bytes: Vec<u8> },
    /// Bytes that cannot be a record, and why.
    Malformed {
        offset: u64,
        bytes: Vec<u8>,
        reason: &'static str,
        /// The record was longer than [`MAX_RECORD_BYTES`]: `bytes` holds its beginning only.
        truncated: bool,
    },
}

impl Frame {
    /// Offset of the frame's first byte in the decompressed object.
    pub fn offset(&self) -> u64 {
        match self {
            Frame::Record { offset, .. } | Frame::Malformed { offset, .. } => *offset,
        }
    }
}

/// A gzip member failed its integrity check (or did not decode at all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptMember {
    /// Offset of the member in the compressed object.
    pub compressed_offset: u64,
    /// Decompressed bytes before the member, all verified.
    pub decompressed_offset: u64,
    pub message: String,
}

impl fmt::Display for CorruptMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the gzip member at byte {} of the object is corrupt ({})",
            self.compressed_offset, self.message
        )
    }
}

impl std::error::Error for CorruptMember {}

/// What a decompressing reader knows about the integrity of what it returned so far.
#[derive(Clone, Debug)]
pub struct Verification {
    /// Decompressed bytes that belong to checked members; `u64::MAX` when there is nothing to
    /// check (the object is not compressed).
    verified: Arc<AtomicU64>,
}

impl Verification {
    fn unchecked() -> Self {
        Verification {
            verified: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }

    /// Decompressed bytes, from the start, that are known to be what the producer wrote.
    pub fn verified_through(&self) -> u64 {
        self.verified.load(Ordering::Acquire)
    }

    /// Whether the object has an integrity check at all.
    pub fn is_checked(&self) -> bool {
        self.verified_through() != u64::MAX
    }
}

/// The corruption error inside an I/O error, if that is what it is.
pub fn corrupt_member(error: &io::Error) -> Option<&CorruptMember> {
    error.get_ref()?.downcast_ref::<CorruptMember>()
}

/// Wraps `reader` with a gzip decoder if the data starts with the gzip magic bytes, and says
/// how much of the output is verified (see the module documentation).
pub fn decompressing_reader<'a, R: BufRead + 'a>(
    mut reader: R,
) -> io::Result<(Box<dyn BufRead + 'a>, Verification)> {
    let is_gzip = reader.fill_buf()?.starts_with(&GZIP_MAGIC);
    if !is_gzip {
        return Ok((Box::new(reader), Verification::unchecked()));
    }
    let verification = Verification {
        verified: Arc::new(AtomicU64::new(0)),
    };
    let members = GzipMembers {
        decoder: None,
        between: Some(Counting {
            inner: reader,
            consumed: 0,
        }),
        decompressed: 0,
        member_start: 0,
        verification: verification.clone(),
    };
    Ok((
        Box::new(BufReader::with_capacity(256 << 10, members)),
        verification,
    ))
}

/// A `BufRead` that counts what is consumed from it: compressed offsets for messages.
struct Counting<R> {
    inner: R,
    consumed: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.consumed += read as u64;
        Ok(read)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}

/// Gzip members one after the other, each checked at its end before the next starts.
struct GzipMembers<R: BufRead> {
    decoder: Option<flate2::bufread::GzDecoder<Counting<R>>>,
    /// The compressed stream between two members.
    between: Option<Counting<R>>,
    decompressed: u64,
    /// Compressed offset of the member being decoded.
    member_start: u64,
    verification: Verification,
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(decoder) = &mut self.decoder {
                match decoder.read(buffer) {
                    Ok(0) => {
                        // flate2 returns the end of a member only once its CRC and length
                        // matched: everything so far is what the producer wrote.
                        let decoder = self.decoder.take().expect("decoding");
                        self.verification
                            .verified
                            .store(self.decompressed, Ordering::Release);
                        self.between = Some(decoder.into_inner());
                    }
                    Ok(read) => {
                        self.decompressed += read as u64;
                        return Ok(read);
                    }
                    // A broken download is not corruption: the caller retries it.
                    Err(error) if crate::object_reader::is_download_error(&error) => {
                        return Err(error);
                    }
                    Err(error) => {
                        self.decoder = None;
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            CorruptMember {
                                compressed_offset: self.member_start,
                                decompressed_offset: self.verification.verified_through(),
                                message: error.to_string(),
                            },
                        ));
                    }
                }
            } else if let Some(mut between) = self.between.take() {
                if between.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                // More bytes: another member (anything else fails as a corrupt one).
                self.member_start = between.consumed;
                self.decoder = Some(flate2::bufread::GzDecoder::new(between));
            } else {
                // After a corrupt member nothing more can be read.
                return Ok(0);
            }
        }
    }
}

/// Splits a stream of concatenated or newline-delimited JSON into records, in bounded memory.
pub struct RecordFramer<R> {
    source: Replay<R>,
    /// Offset in the (decompressed) stream of the next unread byte.
    offset: u64,
    max_record_bytes: usize,
    framing: Framing,
}

/// How an object's records are told apart (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Not decided yet: the first line decides.
    Detect,
    /// One line is one record.
    Lines,
    /// Records follow each other; braces tell where each ends.
    Concatenated,
}

/// A reader with some bytes put back in front of it.
struct Replay<R> {
    replayed: Vec<u8>,
    position: usize,
    inner: R,
}

impl<R: BufRead> Read for Replay<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let length = available.len().min(buffer.len());
        buffer[..length].copy_from_slice(&available[..length]);
        self.consume(length);
        Ok(length)
    }
}

impl<R: BufRead> BufRead for Replay<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.position < self.replayed.len() {
            return Ok(&self.replayed[self.position..]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if self.position < self.replayed.len() {
            self.position += amount;
            if self.position >= self.replayed.len() {
                self.replayed = Vec::new();
                self.position = 0;
            }
        } else {
            self.inner.consume(amount);
        }
    }
}

impl<R: BufRead> RecordFramer<R> {
    pub fn new(reader: R) -> Self {
        RecordFramer {
            source: Replay {
                replayed: Vec::new(),
                position: 0,
                inner: reader,
            },
            offset: 0,
            max_record_bytes: MAX_RECORD_BYTES,
            framing: Framing::Detect,
        }
    }

    /// Bytes of the stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How the object is framed, once the first record is read.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Skips whitespace between records; false at the end of the stream.
    fn skip_whitespace(&mut self) -> io::Result<bool> {
        loop {
            let buffer = self.source.fill_buf()?;
            if buffer.is_empty() {
                return Ok(false);
            }
            let skipped = buffer
                .iter()
                .take_while(|byte| byte.is_ascii_whitespace())
                .count();
            let exhausted = skipped == buffer.len();
            self.source.consume(skipped);
            self.offset += skipped as u64;
            if !exhausted {
                return Ok(true);
            }
        }
    }

    /// Reads the first line (at most the record limit) and puts it back, then decides the
    /// framing from it: several values on it, or no newline within the limit, is a
    /// concatenated stream; anything else is one record per line.
    fn detect_framing(&mut self) -> io::Result<Framing> {
        let mut line = Vec::new();
        let mut has_newline = false;
        while line.len() <= self.max_record_bytes {
            let buffer = self.source.inner.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            let room = self.max_record_bytes + 1 - line.len();
            let (taken, found) = match buffer.iter().take(room).position(|&byte| byte == b'\n') {
                Some(end) => (end + 1, true),
                None => (buffer.len().min(room), false),
            };
            line.extend_from_slice(&buffer[..taken]);
            self.source.inner.consume(taken);
            if found {
                has_newline = true;
                break;
            }
        }
        let framing = if (!has_newline && line.len() > self.max_record_bytes)
            || holds_several_values(&line)
        {
            Framing::Concatenated
        } else {
            Framing::Lines
        };
        self.source.replayed = line;
        self.source.position = 0;
        Ok(framing)
    }

    fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if !self.skip_whitespace()? {
            return Ok(None);
        }
        if self.framing == Framing::Detect {
            self.framing = self.detect_framing()?;
        }
        match self.framing {
            Framing::Lines => self.next_line().map(Some),
            _ => self.next_value().map(Some),
        }
    }

    /// One line, whatever it holds, without its line ending.
    fn next_line(&mut self) -> io::Result<Frame> {
        let start_offset = self.offset;
        let mut bytes = Vec::new();
        let mut too_large = false;
        loop {
            let buffer = self.source.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            let (consumed, done) = match buffer.iter().position(|&byte| byte == b'\n') {
                Some(end) => (end, true),
                None => (buffer.len(), false),
            };
            let kept = consumed.min(self.max_record_bytes.saturating_sub(bytes.len()));
            bytes.extend_from_slice(&buffer[..kept]);
            too_large |= kept < consumed;
            self.source.consume(consumed);
            self.offset += consumed as u64;
            if done {
                break;
            }
        }
        if !too_large {
            let trimmed = bytes.trim_ascii_end().len();
            bytes.truncate(trimmed);
        }
        Ok(finish_frame(start_offset, bytes, too_large, None))
    }

    /// One balanced value, or the broken piece before the next one.
    fn next_value(&mut self) -> io::Result<Frame> {
        let start_offset = self.offset;
        let mut scanner = Scanner::default();
        let mut bytes = Vec::new();
        let mut too_large = false;
        loop {
            let buffer = self.source.fill_buf()?;
            if buffer.is_empty() {
                // End of stream: a scalar simply ends, a container was cut short.
                let reason =
                    (scanner.depth != SCALAR || scanner.in_string).then_some("truncated record");
                return Ok(finish_frame(start_offset, bytes, too_large, reason));
            }
            let mut consumed = 0;
            let mut outcome = None;
            for &byte in buffer {
                match scanner.step(byte) {
                    Step::Continue => {
                        consumed += 1;
                    }
                    Step::Complete => {
                        consumed += 1;
                        outcome = Some(None);
                        break;
                    }
                    Step::EndBefore => {
                        outcome = Some(None);
                        break;
                    }
                    Step::BreakBefore(reason) => {
                        // The byte belongs to the next record (or is the newline ending this
                        // one); leave it in the stream.
                        outcome = Some(Some(reason));
                        break;
                    }
                }
            }
            let kept = consumed.min(self.max_record_bytes.saturating_sub(bytes.len()));
            bytes.extend_from_slice(&buffer[..kept]);
            too_large |= kept < consumed;
            self.source.consume(consumed);
            self.offset += consumed as u64;
            if let Some(malformed_reason) = outcome {
                return Ok(finish_frame(
                    start_offset,
                    bytes,
                    too_large,
                    malformed_reason,
                ));
            }
        }
    }
}

/// Whether a line starts with a complete object or array followed by another value: the
/// signature of records concatenated without newlines.
fn holds_several_values(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    if !matches!(line.first(), Some(b'{' | b'[')) {
        return false;
    }
    let mut scanner = Scanner::default();
    for (position, &byte) in line.iter().enumerate() {
        match scanner.step(byte) {
            Step::Continue => {}
            Step::Complete => {
                let rest = line[position + 1..].trim_ascii_start();
                return !rest.is_empty();
            }
            Step::EndBefore | Step::BreakBefore(_) => return false,
        }
    }
    false
}

fn finish_frame(
    offset: u64,
    bytes: Vec<u8>,
    too_large: bool,
    malformed_reason: Option<&'static str>,
) -> Frame {
    if too_large {
        return Frame::Malformed {
            offset,
            bytes,
            reason: "record larger than the maximum record size",
            truncated: true,
        };
    }
    match malformed_reason {
        None => Frame::Record { offset, bytes },
        Some(reason) => Frame::Malformed {
            offset,
            bytes,
            reason,
            truncated: false,
        },
    }
}

impl<R: BufRead> Iterator for RecordFramer<R> {
    type Item = io::Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

enum Step {
    Continue,
    /// The record is complete, including this byte.
    Complete,
    /// The record is complete before this byte.
    EndBefore,
    /// The record ends before this byte, broken.
    BreakBefore(&'static str),
}

/// Depth marking a frame that does not start with `{` or `[`.
const SCALAR: u32 = u32::MAX;

/// Tracks nesting and strings, byte by byte.
#[derive(Default)]
struct Scanner {
    depth: u32,
    in_string: bool,
    escaped: bool,
    started: bool,
    /// The frame is a scalar starting with a quote.
    scalar_quoted: bool,
    /// Last byte outside strings that was not whitespace.
    last_significant: u8,
}

impl Scanner {
    fn step(&mut self, byte: u8) -> Step {
        if self.in_string {
            if byte == b'\n' {
                return Step::BreakBefore("newline inside a string");
            }
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
                self.last_significant = b'"';
            }
            return Step::Continue;
        }
        if !self.started {
            self.started = true;
            if byte != b'{' && byte != b'[' {
                // Not a container: a scalar or garbage, up to the next line or record.
                self.depth = SCALAR;
                // Only a JSON string scalar has quotes to honour; in garbage (the rest of a
                // broken line, say) a quote means nothing.
                self.scalar_quoted = byte == b'"';
            }
        }
        if self.depth == SCALAR {
            // A scalar ends where a line or a record begins; the parser then says whether it
            // was a JSON value (a record that is not an object) or garbage.
            return match byte {
                b'\n' | b'{' | b'[' => Step::EndBefore,
                b'"' if self.scalar_quoted => {
                    self.in_string = true;
                    Step::Continue
                }
                _ => Step::Continue,
            };
        }
        match byte {
            b'\n' if self.depth > 0 => return Step::BreakBefore("record cut by a newline"),
            b'"' => self.in_string = true,
            b'{' | b'[' => {
                if self.depth > 0 && !matches!(self.last_significant, b':' | b',' | b'[') {
                    return Step::BreakBefore("unbalanced record");
                }
                self.depth += 1;
            }
            b'}' | b']' => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Step::Complete;
                }
            }
            _ => {}
        }
        if !byte.is_ascii_whitespace() {
            self.last_significant = byte;
        }
        Step::Continue
    }
}

/// Reads every frame of an object into memory; gzip or not. A decompression error stops the
/// stream: frames read before it are kept and the error is returned beside them. For small
/// objects and tests; the indexer streams frames with [`RecordFramer`] instead.
pub fn frames_of_object(object: &[u8]) -> (Vec<Frame>, Option<io::Error>) {
    let mut frames = Vec::new();
    let reader = match decompressing_reader(object) {
        Ok((reader, _)) => reader,
        Err(error) => return (frames, Some(error)),
    };
    for frame in RecordFramer::new(reader) {
        match frame {
            Ok(frame) => frames.push(frame),
            Err(error) => return (frames, Some(error)),
        }
    }
    (frames, None)
}

/// Reads all of `reader` (test helper for gzip round trips).
pub fn read_all(mut reader: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn frames(input: &[u8]) -> Vec<Frame> {
        let (frames, error) = frames_of_object(input);
        assert!(error.is_none(), "{error:?}");
        frames
    }

    fn record_texts(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Record { bytes, .. } => String::from_utf8(bytes.clone()).unwrap(),
                Frame::Malformed { bytes, reason, .. } => {
                    format!("BAD({reason}):{}", String::from_utf8_lossy(bytes))
                }
            })
            .collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Reads an object to its end: the decompressed bytes, the error if any, the verification.
    fn decompress(object: &[u8]) -> (Vec<u8>, Option<io::Error>, u64) {
        let (mut reader, verification) = decompressing_reader(object).unwrap();
        let mut bytes = Vec::new();
        let error = reader.read_to_end(&mut bytes).err();
        (bytes, error, verification.verified_through())
    }

    #[test]
    fn newline_delimited_objects_are_one_record_per_line() {
        let input = b"{\"a\":1}\r\n\ngarbage {\"x\"\n{\"a\":2}{\"a\":3}\nnot json {\"b\":1}\n  {\"c\":4}  \n";
        let frames = frames(input);
        assert_eq!(
            record_texts(&frames),
            [
                r#"{"a":1}"#,
                r#"garbage {"x""#,
                r#"{"a":2}{"a":3}"#,
                r#"not json {"b":1}"#,
                r#"{"c":4}"#
            ]
        );
        let offsets: Vec<u64> = frames.iter().map(Frame::offset).collect();
        assert_eq!(offsets, [0, 10, 23, 38, 57]);
    }

    #[test]
    fn concatenated_objects_are_framed_by_braces() {
        let input = b"{\"a\":1}{\"a\":2}  \r\n\t{\"s\":\"}{\\\"\"}{\"a\":3}";
        assert_eq!(
            record_texts(&frames(input)),
            [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"s":"}{\""}"#, r#"{"a":3}"#]
        );
        // No newline at all: concatenated, however long.
        let long: String = (0..10_000).map(|i| format!("{{\"n\":{i}}}")).collect();
        assert_eq!(frames(long.as_bytes()).len(), 10_000);
    }

    #[test]
    fn broken_concatenated_records_do_not_swallow_neighbours() {
        let input = b"{\"z\":0}{\"a\":1\n{\"b\":2}{\"c\":3{\"d\":4}\nnull\n{\"e\":\"x\ny\"}{\"f\":[1,{\"g\":2}]}";
        assert_eq!(
            record_texts(&frames(input)),
            [
                r#"{"z":0}"#,
                "BAD(record cut by a newline):{\"a\":1",
                r#"{"b":2}"#,
                "BAD(unbalanced record):{\"c\":3",
                r#"{"d":4}"#,
                "null",
                "BAD(newline inside a string):{\"e\":\"x",
                "y\"}",
                r#"{"f":[1,{"g":2}]}"#,
            ]
        );
    }

    #[test]
    fn scalars_between_concatenated_records_stand_alone() {
        let input = br#"{"a":1}42{"a":2}"text {"{"a":3}[1]"#;
        assert_eq!(
            record_texts(&frames(input)),
            [
                r#"{"a":1}"#,
                "42",
                r#"{"a":2}"#,
                "\"text {\"",
                r#"{"a":3}"#,
                "[1]",
            ]
        );
    }

    #[test]
    fn gzip_is_detected_by_magic_and_members_concatenate() {
        let mut object = gzip(b"{\"a\":1}\n{\"a\":2}\n");
        object.extend(gzip(b"{\"a\":3}"));
        assert_eq!(
            record_texts(&frames(&object)),
            [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]
        );
        let (bytes, error, verified) = decompress(&object);
        assert!(error.is_none());
        assert_eq!(verified, bytes.len() as u64, "every member checked");
        let (_, _, verified) = decompress(b"{\"plain\":1}");
        assert_eq!(verified, u64::MAX, "nothing to check");
    }

    #[test]
    fn corrupt_members_are_not_verified() {
        let records: String = (0..2000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let first = gzip(b"{\"first\":true}\n");
        let mut second = gzip(records.as_bytes());
        // Flip bytes in the middle of the second member's deflate stream.
        let middle = second.len() / 2;
        for byte in &mut second[middle..middle + 64] {
            *byte ^= 0x5a;
        }
        let object = [first.clone(), second].concat();
        let (bytes, error, verified) = decompress(&object);
        let error = error.expect("the corruption is detected");
        let corrupt = corrupt_member(&error).expect("as a corrupt member");
        assert_eq!(corrupt.compressed_offset, first.len() as u64);
        let first_len = b"{\"first\":true}\n".len() as u64;
        assert_eq!(corrupt.decompressed_offset, first_len);
        assert_eq!(verified, first_len, "only the first member is verified");
        assert!(bytes.len() as u64 >= verified);

        // A truncated object: the readable prefix comes out, unverified.
        let object = gzip(records.as_bytes());
        let (bytes, error, verified) = decompress(&object[..object.len() / 2]);
        assert!(corrupt_member(&error.unwrap()).is_some());
        assert!(!bytes.is_empty());
        assert_eq!(verified, 0);

        // Bytes after the last member that are not a member are corruption too.
        let object = [gzip(b"{}\n"), b"trailing".to_vec()].concat();
        let (_, error, verified) = decompress(&object);
        assert!(corrupt_member(&error.unwrap()).is_some());
        assert_eq!(verified, 3);
    }

    #[test]
    fn oversized_records_are_marked_truncated() {
        for input in [
            &b"{\"a\":\"0123456789\"}{\"b\":1}"[..],
            b"{\"a\":\"0123456789\"}\n{\"b\":1}\n",
        ] {
            let mut framer = RecordFramer::new(input);
            framer.max_record_bytes = 8;
            let frames: Vec<Frame> = framer.map(Result::unwrap).collect();
            let first_is_cut = matches!(
                &frames[0],
                Frame::Malformed { bytes, truncated: true, .. } if bytes.len() == 8
            );
            assert!(first_is_cut, "{frames:?}");
            assert!(matches!(&frames[1], Frame::Record { .. }), "{frames:?}");
        }
    }
}
