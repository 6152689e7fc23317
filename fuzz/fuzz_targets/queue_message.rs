//! Queue message bodies (EventBridge, S3 notifications, test events, backfill, maintenance):
//! any string is a message or an error saying why not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| {
    let _ = hydrant_ingest::message::parse_message(body);
    let _ = hydrant_ingest::message::decode_s3_key(body);
});
