//! A search answered as a root with distributed leaves would answer it: the plan's splits cut
//! into disjoint sets, each leaf request and answer sent through JSON to and from a searcher of
//! its own (another invocation, with cold caches), the answers merged, then finished. The
//! response must equal the single-pass one. The same through `SearchService::with_fan_out`,
//! whose leaves go to a `LeafInvoker`, and when the invoker fails.

mod common;

use common::{Fixture, fixture};
use hydrant_metastore::Metastore;
use std::sync::Arc;

use futures::future::BoxFuture;
use hydrant_search::SearchError;
use hydrant_search::cost;
use hydrant_search::searcher::fan_out::{FanOut, LeafInvoker};
use hydrant_search::searcher::{LeafSearchRequest, LeafSearchResponse, LeafSplit, SearchPlan};
use hydrant_search::{SearchParams, SearchRequest, SearchService, SearcherConfig};
use serde_json::json;

fn through_json<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

fn requests() -> Vec<SearchRequest> {
    let request =
        |body: serde_json::Value| SearchRequest::from_json(body.to_string().as_bytes()).unwrap();
    vec![
        request(json!({"query": "*", "max_hits": 7})),
        request(
            json!({"query": "description:ripe", "max_hits": 5, "start_offset": 3, "sort_by": "-price,id"}),
        ),
        request(json!({"query": "name:banana OR name:cherry", "max_hits": 10, "sort_by": "price"})),
        request(json!({"query": "fresh", "max_hits": 4, "sort_by": "_score"})),
        request(json!({"query": "*", "max_hits": 3, "count_all": false})),
        request(json!({
            "query": "*",
            "max_hits": 0,
            "aggs": {
                "by_name": {"terms": {"field": "price", "size": 5}, "aggs": {"avg_id": {"avg": {"field": "id"}}}},
                "over_time": {"date_histogram": {"field": "ts", "fixed_interval": "1h"}},
                "prices": {"histogram": {"field": "price", "interval": 10}},
                "stats": {"stats": {"field": "price"}}
            }
        })),
        // Every other aggregation kind tantivy has, each merged across leaves. Cardinalities
        // stay under 192 distinct values, where tantivy's HyperLogLog sketch counts exactly;
        // beyond, its estimate (about 2% off) depends on how the merges were grouped.
        request(json!({
            "query": "description:fresh OR description:sweet",
            "max_hits": 0,
            "aggs": {
                "price_bands": {"range": {"field": "price", "ranges": [{"to": 10.0}, {"from": 10.0, "to": 30.0}, {"from": 30.0}]},
                    "aggs": {"ids": {"cardinality": {"field": "id"}}}},
                "avg_price": {"avg": {"field": "price"}},
                "sales": {"value_count": {"field": "id"}},
                "max_price": {"max": {"field": "price"}},
                "min_price": {"min": {"field": "price"}},
                "revenue": {"sum": {"field": "price"}},
                "spread": {"extended_stats": {"field": "price"}},
                "quartiles": {"percentiles": {"field": "price", "percents": [25.0, 50.0, 75.0, 99.0]}},
                "distinct_prices": {"cardinality": {"field": "price"}},
                "by_hour": {"date_histogram": {"field": "ts", "fixed_interval": "1h"},
                    "aggs": {"dearest": {"top_hits": {"size": 2, "sort": [{"price": "desc"}, {"id": "asc"}], "docvalue_fields": ["id", "price"]}}}}
            }
        })),
        request(
            json!({"query": "description:juicy", "max_hits": 3, "snippet_fields": ["description"]}),
        ),
        request(
            json!({"query": "*", "max_hits": 20, "start_timestamp": 1_700_006_000, "end_timestamp": 1_700_018_000, "sort_by": "-ts"}),
        ),
        request(json!({"query": "name:nothing", "max_hits": 5})),
    ]
}

/// The fixture's plan of `request`.
async fn plan_of(fixture: &Fixture, request: &SearchRequest) -> SearchPlan {
    fixture
        .service
        .plan("fruit", &SearchParams::from_native(request).unwrap())
        .await
        .unwrap()
}

/// Searches `splits` as another invocation would: a searcher of its own, the request and the
/// answer through JSON.
async fn remote_leaf(metastore: &Metastore, request: &LeafSearchRequest) -> LeafSearchResponse {
    let leaf_service = SearchService::new(metastore.clone(), SearcherConfig::default());
    let request = through_json(request);
    let response = leaf_service.leaf_search(&request).await.unwrap();
    through_json(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_leaves_over_disjoint_splits_answer_as_one_pass() {
    let fixture = fixture().await;
    let metastore = fixture.local.metastore.clone();
    for request in requests() {
        let single = fixture.service.search("fruit", &request).await.unwrap();
        let plan = plan_of(&fixture, &request).await;
        let (even, odd): (Vec<LeafSplit>, Vec<LeafSplit>) = plan
            .splits()
            .iter()
            .cloned()
            .partition(|split| split.ordinal % 2 == 0);
        let mut answers = Vec::new();
        for splits in [even, odd, Vec::new()] {
            answers.push(remote_leaf(&metastore, &plan.leaf_request(&splits)).await);
        }
        let merged = plan.merge(answers).unwrap();
        let distributed = fixture.service.finish(&plan, merged).await.unwrap();
        let context = serde_json::to_string(&request).unwrap();
        assert_eq!(distributed.num_hits, single.num_hits, "{context}");
        assert_eq!(distributed.hits, single.hits, "{context}");
        assert_eq!(distributed.snippets, single.snippets, "{context}");
        assert_eq!(distributed.aggregations, single.aggregations, "{context}");
        assert_eq!(distributed.errors, single.errors, "{context}");
        assert!(
            single.num_hits > 0 || request.query == "name:nothing",
            "{context}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_request_and_its_answer_round_trip_through_json() {
    let fixture = fixture().await;
    let request = requests().swap_remove(5);
    let plan = plan_of(&fixture, &request).await;
    assert_eq!(plan.splits().len(), 4);
    let leaf_request = plan.leaf_request(plan.splits());
    assert_eq!(through_json(&leaf_request), leaf_request);
    let answer = fixture.service.leaf_search(&leaf_request).await.unwrap();
    assert!(answer.aggregations.is_some());
    let again = through_json(&answer);
    assert_eq!(again.num_hits, answer.num_hits);
    assert_eq!(again.candidates, answer.candidates);
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&answer).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_refuses_a_request_the_root_would_refuse() {
    let fixture = fixture().await;
    // A sort on a field that is not fast: what planning would refuse.
    let mut request = SearchRequest::new("*");
    request.sort_by = vec!["-description".to_string()];
    let mut leaf_request = LeafSearchRequest {
        index_id: "fruit".to_string(),
        params: SearchParams::from_native(&request).unwrap(),
        splits: Vec::new(),
        bm25: None,
        statistics_only: false,
    };
    let error = fixture
        .service
        .leaf_search(&leaf_request)
        .await
        .unwrap_err();
    assert_eq!(error.status_code(), 400);
    leaf_request.index_id = "no-such-index".to_string();
    let error = fixture
        .service
        .leaf_search(&leaf_request)
        .await
        .unwrap_err();
    assert_eq!(error.status_code(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_answer_naming_an_unplanned_split_is_an_error_not_a_wrong_hit() {
    let fixture = fixture().await;
    // Every document on the page, so that the altered candidate cannot fall off it.
    let mut request = SearchRequest::new("*");
    request.max_hits = 400;
    // Fill the doc cache first, so that a cached hit could not stand in for the bad one.
    fixture.service.search("fruit", &request).await.unwrap();
    let plan = plan_of(&fixture, &request).await;
    let mut answer = fixture
        .service
        .leaf_search(&plan.leaf_request(plan.splits()))
        .await
        .unwrap();
    answer.candidates[0].split_ordinal = plan.splits().len() + 7;
    let merged = plan.merge(vec![answer]).unwrap();
    let error = fixture.service.finish(&plan, merged).await.unwrap_err();
    assert_eq!(error.status_code(), 500);
}

/// Another invocation, as the Lambda invoker reaches it: a searcher of its own, the request
/// and the answer through JSON, or a failure, as a throttled or timed-out one is.
#[derive(Debug)]
struct OtherInvocation {
    metastore: Metastore,
    fail: Failing,
}

/// Which invocations fail.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Failing {
    Never,
    Always,
    /// The one holding the split of ordinal 1: one leaf of several.
    One,
}

impl Failing {
    fn fails(self, request: &LeafSearchRequest) -> bool {
        match self {
            Failing::Never => false,
            Failing::Always => true,
            Failing::One => request.splits.iter().any(|split| split.ordinal == 1),
        }
    }
}

impl LeafInvoker for OtherInvocation {
    fn invoke<'a>(
        &'a self,
        request: &'a LeafSearchRequest,
    ) -> BoxFuture<'a, Result<LeafSearchResponse, SearchError>> {
        Box::pin(async move {
            if self.fail.fails(request) {
                return Err(SearchError::Internal(
                    "TooManyRequestsException".to_string(),
                ));
            }
            Ok(remote_leaf(&self.metastore, request).await)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanned_out_search_answers_as_one_pass_and_survives_failed_invocations() {
    let fixture = fixture().await;
    let metastore = fixture.local.metastore.clone();
    for fail in [Failing::Never, Failing::One, Failing::Always] {
        let invoker = Arc::new(OtherInvocation {
            metastore: metastore.clone(),
            fail,
        });
        let fanned =
            SearchService::new(metastore.clone(), SearcherConfig::default()).with_fan_out(FanOut {
                invoker,
                splits_per_leaf: 1,
            });
        for request in requests() {
            let single = fixture.service.search("fruit", &request).await.unwrap();
            let (distributed, cost) = cost::measure(fanned.search("fruit", &request)).await;
            let distributed = distributed.unwrap();
            let context = format!("{fail:?} {}", serde_json::to_string(&request).unwrap());
            assert_eq!(distributed.num_hits, single.num_hits, "{context}");
            assert_eq!(distributed.hits, single.hits, "{context}");
            assert_eq!(distributed.snippets, single.snippets, "{context}");
            assert_eq!(distributed.aggregations, single.aggregations, "{context}");
            assert_eq!(distributed.errors, single.errors, "{context}");
            // One share stays with the root; each other split is one invocation, two for a
            // search ranked by relevance (its statistics first).
            let planned = plan_of(&fixture, &request).await;
            let rounds = if request.sort_by.iter().any(|key| key == "_score") {
                2
            } else {
                1
            };
            let shares = planned.splits().len().saturating_sub(1) as u64;
            let invocations = shares * rounds;
            assert_eq!(cost.leaf_invocations, invocations, "{context}");
            let failures = match fail {
                Failing::Never => 0,
                Failing::One => u64::from(shares > 0) * rounds,
                Failing::Always => invocations,
            };
            assert_eq!(cost.leaf_failures, failures, "{context}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_within_the_limit_invokes_nothing() {
    let fixture = fixture().await;
    let metastore = fixture.local.metastore.clone();
    let invoker = Arc::new(OtherInvocation {
        metastore: metastore.clone(),
        fail: Failing::Always,
    });
    let service = SearchService::new(metastore, SearcherConfig::default()).with_fan_out(FanOut {
        invoker,
        splits_per_leaf: 4,
    });
    let (response, cost) = cost::measure(service.search("fruit", &SearchRequest::new("*"))).await;
    assert!(response.unwrap().num_hits > 0);
    assert_eq!((cost.leaf_invocations, cost.leaf_failures), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_reads_split_locations_from_its_metastore_not_from_the_request() {
    let fixture = fixture().await;
    let request = SearchRequest::new("name:banana");
    let plan = plan_of(&fixture, &request).await;
    let honest = plan.leaf_request(plan.splits());
    let expected = remote_leaf(&fixture.local.metastore, &honest).await;
    // Footer ranges no split has: read as asked, they would allocate the whole range.
    let mut forged = honest.clone();
    for split in &mut forged.splits {
        split.footer_offsets = 0..u64::MAX;
        split.split_size_bytes = u64::MAX;
    }
    forged.splits.push(LeafSplit {
        split_id: "not-a-split-of-fruit".to_string(),
        ordinal: plan.splits().len(),
        footer_offsets: 0..u64::MAX,
        split_size_bytes: u64::MAX,
        doc_mapping_uid: "forged".to_string(),
    });
    let answer = remote_leaf(&fixture.local.metastore, &forged).await;
    assert_eq!(answer.num_hits, expected.num_hits);
    assert_eq!(answer.splits_searched, plan.splits().len());
    let failed: Vec<_> = answer
        .failed_splits
        .iter()
        .map(|f| (f.split_id.as_str(), f.missing))
        .collect();
    assert_eq!(failed, [("not-a-split-of-fruit", true)]);
    assert!(expected.failed_splits.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_leaf_reads_its_footers_while_it_reads_its_metastore() {
    let fixture = fixture().await;
    let request = SearchRequest::new("name:banana");
    let plan = plan_of(&fixture, &request).await;
    let honest = plan.leaf_request(plan.splits());
    let cold_leaf =
        || SearchService::new(fixture.local.metastore.clone(), SearcherConfig::default());
    // The footers' GETs overlap the metastore's read: what follows it on a split's path is
    // the postings' round trip alone, and no footer is read twice.
    let answer = cold_leaf().leaf_search(&honest).await.unwrap();
    assert_eq!(answer.reads.round_trips, 1);
    let splits = plan.splits().len() as u64;
    assert!(answer.reads.storage_gets >= splits);
    // Ranges the metastore does not confirm are not used: the leaf reads the footers again,
    // by its own ranges, a round trip later, and answers the same.
    let mut shifted = honest.clone();
    for split in &mut shifted.splits {
        split.footer_offsets.start += 1;
    }
    let corrected = cold_leaf().leaf_search(&shifted).await.unwrap();
    assert_eq!(corrected.reads.round_trips, 2);
    assert_eq!(corrected.num_hits, answer.num_hits);
    assert_eq!(
        corrected.reads.storage_gets,
        answer.reads.storage_gets + splits
    );
}
