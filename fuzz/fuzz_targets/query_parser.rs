//! The query language: any string parses to an AST or an error with a position, and any AST
//! binds to a mapping of every field type as a query or an error. Never a panic, never a stack
//! overflow (nesting is bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    if let Ok(ast) = hydrant_search::query::parse_query(query) {
        let _ = hydrant_search::query::build_query(&ast, hydrant_fuzz::doc_mapper(), &[]);
        let fields = ["body".to_string(), "attrs".to_string()];
        let _ = hydrant_search::query::build_query(&ast, hydrant_fuzz::doc_mapper(), &fields);
    }
});
