//! Streaming one S3 object to a local file: bounded memory, sha256 and size counted on the way.
//!
//! Memory stays at one network chunk whatever the object's size: each chunk of the response
//! body is hashed and written before the next is read. The size limit is checked twice — against
//! `Content-Length` before the first byte, and against the bytes actually received (a response
//! without a length, or one that lies, cannot fill the disk). A failed download removes its
//! partial file, so a retry into the same folder starts clean; a file that already exists is
//! never overwritten (the caller hands over an empty folder).
//!
//! The file is flushed but not synced to disk: it is a scratch copy that is read back at once,
//! and after a crash the worker never reuses it (it empties the folder and fetches the objects
//! again; they stay in the bucket until the batch's end is recorded). An `fsync` per batch
//! would only make the worker wait for the disk (about 0.2 s for a 200 MiB feed).

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::error::{FetchError, Op, from_sdk};

/// The largest manifest read: a listing of thousands of files fits many times over.
pub(crate) const MANIFEST_MAX_BYTES: u64 = 1024 * 1024;

/// What a download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    /// The version read, when the bucket keeps versions.
    pub version_id: Option<String>,
}

/// Which state of an object to read: a version (exact), or the current object only if its
/// ETag is still this one (an unversioned bucket), or simply the current object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct At<'a> {
    pub version_id: Option<&'a str>,
    pub etag: Option<&'a str>,
}

/// A version id S3 gives for a versioned object; `null` is what an unversioned one reports.
pub(crate) fn real_version(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty() && *v != "null")
}

/// `s3://bucket/key`.
pub(crate) fn url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Streams `s3://bucket/key` (as it was `at`) into a new file `to`, refusing objects over `max`
/// bytes.
pub(crate) async fn to_file(
    client: &Client,
    bucket: &str,
    key: &str,
    at: At<'_>,
    to: &Path,
    max: u64,
) -> Result<Written, FetchError> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .await
        .map_err(FetchError::local("create", to))?;
    let result = stream_into(client, bucket, key, at, to, &mut file, max).await;
    if result.is_err() {
        drop(file);
        // Best effort: the error being returned matters more than a leftover partial file.
        let _ = tokio::fs::remove_file(to).await;
    }
    result
}

async fn stream_into(
    client: &Client,
    bucket: &str,
    key: &str,
    at: At<'_>,
    to: &Path,
    file: &mut tokio::fs::File,
    max: u64,
) -> Result<Written, FetchError> {
    let mut body = Body::get(client, bucket, key, at, max).await?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.next().await? {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(FetchError::local("write", to))?;
    }
    file.flush().await.map_err(FetchError::local("write", to))?;
    Ok(Written {
        size: body.size,
        sha256: hex::encode(hasher.finalize()),
        version_id: body.version_id,
    })
}

/// Whether the key still has a current object: a version pinned by its event can be read after
/// the key was deleted, but a deletion is the operator's "do not import this" and is honoured
/// ([`FetchError::Gone`]), as in an unversioned bucket.
pub(crate) async fn still_there(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<(), FetchError> {
    let location = url(bucket, key);
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map(drop)
        .map_err(|e| from_sdk(e, Op::GetObject, &location))
}

/// Reads a small object (a manifest, as it was `at`) into memory, refusing more than `max`
/// bytes; with the version read, if any.
pub(crate) async fn to_memory(
    client: &Client,
    bucket: &str,
    key: &str,
    at: At<'_>,
    max: u64,
) -> Result<(Vec<u8>, Option<String>), FetchError> {
    let mut body = Body::get(client, bucket, key, at, max).await?;
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, body.version_id))
}

/// An object's body being read chunk by chunk, with the size limit enforced.
struct Body {
    stream: ByteStream,
    location: String,
    size: u64,
    max: u64,
    version_id: Option<String>,
}

impl Body {
    /// GETs the object as it was `at`; refuses it at once when its `Content-Length` is over
    /// `max`.
    async fn get(
        client: &Client,
        bucket: &str,
        key: &str,
        at: At<'_>,
        max: u64,
    ) -> Result<Body, FetchError> {
        let location = url(bucket, key);
        let version = real_version(at.version_id);
        // S3 compares If-Match with the quoted ETag; events carry it bare.
        let if_match = at
            .etag
            .filter(|_| version.is_none())
            .map(|e| format!("\"{}\"", e.trim_matches('"')));
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .set_if_match(if_match)
            .send()
            .await
            .map_err(|e| from_sdk(e, Op::GetObject, &location))?;
        if let Some(len) = out.content_length.and_then(|n| u64::try_from(n).ok())
            && len > max
        {
            return Err(FetchError::TooLarge {
                location,
                size: len,
                limit: max,
            });
        }
        Ok(Body {
            stream: out.body,
            location,
            size: 0,
            max,
            version_id: real_version(out.version_id.as_deref()).map(str::to_owned),
        })
    }

    /// The next chunk, `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>, FetchError> {
        let Some(chunk) = self.stream.next().await else {
            return Ok(None);
        };
        let chunk = chunk.map_err(|e| FetchError::Interrupted {
            location: self.location.clone(),
            bytes: self.size,
            detail: e.to_string(),
        })?;
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(FetchError::TooLarge {
                location: self.location.clone(),
                size: self.size,
                limit: self.max,
            });
        }
        Ok(Some(chunk))
    }
}
