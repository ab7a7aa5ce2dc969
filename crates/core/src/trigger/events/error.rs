//! Errors of the event parser and the tenant router.
//!
//! A [`PoisonError`] means "this queue message can never become work": the caller records it,
//! moves the message aside (DLQ or delete-and-report) and never retries it. It carries a
//! [`PoisonKind`] the caller can match on, what was wrong (`detail`) and an excerpt of what was
//! received, so the operator sees what, where and what to do. A [`RouterError`] is a
//! configuration mistake found once, at start.

use std::fmt;

/// How many characters of a body a [`PoisonError`] quotes.
pub const EXCERPT_CHARS: usize = 200;

/// The message shapes the worker accepts; quoted by every shape error.
pub const ACCEPTED_SHAPES: &str = "an S3 event notification ({\"Records\":[…]}), the S3 test \
     event ({\"Event\":\"s3:TestEvent\"}) or an EventBridge event from aws.s3 \
     ({\"detail-type\":\"Object Created\",\"detail\":{…}})";

/// Why a message is poison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonKind {
    /// The body is not JSON at all.
    NotJson,
    /// JSON, but none of the accepted shapes (or the right shape from the wrong source).
    UnknownShape,
    /// The right shape, but a field the worker needs (bucket, key, eventName) is missing or has
    /// the wrong type.
    MissingField,
    /// An S3 notification key that is not valid form encoding or not UTF-8 once decoded.
    BadKeyEncoding,
    /// The key matches no tenant's `s3_prefix` (raised by the caller through
    /// [`PoisonError::unknown_tenant`]).
    UnknownTenant,
}

impl PoisonKind {
    /// A stable snake_case name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            PoisonKind::NotJson => "not_json",
            PoisonKind::UnknownShape => "unknown_shape",
            PoisonKind::MissingField => "missing_field",
            PoisonKind::BadKeyEncoding => "bad_key_encoding",
            PoisonKind::UnknownTenant => "unknown_tenant",
        }
    }

    fn advice(self) -> &'static str {
        match self {
            PoisonKind::NotJson | PoisonKind::UnknownShape | PoisonKind::MissingField => {
                "check what sends to this queue: only the drop bucket's S3 notifications or \
                 its EventBridge rule should"
            }
            PoisonKind::BadKeyEncoding => {
                "S3 notification keys are form-encoded; check the sender, or rename the object \
                 to a UTF-8 key and upload it again"
            }
            PoisonKind::UnknownTenant => {
                "upload under a tenant's s3_prefix, or add a tenant whose s3_prefix covers this key"
            }
        }
    }
}

impl fmt::Display for PoisonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A queue message that can never become work. Never retry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "poison message ({kind}): {detail}; received: {received}; {advice}",
    advice = kind.advice()
)]
pub struct PoisonError {
    pub kind: PoisonKind,
    /// What was wrong, and where in the body (`Records[1].s3.object.key`).
    pub detail: String,
    /// The first [`EXCERPT_CHARS`] characters of the body (or the key), quoted and escaped.
    pub received: String,
}

impl PoisonError {
    pub(crate) fn new(kind: PoisonKind, detail: impl Into<String>, body: &str) -> Self {
        PoisonError {
            kind,
            detail: detail.into(),
            received: excerpt(body),
        }
    }

    /// The key of an object event matched no tenant: the caller's verdict after
    /// [`super::Router::route`] returned `None`.
    pub fn unknown_tenant(bucket: &str, key: &str) -> Self {
        PoisonError::new(
            PoisonKind::UnknownTenant,
            format!("no tenant's s3_prefix matches key {key:?} in bucket {bucket:?}"),
            key,
        )
    }
}

/// The first [`EXCERPT_CHARS`] characters, Debug-quoted so control characters cannot forge log
/// lines, with `…` when cut. Message bodies carry keys and ids, not credentials; nothing else
/// is quoted.
pub(crate) fn excerpt(body: &str) -> String {
    let mut cut: String = body.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < body.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// The tenants' `s3_prefix` settings cannot route keys unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("no tenants: the cloud worker needs at least one tenant")]
    NoTenants,
    #[error(
        "tenant {tenant} has no s3_prefix: with several tenants each one needs its own; \
         write s3_prefix = \"{tenant}/\" in [tenants.{tenant}]"
    )]
    MissingPrefix { tenant: String },
    #[error(
        "tenants {first} and {second} both have s3_prefix {prefix:?}: a key would belong to \
         both; give each tenant a different prefix"
    )]
    DuplicatePrefix {
        prefix: String,
        first: String,
        second: String,
    },
}
