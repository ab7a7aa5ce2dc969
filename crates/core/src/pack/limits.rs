//! Limits applied to incoming zips before anything is decompressed.
//!
//! The defaults are Canvas's own (docs/canvas-api.md §1.2, §5.1): an import whose content expands
//! to more than 100× the zip's size fails, and there is a 50 GB hard cap. Refusing such zips here
//! means the operator hears about it before an upload, with the entry named, instead of from a
//! failed import.

/// Limits for [`crate::pack::open_zip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipLimits {
    /// Refuse when the declared uncompressed total is more than this many times the zip's size.
    pub max_ratio: u64,
    /// Refuse when the declared uncompressed total of all entries exceeds this many bytes.
    pub max_total_uncompressed_bytes: u64,
    /// Refuse zips with more entries than this: Canvas's own cap (`CanvasUnzip` extracts at most
    /// 100,000); it also bounds the central directory read into memory, which could otherwise
    /// list millions of tiny entries.
    pub max_entries: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_ratio: 100,
            max_total_uncompressed_bytes: 50_000_000_000,
            max_entries: 100_000,
        }
    }
}
