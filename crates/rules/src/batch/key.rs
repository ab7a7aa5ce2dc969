//! What an object key means to the worker: a zip batch, a folder closed by its marker, or
//! nothing (docs/design.md, "Batches and triggers").
//!
//! Judged from the key alone, like folder mode judges an inbox entry by its name
//! (`trigger::folder::ready`): a key whose last segment ends in `.zip` (any case) is a batch; a
//! key whose last segment is exactly `manifest.json` or `READY` closes the folder it is in. The
//! `READY` marker is accepted as in folder mode (it means "every CSV in this folder", like a
//! manifest `{}`), so an operator can move between folder mode and S3 without renaming files.
//! Markers are case-sensitive, as in folder mode; `.zip` is not, as in folder mode.
//!
//! Everything else — a CSV landing before its manifest, a folder placeholder (`dir/`), a stray
//! file — is acknowledged and ignored. What this module does not do: look at the objects, check
//! that the folder holds CSVs, or decide whether the prefix belongs to a tenant (see `trigger::events::route`).

use std::fmt;

use super::{MANIFEST, READY};

/// What an object event asks the worker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchTrigger {
    /// A single zip object is one batch.
    Zip { key: String },
    /// The folder `prefix` (ending in `/`) is closed: its CSVs are one batch.
    Folder {
        prefix: String,
        marker: FolderMarker,
    },
    /// Not a batch: acknowledge the message and do nothing.
    Ignore { reason: IgnoreReason },
}

/// Which marker closed a folder: a manifest must be read (it may list files and options);
/// `READY` means every CSV in the folder with the tenant's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderMarker {
    Manifest,
    Ready,
}

/// Why a key starts no work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The key ends in `/`: a console "create folder" placeholder.
    FolderPlaceholder,
    /// A marker at the top of the bucket closes no folder.
    MarkerAtRoot,
    /// Anything else (a CSV waiting for its manifest, a stray file).
    NotABatchObject,
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IgnoreReason::FolderPlaceholder => "a folder placeholder, not a file",
            IgnoreReason::MarkerAtRoot => {
                "a folder marker at the top of the bucket: put the batch in a folder"
            }
            IgnoreReason::NotABatchObject => {
                "not a batch: only a .zip or a folder's manifest.json or READY starts work"
            }
        })
    }
}

/// Classifies a decoded object key. Pure; see the module doc for the rules.
pub fn classify(key: &str) -> BatchTrigger {
    let ignore = |reason| BatchTrigger::Ignore { reason };
    let (folder, name) = match key.rfind('/') {
        Some(i) => key.split_at(i + 1),
        None => ("", key),
    };
    if name.is_empty() {
        return ignore(IgnoreReason::FolderPlaceholder);
    }
    let marker = match name {
        MANIFEST => Some(FolderMarker::Manifest),
        READY => Some(FolderMarker::Ready),
        _ => None,
    };
    if let Some(marker) = marker {
        if folder.is_empty() {
            return ignore(IgnoreReason::MarkerAtRoot);
        }
        return BatchTrigger::Folder {
            prefix: folder.to_owned(),
            marker,
        };
    }
    if is_zip_name(name) {
        return BatchTrigger::Zip {
            key: key.to_owned(),
        };
    }
    ignore(IgnoreReason::NotABatchObject)
}

/// `x.zip`, `X.ZIP`; not a bare `.zip`.
fn is_zip_name(name: &str) -> bool {
    let n = name.len();
    n > 4 && name.is_char_boundary(n - 4) && name[n - 4..].eq_ignore_ascii_case(".zip")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(key: &str) -> IgnoreReason {
        match classify(key) {
            BatchTrigger::Ignore { reason } => reason,
            other => panic!("{key:?} should be ignored, got {other:?}"),
        }
    }

    #[test]
    fn zip_key_is_a_zip_batch_whatever_its_case() {
        for key in ["main/2024-09-01.zip", "main/Fall.ZIP", "top.Zip"] {
            assert_eq!(classify(key), BatchTrigger::Zip { key: key.into() });
        }
    }

    #[test]
    fn manifest_closes_its_folder_with_trailing_slash() {
        assert_eq!(
            classify("main/batch-7/manifest.json"),
            BatchTrigger::Folder {
                prefix: "main/batch-7/".into(),
                marker: FolderMarker::Manifest
            }
        );
    }

    #[test]
    fn ready_marker_closes_its_folder_like_folder_mode() {
        assert_eq!(
            classify("main/batch-7/READY"),
            BatchTrigger::Folder {
                prefix: "main/batch-7/".into(),
                marker: FolderMarker::Ready
            }
        );
    }

    #[test]
    fn nested_folder_prefix_keeps_every_level() {
        assert_eq!(
            classify("east/2024/fall/run 3/manifest.json"),
            BatchTrigger::Folder {
                prefix: "east/2024/fall/run 3/".into(),
                marker: FolderMarker::Manifest
            }
        );
    }

    #[test]
    fn csv_before_its_manifest_is_ignored() {
        assert_eq!(
            ignored("main/batch-7/users.csv"),
            IgnoreReason::NotABatchObject
        );
    }

    #[test]
    fn markers_are_case_sensitive_and_exact() {
        for key in [
            "main/b/Manifest.json",
            "main/b/manifest.json.tmp",
            "main/b/ready",
            "main/b/old-manifest.json",
        ] {
            assert_eq!(ignored(key), IgnoreReason::NotABatchObject, "{key}");
        }
    }

    #[test]
    fn marker_at_bucket_root_is_ignored() {
        assert_eq!(ignored("manifest.json"), IgnoreReason::MarkerAtRoot);
        assert_eq!(ignored("READY"), IgnoreReason::MarkerAtRoot);
    }

    #[test]
    fn folder_placeholder_is_ignored() {
        assert_eq!(ignored("main/batch-7/"), IgnoreReason::FolderPlaceholder);
    }

    #[test]
    fn zip_folder_name_or_bare_extension_is_not_a_zip() {
        assert_eq!(ignored("main/.zip"), IgnoreReason::NotABatchObject);
        assert_eq!(ignored("main/x.zip/"), IgnoreReason::FolderPlaceholder);
        assert_eq!(
            ignored("main/x.zip/users.csv"),
            IgnoreReason::NotABatchObject
        );
    }

    #[test]
    fn unicode_name_does_not_panic() {
        assert_eq!(ignored("main/é"), IgnoreReason::NotABatchObject);
        assert_eq!(
            classify("main/été.zip"),
            BatchTrigger::Zip {
                key: "main/été.zip".into()
            }
        );
    }
}
