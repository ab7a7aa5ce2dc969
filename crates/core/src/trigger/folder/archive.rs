//! Archiving: moving a finished batch from `processing/<id>/` to `archive/<id>/` (outcome good)
//! or `failed/<id>/` (failed, aborted or rejected), together with the files that explain it.
//!
//! **Call this only after the batch's outcome is recorded in the ledger** (docs/design.md invariant
//! 3: inputs are not moved until the outcome is recorded). This module cannot check that; it is the
//! caller's duty. If the process dies before `archive`, the batch is still in `processing/` and
//! [`super::recover`] hands it back; the caller then finds the recorded outcome and archives.
//!
//! The extra files are written into `processing/<id>/` first and the folder is then renamed in
//! one step, so an archive folder is never half-filled. Nothing is overwritten: an existing
//! `archive/<id>/` is an error and the batch stays where it is.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::claim::ClaimedBatch;
use super::{FolderError, Layout, is_plain_name};

/// A file to keep with the archived batch.
#[derive(Debug, Clone, Copy)]
pub enum Extra<'a> {
    /// Small content written as is (validation report, final Canvas JSON, errors file).
    Bytes(&'a str, &'a [u8]),
    /// A file moved in (renamed, or copied then removed across file systems), e.g. the built
    /// zip, so large files never pass through memory.
    File(&'a str, &'a Path),
}

impl Extra<'_> {
    fn name(&self) -> &str {
        match self {
            Extra::Bytes(n, _) | Extra::File(n, _) => n,
        }
    }
}

const RESERVED: [&str; 4] = ["claim.json", "claim.json.tmp", "claim.lock", "input"];

/// Moves the batch to `archive/<id>/` (`outcome_ok`) or `failed/<id>/` with `extra`, and
/// releases its claim. Returns the new folder.
pub fn archive(
    layout: &Layout,
    claimed: ClaimedBatch,
    outcome_ok: bool,
    extra: &[Extra<'_>],
) -> Result<PathBuf, FolderError> {
    for e in extra {
        let name = e.name();
        if !is_plain_name(name) || RESERVED.contains(&name) {
            return Err(FolderError::BadName {
                what: "archived file name",
                name: name.to_owned(),
            });
        }
    }
    let base = if outcome_ok {
        layout.archive()
    } else {
        layout.failed()
    };
    let dest = base.join(&claimed.batch_id);
    if dest.exists() {
        return Err(FolderError::AlreadyArchived { path: dest });
    }
    for e in extra {
        put(&claimed.dir, e)?;
    }
    std::fs::rename(&claimed.dir, &dest).map_err(|e| match e.kind() {
        ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty => {
            FolderError::AlreadyArchived { path: dest.clone() }
        }
        _ => FolderError::io("move", &claimed.dir)(e),
    })?;
    // The lock file has done its job; the lock itself is released when `claimed` drops.
    let _ = std::fs::remove_file(dest.join("claim.lock"));
    drop(claimed);
    Ok(dest)
}

fn put(dir: &Path, extra: &Extra<'_>) -> Result<(), FolderError> {
    match extra {
        Extra::Bytes(name, bytes) => {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(FolderError::io("write", path))
        }
        Extra::File(name, from) => {
            let to = dir.join(name);
            match std::fs::rename(from, &to) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::CrossesDevices => {
                    std::fs::copy(from, &to).map_err(FolderError::io("copy", *from))?;
                    std::fs::remove_file(from).map_err(FolderError::io("remove", *from))
                }
                Err(e) => Err(FolderError::io("move", *from)(e)),
            }
        }
    }
}
