//! How an S3 SDK error becomes a [`LedgerError`]: the answers the adapter acts on (412, 404,
//! 409), and for everything else a retryable/permanent class and a message an operator can act
//! on.
//!
//! The decision ([`verdict`]) is a pure function of the failure kind, the HTTP status and the S3
//! error code, so it is tested without a server. Messages are built from the status, code and
//! message S3 sent and from the error chain of the connection — never from `Debug` output of the
//! SDK's types, and never with credentials (S3 does not echo them, and the request is not shown).

use std::error::Error as StdError;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use canvas_sis_core::ledger::{ErrorClass, LedgerError};

/// The S3 call that failed, for messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Get,
    Put,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "GetObject",
            Op::Put => "PutObject",
            Op::List => "ListObjectsV2",
        }
    }
}

/// What the failing call was about.
pub(super) struct Context<'a> {
    pub op: Op,
    pub key: &'a str,
    pub location: String,
    pub bucket: &'a str,
    pub prefix: &'a str,
}

/// A failed S3 call, as the adapter acts on it.
#[derive(Debug)]
pub(super) enum Failure {
    /// 412: `If-None-Match` or `If-Match` did not hold.
    PreconditionFailed,
    /// 404 `NoSuchKey`.
    NoSuchKey,
    /// 409 `ConditionalRequestConflict`: another conditional write of the key is in flight.
    ConditionalConflict,
    /// Anything else. `maybe_applied`: the request may have taken effect without an answer.
    Other {
        error: LedgerError,
        maybe_applied: bool,
    },
}

impl Failure {
    /// The error to return when the adapter has no special handling for this failure.
    /// `key` and `location` name the object for the answers that carry no error of their own.
    pub(super) fn into_error(self, key: &str, location: String) -> LedgerError {
        match self {
            Failure::Other { error, .. } => error,
            // Only reached from calls without conditions, where S3 does not send these.
            other => LedgerError::Remote {
                key: key.to_owned(),
                location,
                message: format!("unexpected S3 answer {other:?} to an unconditional call"),
                class: ErrorClass::Retryable,
            },
        }
    }
}

/// How the request failed, from the SDK's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The request was never built (bad input, no credentials or region).
    Construction,
    /// Timed out; may have been sent.
    Timeout,
    /// No HTTP response; may have been sent.
    Dispatch,
    /// A response that could not be read.
    Response,
    /// An error response from S3.
    Service,
}

/// What to do about a failure (see [`Failure`]); `Permanent` names the advice to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    PreconditionFailed,
    NoSuchKey,
    ConditionalConflict,
    Retryable { maybe_applied: bool },
    Permanent(Advice),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Advice {
    NoSuchBucket,
    AccessDenied,
    Credentials,
    WrongRegion,
    Generic,
}

/// The decision, from the failure kind, HTTP status and S3 error code alone.
pub(super) fn verdict(kind: Kind, status: Option<u16>, code: Option<&str>) -> Verdict {
    let retry = |maybe_applied| Verdict::Retryable { maybe_applied };
    match kind {
        Kind::Construction => return Verdict::Permanent(Advice::Credentials),
        Kind::Timeout | Kind::Dispatch | Kind::Response => return retry(true),
        Kind::Service => {}
    }
    match (status, code) {
        (Some(412), _) | (_, Some("PreconditionFailed")) => Verdict::PreconditionFailed,
        (_, Some("NoSuchKey")) | (Some(404), None) => Verdict::NoSuchKey,
        (_, Some("ConditionalRequestConflict")) => Verdict::ConditionalConflict,
        (_, Some("NoSuchBucket")) => Verdict::Permanent(Advice::NoSuchBucket),
        (_, Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken")) => {
            Verdict::Permanent(Advice::Credentials)
        }
        (
            _,
            Some(
                "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException",
            ),
        )
        | (Some(301), _) => Verdict::Permanent(Advice::WrongRegion),
        (_, Some("AccessDenied" | "AllAccessDisabled")) | (Some(403), None) => {
            Verdict::Permanent(Advice::AccessDenied)
        }
        // Credentials are refreshed by the SDK; a clock skew is usually fixed by NTP.
        (_, Some("ExpiredToken" | "TokenRefreshRequired" | "RequestTimeTooSkewed")) => retry(false),
        (_, Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout")) => {
            retry(true)
        }
        (Some(429), _) => retry(false),
        (Some(s), _) if s >= 500 => retry(true),
        _ => Verdict::Permanent(Advice::Generic),
    }
}

/// Maps an SDK error (see the module docs).
pub(super) fn classify<E>(err: &SdkError<E, HttpResponse>, cx: Context<'_>) -> Failure
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let kind = match err {
        SdkError::ConstructionFailure(_) => Kind::Construction,
        SdkError::TimeoutError(_) => Kind::Timeout,
        SdkError::DispatchFailure(_) => Kind::Dispatch,
        SdkError::ResponseError(_) => Kind::Response,
        _ => Kind::Service,
    };
    let status = err.raw_response().map(|r| r.status().as_u16());
    let what = describe(err, kind, status);
    let (class, maybe_applied, advice) = match verdict(kind, status, err.code()) {
        Verdict::PreconditionFailed => return Failure::PreconditionFailed,
        Verdict::NoSuchKey => return Failure::NoSuchKey,
        Verdict::ConditionalConflict => return Failure::ConditionalConflict,
        Verdict::Retryable { maybe_applied } => (
            ErrorClass::Retryable,
            maybe_applied,
            "a temporary failure; the call may be retried".to_owned(),
        ),
        Verdict::Permanent(advice) => (ErrorClass::Permanent, false, advise(advice, &cx)),
    };
    Failure::Other {
        error: LedgerError::Remote {
            key: cx.key.to_owned(),
            location: cx.location,
            message: format!("S3 {} failed: {what}; {advice}", cx.op.name()),
            class,
        },
        maybe_applied,
    }
}

/// What S3 answered (status, code, message), or the connection's error chain.
fn describe<E>(err: &SdkError<E, HttpResponse>, kind: Kind, status: Option<u16>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if kind != Kind::Service {
        return chain(err);
    }
    let mut out = match status {
        Some(s) => format!("HTTP {s}"),
        None => "an error response".to_owned(),
    };
    if let Some(code) = err.code() {
        out.push_str(&format!(" {code}"));
    }
    if let Some(msg) = err.message().filter(|m| !m.is_empty()) {
        out.push_str(&format!(": {msg}"));
    }
    out
}

/// An error and its sources, joined by `: ` (repeats dropped).
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// What an operator should change, for a permanent failure.
fn advise(advice: Advice, cx: &Context<'_>) -> String {
    let (bucket, prefix) = (cx.bucket, cx.prefix);
    match advice {
        Advice::NoSuchBucket => format!(
            "bucket `{bucket}` does not exist (canvas-sis never creates one); create it, or fix \
             the ledger URL s3://{bucket}/{prefix}"
        ),
        Advice::AccessDenied => format!(
            "access denied; the worker's role needs s3:GetObject and s3:PutObject on \
             arn:aws:s3:::{bucket}/{prefix}* and s3:ListBucket on arn:aws:s3:::{bucket}"
        ),
        Advice::Credentials => "the request could not be signed or was refused: check the AWS \
             credentials (role, profile or AWS_ACCESS_KEY_ID) and AWS_REGION the process runs with"
            .to_owned(),
        Advice::WrongRegion => {
            format!("bucket `{bucket}` is in another region; set AWS_REGION to the bucket's region")
        }
        Advice::Generic => "S3 refused the call; retrying will not help".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> Verdict {
        verdict(Kind::Service, Some(status), Some(code))
    }

    #[test]
    fn condition_answers_are_recognised() {
        assert_eq!(
            service(412, "PreconditionFailed"),
            Verdict::PreconditionFailed
        );
        assert_eq!(service(404, "NoSuchKey"), Verdict::NoSuchKey);
        assert_eq!(verdict(Kind::Service, Some(404), None), Verdict::NoSuchKey);
        assert_eq!(
            service(409, "ConditionalRequestConflict"),
            Verdict::ConditionalConflict
        );
    }

    #[test]
    fn throttling_server_errors_and_lost_connections_are_retryable() {
        for v in [
            service(503, "SlowDown"),
            service(500, "InternalError"),
            verdict(Kind::Service, Some(502), None),
            service(400, "RequestTimeout"),
            service(400, "ExpiredToken"),
            verdict(Kind::Timeout, None, None),
            verdict(Kind::Dispatch, None, None),
            verdict(Kind::Response, Some(200), None),
        ] {
            assert!(matches!(v, Verdict::Retryable { .. }), "{v:?}");
        }
        assert_eq!(
            verdict(Kind::Dispatch, None, None),
            Verdict::Retryable {
                maybe_applied: true
            }
        );
    }

    #[test]
    fn missing_buckets_refusals_and_bad_credentials_are_permanent() {
        use Advice::*;
        assert_eq!(
            service(404, "NoSuchBucket"),
            Verdict::Permanent(NoSuchBucket)
        );
        assert_eq!(
            service(403, "AccessDenied"),
            Verdict::Permanent(AccessDenied)
        );
        assert_eq!(
            service(403, "InvalidAccessKeyId"),
            Verdict::Permanent(Credentials)
        );
        assert_eq!(
            service(301, "PermanentRedirect"),
            Verdict::Permanent(WrongRegion)
        );
        assert_eq!(service(400, "InvalidArgument"), Verdict::Permanent(Generic));
        assert_eq!(
            verdict(Kind::Construction, None, None),
            Verdict::Permanent(Credentials)
        );
    }

    #[test]
    fn advice_names_the_bucket_and_the_permissions() {
        let cx = Context {
            op: Op::Get,
            key: "k",
            location: "s3://b/p/k".into(),
            bucket: "b",
            prefix: "p/",
        };
        let denied = advise(Advice::AccessDenied, &cx);
        assert!(denied.contains("arn:aws:s3:::b/p/*"), "{denied}");
        assert!(denied.contains("s3:ListBucket"), "{denied}");
        assert!(advise(Advice::NoSuchBucket, &cx).contains("bucket `b` does not exist"));
    }
}
