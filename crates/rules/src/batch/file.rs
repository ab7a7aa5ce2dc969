//! A batch's files: something that can be opened any number of times ([`BatchFile`]), and the
//! identity of a file and of a whole batch by content ([`FileIdentity`], [`content_hash`]).

use std::io::Read;

use serde::{Deserialize, Serialize};

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

/// One input file, identified by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Name inside the batch, `/`-separated.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the bytes, lowercase hex.
    pub sha256: String,
}

/// A batch's content hash: sha256 over its files' names and hashes, in name order (each followed
/// by a NUL byte), lowercase hex. The order files were listed or downloaded in does not matter,
/// so the same files give the same hash whichever trigger (folder mode, S3) brought them.
pub fn content_hash(files: &[FileIdentity]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&FileIdentity> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(f.sha256.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}
