//! Turning on an existing staging bucket's EventBridge notifications.
//!
//! A stack attached to a bucket it did not create (`StagingBucketName`) hears of new objects
//! through EventBridge, which S3 sends to only when the bucket's notification configuration
//! says so. `PutBucketNotificationConfiguration` replaces the whole configuration, so the
//! one-line `aws s3api` call would drop the SNS, SQS and Lambda notifications the bucket
//! already has. [`enable_eventbridge`] reads the configuration and writes it back with
//! EventBridge added, and writes nothing when EventBridge is already on.
//!
//! S3 offers no conditional write of this configuration: run it while nothing else edits the
//! bucket's notifications (a deployment of another stack that owns them, for one).

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::types::{EventBridgeConfiguration, NotificationConfiguration};

use crate::error::{IngestError, Result};

/// What [`enable_eventbridge`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventBridgeChange {
    pub bucket: String,
    /// False when EventBridge was already on: nothing was written.
    pub turned_on: bool,
    /// The notifications the bucket has besides EventBridge, kept as they were.
    pub kept_topics: usize,
    pub kept_queues: usize,
    pub kept_functions: usize,
}

impl EventBridgeChange {
    /// One sentence for a person.
    pub fn summary(&self) -> String {
        let kept = format!(
            "{} SNS, {} SQS and {} Lambda notifications kept",
            self.kept_topics, self.kept_queues, self.kept_functions
        );
        if self.turned_on {
            format!(
                "bucket `{}`: EventBridge notifications turned on; {kept}",
                self.bucket
            )
        } else {
            format!(
                "bucket `{}`: EventBridge notifications were already on; nothing written ({kept})",
                self.bucket
            )
        }
    }
}

/// Turns on EventBridge notifications of `bucket`, keeping every other notification it has.
///
/// Idempotent: when EventBridge is already on, the configuration is read and not written.
pub async fn enable_eventbridge(client: &Client, bucket: &str) -> Result<EventBridgeChange> {
    let current = client
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .map_err(|error| {
            IngestError::Notifications(format!(
                "cannot read the notification configuration of bucket `{bucket}`: {}",
                DisplayErrorContext(error)
            ))
        })?;
    let mut change = EventBridgeChange {
        bucket: bucket.to_string(),
        turned_on: false,
        kept_topics: current.topic_configurations().len(),
        kept_queues: current.queue_configurations().len(),
        kept_functions: current.lambda_function_configurations().len(),
    };
    if current.event_bridge_configuration().is_some() {
        return Ok(change);
    }
    let configuration = NotificationConfiguration::builder()
        .set_topic_configurations(current.topic_configurations.clone())
        .set_queue_configurations(current.queue_configurations.clone())
        .set_lambda_function_configurations(current.lambda_function_configurations.clone())
        .event_bridge_configuration(EventBridgeConfiguration::builder().build())
        .build();
    client
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(configuration)
        // The destinations kept are the bucket's own, validated when they were added; one that
        // has been deleted since must not stop EventBridge from being turned on.
        .skip_destination_validation(true)
        .send()
        .await
        .map_err(|error| {
            IngestError::Notifications(format!(
                "cannot write the notification configuration of bucket `{bucket}`: {}",
                DisplayErrorContext(error)
            ))
        })?;
    change.turned_on = true;
    Ok(change)
}
