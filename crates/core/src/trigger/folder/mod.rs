//! Folder mode (`canvas-sis watch DIR`): the scheduled import script of Canvas's guide, done
//! properly. This module is the trigger side only — it finds batches, claims them and archives
//! them; the caller runs each claimed batch through the pipeline and records its outcome.
//!
//! The folder, under DIR ([`layout`]):
//!
//! ```text
//! inbox/               the drop (one sub-folder per tenant when there are several)
//! processing/<batch>/  claimed: claim.json, claim.lock, input/ (the batch's files)
//! archive/<batch>/     finished well: input/, claim.json and the extra files (zip, report, …)
//! failed/<batch>/      finished badly or rejected: the same
//! logs/  ledger/       for the watcher's logs and the local ledger
//! ```
//!
//! One watcher cycle: [`recover`] (once, at start) → [`scan`] (what in the inbox is ready, in
//! arrival order) → [`claim`] each batch in order → run it → record the outcome → [`archive`].
//! docs/design.md invariant 3 ("nothing is lost") is split between this module and its caller:
//! files only ever move by `rename` inside DIR, a claim is journaled in `claim.json` before
//! anything moves, and [`archive`] is called only after the outcome is recorded — the caller's
//! duty.
//!
//! Several watchers may share one DIR: a rename is the arbiter of every claim (the loser gets
//! [`FolderError::Lost`] and skips), and a claimed batch stays locked (`claim.lock`, an advisory
//! file lock held by the [`ClaimedBatch`]) until it is archived, so [`recover`] in another
//! process never takes over a batch that is still being worked on.
//!
//! What this module deliberately does not do: read CSV contents (collect and validate do), talk to
//! Canvas, choose batch ids (the ledger does), or decide ordering across a failure (the pipeline).

pub mod archive;
pub mod claim;
pub mod layout;
pub mod pass;
pub mod ready;
pub mod scan;
pub mod summary;

use std::path::PathBuf;

pub use archive::{Extra, archive};
pub use claim::{ClaimedBatch, claim, recover};
pub use layout::{Layout, TenantInbox};
pub use ready::{BatchKind, ReadyBatch};
pub use scan::{Pending, Scan, ScanPolicy, ready_batches, scan};

/// What went wrong in the watch folder. Each message names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error(
        "cannot write in {path}: {source}; the watcher moves files between inbox/, processing/ and \
         archive/ there — give a folder this user can write, or fix its owner and permissions"
    )]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{from} and {to} are on different file systems, so the move cannot be atomic; keep inbox/ \
         and processing/ in one file system (do not mount the inbox separately)"
    )]
    CrossDevice { from: PathBuf, to: PathBuf },
    #[error("batch {name} was claimed by another watcher first; skip it")]
    Lost { name: String },
    #[error(
        "{path} already exists: batch id {batch_id} is in use; give each batch a new id (a \
         leftover from a crash is picked up by recover)"
    )]
    AlreadyClaimed { batch_id: String, path: PathBuf },
    #[error(
        "part of batch {name} was taken by another watcher while claiming it ({path}); the files \
         moved so far were put back in the inbox and the batch will be scanned again"
    )]
    ClaimConflict { name: String, path: PathBuf },
    #[error("{what} {name:?} is not a plain file name; use letters, digits, '.', '-' and '_'")]
    BadName { what: &'static str, name: String },
    #[error(
        "{path} already exists; nothing was overwritten and the batch stays in processing/ — \
         move the old one aside, then archive again"
    )]
    AlreadyArchived { path: PathBuf },
    #[error("{path} is not a claim this version understands ({detail}); move it aside by hand")]
    BadClaim { path: PathBuf, detail: String },
}

impl FolderError {
    /// True when another watcher took the batch: not a failure, just skip it.
    pub fn is_lost(&self) -> bool {
        matches!(self, FolderError::Lost { .. })
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> FolderError {
        let path = path.into();
        move |source| FolderError::Io { op, path, source }
    }
}

/// A batch id or file name that cannot escape its folder: one plain path component.
pub(crate) fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}
