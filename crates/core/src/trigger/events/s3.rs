//! S3 event notifications (`{"Records":[…]}`) and the `s3:TestEvent`, as S3 sends them to a
//! standard queue (route B/C of docs/aws.md §1.2) or moto sends them in tests.
//!
//! The serde types are ours and lenient: every field is optional, because moto omits
//! `userIdentity`, `versionId`, `sequencer` and more (docs/aws.md §3.4). What the worker cannot do
//! without — `eventName`, the bucket name and the key of an `ObjectCreated:*` record — is checked
//! by hand afterwards, so the poison message names the exact field. Records of other events
//! (`ObjectRemoved:*`, `ObjectRestore:*`, …) are kept aside as [`Ignored`] without being checked.
//!
//! Keys arrive form-encoded (`+` is a space, `%2F` may be a `/`) and are decoded by
//! [`decode_key`], a small strict decoder of our own: `form_urlencoded::parse` would replace
//! invalid UTF-8 and leave a stray `%` as is, turning a broken key into a wrong key silently.

use serde::Deserialize;

use super::error::{PoisonError, PoisonKind};
use super::{EventSource, Ignored, ObjectEvent, Parsed, parse_time};

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_source: Option<String>,
    event_name: Option<String>,
    event_time: Option<String>,
    s3: Option<Entity>,
}

#[derive(Debug, Deserialize)]
struct Entity {
    bucket: Option<Bucket>,
    object: Option<Object>,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    key: Option<String>,
    size: Option<u64>,
    e_tag: Option<String>,
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// The test message S3 sends when a notification configuration is saved.
#[derive(Debug, Deserialize)]
struct TestEvent {
    #[serde(rename = "Bucket")]
    bucket: Option<String>,
}

/// Is this JSON object the `s3:TestEvent`?
pub(super) fn is_test_event(v: &serde_json::Value) -> bool {
    v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent")
}

/// The `s3:TestEvent`: nothing to do but acknowledge it.
pub(super) fn parse_test_event(v: serde_json::Value) -> Parsed {
    let bucket = serde_json::from_value::<TestEvent>(v)
        .ok()
        .and_then(|t| t.bucket);
    Parsed::TestEvent { bucket }
}

/// A `{"Records":[…]}` body: every `ObjectCreated:*` record becomes an [`ObjectEvent`], in the
/// order of the body; any record that is broken makes the whole message poison (a half-parsed
/// message would lose the broken record when the message is deleted).
pub(super) fn parse_notification(v: serde_json::Value, body: &str) -> Result<Parsed, PoisonError> {
    let n: Notification = serde_json::from_value(v).map_err(|e| {
        PoisonError::new(
            PoisonKind::MissingField,
            format!("an S3 event notification whose Records do not parse: {e}"),
            body,
        )
    })?;
    let mut events = Vec::new();
    let mut ignored = Vec::new();
    for (i, r) in n.records.into_iter().enumerate() {
        match record(i, r, body)? {
            Ok(e) => events.push(e),
            Err(ig) => ignored.push(ig),
        }
    }
    Ok(Parsed::Objects { events, ignored })
}

/// One record: an object event, an ignored event, or poison.
fn record(i: usize, r: Record, body: &str) -> Result<Result<ObjectEvent, Ignored>, PoisonError> {
    let missing = |field: &str| {
        PoisonError::new(
            PoisonKind::MissingField,
            format!("an S3 event notification without Records[{i}].{field}"),
            body,
        )
    };
    if let Some(src) = r.event_source.as_deref().filter(|s| *s != "aws:s3") {
        return Err(PoisonError::new(
            PoisonKind::UnknownShape,
            format!("Records[{i}].eventSource is {src:?}, not \"aws:s3\""),
            body,
        ));
    }
    let name = r.event_name.ok_or_else(|| missing("eventName"))?;
    let object = r.s3.as_ref().and_then(|s| s.object.as_ref());
    if !name.starts_with("ObjectCreated:") {
        let key = object.and_then(|o| o.key.as_deref()).map(|k| {
            // For the log line only: a key that does not decode is shown raw.
            decode_key(k).unwrap_or_else(|_| k.to_owned())
        });
        return Ok(Err(Ignored { event: name, key }));
    }
    let bucket = r.s3.as_ref().and_then(|s| s.bucket.as_ref());
    let bucket = bucket
        .and_then(|b| b.name.clone())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| missing("s3.bucket.name"))?;
    let object = object.ok_or_else(|| missing("s3.object"))?;
    let raw_key = object
        .key
        .as_deref()
        .ok_or_else(|| missing("s3.object.key"))?;
    let key = decode_key(raw_key).map_err(|why| {
        PoisonError::new(
            PoisonKind::BadKeyEncoding,
            format!("Records[{i}].s3.object.key {raw_key:?} in bucket {bucket:?}: {why}"),
            body,
        )
    })?;
    if key.is_empty() {
        return Err(missing("s3.object.key (it is empty)"));
    }
    Ok(Ok(ObjectEvent {
        bucket,
        key,
        size: object.size,
        etag: object.e_tag.clone(),
        version_id: object.version_id.clone(),
        sequencer: object.sequencer.clone(),
        event_time: r.event_time.as_deref().and_then(parse_time),
        source: EventSource::S3Notification,
    }))
}

/// Decodes an S3 notification key as `application/x-www-form-urlencoded`: `+` → space, then
/// `%XX` → that byte; the bytes must be UTF-8. A `%` not followed by two hex digits is an error,
/// not a literal: S3 encodes a real `%` as `%25`, so a bare one means the key was not encoded
/// the way we think, and guessing could start work on the wrong object.
pub fn decode_key(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| hex(*b));
                let lo = bytes.get(i + 2).and_then(|b| hex(*b));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err("a '%' not followed by two hex digits");
                };
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once percent-decoded")
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::decode_key;

    #[test]
    fn plus_decodes_to_space() {
        assert_eq!(decode_key("a+b.zip").unwrap(), "a b.zip");
    }

    #[test]
    fn percent_2b_is_a_real_plus_and_25_a_real_percent() {
        assert_eq!(decode_key("c%2Bd%25e").unwrap(), "c+d%e");
    }

    #[test]
    fn percent_2f_decodes_to_slash_and_plain_slash_stays() {
        assert_eq!(decode_key("a%2Fb/c").unwrap(), "a/b/c");
    }

    #[test]
    fn lowercase_hex_decodes() {
        assert_eq!(decode_key("%c3%a9").unwrap(), "é");
    }

    #[test]
    fn decoded_percent_is_not_decoded_twice() {
        assert_eq!(decode_key("%2541").unwrap(), "%41");
    }

    #[test]
    fn stray_percent_is_an_error() {
        assert!(decode_key("100%").is_err());
        assert!(decode_key("a%zzb").is_err());
        assert!(decode_key("a%4").is_err());
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(decode_key("%FF%FE").is_err());
    }

    #[test]
    fn raw_unicode_passes_through() {
        assert_eq!(decode_key("é+ü").unwrap(), "é ü");
    }
}
