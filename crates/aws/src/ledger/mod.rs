//! S3 [`LedgerStore`]: one object per key under `s3://bucket/prefix/`, with S3's conditional
//! writes giving the port's create-if-absent and update-if-unchanged across hosts.
//!
//! The mapping is the one the port was shaped after: `create` is `PutObject` with
//! `If-None-Match: *` (412 → [`LedgerError::AlreadyExists`]), `update` is `PutObject` with
//! `If-Match: <etag>` (412 → [`LedgerError::Conflict`], 404 → [`LedgerError::NotFound`], and 409
//! `ConditionalRequestConflict` — another conditional write of the key in flight — →
//! `Conflict`, so the ledger's compare-and-swap loop re-reads and retries), a [`Version`] is the
//! ETag that `GetObject` returns together with the body. Objects hold exactly the stored bytes,
//! so a ledger directory copied to S3 works as is and `aws s3 cp` shows a record.
//!
//! # Retries of conditional writes
//!
//! The SDK's own retries are switched off for the two conditional writes: a retried write whose
//! first attempt landed but whose answer was lost (a timeout, a dropped connection, a 5xx) would
//! get 412 and report "someone else" for our own write. This adapter retries those calls itself
//! and, when a 412 follows such an ambiguous attempt, reads the object back: if it holds exactly
//! the bytes we sent, the write was ours and it succeeds. Unconditional puts, reads and listings
//! keep the SDK's retries. Errors are mapped by [`errors`] to [`LedgerError::Remote`] with a
//! retryable/permanent class and advice; they never carry credentials.
//!
//! It deliberately does not create buckets or configure them: a missing bucket is a permanent
//! error naming it. Objects are single `PutObject`s (up to 5 GiB), no multipart.

mod errors;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use self::errors::{Failure, Op};
use canvas_sis_core::ledger::store::{Version, validate_key, validate_prefix};
use canvas_sis_core::ledger::{ErrorClass, LedgerError, LedgerStore};

/// Attempts of one conditional write on transient failures (each attempt is one request).
const CONDITIONAL_ATTEMPTS: u32 = 4;

/// A ledger in an S3 bucket under a key prefix. Cheap to clone; clones share the client.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: Arc<str>,
    /// Empty, or a valid key prefix ending in `/`.
    prefix: Arc<str>,
}

/// Shows where the ledger is, never the client (its configuration holds credentials).
impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What a conditional write requires of the stored object.
#[derive(Clone, Copy)]
enum Condition<'a> {
    /// `If-None-Match: *`: the key does not exist.
    Absent,
    /// `If-Match: <etag>`: the key exists with this version.
    Matches(&'a Version),
}

impl S3Store {
    /// A ledger under `prefix` (empty, or `a/b` or `a/b/`: a `/` is added) in `bucket`. Makes
    /// no request; see [`S3Store::probe`].
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Result<Self, LedgerError> {
        let (bucket, mut prefix) = (bucket.into(), prefix.into());
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let location = format!("s3://{bucket}/{prefix}");
        let bad = |reason: String| LedgerError::BadLocation {
            location: location.clone(),
            reason,
        };
        check_bucket_name(&bucket).map_err(bad)?;
        validate_prefix(&prefix).map_err(|e| bad(format!("bad prefix: {e}")))?;
        Ok(S3Store {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        })
    }

    /// A ledger at `s3://bucket/prefix/`.
    pub fn from_url(client: aws_sdk_s3::Client, url: &str) -> Result<Self, LedgerError> {
        let (bucket, prefix) =
            crate::clients::parse_s3_url(url).map_err(|reason| LedgerError::BadLocation {
                location: url.to_owned(),
                reason,
            })?;
        S3Store::new(client, bucket, prefix)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix: empty, or ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `s3://bucket/prefix/`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Checks that the bucket exists and can be listed under the prefix; returns whether any
    /// object is there yet (false: a new, or mistyped, ledger location). Writes nothing.
    pub async fn probe(&self) -> Result<bool, LedgerError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(&*self.prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.error(Op::List, "", &e))?;
        Ok(out.key_count().unwrap_or(0) > 0 || !out.contents().is_empty())
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn failure<E>(&self, op: Op, key: &str, err: &aws_sdk_s3::error::SdkError<E>) -> Failure
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        errors::classify(
            err,
            errors::Context {
                op,
                key,
                location: self.locate(key),
                bucket: &self.bucket,
                prefix: &self.prefix,
            },
        )
    }

    /// The error of a call the adapter has no special answer for.
    fn error<E>(&self, op: Op, key: &str, err: &aws_sdk_s3::error::SdkError<E>) -> LedgerError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.failure(op, key, err).into_error(key, self.locate(key))
    }

    fn remote(&self, key: &str, message: String, class: ErrorClass) -> LedgerError {
        LedgerError::Remote {
            key: key.to_owned(),
            location: self.locate(key),
            message,
            class,
        }
    }

    /// The version S3 gave a write, which every S3-compatible store must return.
    fn etag(&self, key: &str, etag: Option<String>) -> Result<Version, LedgerError> {
        etag.map(Version).ok_or_else(|| {
            self.remote(
                key,
                "the store returned no ETag; conditional writes need a store that does (AWS S3, \
                 MinIO, moto)"
                    .into(),
                ErrorClass::Permanent,
            )
        })
    }

    /// The object's body and ETag from one `GetObject`, or `None` if it does not exist.
    async fn fetch(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        validate_key(key)?;
        let sent = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                return match self.failure(Op::Get, key, &e) {
                    Failure::NoSuchKey => Ok(None),
                    other => Err(other.into_error(key, self.locate(key))),
                };
            }
        };
        let version = self.etag(key, out.e_tag)?;
        let body = out.body.collect().await.map_err(|e| {
            let msg = format!("the connection broke while reading the object: {e}");
            self.remote(key, msg, ErrorClass::Retryable)
        })?;
        Ok(Some((body.to_vec(), version)))
    }

    /// One conditional `PutObject`, retried here on transient failures (module docs).
    async fn put_if(
        &self,
        key: &str,
        body: &[u8],
        condition: Condition<'_>,
    ) -> Result<Version, LedgerError> {
        validate_key(key)?;
        let body = Bytes::copy_from_slice(body);
        // Whether an earlier attempt may have been applied although we got no answer.
        let mut maybe_applied = false;
        let mut attempt = 1;
        loop {
            let req = self
                .client
                .put_object()
                .bucket(&*self.bucket)
                .key(self.full_key(key))
                .body(ByteStream::from(body.clone()));
            let req = match condition {
                Condition::Absent => req.if_none_match("*"),
                Condition::Matches(v) => req.if_match(&v.0),
            };
            let no_retries = aws_sdk_s3::Config::builder().retry_config(RetryConfig::disabled());
            let err = match req.customize().config_override(no_retries).send().await {
                Ok(out) => return self.etag(key, out.e_tag),
                Err(e) => e,
            };
            let owned = || key.to_owned();
            let last = match (self.failure(Op::Put, key, &err), condition) {
                (Failure::PreconditionFailed, _) if maybe_applied => {
                    return match self.fetch(key).await? {
                        Some((stored, v)) if stored == body => Ok(v),
                        _ => Err(refusal(key, condition)),
                    };
                }
                (Failure::PreconditionFailed, _) => return Err(refusal(key, condition)),
                (Failure::NoSuchKey, _) => return Err(LedgerError::NotFound { key: owned() }),
                (Failure::ConditionalConflict, Condition::Matches(_)) => {
                    return Err(LedgerError::Conflict { key: owned() });
                }
                // A create racing another conditional write: ask again; it ends in 412 or Ok.
                (Failure::ConditionalConflict, Condition::Absent) => {
                    LedgerError::Conflict { key: owned() }
                }
                (Failure::Other { error, .. }, _) if error.class() == ErrorClass::Permanent => {
                    return Err(error);
                }
                (
                    Failure::Other {
                        error,
                        maybe_applied: m,
                    },
                    _,
                ) => {
                    maybe_applied |= m;
                    error
                }
            };
            if attempt >= CONDITIONAL_ATTEMPTS {
                return Err(last);
            }
            tracing::debug!(key, attempt, error = %last, "conditional S3 write failed; retrying");
            backoff(attempt).await;
            attempt += 1;
        }
    }
}

/// The answer to a failed condition: the key exists (create) or changed (update).
fn refusal(key: &str, condition: Condition<'_>) -> LedgerError {
    let key = key.to_owned();
    match condition {
        Condition::Absent => LedgerError::AlreadyExists { key },
        Condition::Matches(_) => LedgerError::Conflict { key },
    }
}

/// A random pause of up to 25 ms × 2^attempt.
async fn backoff(attempt: u32) {
    let bound = 25u64 << attempt.min(4);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=bound))).await;
}

/// Enough of S3's bucket naming rules to refuse what cannot be a bucket (a path, a URL).
fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if bucket.is_empty() || bucket.len() > 255 {
        return Err("the bucket name is empty or too long".into());
    }
    if let Some(c) = bucket.chars().find(|c| !ok_char(*c)) {
        return Err(format!("the bucket name {bucket:?} contains {c:?}"));
    }
    Ok(())
}

impl LedgerStore for S3Store {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        self.fetch(key).await
    }

    async fn create(&self, key: &str, body: &[u8]) -> Result<Version, LedgerError> {
        self.put_if(key, body, Condition::Absent).await
    }

    async fn update(
        &self,
        key: &str,
        body: &[u8],
        expected: &Version,
    ) -> Result<Version, LedgerError> {
        self.put_if(key, body, Condition::Matches(expected)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        validate_prefix(prefix)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(self.full_key(prefix))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(Op::List, prefix, &e))?;
            let found = page.contents().iter().filter_map(|o| o.key());
            for rel in found.filter_map(|k| k.strip_prefix(&*self.prefix)) {
                // Dot-names and foreign objects are not ledger keys (store.rs module docs).
                if validate_key(rel).is_ok() {
                    keys.push(rel.to_owned());
                } else {
                    tracing::debug!(key = rel, "skipping an object that is not a ledger key");
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn put_blob(&self, key: &str, body: &[u8]) -> Result<(), LedgerError> {
        validate_key(key)?;
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .map_err(|e| self.error(Op::Put, key, &e))?;
        Ok(())
    }

    /// Streams the file (`ByteStream::from_path` reads it in chunks, and re-opens it if the SDK
    /// retries), so memory stays flat whatever its size.
    async fn put_blob_file(&self, key: &str, path: &Path) -> Result<(), LedgerError> {
        validate_key(key)?;
        let unreadable = |e: std::io::Error| {
            let e = std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display()));
            LedgerError::io(key, e)
        };
        // Gives a missing or unreadable file its own io error kind before the SDK wraps it.
        tokio::fs::File::open(path).await.map_err(unreadable)?;
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| unreadable(std::io::Error::other(e)))?;
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .body(body)
            .send()
            .await
            .map_err(|e| self.error(Op::Put, key, &e))?;
        Ok(())
    }

    async fn get_blob(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.fetch(key).await?.map(|(body, _)| body))
    }

    fn locate(&self, key: &str) -> String {
        format!("s3://{}/{}{key}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    #[test]
    fn urls_give_the_bucket_and_a_slash_ended_prefix() {
        let s = S3Store::from_url(client(), "s3://b/canvas-sis").unwrap();
        assert_eq!((s.bucket(), s.prefix()), ("b", "canvas-sis/"));
        assert_eq!(
            s.locate("tenants/t/tenant.json"),
            "s3://b/canvas-sis/tenants/t/tenant.json"
        );
        let s = S3Store::new(client(), "b", "").unwrap();
        assert_eq!(s.locate("k"), "s3://b/k");
    }

    #[test]
    fn bad_urls_buckets_and_prefixes_are_refused() {
        for url in [
            "https://b/x",
            "s3:///x",
            "s3://b/../x/",
            "s3://b/a//b/",
            "s3://b c/x",
        ] {
            let e = S3Store::from_url(client(), url).unwrap_err();
            assert!(matches!(e, LedgerError::BadLocation { .. }), "{url}: {e}");
            assert_eq!(e.class(), ErrorClass::Permanent);
        }
    }

    #[test]
    fn debug_shows_the_location_only() {
        let s = S3Store::new(client(), "b", "p").unwrap();
        assert_eq!(
            format!("{s:?}"),
            r#"S3Store { bucket: "b", prefix: "p/", .. }"#
        );
    }
}
