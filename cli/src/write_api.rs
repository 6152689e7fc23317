//! The local write API of `hydrant serve`: the index management and ingestion routes of
//! Quickwit's REST API (and Elasticsearch's `_bulk`), so that what users and Quickwit's own
//! REST scenarios do to set an index up works against a local Hydrant.
//!
//! Deployed, Hydrant indexes what Firehose delivers; here a write goes the same way, only
//! shorter: the documents become a staging object in a local directory (kept, as Firehose
//! objects are), and the same indexer core that the Lambda runs indexes it before the
//! request is answered (`commit=force`, whatever the request asks). Writes are serialized,
//! as the FIFO queue serializes them.
//!
//! - `POST /api/v1/indexes` (a config, JSON or YAML), `DELETE /api/v1/indexes/{id}`;
//! - `POST /api/v1/templates`, `PUT|DELETE /api/v1/templates/{id}`: index templates, from
//!   which a write to a missing index whose id matches creates it;
//! - `POST /api/v1/{index}/ingest` (NDJSON);
//! - `POST|PUT /api/v1/_elastic/[{index}/]_bulk` (`index` and `create` actions);
//! - `POST /api/v1/{index}/delete-tasks` (applied in the background) and
//!   `POST /api/v1/_elastic/{index}/_delete_by_query` (applied before the answer).
//!
//! The router (`hydrant_search::router`) tells these routes apart; this answers them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use hydrant_index::config::IndexConfig;
use hydrant_index::doc_mapper::DocMapper;
use hydrant_index::template::IndexTemplate;
use hydrant_index::update::IndexUpdate;
use hydrant_ingest::batch::{IndexerRuntime, QueueMessage};
use hydrant_ingest::maintenance::{Maintainer, MaintenanceReport};
use hydrant_ingest::{Indexer, ObjectRef, StagingBuckets};
use hydrant_metastore::Metastore;
use hydrant_search::SearchService;
use hydrant_search::delete::{create_delete_task, delete_query_from_elastic};
use hydrant_search::http::{HttpRequest, HttpResponse, RequestBody};
use hydrant_search::router::{WriteApi, WriteRoute};
use hydrant_storage::{StorageResolver, StorageUri};
use serde_json::{Value, json};

/// The staging "bucket" the write API's objects are read from.
const WRITE_API_BUCKET: &str = "hydrant-write-api";

/// What answers the write routes on local storage.
pub struct LocalWriteApi {
    search: Arc<SearchService>,
    metastore: Metastore,
    staging_dir: PathBuf,
    /// One write at a time, as one indexer per queue.
    indexer: tokio::sync::Mutex<IndexerRuntime>,
}

impl LocalWriteApi {
    pub async fn new(
        search: Arc<SearchService>,
        metastore: Metastore,
        staging_dir: PathBuf,
        resolver: StorageResolver,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&staging_dir)?;
        let staging_dir = std::fs::canonicalize(&staging_dir)?;
        let buckets = StagingBuckets::new(resolver)
            .bind(WRITE_API_BUCKET, StorageUri::Local(staging_dir.clone()));
        let runtime =
            IndexerRuntime::new(Indexer::new(metastore.clone(), buckets), Vec::new()).await?;
        Ok(LocalWriteApi {
            search,
            metastore,
            staging_dir,
            indexer: tokio::sync::Mutex::new(runtime),
        })
    }

    async fn route(&self, route: WriteRoute<'_>, request: &HttpRequest<'_>) -> HttpResponse {
        let body = request.body.bytes();
        match route {
            WriteRoute::CreateIndex => self.create_index(&body).await,
            WriteRoute::CreateTemplate => self.put_template(None, &body).await,
            WriteRoute::PutTemplate(template_id) => {
                self.put_template(Some(template_id), &body).await
            }
            WriteRoute::DeleteTemplate(template_id) => {
                match self.metastore.delete_template(template_id).await {
                    Ok(()) => json_response(json!({"template_id": template_id})),
                    Err(error @ hydrant_metastore::Error::TemplateNotFound(_)) => {
                        HttpResponse::error(404, error.to_string())
                    }
                    Err(error) => HttpResponse::error(500, error.to_string()),
                }
            }
            WriteRoute::DeleteIndex(index_id) => self.delete_index(index_id).await,
            WriteRoute::UpdateIndex(index_id) => {
                let create = (request.query_string.unwrap_or("").split('&'))
                    .any(|pair| pair == "create=true" || pair == "create");
                self.update_index(index_id, create, &body).await
            }
            WriteRoute::Ingest(index_id) => self.ingest(index_id, &body).await,
            WriteRoute::ElasticDeleteIndexes(pattern) => {
                self.delete_indexes(pattern, request.query_string.unwrap_or(""))
                    .await
            }
            WriteRoute::ElasticBulk(index_id) => self.bulk(index_id, &body).await,
            WriteRoute::CreateDeleteTask(index_id) => {
                self.create_delete_task(index_id, &body).await
            }
            WriteRoute::ElasticDeleteByQuery(index_id) => {
                self.delete_by_query(index_id, &request.body).await
            }
        }
    }

    /// `POST /api/v1/{index_id}/delete-tasks`: the task is created, answered in Quickwit's
    /// shape, and applied in the background (as Quickwit's janitor does); its state is at
    /// `GET /api/v1/{index_id}/delete-tasks`.
    async fn create_delete_task(&self, index_id: &str, body: &[u8]) -> HttpResponse {
        let answer = match create_delete_task(&self.search, index_id, body).await {
            Ok((_, answer)) => answer,
            Err(error) => return HttpResponse::search_error(&error),
        };
        let (maintainer, search, index) = (
            Maintainer::new(self.metastore.clone()),
            self.search.clone(),
            index_id.to_string(),
        );
        tokio::spawn(async move {
            let mut report = MaintenanceReport::default();
            if let Err(error) = maintainer
                .apply_delete_tasks(&index, None, &mut report)
                .await
            {
                tracing::warn!(index_id = index, %error, "applying delete tasks failed");
            }
            search.forget_index(&index);
        });
        json_response(answer)
    }

    /// `POST /api/v1/_elastic/{index}/_delete_by_query`: a delete task, applied before the
    /// answer, which says how many documents it deleted, as Elasticsearch's does.
    async fn delete_by_query(&self, index_id: &str, body: &RequestBody<'_>) -> HttpResponse {
        let started = Instant::now();
        let doc_mapper = match self.search.doc_mapper(index_id).await {
            Ok(doc_mapper) => doc_mapper,
            Err(error) => return elastic_search_error(&error),
        };
        let query = match delete_query_from_elastic(body, &doc_mapper) {
            Ok(query) => query,
            Err(error) => return elastic_search_error(&error),
        };
        let applied = async {
            // Serialized with the writes: a document written before this request is deleted.
            let _writes = self.indexer.lock().await;
            let task = self.metastore.create_delete_task(index_id, query).await?;
            let maintainer = Maintainer::new(self.metastore.clone());
            let mut report = MaintenanceReport::default();
            maintainer
                .apply_delete_tasks(index_id, None, &mut report)
                .await?;
            let tasks = self.metastore.delete_tasks(index_id).await?;
            anyhow::Ok(
                tasks
                    .tasks
                    .into_iter()
                    .find(|done| done.opstamp == task.opstamp),
            )
        };
        let task = match applied.await {
            Ok(Some(task)) => task,
            Ok(None) => return es_error(500, "exception", "the delete task vanished"),
            Err(error) => return es_error(500, "exception", &format!("{error:#}")),
        };
        self.search.forget_index(index_id);
        let deleted = task.progress.docs_deleted;
        json_response(json!({
            "took": started.elapsed().as_millis() as u64,
            "timed_out": false,
            "total": deleted,
            "deleted": deleted,
            "batches": 1,
            "version_conflicts": 0,
            "noops": 0,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": [],
        }))
    }

    async fn create_index(&self, body: &[u8]) -> HttpResponse {
        let config = match index_config(body) {
            Ok(config) => config,
            Err(refusal) => return refusal,
        };
        match self.metastore.create_index(config).await {
            Ok(metadata) => {
                self.search.forget_index(metadata.index_id());
                json_response(json!({
                    "index_id": metadata.index_id(),
                    "index_config": metadata.index_config,
                    "create_timestamp": metadata.create_timestamp,
                }))
            }
            Err(hydrant_metastore::Error::IndexAlreadyExists(index_id)) => {
                HttpResponse::error(400, format!("index `{index_id}` already exists"))
            }
            Err(error) => HttpResponse::error(400, error.to_string()),
        }
    }

    /// `PUT /api/v1/indexes/{id}[?create=true]`: the config replaced (PUT semantics: what the
    /// body omits takes its default), if the update rules allow it; the answer is the index
    /// as updated, with what changed.
    async fn update_index(&self, index_id: &str, create: bool, body: &[u8]) -> HttpResponse {
        let config = match index_config(body) {
            Ok(config) => config,
            Err(refusal) => return refusal,
        };
        if config.index_id != index_id {
            return HttpResponse::error(
                400,
                format!(
                    "the path names index `{index_id}`, the config `{}`",
                    config.index_id
                ),
            );
        }
        let updated = match self.metastore.update_index(config.clone()).await {
            Err(hydrant_metastore::Error::IndexNotFound(_)) if create => self
                .metastore
                .create_index(config)
                .await
                .map(|metadata| (IndexUpdate::default(), metadata)),
            updated => updated,
        };
        self.search.forget_index(index_id);
        match updated {
            Ok((update, metadata)) => json_response(json!({
                "index_uid": metadata.index_uid,
                "index_config": metadata.index_config,
                "create_timestamp": metadata.create_timestamp,
                "doc_mapping_uid": metadata.doc_mapping_uid(),
                "changes": {
                    "added_fields": update.added_fields,
                    "changed_fields": update.changed_fields,
                    "removed_fields": update.removed_fields,
                    "search_settings": update.search_settings_changed,
                    "retention": update.retention_changed,
                    "indexing_settings": update.indexing_settings_changed,
                },
            })),
            Err(error @ hydrant_metastore::Error::IndexNotFound(_)) => {
                HttpResponse::error(404, error.to_string())
            }
            Err(error @ hydrant_metastore::Error::InvalidConfig(_)) => {
                HttpResponse::error(400, error.to_string())
            }
            Err(error) => HttpResponse::error(500, error.to_string()),
        }
    }

    /// `POST /api/v1/templates` (a new template) or `PUT /api/v1/templates/{id}` (replace).
    async fn put_template(&self, template_id: Option<&str>, body: &[u8]) -> HttpResponse {
        let Ok(text) = std::str::from_utf8(body) else {
            return HttpResponse::error(400, "the index template is not UTF-8");
        };
        let template = match IndexTemplate::from_yaml(text) {
            Ok(template) => template,
            Err(error) => {
                return HttpResponse::error(400, format!("invalid index template: {error}"));
            }
        };
        let stored = match template_id {
            None => self.metastore.create_template(template).await,
            Some(id) if id != template.template_id => {
                return HttpResponse::error(
                    400,
                    format!(
                        "the path names template `{id}`, the body `{}`",
                        template.template_id
                    ),
                );
            }
            Some(_) => self.metastore.update_template(template).await,
        };
        match stored {
            Ok(template) => json_response(serde_json::to_value(template).expect("serializes")),
            Err(error @ hydrant_metastore::Error::TemplateAlreadyExists(_)) => {
                HttpResponse::error(400, error.to_string())
            }
            Err(error) => HttpResponse::error(400, error.to_string()),
        }
    }

    /// `DELETE /api/v1/indexes/{id}`: the files deleted.
    async fn delete_index(&self, index_id: &str) -> HttpResponse {
        match self.remove_index(index_id).await {
            Ok(deleted) => json_response(Value::Array(deleted)),
            Err(response) => response,
        }
    }

    /// Elasticsearch's `DELETE /{pattern}`: every index the pattern selects (names that do not
    /// exist are a 404 unless `ignore_unavailable=true`).
    async fn delete_indexes(&self, pattern: &str, query_string: &str) -> HttpResponse {
        let ignore_unavailable = form_urlencoded::parse(query_string.as_bytes())
            .any(|(key, value)| key == "ignore_unavailable" && value == "true");
        let index_ids = match hydrant_search::index_pattern::index_ids(
            &self.search,
            pattern,
            ignore_unavailable,
        )
        .await
        {
            Ok(index_ids) => index_ids,
            Err(error) => {
                return hydrant_search::elastic::error_response(
                    error.status_code(),
                    "index_not_found_exception",
                    &error.public_message(),
                );
            }
        };
        for index_id in &index_ids {
            if let Err(response) = self.remove_index(index_id).await {
                return response;
            }
        }
        json_response(json!({"acknowledged": true}))
            .with_header("x-elastic-product", "Elasticsearch")
    }

    /// Deletes the index's metastore document (searches stop finding it), then its files.
    async fn remove_index(&self, index_id: &str) -> Result<Vec<Value>, HttpResponse> {
        let _writing = self.indexer.lock().await;
        let deleted = self
            .metastore
            .delete_index_and_files(index_id)
            .await
            .map_err(|error| {
                let status = match error {
                    hydrant_metastore::Error::IndexNotFound(_) => 404,
                    _ => 500,
                };
                HttpResponse::error(status, error.to_string())
            })?;
        self.search.forget_index(index_id);
        Ok(deleted
            .into_iter()
            .map(|file| json!({"file_name": file.path, "file_size_bytes": file.size}))
            .collect())
    }

    /// `POST /api/v1/{index}/ingest`: NDJSON documents, indexed before the answer.
    async fn ingest(&self, index_id: &str, body: &[u8]) -> HttpResponse {
        let mapper = match self.doc_mapper(index_id).await {
            Ok(mapper) => mapper,
            Err(response) => return response,
        };
        let Ok(text) = std::str::from_utf8(body) else {
            return HttpResponse::error(400, "the body is not UTF-8 NDJSON");
        };
        let mut accepted = Vec::new();
        let mut failures = Vec::new();
        for (number, line) in text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .enumerate()
        {
            match check_document(&mapper, line) {
                Ok(()) => accepted.push(line),
                Err(message) => failures.push(json!({"line": number + 1, "message": message})),
            }
        }
        let num_docs = accepted.len() + failures.len();
        if let Err(response) = self.index_lines(index_id, &accepted).await {
            return response;
        }
        json_response(json!({
            "num_docs_for_processing": num_docs,
            "num_ingested_docs": accepted.len(),
            "num_rejected_docs": failures.len(),
            "parse_failures": failures,
        }))
    }

    /// Elasticsearch's `_bulk`: action lines (`index`, `create`) each followed by a document.
    async fn bulk(&self, path_index: Option<&str>, body: &[u8]) -> HttpResponse {
        let started = Instant::now();
        let Ok(text) = std::str::from_utf8(body) else {
            return es_error(
                400,
                "illegal_argument_exception",
                "the body is not UTF-8 NDJSON",
            );
        };
        let actions = match parse_bulk(text, path_index) {
            Ok(actions) => actions,
            Err(response) => return response,
        };
        let mut items: Vec<Value> = Vec::with_capacity(actions.len());
        let mut per_index: BTreeMap<String, Vec<(usize, &str)>> = BTreeMap::new();
        let mut mappers: BTreeMap<String, Result<Arc<DocMapper>, HttpResponse>> = BTreeMap::new();
        for (position, action) in actions.iter().enumerate() {
            items.push(Value::Null);
            let mapper = match mappers.get(&action.index) {
                Some(found) => found.clone(),
                None => {
                    let found = self.doc_mapper(&action.index).await;
                    mappers.insert(action.index.clone(), found.clone());
                    found
                }
            };
            let outcome = match mapper {
                Err(response) => Err(item_error(&action.index, &response)),
                Ok(mapper) => check_document(&mapper, action.document).map_err(|message| {
                    (
                        400,
                        json!({"type": "document_parsing_exception", "reason": message}),
                    )
                }),
            };
            match outcome {
                Ok(()) => per_index
                    .entry(action.index.clone())
                    .or_default()
                    .push((position, action.document)),
                Err((status, error)) => items[position] = action.item(status, Some(error)),
            }
        }
        for (index_id, documents) in per_index {
            let lines: Vec<&str> = documents.iter().map(|(_, document)| *document).collect();
            let outcome = self.index_lines(&index_id, &lines).await;
            for (position, _) in documents {
                items[position] = match &outcome {
                    Ok(()) => actions[position].item(201, None),
                    Err(response) => {
                        let (status, error) = item_error(&index_id, response);
                        actions[position].item(status, Some(error))
                    }
                };
            }
        }
        let errors = items.iter().any(|item| {
            item.as_object()
                .and_then(|item| item.values().next())
                .is_some_and(|i| i["status"] != 201)
        });
        json_response(json!({
            "took": started.elapsed().as_millis() as u64,
            "errors": errors,
            "items": items,
        }))
        .with_header("x-elastic-product", "Elasticsearch")
    }

    /// The index's doc mapper, or the response saying why there is none.
    async fn doc_mapper(&self, index_id: &str) -> Result<Arc<DocMapper>, HttpResponse> {
        // An index a template matches is created now, as the indexer would on first sight.
        let metadata = self.metastore.index_metadata_or_create(index_id).await;
        if metadata.is_ok() {
            self.search.forget_index(index_id);
        }
        match metadata {
            Ok(metadata) => DocMapper::new(&metadata.index_config)
                .map(Arc::new)
                .map_err(|error| HttpResponse::error(500, error.to_string())),
            Err(hydrant_metastore::Error::IndexNotFound(_)) => Err(HttpResponse::error(
                404,
                format!("no such index [{index_id}]"),
            )),
            // A template matched a name that is no valid index id.
            Err(error @ hydrant_metastore::Error::InvalidConfig(_)) => {
                Err(HttpResponse::error(400, error.to_string()))
            }
            Err(error) => Err(HttpResponse::error(500, error.to_string())),
        }
    }

    /// Writes `lines` as one staging object and indexes it, as a queue message would.
    async fn index_lines(&self, index_id: &str, lines: &[&str]) -> Result<(), HttpResponse> {
        if lines.is_empty() {
            return Ok(());
        }
        let indexer = self.indexer.lock().await;
        let key = format!(
            "{index_id}/{}-{}.ndjson",
            time::OffsetDateTime::now_utc().unix_timestamp(),
            unique_suffix()
        );
        let path = self.staging_dir.join(&key);
        let mut body = lines.join("\n");
        body.push('\n');
        let written = async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::write(&path, body).await
        };
        if let Err(error) = written.await {
            return Err(HttpResponse::error(
                500,
                format!("cannot stage documents: {error}"),
            ));
        }
        let object = ObjectRef::new(WRITE_API_BUCKET, key);
        let outcome = indexer
            .run_batch(&[QueueMessage::backfill(&object, Some(index_id))], None)
            .await;
        self.search.forget_index(index_id);
        let failure = outcome.failure.map(|failure| failure.reason).or_else(|| {
            outcome
                .set_aside
                .first()
                .map(|set_aside| set_aside.reason.clone())
        });
        match failure {
            Some(reason) => Err(HttpResponse::error(
                500,
                format!("indexing failed: {reason}"),
            )),
            None => Ok(()),
        }
    }
}

impl WriteApi for LocalWriteApi {
    fn write<'a>(
        &'a self,
        route: WriteRoute<'a>,
        request: &'a HttpRequest<'a>,
    ) -> BoxFuture<'a, HttpResponse> {
        Box::pin(self.route(route, request))
    }
}

/// One `_bulk` action with its document.
struct BulkAction<'a> {
    kind: &'static str,
    index: String,
    id: Option<String>,
    document: &'a str,
}

impl BulkAction<'_> {
    fn item(&self, status: u16, error: Option<Value>) -> Value {
        let mut item = json!({"_index": self.index, "status": status});
        if let Some(id) = &self.id {
            item["_id"] = json!(id);
        }
        match error {
            Some(error) => item["error"] = error,
            None => item["result"] = json!("created"),
        }
        json!({ self.kind: item })
    }
}

/// Reads `_bulk` pairs; a line that is not an `index` or `create` action, or one naming no
/// index, refuses the whole request, as Elasticsearch does.
fn parse_bulk<'a>(
    text: &'a str,
    path_index: Option<&str>,
) -> Result<Vec<BulkAction<'a>>, HttpResponse> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty());
    let mut actions = Vec::new();
    while let Some((number, line)) = lines.next() {
        let malformed = || {
            es_error(
                400,
                "illegal_argument_exception",
                &format!(
                    "Malformed action/metadata line [{}], expected an object with one of \
                     index or create",
                    number + 1
                ),
            )
        };
        let Ok(Value::Object(action)) = serde_json::from_str::<Value>(line) else {
            return Err(malformed());
        };
        let (kind, metadata) = match action.iter().next() {
            Some((kind, Value::Object(metadata))) if action.len() == 1 => (kind.as_str(), metadata),
            _ => return Err(malformed()),
        };
        let kind = match kind {
            "index" => "index",
            "create" => "create",
            _ => return Err(malformed()),
        };
        let index = metadata
            .get("_index")
            .and_then(Value::as_str)
            .or(path_index)
            .map(str::to_string);
        let Some(index) = index else {
            return Err(es_error(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
            ));
        };
        let id = metadata.get("_id").map(|id| match id {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        });
        let Some((_, document)) = lines.next() else {
            return Err(es_error(
                400,
                "illegal_argument_exception",
                &format!("the action on line [{}] has no document", number + 1),
            ));
        };
        actions.push(BulkAction {
            kind,
            index,
            id,
            document,
        });
    }
    Ok(actions)
}

/// Whether the index would accept `line`: what the indexer checks, told now.
fn check_document(mapper: &DocMapper, line: &str) -> Result<(), String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(record)) => mapper
            .doc_from_json(record)
            .map(|_| ())
            .map_err(|rejection| rejection.message),
        Ok(_) => Err("a document must be a JSON object".to_string()),
        Err(error) => Err(format!("not JSON: {error}")),
    }
}

/// A `_bulk` item's status and error for a failed index lookup or write.
fn item_error(index_id: &str, response: &HttpResponse) -> (u16, Value) {
    let reason = response
        .json_body()
        .and_then(|body| body["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    let kind = match response.status {
        404 => "index_not_found_exception",
        400 => "illegal_argument_exception",
        _ => "exception",
    };
    (
        response.status,
        json!({"type": kind, "reason": reason, "index": index_id}),
    )
}

/// An index config from a request body, JSON or YAML, or the 400 that says why not.
fn index_config(body: &[u8]) -> Result<IndexConfig, HttpResponse> {
    let text = std::str::from_utf8(body)
        .map_err(|_| HttpResponse::error(400, "the index config is not UTF-8"))?;
    IndexConfig::from_yaml(text)
        .map_err(|error| HttpResponse::error(400, format!("invalid index config: {error}")))
}

fn json_response(value: Value) -> HttpResponse {
    HttpResponse::json(200, &value)
}

/// A failed search-side step (an unknown index, a bad query) in Elasticsearch's shape.
fn elastic_search_error(error: &hydrant_search::SearchError) -> HttpResponse {
    let kind = match error.status_code() {
        404 => "index_not_found_exception",
        400 => "parsing_exception",
        _ => "exception",
    };
    es_error(error.status_code(), kind, &error.public_message())
}

fn es_error(status: u16, kind: &str, reason: &str) -> HttpResponse {
    hydrant_search::elastic::error_response(status, kind, reason)
        .with_header("x-elastic-product", "Elasticsearch")
}

/// An object name part no other write of this process has: time and a counter.
fn unique_suffix() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{:x}-{count}",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    )
}
