//! The one-shot run (`canvas-sis import`): one batch through the same staged pipeline as the
//! unattended modes ([`super::staged`]), from `received`, on an in-memory ledger — a one-shot run
//! has no history to keep; Canvas's recent imports are its memory (`preflight::refuse_a_rerun`).
//! What the request's [`super::Preflight`] and `dry_run` ask is done by the stages themselves;
//! this module only turns where the batch ended into the [`Outcome`] the CLI reports.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::staged::{OnFailure, Progress, RunError, Staged};
use super::{BatchEvent, Finished, ImportRequest, Observer, Outcome, Stage};
use crate::ledger::{BatchRecord, BatchSource, Ledger, MemoryStore, NewBatch, Stage as Recorded};
use canvas_sis_client::{CanvasApi, SisImport};
use canvas_sis_rules::sis::validate::ValidationReport;

/// The tenant a one-shot run's batch is recorded under, in its own in-memory ledger.
const TENANT: &str = "one-shot";

/// Runs the batch at `req.path` through every stage; `req.preflight` says what is checked in
/// Canvas before the upload (`Preflight::OneShot` for Canvas's guide in full).
pub async fn import(client: &dyn CanvasApi, req: &ImportRequest, obs: &dyn Observer) -> Outcome {
    import_on_clock(client, req, obs, Utc::now).await
}

/// [`import`], with the times it records and compares (the re-run lookback) read from `clock`:
/// a simulation's.
pub async fn import_on_clock(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    obs: &dyn Observer,
    clock: fn() -> DateTime<Utc>,
) -> Outcome {
    let obs = KeepReport {
        inner: obs,
        rejected: Mutex::new(None),
    };
    let outcome = run(client, req, &obs, clock).await;
    obs.finish();
    outcome
}

async fn run(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    obs: &KeepReport<'_>,
    clock: fn() -> DateTime<Utc>,
) -> Outcome {
    if let Err(e) = req.options.validate() {
        return Outcome::Config {
            reason: e.to_string(),
        };
    }
    let ledger = Ledger::new(MemoryStore::new()).with_clock(clock);
    let id = match ledger.create_batch(new_batch(req)).await {
        Ok(created) => created.record().id.clone(),
        Err(e) => return gave_up(format!("recording the batch: {e}"), None),
    };
    let staged = Staged {
        ledger: &ledger,
        client,
        tenant: TENANT.into(),
        request: req.clone(),
        // One batch: there is no later one to halt, nor a tenant to `resume`.
        on_failure: OnFailure::Continue,
        // One batch, no history: the guard needs a previous accepted batch (use `watch`).
        guard: canvas_sis_rules::sis::guard::Thresholds {
            enabled: false,
            ..Default::default()
        },
        submit_lease: std::time::Duration::ZERO,
        import_defaults: None,
        obs,
        blackouts: Vec::new(),
        stop: Default::default(),
    };
    let result = staged.run_batch(&id, &req.path).await;
    let import_id = ledger
        .get_batch(&id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.canvas_import_id);
    match result {
        Ok(Progress::Finished(done)) => finished_outcome(*done, req, obs.take_rejected()),
        Ok(Progress::Blocked(b)) if req.dry_run && b.stage == Recorded::Packed => dry_run(&b),
        Ok(Progress::Blocked(b)) => gave_up(format!("the batch stopped at {}", b.stage), import_id),
        // The import the batch made, if the stage that stopped did not name it.
        Err(RunError::Stage { cause, .. }) => match *cause {
            Outcome::GaveUp {
                reason,
                import_id: None,
            } => gave_up(reason, import_id),
            Outcome::Canvas {
                error,
                import_id: None,
            } => Outcome::Canvas { error, import_id },
            cause => cause,
        },
        Err(e) => gave_up(e.to_string(), import_id),
    }
}

/// The one-shot's batch: received from `req.path`.
fn new_batch(req: &ImportRequest) -> NewBatch {
    use sha2::{Digest, Sha256};
    let location = req.path.display().to_string();
    NewBatch {
        tenant: TENANT.into(),
        // Recorded before the files are read: the id only has to be unique in this ledger.
        content_sha256: hex::encode(Sha256::digest(location.as_bytes())),
        source: BatchSource {
            kind: "path".into(),
            location,
            ..Default::default()
        },
    }
}

/// The end recorded for the batch, as the one-shot reports it; `rejected` is the validation
/// report when validation refused the batch.
fn finished_outcome(
    rec: BatchRecord,
    req: &ImportRequest,
    rejected: Option<ValidationReport>,
) -> Outcome {
    if matches!(&rec.stage, Recorded::Terminal { state, .. } if state == "rejected") {
        return match rejected {
            Some(report) => Outcome::Rejected {
                reason: format!(
                    "{} error(s) in the batch; nothing was sent to Canvas",
                    report.error_count()
                ),
                report: Some(Box::new(report)),
            },
            // Unreadable input, or Canvas refused the POST itself: nothing was imported.
            None => Outcome::Rejected {
                reason: rec
                    .errors
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "Canvas refused the import".into()),
                report: None,
            },
        };
    }
    let import = rec
        .canvas_json
        .and_then(|j| serde_json::from_value::<SisImport>(j).ok());
    let Some(import) = import else {
        return gave_up(
            format!("batch ended {} without Canvas's answer", rec.stage),
            rec.canvas_import_id,
        );
    };
    let errors = req
        .work_dir
        .join(format!("sis_errors_attachment_{}.csv", import.id));
    let finished = Box::new(Finished {
        errors_file: errors.exists().then_some(errors),
        import,
    });
    if finished.import.workflow_state.is_success() {
        Outcome::Imported(finished)
    } else {
        Outcome::CanvasFailed(finished)
    }
}

/// A dry run stopped at `packed`, with Canvas checked: the zip it would have sent.
fn dry_run(rec: &BatchRecord) -> Outcome {
    match &rec.packed_zip {
        Some(zip) => Outcome::DryRun {
            zip_bytes: zip.bytes,
            zip_sha256: zip.sha256.clone(),
        },
        None => gave_up("packed, but no zip was recorded".into(), None),
    }
}

fn gave_up(reason: String, import_id: Option<u64>) -> Outcome {
    Outcome::GaveUp { reason, import_id }
}

/// The caller's observer, keeping the validation report of a rejected batch (the ledger keeps
/// only its text): a rejected one-shot run prints it.
struct KeepReport<'a> {
    inner: &'a dyn Observer,
    rejected: Mutex<Option<ValidationReport>>,
}

impl KeepReport<'_> {
    fn take_rejected(&self) -> Option<ValidationReport> {
        self.rejected.lock().ok()?.take()
    }
}

impl Observer for KeepReport<'_> {
    fn stage(&self, stage: Stage) {
        self.inner.stage(stage);
    }

    fn progress(&self, stage: Stage, done: u64, total: Option<u64>) {
        self.inner.progress(stage, done, total);
    }

    fn note(&self, message: &str) {
        self.inner.note(message);
    }

    fn validated(&self, report: &ValidationReport) {
        if report.is_rejected()
            && let Ok(mut kept) = self.rejected.lock()
        {
            *kept = Some(report.clone());
        }
        self.inner.validated(report);
    }

    fn batch_event(&self, tenant: &str, event: BatchEvent<'_>) {
        self.inner.batch_event(tenant, event);
    }

    fn finish(&self) {
        self.inner.finish();
    }
}
