//! The queue port ([`MessageQueue`]) spoken to SQS (FIFO in production) through the AWS SDK —
//! receive one message, delete it, change its visibility, move it to the dead-letter queue named
//! by the queue's redrive policy.
//!
//! Nothing here decides what a message means or when to delete it; that is the worker's.

use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::port::MessageQueue;

/// The longest long poll SQS allows.
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// The longest total visibility of one receipt (12 hours).
pub const VISIBILITY_CAP: Duration = Duration::from_secs(43_200);

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// `MessageGroupId` (FIFO queues only).
    pub group: Option<String>,
    /// `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
    /// When this receipt was handed out (for the 12-hour cap), on the runtime's clock.
    pub received_at: tokio::time::Instant,
    /// `SentTimestamp` (milliseconds since the epoch): when the message entered the queue.
    pub sent_at_ms: Option<i64>,
    /// The W3C trace context the sender attached (message attributes `traceparent` and
    /// `tracestate`): the batch's trace continues it.
    pub trace_parent: Option<String>,
    pub trace_state: Option<String>,
}

/// Message attributes that carry a W3C trace context.
pub const TRACE_ATTRIBUTES: [&str; 2] = ["traceparent", "tracestate"];

/// An SQS call failed. Carries the queue URL (no credentials ever) and the SDK's message.
#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} on {queue}: {detail}; {advice}")]
pub struct QueueError {
    pub operation: &'static str,
    pub queue: String,
    pub detail: String,
    pub advice: &'static str,
}

fn queue_error<E>(
    operation: &'static str,
    queue: &str,
    e: aws_sdk_sqs::error::SdkError<E>,
) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    let code = e.code().unwrap_or("").to_owned();
    let detail = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
    };
    let advice = if code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist") {
        "check SIS_QUEUE_URL (region and account included)"
    } else if code.contains("AccessDenied") || code.contains("NotAuthorized") {
        "the worker's role needs sqs:ReceiveMessage, DeleteMessage, ChangeMessageVisibility, \
         GetQueueAttributes and SendMessage (dead-letter queue) on this queue"
    } else {
        "canvas-sis retries; if it persists, check the network path to SQS"
    };
    QueueError {
        operation,
        queue: queue.to_owned(),
        detail,
        advice,
    }
}

/// One SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// The listener's readiness check of the queue: `GetQueueAttributes` answers.
    pub fn readiness_check(&self) -> canvas_sis_telemetry::listener::Check {
        let queue = self.clone();
        canvas_sis_telemetry::listener::Check::new("queue", move || {
            let q = queue.clone();
            async move { q.reachable().await.map_err(|e| e.to_string()) }
        })
    }

    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    /// FIFO queues' names end in `.fifo`.
    pub fn is_fifo(&self) -> bool {
        self.url.ends_with(".fifo")
    }

    /// Whether the queue answers (`GetQueueAttributes`): the readiness probe's check.
    pub async fn reachable(&self) -> Result<(), QueueError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| queue_error("GetQueueAttributes", &self.url, e))?;
        Ok(())
    }

    /// The dead-letter queue of this queue's redrive policy, if it has one.
    pub async fn dead_letter_queue(&self) -> Result<Option<SqsQueue>, QueueError> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| queue_error("GetQueueAttributes", &self.url, e))?
            .attributes
            .unwrap_or_default();
        let Some(policy) = attrs.get(&QueueAttributeName::RedrivePolicy) else {
            return Ok(None);
        };
        let arn = serde_json::from_str::<serde_json::Value>(policy)
            .ok()
            .and_then(|v| v["deadLetterTargetArn"].as_str().map(str::to_owned));
        let Some((account, name)) = arn.as_deref().and_then(split_queue_arn) else {
            return Err(QueueError {
                operation: "GetQueueAttributes",
                queue: self.url.clone(),
                detail: format!("the RedrivePolicy {policy:?} names no queue ARN"),
                advice: "fix the queue's redrive policy (deadLetterTargetArn)",
            });
        };
        let url = self
            .client
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| queue_error("GetQueueUrl", &self.url, e))?
            .queue_url
            .unwrap_or_default();
        Ok(Some(SqsQueue::new(self.client.clone(), url)))
    }
}

impl MessageQueue for SqsQueue {
    fn url(&self) -> &str {
        &self.url
    }

    async fn receive_one(
        &self,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Option<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(1)
            .wait_time_seconds(wait.min(MAX_WAIT).as_secs() as i32)
            .visibility_timeout(secs_i32(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .set_message_attribute_names(Some(TRACE_ATTRIBUTES.map(str::to_owned).to_vec()))
            .send()
            .await
            .map_err(|e| queue_error("ReceiveMessage", &self.url, e))?;
        let received_at = tokio::time::Instant::now();
        let Some(m) = out.messages.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let attrs = m.attributes.unwrap_or_default();
        let attr = |a: MessageSystemAttributeName| attrs.get(&a).cloned();
        let user = m.message_attributes.unwrap_or_default();
        let text = |name: &str| user.get(name).and_then(|v| v.string_value.clone());
        Ok(Some(Received {
            message_id: m.message_id.unwrap_or_default(),
            receipt: m.receipt_handle.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            group: attr(MessageSystemAttributeName::MessageGroupId),
            receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            received_at,
            sent_at_ms: attr(MessageSystemAttributeName::SentTimestamp)
                .and_then(|t| t.parse().ok()),
            trace_parent: text("traceparent"),
            trace_state: text("tracestate"),
        }))
    }

    async fn delete(&self, m: &Received) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&m.receipt)
            .send()
            .await
            .map_err(|e| queue_error("DeleteMessage", &self.url, e))?;
        Ok(())
    }

    async fn set_visibility(&self, m: &Received, visibility: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&m.receipt)
            .visibility_timeout(secs_i32(visibility))
            .send()
            .await
            .map_err(|e| queue_error("ChangeMessageVisibility", &self.url, e))?;
        Ok(())
    }

    async fn waiting(&self) -> Result<u64, QueueError> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| queue_error("GetQueueAttributes", &self.url, e))?
            .attributes
            .unwrap_or_default();
        let count = |a: QueueAttributeName| {
            attrs
                .get(&a)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesDelayed))
    }

    async fn send_copy(&self, m: &Received, reason: &str) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(&m.body);
        if let Ok(attr) = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(truncate(reason, 1000))
            .build()
        {
            req = req.message_attributes("canvas-sis-poison", attr);
        }
        if self.is_fifo() {
            req = req
                .message_group_id(m.group.clone().unwrap_or_else(|| "poison".into()))
                .message_deduplication_id(&m.message_id);
        }
        req.send()
            .await
            .map_err(|e| queue_error("SendMessage", &self.url, e))?;
        Ok(())
    }
}

fn secs_i32(d: Duration) -> i32 {
    d.as_secs().min(VISIBILITY_CAP.as_secs()) as i32
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `arn:aws:sqs:region:account:name` → (account, name).
fn split_queue_arn(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, account, name] if !name.is_empty() => Some((account, name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arns_split_into_account_and_name() {
        assert_eq!(
            split_queue_arn("arn:aws:sqs:us-east-1:123456789012:sis-dlq.fifo"),
            Some(("123456789012", "sis-dlq.fifo"))
        );
        assert_eq!(split_queue_arn("arn:aws:sns:us-east-1:1:x"), None);
        assert_eq!(split_queue_arn("nonsense"), None);
    }

    #[test]
    fn visibility_never_exceeds_the_cap() {
        assert_eq!(secs_i32(Duration::from_secs(50_000)), 43_200);
        assert_eq!(secs_i32(Duration::from_secs(30)), 30);
    }
}
