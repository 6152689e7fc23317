//! Differential test: random documents, random queries from the grammar, and the searcher's
//! hits and counts compared with a brute-force evaluation of the same query on the same
//! documents.

use std::collections::BTreeSet;
use std::sync::Arc;

use hydrant_index::config::IndexConfig;
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use hydrant_storage::{LocalStorage, PutMode, Storage, StorageUri};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const CONFIG: &str = r#"
index_id: diff
doc_mapping:
  mode: lenient
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64}
    - {name: tag, type: text, tokenizer: raw, fast: true}
    - {name: body, type: text, tokenizer: default, record: position}
    - {name: n, type: u64, fast: true}
    - {name: x, type: i64}
    - {name: f, type: f64, fast: true}
    - {name: ok, type: bool, fast: true}
  timestamp_field: ts
  index_field_presence: true
search_settings:
  default_search_fields: [body]
"#;

const TAGS: [&str; 4] = ["alpha", "beta", "gamma-ray", "Delta"];
const WORDS: [&str; 6] = ["red", "green", "blue", "river", "rock", "roll"];

#[derive(Clone, Debug)]
struct Doc {
    id: u64,
    tag: Option<&'static str>,
    body: Vec<String>,
    n: Option<u64>,
    x: Option<i64>,
    f: Option<f64>,
    ok: Option<bool>,
}

impl Doc {
    fn to_json(&self) -> String {
        let mut object = serde_json::Map::new();
        object.insert("ts".into(), (1_700_000_000 + self.id).into());
        object.insert("id".into(), self.id.into());
        if let Some(tag) = self.tag {
            object.insert("tag".into(), tag.into());
        }
        if !self.body.is_empty() {
            object.insert("body".into(), self.body.join(" ").into());
        }
        if let Some(n) = self.n {
            object.insert("n".into(), n.into());
        }
        if let Some(x) = self.x {
            object.insert("x".into(), x.into());
        }
        if let Some(f) = self.f {
            object.insert("f".into(), f.into());
        }
        if let Some(ok) = self.ok {
            object.insert("ok".into(), ok.into());
        }
        serde_json::Value::Object(object).to_string()
    }

    /// Tokens of `body` as the default tokenizer makes them.
    fn body_tokens(&self) -> Vec<String> {
        tokenize(&self.body.join(" "))
    }
}

fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn doc_strategy(id: u64) -> impl Strategy<Value = Doc> {
    (
        prop::option::of(prop::sample::select(&TAGS[..])),
        prop::collection::vec(
            (prop::sample::select(&WORDS[..]), any::<bool>()).prop_map(|(word, upper)| {
                if upper {
                    word.to_uppercase()
                } else {
                    word.to_string()
                }
            }),
            0..5,
        ),
        prop::option::of(0u64..20),
        prop::option::of(-10i64..10),
        prop::option::of((0u32..20).prop_map(|half| f64::from(half) / 2.0)),
        prop::option::of(any::<bool>()),
    )
        .prop_map(move |(tag, body, n, x, f, ok)| Doc {
            id,
            tag,
            body,
            n,
            x,
            f,
            ok,
        })
}

/// A query of the grammar, printable as a query string and evaluable by brute force.
#[derive(Clone, Debug)]
enum Q {
    All,
    Tag(String),
    TagPrefix(String),
    Word {
        field: bool,
        word: String,
    },
    Phrase(String, String),
    BodyPrefix(String),
    NRange {
        low: Option<(u64, bool)>,
        high: Option<(u64, bool)>,
    },
    XAtLeast(i64),
    FBelow(f64),
    Ok(bool),
    TagIn(Vec<String>),
    Exists(&'static str),
    And(Vec<Q>),
    Or(Vec<Q>),
    Not(Box<Q>),
}

impl Q {
    fn to_query_string(&self) -> String {
        match self {
            Q::All => "*".to_string(),
            Q::Tag(value) => format!("tag:{value}"),
            Q::TagPrefix(prefix) => format!("tag:{prefix}*"),
            Q::Word { field: true, word } => format!("body:{word}"),
            Q::Word { field: false, word } => word.clone(),
            Q::Phrase(first, second) => format!("body:\"{first} {second}\""),
            Q::BodyPrefix(prefix) => format!("body:{prefix}*"),
            Q::NRange { low, high } => {
                let low = match low {
                    None => "[*".to_string(),
                    Some((value, true)) => format!("[{value}"),
                    Some((value, false)) => format!("{{{value}"),
                };
                let high = match high {
                    None => "*]".to_string(),
                    Some((value, true)) => format!("{value}]"),
                    Some((value, false)) => format!("{value}}}"),
                };
                format!("n:{low} TO {high}")
            }
            Q::XAtLeast(value) => format!("x:>={value}"),
            Q::FBelow(value) => format!("f:<{value}"),
            Q::Ok(value) => format!("ok:{value}"),
            Q::TagIn(values) => format!("tag:IN [{}]", values.join(" ")),
            Q::Exists(field) => format!("{field}:*"),
            Q::And(clauses) => format!(
                "({})",
                clauses
                    .iter()
                    .map(Q::to_query_string)
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
            Q::Or(clauses) => format!(
                "({})",
                clauses
                    .iter()
                    .map(Q::to_query_string)
                    .collect::<Vec<_>>()
                    .join(" OR ")
            ),
            Q::Not(inner) => format!("NOT {}", inner.to_query_string()),
        }
    }

    fn matches(&self, doc: &Doc) -> bool {
        match self {
            Q::All => true,
            Q::Tag(value) => doc.tag == Some(value.as_str()),
            Q::TagPrefix(prefix) => doc.tag.is_some_and(|tag| tag.starts_with(prefix.as_str())),
            Q::Word { word, .. } => {
                let wanted = tokenize(word);
                let tokens = doc.body_tokens();
                match wanted.len() {
                    0 => false,
                    1 => tokens.contains(&wanted[0]),
                    _ => tokens
                        .windows(wanted.len())
                        .any(|window| window == wanted.as_slice()),
                }
            }
            Q::Phrase(first, second) => {
                let tokens = doc.body_tokens();
                let (first, second) = (first.to_lowercase(), second.to_lowercase());
                tokens
                    .windows(2)
                    .any(|window| window[0] == first && window[1] == second)
            }
            Q::BodyPrefix(prefix) => doc
                .body_tokens()
                .iter()
                .any(|token| token.starts_with(&prefix.to_lowercase())),
            Q::NRange { low, high } => doc.n.is_some_and(|n| {
                let above = match low {
                    None => true,
                    Some((value, true)) => n >= *value,
                    Some((value, false)) => n > *value,
                };
                let below = match high {
                    None => true,
                    Some((value, true)) => n <= *value,
                    Some((value, false)) => n < *value,
                };
                above && below
            }),
            Q::XAtLeast(value) => doc.x.is_some_and(|x| x >= *value),
            Q::FBelow(value) => doc.f.is_some_and(|f| f < *value),
            Q::Ok(value) => doc.ok == Some(*value),
            Q::TagIn(values) => doc
                .tag
                .is_some_and(|tag| values.iter().any(|value| value == tag)),
            Q::Exists(field) => match *field {
                "n" => doc.n.is_some(),
                "tag" => doc.tag.is_some(),
                "f" => doc.f.is_some(),
                // Not fast: answered by the field presence index.
                "x" => doc.x.is_some(),
                "body" => !doc.body.is_empty(),
                _ => doc.ok.is_some(),
            },
            Q::And(clauses) => clauses.iter().all(|clause| clause.matches(doc)),
            Q::Or(clauses) => clauses.iter().any(|clause| clause.matches(doc)),
            Q::Not(inner) => !inner.matches(doc),
        }
    }
}

fn leaf_strategy() -> impl Strategy<Value = Q> {
    let word = prop::sample::select(&WORDS[..]).prop_map(str::to_string);
    let tag_value =
        prop::sample::select(&["alpha", "beta", "gamma-ray", "Delta", "delta", "omega"][..])
            .prop_map(str::to_string);
    let bound = prop::option::of((0u64..20, any::<bool>()));
    prop_oneof![
        Just(Q::All),
        tag_value.clone().prop_map(Q::Tag),
        prop::sample::select(&["a", "g", "be", "De", "x"][..])
            .prop_map(|prefix| Q::TagPrefix(prefix.to_string())),
        (any::<bool>(), word.clone(), any::<bool>()).prop_map(|(field, word, upper)| Q::Word {
            field,
            word: if upper { word.to_uppercase() } else { word },
        }),
        (word.clone(), word.clone()).prop_map(|(first, second)| Q::Phrase(first, second)),
        prop::sample::select(&["r", "ro", "gr", "b", "riv"][..])
            .prop_map(|prefix| Q::BodyPrefix(prefix.to_string())),
        (bound.clone(), bound)
            .prop_filter("a range needs a bound", |(low, high)| low.is_some()
                || high.is_some())
            .prop_map(|(low, high)| Q::NRange { low, high }),
        (-12i64..12).prop_map(Q::XAtLeast),
        (0u32..22).prop_map(|half| Q::FBelow(f64::from(half) / 2.0)),
        any::<bool>().prop_map(Q::Ok),
        prop::collection::vec(tag_value, 1..3).prop_map(Q::TagIn),
        prop::sample::select(&["n", "tag", "f", "ok", "x", "body"][..]).prop_map(Q::Exists),
    ]
}

fn query_strategy() -> impl Strategy<Value = Q> {
    leaf_strategy().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Q::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Q::Or),
            inner.prop_map(|q| Q::Not(Box::new(q))),
        ]
    })
}

/// Indexes `docs` into three splits and returns a search service over them.
async fn index(docs: &[Doc]) -> (tempfile::TempDir, SearchService) {
    let temp_dir = tempfile::tempdir().unwrap();
    let staging_dir = temp_dir.path().join("staging");
    let staging = LocalStorage::new(&staging_dir).unwrap();
    let metastore = Metastore::new(Arc::new(
        LocalStorage::new(temp_dir.path().join("index")).unwrap(),
    ));
    metastore
        .create_index(IndexConfig::from_yaml(CONFIG).unwrap())
        .await
        .unwrap();
    let indexer = Indexer::new(
        metastore.clone(),
        StagingBuckets::default().bind("staging", StorageUri::Local(staging_dir)),
    );
    for (number, chunk) in docs.chunks(docs.len().div_ceil(3).max(1)).enumerate() {
        let body: String = chunk.iter().map(|doc| doc.to_json() + "\n").collect();
        let key = format!("object-{number}");
        staging
            .put(&key, body.into_bytes().into(), PutMode::Create)
            .await
            .unwrap();
        indexer
            .index_objects("diff", &[ObjectRef::new("staging", key)], None)
            .await
            .unwrap();
    }
    (
        temp_dir,
        SearchService::new(metastore, SearcherConfig::default()),
    )
}

#[test]
fn searcher_agrees_with_brute_force() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // PROPTEST_CASES raises the number of cases for a longer hunt.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let case = (
        prop::collection::vec(0u8..1, 1..60).prop_flat_map(|slots| {
            slots
                .into_iter()
                .enumerate()
                .map(|(id, _)| doc_strategy(id as u64))
                .collect::<Vec<_>>()
        }),
        prop::collection::vec(query_strategy(), 12),
    );
    runner
        .run(&case, |(docs, queries)| {
            runtime.block_on(async {
                let (_temp_dir, service) = index(&docs).await;
                for query in &queries {
                    let query_string = query.to_query_string();
                    let expected: BTreeSet<u64> = docs
                        .iter()
                        .filter(|doc| query.matches(doc))
                        .map(|doc| doc.id)
                        .collect();
                    let mut request = SearchRequest::new(query_string.clone());
                    request.max_hits = docs.len();
                    let response = service
                        .search("diff", &request)
                        .await
                        .unwrap_or_else(|error| panic!("`{query_string}` failed: {error}"));
                    let found: BTreeSet<u64> = response
                        .hits
                        .iter()
                        .map(|hit| hit["id"].as_u64().unwrap())
                        .collect();
                    prop_assert_eq!(
                        response.num_hits,
                        expected.len() as u64,
                        "count of `{}`",
                        query_string
                    );
                    prop_assert_eq!(&found, &expected, "hits of `{}`", query_string);
                }
                Ok(())
            })
        })
        .unwrap();
}
