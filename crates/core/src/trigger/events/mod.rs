//! Queue message bodies of the cloud worker, turned into object events: the pure first step of
//! S3 drop → EventBridge → SQS FIFO → `canvas-sis run`.
//!
//! [`parse_message`] accepts the three bodies of docs/design.md's operator contract — an S3 event
//! notification ([`s3`]), the `s3:TestEvent`, an EventBridge event from `aws.s3`
//! ([`eventbridge`]) — and calls anything else poison ([`PoisonError`]). [`classify`] says what
//! an object key means (zip batch, closed folder, nothing), and [`Router`] which tenant it
//! belongs to. The caller's loop, per message: parse → per event: route (no tenant = poison
//! [`PoisonError::unknown_tenant`]) → classify → hand batches to the pipeline.
//!
//! What this module deliberately does not do: talk to AWS, delete or retry messages, look at the
//! objects, dedupe events (the ledger does), or compare sequencers.

pub mod error;
pub mod eventbridge;
pub mod route;
pub mod s3;

use chrono::{DateTime, Utc};

pub use canvas_sis_rules::batch::{BatchTrigger, FolderMarker, IgnoreReason, classify};
pub use error::{ACCEPTED_SHAPES, PoisonError, PoisonKind, RouterError};
pub use route::Router;

/// One "object created" in the drop bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    /// The object key, decoded (S3 notifications) or as received (EventBridge).
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// Hex, comparable only between events of the same key (docs/aws.md §1.3).
    pub sequencer: Option<String>,
    /// `None` when absent or not RFC 3339: the time is for logs, never worth a poison message.
    pub event_time: Option<DateTime<Utc>>,
    pub source: EventSource,
}

impl ObjectEvent {
    /// The object's version, when the bucket keeps versions (`null` is what S3 and moto report
    /// for an object of an unversioned bucket).
    pub fn version(&self) -> Option<&str> {
        self.version_id
            .as_deref()
            .filter(|v| !v.is_empty() && *v != "null")
    }

    /// What tells this upload from any other upload of the same key — the version, or else the
    /// sequencer — and is the same in every delivery of it (a redelivered message, a duplicate
    /// event, the S3 notification and the EventBridge event of one PUT). `None` when the event
    /// carries neither (the ledger then tells deliveries apart by content only).
    pub fn delivery(&self) -> Option<String> {
        match (self.version(), self.sequencer.as_deref()) {
            (Some(v), _) => Some(format!("s3-version:{v}")),
            (None, Some(seq)) if !seq.is_empty() => Some(format!("s3-sequencer:{seq}")),
            _ => None,
        }
    }
}

/// Which body format an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    S3Notification,
    EventBridge,
}

/// An S3 event of another kind (`ObjectRemoved:Delete`, "Object Deleted", …): acknowledged,
/// logged, not work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// `eventName` (S3 notification) or `detail-type` (EventBridge).
    pub event: String,
    /// The key when the body had one (decoded for S3 notifications when it decodes).
    pub key: Option<String>,
}

/// A message body understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The `s3:TestEvent` S3 sends when a notification configuration is saved: log "test event"
    /// and delete the message.
    TestEvent { bucket: Option<String> },
    /// Object events in body order, and the other S3 events the body carried. Both may be empty
    /// (a body of ignored events only, or `{"Records":[]}`).
    Objects {
        events: Vec<ObjectEvent>,
        ignored: Vec<Ignored>,
    },
}

impl Parsed {
    /// The object-created events (none for a test event).
    pub fn events(&self) -> &[ObjectEvent] {
        match self {
            Parsed::TestEvent { .. } => &[],
            Parsed::Objects { events, .. } => events,
        }
    }

    /// The object-created events, owned.
    pub fn into_events(self) -> Vec<ObjectEvent> {
        match self {
            Parsed::TestEvent { .. } => Vec::new(),
            Parsed::Objects { events, .. } => events,
        }
    }
}

/// Parses one queue message body. `Err` means poison: never retry it.
///
/// The shape is chosen by a marker field, not by trying each type in turn, so the error can say
/// which shape was meant and what in it was wrong: `Records` → S3 notification, `Event:
/// "s3:TestEvent"` → test event, `detail-type` → EventBridge.
pub fn parse_message(body: &str) -> Result<Parsed, PoisonError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        PoisonError::new(
            PoisonKind::NotJson,
            format!("the body is not JSON ({e}); expected {ACCEPTED_SHAPES}"),
            body,
        )
    })?;
    if value.get("Records").is_some() {
        s3::parse_notification(value, body)
    } else if s3::is_test_event(&value) {
        Ok(s3::parse_test_event(value))
    } else if eventbridge::is_event(&value) {
        eventbridge::parse_event(value, body)
    } else {
        Err(PoisonError::new(
            PoisonKind::UnknownShape,
            format!("JSON of an unknown shape; expected {ACCEPTED_SHAPES}"),
            body,
        ))
    }
}

/// An RFC 3339 time, or `None`.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
