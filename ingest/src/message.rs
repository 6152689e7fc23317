//! Queue message bodies: what the indexer is asked to do.
//!
//! Accepted bodies:
//! - an EventBridge `Object Created` event from S3 (the production route: staging bucket →
//!   EventBridge → SQS FIFO);
//! - a classic S3 notification (`{"Records": [...]}`, possibly several objects);
//! - S3's `s3:TestEvent`, acknowledged and ignored;
//! - `{"bucket", "key", "etag"?, "index_id"?}`, sent by backfill;
//! - `{"type": "maintenance", "index_id"?}`, sent on a schedule (merges, GC, retention).
//!
//! Keys in S3 and EventBridge events are URL-encoded (`+` for a space, `%XX`); backfill keys
//! are plain.

use serde::Deserialize;
use serde_json::Value;

use crate::staging::ObjectRef;

/// What one message asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexerMessage {
    /// Index these objects (in order). `index_id` is set when the body names the index.
    IndexObjects {
        objects: Vec<ObjectRef>,
        index_id: Option<String>,
    },
    /// Run maintenance (merges, garbage collection, retention).
    Maintenance { index_id: Option<String> },
    /// Nothing to do (S3 test events, deletions, other event types).
    Ignore { reason: String },
}

/// A body that is none of the accepted shapes. The message will end in the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized message body: {0}")]
pub struct MessageError(pub String);

/// Parses a message body.
///
/// ```
/// use hydrant_ingest::message::{IndexerMessage, parse_message};
///
/// let body = r#"{"bucket": "staging", "key": "2026/11/22/19/a b"}"#;
/// let IndexerMessage::IndexObjects { objects, .. } = parse_message(body).unwrap() else { panic!() };
/// assert_eq!(objects[0].key, "2026/11/22/19/a b");
/// ```
pub fn parse_message(body: &str) -> Result<IndexerMessage, MessageError> {
    let value: Value = serde_json::from_str(body)
        .map_err(|error| MessageError(format!("not JSON ({error}): {}", excerpt(body))))?;
    let Value::Object(fields) = &value else {
        return Err(MessageError(format!(
            "not a JSON object: {}",
            excerpt(body)
        )));
    };
    if fields.contains_key("Records") {
        return parse_s3_notification(value);
    }
    if fields.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(IndexerMessage::Ignore {
            reason: "s3:TestEvent".to_string(),
        });
    }
    if fields.contains_key("detail-type") {
        return parse_eventbridge(value);
    }
    if fields.get("type").and_then(Value::as_str) == Some("maintenance") {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Maintenance {
            #[allow(dead_code)]
            r#type: String,
            index_id: Option<String>,
        }
        let maintenance: Maintenance = serde_json::from_value(value)
            .map_err(|error| MessageError(format!("maintenance message: {error}")))?;
        return Ok(IndexerMessage::Maintenance {
            index_id: maintenance.index_id,
        });
    }
    if fields.contains_key("bucket") && fields.contains_key("key") {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Direct {
            bucket: String,
            key: String,
            etag: Option<String>,
            index_id: Option<String>,
        }
        let direct: Direct = serde_json::from_value(value)
            .map_err(|error| MessageError(format!("object message: {error}")))?;
        return Ok(IndexerMessage::IndexObjects {
            objects: vec![ObjectRef {
                bucket: direct.bucket,
                key: direct.key,
                etag: direct.etag,
            }],
            index_id: direct.index_id,
        });
    }
    Err(MessageError(excerpt(body)))
}

fn parse_s3_notification(value: Value) -> Result<IndexerMessage, MessageError> {
    #[derive(Deserialize)]
    struct Notification {
        #[serde(rename = "Records")]
        records: Vec<Record>,
    }
    #[derive(Deserialize)]
    struct Record {
        #[serde(rename = "eventName", default)]
        event_name: String,
        s3: S3Entity,
    }
    #[derive(Deserialize)]
    struct S3Entity {
        bucket: Bucket,
        object: Object,
    }
    #[derive(Deserialize)]
    struct Bucket {
        name: String,
    }
    #[derive(Deserialize)]
    struct Object {
        key: String,
        #[serde(rename = "eTag")]
        etag: Option<String>,
    }
    let notification: Notification = serde_json::from_value(value)
        .map_err(|error| MessageError(format!("S3 notification: {error}")))?;
    let mut objects = Vec::new();
    for record in notification.records {
        if !record.event_name.starts_with("ObjectCreated") {
            continue;
        }
        objects.push(ObjectRef {
            bucket: record.s3.bucket.name,
            key: decode_s3_key(&record.s3.object.key)?,
            etag: record.s3.object.etag.filter(|etag| !etag.is_empty()),
        });
    }
    if objects.is_empty() {
        return Ok(IndexerMessage::Ignore {
            reason: "S3 notification without created objects".to_string(),
        });
    }
    Ok(IndexerMessage::IndexObjects {
        objects,
        index_id: None,
    })
}

fn parse_eventbridge(value: Value) -> Result<IndexerMessage, MessageError> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "detail-type")]
        detail_type: String,
        #[serde(default)]
        source: String,
        detail: Value,
    }
    #[derive(Deserialize)]
    struct Detail {
        bucket: Bucket,
        object: Object,
    }
    #[derive(Deserialize)]
    struct Bucket {
        name: String,
    }
    #[derive(Deserialize)]
    struct Object {
        key: String,
        etag: Option<String>,
    }
    let envelope: Envelope = serde_json::from_value(value)
        .map_err(|error| MessageError(format!("EventBridge event: {error}")))?;
    if envelope.source != "aws.s3" || envelope.detail_type != "Object Created" {
        return Ok(IndexerMessage::Ignore {
            reason: format!("{} event from {}", envelope.detail_type, envelope.source),
        });
    }
    let detail: Detail = serde_json::from_value(envelope.detail)
        .map_err(|error| MessageError(format!("EventBridge S3 detail: {error}")))?;
    Ok(IndexerMessage::IndexObjects {
        objects: vec![ObjectRef {
            bucket: detail.bucket.name,
            key: decode_s3_key(&detail.object.key)?,
            etag: detail.object.etag.filter(|etag| !etag.is_empty()),
        }],
        index_id: None,
    })
}

/// Decodes a key as S3 encodes it in events: `+` is a space, `%XX` a byte.
pub fn decode_s3_key(encoded: &str) -> Result<String, MessageError> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| MessageError(format!("invalid %-escape in key `{encoded}`")))?;
                decoded.push(hex);
                index += 2;
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8(decoded)
        .map_err(|_| MessageError(format!("key `{encoded}` is not UTF-8 once decoded")))
}

fn excerpt(body: &str) -> String {
    if body.len() <= 200 {
        return body.to_string();
    }
    let cut = (0..=200)
        .rev()
        .find(|&i| body.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}...", &body[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(message: IndexerMessage) -> Vec<ObjectRef> {
        match message {
            IndexerMessage::IndexObjects { objects, .. } => objects,
            other => panic!("expected objects, got {other:?}"),
        }
    }

    #[test]
    fn eventbridge_object_created() {
        let body = include_str!("../tests/fixtures/eventbridge-object-created.json");
        let objects = objects(parse_message(body).unwrap());
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].bucket, "hydrant-staging");
        assert_eq!(
            objects[0].key,
            "firehose/2026/11/22/19/sales stream-1-2026-11-22-19-00-00-abc"
        );
        assert_eq!(
            objects[0].etag.as_deref(),
            Some("b1946ac92492d2347c6235b4d2611184")
        );
    }

    #[test]
    fn s3_notifications_with_several_records() {
        let body = include_str!("../tests/fixtures/s3-notification.json");
        let objects = objects(parse_message(body).unwrap());
        let keys: Vec<&str> = objects.iter().map(|object| object.key.as_str()).collect();
        assert_eq!(
            keys,
            ["2026/11/22/19/first object", "2026/11/22/19/second+object%"]
        );
    }

    #[test]
    fn test_events_and_other_events_are_ignored() {
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-22T19:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
        assert!(matches!(
            parse_message(test_event).unwrap(),
            IndexerMessage::Ignore { .. }
        ));
        let deleted = r#"{"detail-type":"Object Deleted","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}"#;
        assert!(matches!(
            parse_message(deleted).unwrap(),
            IndexerMessage::Ignore { .. }
        ));
        let removed = r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        assert!(matches!(
            parse_message(removed).unwrap(),
            IndexerMessage::Ignore { .. }
        ));
    }

    #[test]
    fn backfill_and_maintenance_bodies() {
        let body = r#"{"bucket":"b","key":"a+b%20c","etag":"e","index_id":"logs"}"#;
        let IndexerMessage::IndexObjects { objects, index_id } = parse_message(body).unwrap()
        else {
            panic!()
        };
        // Backfill keys are plain: no decoding.
        assert_eq!(objects[0].key, "a+b%20c");
        assert_eq!(index_id.as_deref(), Some("logs"));
        assert_eq!(
            parse_message(r#"{"type":"maintenance","index_id":"logs"}"#).unwrap(),
            IndexerMessage::Maintenance {
                index_id: Some("logs".into())
            }
        );
    }

    #[test]
    fn poison_bodies_are_errors() {
        for body in [
            "",
            "not json",
            "[1]",
            r#"{"hello":"world"}"#,
            r#"{"bucket":"b","key":"k","surprise":1}"#,
        ] {
            assert!(parse_message(body).is_err(), "{body}");
        }
        assert!(decode_s3_key("bad%zz").is_err());
        assert_eq!(decode_s3_key("a%2Fb+c").unwrap(), "a/b c");
    }
}
