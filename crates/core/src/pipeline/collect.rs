//! Collect: turn the PATH given to `import`, `validate` or `pack` into the batch's files.
//!
//! PATH may be a folder of CSV files (its top level; other files and sub-folders are listed as
//! skipped), a `.zip` (read safely by `pack::read`: hostile or broken zips are refused whole), or a
//! single `.csv`. Nothing is read into memory here; files are opened later, once per stage.
//!
//! A folder holding a `manifest.json` with a `files` list (the operator contract, docs/design.md)
//! is those files only: a CSV beside them that the manifest does not list is listed as skipped,
//! never sent, and a listed file that is not there refuses the batch. (Folder mode and the S3
//! worker have already checked the list and its digests; here it decides what is read.)
//!
//! Inputs are regular files: PATH itself, or a `.csv` of the folder, that is a symbolic link, a
//! named pipe, a socket or a device refuses the batch (a link could make the batch quote and
//! upload a file from anywhere, a pipe blocks whoever opens it). Types are read without
//! following links, and nothing is opened here.

use std::fs::FileType;
use std::path::{Path, PathBuf};

use crate::pack::{IncomingZip, ZipInputError, ZipLimits, open_zip};
use crate::store::BatchFile;
use crate::store::local::{LocalFile, NotRegular, type_name};

/// The files of a batch, however they arrived.
#[derive(Debug)]
pub enum Collected {
    Files {
        files: Vec<LocalFile>,
        skipped: Vec<String>,
    },
    Zip(IncomingZip),
}

impl Collected {
    pub fn files(&self) -> Vec<&dyn BatchFile> {
        match self {
            Collected::Files { files, .. } => files.iter().map(|f| f as &dyn BatchFile).collect(),
            Collected::Zip(z) => z.batch_files(),
        }
    }

    /// What was passed over, with why.
    pub fn skipped(&self) -> Vec<String> {
        match self {
            Collected::Files { skipped, .. } => skipped.clone(),
            Collected::Zip(z) => z
                .skipped()
                .iter()
                .map(|s| format!("{} ({:?})", s.name, s.reason))
                .collect(),
        }
    }
}

/// Why PATH cannot be a batch. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{0} does not exist; give a folder of CSV files, a .zip or a .csv")]
    Missing(PathBuf),
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no .csv file at its top level; put the SIS export's CSV files there")]
    NoCsv(PathBuf),
    #[error("{0} is neither a folder, a .zip nor a .csv; give the SIS export as one of those")]
    Unsupported(PathBuf),
    #[error(transparent)]
    Zip(#[from] ZipInputError),
    #[error(transparent)]
    NotRegular(#[from] NotRegular),
    #[error(
        "{path}: {problem}; fix manifest.json (`{{}}` means every CSV of the folder) or the folder"
    )]
    Manifest { path: PathBuf, problem: String },
}

/// The file names a folder's `manifest.json` lists, if it has one with a `files` list. Only the
/// names are read here: the manifest's rules (shape, digests, import options) are folder mode's
/// and the S3 fetch's, which have checked it before a batch reaches the pipeline.
fn manifest_files(dir: &Path) -> Result<Option<Vec<String>>, CollectError> {
    #[derive(serde::Deserialize)]
    struct Listed {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Manifest {
        files: Option<Vec<Listed>>,
    }
    let path = dir.join("manifest.json");
    // Opened as every input is: never through a link, never waiting on a pipe.
    let file = match crate::store::local::open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CollectError::Io { path, source }),
    };
    let manifest: Manifest =
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| {
            CollectError::Manifest {
                path: path.clone(),
                problem: format!("not a valid manifest ({e})"),
            }
        })?;
    Ok(manifest
        .files
        .map(|files| files.into_iter().map(|f| f.name).collect()))
}

pub fn collect(path: &Path, limits: &ZipLimits) -> Result<Collected, CollectError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CollectError::Missing(path.to_owned()),
        _ => CollectError::Io {
            path: path.to_owned(),
            source: e,
        },
    })?;
    if meta.is_dir() {
        return collect_folder(path);
    }
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    match extension(path).as_deref() {
        Some("zip") => Ok(Collected::Zip(open_zip(path, limits)?)),
        Some("csv") => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Collected::Files {
                files: vec![LocalFile::new(name, path)],
                skipped: vec![],
            })
        }
        _ => Err(CollectError::Unsupported(path.to_owned())),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

fn not_regular(path: &Path, kind: FileType) -> CollectError {
    CollectError::NotRegular(NotRegular {
        path: path.to_owned(),
        what: type_name(kind),
    })
}

fn collect_folder(dir: &Path) -> Result<Collected, CollectError> {
    let io = |source| CollectError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // The entry's own type: a link is a link here, never its target.
        let kind = entry.file_type().map_err(io)?;
        let csv = extension(&path).as_deref() == Some("csv");
        if kind.is_dir() {
            skipped.push(format!("{name}/ (sub-folder)"));
        } else if !kind.is_file() && csv {
            // Leaving it out would import a partial batch: refuse the whole of it.
            return Err(not_regular(&path, kind));
        } else if !kind.is_file() {
            skipped.push(format!("{name} ({}, not read)", type_name(kind)));
        } else if csv {
            files.push(LocalFile::new(name, path));
        } else {
            skipped.push(format!("{name} (not a .csv)"));
        }
    }
    if let Some(listed) = manifest_files(dir)? {
        let (kept, unlisted): (Vec<LocalFile>, Vec<LocalFile>) = files
            .into_iter()
            .partition(|f| listed.iter().any(|n| n == f.name()));
        skipped.extend(
            unlisted
                .iter()
                .map(|f| format!("{} (not listed in manifest.json)", f.name())),
        );
        if let Some(missing) = listed.iter().find(|n| !kept.iter().any(|f| f.name() == *n)) {
            return Err(CollectError::Manifest {
                path: dir.join("manifest.json"),
                problem: format!("it lists {missing}, which is not a .csv file of the folder"),
            });
        }
        files = kept;
    }
    if files.is_empty() {
        return Err(CollectError::NoCsv(dir.to_owned()));
    }
    Ok(Collected::Files { files, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_gives_its_csvs_in_name_order_and_lists_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.csv"), "user_id,login_id,status\n").unwrap();
        std::fs::write(dir.path().join("Courses.CSV"), "course_id,short_name\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::create_dir(dir.path().join("old")).unwrap();
        let c = collect(dir.path(), &ZipLimits::default()).unwrap();
        let names: Vec<&str> = c.files().iter().map(|f| f.name()).collect();
        assert_eq!(names, vec!["Courses.CSV", "users.csv"]);
        assert_eq!(
            c.skipped(),
            vec!["notes.txt (not a .csv)", "old/ (sub-folder)"]
        );
    }

    #[test]
    fn a_manifest_with_files_keeps_only_those_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.csv"), "user_id,login_id,status\n").unwrap();
        std::fs::write(dir.path().join("courses.csv"), "course_id,short_name\n").unwrap();
        let manifest = dir.path().join("manifest.json");
        std::fs::write(&manifest, r#"{"files": [{"name": "users.csv"}]}"#).unwrap();
        let c = collect(dir.path(), &ZipLimits::default()).unwrap();
        let names: Vec<&str> = c.files().iter().map(|f| f.name()).collect();
        assert_eq!(names, vec!["users.csv"]);
        assert!(
            c.skipped()
                .contains(&"courses.csv (not listed in manifest.json)".to_owned()),
            "{:?}",
            c.skipped()
        );
        std::fs::write(&manifest, "{}").unwrap();
        assert_eq!(
            collect(dir.path(), &ZipLimits::default())
                .unwrap()
                .files()
                .len(),
            2
        );
        std::fs::write(&manifest, r#"{"files": [{"name": "terms.csv"}]}"#).unwrap();
        let e = collect(dir.path(), &ZipLimits::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lists terms.csv") && e.contains("fix manifest.json"),
            "{e}"
        );
        std::fs::write(&manifest, "{").unwrap();
        let e = collect(dir.path(), &ZipLimits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid manifest"), "{e}");
    }

    #[test]
    fn an_empty_folder_or_a_missing_path_says_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let e = collect(dir.path(), &ZipLimits::default()).unwrap_err();
        assert!(e.to_string().contains("no .csv"), "{e}");
        let e = collect(&dir.path().join("nope"), &ZipLimits::default()).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        std::fs::write(dir.path().join("feed.tar"), "x").unwrap();
        let e = collect(&dir.path().join("feed.tar"), &ZipLimits::default()).unwrap_err();
        assert!(e.to_string().contains("neither a folder"), "{e}");
    }

    #[test]
    fn a_link_as_path_or_as_a_csv_of_the_folder_refuses_the_batch_and_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "token").unwrap();
        let feed = dir.path().join("feed");
        std::fs::create_dir(&feed).unwrap();
        std::fs::write(feed.join("courses.csv"), "course_id,short_name\n").unwrap();
        std::os::unix::fs::symlink(&secret, feed.join("notes.txt")).unwrap();
        let c = collect(&feed, &ZipLimits::default()).unwrap();
        assert_eq!(c.skipped(), vec!["notes.txt (a symbolic link, not read)"]);
        std::os::unix::fs::symlink(&secret, feed.join("users.csv")).unwrap();
        let e = collect(&feed, &ZipLimits::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("users.csv is a symbolic link, not a regular file"),
            "{e}"
        );
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let e = collect(&link, &ZipLimits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("link.csv is a symbolic link"), "{e}");
    }
}
