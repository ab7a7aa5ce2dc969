//! Streaming one S3 object to a local file: bounded memory, sha256 and size counted on the way.
//!
//! Memory stays at one network chunk whatever the object's size: each chunk of the response
//! body is hashed and written before the next is read. The size limit is checked twice — against
//! `Content-Length` before the first byte, and against the bytes actually received (a response
//! without a length, or one that lies, cannot fill the disk). A failed download removes its
//! partial file, so a retry into the same folder starts clean; a file that already exists is
//! never overwritten (the caller hands over an empty folder).
//!
//! The file is written on the worker's own thread, a chunk at a time (a write of one chunk to
//! local disk takes microseconds, less than a hop to a blocking thread would), and flushed but
//! not synced: it is a scratch copy that is read back at once, and after a crash the worker
//! never reuses it (it empties the folder and fetches the objects again; they stay in the bucket
//! until the batch's end is recorded). An `fsync` per batch would only make the worker wait for
//! the disk (about 0.2 s for a 200 MiB feed). Writing on the worker's thread also keeps a
//! simulated run's interleavings decided by its seed alone.
//!
//! The object store is reached through its port ([`ObjectStore`]): S3 in production.

use std::path::Path;

use std::io::Write as _;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};

use super::error::FetchError;
use super::port::{At, ObjectStore};

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
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    at: At<'_>,
    to: &Path,
    max: u64,
) -> Result<Written, FetchError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(FetchError::local("create", to))?;
    let result = stream_into(objects, bucket, key, at, to, &mut file, max).await;
    if result.is_err() {
        drop(file);
        // Best effort: the error being returned matters more than a leftover partial file.
        let _ = std::fs::remove_file(to);
    }
    result
}

async fn stream_into(
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    at: At<'_>,
    to: &Path,
    file: &mut std::fs::File,
    max: u64,
) -> Result<Written, FetchError> {
    let mut body = Body::get(objects, bucket, key, at, max).await?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.next().await? {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(FetchError::local("write", to))?;
    }
    file.flush().map_err(FetchError::local("write", to))?;
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
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
) -> Result<(), FetchError> {
    objects.head(bucket, key, &url(bucket, key)).await
}

/// Reads a small object (a manifest, as it was `at`) into memory, refusing more than `max`
/// bytes; with the version read, if any.
pub(crate) async fn to_memory(
    objects: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    at: At<'_>,
    max: u64,
) -> Result<(Vec<u8>, Option<String>), FetchError> {
    let mut body = Body::get(objects, bucket, key, at, max).await?;
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, body.version_id))
}

/// An object's body being read chunk by chunk, with the size limit enforced.
struct Body {
    chunks: BoxStream<'static, Result<Bytes, String>>,
    location: String,
    size: u64,
    max: u64,
    version_id: Option<String>,
}

impl Body {
    /// GETs the object as it was `at`; refuses it at once when its `Content-Length` is over
    /// `max`.
    async fn get(
        objects: &dyn ObjectStore,
        bucket: &str,
        key: &str,
        at: At<'_>,
        max: u64,
    ) -> Result<Body, FetchError> {
        let location = url(bucket, key);
        let out = objects.get(bucket, key, at, &location).await?;
        if let Some(len) = out.content_length
            && len > max
        {
            return Err(FetchError::TooLarge {
                location,
                size: len,
                limit: max,
            });
        }
        Ok(Body {
            chunks: out.chunks,
            location,
            size: 0,
            max,
            version_id: out.version_id,
        })
    }

    /// The next chunk, `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>, FetchError> {
        let Some(chunk) = self.chunks.next().await else {
            return Ok(None);
        };
        let chunk = chunk.map_err(|detail| FetchError::Interrupted {
            location: self.location.clone(),
            bytes: self.size,
            detail,
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
