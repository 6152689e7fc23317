//! Staging objects: any bytes (plain or gzip, one member or several, corrupt or not) decompress
//! and frame into records without a panic, and every record parses or is rejected by the doc
//! mapping with a reason. Corruption is reported as such, never as data.
#![no_main]

use std::io::BufReader;

use hydrant_ingest::firehose::{Frame, RecordFramer, corrupt_member, decompressing_reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|object: &[u8]| {
    let Ok((reader, verification)) = decompressing_reader(BufReader::new(object)) else {
        return;
    };
    let mut framer = RecordFramer::new(reader);
    let mut corrupt = false;
    for frame in framer.by_ref() {
        match frame {
            Ok(Frame::Record { bytes, .. }) => {
                if let Ok(serde_json::Value::Object(record)) = serde_json::from_slice(&bytes) {
                    let _ = hydrant_fuzz::doc_mapper().doc_from_json(record);
                }
            }
            Ok(Frame::Malformed { .. }) => {}
            Err(error) => {
                assert!(
                    corrupt_member(&error).is_some(),
                    "only corruption can stop a read from memory: {error}"
                );
                corrupt = true;
                break;
            }
        }
    }
    // A gzip object read to its end is verified to its last byte.
    if verification.is_checked() && !corrupt {
        assert_eq!(verification.verified_through(), framer.offset());
    }
});
