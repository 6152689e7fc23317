//! `field:*` and Elasticsearch's `exists` on every kind of field, fast or not, with and without
//! `index_field_presence`, against a brute-force count of the documents that hold the field.

mod common;

use hydrant_ingest::testing::LocalIndex;
use hydrant_search::http::ResponseBody;
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

const NUM_DOCS: u64 = 300;
const NUM_SPLITS: u64 = 3;

fn config(index_id: &str, presence: bool) -> String {
    format!(
        r#"
index_id: {index_id}
doc_mapping:
  mode: dynamic
  field_mappings:
    - {{name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}}
    - {{name: body, type: text, tokenizer: default, record: position}}
    - {{name: tag, type: text, tokenizer: raw}}
    - {{name: tag_fast, type: text, tokenizer: raw, fast: true}}
    - {{name: n, type: u64}}
    - {{name: n_fast, type: u64, fast: true}}
    - {{name: i, type: i64}}
    - {{name: f, type: f64}}
    - {{name: ok, type: bool}}
    - {{name: at, type: datetime, input_formats: [unix_timestamp]}}
    - {{name: ip, type: ip}}
    - {{name: blob, type: bytes}}
    - name: tags
      type: object
      field_mappings:
        - {{name: env, type: text, tokenizer: raw}}
        - {{name: zone, type: text, tokenizer: default}}
    - {{name: attrs, type: json}}
  timestamp_field: ts
  index_field_presence: {presence}
"#
    )
}

/// A deterministic coin per document and field.
fn coin(id: u64, salt: u64) -> bool {
    let mut x = id
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    (x >> 29) & 1 == 1
}

fn document(id: u64) -> Value {
    let mut doc = json!({"ts": 1_700_000_000 + id});
    let object = doc.as_object_mut().expect("an object");
    let mut put = |salt: u64, name: &str, value: Value| {
        if coin(id, salt) {
            object.insert(name.to_string(), value);
        }
    };
    put(1, "body", json!(format!("word{} and more", id % 7)));
    put(2, "tag", json!(format!("t-{}", id % 5)));
    put(3, "tag_fast", json!(format!("f-{}", id % 3)));
    put(4, "n", json!(id));
    put(5, "n_fast", json!(id * 2));
    put(6, "i", json!(-(id as i64)));
    put(7, "f", json!(id as f64 / 4.0));
    put(8, "ok", json!(id.is_multiple_of(2)));
    put(9, "at", json!(1_600_000_000 + id));
    put(10, "ip", json!(format!("10.0.{}.{}", id / 256, id % 256)));
    put(11, "blob", json!("aGVsbG8="));
    put(12, "extra", json!(format!("x{id}")));
    let mut tags = serde_json::Map::new();
    if coin(id, 13) {
        tags.insert("env".into(), json!(["prod", "dev"][id as usize % 2]));
    }
    if coin(id, 14) {
        tags.insert("zone".into(), json!("eu west"));
    }
    if !tags.is_empty() {
        object.insert("tags".into(), Value::Object(tags));
    }
    let mut attrs = serde_json::Map::new();
    if coin(id, 15) {
        attrs.insert("env".into(), json!("staging"));
    }
    if coin(id, 16) {
        attrs.insert("deep".into(), json!({"x": id}));
    }
    if !attrs.is_empty() {
        object.insert("attrs".into(), Value::Object(attrs));
    }
    doc
}

/// Whether `doc` holds a value at the dotted `path`, or below it.
fn holds(doc: &Value, path: &str) -> bool {
    let mut value = doc;
    for segment in path.split('.') {
        match value.get(segment) {
            Some(inner) => value = inner,
            None => return false,
        }
    }
    !value.is_null()
}

const PATHS: [&str; 20] = [
    "body",
    "tag",
    "tag_fast",
    "n",
    "n_fast",
    "i",
    "f",
    "ok",
    "at",
    "ip",
    "blob",
    "extra",
    "tags",
    "tags.env",
    "tags.zone",
    "attrs",
    "attrs.env",
    "attrs.deep",
    "attrs.deep.x",
    "ts",
];

async fn index(presence: bool) -> (LocalIndex, String) {
    let index_id = format!("exists-{presence}");
    let local = LocalIndex::with_index(&config(&index_id, presence)).await;
    let per_split = NUM_DOCS / NUM_SPLITS;
    for split in 0..NUM_SPLITS {
        let body: String = (split * per_split..(split + 1) * per_split)
            .map(|id| document(id).to_string() + "\n")
            .collect();
        let key = format!("{index_id}/object-{split}");
        local.put_object(&key, body.into_bytes()).await;
        local.index(&index_id, &[&key]).await;
    }
    (local, index_id)
}

fn json_body(response: hydrant_search::http::HttpResponse, what: &str) -> Value {
    let status = response.status;
    let ResponseBody::Json { value, .. } = response.body else {
        panic!("{what}: not JSON")
    };
    assert_eq!(status, 200, "{what}: {value}");
    value
}

#[tokio::test]
async fn exists_agrees_with_brute_force_on_every_field_with_and_without_presence() {
    for presence in [true, false] {
        let (local, index_id) = index(presence).await;
        let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
        for path in PATHS {
            let expected = (0..NUM_DOCS)
                .filter(|id| holds(&document(*id), path))
                .count() as u64;
            assert!(
                expected > 0 && expected < NUM_DOCS || path == "ts",
                "{path}: {expected}"
            );
            let native = json_body(
                common::request(
                    &service,
                    "GET",
                    &format!("/api/v1/{index_id}/search"),
                    Some(&format!("query={path}:*&max_hits=0")),
                    b"",
                )
                .await,
                path,
            );
            assert_eq!(
                native["num_hits"], expected,
                "{path}:* (presence {presence})"
            );
            let body = json!({"query": {"exists": {"field": path}}}).to_string();
            let elastic = json_body(
                common::request(
                    &service,
                    "POST",
                    &format!("/api/v1/_elastic/{index_id}/_count"),
                    None,
                    body.as_bytes(),
                )
                .await,
                path,
            );
            assert_eq!(
                elastic["count"], expected,
                "exists {path} (presence {presence})"
            );
            // And inverted: the documents without it.
            let missing = json_body(
                common::request(
                    &service,
                    "GET",
                    &format!("/api/v1/{index_id}/search"),
                    Some(&format!("query=NOT+{path}:*&max_hits=0")),
                    b"",
                )
                .await,
                path,
            );
            assert_eq!(missing["num_hits"], NUM_DOCS - expected, "NOT {path}:*");
        }
    }
}
