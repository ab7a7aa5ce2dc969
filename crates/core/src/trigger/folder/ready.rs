//! Readiness: when an inbox entry is a complete batch, and what it holds.
//!
//! The rules (the operator contract of docs/design.md plus the classic sample-script layout):
//!
//! - **Folder** (`inbox/<name>/`): closed by a `manifest.json` or a `READY` file in it — a batch
//!   at once, since the marker is written last (a manifest that is not valid JSON yet gets the
//!   quiet period to be finished). `READY` or a manifest `{}` means every `.csv` at
//!   the folder's top level; a manifest with `"files"` means those files, each checked for
//!   presence and, when `sha256` is given, for its digest. A manifest naming a file that is not
//!   there yet keeps the folder waiting for at most [`DEFAULT_INCOMPLETE_WAIT`] (counted from
//!   the manifest's mtime); after that it is a batch carrying a rejection reason. An unreadable
//!   manifest, a digest mismatch or bad import options are rejections at once.
//! - **Zip** (`inbox/<name>.zip`): unchanged for the quiet period and ending in a zip
//!   end-of-central-directory record; a quiet zip without one waits for the bounded wait, then
//!   is a batch carrying a rejection.
//! - **Loose CSVs** (`inbox/*.csv`): all of them together form one batch once *every* one is
//!   unchanged for the quiet period — and no temp-named file next to them is still changing
//!   (an upload in progress may be adding another CSV).
//!
//! Inputs are regular files: a link, pipe or device among a closed folder's CSVs (or as its
//! marker) makes the folder a batch to reject, unread; at the inbox's top level it is reported
//! and left alone. Nothing is opened but regular files, and never through a link.
//!
//! Never picked up: a zip or loose CSV whose mtime is within the quiet period of `now` (or in
//! the future), temp names ([`canvas_sis_rules::batch::is_temp_name`]), a folder without its closing marker. "Unchanged" is judged by
//! mtime against the injected `now`, so tests set mtimes instead of sleeping. A rejected batch is
//! still returned: the caller claims it and records a rejection, so the operator sees why and the
//! files land in `failed/` rather than sitting in the inbox forever.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FolderError;
use super::scan::Entry;
use crate::config::import_problem;
use canvas_sis_rules::batch::manifest::{Manifest, ManifestFile, bad_listing, parse_manifest};
use canvas_sis_rules::batch::{MANIFEST, READY, has_ext, is_temp_name};

/// What kind of drop a batch came as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchKind {
    Folder,
    Zip,
    LooseCsv,
}

/// A complete batch found in an inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyBatch {
    pub tenant: String,
    /// The folder's or zip's file name; `loose-<UTC time>` for loose CSVs.
    pub name: String,
    pub kind: BatchKind,
    /// What [`super::claim`] moves: the folder, the zip, or (loose CSVs) the inbox they lie in.
    pub source: PathBuf,
    /// The batch's files: the CSVs (folder, loose) or the zip, in name order.
    pub paths: Vec<PathBuf>,
    pub manifest: Option<Manifest>,
    /// When the batch became complete: the newest mtime among its files and marker.
    pub ready_at: SystemTime,
    /// Set when the batch must be rejected rather than imported, with the reason for the operator.
    pub rejection: Option<String>,
}

/// The answer for one inbox entry.
#[derive(Debug)]
pub(crate) enum Verdict {
    Ready(Box<ReadyBatch>),
    /// Not yet; the reason is for logs.
    Waiting(String),
}

/// Whether `mtime` is at least `quiet` before `now`. A future mtime is not quiet.
pub(crate) fn is_quiet(mtime: SystemTime, now: SystemTime, quiet: Duration) -> bool {
    now.duration_since(mtime).is_ok_and(|age| age >= quiet)
}

fn waited(since: SystemTime, now: SystemTime, wait: Duration) -> bool {
    is_quiet(since, now, wait)
}

/// Rules for a sub-folder of the inbox (see the module doc).
pub(crate) fn folder_verdict(
    tenant: &str,
    dir: &Entry,
    quiet: Duration,
    wait: Duration,
    now: SystemTime,
) -> Result<Verdict, FolderError> {
    let files: Vec<Entry> = super::scan::list(&dir.path)?
        .into_iter()
        .filter(|e| !e.is_dir)
        .collect();
    let marker = files
        .iter()
        .find(|e| e.name == MANIFEST)
        .or_else(|| files.iter().find(|e| e.name == READY));
    let Some(marker) = marker else {
        return Ok(Verdict::Waiting(format!(
            "no {MANIFEST} or {READY} in it yet; write one of them last, to close the folder"
        )));
    };
    // The marker is the operator's word that the folder is complete, so it is a batch at once:
    // the quiet period is for loose files and zips, which have no such word.
    let newest = files.iter().map(|e| e.mtime).max().unwrap_or(marker.mtime);
    let all_csvs = files
        .iter()
        .filter(|e| has_ext(&e.name, "csv") && !is_temp_name(&e.name));
    let (csvs, irregular): (Vec<&Entry>, Vec<&Entry>) = all_csvs.partition(|e| e.is_file);
    let mut batch = ReadyBatch {
        tenant: tenant.to_owned(),
        name: dir.name.clone(),
        kind: BatchKind::Folder,
        source: dir.path.clone(),
        paths: csvs.iter().map(|e| e.path.clone()).collect(),
        manifest: None,
        ready_at: newest,
        rejection: None,
    };
    if let Some(why) = irregular_files(&dir.name, marker, &irregular) {
        // Refused whole, and before anything in it is opened: leaving such a file out would
        // import a partial batch, reading it could follow a link or block on a pipe.
        batch.rejection = Some(why);
        return Ok(Verdict::Ready(Box::new(batch)));
    }
    if marker.name == MANIFEST {
        match read_manifest(&marker.path) {
            Ok(m) => {
                batch.manifest = Some(m.clone());
                if let Some(listed) = &m.files {
                    match listed_files(&dir.path, &files, listed, marker.mtime, wait, now)? {
                        Listed::Waiting(why) => return Ok(Verdict::Waiting(why)),
                        Listed::Rejected(why) => batch.rejection = Some(why),
                        Listed::Files(paths) => batch.paths = paths,
                    }
                }
                if batch.rejection.is_none() {
                    batch.rejection = import_problem(&m);
                }
            }
            // A manifest caught half-written is not JSON yet: a fresh one gets the quiet period
            // to be finished before it is taken for broken.
            Err(_) if !is_quiet(marker.mtime, now, quiet) => {
                return Ok(Verdict::Waiting(format!(
                    "{MANIFEST} is not valid yet (still being written?); {}",
                    quiet_left(marker.mtime, now, quiet)
                )));
            }
            Err(why) => batch.rejection = Some(why),
        }
    }
    if batch.rejection.is_none() && batch.paths.is_empty() {
        batch.rejection = Some(format!(
            "folder {} holds no .csv file at its top level; put the SIS export's CSV files there",
            dir.name
        ));
    }
    Ok(Verdict::Ready(Box::new(batch)))
}

/// Why a closed folder cannot be a batch because of what is not a regular file in it: its
/// marker, or any of its CSVs (a manifest can only list CSVs, so this covers listed files too).
fn irregular_files(folder: &str, marker: &Entry, csvs: &[&Entry]) -> Option<String> {
    let bad: Vec<String> = std::iter::once(marker)
        .filter(|m| !m.is_file)
        .chain(csvs.iter().copied())
        .map(|e| format!("{} is {}", e.name, e.what))
        .collect();
    if bad.is_empty() {
        return None;
    }
    Some(format!(
        "in folder {folder}, {}, not a regular file; canvas-sis reads only regular files (it \
         never follows a symbolic link nor reads a pipe or a device), so the batch is refused \
         unread — put the files themselves in a new batch folder",
        bad.join(", ")
    ))
}

/// How long until `mtime` is quiet, in words for a waiting reason.
pub(crate) fn quiet_left(mtime: SystemTime, now: SystemTime, quiet: Duration) -> String {
    let age = now.duration_since(mtime).unwrap_or_default();
    let left = quiet.saturating_sub(age).as_secs_f64().ceil();
    format!(
        "waiting for {} s without change (quiet period), {left} s left",
        quiet.as_secs()
    )
}

fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let unreadable = |e: std::io::Error| format!("could not read {}: {e}", path.display());
    let mut text = String::new();
    crate::store::local::open_regular(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(unreadable)?;
    parse_manifest(&text, &path.display().to_string())
}

enum Listed {
    Files(Vec<PathBuf>),
    Waiting(String),
    Rejected(String),
}

/// Checks a manifest's file list: plain unique CSV names, present (within the bounded wait),
/// matching their sha256 when given.
fn listed_files(
    dir: &Path,
    present: &[Entry],
    files: &[ManifestFile],
    manifest_mtime: SystemTime,
    wait: Duration,
    now: SystemTime,
) -> Result<Listed, FolderError> {
    if let Some(why) = bad_listing(files, super::is_plain_name) {
        return Ok(Listed::Rejected(why));
    }
    // Looked up in the listing (no link followed); what is there but irregular was refused.
    let missing: Vec<&str> = files
        .iter()
        .filter(|f| !present.iter().any(|e| e.name == f.name))
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        let names = missing.join(", ");
        if !waited(manifest_mtime, now, wait) {
            return Ok(Listed::Waiting(format!(
                "manifest.json lists {names}, not there yet (waiting up to {} s)",
                wait.as_secs()
            )));
        }
        return Ok(Listed::Rejected(format!(
            "manifest.json lists {names}, which did not arrive within {} s of the manifest; \
             send the missing files in a new batch folder with its manifest, or remove them from \
             the manifest",
            wait.as_secs()
        )));
    }
    for f in files {
        if let Some(want) = &f.sha256 {
            let path = dir.join(&f.name);
            let got = sha256_file(&path)?;
            if !got.eq_ignore_ascii_case(want.trim()) {
                return Ok(Listed::Rejected(format!(
                    "{} has sha256 {got} but manifest.json says {want}; the file was changed or \
                     cut short in transit — send it again, or fix the digest in the manifest",
                    f.name
                )));
            }
        }
    }
    Ok(Listed::Files(
        files.iter().map(|f| dir.join(&f.name)).collect(),
    ))
}

fn sha256_file(path: &Path) -> Result<String, FolderError> {
    let mut file =
        crate::store::local::open_regular(path).map_err(FolderError::io("open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(FolderError::io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Rules for a `.zip` in the inbox (see the module doc).
pub(crate) fn zip_verdict(
    tenant: &str,
    zip: &Entry,
    quiet: Duration,
    wait: Duration,
    now: SystemTime,
) -> Result<Verdict, FolderError> {
    if !is_quiet(zip.mtime, now, quiet) {
        return Ok(Verdict::Waiting(quiet_left(zip.mtime, now, quiet)));
    }
    let mut batch = ReadyBatch {
        tenant: tenant.to_owned(),
        name: zip.name.clone(),
        kind: BatchKind::Zip,
        source: zip.path.clone(),
        paths: vec![zip.path.clone()],
        manifest: None,
        ready_at: zip.mtime,
        rejection: None,
    };
    if !has_zip_end(&zip.path, zip.len)? {
        if !waited(zip.mtime, now, wait) {
            return Ok(Verdict::Waiting(
                "no zip end record yet (still being written?)".into(),
            ));
        }
        batch.rejection = Some(format!(
            "{} is not a complete zip (no end-of-central-directory record after {} s); send it \
             again",
            zip.name,
            wait.as_secs()
        ));
    }
    Ok(Verdict::Ready(Box::new(batch)))
}

/// Whether the file ends with a zip end-of-central-directory record (its comment included).
fn has_zip_end(path: &Path, len: u64) -> Result<bool, FolderError> {
    const EOCD: [u8; 4] = [b'P', b'K', 5, 6];
    const MIN: u64 = 22;
    if len < MIN {
        return Ok(false);
    }
    let tail_len = len.min(MIN + u64::from(u16::MAX));
    let mut f = crate::store::local::open_regular(path).map_err(FolderError::io("open", path))?;
    f.seek(SeekFrom::Start(len - tail_len))
        .map_err(FolderError::io("read", path))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    f.take(tail_len)
        .read_to_end(&mut tail)
        .map_err(FolderError::io("read", path))?;
    let found = (0..=tail.len() - MIN as usize).rev().any(|i| {
        tail[i..i + 4] == EOCD && {
            let comment = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
            i + MIN as usize + comment == tail.len()
        }
    });
    Ok(found)
}

/// Rules for the loose CSVs at an inbox's top level (see the module doc). `temps` are the
/// temp-named files beside them.
pub(crate) fn loose_verdict(
    tenant: &str,
    inbox: &Path,
    csvs: &[&Entry],
    temps: &[&Entry],
    quiet: Duration,
    now: SystemTime,
) -> Option<Verdict> {
    let newest = csvs.iter().map(|e| e.mtime).max()?;
    if !is_quiet(newest, now, quiet) {
        return Some(Verdict::Waiting(format!(
            "loose CSVs: {}",
            quiet_left(newest, now, quiet)
        )));
    }
    if let Some(t) = temps
        .iter()
        .filter(|t| !is_quiet(t.mtime, now, quiet))
        .max_by_key(|t| t.mtime)
    {
        return Some(Verdict::Waiting(format!(
            "loose CSVs: a temp file beside them ({}) is still changing, {}",
            t.name,
            quiet_left(t.mtime, now, quiet)
        )));
    }
    let stamp = chrono::DateTime::<chrono::Utc>::from(newest).format("%Y%m%dT%H%M%SZ");
    Some(Verdict::Ready(Box::new(ReadyBatch {
        tenant: tenant.to_owned(),
        name: format!("loose-{stamp}"),
        kind: BatchKind::LooseCsv,
        source: inbox.to_owned(),
        paths: csvs.iter().map(|e| e.path.clone()).collect(),
        manifest: None,
        ready_at: newest,
        rejection: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_in_any_case() {
        for n in [
            ".users.csv.x1",
            "users.csv~",
            "users.CSV.part",
            "x.zip.filepart",
            "a.TMP",
            "b.csv.crdownload",
        ] {
            assert!(is_temp_name(n), "{n}");
        }
        for n in ["users.csv", "feed.zip", "partners.csv", "tmp.csv"] {
            assert!(!is_temp_name(n), "{n}");
        }
    }

    #[test]
    fn quiet_means_at_least_the_period_and_never_a_future_mtime() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let q = Duration::from_secs(60);
        assert!(is_quiet(now - Duration::from_secs(60), now, q));
        assert!(!is_quiet(now - Duration::from_secs(59), now, q));
        assert!(!is_quiet(now + Duration::from_secs(5), now, q));
    }

    #[test]
    fn the_zip_end_record_is_found_only_at_the_true_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.zip");
        let mut eocd = vec![0u8; 10];
        eocd.extend_from_slice(&[b'P', b'K', 5, 6]);
        eocd.extend_from_slice(&[0; 16]);
        eocd.extend_from_slice(&3u16.to_le_bytes());
        eocd.extend_from_slice(b"abc");
        std::fs::write(&p, &eocd).unwrap();
        assert!(has_zip_end(&p, eocd.len() as u64).unwrap());
        // Cut short inside the comment: the record no longer ends the file.
        std::fs::write(&p, &eocd[..eocd.len() - 1]).unwrap();
        assert!(!has_zip_end(&p, eocd.len() as u64 - 1).unwrap());
        std::fs::write(&p, b"PK\x03\x04 half a zip").unwrap();
        assert!(!has_zip_end(&p, 17).unwrap());
    }
}
