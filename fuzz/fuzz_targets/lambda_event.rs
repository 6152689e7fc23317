//! The searcher Lambda's events (API Gateway v1 and v2, Function URLs, direct invocations):
//! any JSON is answered, with an error status when it is not a valid request, by a searcher
//! over a small real index.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|event: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(event) else {
        return;
    };
    let service = hydrant_fuzz::service();
    let answer =
        hydrant_fuzz::runtime().block_on(hydrant_lambda::searcher::handle_event(service, event));
    assert!(answer.is_object(), "{answer}");
});
