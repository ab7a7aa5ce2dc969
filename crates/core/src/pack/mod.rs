//! Deterministic, parallel zip packing of a batch, and safe reading of incoming zips.
//!
//! Two directions, one module, because both sides share the same knowledge of the zip format
//! and the same rules about what a safe entry name is:
//!
//! - [`write`] packs a batch's files into the zip that is uploaded to Canvas. The output is a
//!   pure function of the inputs (names, kinds, bytes), the deflate level and the chunk size:
//!   never of the thread count or of timing. Entries are compressed in parallel *within* an
//!   entry, pigz-style ([`deflate`], [`pipeline`]), and memory stays bounded whatever the input
//!   size (docs/design.md invariant 6).
//! - [`read`] opens a zip a user or an SIS dropped, refuses hostile or broken ones as a whole
//!   with an error that says what, where and what to do (invariant 7), and exposes its CSVs as
//!   [`crate::store::BatchFile`]s that stream from the zip on every `open`.
//!
//! This module does not validate CSV content (that is `sis`) and does not upload (that is
//! `canvas`).

pub mod error;
pub mod limits;
pub mod read;
pub mod write;

mod buffers;
mod cores;
mod deflate;
mod directory;
mod entry_reader;
mod format;
mod names;
mod pipeline;

pub use cores::{LentCore, SharedCores};
pub use error::{PackError, ZipInputError};
pub use limits::ZipLimits;
pub use read::{IncomingZip, SkipReason, SkippedEntry, ZipEntryFile, open_zip};
pub use write::{
    PackEntry, PackOptions, PackSummary, PackedEntry, pack_sharing_cores, pack_to_file,
};
