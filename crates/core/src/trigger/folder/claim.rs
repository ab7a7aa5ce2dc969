//! Claiming: moving a ready batch out of the inbox into `processing/<batch_id>/`, journaled so a
//! crash at any point is recovered, and arbitrated so two watchers never both claim one batch.
//!
//! A claim, step by step:
//! 1. In `processing/.claiming-<id>-…/`, create and lock `claim.lock`, and write `claim.json`:
//!    which inbox path moves where (paths relative to DIR), the batch's metadata, `complete:
//!    false`. Nothing has moved yet, so a crash here leaves only a staging folder, which
//!    [`recover`] deletes.
//! 2. Rename the staging folder to `processing/<id>/` (fails if the id is taken).
//! 3. Rename the batch's inbox paths in the order of `claim.json`. The **first** rename is the
//!    arbiter: if its source is gone another watcher won, the claim is removed and the caller
//!    gets [`FolderError::Lost`]. (Loose CSVs are several files; whoever moves the first one
//!    owns them all, and scanners skip files listed in unfinished claims, so no one else starts
//!    on the rest.)
//! 4. Rewrite `claim.json` with `complete: true` (write a temp file, then rename).
//!
//! The lock on `claim.lock` (an advisory `flock`, released by the kernel when the process dies)
//! is held by the [`ClaimedBatch`] until [`super::archive`] — so [`recover`] in another watcher
//! leaves a live claim alone, and takes over only claims whose owner is gone.
//!
//! Inside `processing/<id>/`, `input/` holds the batch: the folder's content (a folder batch is
//! renamed to `input/` whole), or the zip, or the loose CSVs.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::ready::{BatchKind, ReadyBatch};
use super::{FolderError, Layout, is_plain_name};
use canvas_sis_rules::batch::Manifest;

const CLAIM_FILE: &str = "claim.json";
const LOCK_FILE: &str = "claim.lock";
const INPUT_DIR: &str = "input";
const STAGING_PREFIX: &str = ".claiming-";

/// A batch moved into `processing/<batch_id>/`, locked by this process until archived.
#[derive(Debug)]
pub struct ClaimedBatch {
    pub batch_id: String,
    pub tenant: String,
    pub name: String,
    pub kind: BatchKind,
    /// `processing/<batch_id>/`.
    pub dir: PathBuf,
    /// What to hand to the pipeline: `input/` (a folder of CSVs) or `input/<name>.zip`.
    pub input: PathBuf,
    /// The batch's files in `input/` (the manifest's list, or every CSV; or the zip).
    pub files: Vec<PathBuf>,
    pub manifest: Option<Manifest>,
    pub ready_at: SystemTime,
    /// Set when the batch must be recorded as rejected, with the reason.
    pub rejection: Option<String>,
    /// Holds the advisory lock on `claim.lock` for as long as this value lives.
    _lock: File,
}

/// `claim.json`. Paths are relative to DIR so the folder may be moved or mounted elsewhere.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimRecord {
    pub version: u32,
    pub batch_id: String,
    pub tenant: String,
    pub name: String,
    pub kind: BatchKind,
    pub ready_at: SystemTime,
    pub manifest: Option<Manifest>,
    pub rejection: Option<String>,
    /// In order; the first is the arbiter.
    pub moves: Vec<Move>,
    pub input: PathBuf,
    pub files: Vec<PathBuf>,
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Move {
    pub from: PathBuf,
    pub to: PathBuf,
}

/// Moves `ready` into `processing/<batch_id>/` (see the module doc for the steps).
///
/// Errors: [`FolderError::Lost`] when another watcher took the batch first (skip it; nothing
/// changed); [`FolderError::AlreadyClaimed`] when the id is in use; the inbox is untouched in
/// both cases.
pub fn claim(
    layout: &Layout,
    ready: &ReadyBatch,
    batch_id: &str,
) -> Result<ClaimedBatch, FolderError> {
    if !is_plain_name(batch_id) {
        return Err(FolderError::BadName {
            what: "batch id",
            name: batch_id.to_owned(),
        });
    }
    let record = plan(layout, ready, batch_id)?;
    let dir = layout.processing().join(batch_id);
    if dir.exists() {
        return Err(FolderError::AlreadyClaimed {
            batch_id: batch_id.to_owned(),
            path: dir,
        });
    }
    let lock = stage(layout, &record, &dir)?;
    move_all(layout, &record, &dir)?;
    let mut record = record;
    record.complete = true;
    write_record(&dir, &record)?;
    Ok(claimed(layout, record, dir, lock))
}

/// Works out what moves where. Paths in the record are relative to DIR.
fn plan(layout: &Layout, ready: &ReadyBatch, batch_id: &str) -> Result<ClaimRecord, FolderError> {
    let rel = |p: &Path| -> Result<PathBuf, FolderError> {
        p.strip_prefix(&layout.root)
            .map(Path::to_path_buf)
            .map_err(|_| FolderError::BadClaim {
                path: p.to_owned(),
                detail: format!("not under the watch folder {}", layout.root.display()),
            })
    };
    let input = Path::new("processing").join(batch_id).join(INPUT_DIR);
    let file_name = |p: &Path| p.file_name().map(PathBuf::from).unwrap_or_default();
    let (moves, files): (Vec<Move>, Vec<PathBuf>) = match ready.kind {
        BatchKind::Folder => {
            let moves = vec![Move {
                from: rel(&ready.source)?,
                to: input.clone(),
            }];
            let files = ready
                .paths
                .iter()
                .map(|p| input.join(file_name(p)))
                .collect();
            (moves, files)
        }
        BatchKind::Zip | BatchKind::LooseCsv => {
            let moves = ready
                .paths
                .iter()
                .map(|p| {
                    Ok(Move {
                        from: rel(p)?,
                        to: input.join(file_name(p)),
                    })
                })
                .collect::<Result<Vec<_>, FolderError>>()?;
            let files = moves.iter().map(|m| m.to.clone()).collect();
            (moves, files)
        }
    };
    if moves.is_empty() {
        return Err(FolderError::BadClaim {
            path: ready.source.clone(),
            detail: "the batch has no files to move".into(),
        });
    }
    let input_target = match ready.kind {
        BatchKind::Zip => files[0].clone(),
        _ => input,
    };
    Ok(ClaimRecord {
        version: 1,
        batch_id: batch_id.to_owned(),
        tenant: ready.tenant.clone(),
        name: ready.name.clone(),
        kind: ready.kind,
        ready_at: ready.ready_at,
        manifest: ready.manifest.clone(),
        rejection: ready.rejection.clone(),
        moves,
        input: input_target,
        files,
        complete: false,
    })
}

/// Steps 1 and 2: a locked, journaled claim folder at `processing/<id>/`, nothing moved yet.
fn stage(layout: &Layout, record: &ClaimRecord, dir: &Path) -> Result<File, FolderError> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let staging = layout.processing().join(format!(
        "{STAGING_PREFIX}{}-{}-{nanos}",
        record.batch_id,
        std::process::id()
    ));
    let result = (|| {
        std::fs::create_dir(&staging).map_err(FolderError::io("create", &staging))?;
        let lock = open_lock(&staging.join(LOCK_FILE))?;
        lock_now(&lock, &staging)?;
        write_record(&staging, record)?;
        if record.kind != BatchKind::Folder {
            let input = staging.join(INPUT_DIR);
            std::fs::create_dir(&input).map_err(FolderError::io("create", &input))?;
        }
        match std::fs::rename(&staging, dir) {
            Ok(()) => Ok(lock),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
                ) =>
            {
                Err(FolderError::AlreadyClaimed {
                    batch_id: record.batch_id.clone(),
                    path: dir.to_owned(),
                })
            }
            Err(e) => Err(FolderError::io("rename", &staging)(e)),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Step 3. On a lost arbiter, or a later file taken by someone else, puts back what moved and
/// removes the claim folder.
fn move_all(layout: &Layout, record: &ClaimRecord, dir: &Path) -> Result<(), FolderError> {
    let root = &layout.root;
    for (i, m) in record.moves.iter().enumerate() {
        let (from, to) = (root.join(&m.from), root.join(&m.to));
        if let Err(e) = std::fs::rename(&from, &to) {
            for done in record.moves[..i].iter().rev() {
                let _ = std::fs::rename(root.join(&done.to), root.join(&done.from));
            }
            remove_claim_dir(dir);
            return Err(match e.kind() {
                ErrorKind::NotFound if i == 0 => FolderError::Lost {
                    name: record.name.clone(),
                },
                ErrorKind::NotFound => FolderError::ClaimConflict {
                    name: record.name.clone(),
                    path: from,
                },
                ErrorKind::CrossesDevices => FolderError::CrossDevice { from, to },
                _ => FolderError::io("move", from)(e),
            });
        }
    }
    sync_dir(&layout.processing());
    Ok(())
}

/// Removes a claim folder that owns no batch files: the journal (and the temp file of a journal
/// write a kill interrupted), the lock, an empty `input/`. Uses exact removals (never a
/// recursive delete), so a folder that unexpectedly holds files is left for the operator rather
/// than deleted.
fn remove_claim_dir(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(CLAIM_FILE));
    let _ = std::fs::remove_file(dir.join(journal_tmp_name()));
    let _ = std::fs::remove_dir(dir.join(INPUT_DIR));
    let _ = std::fs::remove_file(dir.join(LOCK_FILE));
    if let Err(e) = std::fs::remove_dir(dir)
        && e.kind() != ErrorKind::NotFound
    {
        tracing::warn!(path = %dir.display(), error = %e, "could not remove an empty claim folder; remove it by hand");
    }
}

fn claimed(layout: &Layout, r: ClaimRecord, dir: PathBuf, lock: File) -> ClaimedBatch {
    ClaimedBatch {
        input: layout.root.join(&r.input),
        files: r.files.iter().map(|f| layout.root.join(f)).collect(),
        batch_id: r.batch_id,
        tenant: r.tenant,
        name: r.name,
        kind: r.kind,
        dir,
        manifest: r.manifest,
        ready_at: r.ready_at,
        rejection: r.rejection,
        _lock: lock,
    }
}

/// The temp file a journal is written to before it is renamed over `claim.json`.
fn journal_tmp_name() -> String {
    format!("{CLAIM_FILE}.tmp")
}

/// Writes `claim.json` durably: a temp file, fsync, rename over the old one.
pub(crate) fn write_record(dir: &Path, record: &ClaimRecord) -> Result<(), FolderError> {
    let tmp = dir.join(journal_tmp_name());
    let path = dir.join(CLAIM_FILE);
    let body = serde_json::to_vec_pretty(record).map_err(|e| FolderError::BadClaim {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    let mut f = File::create(&tmp).map_err(FolderError::io("write", &tmp))?;
    f.write_all(&body)
        .and_then(|()| f.sync_all())
        .map_err(FolderError::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(FolderError::io("write", &path))?;
    sync_dir(dir);
    Ok(())
}

fn read_record(dir: &Path) -> Result<ClaimRecord, FolderError> {
    let path = dir.join(CLAIM_FILE);
    let text = std::fs::read(&path).map_err(FolderError::io("read", &path))?;
    serde_json::from_slice(&text).map_err(|e| FolderError::BadClaim {
        path,
        detail: e.to_string(),
    })
}

/// Best effort: makes renames in `dir` durable. Not every platform can open a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn open_lock(path: &Path) -> Result<File, FolderError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(FolderError::io("open", path))
}

/// Locks a fresh lock file; nobody else can hold it yet, so failing is an I/O problem.
fn lock_now(lock: &File, dir: &Path) -> Result<(), FolderError> {
    if try_lock(lock) {
        return Ok(());
    }
    Err(FolderError::Io {
        op: "lock a claim in",
        path: dir.to_owned(),
        source: std::io::Error::other("the claim's lock file could not be locked"),
    })
}

/// Takes the advisory exclusive lock (`flock` on Unix) without waiting; false if another open
/// file holds it (or locking failed). The lock ends when the `File` is dropped or its process
/// dies.
///
/// `File::try_lock` is stable since Rust 1.89 while Cargo.toml still says `rust-version =
/// "1.85"`: the integrator raises `rust-version` to 1.89 when this merges (this branch may not
/// edit Cargo.toml beyond the `toml` dependency).
fn try_lock(f: &File) -> bool {
    f.try_lock().is_ok()
}

/// The inbox paths of unfinished claims (absolute), which scanners must leave alone.
pub(crate) fn in_flight_sources(
    layout: &Layout,
) -> Result<std::collections::HashSet<PathBuf>, FolderError> {
    let mut out = std::collections::HashSet::new();
    for dir in claim_dirs(layout)? {
        if let Ok(r) = read_record(&dir)
            && !r.complete
        {
            out.extend(r.moves.iter().map(|m| layout.root.join(&m.from)));
        }
    }
    Ok(out)
}

fn claim_dirs(layout: &Layout) -> Result<Vec<PathBuf>, FolderError> {
    Ok(super::scan::list(&layout.processing())?
        .into_iter()
        .filter(|e| e.is_dir && !e.name.starts_with('.'))
        .map(|e| e.path)
        .collect())
}

/// The batches left in `processing/` by a watcher that is gone (crashed or killed), each
/// brought to a complete claim and locked by this process. Call it at start, before scanning.
///
/// - A claim whose lock is held belongs to a live watcher: left alone.
/// - A complete claim: returned as is (its outcome may or may not be recorded; the caller
///   asks the ledger).
/// - A half-done claim whose first move happened: the remaining moves are done, then it is
///   returned. A file that is neither at its source nor at its target is named in the batch's
///   rejection (never silently dropped).
/// - A half-done claim whose first move did not happen owns nothing: removed (its batch, if
///   still in the inbox, is scanned again).
/// - Staging folders (`.claiming-…`) of dead claimers own nothing: removed.
/// - Anything unreadable is logged and left for the operator.
pub fn recover(layout: &Layout) -> Result<Vec<ClaimedBatch>, FolderError> {
    remove_dead_staging(layout)?;
    let mut out = Vec::new();
    for dir in claim_dirs(layout)? {
        match recover_one(layout, &dir) {
            Ok(Some(b)) => out.push(b),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "left a claim in processing/ alone")
            }
        }
    }
    Ok(out)
}

fn recover_one(layout: &Layout, dir: &Path) -> Result<Option<ClaimedBatch>, FolderError> {
    let lock_path = dir.join(LOCK_FILE);
    if !lock_path.exists() {
        return Err(FolderError::BadClaim {
            path: dir.to_owned(),
            detail: format!("no {LOCK_FILE}"),
        });
    }
    let lock = open_lock(&lock_path)?;
    if !try_lock(&lock) {
        return Ok(None);
    }
    let mut record = read_record(dir)?;
    if record.complete {
        return Ok(Some(claimed(layout, record, dir.to_owned(), lock)));
    }
    let root = &layout.root;
    let Some(arbiter) = record.moves.first() else {
        return Err(FolderError::BadClaim {
            path: dir.to_owned(),
            detail: "no moves".into(),
        });
    };
    if !root.join(&arbiter.to).exists() {
        remove_claim_dir(dir);
        return Ok(None);
    }
    let mut vanished = Vec::new();
    for m in &record.moves[1..] {
        let (from, to) = (root.join(&m.from), root.join(&m.to));
        if to.exists() {
            continue;
        }
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                vanished.push(m.from.display().to_string())
            }
            Err(e) => return Err(FolderError::io("move", from)(e)),
        }
    }
    if !vanished.is_empty() && record.rejection.is_none() {
        record.rejection = Some(format!(
            "the claim of this batch was interrupted and {} could not be found afterwards; send \
             the batch again",
            vanished.join(", ")
        ));
    }
    record.complete = true;
    write_record(dir, &record)?;
    Ok(Some(claimed(layout, record, dir.to_owned(), lock)))
}

/// Staging folders hold only a journal and a lock (nothing moves before they are renamed into
/// place), so a dead claimer's staging folder is removed whole.
fn remove_dead_staging(layout: &Layout) -> Result<(), FolderError> {
    for e in super::scan::list(&layout.processing())? {
        if !(e.is_dir && e.name.starts_with(STAGING_PREFIX)) {
            continue;
        }
        let lock_path = e.path.join(LOCK_FILE);
        let free = match File::open(&lock_path) {
            Ok(f) => try_lock(&f),
            Err(_) => true,
        };
        if free {
            remove_claim_dir(&e.path);
        }
    }
    Ok(())
}
