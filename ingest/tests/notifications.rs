//! Turning on an existing bucket's EventBridge notifications keeps the notifications it has,
//! against moto's S3 and SQS.

use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use hydrant_ingest::notifications::enable_eventbridge;
use hydrant_ingest::queue::sqs_client;
use hydrant_storage::testing::{moto_bucket, moto_endpoint};

#[tokio::test]
async fn eventbridge_is_added_beside_the_notifications_a_bucket_has() {
    let (s3, bucket) = moto_bucket("notifications").await;
    let sqs = sqs_client(Some(&moto_endpoint())).await;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{bucket}-existing"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    // What the bucket's owner set up before Hydrant: a queue told of every new object.
    let existing = QueueConfiguration::builder()
        .id("their-own-consumer")
        .queue_arn(&queue_arn)
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(existing)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let change = enable_eventbridge(&s3, &bucket).await.unwrap();
    assert!(change.turned_on);
    assert_eq!(
        (
            change.kept_topics,
            change.kept_queues,
            change.kept_functions
        ),
        (0, 1, 0)
    );
    assert!(
        change.summary().contains("turned on"),
        "{}",
        change.summary()
    );

    let after = s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(after.event_bridge_configuration().is_some());
    let queues = after.queue_configurations();
    assert_eq!(queues.len(), 1, "{after:?}");
    assert_eq!(queues[0].id(), Some("their-own-consumer"));
    assert_eq!(queues[0].queue_arn(), queue_arn);
    assert_eq!(queues[0].events(), [Event::S3ObjectCreated]);

    // A second run finds it on and writes nothing.
    let again = enable_eventbridge(&s3, &bucket).await.unwrap();
    assert!(!again.turned_on);
    assert_eq!(again.kept_queues, 1);
    assert!(
        again.summary().contains("already on"),
        "{}",
        again.summary()
    );
}

#[tokio::test]
async fn a_missing_bucket_is_a_clear_error() {
    let (s3, bucket) = moto_bucket("notifications-missing").await;
    let error = enable_eventbridge(&s3, &format!("{bucket}-nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot read the notification configuration"),
        "{error}"
    );
    assert!(error.contains("NoSuchBucket"), "{error}");
}
