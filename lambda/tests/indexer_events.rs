//! The indexer's Lambda handler with a real SQS event shape (EventBridge S3 notifications in
//! the bodies) and a default context, as the runtime's examples test theirs.

use aws_lambda_events::event::sqs::SqsEvent;
use hydrant_ingest::testing::{FRUIT_CONFIG, LocalIndex, fruit_record};
use hydrant_lambda::indexer::handle;
use lambda_runtime::{Context, LambdaEvent};

fn event() -> LambdaEvent<SqsEvent> {
    let payload: SqsEvent =
        serde_json::from_str(include_str!("fixtures/sqs-eventbridge-batch.json")).unwrap();
    LambdaEvent::new(payload, Context::default())
}

#[tokio::test]
async fn a_batch_is_indexed_once_and_its_poison_message_set_aside() {
    let local = LocalIndex::with_index(FRUIT_CONFIG).await;
    let body: String = (0..100).map(|i| fruit_record(i) + "\n").collect();
    local
        .put_object("firehose/2026/11/22/19/object-0", body.into_bytes())
        .await;
    let runtime = local.runtime(Vec::new()).await;

    let response = handle(&runtime, event()).await.unwrap();
    // The poison message can never succeed: it is recorded and deleted, not redelivered.
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(local.published_docs("fruit").await, 100);
    let set_aside = local
        .index_storage
        .list("indexes/fruit/errors/set-aside/")
        .await
        .unwrap();
    assert_eq!(set_aside.len(), 1);

    // Lambda redelivers the same batch (a lost response, say): nothing is indexed twice.
    let response = handle(&runtime, event()).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(local.published_docs("fruit").await, 100);
}

/// A delete task created through the searcher (its stack's `AllowDeleteTasks`), applied by
/// the indexer's scheduled maintenance message: the Lambda packages apply tasks themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_task_from_the_api_is_applied_by_the_indexers_maintenance() {
    use std::sync::Arc;

    use hydrant_lambda::searcher::{DeleteTaskWrites, handle_event, handle_event_with_writes};
    use hydrant_search::{SearchService, SearcherConfig};
    use serde_json::{Value, json};

    let local = LocalIndex::with_index(FRUIT_CONFIG).await;
    for object in 0..4u64 {
        let body: String = (object * 25..(object + 1) * 25)
            .map(|i| fruit_record(i) + "\n")
            .collect();
        let key = format!("object-{object}");
        local.put_object(&key, body.into_bytes()).await;
        local.index("fruit", &[&key]).await;
    }
    let service = Arc::new(SearchService::new(
        local.metastore.clone(),
        SearcherConfig::default(),
    ));
    let request = |path: &str, body: Value| {
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": path}},
            "body": body.to_string(),
            "isBase64Encoded": false,
        })
    };
    let create = request("/api/v1/fruit/delete-tasks", json!({"query": "name:apple"}));
    let read_only = handle_event(&service, create.clone()).await;
    assert_eq!(read_only["statusCode"], 405, "{read_only}");
    let writes = DeleteTaskWrites {
        search: service.clone(),
    };
    let created = handle_event_with_writes(&service, &writes, create).await;
    assert_eq!(created["statusCode"], 200, "{created}");
    let body: Value = serde_json::from_str(created["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["opstamp"], 1, "{body}");
    // A query that does not fit the mapping is refused now, not failed on every split.
    let bad = request(
        "/api/v1/fruit/delete-tasks",
        json!({"query": "price:cheap"}),
    );
    let refused = handle_event_with_writes(&service, &writes, bad).await;
    assert_eq!(refused["statusCode"], 400, "{refused}");
    // It is the only write the searcher takes.
    let ingest = request("/api/v1/fruit/ingest", json!({"name": "x"}));
    let refused = handle_event_with_writes(&service, &writes, ingest).await;
    assert_eq!(refused["statusCode"], 405, "{refused}");

    let runtime = local.runtime(Vec::new()).await;
    let maintenance: SqsEvent = serde_json::from_value(json!({"Records": [{
        "messageId": "maintenance-1",
        "receiptHandle": "handle",
        "body": json!({"type": "maintenance", "index_id": "fruit"}).to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "fruit"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:hydrant.fifo",
        "awsRegion": "eu-west-1",
    }]}))
    .unwrap();
    let response = handle(&runtime, LambdaEvent::new(maintenance, Context::default()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let tasks = local.metastore.delete_tasks("fruit").await.unwrap();
    assert_eq!(
        tasks.tasks[0].progress.docs_deleted, 25,
        "{:?}",
        tasks.tasks[0]
    );
    assert_eq!(local.published_docs("fruit").await, 75);
}
