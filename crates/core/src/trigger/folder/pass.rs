//! One pass of folder mode: scan the inboxes, record and claim what is ready, run every tenant's
//! stream through the ledger-backed pipeline, and archive what finished.
//!
//! The order of writes is what keeps invariant 3: a batch is recorded in the ledger (received,
//! with where it was dropped) before it is claimed (moved to `processing/`), and archived (moved
//! to `archive/` or `failed/`) only after its outcome is recorded. A batch whose outcome is not
//! recorded yet stays in `processing/`, locked by its claim, and the next pass (of this or any
//! watcher) picks it up where the ledger says it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::{
    BatchKind, ClaimedBatch, Extra, FolderError, Layout, ReadyBatch, ScanPolicy, archive, claim,
    recover, scan,
};
use crate::config::Config;
use crate::ledger::{
    BatchId, BatchRecord, BatchSource, CreateOutcome, FileIdentity, Ledger, LocalStore, NewBatch,
    content_hash,
};
use crate::pipeline::staged::{RunError, Staged};
use crate::pipeline::{Observer, WaitPolicy};

pub use crate::trigger::runtime::TenantRuntime;

/// What a pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// Batches claimed from the inboxes in this pass.
    pub claimed: Vec<String>,
    /// Batches archived, with whether they went well.
    pub archived: Vec<(String, bool)>,
    /// Per tenant, where its stream stopped and why.
    pub stopped: Vec<(String, String)>,
    /// Tenants skipped because a blackout window is in effect.
    pub in_blackout: Vec<String>,
    /// What the scan saw but did not take (yet), with why.
    pub waiting: Vec<Waiting>,
}

/// An inbox entry the scan saw but did not take (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub tenant: String,
    /// Relative to DIR, e.g. `inbox/feed.zip`.
    pub path: PathBuf,
    pub why: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("reading {path} to identify the batch: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The folder a batch is claimed into: its id with `/` made plain.
pub fn folder_name(id: &BatchId) -> String {
    id.as_str().replace('/', "--")
}

/// The batch id of a claim folder ([`folder_name`] reversed); `None` for other folders.
fn batch_id_of(folder: &str) -> Option<BatchId> {
    BatchId::parse(&folder.replacen("--", "/", 1)).ok()
}

/// Everything one pass shares.
pub struct Pass<'a> {
    pub layout: &'a Layout,
    pub config: &'a Config,
    pub runtimes: &'a [TenantRuntime],
    pub ledger: &'a Ledger<LocalStore>,
    pub policy: ScanPolicy,
    pub wait: WaitPolicy,
    pub submit_lease: std::time::Duration,
    pub obs: &'a dyn Observer,
    /// Shutdown: checked between tenants and, by the pipeline, between steps; a POST under way
    /// is answered and recorded before the pass ends.
    pub stop: tokio_util::sync::CancellationToken,
}

impl Pass<'_> {
    /// Runs one pass. `claims` carries the claimed batches across passes (their locks live in it).
    pub async fn run(
        &self,
        claims: &mut HashMap<String, ClaimedBatch>,
    ) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        for c in recover(self.layout)? {
            claims.entry(c.batch_id.clone()).or_insert(c);
        }
        let inboxes = self.layout.tenant_inboxes(self.config)?;
        let found = scan(self.layout, &inboxes, &self.policy, SystemTime::now())?;
        report.waiting = found
            .pending
            .iter()
            .map(|p| Waiting {
                tenant: p.tenant.clone(),
                path: p
                    .path
                    .strip_prefix(&self.layout.root)
                    .unwrap_or(&p.path)
                    .to_path_buf(),
                why: p.why.clone(),
            })
            .collect();
        for ready in found.ready {
            if let Some(name) = self.register_and_claim(&ready, claims).await? {
                report.claimed.push(name);
            }
        }
        for rt in self.runtimes {
            if self.stop.is_cancelled() {
                break;
            }
            self.run_tenant(rt, claims, &mut report).await?;
        }
        Ok(report)
    }

    /// Records the batch, then moves it into `processing/`. Another watcher may win either step.
    async fn register_and_claim(
        &self,
        ready: &ReadyBatch,
        claims: &mut HashMap<String, ClaimedBatch>,
    ) -> Result<Option<String>, PassError> {
        let files = identify(&ready.paths)?;
        let content = content_hash(&files);
        let kind = format!("{:?}", ready.kind).to_lowercase();
        let mut source = BatchSource {
            kind,
            location: ready.source.display().to_string(),
            files,
            delivery: Some(drop_identity(ready)?),
            manifest_sha256: manifest_sha256(ready)?,
            ..Default::default()
        };
        // The manifest's import options, recorded with the batch so they apply when it is sent.
        crate::pipeline::staged::record_import_overrides(
            &mut source,
            ready.manifest.as_ref().and_then(|m| m.import.as_ref()),
        );
        let new = NewBatch {
            tenant: ready.tenant.clone(),
            source,
            content_sha256: content,
        };
        let rec = match self.ledger.create_batch(new).await? {
            CreateOutcome::AlreadyKnown(r) if r.stage.is_terminal() => {
                self.set_aside_duplicate(ready, &r).await?;
                return Ok(None);
            }
            CreateOutcome::Created(r) | CreateOutcome::AlreadyKnown(r) => r,
        };
        let name = folder_name(&rec.id);
        if claims.contains_key(&name) {
            return Ok(None);
        }
        match claim(self.layout, ready, &name) {
            Ok(c) => {
                claims.insert(name.clone(), c);
                Ok(Some(name))
            }
            Err(e) if e.is_lost() || matches!(e, FolderError::AlreadyClaimed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The same drop as a batch that already finished, seen again (a watcher that scanned it
    /// before another claimed it): it is not imported again (at most one import per batch), but
    /// kept if it is still there — archived beside the first, with a note saying which batch it
    /// repeats.
    async fn set_aside_duplicate(
        &self,
        ready: &ReadyBatch,
        first: &BatchRecord,
    ) -> Result<(), PassError> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let name = format!("{}--duplicate-{stamp}", folder_name(&first.id));
        let claimed = match claim(self.layout, ready, &name) {
            Ok(c) => c,
            Err(e) if e.is_lost() || matches!(e, FolderError::AlreadyClaimed { .. }) => {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let note = format!(
            "This is the same drop as batch {} ({}), which already finished.\n\
             It was not sent to Canvas again. To import it anyway, drop it again.\n",
            first.id, first.stage
        );
        let to = archive(
            self.layout,
            claimed,
            true,
            &[Extra::Bytes("duplicate.txt", note.as_bytes())],
        )?;
        self.obs.note(&format!(
            "a repeat of batch {} was set aside in {} (not imported again)",
            first.id,
            to.display()
        ));
        Ok(())
    }

    async fn run_tenant(
        &self,
        rt: &TenantRuntime,
        claims: &mut HashMap<String, ClaimedBatch>,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let name = rt.tenant.name.clone();
        if crate::config::blackout_until(&rt.tenant.blackouts, chrono::Utc::now()).is_some() {
            self.obs.note(&format!(
                "tenant {name}: in a blackout window; nothing is sent now"
            ));
            report.in_blackout.push(name);
            return Ok(());
        }
        let staged = self.staged(rt);
        for (folder, c) in claims.iter() {
            if c.tenant == name
                && let Some(reason) = &c.rejection
                && let Some(id) = batch_id_of(folder)
            {
                staged.reject_batch(&id, reason).await?;
            }
        }
        self.archive_finished(&name, claims, report).await?;
        let inputs: HashMap<String, PathBuf> = claims
            .iter()
            .map(|(k, c)| (k.clone(), c.input.clone()))
            .collect();
        let run = staged
            .run_tenant(|rec| inputs.get(&folder_name(&rec.id)).cloned())
            .await?;
        for done in &run.finished {
            if let Some(c) = claims.remove(&folder_name(&done.id)) {
                self.archive(done, c, report).await?;
            }
        }
        if let Some((rec, why)) = run.stopped_at {
            report.stopped.push((name, format!("{}: {why}", rec.id)));
        }
        Ok(())
    }

    /// Archives claimed batches whose outcome the ledger already holds: a watcher that died
    /// between recording an outcome and archiving leaves exactly those behind.
    async fn archive_finished(
        &self,
        tenant: &str,
        claims: &mut HashMap<String, ClaimedBatch>,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let mine: Vec<String> = claims
            .iter()
            .filter(|(_, c)| c.tenant == tenant)
            .map(|(k, _)| k.clone())
            .collect();
        for folder in mine {
            let Some(id) = batch_id_of(&folder) else {
                continue;
            };
            let Some(rec) = self.ledger.get_batch(&id).await? else {
                continue;
            };
            if !rec.stage.is_terminal() {
                continue;
            }
            if let Some(c) = claims.remove(&folder) {
                self.archive(&rec, c, report).await?;
            }
        }
        Ok(())
    }

    fn staged<'s>(&'s self, rt: &'s TenantRuntime) -> Staged<'s, LocalStore> {
        let work = self.layout.root.join("work");
        rt.staged(
            self.ledger,
            &work,
            &self.wait,
            self.submit_lease,
            self.obs,
            &self.stop,
        )
    }

    /// Moves a finished batch out of `processing/` — to `archive/` when it went well (or was
    /// superseded), `failed/` otherwise — and reports it.
    async fn archive(
        &self,
        rec: &BatchRecord,
        c: ClaimedBatch,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let ok = matches!(
            rec.stage,
            crate::ledger::Stage::Terminal { ok: true, .. }
                | crate::ledger::Stage::Superseded { .. }
        );
        let mut blobs: Vec<(&str, Vec<u8>)> = Vec::new();
        let refs = [
            ("validation.txt", &rec.archive.report),
            ("canvas.json", &rec.archive.canvas_json),
            ("errors.csv", &rec.archive.errors_file),
        ];
        for (name, key) in refs {
            if let Some(key) = key
                && let Some(bytes) = self.ledger.get_archive(key).await?
            {
                blobs.push((name, bytes));
            }
        }
        // A batch refused before validation (a link or a pipe in it, a broken manifest) has no
        // report: its reasons go beside its files, where the operator looks.
        if !ok && rec.archive.report.is_none() && !rec.errors.is_empty() {
            let mut why = rec.errors.join("\n");
            why.push('\n');
            blobs.push(("rejected.txt", why.into_bytes()));
        }
        let zip = self
            .layout
            .root
            .join("work")
            .join(format!("{}.zip", rec.id.local_part()));
        let mut extra: Vec<Extra<'_>> = blobs.iter().map(|(n, b)| Extra::Bytes(n, b)).collect();
        if zip.exists() {
            extra.push(Extra::File("batch.zip", &zip));
        }
        let to = archive(self.layout, c, ok, &extra)?;
        report.archived.push((rec.id.to_string(), ok));
        self.obs
            .note(&format!("batch {} archived to {}", rec.id, to.display()));
        Ok(())
    }
}

/// What tells this drop from a later drop of the same files at the same place (docs/design.md: a
/// batch's identity is its delivery, not its content). Each file's inode and change time:
/// copying or moving a file into the inbox sets them, and nothing changes them while the drop
/// waits there, so two passes or two watchers seeing one drop agree, while a re-drop — even of
/// the archived files moved back — differs. A folder's own entry counts too (moving an archived
/// folder back keeps its files' times); the inbox holding loose CSVs does not (any other drop
/// changes it).
fn drop_identity(ready: &ReadyBatch) -> Result<String, PassError> {
    let own = (ready.kind == BatchKind::Folder).then_some(&ready.source);
    let mut h = Sha256::new();
    for p in own.into_iter().chain(&ready.paths) {
        let meta = std::fs::symlink_metadata(p).map_err(|source| PassError::Read {
            path: p.clone(),
            source,
        })?;
        h.update(p.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(entry_stamp(&meta).as_bytes());
        h.update([0]);
    }
    Ok(format!("drop:{}", hex::encode(&h.finalize()[..16])))
}

#[cfg(unix)]
fn entry_stamp(m: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{}:{}:{}.{}", m.dev(), m.ino(), m.ctime(), m.ctime_nsec())
}

#[cfg(not(unix))]
fn entry_stamp(m: &std::fs::Metadata) -> String {
    format!("{:?}", m.created().or_else(|_| m.modified()).ok())
}

/// sha256 of the folder's `manifest.json`, when one closed it: a corrected manifest over the
/// same files is another batch.
fn manifest_sha256(ready: &ReadyBatch) -> Result<Option<String>, PassError> {
    if ready.kind != BatchKind::Folder || ready.manifest.is_none() {
        return Ok(None);
    }
    let path = ready.source.join(canvas_sis_rules::batch::MANIFEST);
    let bytes = std::fs::read(&path).map_err(|source| PassError::Read { path, source })?;
    Ok(Some(hex::encode(Sha256::digest(&bytes))))
}

fn identify(paths: &[PathBuf]) -> Result<Vec<FileIdentity>, PassError> {
    paths.iter().map(|p| file_identity(p)).collect()
}

fn file_identity(p: &Path) -> Result<FileIdentity, PassError> {
    let read = |source| PassError::Read {
        path: p.to_owned(),
        source,
    };
    let mut f = crate::store::local::open_regular(p).map_err(read)?;
    let mut h = Sha256::new();
    let size = std::io::copy(&mut f, &mut h).map_err(read)?;
    Ok(FileIdentity {
        name: p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size,
        sha256: hex::encode(h.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A READY folder `inbox/t/<name>` holding `users.csv` = `body`, as the scanner reports it.
    fn folder_drop(inbox: &Path, name: &str, body: &str, manifest: Option<&str>) -> ReadyBatch {
        let dir = inbox.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users.csv"), body).unwrap();
        if let Some(m) = manifest {
            std::fs::write(dir.join(canvas_sis_rules::batch::MANIFEST), m).unwrap();
        }
        ReadyBatch {
            tenant: "t".into(),
            name: name.into(),
            kind: BatchKind::Folder,
            source: dir.clone(),
            paths: vec![dir.join("users.csv")],
            manifest: manifest.map(|_| Default::default()),
            ready_at: SystemTime::now(),
            rejection: None,
        }
    }

    #[test]
    fn the_same_drop_seen_twice_has_one_identity_and_a_later_drop_of_it_another() {
        let root = tempfile::tempdir().unwrap();
        let inbox = root.path().join("inbox");
        let first = folder_drop(&inbox, "daily", "a", None);
        let id = drop_identity(&first).unwrap();
        assert_eq!(drop_identity(&first).unwrap(), id, "two passes agree");
        // Claimed away, then the very same folder moved back: a new drop. (A move sets the
        // change time; on a coarse clock, move again until it shows, within a bound.)
        let away = root.path().join("archived");
        let ctime = |p: &Path| entry_stamp(&std::fs::symlink_metadata(p).unwrap());
        let before = ctime(&first.source);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while ctime(&first.source) == before && std::time::Instant::now() < deadline {
            std::fs::rename(&first.source, &away).unwrap();
            std::fs::rename(&away, &first.source).unwrap();
        }
        assert_ne!(drop_identity(&first).unwrap(), id, "moved back");
        // Claimed away, then the same content copied in again.
        std::fs::rename(&first.source, &away).unwrap();
        let again = folder_drop(&inbox, "daily", "a", None);
        assert_ne!(drop_identity(&again).unwrap(), id, "copied in again");
    }

    #[test]
    fn a_corrected_manifest_changes_the_drop_s_manifest_hash() {
        let root = tempfile::tempdir().unwrap();
        let one = folder_drop(root.path(), "one", "a", Some("{}"));
        let two = folder_drop(root.path(), "two", "a", Some(r#"{"import": {}}"#));
        let plain = folder_drop(root.path(), "plain", "a", None);
        let (h1, h2) = (
            manifest_sha256(&one).unwrap(),
            manifest_sha256(&two).unwrap(),
        );
        assert!(h1.is_some() && h2.is_some());
        assert_ne!(h1, h2);
        assert_eq!(manifest_sha256(&plain).unwrap(), None);
    }
}
