//! EventBridge events from `aws.s3`, as an EventBridge rule delivers them to the FIFO queue
//! (route A of docs/aws.md §1.2): the whole event is the message body.
//!
//! Field names are kebab-case (`detail-type`, `version-id`) and the ETag is `etag`. Keys are taken
//! **as they are**: the S3 docs do not say this format encodes them and moto sends them plain
//! (docs/aws.md §1.3 b), so decoding on a guess would corrupt a key holding `+` or `%`.
//! Only `detail-type: "Object Created"` becomes work; other S3 detail types ("Object Deleted",
//! "Object Restore Completed", …) are [`Ignored`]. An event from another source is poison: the
//! rule feeding this queue is wrong.

use serde::Deserialize;

use super::error::{PoisonError, PoisonKind};
use super::{EventSource, Ignored, ObjectEvent, Parsed, parse_time};

/// The detail type that starts work.
pub const OBJECT_CREATED: &str = "Object Created";

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: Option<String>,
    time: Option<String>,
    detail: Option<Detail>,
}

#[derive(Debug, Deserialize)]
struct Detail {
    bucket: Option<Bucket>,
    object: Option<Object>,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Object {
    key: Option<String>,
    size: Option<u64>,
    /// `etag` as AWS documents it; moto sends `eTag`.
    #[serde(alias = "eTag")]
    etag: Option<String>,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// Is this JSON object an EventBridge event?
pub(super) fn is_event(v: &serde_json::Value) -> bool {
    v.get("detail-type").is_some()
}

/// One EventBridge event: one object event, one ignored event, or poison.
pub(super) fn parse_event(v: serde_json::Value, body: &str) -> Result<Parsed, PoisonError> {
    let e: Event = serde_json::from_value(v).map_err(|err| {
        PoisonError::new(
            PoisonKind::MissingField,
            format!("an EventBridge event that does not parse: {err}"),
            body,
        )
    })?;
    let missing = |field: &str| {
        PoisonError::new(
            PoisonKind::MissingField,
            format!("an EventBridge \"{OBJECT_CREATED}\" event without {field}"),
            body,
        )
    };
    match e.source.as_deref() {
        Some("aws.s3") => {}
        other => {
            return Err(PoisonError::new(
                PoisonKind::UnknownShape,
                format!("an EventBridge event from source {other:?}, not \"aws.s3\""),
                body,
            ));
        }
    }
    let object = e.detail.as_ref().and_then(|d| d.object.as_ref());
    if e.detail_type != OBJECT_CREATED {
        let key = object.and_then(|o| o.key.clone());
        let ignored = Ignored {
            event: e.detail_type,
            key,
        };
        return Ok(Parsed::Objects {
            events: Vec::new(),
            ignored: vec![ignored],
        });
    }
    let bucket = e.detail.as_ref().and_then(|d| d.bucket.as_ref());
    let bucket = bucket
        .and_then(|b| b.name.clone())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| missing("detail.bucket.name"))?;
    let object = object.ok_or_else(|| missing("detail.object"))?;
    let key = object
        .key
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| missing("detail.object.key"))?;
    let event = ObjectEvent {
        bucket,
        key,
        size: object.size,
        etag: object.etag.clone(),
        version_id: object.version_id.clone(),
        sequencer: object.sequencer.clone(),
        event_time: e.time.as_deref().and_then(parse_time),
        source: EventSource::EventBridge,
    };
    Ok(Parsed::Objects {
        events: vec![event],
        ignored: Vec::new(),
    })
}
