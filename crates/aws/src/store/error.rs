//! Why a batch could not be fetched from S3, and whether trying again can help.
//!
//! Every [`FetchError`] says what failed, where (`s3://bucket/key`) and what to do. The caller
//! acts on [`FetchError::is_permanent`]: a permanent error means the batch can never be fetched
//! as it is (record it as rejected, tell the operator); anything else is transient (S3 throttling
//! or 5xx, a timeout, a broken connection, the local disk) and the fetch is retried later.
//!
//! [`from_sdk`] is the one place that turns an SDK error into this type. It deliberately treats
//! credential problems of the worker itself (expired token, bad signature, skewed clock) as
//! transient: they say nothing about the batch, and rejecting every batch while a token
//! refreshes would halt each tenant for nothing. `AccessDenied` is permanent, as the operator
//! contract asks, and names the IAM action the worker's role lacks. No error carries a secret:
//! the SDK's messages hold codes, messages and request ids, never credentials.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use canvas_sis_rules::batch::IgnoreReason;

/// What went wrong while fetching a batch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "not a batch ({reason}); only a zip key or a closed folder can be fetched — the caller \
         should have acknowledged this event without fetching (a bug, please report it)"
    )]
    NotABatch { reason: IgnoreReason },
    #[error(
        "{location} is gone: it was deleted after its event was sent, so there is nothing to \
         import; upload the batch again if it is still wanted"
    )]
    Gone { location: String },
    #[error(
        "{location} was overwritten after its event was sent and the bucket keeps no versions, so \
         the content the event announced is gone (a later upload is imported by its own event); \
         turn on versioning on the drop bucket (required), then upload the lost batch again"
    )]
    Overwritten { location: String },
    #[error(
        "access denied on {op} {location}; give the worker's IAM role {action} on the drop \
         bucket (and kms:Decrypt if the bucket uses a KMS key), then upload the batch again"
    )]
    AccessDenied {
        op: &'static str,
        location: String,
        action: &'static str,
    },
    #[error("S3 refused {op} {location}: {detail}; fix the cause, then upload the batch again")]
    Refused {
        op: &'static str,
        location: String,
        detail: String,
    },
    #[error("{op} {location} failed for now: {detail}; the fetch will be retried")]
    Transient {
        op: &'static str,
        location: String,
        detail: String,
    },
    #[error(
        "reading {location} broke off after {bytes} bytes: {detail}; the fetch will be retried"
    )]
    Interrupted {
        location: String,
        bytes: u64,
        detail: String,
    },
    #[error(
        "{location} is over the size limit ({size} bytes seen, {limit} allowed); split the \
         export into smaller batches, or raise the worker's object size limit"
    )]
    TooLarge {
        location: String,
        size: u64,
        limit: u64,
    },
    #[error(
        "{location}: the file name {name:?} is not safe to write ({why}); rename it (letters, \
         digits, spaces, '.', '-', '_'; no '/', '\\\\', leading '.', control characters) and upload \
         the batch again"
    )]
    BadName {
        location: String,
        name: String,
        why: &'static str,
    },
    /// `detail` names the manifest and says how to fix it (it comes from folder mode's rules).
    #[error("{detail}")]
    BadManifest { location: String, detail: String },
    #[error(
        "{location}manifest.json lists {}, not there after waiting {} s; upload the missing \
         files to {location}, then upload manifest.json again (that sends a new event)",
        .missing.join(", "),
        .waited.as_secs()
    )]
    Incomplete {
        location: String,
        missing: Vec<String>,
        waited: Duration,
    },
    #[error(
        "{location}{name} has sha256 {got} but manifest.json says {expected}; the file was \
         changed or cut short in transit — upload it again, or fix the digest in the manifest, \
         then upload manifest.json again"
    )]
    ChecksumMismatch {
        location: String,
        name: String,
        expected: String,
        got: String,
    },
    #[error(
        "{location} holds no .csv file at its top level (sub-folders are not read); put the SIS \
         export's CSV files there, then upload the marker again"
    )]
    Empty { location: String },
    #[error(
        "could not {op} {path}: {source}; check the work folder's free space and permissions \
         (the fetch will be retried)"
    )]
    Local {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FetchError {
    /// True when the batch can never be fetched as it is: record it as rejected. False when the
    /// failure is S3's, the network's or the local disk's: retry later.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            FetchError::Transient { .. }
                | FetchError::Interrupted { .. }
                | FetchError::Local { .. }
        )
    }

    pub(crate) fn local(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> FetchError {
        let path = path.into();
        move |source| FetchError::Local { op, path, source }
    }
}

/// An S3 operation the fetch makes, with the IAM action that allows it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    GetObject,
    ListObjectsV2,
    ListObjectVersions,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::GetObject => "GetObject",
            Op::ListObjectsV2 => "ListObjectsV2",
            Op::ListObjectVersions => "ListObjectVersions",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Op::GetObject => "s3:GetObject and s3:GetObjectVersion",
            Op::ListObjectsV2 => "s3:ListBucket",
            Op::ListObjectVersions => "s3:ListBucketVersions",
        }
    }
}

/// Error codes S3 uses for "slow down / try again".
const RETRY_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
];

/// Codes about the worker's own credentials or clock, not about the batch.
const WORKER_CODES: &[&str] = &[
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
];

/// Turns an SDK error of `op` on `location` into a [`FetchError`] (see the module doc).
pub(crate) fn from_sdk<E>(err: SdkError<E, HttpResponse>, op: Op, location: &str) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let location = location.to_owned();
    let detail = DisplayErrorContext(&err).to_string();
    let status = match &err {
        SdkError::ServiceError(_) => err.raw_response().map(|r| r.status().as_u16()),
        SdkError::ConstructionFailure(_) => {
            return FetchError::Refused {
                op: op.name(),
                location,
                detail,
            };
        }
        _ => None,
    };
    let code = err.code().unwrap_or_default().to_owned();
    classify(op, location, status, &code, detail)
}

/// The pure decision behind [`from_sdk`]: `status` is `None` when no response came back.
fn classify(
    op: Op,
    location: String,
    status: Option<u16>,
    code: &str,
    detail: String,
) -> FetchError {
    let transient = |detail| FetchError::Transient {
        op: op.name(),
        location: location.clone(),
        detail,
    };
    let Some(status) = status else {
        return transient(detail);
    };
    if code == "NoSuchKey"
        || (status == 404 && matches!(op, Op::GetObject) && code != "NoSuchBucket")
    {
        return FetchError::Gone { location };
    }
    // Only sent with If-Match (the event's ETag, when the event names no version).
    if code == "PreconditionFailed" || (status == 412 && matches!(op, Op::GetObject)) {
        return FetchError::Overwritten { location };
    }
    if WORKER_CODES.contains(&code) || RETRY_CODES.contains(&code) {
        return transient(detail);
    }
    if code == "AccessDenied" || code == "AllAccessDisabled" || (status == 403 && code.is_empty()) {
        return FetchError::AccessDenied {
            op: op.name(),
            location,
            action: op.action(),
        };
    }
    if (400..500).contains(&status) && status != 408 && status != 429 {
        return FetchError::Refused {
            op: op.name(),
            location,
            detail,
        };
    }
    transient(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(op: Op, status: Option<u16>, code: &str) -> FetchError {
        classify(op, "s3://b/k".into(), status, code, "detail".into())
    }

    #[test]
    fn throttling_server_errors_and_no_response_are_transient() {
        for (s, code) in [
            (Some(503), "SlowDown"),
            (Some(500), "InternalError"),
            (Some(502), ""),
            (Some(429), ""),
            (Some(400), "RequestTimeout"),
            (None, ""),
        ] {
            let e = c(Op::GetObject, s, code);
            assert!(!e.is_permanent(), "{s:?} {code}: {e}");
        }
    }

    #[test]
    fn worker_credential_trouble_is_transient_not_the_batch_s_fault() {
        for code in ["ExpiredToken", "InvalidAccessKeyId", "RequestTimeTooSkewed"] {
            assert!(!c(Op::GetObject, Some(403), code).is_permanent(), "{code}");
        }
    }

    #[test]
    fn access_denied_is_permanent_and_names_the_iam_action() {
        let e = c(Op::ListObjectsV2, Some(403), "AccessDenied");
        assert!(e.is_permanent());
        assert!(e.to_string().contains("s3:ListBucket"), "{e}");
        let e = c(Op::GetObject, Some(403), "");
        assert!(e.to_string().contains("s3:GetObject"), "{e}");
    }

    #[test]
    fn an_object_whose_etag_changed_is_overwritten_and_permanent() {
        let e = c(Op::GetObject, Some(412), "PreconditionFailed");
        assert!(matches!(e, FetchError::Overwritten { .. }), "{e}");
        assert!(e.is_permanent());
        assert!(e.to_string().contains("versioning"), "{e}");
    }

    #[test]
    fn a_missing_object_is_gone_and_a_missing_bucket_is_refused() {
        assert!(matches!(
            c(Op::GetObject, Some(404), "NoSuchKey"),
            FetchError::Gone { .. }
        ));
        assert!(matches!(
            c(Op::GetObject, Some(404), ""),
            FetchError::Gone { .. }
        ));
        let e = c(Op::ListObjectsV2, Some(404), "NoSuchBucket");
        assert!(matches!(e, FetchError::Refused { .. }) && e.is_permanent());
    }

    #[test]
    fn incomplete_names_every_missing_file_and_the_fix() {
        let e = FetchError::Incomplete {
            location: "s3://b/main/x/".into(),
            missing: vec!["a.csv".into(), "b.csv".into()],
            waited: Duration::from_secs(900),
        };
        let m = e.to_string();
        assert!(m.contains("a.csv, b.csv") && m.contains("900 s"), "{m}");
        assert!(m.contains("upload manifest.json again"), "{m}");
        assert!(e.is_permanent());
    }
}
