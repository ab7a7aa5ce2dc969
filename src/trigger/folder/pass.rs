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
    ClaimedBatch, Extra, FolderError, Layout, ReadyBatch, ScanPolicy, archive, claim, recover, scan,
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
        let new = NewBatch {
            tenant: ready.tenant.clone(),
            source: BatchSource {
                kind,
                location: ready.source.display().to_string(),
                files,
                extra: manifest_options(ready),
            },
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

    /// The same content dropped again at the same place as a batch that already finished: it is
    /// not imported again (at most one import per batch), but kept — archived beside the first,
    /// with a note saying which batch it repeats.
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
            "This drop has the same content and location as batch {} ({}), which already finished.\n\
             It was not sent to Canvas again. To import it anyway, change its content or drop it under another name.\n",
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

/// The manifest's import options, recorded with the batch so they apply when it is sent.
fn manifest_options(ready: &ReadyBatch) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut extra = std::collections::BTreeMap::new();
    crate::pipeline::staged::record_import_overrides(
        &mut extra,
        ready.manifest.as_ref().and_then(|m| m.import.as_ref()),
    );
    extra
}

fn identify(paths: &[PathBuf]) -> Result<Vec<FileIdentity>, PassError> {
    paths.iter().map(|p| file_identity(p)).collect()
}

fn file_identity(p: &Path) -> Result<FileIdentity, PassError> {
    let read = |source| PassError::Read {
        path: p.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(p).map_err(read)?;
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
