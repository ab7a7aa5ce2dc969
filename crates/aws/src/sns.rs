//! One SNS publish: the subject (≤ 100 ASCII characters), the JSON notice as the message, and
//! message attributes `tenant` and `event` for subscription filter policies.
//!
//! Errors are classified by kind and SNS error code only; the SDK's error text is not logged.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use canvas_sis_core::notify::TopicPublisher;
use canvas_sis_core::notify::message::Notice;
use canvas_sis_core::notify::retry::Attempt;

/// Publishes notices to SNS topics with one client.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    pub client: aws_sdk_sns::Client,
}

impl TopicPublisher for SnsPublisher {
    fn attempt<'a>(
        &'a self,
        topic_arn: &'a str,
        notice: &'a Notice,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Attempt> + Send + 'a>> {
        Box::pin(self.publish(topic_arn, notice, timeout))
    }
}

impl SnsPublisher {
    /// Publishes once; `timeout` bounds the call (the SDK's own retries included).
    async fn publish(&self, topic_arn: &str, notice: &Notice, timeout: Duration) -> Attempt {
        let message = match serde_json::to_string(notice) {
            Ok(m) => m,
            Err(e) => return Attempt::GiveUp { why: e.to_string() },
        };
        let publish = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(notice.subject())
            .message(message)
            .message_attributes("tenant", string_attribute(&notice.tenant))
            .message_attributes("event", string_attribute(notice.event.as_str()))
            .send();
        match tokio::time::timeout(timeout, publish).await {
            Err(_) => Attempt::Retry {
                after: None,
                why: "timed out".into(),
            },
            Ok(Ok(_)) => Attempt::Delivered,
            Ok(Err(e)) => classify(&e),
        }
    }
}

fn string_attribute(v: &str) -> MessageAttributeValue {
    // Invariant: the builder only fails when `data_type` is missing, and it is set here.
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("data_type is set")
}

/// Throttling, server faults and transport errors are retried; the rest (no such topic, not
/// allowed, invalid parameter) are not.
fn classify<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Attempt {
    let code = e.code().unwrap_or("").to_owned();
    let retryable_code = matches!(
        code.as_str(),
        "Throttling" | "Throttled" | "ThrottlingException" | "InternalError" | "InternalFailure"
    ) || code.is_empty();
    match e {
        SdkError::ServiceError(_) if !retryable_code => Attempt::GiveUp {
            why: format!("SNS refused ({code})"),
        },
        SdkError::ServiceError(_) => Attempt::Retry {
            after: None,
            why: format!(
                "SNS error ({})",
                if code.is_empty() { "unknown" } else { &code }
            ),
        },
        SdkError::TimeoutError(_) => Attempt::Retry {
            after: None,
            why: "timed out".into(),
        },
        _ => Attempt::Retry {
            after: None,
            why: "could not reach SNS".into(),
        },
    }
}
