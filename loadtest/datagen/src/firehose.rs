//! Objects shaped like the ones Firehose delivers to S3: key naming, framing, compression.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use time::OffsetDateTime;

/// How records follow each other in an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One record per line (Firehose with `AppendDelimiterToRecord`).
    NewlineDelimited,
    /// Records back to back, as Firehose concatenates them by default.
    Concatenated,
}

/// Firehose's default key: `{prefix}YYYY/MM/DD/HH/{stream}-{version}-YYYY-MM-DD-HH-MM-SS-{uuid}`.
pub fn object_key(prefix: &str, stream: &str, delivered_at: OffsetDateTime) -> String {
    let utc = delivered_at.to_offset(time::UtcOffset::UTC);
    format!(
        "{prefix}{:04}/{:02}/{:02}/{:02}/{stream}-1-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{}",
        utc.year(),
        utc.month() as u8,
        utc.day(),
        utc.hour(),
        utc.year(),
        utc.month() as u8,
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        uuid::Uuid::new_v4()
    )
}

/// Joins records (JSON texts) into an object body, gzip-compressed if asked.
pub fn encode_object(records: &[String], framing: Framing, gzip: bool) -> Vec<u8> {
    let mut body = Vec::with_capacity(records.iter().map(|record| record.len() + 1).sum());
    for record in records {
        body.extend_from_slice(record.as_bytes());
        if framing == Framing::NewlineDelimited {
            body.push(b'\n');
        }
    }
    if !gzip {
        return body;
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder
        .write_all(&body)
        .expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_firehose_naming() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let key = object_key("sales/", "mock-sales", at);
        assert!(
            key.starts_with("sales/2023/11/14/22/mock-sales-1-2023-11-14-22-13-20-"),
            "{key}"
        );
    }

    #[test]
    fn both_framings_read_back() {
        let records = vec![r#"{"a":1}"#.to_string(), r#"{"a":2}"#.to_string()];
        for framing in [Framing::NewlineDelimited, Framing::Concatenated] {
            let object = encode_object(&records, framing, true);
            let (frames, error) = hydrant_ingest::firehose::frames_of_object(&object);
            assert!(error.is_none());
            assert_eq!(frames.len(), 2);
        }
    }
}
