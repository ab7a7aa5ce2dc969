//! Errors of the pack layer: one enum for packing, one for reading incoming zips.
//!
//! Every variant names the file or entry it is about and ends with what to do (design
//! invariant 7), so the message can go to an operator unchanged. `is_retryable` tells the
//! pipeline whether running the same batch again could succeed (an I/O hiccup) or not (a bad
//! name, a hostile zip).

use std::io;
use std::path::PathBuf;

/// Why packing a batch into a zip failed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(
        "cannot open `{name}` for packing: {source}; check that the file exists and is readable, then run the batch again"
    )]
    OpenEntry { name: String, source: io::Error },

    #[error(
        "reading `{name}` failed after {offset} bytes: {source}; check the file and its storage, then run the batch again"
    )]
    ReadEntry {
        name: String,
        offset: u64,
        source: io::Error,
    },

    #[error(
        "`{name}` changed while it was packed: {expected} bytes were expected but {actual} were read; wait until the SIS has finished writing the file, then run the batch again"
    )]
    SizeChanged {
        name: String,
        expected: u64,
        actual: u64,
    },

    #[error("two files of the batch would both be `{name}` in the zip; rename one of them")]
    DuplicateName { name: String },

    #[error(
        "`{name}` cannot be a name inside the zip: {reason}; rename the file to a relative path without `..` or `\\`"
    )]
    BadName { name: String, reason: &'static str },

    #[error("deflate failed on `{name}`: {detail}; this is a bug in canvas-sis, please report it")]
    Compress { name: String, detail: String },

    #[error(
        "cannot create the zip `{path}`: {source}; check that the folder exists and is writable"
    )]
    CreateOutput { path: PathBuf, source: io::Error },

    #[error(
        "writing the zip `{path}` failed: {source}; check that the disk has space, then run the batch again"
    )]
    WriteOutput { path: PathBuf, source: io::Error },

    #[error(
        "a compression thread stopped unexpectedly while packing `{path}`; this is a bug in canvas-sis, please report it"
    )]
    WorkerLost { path: PathBuf },
}

impl PackError {
    /// Whether running the same batch again may succeed without anyone changing the inputs.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PackError::OpenEntry { .. }
                | PackError::ReadEntry { .. }
                | PackError::SizeChanged { .. }
                | PackError::WriteOutput { .. }
                | PackError::CreateOutput { .. }
        )
    }
}

/// Why an incoming zip was refused, or one of its entries could not be read.
///
/// Refusals are for the whole zip: a batch is all or nothing, so a zip with one hostile entry
/// is not half-imported.
#[derive(Debug, thiserror::Error)]
pub enum ZipInputError {
    #[error("cannot open the zip `{zip}`: {source}; check that the file exists and is readable")]
    Open { zip: PathBuf, source: io::Error },

    #[error(
        "`{zip}` is not a readable zip: {detail}; it is corrupt or was cut short, export or upload it again"
    )]
    Corrupt { zip: PathBuf, detail: String },

    #[error("`{zip}` entry `{entry}` is corrupt: {detail}; export or upload the zip again")]
    CorruptEntry {
        zip: PathBuf,
        entry: String,
        detail: String,
    },

    #[error(
        "`{zip}` entry `{entry}` has an unsafe name ({reason}): extracting it could write outside the target folder; re-create the zip with relative paths only"
    )]
    UnsafeName {
        zip: PathBuf,
        entry: String,
        reason: &'static str,
    },

    #[error(
        "`{zip}` holds the name `{entry}` twice; a batch must name each file once, re-create the zip without the duplicate"
    )]
    DuplicateName { zip: PathBuf, entry: String },

    #[error(
        "`{zip}` entry `{entry}` is itself a zip; nested zips are not accepted, put its CSV files in the top-level zip"
    )]
    NestedZip { zip: PathBuf, entry: String },

    #[error(
        "`{zip}` entry `{entry}` is encrypted; Canvas cannot read encrypted zips, re-create the zip without a password"
    )]
    Encrypted { zip: PathBuf, entry: String },

    #[error(
        "`{zip}` entry `{entry}` uses compression method {method}, which is not supported; re-create the zip with deflate (the default of every zip tool)"
    )]
    UnsupportedMethod {
        zip: PathBuf,
        entry: String,
        method: u16,
    },

    #[error(
        "`{zip}` has {count} entries, more than the limit of {limit}; send fewer files per batch"
    )]
    TooManyEntries {
        zip: PathBuf,
        count: u64,
        limit: u64,
    },

    #[error(
        "`{zip}` expands from {zip_bytes} to {uncompressed} bytes, more than {limit}x its size; Canvas refuses such zips (and it may be a zip bomb), split the data into smaller batches"
    )]
    RatioTooHigh {
        zip: PathBuf,
        zip_bytes: u64,
        uncompressed: u64,
        limit: u64,
    },

    #[error(
        "`{zip}` expands to {uncompressed} bytes, more than the limit of {limit}; split the data into smaller batches"
    )]
    TooLarge {
        zip: PathBuf,
        uncompressed: u64,
        limit: u64,
    },

    #[error(
        "`{zip}` entries `{entry}` and `{other}` share the same bytes (overlapping entries are a zip-bomb technique); re-create the zip"
    )]
    Overlapping {
        zip: PathBuf,
        entry: String,
        other: String,
    },

    #[error(
        "`{zip}` entry `{entry}` decompresses to more than the {declared} bytes its header declares; the zip is corrupt or hostile, re-create it"
    )]
    LargerThanDeclared {
        zip: PathBuf,
        entry: String,
        declared: u64,
    },

    #[error(
        "`{zip}` entry `{entry}` decompresses to {actual} bytes but its header declares {declared}; the zip is corrupt or was cut short, re-create it"
    )]
    ShorterThanDeclared {
        zip: PathBuf,
        entry: String,
        declared: u64,
        actual: u64,
    },

    #[error(
        "`{zip}` entry `{entry}` fails its checksum (CRC-32 {actual:08x}, header says {expected:08x}); the zip is corrupt, re-create it"
    )]
    CrcMismatch {
        zip: PathBuf,
        entry: String,
        expected: u32,
        actual: u32,
    },

    #[error(
        "reading `{zip}` entry `{entry}` failed: {source}; the zip may be corrupt or the disk unreadable, re-create or upload it again"
    )]
    ReadEntry {
        zip: PathBuf,
        entry: String,
        source: io::Error,
    },
}

impl ZipInputError {
    /// Whether opening the same zip again may succeed: only I/O failures, never a refusal.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ZipInputError::Open { .. })
    }

    /// Wraps this error into an `io::Error`, for readers that must speak `io::Read`; the caller
    /// gets it back with `err.get_ref()` and `downcast_ref::<ZipInputError>()`.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}
