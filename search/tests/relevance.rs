//! Relevance: Elasticsearch searches with no sort rank by BM25 over the whole index, whatever
//! split holds a document. For full-text queries over generated records in splits of very
//! different sizes and vocabularies (where each split's own statistics would rank
//! differently), every hit's `_score`, the ranking and `max_score` equal a brute-force BM25
//! over the same documents with tantivy's tokenizer and parameters; each hit's `_id` reads its
//! document back through `GET _doc`.

mod common;

use std::collections::BTreeSet;

use hydrant_ingest::testing::LocalIndex;
use hydrant_search::http::ResponseBody;
use hydrant_search::searcher::fan_out::{FanOut, LeafInvoker};
use hydrant_search::searcher::{LeafSearchRequest, LeafSearchResponse};
use hydrant_search::{SearchService, SearcherConfig};
use serde_json::{Value, json};
use tantivy::fieldnorm::FieldNormReader;

const INDEX: &str = "relevance";
const CONFIG: &str = r#"
index_id: relevance
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64, fast: true}
    - {name: kind, type: text, tokenizer: raw}
    - {name: body, type: text, tokenizer: default, record: freq, fieldnorms: true}
  timestamp_field: ts
search_settings:
  default_search_fields: [body]
"#;

const WORDS: [&str; 10] = [
    "river", "rock", "green", "stone", "cloud", "rain", "forest", "night", "storm", "light",
];
/// Documents per split: uneven, so that per-split statistics would disagree.
const SPLIT_SIZES: [u64; 5] = [10, 40, 120, 25, 5];

/// A deterministic stream of small numbers.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

struct Doc {
    id: u64,
    split: usize,
    tokens: Vec<String>,
}

fn documents() -> Vec<Doc> {
    let mut random = Lcg(42);
    let mut docs = Vec::new();
    let mut id = 0;
    for (split, size) in SPLIT_SIZES.iter().enumerate() {
        for _ in 0..*size {
            // Each split leans on a different part of the vocabulary.
            let length = 1 + random.below(24) as usize;
            let tokens = (0..length)
                .map(|_| {
                    let word = if random.below(3) == 0 {
                        random.below(WORDS.len() as u64) as usize
                    } else {
                        (split * 2 + random.below(3) as usize) % WORDS.len()
                    };
                    WORDS[word].to_string()
                })
                .collect();
            docs.push(Doc { id, split, tokens });
            id += 1;
        }
    }
    docs
}

fn record(doc: &Doc) -> String {
    // Capitals and punctuation: the tokenizer lowercases and splits them away.
    let body = doc
        .tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            if i % 5 == 0 {
                token.to_uppercase()
            } else {
                token.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "ts": 1_700_000_000 + doc.id,
        "id": doc.id,
        "kind": if doc.id.is_multiple_of(3) { "a" } else { "b" },
        "body": body,
    })
    .to_string()
}

/// BM25 as tantivy defines it (k1 1.2, b 0.75, field norms quantized as it stores them), over
/// every document: the sum over the query's terms a document holds.
struct BruteForce<'a> {
    docs: &'a [Doc],
    average_length: f64,
}

impl<'a> BruteForce<'a> {
    fn new(docs: &'a [Doc]) -> Self {
        let tokens: usize = docs.iter().map(|doc| doc.tokens.len()).sum();
        BruteForce {
            docs,
            average_length: tokens as f64 / docs.len() as f64,
        }
    }

    fn score(&self, doc: &Doc, terms: &[&str]) -> f64 {
        let (k1, b) = (1.2, 0.75);
        let total = self.docs.len() as f64;
        let length = FieldNormReader::id_to_fieldnorm(FieldNormReader::fieldnorm_to_id(
            doc.tokens.len() as u32,
        )) as f64;
        terms
            .iter()
            .map(|term| {
                let tf = doc.tokens.iter().filter(|token| token == term).count() as f64;
                if tf == 0.0 {
                    return 0.0;
                }
                let holding = (self.docs.iter())
                    .filter(|doc| doc.tokens.iter().any(|token| token == term))
                    .count() as f64;
                let idf = (1.0 + (total - holding + 0.5) / (holding + 0.5)).ln();
                let norm = k1 * (1.0 - b + b * length / self.average_length);
                idf * (1.0 + k1) * tf / (tf + norm)
            })
            .sum()
    }

    /// The matches of `terms` (all of them, or any), best first, with their scores.
    fn ranking(&self, terms: &[&str], all: bool, filter: &dyn Fn(&Doc) -> bool) -> Vec<(u64, f64)> {
        let holds = |doc: &Doc, term: &&str| doc.tokens.iter().any(|token| token == term);
        let mut ranked: Vec<(u64, f64)> = (self.docs.iter())
            .filter(|doc| filter(doc))
            .filter(|doc| {
                if all {
                    terms.iter().all(|term| holds(doc, term))
                } else {
                    terms.iter().any(|term| holds(doc, term))
                }
            })
            .map(|doc| (doc.id, self.score(doc, terms)))
            .collect();
        ranked.sort_by(|left, right| right.1.total_cmp(&left.1));
        ranked
    }
}

fn close(left: f64, right: f64) -> bool {
    (left - right).abs() <= 1e-4 * right.abs().max(1.0)
}

async fn index() -> LocalIndex {
    let local = LocalIndex::with_index(CONFIG).await;
    let docs = documents();
    for split in 0..SPLIT_SIZES.len() {
        let body: String = (docs.iter())
            .filter(|doc| doc.split == split)
            .map(|doc| record(doc) + "\n")
            .collect();
        let key = format!("object-{split}");
        local.put_object(&key, body.into_bytes()).await;
        local.index(INDEX, &[&key]).await;
    }
    local
}

async fn post(service: &SearchService, path: &str, body: &Value) -> (u16, Value) {
    let response = common::request(service, "POST", path, None, body.to_string().as_bytes()).await;
    let ResponseBody::Json { value, .. } = response.body else {
        panic!("{path}: not JSON")
    };
    (response.status, value)
}

async fn get(service: &SearchService, path: &str) -> (u16, Value) {
    let response = common::request(service, "GET", path, None, b"").await;
    let ResponseBody::Json { value, .. } = response.body else {
        panic!("{path}: not JSON")
    };
    (response.status, value)
}

/// Checks one search's hits against the brute-force ranking of its matches.
fn check_ranking(what: &str, answer: &Value, expected: &[(u64, f64)], size: usize) {
    assert_eq!(
        answer["hits"]["total"]["value"],
        expected.len(),
        "{what}: total"
    );
    let hits = answer["hits"]["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), expected.len().min(size), "{what}: page");
    let brute: std::collections::BTreeMap<u64, f64> = expected.iter().copied().collect();
    for (rank, hit) in hits.iter().enumerate() {
        let id = hit["_source"]["id"].as_u64().expect("an id");
        let score = hit["_score"].as_f64().expect("a score");
        assert!(
            close(score, brute[&id]),
            "{what}: doc {id} scored {score}, brute force {}",
            brute[&id]
        );
        // The ranking: the k-th hit scores what the k-th best document does (ties in any order).
        assert!(
            close(score, expected[rank].1),
            "{what}: rank {rank} scored {score}, expected {}",
            expected[rank].1
        );
        assert!(
            hit.get("sort").is_none(),
            "{what}: no sort values without a sort"
        );
    }
    let max_score = answer["hits"]["max_score"].as_f64().expect("max_score");
    assert!(
        close(max_score, expected[0].1),
        "{what}: max_score {max_score}"
    );
}

/// A search: its name, its query, and how brute force reads it (terms, all of them or any,
/// which documents the filter keeps).
type Case<'a> = (&'a str, Value, Vec<&'a str>, bool, &'a dyn Fn(&Doc) -> bool);

#[tokio::test]
async fn elasticsearch_ranks_by_bm25_over_the_whole_index() {
    let local = index().await;
    let docs = documents();
    let brute = BruteForce::new(&docs);
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let search_path = format!("/api/v1/_elastic/{INDEX}/_search");
    let everything = |_: &Doc| true;
    let kind_a = |doc: &Doc| doc.id.is_multiple_of(3);
    let cases: Vec<Case<'_>> = vec![
        (
            "one rare word",
            json!({"match": {"body": "light"}}),
            vec!["light"],
            false,
            &everything,
        ),
        (
            "any of two",
            json!({"match": {"body": "River storm"}}),
            vec!["river", "storm"],
            false,
            &everything,
        ),
        (
            "all of three",
            json!({"match": {"body": {"query": "green stone rain", "operator": "and"}}}),
            vec!["green", "stone", "rain"],
            true,
            &everything,
        ),
        (
            "a filter scores nothing",
            json!({"bool": {"must": {"match": {"body": "cloud forest"}}, "filter": {"term": {"kind": "a"}}}}),
            vec!["cloud", "forest"],
            false,
            &kind_a,
        ),
        (
            "query_string",
            json!({"query_string": {"query": "night OR rock"}}),
            vec!["night", "rock"],
            false,
            &everything,
        ),
    ];
    for (what, query, terms, all, filter) in cases {
        let expected = brute.ranking(&terms, all, filter);
        assert!(expected.len() > 12, "{what}: {} matches", expected.len());
        let (status, answer) =
            post(&service, &search_path, &json!({"query": query, "size": 12})).await;
        assert_eq!(status, 200, "{what}: {answer}");
        check_ranking(what, &answer, &expected, 12);
        // Paging goes on in the same order.
        let (_, second) = post(
            &service,
            &search_path,
            &json!({"query": query, "size": 12, "from": 12}),
        )
        .await;
        let hits = second["hits"]["hits"].as_array().expect("hits");
        for (offset, hit) in hits.iter().enumerate() {
            let score = hit["_score"].as_f64().expect("a score");
            assert!(
                close(score, expected[12 + offset].1),
                "{what}: page 2 rank {offset}"
            );
        }
    }

    // `track_scores` with a field sort: scores, in the field's order, and no score in `sort`.
    let (_, tracked) = post(
        &service,
        &search_path,
        &json!({"query": {"match": {"body": "light"}}, "sort": [{"id": "asc"}], "track_scores": true, "size": 5}),
    )
    .await;
    let expected = brute.ranking(&["light"], false, &everything);
    let mut ids: Vec<u64> = expected.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    for (hit, id) in tracked["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .zip(&ids)
    {
        assert_eq!(hit["_source"]["id"], *id);
        assert_eq!(hit["sort"], json!([id]));
        let score = hit["_score"].as_f64().expect("a tracked score");
        assert!(close(score, brute.score(&docs[*id as usize], &["light"])));
    }
    let best = expected[0].1;
    assert!(close(
        tracked["hits"]["max_score"].as_f64().expect("max_score"),
        best
    ));
    // A field sort without it: no scores.
    let (_, unscored) = post(
        &service,
        &search_path,
        &json!({"query": {"match": {"body": "light"}}, "sort": [{"id": "asc"}], "size": 5}),
    )
    .await;
    assert_eq!(unscored["hits"]["hits"][0]["_score"], Value::Null);
    assert_eq!(unscored["hits"]["max_score"], Value::Null);
}

#[tokio::test]
async fn ids_are_unique_and_read_their_document_back() {
    let local = index().await;
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default());
    let (_, answer) = post(
        &service,
        &format!("/api/v1/_elastic/{INDEX}/_search"),
        &json!({"query": {"match_all": {}}, "size": 200}),
    )
    .await;
    let hits = answer["hits"]["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 200);
    let ids: BTreeSet<&str> = hits
        .iter()
        .map(|hit| hit["_id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), hits.len(), "every hit has its own _id");
    for hit in hits.iter().step_by(17) {
        let id = hit["_id"].as_str().expect("an id");
        // Clients percent-encode the id in the path.
        let encoded = id.replace(':', "%3A");
        let (status, document) = get(
            &service,
            &format!("/api/v1/_elastic/{INDEX}/_doc/{encoded}"),
        )
        .await;
        assert_eq!(status, 200, "{document}");
        assert_eq!(document["found"], true);
        assert_eq!(document["_id"], id);
        assert_eq!(document["_source"], hit["_source"]);
    }
    let first = hits[0]["_id"].as_str().expect("an id");
    let (split, _) = first.split_once(':').expect("split:segment:doc");
    for missing in [
        format!("{split}:0:99999"),
        format!("{split}:7:0"),
        "no-such-split:0:0".to_string(),
        "not an id".to_string(),
    ] {
        let (status, document) = get(
            &service,
            &format!("/api/v1/_elastic/{INDEX}/_doc/{missing}"),
        )
        .await;
        assert_eq!(status, 404, "{missing}: {document}");
        assert_eq!(document["found"], false);
    }
    let (status, _) = get(
        &service,
        &format!("/api/v1/_elastic/no-such-index/_doc/{first}"),
    )
    .await;
    assert_eq!(status, 404);
}

/// Leaves in "other invocations" (this process, through the invoker interface, as the
/// Lambda adapter calls them): the two passes give the same scores as one searcher.
#[derive(Debug)]
struct InProcessLeaves(std::sync::Arc<SearchService>);

impl LeafInvoker for InProcessLeaves {
    fn invoke<'a>(
        &'a self,
        request: &'a LeafSearchRequest,
    ) -> futures::future::BoxFuture<'a, hydrant_search::Result<LeafSearchResponse>> {
        Box::pin(async move {
            // Through JSON, as an invocation carries it.
            let request: LeafSearchRequest =
                serde_json::from_str(&serde_json::to_string(request).expect("encodes"))
                    .expect("decodes");
            let response = self.0.leaf_search(&request).await?;
            Ok(
                serde_json::from_str(&serde_json::to_string(&response).expect("encodes"))
                    .expect("decodes"),
            )
        })
    }
}

#[tokio::test]
async fn fanned_out_leaves_score_with_the_whole_plan() {
    let local = index().await;
    let docs = documents();
    let brute = BruteForce::new(&docs);
    let leaves = std::sync::Arc::new(SearchService::new(
        local.metastore.clone(),
        SearcherConfig::default(),
    ));
    let service = SearchService::new(local.metastore.clone(), SearcherConfig::default())
        .with_fan_out(FanOut {
            invoker: std::sync::Arc::new(InProcessLeaves(leaves)),
            splits_per_leaf: 2,
        });
    let expected = brute.ranking(&["river", "storm"], false, &|_| true);
    let (status, answer) = post(
        &service,
        &format!("/api/v1/_elastic/{INDEX}/_search"),
        &json!({"query": {"match": {"body": "river storm"}}, "size": 12}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    check_ranking("fanned out", &answer, &expected, 12);
}
