//! Index configs as `POST /api/v1/indexes`, `PUT /api/v1/indexes/{id}` and `hydrant index
//! create|update` read them: any bytes are a config or an error, never a panic; a config that
//! parses builds a doc mapper or is refused with a reason; and an update between it and the
//! fuzz index's config, either way, is allowed or refused with a reason.
#![no_main]

use hydrant_index::config::IndexConfig;
use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::update::check_update;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let Ok(mut config) = IndexConfig::from_yaml(text) else {
        return;
    };
    if DocMapper::new(&config).is_err() {
        return;
    }
    // The uid splits record of a mapping: the same for the mapping read back.
    let uid = config.spec.doc_mapping.uid();
    let written = serde_json::to_string(&config).expect("a config serializes");
    let read = IndexConfig::from_yaml(&written).expect("a config written reads back");
    assert_eq!(read.spec.doc_mapping.uid(), uid);
    let fuzz = IndexConfig::from_yaml(hydrant_fuzz::CONFIG).expect("the fuzz config is valid");
    config.index_id = fuzz.index_id.clone();
    let _ = check_update(&fuzz, &config, [&fuzz.spec.doc_mapping]);
    let _ = check_update(&config, &fuzz, [&config.spec.doc_mapping]);
});
