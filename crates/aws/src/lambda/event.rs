//! What a Lambda invocation brings — the SQS event an event source mapping delivers, or the tick
//! of the sweep's schedule (an EventBridge "Scheduled Event") — and the partial-batch response
//! the mapping reads back. Our own lenient serde types: every field is optional and unknown
//! fields are ignored, so a record that lacks something becomes a message with less context,
//! never a failed invocation.
//!
//! ```json
//! {"Records": [{"messageId": "…", "receiptHandle": "…", "body": "…",
//!   "attributes": {"MessageGroupId": "main", "ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
//!   "messageAttributes": {"traceparent": {"stringValue": "00-…", "dataType": "String"}},
//!   "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:sis.fifo"}]}
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::queue::Received;

/// One invocation's event: the records of a batch, in the queue's order.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SqsEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<SqsRecord>,
}

/// What an invocation is for: the queue's records, or the schedule's tick, which runs the sweep
/// (Lambda has no idle worker to carry on batches whose messages are gone).
#[derive(Debug, Clone)]
pub enum Invocation {
    Queue(SqsEvent),
    /// An EventBridge scheduled event (`"detail-type": "Scheduled Event"`, from a rule or from
    /// EventBridge Scheduler's `aws.scheduler` source).
    Sweep,
    /// Neither: answered with nothing to report (its `detail-type`, if it had one).
    Other(Option<String>),
}

/// The fields that tell the invocations apart.
#[derive(Deserialize)]
struct InvocationWire {
    #[serde(rename = "Records")]
    records: Option<Vec<SqsRecord>>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
}

impl<'de> Deserialize<'de> for Invocation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = InvocationWire::deserialize(d)?;
        Ok(match (wire.records, wire.detail_type) {
            (Some(records), _) => Invocation::Queue(SqsEvent { records }),
            (None, Some(t)) if t == "Scheduled Event" => Invocation::Sweep,
            (None, other) => Invocation::Other(other),
        })
    }
}

/// One SQS message of the event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SqsRecord {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub attributes: RecordAttributes,
    pub message_attributes: HashMap<String, MessageAttribute>,
    #[serde(rename = "eventSourceARN")]
    pub event_source_arn: Option<String>,
}

/// The system attributes SQS sends with a record (all strings on the wire).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordAttributes {
    pub message_group_id: Option<String>,
    pub approximate_receive_count: Option<String>,
    pub sent_timestamp: Option<String>,
}

/// A message attribute (only string values are read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageAttribute {
    pub string_value: Option<String>,
    pub data_type: Option<String>,
}

impl SqsRecord {
    /// The W3C `traceparent` the message was sent with, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.message_attributes
            .get("traceparent")
            .and_then(|a| a.string_value.as_deref())
    }

    /// When SQS accepted the message, in milliseconds since the epoch.
    pub fn sent_at_ms(&self) -> Option<u64> {
        self.attributes.sent_timestamp.as_deref()?.parse().ok()
    }

    /// The message as the worker's handler sees it.
    pub fn to_received(&self) -> Received {
        Received {
            message_id: self.message_id.clone(),
            receipt: self.receipt_handle.clone(),
            body: self.body.clone(),
            group: self.attributes.message_group_id.clone(),
            receive_count: self
                .attributes
                .approximate_receive_count
                .as_deref()
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            received_at: tokio::time::Instant::now(),
            sent_at_ms: self.sent_at_ms().and_then(|ms| i64::try_from(ms).ok()),
            trace_parent: self.traceparent().map(str::to_owned),
            trace_state: self
                .message_attributes
                .get("tracestate")
                .and_then(|a| a.string_value.clone()),
        }
    }
}

/// The partial-batch response (`ReportBatchItemFailures`): the messages that come back later.
/// Every record not named here is deleted by Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

impl BatchResponse {
    pub fn fail(&mut self, message_id: &str) {
        self.batch_item_failures.push(ItemFailure {
            item_identifier: message_id.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_scheduled_event_asks_for_the_sweep_and_records_for_their_handling() {
        let tick = json!({"version": "0", "id": "e-1", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-12-07T08:00:00Z",
            "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/sweep"],
            "detail": {}});
        assert!(matches!(
            serde_json::from_value::<Invocation>(tick).unwrap(),
            Invocation::Sweep
        ));
        let queue = json!({"Records": [{"messageId": "m-1", "body": "{}"}]});
        match serde_json::from_value::<Invocation>(queue).unwrap() {
            Invocation::Queue(e) => assert_eq!(e.records[0].message_id, "m-1"),
            other => panic!("{other:?}"),
        }
        let test_event = json!({"detail-type": "Object Created", "detail": {}});
        assert!(matches!(
            serde_json::from_value::<Invocation>(test_event).unwrap(),
            Invocation::Other(Some(t)) if t == "Object Created"
        ));
    }

    #[test]
    fn a_full_record_is_read() {
        let e: SqsEvent = serde_json::from_value(json!({"Records": [{
            "messageId": "m-1", "receiptHandle": "r-1", "body": "{}",
            "attributes": {"MessageGroupId": "main", "ApproximateReceiveCount": "3",
                           "SentTimestamp": "1700000000123", "MessageDeduplicationId": "d"},
            "messageAttributes": {"traceparent": {"stringValue": "00-abc-def-01", "dataType": "String"}},
            "md5OfBody": "x", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:sis.fifo", "awsRegion": "eu-west-1"
        }]}))
        .unwrap();
        let r = &e.records[0];
        assert_eq!(r.traceparent(), Some("00-abc-def-01"));
        assert_eq!(r.sent_at_ms(), Some(1_700_000_000_123));
        assert_eq!(
            r.event_source_arn.as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:sis.fifo")
        );
        let m = r.to_received();
        assert_eq!(
            (m.message_id.as_str(), m.group.as_deref(), m.receive_count),
            ("m-1", Some("main"), 3)
        );
    }

    #[test]
    fn missing_fields_make_a_sparser_record_not_an_error() {
        let e: SqsEvent =
            serde_json::from_value(json!({"Records": [{"messageId": "m", "attributes": {}}]}))
                .unwrap();
        let m = e.records[0].to_received();
        assert_eq!((m.group, m.receive_count, m.body.as_str()), (None, 1, ""));
        let empty: SqsEvent = serde_json::from_value(json!({})).unwrap();
        assert!(empty.records.is_empty());
    }

    #[test]
    fn the_response_has_lambdas_shape() {
        let mut r = BatchResponse::default();
        r.fail("m-2");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
        );
    }
}
