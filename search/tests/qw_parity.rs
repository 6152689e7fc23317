//! Every step of Quickwit's `qw_search_api`, `concat_fields`, `default_search_fields` and
//! `tag_fields` REST scenarios, as Hydrant's own test: the same index configs and records
//! (indexed by the real indexer on local disk, one split per ingest step), the same queries
//! through the native search API, the same expected counts, hits and refusals.

mod common;

use common::request;
use hydrant_index::config::IndexConfig;
use hydrant_index::doc_mapper::DocMapper;
use hydrant_ingest::testing::LocalIndex;
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

/// An index of `config`, one split per record list.
async fn index_with(local: &LocalIndex, config: &str, splits: &[&[Value]]) {
    local.create_index(config).await;
    let index_id = IndexConfig::from_yaml(config).unwrap().index_id;
    for (number, records) in splits.iter().enumerate() {
        let key = format!("{index_id}-{number}");
        let body: String = records.iter().map(|record| format!("{record}\n")).collect();
        local.put_object(&key, body.into_bytes()).await;
        local.index(&index_id, &[&key]).await;
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// `GET /api/v1/{index}/search` with `params`: status and body.
async fn search(service: &SearchService, index: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    let response = request(
        service,
        "GET",
        &format!("/api/v1/{index}/search"),
        Some(&query.join("&")),
        b"",
    )
    .await;
    let body = serde_json::from_slice(&response.body_bytes()).unwrap_or(Value::Null);
    (response.status, body)
}

/// Expects `query` on `index` to count `expected` hits.
async fn expect_hits(service: &SearchService, index: &str, query: &str, expected: u64) {
    let (status, body) = search(service, index, &[("query", query)]).await;
    assert_eq!(status, 200, "{index}: {query}: {body}");
    assert_eq!(
        body["num_hits"],
        json!(expected),
        "{index}: {query}: {body}"
    );
}

async fn expect_refused(service: &SearchService, index: &str, query: &str) {
    let (status, body) = search(service, index, &[("query", query)]).await;
    assert_eq!(status, 400, "{index}: {query} should be refused: {body}");
}

fn config_error(config: Value) -> String {
    let config = IndexConfig::from_yaml(&config.to_string()).map_err(|error| error.to_string());
    match config.and_then(|config| DocMapper::new(&config).map_err(|error| error.to_string())) {
        Ok(_) => panic!("the config is accepted"),
        Err(message) => message,
    }
}

const SIMPLE: &str = r#"
version: "0.7"
index_id: simple
doc_mapping:
  timestamp_field: ts
  mode: dynamic
  field_mappings:
    - {name: ts, type: datetime, fast: true}
    - {name: not_fast, type: datetime, fast: true}
  dynamic_mapping: {tokenizer: default, expand_dots: true, fast: true}
"#;

const NESTED: &str = r#"
version: "0.7"
index_id: nested
doc_mapping:
  index_field_presence: true
  field_mappings:
    - {name: json_text, type: json, indexed: true}
    - {name: json_fast, type: json, stored: true, fast: true}
    - name: object_multi
      type: object
      field_mappings:
        - {name: object_text_field, type: text}
        - {name: object_fast_field, type: u64, fast: true}
    - {name: text_fast, type: text, fast: true, indexed: false}
    - {name: text_raw, type: text, fast: false, indexed: true, tokenizer: raw}
"#;

const MILLISEC: &str = r#"
version: "0.7"
index_id: millisec
doc_mapping:
  timestamp_field: ts
  mode: strict
  field_mappings:
    - {name: ts, type: datetime, fast: true, input_formats: [rfc3339], fast_precision: milliseconds}
"#;

#[tokio::test]
async fn qw_search_api() {
    let local = LocalIndex::new().await;
    index_with(
        &local,
        SIMPLE,
        &[
            &[
                json!({"ts": 1684993001, "not_fast": 1684993001, "auto_date": "2023-05-25T10:00:00Z"}),
                json!({"ts": 1684993002, "not_fast": 1684993002, "auto_date": "2023-05-25T11:00:00Z"}),
            ],
            &[
                json!({"ts": 1684993003, "not_fast": 1684993003}),
                json!({"ts": 1684993004, "not_fast": 1684993004}),
                // A missing timestamp: rejected, as Quickwit does.
                json!({"not_fast": 1684993003}),
            ],
        ],
    )
    .await;
    index_with(
        &local,
        NESTED,
        &[&[
            json!({"json_text": {"field_a": "hello", "field_b": "world"}}),
            json!({"json_text": {"field_a": "hi"}}),
            json!({"json_fast": {"field_c": 1}}),
            json!({"object_multi": {"object_text_field": "multi hello"}}),
            json!({"object_multi": {"object_fast_field": 1}}),
            json!({"object_multi": {"object_fast_field": 2}}),
            json!({"text_raw": "indexed-with-raw-tokenizer-dashes"}),
            json!({"text_raw": "indexed with raw tokenizer dashes"}),
            json!({"text_fast": "fast-text-value-dashes"}),
            json!({"text_fast": "fast text value whitespaces"}),
        ]],
    )
    .await;
    index_with(
        &local,
        MILLISEC,
        &[&[
            json!({"ts": "2022-12-16T10:00:56.297Z"}),
            json!({"ts": "2022-12-16T10:00:57.000Z"}),
            json!({"ts": "2022-12-16T10:00:57.297Z"}),
        ]],
    )
    .await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());

    // 0001_ts_range
    for (start, end, expected) in [
        ("1684993001", "1684993002", 1),
        ("1684993002", "1684993004", 2),
    ] {
        let params = [
            ("query", "*"),
            ("start_timestamp", start),
            ("end_timestamp", end),
        ];
        let (status, body) = search(&service, "simple", &params).await;
        assert_eq!((status, body["num_hits"].clone()), (200, json!(expected)));
    }
    expect_hits(&service, "simple", "ts:>=2023/05/25", 4).await;
    expect_hits(&service, "simple", "ts:>=2023-05-25", 4).await;
    expect_hits(&service, "simple", "ts:>=1684993002 AND ts:<1684993004", 2).await;
    let auto_date = "auto_date:>=2023-05-25T00:00:00Z AND auto_date:<2023-05-26T00:00:00Z";
    expect_hits(&service, "simple", auto_date, 2).await;
    expect_hits(&service, "simple", "auto_date:>=2023-05-25T10:30:00Z", 1).await;
    let millis = "ts:>=2022-12-16T10:00:57.000Z AND ts:<=2022-12-16T10:00:57.000Z";
    expect_hits(&service, "millisec", millis, 1).await;

    // 0002_negative_search
    for query in [
        "-ts:1234567890 AND -ts:1234567891",
        "NOT ts:1234567890 AND NOT ts:1234567891",
        "NOT ts:1234567890 AND -ts:1234567891",
        "-ts:1234567890 AND NOT ts:1234567891",
    ] {
        expect_hits(&service, "simple", query, 4).await;
    }

    // 0003_exists_search
    for (query, expected) in [
        ("doesnotexist:*", 0),
        ("json_fast:*", 1),
        ("json_fast.field_c:*", 1),
        ("json_fast.doesnotexist:*", 0),
        ("json_text.field_a:*", 2),
        ("json_text.field_b:*", 1),
        ("json_text:*", 2),
        ("object_multi.object_fast_field:*", 2),
        ("object_multi.doesnotexist:*", 0),
        ("object_multi.object_text_field:*", 1),
        ("object_multi:*", 3),
    ] {
        expect_hits(&service, "nested", query, expected).await;
    }

    // 0004_exact_string
    for (query, expected) in [
        ("text_raw:indexed-with-raw-tokenizer-dashes", 1),
        ("text_raw:indexed_with_raw_tokenizer_dashes", 0),
        ("text_raw:indexed-with-raw", 0),
        (r#"text_raw:"indexed with raw tokenizer dashes""#, 1),
        (r#"text_raw:"indexed with raw""#, 0),
        ("text_fast:fast-text-value-dashes", 1),
        (
            "text_fast:[fast-text-value-dashes TO fast-text-value-dashes]",
            1,
        ),
        (
            "text_fast:[fast_text_value_dashes TO fast_text_value_dashes]",
            0,
        ),
        ("text_fast:[fast-text-value TO fast-text-value]", 0),
    ] {
        expect_hits(&service, "nested", query, expected).await;
    }
    for query in [
        r#"text_fast:["fast text value whitespaces" TO "fast text value whitespacesd"]"#,
        "text_fast:[fast text value whitespaces TO fast text value whitespaces]",
        r"text_fast:[fast\ text\ value\ whitespaces TO fast\ text\ value\ whitespaces]",
    ] {
        expect_refused(&service, "nested", query).await;
    }

    // 0005_fast_field_search
    expect_hits(&service, "nested", "text_fast:fast-text-value-dashes", 1).await;
    expect_hits(&service, "nested", "text_fast:fast_text_value_dashes", 0).await;

    // Beyond the scenario: an unmapped path under a mapped object is searchable.
    let local_dynamic = LocalIndex::new().await;
    index_with(
        &local_dynamic,
        NESTED,
        &[&[json!({"object_multi": {"object_text_field": "x", "foo": "bar"}})]],
    )
    .await;
    let dynamic = SearchService::new(local_dynamic.metastore.clone(), SearcherConfig::default());
    expect_hits(&dynamic, "nested", "object_multi.foo:bar", 1).await;
    expect_hits(&dynamic, "nested", "object_multi.foo:*", 1).await;
    expect_hits(&dynamic, "nested", "object_multi:*", 1).await;

    // Without field presence, a non-fast leaf answers `*` from its terms (Quickwit refuses
    // with a 400; an Elasticsearch client expects `exists` on any indexed field).
    let local_plain = LocalIndex::new().await;
    let plain = NESTED.replace("index_field_presence: true", "index_field_presence: false");
    index_with(
        &local_plain,
        &plain,
        &[&[
            json!({"object_multi": {"object_text_field": "x"}}),
            json!({"other": 1}),
        ]],
    )
    .await;
    let plain = SearchService::new(local_plain.metastore.clone(), SearcherConfig::default());
    expect_hits(&plain, "nested", "object_multi:*", 1).await;
    expect_hits(&plain, "nested", "object_multi.object_text_field:*", 1).await;
}

const CONCAT: &str = r#"
version: "0.7"
index_id: concat
doc_mapping:
  mode: dynamic
  field_mappings:
    - {name: text1, type: text, tokenizer: default}
    - {name: text2, type: text, tokenizer: raw}
    - {name: boolean, type: bool}
    - {name: int, type: u64}
    - {name: float, type: f64}
    - {name: json, type: json}
    - name: concat_raw
      type: concatenate
      concatenate_fields: [text1, text2, boolean, int, json, float]
      tokenizer: raw
      include_dynamic_fields: true
    - name: concat_default
      type: concatenate
      concatenate_fields: [text1, text2, boolean, int, json, float]
      tokenizer: default
  dynamic_mapping: {tokenizer: default, expand_dots: true}
"#;

#[tokio::test]
async fn concat_fields() {
    let local = LocalIndex::new().await;
    index_with(
        &local,
        CONCAT,
        &[&[
            json!({"text1": "AB-CD", "text2": "EF-GH"}),
            json!({"text1": "true"}),
            json!({"boolean": true}),
            json!({"text2": "i like 42"}),
            json!({"int": 42}),
            json!({"other-field": "otherfieldvalue", "other-field-number": 9, "other-field-bool": false}),
            json!({"json": {"some_bool": false, "some_int": 10, "nested": {"some_string": "nestedstring"}}}),
            json!({"float": 1.5}),
            json!({"json": {"val:": 2.5, "date": "2024-01-01T00:13:00Z"}}),
            json!({"other": 3.5}),
            // Too big for an i64: a u64.
            json!({"big": 9223372036854775808u64}),
            json!({"neg": -5}),
        ]],
    )
    .await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    for (query, expected) in [
        // The concatenate field's tokenizer applies, not the source field's.
        ("concat_raw:AB-CD", 1),
        ("concat_raw:EF-GH", 1),
        ("concat_raw:'AB CD'", 0),
        ("concat_raw:'EF GH'", 0),
        ("concat_default:AB", 1),
        ("concat_default:GH", 1),
        // Booleans both as text and as bool fields.
        ("concat_raw:true", 2),
        ("concat_default:true", 2),
        // Numbers both as text and as numbers; the raw tokenizer keeps `i like 42` whole.
        ("concat_raw:42", 1),
        ("concat_default:42", 2),
        // Dynamic fields only where included.
        ("concat_raw:otherfieldvalue", 1),
        ("concat_raw:9", 1),
        ("concat_raw:false", 2),
        ("concat_default:otherfieldvalue OR concat_default:9", 0),
        ("concat_default:false", 1),
        // Leaves of json fields, paths left out.
        ("concat_raw:10", 1),
        ("concat_raw:nestedstring", 1),
        ("concat_default:10", 1),
        ("concat_default:nestedstring", 1),
        ("concat_default:1.5", 1),
        ("concat_default:2.5", 1),
        ("concat_default:3.5", 0),
        ("concat_raw:1.5", 1),
        ("concat_raw:2.5", 1),
        ("concat_raw:3.5", 1),
        ("concat_raw:9223372036854775808", 1),
        ("concat_raw:-5", 1),
        // Datetimes inside json stay strings: a prefix finds them.
        (r#"concat_raw:"2024-01-01"*"#, 1),
    ] {
        expect_hits(&service, "concat", query, expected).await;
    }
    // Ranges cannot compare a concatenation's mixed text.
    expect_refused(&service, "concat", "concat_raw:[1 TO 5]").await;
    // A concatenation names existing fields of the supported types only.
    let concatenating = |sources: Value| {
        json!({
            "index_id": "refused",
            "doc_mapping": {"field_mappings": [
                {"name": "when", "type": "datetime"},
                {"name": "all", "type": "concatenate", "concatenate_fields": sources},
            ]},
        })
    };
    let message = config_error(concatenating(json!(["missing"])));
    assert!(
        message.contains("`missing` is not a mapped field"),
        "{message}"
    );
    let message = config_error(concatenating(json!(["when"])));
    assert!(message.contains("is a datetime field"), "{message}");
}

#[tokio::test]
async fn default_search_fields() {
    let local = LocalIndex::new().await;
    let config = r#"
version: "0.7"
index_id: defaultsearchfields
doc_mapping:
  mode: dynamic
  field_mappings:
    - {name: id, type: u64}
    - {name: inner_json, type: json}
    - {name: regular_field, type: text}
  dynamic_mapping: {expand_dots: true, fast: true}
search_settings:
  default_search_fields: [regular_field, some_dynamic_field, inner_json.somefieldinjson]
"#;
    index_with(
        &local,
        config,
        &[&[
            json!({"id": 1, "some_dynamic_field": "hello"}),
            json!({"id": 2, "inner_json": {"somefieldinjson": "allo"}}),
            json!({"id": 3, "regular_field": "bonjour"}),
        ]],
    )
    .await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    for (query, hit) in [
        ("hello", json!({"id": 1, "some_dynamic_field": "hello"})),
        (
            "allo",
            json!({"id": 2, "inner_json": {"somefieldinjson": "allo"}}),
        ),
        ("bonjour", json!({"id": 3, "regular_field": "bonjour"})),
    ] {
        let (status, body) = search(&service, "defaultsearchfields", &[("query", query)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["num_hits"], json!(1), "{query}: {body}");
        assert_eq!(body["hits"], json!([hit]), "{query}");
    }

    // 0002_invalid_default_fields
    let failing = |mode: &str, mappings: Value, dynamic: Value, field: &str| {
        json!({
            "version": "0.7",
            "index_id": "failing",
            "doc_mapping": {"mode": mode, "field_mappings": mappings, "dynamic_mapping": dynamic},
            "search_settings": {"default_search_fields": [field]},
        })
    };
    let no_dynamic = |mut config: Value| {
        config["doc_mapping"]
            .as_object_mut()
            .unwrap()
            .remove("dynamic_mapping");
        config
    };
    let message = config_error(no_dynamic(failing(
        "lenient",
        json!([]),
        json!({}),
        "regular_field",
    )));
    assert!(
        message.contains("unknown default search field `regular_field`"),
        "{message}"
    );
    let message = config_error(failing(
        "dynamic",
        json!([{"name": "text", "type": "text"}]),
        json!({}),
        "text.inner",
    ));
    assert!(
        message.contains("unknown default search field `text.inner`"),
        "{message}"
    );
    let message = config_error(failing(
        "dynamic",
        json!([]),
        json!({"indexed": false}),
        "some_field",
    ));
    assert!(
        message.contains("default search field `some_field` is not indexed"),
        "{message}"
    );
}

#[tokio::test]
async fn tag_fields() {
    // 0001_allowed_types
    let with_tag = |name: &str, mapping: Value| {
        let mut config = json!({
            "version": "0.7",
            "index_id": name,
            "doc_mapping": {"mode": "dynamic", "field_mappings": [], "tag_fields": ["tagged"]},
        });
        if !mapping.is_null() {
            config["doc_mapping"]["field_mappings"] = json!([mapping]);
        }
        config
    };
    let allowed = json!({
        "version": "0.7",
        "index_id": "allowedtypes",
        "doc_mapping": {
            "mode": "dynamic",
            "field_mappings": [
                {"name": "text1", "type": "text", "tokenizer": "raw"},
                {"name": "number1", "type": "u64"},
                {"name": "number2", "type": "i64"},
            ],
            "tag_fields": ["text1", "number1", "number2"],
        },
    });
    DocMapper::new(&IndexConfig::from_yaml(&allowed.to_string()).unwrap()).unwrap();
    for (mapping, needle) in [
        (
            json!({"name": "tagged", "type": "text", "tokenizer": "default"}),
            "`raw` tokenizer",
        ),
        (json!({"name": "tagged", "type": "f64"}), "not on f64"),
        (json!({"name": "tagged", "type": "bool"}), "not on bool"),
        (json!({"name": "tagged", "type": "json"}), "not on json"),
        (json!({"name": "tagged", "type": "ip"}), "not on ip"),
        (json!({"name": "tagged", "type": "bytes"}), "not on bytes"),
        (
            json!({"name": "tagged", "type": "datetime", "input_formats": ["rfc3339"]}),
            "not on datetime",
        ),
        (Value::Null, "dynamic mapping"),
    ] {
        let message = config_error(with_tag("refused", mapping.clone()));
        assert!(
            message.contains("tag field `tagged`"),
            "{mapping}: {message}"
        );
        assert!(message.contains(needle), "{mapping}: {message}");
    }

    // 0002_negative_tags, over three splits.
    let local = LocalIndex::new().await;
    let config = r#"
version: "0.7"
index_id: simple
doc_mapping:
  field_mappings:
    - {name: seq, type: u64}
    - {name: tag, type: u64}
  tag_fields: ["tag"]
"#;
    index_with(
        &local,
        config,
        &[
            &[json!({"seq": 1, "tag": 1}), json!({"seq": 2, "tag": 2})],
            &[json!({"seq": 1, "tag": 1}), json!({"seq": 3, "tag": null})],
            &[json!({"seq": 4, "tag": 1})],
        ],
    )
    .await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    for (query, expected) in [("tag:1", 3), ("-tag:2", 4), ("tag:2", 1), ("-tag:1", 2)] {
        expect_hits(&service, "simple", query, expected).await;
    }
    // Each split lists its tags, and a query pinning one searches only the splits that have
    // it: `tag:2` is in one split of three.
    let metadata = local.metastore.index_metadata("simple").await.unwrap();
    let mut listed: Vec<Vec<String>> = metadata
        .published_splits()
        .map(|split| split.tags.clone().unwrap().into_iter().collect())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [vec!["tag:1"], vec!["tag:1"], vec!["tag:1", "tag:2"]]
    );
    let (_, body) = search(&service, "simple", &[("query", "tag:2")]).await;
    assert_eq!(body["num_hits"], json!(1));
    let plan = service
        .plan(
            "simple",
            &hydrant_search::SearchParams::from_native(&hydrant_search::SearchRequest {
                query: "tag:2".to_string(),
                ..Default::default()
            })
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(plan.splits().len(), 1, "tag pruning leaves one split");
}
