//! An index updated while it holds splits: a field added and the default search fields
//! changed, then more records indexed with the new mapping. Searches over old and new splits
//! together answer as a user expects (a field new to the mapping is absent from older
//! documents), sorts and terms aggregations on the new field treat older documents as missing
//! the value, as Elasticsearch does, and a forbidden change is refused, naming it. Every count
//! is checked against a brute-force pass over the records.

mod common;

use hydrant_ingest::testing::LocalIndex;
use hydrant_search::http::ResponseBody;
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};

const INDEX: &str = "app-logs";
const OLD_DOCS: u64 = 300;
const NEW_DOCS: u64 = 200;
const DOCS_PER_SPLIT: u64 = 100;

const OLD_CONFIG: &str = r#"
index_id: app-logs
doc_mapping:
  mode: lenient
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: message, type: text, tokenizer: default, record: position}
    - {name: service, type: text, tokenizer: raw, fast: true}
  timestamp_field: ts
search_settings:
  default_search_fields: [message]
"#;

/// The old config with `level` and `latency_ms` added, first (so that every later field's id
/// in the schema moves), and `level` searched by default as well as `message`.
const NEW_CONFIG: &str = r#"
index_id: app-logs
doc_mapping:
  mode: lenient
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: level, type: text, tokenizer: raw, fast: true}
    - {name: latency_ms, type: u64, fast: true}
    - {name: message, type: text, tokenizer: default, record: position}
    - {name: service, type: text, tokenizer: raw, fast: true}
  timestamp_field: ts
search_settings:
  default_search_fields: [message, level]
"#;

const WORDS: [&str; 5] = ["started", "warn", "timeout", "retry", "done"];
const LEVELS: [&str; 3] = ["info", "warn", "error"];

/// Record `id`: the old ones never have `level` or `latency_ms` (the producer added them with
/// the update); of the new ones, every fifth lacks `level` and every seventh `latency_ms`.
fn record(id: u64) -> Value {
    let mut record = json!({
        "ts": 1_700_000_000 + id,
        "message": format!("request {} {}", WORDS[(id % 5) as usize], id),
        "service": format!("svc-{}", id % 4),
    });
    if id >= OLD_DOCS {
        if !id.is_multiple_of(5) {
            record["level"] = json!(LEVELS[(id % 3) as usize]);
        }
        if !id.is_multiple_of(7) {
            record["latency_ms"] = json!((id * 37) % 1000);
        }
    }
    record
}

fn count_where(predicate: impl Fn(&Value) -> bool) -> u64 {
    (0..OLD_DOCS + NEW_DOCS)
        .filter(|id| predicate(&record(*id)))
        .count() as u64
}

async fn index_records(local: &LocalIndex, ids: std::ops::Range<u64>) {
    let mut start = ids.start;
    while start < ids.end {
        let end = (start + DOCS_PER_SPLIT).min(ids.end);
        let body: String = (start..end)
            .map(|id| record(id).to_string() + "\n")
            .collect();
        let key = format!("{INDEX}/records-{start}");
        local.put_object(&key, body.into_bytes()).await;
        local.index(INDEX, &[&key]).await;
        start = end;
    }
}

fn json_body(response: hydrant_search::http::HttpResponse, what: &str) -> Value {
    let status = response.status;
    let ResponseBody::Json { value, .. } = response.body else {
        panic!("{what}: not JSON")
    };
    assert_eq!(status, 200, "{what}: {value}");
    value
}

async fn native(service: &SearchService, query_string: &str) -> Value {
    json_body(
        common::request(
            service,
            "GET",
            &format!("/api/v1/{INDEX}/search"),
            Some(query_string),
            b"",
        )
        .await,
        query_string,
    )
}

async fn elastic(service: &SearchService, body: Value) -> Value {
    json_body(
        common::request(
            service,
            "POST",
            &format!("/api/v1/_elastic/{INDEX}/_search"),
            None,
            body.to_string().as_bytes(),
        )
        .await,
        &body.to_string(),
    )
}

/// The index updated after 3 splits of the old mapping, then 2 of the new one.
async fn updated_index() -> LocalIndex {
    let local = LocalIndex::with_index(OLD_CONFIG).await;
    index_records(&local, 0..OLD_DOCS).await;
    let new_config = hydrant_index::config::IndexConfig::from_yaml(NEW_CONFIG).unwrap();
    let (update, _) = local.metastore.update_index(new_config).await.unwrap();
    assert_eq!(update.added_fields, ["latency_ms", "level"]);
    assert!(update.search_settings_changed);
    index_records(&local, OLD_DOCS..OLD_DOCS + NEW_DOCS).await;
    let metadata = local.metastore.index_splits(INDEX).await.unwrap();
    let mappings: std::collections::BTreeSet<&str> = (metadata.published_splits())
        .map(|split| split.doc_mapping_uid.as_str())
        .collect();
    assert_eq!(mappings.len(), 2, "splits of both mappings: {mappings:?}");
    local
}

#[tokio::test]
async fn searches_over_splits_of_old_and_new_mappings() {
    let local = updated_index().await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let has = |field: &'static str, value: &'static str| {
        move |record: &Value| record[field].as_str() == Some(value)
    };
    let in_message = |word: &'static str| {
        move |record: &Value| record["message"].as_str().unwrap().contains(word)
    };
    let cases: Vec<(&str, u64)> = vec![
        ("*", OLD_DOCS + NEW_DOCS),
        // A field of both mappings, in old and new splits alike.
        ("message:timeout", count_where(in_message("timeout"))),
        ("service:svc-1", count_where(has("service", "svc-1"))),
        // The new field: only new documents have it.
        ("level:warn", count_where(has("level", "warn"))),
        (
            "level:*",
            count_where(|record| record.get("level").is_some()),
        ),
        (
            "NOT level:warn",
            OLD_DOCS + NEW_DOCS - count_where(has("level", "warn")),
        ),
        (
            "latency_ms:>=500",
            count_where(|record| record["latency_ms"].as_u64().is_some_and(|ms| ms >= 500)),
        ),
        // The new default search fields: `warn` in a message (any split) or as a level (new
        // splits only: older ones have no `level` to search).
        (
            "warn",
            count_where(|record| in_message("warn")(record) || has("level", "warn")(record)),
        ),
        (
            "timeout OR level:error",
            count_where(|record| in_message("timeout")(record) || has("level", "error")(record)),
        ),
    ];
    for (query, expected) in cases {
        let answer = native(&service, &format!("query={query}&max_hits=0")).await;
        assert_eq!(answer["num_hits"], expected, "native `{query}`");
        let body = json!({"query": {"query_string": {"query": query}}, "size": 0, "track_total_hits": true});
        let answer = elastic(&service, body).await;
        assert_eq!(
            answer["hits"]["total"]["value"], expected,
            "elastic `{query}`"
        );
    }
    let exists = elastic(
        &service,
        json!({"query": {"exists": {"field": "latency_ms"}}, "size": 0}),
    )
    .await;
    assert_eq!(
        exists["hits"]["total"]["value"],
        count_where(|record| record.get("latency_ms").is_some())
    );
    // Documents of older splits are shown as they were: without the new fields.
    let oldest = native(&service, "query=*&max_hits=1&sort_by=ts").await;
    assert_eq!(oldest["hits"][0]["message"], "request started 0");
    assert!(oldest["hits"][0].get("level").is_none(), "{oldest}");
}

/// Elasticsearch sorts documents without a value last, ascending or descending, and a terms
/// aggregation counts only documents with a value (unless `missing` names one for them).
#[tokio::test]
async fn sorts_and_aggregations_treat_older_documents_as_missing_the_new_field() {
    let local = updated_index().await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let total = OLD_DOCS + NEW_DOCS;
    let mut values: Vec<u64> = (0..total)
        .filter_map(|id| record(id)["latency_ms"].as_u64())
        .collect();
    let missing = total as usize - values.len();
    values.sort_unstable();
    for order in ["asc", "desc"] {
        let answer = elastic(
            &service,
            json!({"size": total, "sort": [{"latency_ms": {"order": order}}], "query": {"match_all": {}}}),
        )
        .await;
        let hits = answer["hits"]["hits"].as_array().unwrap();
        assert_eq!(hits.len(), total as usize);
        let sorted: Vec<Option<u64>> = hits
            .iter()
            .map(|hit| hit["_source"]["latency_ms"].as_u64())
            .collect();
        let mut expected: Vec<Option<u64>> = if order == "asc" {
            values.iter().copied().map(Some).collect()
        } else {
            values.iter().rev().copied().map(Some).collect()
        };
        expected.extend(std::iter::repeat_n(None, missing));
        assert_eq!(sorted, expected, "sort latency_ms {order}");
    }
    // The native API sorts missing values last too (Quickwit's `sort_by`).
    let answer = native(
        &service,
        &format!("query=*&max_hits={total}&sort_by=-latency_ms"),
    )
    .await;
    let last = &answer["hits"][total as usize - 1];
    assert!(last.get("latency_ms").is_none(), "{last}");

    let per_level = |level: &'static str| count_where(move |record| record["level"] == level);
    let answer = elastic(
        &service,
        json!({"size": 0, "aggs": {"levels": {"terms": {"field": "level", "size": 10}}}}),
    )
    .await;
    let buckets = &answer["aggregations"]["levels"]["buckets"];
    let counted: Vec<(String, u64)> = buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| {
            let key = bucket["key"].as_str().unwrap().to_string();
            (key, bucket["doc_count"].as_u64().unwrap())
        })
        .collect();
    let mut expected: Vec<(String, u64)> = LEVELS
        .iter()
        .map(|level| (level.to_string(), per_level(level)))
        .collect();
    expected.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
    assert_eq!(counted, expected, "{answer}");
    assert_eq!(answer["aggregations"]["levels"]["sum_other_doc_count"], 0);

    // `missing` gives documents without a level, old and new, a bucket of their own.
    let answer = elastic(
        &service,
        json!({"size": 0, "aggs": {"levels": {"terms": {"field": "level", "missing": "none"}}}}),
    )
    .await;
    let none = answer["aggregations"]["levels"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|bucket| bucket["key"] == "none")
        .cloned()
        .unwrap_or_else(|| panic!("no bucket for missing levels: {answer}"));
    assert_eq!(
        none["doc_count"],
        count_where(|record| record.get("level").is_none())
    );
    // A metric over the new field reads only the documents that have it.
    let answer = elastic(
        &service,
        json!({"size": 0, "aggs": {"latency": {"stats": {"field": "latency_ms"}}}}),
    )
    .await;
    assert_eq!(answer["aggregations"]["latency"]["count"], values.len());
    assert_eq!(
        answer["aggregations"]["latency"]["sum"],
        values.iter().sum::<u64>() as f64
    );
}

/// Relevance mixes splits of both mappings: BM25 statistics are summed by field name, so a
/// document's score does not depend on the mapping of its split.
#[tokio::test]
async fn ranking_spans_mappings() {
    let local = updated_index().await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let answer = elastic(
        &service,
        json!({"size": 500, "query": {"match": {"message": "timeout"}}}),
    )
    .await;
    let hits = answer["hits"]["hits"].as_array().unwrap();
    assert_eq!(
        hits.len() as u64,
        count_where(|r| r["message"].as_str().unwrap().contains("timeout"))
    );
    // Every match has one `timeout` in a message of three tokens: equal scores, whichever
    // mapping built the split, only if the statistics of `message` are summed across splits
    // whose schemas number it differently.
    let first = hits[0]["_score"].as_f64().unwrap();
    for hit in hits {
        assert!(
            (hit["_score"].as_f64().unwrap() - first).abs() < 1e-6,
            "{hit}"
        );
    }
}

#[tokio::test]
async fn forbidden_changes_are_refused_naming_them() {
    let local = LocalIndex::with_index(OLD_CONFIG).await;
    index_records(&local, 0..DOCS_PER_SPLIT).await;
    let before = local.metastore.index_info(INDEX).await.unwrap();
    let cases = [
        (
            OLD_CONFIG.replace(
                "{name: service, type: text, tokenizer: raw, fast: true}",
                "{name: service, type: u64, fast: true}",
            ),
            "field `service` cannot change type from `text` (in the current mapping) to `u64`",
        ),
        (
            OLD_CONFIG.replace("timestamp_field: ts", ""),
            "doc_mapping.timestamp_field cannot change",
        ),
        (
            OLD_CONFIG.replace(
                "  timestamp_field: ts",
                "  timestamp_field: ts\n  tag_fields: [service]",
            ),
            "doc_mapping.tag_fields cannot change",
        ),
        (
            OLD_CONFIG.replace("mode: lenient", "mode: strict"),
            "doc_mapping.mode cannot change",
        ),
    ];
    for (config, message) in cases {
        let config = hydrant_index::config::IndexConfig::from_yaml(&config).unwrap();
        let error = local
            .metastore
            .update_index(config)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(message),
            "expected `{message}`, got: {error}"
        );
    }
    let after = local.metastore.index_info(INDEX).await.unwrap();
    assert_eq!(after, before, "a refused update changes nothing");
}
