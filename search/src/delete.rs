//! Delete tasks' queries: what a task removes, read from Quickwit's request (or an
//! Elasticsearch `_delete_by_query`) and checked when the task is created, and the tantivy
//! query the indexer runs on each split to apply it (`hydrant_ingest::deletes`). The tasks
//! themselves are the metastore's (`hydrant_metastore::delete_task`).

use std::sync::Arc;

use hydrant_index::doc_mapper::DocMapper;
use hydrant_metastore::delete_task::{DeleteQuery, DeleteTask};
use serde::Deserialize;
use tantivy::query::{BooleanQuery, Occur, Query};

use crate::error::{Result, SearchError};
use crate::query::{QueryAst, build_query, parse_query};
use crate::searcher::SearchParams;
use crate::searcher::plan::time_filter;

/// Quickwit's `POST /api/v1/{index_id}/delete-tasks` body.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteTaskRequest {
    pub query: String,
    /// Fields the query's clauses naming none search; the index's defaults when empty.
    #[serde(default)]
    pub search_field: Vec<String>,
    #[serde(default)]
    pub start_timestamp: Option<i64>,
    #[serde(default)]
    pub end_timestamp: Option<i64>,
}

impl DeleteTaskRequest {
    /// The task's query, checked against the index's mapping now: a query that cannot run
    /// is a 400 here, not a task that fails on every split.
    pub fn delete_query(&self, doc_mapper: &Arc<DocMapper>) -> Result<DeleteQuery> {
        let ast = parse_query(&self.query)?;
        delete_query_of(
            ast,
            &self.search_field,
            self.start_timestamp,
            self.end_timestamp,
            doc_mapper,
        )
    }
}

/// A delete query of an AST (an Elasticsearch query, say), checked against the mapping, with
/// the default fields it searches fixed now.
pub fn delete_query_of(
    ast: QueryAst,
    search_fields: &[String],
    start_timestamp: Option<i64>,
    end_timestamp: Option<i64>,
    doc_mapper: &Arc<DocMapper>,
) -> Result<DeleteQuery> {
    let search_fields = if search_fields.is_empty() {
        doc_mapper.default_search_fields().to_vec()
    } else {
        search_fields.to_vec()
    };
    let query = DeleteQuery {
        query_ast: serde_json::to_value(&ast)
            .map_err(|error| SearchError::Internal(format!("a query AST serializes: {error}")))?,
        search_fields,
        start_timestamp,
        end_timestamp,
    };
    delete_task_query(doc_mapper.clone(), &query, false)?;
    Ok(query)
}

/// The tantivy query matching what a delete task removes, time range included, for splits of
/// `doc_mapping`. `lenient` when applying a task (checked against the mapping of its day when
/// it was created) to a split: a clause on a field the split's mapping lacks (added to the
/// index since the split was built, or removed since the task was created) matches nothing
/// there, as it does in a search.
pub fn delete_task_query(
    doc_mapper: Arc<DocMapper>,
    query: &DeleteQuery,
    lenient: bool,
) -> Result<Arc<dyn Query>> {
    let mut ast: QueryAst = serde_json::from_value(query.query_ast.clone()).map_err(|error| {
        SearchError::InvalidRequest(format!("the delete task's query is not one: {error}"))
    })?;
    if lenient {
        ast = QueryAst::Lenient(Box::new(ast));
    }
    let params = SearchParams {
        query: ast,
        default_fields: query.search_fields.clone(),
        start_timestamp: query.start_timestamp,
        end_timestamp: query.end_timestamp,
        ..SearchParams::match_all(0)
    };
    params.validate()?;
    // The query and its time range alone: compiling a whole search request would link sorts,
    // aggregations and warm-up plans into the indexer, which runs this.
    let query = build_query(
        &params.query,
        &doc_mapper,
        params.search_fields(&doc_mapper),
    )?;
    Ok(match time_filter(&doc_mapper, &params)? {
        None => Arc::from(query),
        Some(time_filter) => Arc::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, time_filter),
        ])),
    })
}

/// `POST /api/v1/{index}/delete-tasks` (Quickwit's body): the task's query checked against
/// the index's mapping (a query that cannot run is a 400 here, not a task that fails on every
/// split), the task recorded, and answered in Quickwit's shape. Applying it is maintenance's
/// (the indexer's, or `hydrant serve`'s at once).
pub async fn create_delete_task(
    service: &crate::SearchService,
    index_id: &str,
    body: &[u8],
) -> Result<(DeleteTask, serde_json::Value)> {
    let request: DeleteTaskRequest = serde_json::from_slice(body)
        .map_err(|error| SearchError::InvalidRequest(format!("invalid delete task: {error}")))?;
    let (doc_mapper, index_uid) = service.doc_mapper_and_uid(index_id).await?;
    let query = request.delete_query(&doc_mapper)?;
    let task = service
        .metastore()
        .create_delete_task(index_id, query)
        .await?;
    let answer = quickwit_task(&task, &index_uid);
    Ok((task, answer))
}

/// An index's delete tasks as the API lists them: Quickwit's shape (`create_timestamp`,
/// `opstamp`, `delete_query` with the query AST as a JSON string), and what applying each has
/// done: its `state` (`pending` while splits are left to apply it to, `applied` once none is
/// but replaced files still hold what it deleted, `complete` once garbage collection deleted
/// them), `splits_left`, splits rewritten and unchanged, documents deleted, replaced files
/// left, and when it completed.
pub async fn list_delete_tasks(
    service: &crate::SearchService,
    index_id: &str,
) -> Result<Vec<serde_json::Value>> {
    let metastore = service.metastore();
    let tasks = metastore.delete_tasks(index_id).await?;
    let metadata = metastore.index_splits(index_id).await?;
    let index_uid = metastore.index_info(index_id).await?.index_uid;
    Ok(tasks
        .tasks
        .iter()
        .map(|task| {
            let splits_left = tasks.splits_left(task, metadata.splits.values());
            let progress = &task.progress;
            let state = match (progress.completed_timestamp, splits_left) {
                (Some(_), _) => "complete",
                (None, 0) => "applied",
                (None, _) => "pending",
            };
            let mut listed = quickwit_task(task, &index_uid);
            listed["state"] = state.into();
            listed["splits_left"] = splits_left.into();
            listed["splits_rewritten"] = progress.splits_rewritten.into();
            listed["splits_unchanged"] = progress.splits_unchanged.into();
            listed["docs_deleted"] = progress.docs_deleted.into();
            listed["replaced_files_left"] = progress.replaced_split_ids.len().into();
            listed["completed_timestamp"] = progress.completed_timestamp.into();
            listed
        })
        .collect())
}

/// A task in the shape of Quickwit's `DeleteTask` (its query AST as a JSON string), as
/// creating one answers and the list starts each entry with.
pub fn quickwit_task(task: &DeleteTask, index_uid: &str) -> serde_json::Value {
    serde_json::json!({
        "create_timestamp": task.create_timestamp,
        "opstamp": task.opstamp,
        "delete_query": {
            "index_uid": index_uid,
            "start_timestamp": task.delete_query.start_timestamp,
            "end_timestamp": task.delete_query.end_timestamp,
            "query_ast": task.delete_query.query_ast.to_string(),
            "search_fields": task.delete_query.search_fields,
        },
    })
}

/// Elasticsearch's `_delete_by_query` body (`{"query": ...}`; no query deletes everything, as
/// in Elasticsearch) as a delete query for `doc_mapper`'s index.
pub fn delete_query_from_elastic(
    body: &crate::http::RequestBody<'_>,
    doc_mapper: &Arc<DocMapper>,
) -> Result<DeleteQuery> {
    let body: serde_json::Value = if body.is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        body.parse_json().map_err(|error| {
            SearchError::InvalidRequest(format!("the request body is not JSON: {error}"))
        })?
    };
    let Some(object) = body.as_object() else {
        return Err(SearchError::InvalidRequest(
            "the request body must be a JSON object".to_string(),
        ));
    };
    if let Some(key) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "query" | "max_docs"))
    {
        return Err(SearchError::InvalidRequest(format!(
            "[_delete_by_query] unknown field [{key}]"
        )));
    }
    let ast = match object.get("query") {
        Some(query) => crate::elastic::query_from_dsl(query)?,
        None => QueryAst::MatchAll,
    };
    delete_query_of(ast, &[], None, None, doc_mapper)
}
