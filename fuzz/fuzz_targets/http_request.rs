//! The local HTTP server's request reader: any bytes give a request, a refusal with a status,
//! or the end of the connection, within bounded memory.
#![no_main]

use hydrant_search::server::{MAX_HEAD_BYTES, ReadOutcome, read_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|wire: &[u8]| {
    let mut reader = wire;
    let outcome = hydrant_fuzz::runtime().block_on(read_request(&mut reader));
    if let Ok(ReadOutcome::Request(request)) = outcome {
        assert!(request.target.len() <= MAX_HEAD_BYTES);
        assert!(request.body.len() <= hydrant_search::http::MAX_REQUEST_BODY_BYTES);
    }
});
