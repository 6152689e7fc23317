use serde_json::{Value, json};

use crate::config::IndexConfig;

use super::*;

fn mapper(yaml: &str) -> DocMapper {
    DocMapper::new(&IndexConfig::from_yaml(yaml).unwrap()).unwrap()
}

fn parse(mapper: &DocMapper, record: Value) -> Result<ParsedDoc, DocRejection> {
    mapper.doc_from_json(record.as_object().unwrap().clone())
}

const ALL_TYPES: &str = r#"
index_id: all-types
doc_mapping:
  mode: strict
  field_mappings:
    - {name: ts, type: datetime, input_formats: [rfc3339, unix_timestamp], output_format: unix_timestamp_millis, fast_precision: milliseconds}
    - {name: message, type: text, record: position}
    - {name: big, type: u64, fast: true}
    - {name: delta, type: i64}
    - {name: ratio, type: f64, fast: true}
    - {name: ok, type: bool}
    - {name: client, type: ip}
    - {name: blob, type: bytes}
    - {name: tags, type: "array<text>", tokenizer: raw}
    - {name: attributes, type: json}
    - name: resource
      type: object
      field_mappings:
        - {name: service, type: text, tokenizer: raw}
  timestamp_field: ts
"#;

#[test]
fn every_type_roundtrips_to_the_hit() {
    let mapper = mapper(ALL_TYPES);
    let record = json!({
        "ts": "2023-11-14T22:13:20.123Z",
        "message": "hello world",
        "big": 18446744073709551615u64,
        "delta": -5,
        "ratio": 0.25,
        "ok": true,
        "client": "10.0.0.1",
        "blob": "aGVsbG8=",
        "tags": ["a", "b"],
        "attributes": {"color": "red", "size": 3},
        "resource": {"service": "api"},
    });
    let parsed = parse(&mapper, record).unwrap();
    assert_eq!(parsed.timestamp_nanos, Some(1_700_000_000_123_000_000));
    let hit = mapper.doc_to_json(&parsed.doc);
    assert_eq!(
        Value::Object(hit),
        json!({
            "ts": 1_700_000_000_123i64,
            "message": "hello world",
            "big": 18446744073709551615u64,
            "delta": -5,
            "ratio": 0.25,
            "ok": true,
            "client": "10.0.0.1",
            "blob": "aGVsbG8=",
            "tags": ["a", "b"],
            "attributes": {"color": "red", "size": 3},
            "resource": {"service": "api"},
        })
    );
}

#[test]
fn bad_records_are_rejected_with_a_reason() {
    let mapper = mapper(ALL_TYPES);
    let cases = [
        (json!({"message": "no ts"}), RejectReason::MissingTimestamp),
        (json!({"ts": null}), RejectReason::MissingTimestamp),
        (json!({"ts": "not a date"}), RejectReason::InvalidTimestamp),
        (
            json!({"ts": 1_700_000_000, "big": -1}),
            RejectReason::InvalidValue,
        ),
        (
            json!({"ts": 1_700_000_000, "delta": 1.5}),
            RejectReason::InvalidValue,
        ),
        (
            json!({"ts": 1_700_000_000, "client": "nope"}),
            RejectReason::InvalidValue,
        ),
        (
            json!({"ts": 1_700_000_000, "blob": "!!"}),
            RejectReason::InvalidValue,
        ),
        (
            json!({"ts": 1_700_000_000, "resource": "flat"}),
            RejectReason::InvalidValue,
        ),
        (
            json!({"ts": 1_700_000_000, "surprise": 1}),
            RejectReason::UnmappedField,
        ),
        (
            json!({"ts": 1_700_000_000, "resource": {"x": 1}}),
            RejectReason::UnmappedField,
        ),
    ];
    for (record, reason) in cases {
        let rejection = parse(&mapper, record.clone()).unwrap_err();
        assert_eq!(rejection.reason, reason, "{record}: {rejection}");
    }
}

#[test]
fn coercion_and_u64_exactness() {
    let mapper = mapper(ALL_TYPES);
    let parsed = parse(
        &mapper,
        json!({"ts": 1, "big": "18446744073709551615", "ok": "false"}),
    )
    .unwrap();
    let hit = mapper.doc_to_json(&parsed.doc);
    assert_eq!(hit["big"], json!(u64::MAX));
    assert_eq!(hit["ok"], json!(false));
}

#[test]
fn dynamic_mode_keeps_unmapped_fields() {
    let mapper = mapper(
        "index_id: dyn\ndoc_mapping:\n  field_mappings:\n    - {name: a, type: u64}\n    - name: o\n      type: object\n      field_mappings:\n        - {name: b, type: u64}\n",
    );
    let parsed = parse(
        &mapper,
        json!({"a": 1, "extra": {"deep": "x"}, "o": {"b": 2, "c": 3}}),
    )
    .unwrap();
    let hit = mapper.doc_to_json(&parsed.doc);
    assert_eq!(
        Value::Object(hit),
        json!({"a": 1, "extra": {"deep": "x"}, "o": {"b": 2, "c": 3}})
    );
    assert!(matches!(
        mapper.resolve_field("extra.deep"),
        Some(ResolvedField::JsonPath { .. })
    ));
    assert!(matches!(
        mapper.resolve_field("o.b"),
        Some(ResolvedField::Mapped(_))
    ));
    assert!(mapper.resolve_field("o").is_none());
}

#[test]
fn lenient_mode_drops_unmapped_fields() {
    let mapper = mapper(
        "index_id: len\ndoc_mapping:\n  mode: lenient\n  field_mappings:\n    - {name: a, type: u64}\n",
    );
    let parsed = parse(&mapper, json!({"a": 1, "extra": 2})).unwrap();
    assert_eq!(
        Value::Object(mapper.doc_to_json(&parsed.doc)),
        json!({"a": 1})
    );
    assert!(mapper.resolve_field("extra").is_none());
}

#[test]
fn invalid_mappings_are_refused() {
    let cases = [
        (
            "    - {name: t, type: text, tokenizer: klingon}\n",
            "klingon",
        ),
        ("    - {name: 1x, type: u64}\n", "invalid field name"),
        (
            "    - {name: a, type: u64}\n    - {name: a, type: u64}\n",
            "twice",
        ),
        (
            "    - {name: d, type: datetime, input_formats: [sometimes]}\n",
            "sometimes",
        ),
    ];
    for (fields, expected) in cases {
        let yaml = format!("index_id: bad\ndoc_mapping:\n  field_mappings:\n{fields}");
        let error = IndexConfig::from_yaml(&yaml)
            .and_then(|config| DocMapper::new(&config))
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
    let error = IndexConfig::from_yaml(
            "index_id: bad\ndoc_mapping:\n  field_mappings:\n    - {name: a, type: u64}\n  timestamp_field: a\n",
        )
        .and_then(|config| DocMapper::new(&config))
        .unwrap_err()
        .to_string();
    assert!(error.contains("must be of type datetime"), "{error}");
}

#[test]
fn store_document_size_keeps_the_record_size_out_of_the_hit() {
    let mapper = mapper(
        r#"
index_id: sized
doc_mapping:
  mode: dynamic
  store_document_size: true
"#,
    );
    let record = json!({"name": "Fritz", "id": 1});
    let parsed = mapper
        .doc_from_record(record.as_object().unwrap().clone(), 42)
        .unwrap();
    let Some(ResolvedField::Mapped(field)) = mapper.resolve_field(DOC_LENGTH_FIELD_NAME) else {
        panic!("`_doc_length` is a field queries and aggregations can name");
    };
    assert!(field.kind.is_fast());
    let sizes: Vec<u64> = parsed
        .doc
        .get_all(field.field)
        .filter_map(|value| tantivy::schema::Value::as_u64(&value))
        .collect();
    assert_eq!(sizes, [42]);
    assert!(
        !mapper
            .doc_to_json(&parsed.doc)
            .contains_key(DOC_LENGTH_FIELD_NAME)
    );
    // Without a size, the record's compact JSON length.
    let parsed = parse(&mapper, record).unwrap();
    let sizes: Vec<u64> = parsed
        .doc
        .get_all(field.field)
        .filter_map(|value| tantivy::schema::Value::as_u64(&value))
        .collect();
    assert_eq!(sizes, [r#"{"id":1,"name":"Fritz"}"#.len() as u64]);
}

/// One config with every feature of Quickwit's configs that Hydrant had to learn: concatenate
/// fields, `store_document_size`, `fast` on an object, `partition_key`, custom tokenizers
/// (regex, ngram, simple, with filters), the `raw_lowercase` and `chinese_compatible`
/// tokenizers, tag fields, default search fields, `limit_merge`, a `3G` heap and
/// `ingest_settings`.
#[test]
fn a_config_with_every_quickwit_feature_loads_and_maps() {
    let mapper = mapper(
        r#"
version: 0.8
index_id: everything
doc_mapping:
  mode: dynamic
  store_document_size: true
  partition_key: tenant,hash_mod(service, 8)
  max_num_partitions: 100
  tokenizers:
    - {name: service_regex, type: regex, pattern: "\\w*"}
    - {name: trigrams, type: ngram, min_gram: 3, max_gram: 3, filters: [lower_caser]}
    - {name: folded, type: simple, filters: [remove_long, lower_caser, ascii_folding]}
  field_mappings:
    - {name: ts, type: datetime, fast: true}
    - {name: tenant, type: text, tokenizer: raw}
    - {name: service, type: text, tokenizer: service_regex}
    - {name: title, type: text, tokenizer: trigrams}
    - {name: body, type: text, tokenizer: folded, record: position}
    - {name: level, type: text, tokenizer: raw_lowercase}
    - {name: chinese, type: text, tokenizer: chinese_compatible, record: position}
    - name: resource
      type: object
      fast: true
      field_mappings:
        - {name: host, type: text, tokenizer: raw, fast: true}
    - name: all_text
      type: concatenate
      concatenate_fields: [title, body, level]
      include_dynamic_fields: true
  tag_fields: [tenant]
  timestamp_field: ts
search_settings:
  default_search_fields: [all_text]
indexing_settings:
  merge_policy: {type: limit_merge, merge_factor: 10, max_merge_ops: 3, maturation_period: 48 hours}
  resources: {heap_size: 3G}
ingest_settings:
  min_shards: 12
"#,
    );
    assert!(mapper.partition_key().is_some());
    assert_eq!(mapper.max_num_partitions(), 100);
    assert_eq!(
        mapper
            .tag_fields()
            .map(|field| field.path.as_str())
            .collect::<Vec<_>>(),
        ["tenant"]
    );
    let record = json!({
        "ts": 1_700_000_000, "tenant": "acme", "service": "api", "title": "Crème",
        "body": "Brûlée", "level": "ERROR", "chinese": "你好", "resource": {"host": "h1"},
        "extra": "unmapped",
    });
    let parsed = parse(&mapper, record.clone()).unwrap();
    let same_partition = json!({"ts": 1_700_000_001, "tenant": "acme", "service": "api"});
    assert_eq!(
        parse(&mapper, same_partition).unwrap().partition_id,
        parsed.partition_id
    );
    let all_text = mapper.resolve_field("all_text");
    assert!(matches!(all_text, Some(ResolvedField::Mapped(field)) if mapper.is_concatenate(field)));
}

/// Quickwit's other refusals: dynamic fields concatenated outside dynamic mode, a default
/// search field listed twice. (A timestamp field without `fast: true`, which Quickwit refuses,
/// is made fast: it prunes and sorts through its column.)
#[test]
fn quickwit_refusals_name_the_problem() {
    for (yaml, needle) in [
        (
            "index_id: a-index\ndoc_mapping:\n  mode: strict\n  field_mappings:\n    - {name: a, type: text}\n    - {name: all, type: concatenate, concatenate_fields: [a], include_dynamic_fields: true}\n",
            "not dynamic",
        ),
        (
            "index_id: a-index\ndoc_mapping:\n  field_mappings:\n    - {name: a, type: text}\nsearch_settings:\n  default_search_fields: [a, a]\n",
            "listed twice",
        ),
    ] {
        let error = DocMapper::new(&IndexConfig::from_yaml(yaml).unwrap()).unwrap_err();
        assert!(error.to_string().contains(needle), "{yaml}: {error}");
    }
}
