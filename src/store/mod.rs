//! Where a batch's files are read from: the object-store port.
//!
//! A batch is read at least twice (validated, then packed), so a file is something that can be
//! *opened* any number of times, each time streaming from the start — never a buffer in memory.
//! Local files are provided by [`local`] and entries of an incoming zip by `pack::read`. S3
//! batches are first fetched to a local work folder by [`s3`] (streamed, hashed on the way), so
//! the pipeline reads them as local files too.

pub mod local;
pub mod s3;

use std::io::Read;

/// One file of a batch, readable more than once.
pub trait BatchFile: Send + Sync {
    /// The file's name inside the batch, with `/` separators (e.g. `users.csv`, `2026/users.csv`).
    fn name(&self) -> &str;
    /// Its size in bytes, when known without reading it.
    fn size(&self) -> Option<u64>;
    /// A fresh reader from the first byte.
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>>;
}

impl std::fmt::Debug for dyn BatchFile + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchFile")
            .field("name", &self.name())
            .field("size", &self.size())
            .finish()
    }
}
