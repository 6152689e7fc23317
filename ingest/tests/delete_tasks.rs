//! Delete tasks end to end: one user's records deleted from an index of 100 splits spread
//! over time, every other record still found exactly once, the task's counts exact, and after
//! garbage collection no file that held a deleted record left; then crashes injected at each
//! step of an application (after its intent is recorded, after the rewrite's upload, after the
//! commit), each finished by the next run with the same result.
//!
//! Fail points are process-wide, so this binary holds one test that runs the scenarios in turn.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hydrant_index::doc_mapper::DocMapper;
use hydrant_ingest::maintenance::{GcSettings, Maintainer};
use hydrant_ingest::testing::LocalIndex;
use hydrant_metastore::clock::ManualClock;
use hydrant_metastore::delete_task::DeleteTask;
use hydrant_metastore::paths;
use hydrant_search::delete::DeleteTaskRequest;
use hydrant_search::{SearchRequest, SearchService, SearcherConfig};
use serde_json::json;

const INDEX: &str = "events";
const CONFIG: &str = r#"
index_id: events
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64, fast: true}
    - {name: user, type: text, tokenizer: raw}
    - {name: message, type: text}
  timestamp_field: ts
indexing_settings:
  merge_policy: {type: no_merge}
"#;
const RECORDS_PER_SPLIT: u64 = 20;
const BASE_TS: i64 = 1_700_000_000;
const GRACE: Duration = Duration::from_secs(600);

fn user_of(id: u64) -> String {
    format!("u{}", id % 23)
}

struct Setup {
    local: LocalIndex,
    clock: Arc<ManualClock>,
    maintainer: Maintainer,
    num_splits: u64,
}

async fn setup(num_splits: u64) -> Setup {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let clock = Arc::new(ManualClock::new(now));
    let local = LocalIndex::with_clock(clock.clone()).await;
    local.create_index(CONFIG).await;
    for split in 0..num_splits {
        let body: String = (split * RECORDS_PER_SPLIT..(split + 1) * RECORDS_PER_SPLIT)
            .map(|id| {
                // Spread over time: an hour a split.
                let ts = BASE_TS + split as i64 * 3600 + (id % RECORDS_PER_SPLIT) as i64;
                json!({"ts": ts, "id": id, "user": user_of(id), "message": format!("event {id}")})
                    .to_string()
                    + "\n"
            })
            .collect();
        let key = format!("object-{split}");
        local.put_object(&key, body.into_bytes()).await;
        local.index(INDEX, &[&key]).await;
    }
    let maintainer = Maintainer::new(local.metastore.clone()).with_gc_settings(GcSettings {
        grace_period: GRACE,
        ..GcSettings::default()
    });
    Setup {
        local,
        clock,
        maintainer,
        num_splits,
    }
}

impl Setup {
    fn all_ids(&self) -> BTreeSet<u64> {
        (0..self.num_splits * RECORDS_PER_SPLIT).collect()
    }

    /// Every id a search finds, checking none is found twice.
    async fn found_ids(&self, query: &str) -> Vec<u64> {
        let service = SearchService::new(self.local.metastore.clone(), SearcherConfig::default());
        let mut request = SearchRequest::new(query);
        request.max_hits = 10_000;
        let answer = service.search(INDEX, &request).await.unwrap();
        assert!(answer.errors.is_empty(), "{:?}", answer.errors);
        let ids: Vec<u64> = answer
            .hits
            .iter()
            .map(|hit| hit["id"].as_u64().unwrap())
            .collect();
        assert_eq!(answer.num_hits as usize, ids.len());
        ids
    }

    /// Checks the index holds every record but `deleted`'s, each once.
    async fn check_records(&self, deleted_user: Option<&str>) {
        let found = self.found_ids("*").await;
        let unique: BTreeSet<u64> = found.iter().copied().collect();
        assert_eq!(unique.len(), found.len(), "a record is found twice");
        let expected: BTreeSet<u64> = (self.all_ids().into_iter())
            .filter(|id| deleted_user.is_none_or(|user| user_of(*id) != user))
            .collect();
        assert_eq!(unique, expected);
        if let Some(user) = deleted_user {
            assert!(self.found_ids(&format!("user:{user}")).await.is_empty());
        }
    }

    async fn create_task(&self, user: &str) -> DeleteTask {
        // As the API reads it: the query language, checked against the mapping.
        let request = DeleteTaskRequest {
            query: format!("user:{user}"),
            search_field: Vec::new(),
            start_timestamp: None,
            end_timestamp: None,
        };
        let info = self.local.metastore.index_info(INDEX).await.unwrap();
        let doc_mapper = Arc::new(DocMapper::new(&info.index_config).unwrap());
        let query = request.delete_query(&doc_mapper).unwrap();
        self.local
            .metastore
            .create_delete_task(INDEX, query)
            .await
            .unwrap()
    }

    async fn task(&self, opstamp: u64) -> DeleteTask {
        let tasks = self.local.metastore.delete_tasks(INDEX).await.unwrap();
        tasks
            .tasks
            .into_iter()
            .find(|task| task.opstamp == opstamp)
            .unwrap()
    }

    /// Splits holding a record of `user`, and how many records.
    fn expected_counts(&self, user: &str) -> (u64, u64) {
        let mut per_split: BTreeMap<u64, u64> = BTreeMap::new();
        for id in self.all_ids() {
            if user_of(id) == user {
                *per_split.entry(id / RECORDS_PER_SPLIT).or_default() += 1;
            }
        }
        (per_split.len() as u64, per_split.values().sum())
    }

    async fn split_files(&self) -> BTreeSet<String> {
        let prefix = paths::splits_prefix(INDEX);
        let listed = self.local.index_storage.list(&prefix).await.unwrap();
        listed
            .iter()
            .filter_map(|object| object.path.strip_prefix(&prefix))
            .filter_map(|name| name.strip_suffix(".split"))
            .map(str::to_string)
            .collect()
    }
}

async fn a_user_deleted_from_100_splits() {
    let setup = setup(100).await;
    setup.check_records(None).await;
    let task = setup.create_task("u7").await;
    assert_eq!(task.opstamp, 1);
    // Records indexed after the task are not its to delete.
    setup.clock.advance_secs(1);
    let later = json!({"ts": BASE_TS, "id": 1_000_000, "user": "u7", "message": "later"});
    setup
        .local
        .put_object("later", format!("{later}\n").into_bytes())
        .await;
    setup.local.index(INDEX, &["later"]).await;
    let report = setup.maintainer.run(INDEX, None).await.unwrap();
    assert_eq!(report.splits_delete_applied, 100);
    assert_eq!(setup.found_ids("user:u7").await, [1_000_000]);
    // The rest as if the later record were not there.
    let found: BTreeSet<u64> = setup
        .found_ids("NOT id:1000000")
        .await
        .into_iter()
        .collect();
    let expected: BTreeSet<u64> = (setup.all_ids().into_iter())
        .filter(|id| user_of(*id) != "u7")
        .collect();
    assert_eq!(found, expected);

    let (splits_holding, records) = setup.expected_counts("u7");
    let done = setup.task(1).await;
    assert_eq!(done.progress.docs_deleted, records);
    assert_eq!(done.progress.splits_rewritten, splits_holding);
    assert_eq!(done.progress.splits_unchanged, 100 - splits_holding);
    let replaced: BTreeSet<String> = done.progress.replaced_split_ids.iter().cloned().collect();
    assert_eq!(replaced.len() as u64, splits_holding);
    // Not complete until the replaced files are deleted.
    assert_eq!(done.progress.completed_timestamp, None);
    assert!(replaced.is_subset(&setup.split_files().await));

    // A second run finds nothing to do.
    let again = setup.maintainer.run(INDEX, None).await.unwrap();
    assert_eq!(again.splits_delete_applied, 0);

    // Past the grace period, garbage collection deletes the replaced files: the task is
    // complete, and no file that held a deleted record is left.
    setup.clock.advance_secs(GRACE.as_secs() as i64 + 1);
    setup.maintainer.run(INDEX, None).await.unwrap();
    let complete = setup.task(1).await;
    assert!(complete.progress.replaced_split_ids.is_empty());
    assert!(complete.progress.completed_timestamp.is_some());
    assert!(replaced.is_disjoint(&setup.split_files().await));
    assert_eq!(setup.found_ids("user:u7").await, [1_000_000]);
}

/// A crash at `fail_point` in the first run; the second run finishes with the same result
/// as an uninterrupted one.
async fn a_crash_then_a_rerun(fail_point: &str) {
    let setup = setup(10).await;
    setup.create_task("u3").await;
    fail::cfg(fail_point, "return").unwrap();
    let error = setup.maintainer.run(INDEX, None).await.unwrap_err();
    fail::remove(fail_point);
    assert!(error.to_string().contains(fail_point), "{error}");
    // Consistent meanwhile: each record found at most once, the others all there.
    let found = setup.found_ids("*").await;
    let unique: BTreeSet<u64> = found.iter().copied().collect();
    assert_eq!(
        unique.len(),
        found.len(),
        "{fail_point}: a record is found twice"
    );
    assert!(
        (setup.all_ids().into_iter())
            .filter(|id| user_of(*id) != "u3")
            .all(|id| unique.contains(&id)),
        "{fail_point}: a record was lost"
    );

    setup.maintainer.run(INDEX, None).await.unwrap();
    setup.check_records(Some("u3")).await;
    let (splits_holding, records) = setup.expected_counts("u3");
    let task = setup.task(1).await;
    assert_eq!(task.progress.docs_deleted, records, "{fail_point}");
    assert_eq!(
        task.progress.splits_rewritten, splits_holding,
        "{fail_point}"
    );
    assert_eq!(
        task.progress.splits_unchanged,
        10 - splits_holding,
        "{fail_point}"
    );
    let tasks = setup.local.metastore.delete_tasks(INDEX).await.unwrap();
    assert!(tasks.in_flight.is_empty(), "{fail_point}");

    // Garbage collection takes what the crash left: a staged rewrite expires after an hour,
    // and its file goes a grace period later.
    for _ in 0..2 {
        setup.clock.advance_secs(2 * 3600);
        setup.maintainer.run(INDEX, None).await.unwrap();
    }
    let metadata = setup.local.metastore.index_metadata(INDEX).await.unwrap();
    let known: BTreeSet<String> = metadata.splits.keys().cloned().collect();
    let published: BTreeSet<String> = (metadata.published_splits())
        .map(|split| split.split_id.clone())
        .collect();
    assert_eq!(
        known, published,
        "{fail_point}: only published splits remain"
    );
    assert_eq!(
        setup.split_files().await,
        published,
        "{fail_point}: no file is left over"
    );
    assert!(
        setup.task(1).await.progress.completed_timestamp.is_some(),
        "{fail_point}"
    );
}

/// A task over splits of two doc mappings (the index updated between them): its query,
/// checked against the current mapping, runs on each split with that split's mapping, and a
/// clause on the field older splits lack matches nothing there.
async fn a_task_across_an_index_update() {
    let setup = setup(4).await;
    // The new field first: every field's id differs between the two mappings' schemas.
    let updated = CONFIG.replace(
        "    - {name: ts,",
        "    - {name: level, type: text, tokenizer: raw}\n    - {name: ts,",
    );
    let updated = hydrant_index::config::IndexConfig::from_yaml(&updated).unwrap();
    setup.local.metastore.update_index(updated).await.unwrap();
    let level_of = |id: u64| (id >= 80 && id.is_multiple_of(3)).then_some("error");
    let body: String = (80..160)
        .map(|id| {
            let mut record = json!({"ts": BASE_TS + id as i64, "id": id, "user": user_of(id), "message": "after"});
            if let Some(level) = level_of(id) {
                record["level"] = json!(level);
            }
            record.to_string() + "\n"
        })
        .collect();
    setup
        .local
        .put_object("after-update", body.into_bytes())
        .await;
    setup.local.index(INDEX, &["after-update"]).await;
    let info = setup.local.metastore.index_info(INDEX).await.unwrap();
    let request = DeleteTaskRequest {
        query: "user:u7 OR level:error".to_string(),
        search_field: Vec::new(),
        start_timestamp: None,
        end_timestamp: None,
    };
    let doc_mapper = Arc::new(DocMapper::new(&info.index_config).unwrap());
    let query = request.delete_query(&doc_mapper).unwrap();
    let task = setup
        .local
        .metastore
        .create_delete_task(INDEX, query)
        .await
        .unwrap();
    let report = setup.maintainer.run(INDEX, None).await.unwrap();
    assert!(report.splits_delete_applied >= 5, "{report:?}");
    let deleted = |id: u64| user_of(id) == "u7" || level_of(id).is_some();
    let found: BTreeSet<u64> = setup.found_ids("*").await.into_iter().collect();
    let expected: BTreeSet<u64> = (0..160).filter(|id| !deleted(*id)).collect();
    assert_eq!(found, expected);
    let done = setup.task(task.opstamp).await;
    assert_eq!(
        done.progress.docs_deleted,
        (0..160).filter(|id| deleted(*id)).count() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_tasks_remove_exactly_their_records_and_survive_crashes() {
    let scenario = fail::FailScenario::setup();
    a_user_deleted_from_100_splits().await;
    a_task_across_an_index_update().await;
    for fail_point in [
        "deletes:after_intent",
        "deletes:after_upload",
        "deletes:after_commit",
    ] {
        a_crash_then_a_rerun(fail_point).await;
    }
    scenario.teardown();
}
