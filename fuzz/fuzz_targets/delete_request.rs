//! Delete requests as the local write API reads them: Quickwit's delete task body and
//! Elasticsearch's `_delete_by_query` body (the first byte picks which), checked against an
//! index of every field type. Any bytes give a delete query or an error, never a panic; a
//! query accepted builds again from what the metastore would store.
#![no_main]

use hydrant_search::delete::{DeleteTaskRequest, delete_query_from_elastic, delete_task_query};
use hydrant_search::http::RequestBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&kind, body)) = input.split_first() else {
        return;
    };
    let doc_mapper = hydrant_fuzz::shared_doc_mapper();
    let query = if kind & 1 == 0 {
        let Ok(request) = serde_json::from_slice::<DeleteTaskRequest>(body) else {
            return;
        };
        request.delete_query(&doc_mapper)
    } else {
        delete_query_from_elastic(&RequestBody::Bytes(body), &doc_mapper)
    };
    if let Ok(query) = query {
        // What the metastore stores reads back into the same query.
        let stored: hydrant_metastore::delete_task::DeleteQuery =
            serde_json::from_slice(&serde_json::to_vec(&query).unwrap()).unwrap();
        // Strictly when created, leniently when applied to a split (of any mapping).
        assert!(delete_task_query(doc_mapper.clone(), &stored, false).is_ok());
        assert!(delete_task_query(doc_mapper, &stored, true).is_ok());
    }
});
