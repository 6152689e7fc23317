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
