//! Safe opening of an incoming zip (one an SIS or a user dropped) as a batch of CSV files.
//!
//! Everything is decided from the central directory before a byte is decompressed: unsafe
//! names, duplicates, nested zips, encryption, overlapping entries, and the size limits Canvas
//! itself applies (see [`ZipLimits`]). Any of these refuses the whole zip, because a batch is
//! all or nothing. Litter (directories, `__MACOSX`, `desktop.ini`, dot-files) and non-CSV files
//! are skipped and reported: Canvas skips directories and `__MACOSX` silently and warns "Skipping
//! unknown file type" about the rest (docs/canvas-api.md §5.1), so none of them is data.
//!
//! Headers can lie, so they are not trusted while reading either: every entry is read through
//! [`super::entry_reader`], which fails as soon as an entry yields more bytes than it declared.
//! That is what makes the ratio check above sound.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::directory::{self, RawEntry};
pub use super::entry_reader::ZipEntryFile;
use super::error::ZipInputError;
use super::limits::ZipLimits;
use super::names::check_entry_name;
use crate::store::BatchFile;

/// An incoming zip that passed every check.
#[derive(Debug)]
pub struct IncomingZip {
    path: PathBuf,
    files: Vec<ZipEntryFile>,
    skipped: Vec<SkippedEntry>,
    total_uncompressed: u64,
}

impl IncomingZip {
    /// The zip on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its CSV entries, in the zip's order; each `open()` streams from the zip file again.
    pub fn files(&self) -> &[ZipEntryFile] {
        &self.files
    }

    /// The same entries as batch files.
    pub fn batch_files(&self) -> Vec<&dyn BatchFile> {
        self.files.iter().map(|f| f as &dyn BatchFile).collect()
    }

    /// Entries that are not part of the batch, and why.
    pub fn skipped(&self) -> &[SkippedEntry] {
        &self.skipped
    }

    /// Declared uncompressed size of all entries (CSV or not).
    pub fn total_uncompressed(&self) -> u64 {
        self.total_uncompressed
    }
}

/// An entry left out of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    pub name: String,
    pub reason: SkipReason,
}

/// Why an entry was left out (none of these is an error: Canvas would skip them too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    Directory,
    /// `__MACOSX/` resource forks and metadata.
    MacOsMetadata,
    /// `desktop.ini`, `Desktop DB`, `Desktop DF`.
    DesktopFile,
    /// A file or folder whose name starts with a dot.
    DotFile,
    /// Not a `.csv` file.
    NotCsv,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Directory => "a directory",
            SkipReason::MacOsMetadata => "macOS metadata (__MACOSX)",
            SkipReason::DesktopFile => "a desktop settings file",
            SkipReason::DotFile => "a hidden dot-file",
            SkipReason::NotCsv => "not a .csv file (Canvas skips it)",
        })
    }
}

/// Opens `path` and checks it; see the module documentation for what is refused.
pub fn open_zip(path: &Path, limits: &ZipLimits) -> Result<IncomingZip, ZipInputError> {
    let listing = directory::read_directory(path, limits.max_entries)?;
    check_names(path, &listing.entries)?;
    check_overlaps(path, &listing.entries)?;
    let total = check_sizes(path, &listing.entries, listing.zip_bytes, limits)?;
    let zip = Arc::new(path.to_path_buf());
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in listing.entries {
        match classify(path, &entry)? {
            Some(reason) => skipped.push(SkippedEntry {
                name: entry.name,
                reason,
            }),
            None => files.push(ZipEntryFile::new(Arc::clone(&zip), entry)),
        }
    }
    Ok(IncomingZip {
        path: path.to_path_buf(),
        files,
        skipped,
        total_uncompressed: total,
    })
}

/// Zip-slip names and duplicates refuse the zip, whatever the entry is.
fn check_names(zip: &Path, entries: &[RawEntry]) -> Result<(), ZipInputError> {
    let mut seen = std::collections::HashSet::new();
    for e in entries {
        check_entry_name(&e.name).map_err(|reason| ZipInputError::UnsafeName {
            zip: zip.to_path_buf(),
            entry: e.name.clone(),
            reason,
        })?;
        if !seen.insert(e.name.as_str()) {
            return Err(ZipInputError::DuplicateName {
                zip: zip.to_path_buf(),
                entry: e.name.clone(),
            });
        }
    }
    Ok(())
}

/// Entries sharing bytes are how the densest zip bombs work; no tool writes them honestly.
fn check_overlaps(zip: &Path, entries: &[RawEntry]) -> Result<(), ZipInputError> {
    let mut spans: Vec<&RawEntry> = entries.iter().collect();
    spans.sort_by_key(|e| e.header_offset);
    for pair in spans.windows(2) {
        if pair[0].data_end() > pair[1].header_offset {
            return Err(ZipInputError::Overlapping {
                zip: zip.to_path_buf(),
                entry: pair[0].name.clone(),
                other: pair[1].name.clone(),
            });
        }
    }
    Ok(())
}

/// Canvas's limits on the declared sizes; returns the declared total.
fn check_sizes(
    zip: &Path,
    entries: &[RawEntry],
    zip_bytes: u64,
    limits: &ZipLimits,
) -> Result<u64, ZipInputError> {
    let total = entries
        .iter()
        .fold(0u64, |acc, e| acc.saturating_add(e.uncompressed));
    if total > limits.max_total_uncompressed_bytes {
        return Err(ZipInputError::TooLarge {
            zip: zip.to_path_buf(),
            uncompressed: total,
            limit: limits.max_total_uncompressed_bytes,
        });
    }
    if u128::from(total) > u128::from(limits.max_ratio) * u128::from(zip_bytes.max(1)) {
        return Err(ZipInputError::RatioTooHigh {
            zip: zip.to_path_buf(),
            zip_bytes,
            uncompressed: total,
            limit: limits.max_ratio,
        });
    }
    Ok(total)
}

/// `Ok(Some(reason))` to skip the entry, `Ok(None)` to keep it, `Err` to refuse the zip.
///
/// Litter is skipped before the nested-zip and encryption checks: a `__MACOSX/._x.zip` is
/// metadata about a file, not a zip, and Canvas never looks at it.
fn classify(zip: &Path, e: &RawEntry) -> Result<Option<SkipReason>, ZipInputError> {
    if e.name.ends_with('/') {
        return Ok(Some(SkipReason::Directory));
    }
    if let Some(reason) = litter(&e.name) {
        return Ok(Some(reason));
    }
    let lower = e.name.to_ascii_lowercase();
    if e.encrypted {
        return Err(ZipInputError::Encrypted {
            zip: zip.to_path_buf(),
            entry: e.name.clone(),
        });
    }
    if lower.ends_with(".zip") {
        return Err(ZipInputError::NestedZip {
            zip: zip.to_path_buf(),
            entry: e.name.clone(),
        });
    }
    if !lower.ends_with(".csv") {
        return Ok(Some(SkipReason::NotCsv));
    }
    if !directory::is_supported_method(e.method) {
        return Err(ZipInputError::UnsupportedMethod {
            zip: zip.to_path_buf(),
            entry: e.name.clone(),
            method: e.method,
        });
    }
    Ok(None)
}

/// Canvas's silent skips (`__MACOSX`, `Desktop DB`/`Desktop DF`; docs/canvas-api.md §5.1), plus
/// `desktop.ini` and dot-files, which Canvas would only warn about as unknown file types.
fn litter(name: &str) -> Option<SkipReason> {
    let parts: Vec<String> = name.split('/').map(str::to_ascii_lowercase).collect();
    if parts.iter().any(|p| p == "__macosx") {
        return Some(SkipReason::MacOsMetadata);
    }
    let file = parts.last().map(String::as_str).unwrap_or("");
    if matches!(file, "desktop.ini" | "desktop db" | "desktop df") {
        return Some(SkipReason::DesktopFile);
    }
    if parts.iter().any(|p| p.starts_with('.') && p != ".") {
        return Some(SkipReason::DotFile);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canvas_litter_is_recognised_in_any_folder_and_case() {
        assert_eq!(
            litter("__MACOSX/._users.csv"),
            Some(SkipReason::MacOsMetadata)
        );
        assert_eq!(
            litter("feed/__macosx/x.csv"),
            Some(SkipReason::MacOsMetadata)
        );
        assert_eq!(litter("feed/Desktop.ini"), Some(SkipReason::DesktopFile));
        assert_eq!(litter("Desktop DB"), Some(SkipReason::DesktopFile));
        assert_eq!(litter(".hidden.csv"), Some(SkipReason::DotFile));
        assert_eq!(litter("feed/.git/users.csv"), Some(SkipReason::DotFile));
        assert_eq!(litter("./users.csv"), None);
        assert_eq!(litter("feed/users.csv"), None);
    }

    fn raw(name: &str, header_offset: u64, data_start: u64, compressed: u64) -> RawEntry {
        RawEntry {
            name: name.into(),
            method: 8,
            encrypted: false,
            crc32: 0,
            compressed,
            uncompressed: compressed,
            header_offset,
            data_start,
        }
    }

    /// Canvas (`CanvasUnzip.default_limits`) fails an upload whose content is MORE than 100x the
    /// zip's size, or that has more than 100,000 entries; a zip at those limits imports.
    #[test]
    fn a_zip_at_canvas_own_limits_is_accepted_and_one_past_them_refused() {
        let zip = Path::new("in.zip");
        let limits = ZipLimits::default();
        let mut at_ratio = raw("users.csv", 0, 39, 10);
        at_ratio.uncompressed = 100 * 1000;
        assert!(check_sizes(zip, &[at_ratio.clone()], 1000, &limits).is_ok());
        at_ratio.uncompressed += 1;
        assert!(check_sizes(zip, &[at_ratio], 1000, &limits).is_err());
        assert_eq!(
            limits.max_entries, 100_000,
            "Canvas extracts up to 100,000 entries"
        );
    }

    #[test]
    fn entries_sharing_bytes_are_refused_as_overlapping() {
        let zip = Path::new("in.zip");
        let apart = [raw("a.csv", 0, 39, 100), raw("b.csv", 139, 178, 10)];
        assert!(check_overlaps(zip, &apart).is_ok());
        let shared = [raw("b.csv", 50, 89, 10), raw("a.csv", 0, 39, 100)];
        assert_eq!(
            check_overlaps(zip, &shared).unwrap_err().to_string(),
            "`in.zip` entries `a.csv` and `b.csv` share the same bytes (overlapping entries are a zip-bomb technique); re-create the zip"
        );
    }
}
