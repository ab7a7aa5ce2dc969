//! Scanning: list each tenant's inbox, apply the readiness rules of [`super::ready`], and return
//! the ready batches in arrival order.
//!
//! **Arrival order** (deterministic): by `ready_at` — the newest mtime among the batch's files
//! and its closing marker, i.e. when the batch became complete — then by batch name, then by
//! tenant name. Per tenant this is the order the pipeline submits in (docs/design.md invariant 2).
//!
//! Scanning only reads. Entries that are not batches (yet) are reported in [`Scan::pending`]
//! with the reason, for the watcher's log. Entries that another watcher is claiming right now
//! (listed in an unfinished `processing/*/claim.json`) are left out; the inbox is listed
//! *before* the claims are read, so a claim that moved part of a batch is always seen.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::claim::in_flight_sources;
use super::ready::{ReadyBatch, Verdict, folder_verdict, loose_verdict, zip_verdict};
use super::{FolderError, Layout, TenantInbox};
use canvas_sis_rules::batch::{DEFAULT_INCOMPLETE_WAIT, has_ext, is_temp_name};

/// Scan settings shared by all tenants (each tenant brings its own quiet period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPolicy {
    /// How long an incomplete folder (manifest naming missing files) or zip (no end record)
    /// waits before it becomes a batch to reject.
    pub incomplete_wait: Duration,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        ScanPolicy {
            incomplete_wait: DEFAULT_INCOMPLETE_WAIT,
        }
    }
}

/// The result of one scan.
#[derive(Debug, Default)]
pub struct Scan {
    /// Ready batches, in arrival order.
    pub ready: Vec<ReadyBatch>,
    /// Entries seen but not (yet) batches, with why.
    pub pending: Vec<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub tenant: String,
    pub path: PathBuf,
    pub why: String,
}

/// One directory entry with what readiness needs. Symlinks are not followed.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
    /// A regular file: the only kind of file ever opened (design: inputs are regular files).
    pub is_file: bool,
    /// What it is, in words ("a named pipe"), for messages.
    pub what: &'static str,
    pub len: u64,
    pub mtime: SystemTime,
}

impl Entry {
    /// Neither a regular file nor a real folder: a link, a pipe, a socket, a device.
    pub(crate) fn is_irregular(&self) -> bool {
        !self.is_file && !self.is_dir
    }

    /// Why an irregular entry is never picked up, and what to do.
    pub(crate) fn irregular_why(&self) -> String {
        format!(
            "{}, not a regular file or folder: canvas-sis never follows links nor reads pipes or \
             devices; drop the files themselves, then remove it",
            self.what
        )
    }
}

/// The ready batches of every inbox, in arrival order.
pub fn ready_batches(
    layout: &Layout,
    inboxes: &[TenantInbox],
    policy: &ScanPolicy,
    now: SystemTime,
) -> Result<Vec<ReadyBatch>, FolderError> {
    Ok(scan(layout, inboxes, policy, now)?.ready)
}

/// Scans every inbox at time `now`.
pub fn scan(
    layout: &Layout,
    inboxes: &[TenantInbox],
    policy: &ScanPolicy,
    now: SystemTime,
) -> Result<Scan, FolderError> {
    let mut out = Scan::default();
    for inbox in inboxes {
        scan_inbox(inbox, policy, now, &mut out)?;
    }
    let claimed = in_flight_sources(layout)?;
    let (mut ready, busy): (Vec<_>, Vec<_>) = out.ready.into_iter().partition(|b| {
        !claimed.contains(&b.source) && !b.paths.iter().any(|p| claimed.contains(p))
    });
    for b in busy {
        out.pending.push(Pending {
            tenant: b.tenant,
            path: b.source,
            why: "being claimed by another watcher".into(),
        });
    }
    ready.sort_by(|a, b| (a.ready_at, &a.name, &a.tenant).cmp(&(b.ready_at, &b.name, &b.tenant)));
    out.ready = ready;
    Ok(out)
}

/// One tenant's inbox: sub-folders, zips, then the loose CSVs as one batch.
fn scan_inbox(
    inbox: &TenantInbox,
    policy: &ScanPolicy,
    now: SystemTime,
    out: &mut Scan,
) -> Result<(), FolderError> {
    let (q, wait) = (inbox.quiet_period, policy.incomplete_wait);
    let entries = list(&inbox.dir)?;
    let mut csvs = Vec::new();
    let mut temps = Vec::new();
    for e in &entries {
        let verdict = if is_temp_name(&e.name) {
            temps.push(e);
            continue;
        } else if e.is_irregular() {
            Verdict::Waiting(e.irregular_why())
        } else if e.is_dir {
            folder_verdict(&inbox.tenant, e, q, wait, now)?
        } else if has_ext(&e.name, "zip") {
            zip_verdict(&inbox.tenant, e, q, wait, now)?
        } else if has_ext(&e.name, "csv") {
            csvs.push(e);
            continue;
        } else {
            Verdict::Waiting("not a batch: drop a .zip, .csv files, or a folder closed by manifest.json or READY".into())
        };
        record(inbox, e.path.clone(), verdict, out);
    }
    if let Some(v) = loose_verdict(&inbox.tenant, &inbox.dir, &csvs, &temps, q, now) {
        record(inbox, inbox.dir.clone(), v, out);
    }
    Ok(())
}

fn record(inbox: &TenantInbox, path: PathBuf, v: Verdict, out: &mut Scan) {
    match v {
        Verdict::Ready(b) => out.ready.push(*b),
        Verdict::Waiting(why) => out.pending.push(Pending {
            tenant: inbox.tenant.clone(),
            path,
            why,
        }),
    }
}

/// Lists a directory in name order. A directory that vanished meanwhile lists as empty (another
/// watcher claimed it).
pub(crate) fn list(dir: &Path) -> Result<Vec<Entry>, FolderError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(FolderError::io("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(FolderError::io("list", dir))?;
        let path = entry.path();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(FolderError::io("inspect", &path)(e)),
        };
        out.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            is_dir: meta.is_dir(),
            is_file: meta.is_file(),
            what: crate::store::local::type_name(meta.file_type()),
            len: meta.len(),
            mtime: meta
                .modified()
                .map_err(FolderError::io("read the mtime of", &path))?,
            path,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
