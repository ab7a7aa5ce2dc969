//! The raw ledger store port: bytes under keys, with create-if-absent and update-if-unchanged.
//!
//! This is the smallest contract that gives "at most one import per batch" across processes and
//! hosts: two conditional writes. It is shaped after S3's conditional `PutObject` so that the S3
//! adapter fits unchanged — `create` is `If-None-Match: *`, `update` is `If-Match: <etag>`, a
//! [`Version`] is the ETag — and the local-directory adapter ([`super::local`]) and the in-memory
//! one ([`super::memory`]) give the same guarantees. It knows nothing of records, batches or
//! JSON; typed access and retry live in [`super::Ledger`].
//!
//! Keys are `/`-separated relative paths whose segments are "safe" (see [`validate_key`]): no
//! empty segments, no `.`/`..`, no leading dot (adapters keep their own bookkeeping files under
//! dot-names), only ASCII letters, digits, `-`, `_`, `.`, `@`, `+`, `=`. Every adapter validates
//! every key and refuses others with [`LedgerError::BadKey`].

use std::fmt;
use std::future::Future;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::LedgerError;

/// An opaque version of a stored value: an ETag in S3, a content hash in the local and memory
/// adapters. Compare only for equality, and only with versions of the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

impl Version {
    /// The version the local and memory adapters give to `body`: its sha256 in hex. Content
    /// addressing makes a version readable together with the value in one atomic read, and an
    /// "A → B → A" history is harmless because a CAS write is a function of the whole value.
    pub fn of_content(body: &[u8]) -> Version {
        Version(hex::encode(Sha256::digest(body)))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Conditional key-value storage for the ledger. All methods are safe to call concurrently, from
/// several tasks, threads, processes or hosts sharing the same backing store.
pub trait LedgerStore: Send + Sync {
    /// The value and its version, or `None` when the key does not exist.
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, Version)>, LedgerError>> + Send;

    /// Create-if-absent: `Err(LedgerError::AlreadyExists { key })` when the key exists. Of any
    /// number of concurrent creators of one key, exactly one succeeds.
    fn create(
        &self,
        key: &str,
        body: &[u8],
    ) -> impl Future<Output = Result<Version, LedgerError>> + Send;

    /// Update-if-unchanged: `Err(LedgerError::Conflict { key })` when the stored version differs
    /// from `expected`, `Err(LedgerError::NotFound { key })` when the key does not exist.
    fn update(
        &self,
        key: &str,
        body: &[u8],
        expected: &Version,
    ) -> impl Future<Output = Result<Version, LedgerError>> + Send;

    /// Keys that start with `prefix` (a plain string prefix, as in S3), sorted bytewise. The
    /// prefix is empty, or a valid key optionally followed by `/`, or such a key with its last
    /// segment cut short (`tenants/a/batches/0000`).
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, LedgerError>> + Send;

    /// Stores a blob (an archived zip, report, Canvas JSON, errors file): an unconditional,
    /// atomic put — readers see the old bytes or the new ones, never a mix.
    fn put_blob(
        &self,
        key: &str,
        body: &[u8],
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Stores the file at `path` as a blob, with [`LedgerStore::put_blob`]'s guarantees, without
    /// reading it into memory at once: the file's bytes are streamed (S3) or copied (local), so
    /// archiving a large zip keeps memory flat. The file is read, never moved or linked, so the
    /// caller may change or delete it afterwards.
    fn put_blob_file(
        &self,
        key: &str,
        path: &Path,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// A blob's bytes, or `None` when the key does not exist.
    fn get_blob(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, LedgerError>> + Send;

    /// Where `key` lives, for error messages an operator can act on (a file path, an
    /// `s3://bucket/key` URL). Must not reveal secrets.
    fn locate(&self, key: &str) -> String {
        key.to_owned()
    }
}

/// Longest key accepted, in bytes (S3 allows 1024; leaves room for an adapter's prefix).
pub const MAX_KEY_LEN: usize = 900;
/// Longest segment accepted, in bytes (most file systems allow 255 per name; leaves room for the
/// local adapter's temp and lock names built from it).
pub const MAX_SEGMENT_LEN: usize = 200;

/// Checks that `key` is a `/`-separated relative path of safe segments (module docs).
pub fn validate_key(key: &str) -> Result<(), LedgerError> {
    if key.is_empty() {
        return Err(LedgerError::bad_key(key, "the key is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(LedgerError::bad_key(
            key,
            format!("longer than {MAX_KEY_LEN} bytes"),
        ));
    }
    if key.starts_with('/') {
        return Err(LedgerError::bad_key(key, "absolute keys are not allowed"));
    }
    for segment in key.split('/') {
        validate_segment(segment).map_err(|reason| LedgerError::bad_key(key, reason))?;
    }
    Ok(())
}

/// Checks a list prefix: empty, or a valid key, optionally with a trailing `/`, or a valid key
/// whose last segment is cut short.
pub fn validate_prefix(prefix: &str) -> Result<(), LedgerError> {
    if prefix.is_empty() {
        return Ok(());
    }
    let complete = prefix.strip_suffix('/').unwrap_or(prefix);
    validate_key(complete).map_err(|e| match e {
        LedgerError::BadKey { reason, .. } => LedgerError::bad_key(prefix, reason),
        other => other,
    })
}

/// One path segment: non-empty, not `.`/`..`, no leading dot, safe characters only.
pub fn validate_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("empty path segment (`//`, or a leading or trailing `/`)".into());
    }
    if segment == "." || segment == ".." {
        return Err(format!("`{segment}` segments are not allowed"));
    }
    if segment.starts_with('.') {
        return Err(format!(
            "segment `{segment}` starts with a dot (reserved for the store's own files)"
        ));
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(format!("segment longer than {MAX_SEGMENT_LEN} bytes"));
    }
    if let Some(c) = segment.chars().find(|c| !is_safe_char(*c)) {
        return Err(format!(
            "segment `{segment}` contains {c:?}; use ASCII letters, digits and - _ . @ + ="
        ));
    }
    Ok(())
}

fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+' | '=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_are_accepted() {
        for k in [
            "a",
            "tenants/district-a/tenant.json",
            "tenants/t/batches/00000001-0123456789ab.json",
            "x/y.z/a@b+c=d_e",
        ] {
            validate_key(k).unwrap_or_else(|e| panic!("{k}: {e}"));
        }
    }

    #[test]
    fn path_tricks_and_empty_segments_are_refused() {
        for k in [
            "",
            "/abs",
            "a//b",
            "a/",
            "../x",
            "a/../b",
            "a/./b",
            ".hidden",
            "a/.tmp-123",
            "a\\b",
            "a b",
            "é",
            "a/b\0",
        ] {
            let e = validate_key(k).expect_err(k);
            assert!(matches!(e, LedgerError::BadKey { .. }), "{k}: {e}");
        }
    }

    #[test]
    fn overlong_keys_and_segments_are_refused() {
        assert!(validate_key(&"a".repeat(MAX_SEGMENT_LEN + 1)).is_err());
        let long = vec!["a".repeat(100); 10].join("/");
        assert!(validate_key(&long).is_err());
    }

    #[test]
    fn prefixes_may_end_with_a_slash_or_be_empty() {
        validate_prefix("").unwrap();
        validate_prefix("tenants/").unwrap();
        validate_prefix("tenants/a/batches/0000").unwrap();
        assert!(validate_prefix("/").is_err());
        assert!(validate_prefix("tenants//").is_err());
        assert!(validate_prefix("../").is_err());
    }

    #[test]
    fn content_versions_differ_with_content() {
        assert_eq!(Version::of_content(b"a"), Version::of_content(b"a"));
        assert_ne!(Version::of_content(b"a"), Version::of_content(b"b"));
    }
}
