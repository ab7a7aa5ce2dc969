//! The watch folder's layout: which sub-folder holds what, created on start.
//!
//! Everything lives under one DIR so that every move is a `rename` inside one file system
//! (atomic, never a copy that could be half-done). [`Layout::ensure`] creates the folders and
//! proves DIR is writable by writing and removing a probe file, so a read-only or foreign-owned
//! DIR fails at start with a clear message rather than at the first claim.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::FolderError;
use crate::config::Config;

/// The folders under DIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: PathBuf,
}

/// One tenant's inbox, as the scanner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInbox {
    pub tenant: String,
    /// `inbox/` itself (one tenant without `folder`) or `inbox/<folder>/`.
    pub dir: PathBuf,
    /// A file must be unchanged this long before it is picked up.
    pub quiet_period: Duration,
}

const SUBDIRS: [&str; 6] = ["inbox", "processing", "archive", "failed", "logs", "ledger"];

impl Layout {
    /// Creates DIR and its sub-folders if missing and checks that DIR can be written.
    pub fn ensure(dir: &Path) -> Result<Layout, FolderError> {
        let layout = Layout {
            root: dir.to_owned(),
        };
        for sub in SUBDIRS {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|source| not_writable_or_io(&p, source))?;
        }
        for sub in ["", "inbox", "processing"] {
            probe(&dir.join(sub))?;
        }
        Ok(layout)
    }

    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }
    pub fn processing(&self) -> PathBuf {
        self.root.join("processing")
    }
    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }
    pub fn failed(&self) -> PathBuf {
        self.root.join("failed")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn ledger(&self) -> PathBuf {
        self.root.join("ledger")
    }

    /// The inbox of each configured tenant, creating the per-tenant sub-folders.
    pub fn tenant_inboxes(&self, config: &Config) -> Result<Vec<TenantInbox>, FolderError> {
        config
            .tenants
            .iter()
            .map(|t| {
                let dir = match &t.folder {
                    Some(f) => self.inbox().join(f),
                    None => self.inbox(),
                };
                std::fs::create_dir_all(&dir).map_err(|source| not_writable_or_io(&dir, source))?;
                Ok(TenantInbox {
                    tenant: t.name.clone(),
                    dir,
                    quiet_period: t.quiet_period,
                })
            })
            .collect()
    }
}

/// The probe files' names: `.canvas-sis-probe-<pid>`.
const PROBE: &str = ".canvas-sis-probe-";

/// Writes and removes a probe file: the only reliable writability test (permissions, ACLs,
/// read-only mounts, root squash all show up here). Probes a watcher left when it was killed
/// between the two are removed too, so that none stays in the folder for good; one that another
/// watcher probing at the same moment removes first is as good as removed.
fn probe(dir: &Path) -> Result<(), FolderError> {
    let p = dir.join(format!("{PROBE}{}", std::process::id()));
    let not_writable = |source| FolderError::NotWritable {
        path: dir.to_owned(),
        source,
    };
    std::fs::write(&p, b"").map_err(not_writable)?;
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(not_writable(e)),
        _ => {}
    }
    let left = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for entry in left.filter(|e| e.file_name().to_string_lossy().starts_with(PROBE)) {
        let _ = std::fs::remove_file(entry.path());
    }
    Ok(())
}

fn not_writable_or_io(path: &Path, source: std::io::Error) -> FolderError {
    match source.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            FolderError::NotWritable {
                path: path.to_owned(),
                source,
            }
        }
        _ => FolderError::Io {
            op: "create the folder",
            path: path.to_owned(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing left behind in the watch folder: a probe file a watcher killed between writing
    /// and removing it left is removed by the next start's probe.
    #[test]
    fn a_probe_left_by_a_killed_watcher_is_removed_by_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join(format!("{PROBE}4194303"));
        std::fs::write(&left, b"").unwrap();
        Layout::ensure(dir.path()).unwrap();
        for sub in ["", "inbox", "processing"] {
            let probes: Vec<_> = std::fs::read_dir(dir.path().join(sub))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(PROBE))
                .map(|e| e.file_name())
                .collect();
            assert!(probes.is_empty(), "{sub}/ keeps {probes:?}");
        }
    }
}
