//! Reading Firehose objects: decompression and record framing.
//!
//! Firehose concatenates records exactly as producers sent them, so an object may be
//! newline-delimited JSON, or JSON objects back to back (`{..}{..}`), with any whitespace
//! between. Compression is detected from the gzip magic bytes, never from the key, and gzip
//! objects may have several members.
//!
//! Framing never trusts a record to be valid: a record ends where its braces balance, and a
//! newline or a `{` that cannot continue the current value (after anything but `:`, `,` or
//! `[`) ends a broken record early, so one bad record cannot swallow its neighbours. Broken
//! records are returned as [`Frame::Malformed`] with their bytes, to be kept, not dropped.
//! Anything that is not an object or array (a scalar, or garbage) is framed up to the next line
//! or record, for the JSON parser to judge.
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

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

/// The first bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Records longer than this are rejected (Firehose's own limit is 1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// One framed record of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A balanced JSON value; it may still fail to parse.
    Record { offset: u64, bytes: Vec<u8> },
    /// Bytes that cannot be a record, and why.
    Malformed {
        offset: u64,
        bytes: Vec<u8>,
        reason: &'static str,
    },
}

/// Wraps `reader` with a gzip decoder if the data starts with the gzip magic bytes.
pub fn decompressing_reader<'a, R: BufRead + 'a>(
    mut reader: R,
) -> io::Result<Box<dyn BufRead + 'a>> {
    let is_gzip = reader.fill_buf()?.starts_with(&GZIP_MAGIC);
    if is_gzip {
        Ok(Box::new(BufReader::with_capacity(
            256 << 10,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// Splits a stream of concatenated or newline-delimited JSON into records, in bounded memory.
pub struct RecordFramer<R> {
    reader: R,
    /// Offset in the (decompressed) stream of the next unread byte.
    offset: u64,
    max_record_bytes: usize,
}

impl<R: BufRead> RecordFramer<R> {
    pub fn new(reader: R) -> Self {
        RecordFramer {
            reader,
            offset: 0,
            max_record_bytes: MAX_RECORD_BYTES,
        }
    }

    /// Bytes of the stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        // Skip whitespace between records.
        loop {
            let buffer = self.reader.fill_buf()?;
            if buffer.is_empty() {
                return Ok(None);
            }
            let skipped = buffer
                .iter()
                .take_while(|byte| byte.is_ascii_whitespace())
                .count();
            let exhausted = skipped == buffer.len();
            self.reader.consume(skipped);
            self.offset += skipped as u64;
            if !exhausted {
                break;
            }
        }
        let start_offset = self.offset;
        let mut scanner = Scanner::default();
        let mut bytes = Vec::new();
        let mut too_large = false;
        loop {
            let buffer = self.reader.fill_buf()?;
            if buffer.is_empty() {
                // End of stream: a scalar simply ends, a container was cut short.
                let reason =
                    (scanner.depth != SCALAR || scanner.in_string).then_some("truncated record");
                return Ok(Some(finish_frame(start_offset, bytes, too_large, reason)));
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
            self.reader.consume(consumed);
            self.offset += consumed as u64;
            if let Some(malformed_reason) = outcome {
                return Ok(Some(finish_frame(
                    start_offset,
                    bytes,
                    too_large,
                    malformed_reason,
                )));
            }
        }
    }
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
            reason: "record larger than the maximum size (kept truncated)",
        };
    }
    match malformed_reason {
        None => Frame::Record { offset, bytes },
        Some(reason) => Frame::Malformed {
            offset,
            bytes,
            reason,
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
        Ok(reader) => reader,
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

    #[test]
    fn newline_delimited_and_concatenated() {
        let input = b"{\"a\":1}\n{\"a\":2}{\"a\":3}  \r\n\t{\"s\":\"}{\\\"\"}\n";
        assert_eq!(
            record_texts(&frames(input)),
            [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#, r#"{"s":"}{\""}"#]
        );
    }

    #[test]
    fn broken_records_do_not_swallow_neighbours() {
        let input =
            b"{\"a\":1\n{\"b\":2}{\"c\":3{\"d\":4}\nnull\n{\"e\":\"x\ny\"}{\"f\":[1,{\"g\":2}]}";
        assert_eq!(
            record_texts(&frames(input)),
            [
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
    fn offsets_point_at_record_starts() {
        let input = b"  {\"a\":1}\n\n{\"b\":2}";
        let offsets: Vec<u64> = frames(input)
            .iter()
            .map(|frame| match frame {
                Frame::Record { offset, .. } | Frame::Malformed { offset, .. } => *offset,
            })
            .collect();
        assert_eq!(offsets, [2, 11]);
    }

    #[test]
    fn gzip_is_detected_by_magic_and_members_concatenate() {
        let mut object = gzip(b"{\"a\":1}\n{\"a\":2}");
        object.extend(gzip(b"{\"a\":3}"));
        assert_eq!(
            record_texts(&frames(&object)),
            [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]
        );
    }

    #[test]
    fn corrupt_gzip_keeps_the_readable_prefix() {
        let records: String = (0..2000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let object = gzip(records.as_bytes());
        let truncated = &object[..object.len() / 2];
        let (frames, error) = frames_of_object(truncated);
        assert!(error.is_some());
        assert!(frames.len() > 100, "kept {} frames", frames.len());
        assert!(
            frames
                .iter()
                .all(|frame| matches!(frame, Frame::Record { .. })
                    || matches!(
                        frame,
                        Frame::Malformed {
                            reason: "truncated record",
                            ..
                        }
                    ))
        );
    }

    #[test]
    fn oversized_records_are_rejected_truncated() {
        let mut framer = RecordFramer::new(&b"{\"a\":\"0123456789\"}{\"b\":1}"[..]);
        framer.max_record_bytes = 8;
        let frames: Vec<Frame> = framer.map(Result::unwrap).collect();
        assert!(matches!(&frames[0], Frame::Malformed { bytes, .. } if bytes.len() == 8));
        assert!(matches!(&frames[1], Frame::Record { .. }));
    }
}
