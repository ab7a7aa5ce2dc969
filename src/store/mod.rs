//! Where a batch's files are read from: the object-store port.
//!
//! A batch is read at least twice (validated, then packed), so a file is something that can be
//! *opened* any number of times, each time streaming from the start — never a buffer in memory.
//! This session provides local files ([`local`]); entries of an incoming zip are provided by
//! `pack::read`, and S3 objects come with the cloud worker.

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
