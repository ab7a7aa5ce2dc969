//! The object-store port of batch fetching: what [`S3Batches`](super::S3Batches) asks of the
//! drop bucket — read one object (a version, or the current one while its ETag holds), say
//! whether a key still has a current object, list a key's versions, list a folder's top level. [`S3Objects`](super::S3Objects)
//! speaks it to S3; a test speaks it from memory, so that the cloud worker's fetches run on a
//! simulated clock, with versions, overwrites and late files decided by a seed.
//!
//! Errors are already [`FetchError`]s: the adapter decides what an answer of its store means
//! (gone, overwritten, refused, transient), so the fetching logic above it is the same whoever
//! stores the objects.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::stream::BoxStream;

use super::error::FetchError;

/// What an object-store call answers, later.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, FetchError>> + Send + 'a>>;

/// Which state of an object to read: a version (exact), or the current object only if its
/// ETag is still this one (an unversioned bucket), or simply the current object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct At<'a> {
    pub version_id: Option<&'a str>,
    pub etag: Option<&'a str>,
}

/// An object being read: its announced length, the version read, and its bytes chunk by chunk
/// (an `Err` chunk is the transfer breaking off, with what broke it).
pub struct ObjectBody {
    pub content_length: Option<u64>,
    /// The version read, when the bucket keeps versions (never S3's `null`).
    pub version_id: Option<String>,
    pub chunks: BoxStream<'static, Result<Bytes, String>>,
}

/// One object directly under a folder prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key without the prefix.
    pub name: String,
    pub size: u64,
}

/// A drop bucket's objects, as batch fetching reads them (module docs).
pub trait ObjectStore: Send + Sync + Debug {
    /// Starts reading `bucket/key` as it was `at`. `location` (`s3://bucket/key`) is what an
    /// error names.
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        at: At<'a>,
        location: &'a str,
    ) -> StoreFuture<'a, ObjectBody>;

    /// `Ok` while the key has a current object; [`FetchError::Gone`] once it was deleted.
    fn head<'a>(&'a self, bucket: &'a str, key: &'a str, location: &'a str) -> StoreFuture<'a, ()>;

    /// The versions of `key` that hold bytes (delete markers left out), newest first.
    fn versions<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        location: &'a str,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Every object directly under `prefix` (ending in `/`; sub-folders left out), in key order.
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        location: &'a str,
    ) -> StoreFuture<'a, Vec<Listed>>;
}

/// Boxes an adapter's future as a [`StoreFuture`].
pub fn boxed<'a, T>(
    f: impl Future<Output = Result<T, FetchError>> + Send + 'a,
) -> StoreFuture<'a, T> {
    Box::pin(f)
}
