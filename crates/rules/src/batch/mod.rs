//! What a batch is, for every trigger and store: the closing markers of a batch folder
//! (`manifest.json`, `READY`), the manifest and its rules, which names are never input (temp
//! files), what an object key means ([`key`]), a batch's files ([`BatchFile`]) and their
//! identity by content ([`FileIdentity`], [`content_hash`]).
//!
//! Folder mode (`trigger::folder`) and the S3 store (`store::s3`) both read batches by these
//! rules, so an operator's folder means the same in both. Nothing here reads a disk or a
//! bucket; this module depends on no other module of the crate.

pub mod file;
pub mod key;
pub mod manifest;

use std::path::Path;
use std::time::Duration;

pub use file::{BatchFile, FileIdentity, content_hash};
pub use key::{BatchTrigger, FolderMarker, IgnoreReason, classify};
pub use manifest::{ImportOverrides, Manifest, ManifestFile};

/// How long a folder whose manifest names missing files, or a zip without its end record, waits
/// before it becomes a batch to reject.
pub const DEFAULT_INCOMPLETE_WAIT: Duration = Duration::from_secs(15 * 60);

/// The closing markers of a batch folder (folder mode and S3 alike).
pub const MANIFEST: &str = "manifest.json";
pub const READY: &str = "READY";

/// Temp names of uploaders and editors: `.tmp`, `~`, `.part`, `.partial`, `.filepart`,
/// `.crdownload`, and hidden names (leading `.`, e.g. rsync's temp files).
pub fn is_temp_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with('.')
        || lower.ends_with('~')
        || [".tmp", ".part", ".partial", ".filepart", ".crdownload"]
            .iter()
            .any(|s| lower.ends_with(s))
}

/// Whether `name` ends in `.ext`, in any case.
pub fn has_ext(name: &str, ext: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}
