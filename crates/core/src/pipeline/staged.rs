//! The unattended pipeline: one recorded batch, moved forward from whatever stage the ledger
//! holds, so a crash at any point resumes at that point.
//!
//! Stages and what makes each safe to repeat:
//!
//! ```text
//! received ─validate─► validated ─guard─► packed ─record submitting─► POST ─► submitted ─wait─► terminal
//!    │ (rejected: terminal, gate halts)   │ held (until approved)        │ (crash: look up in Canvas first)
//!    └──────── parked while the tenant's gate is closed ────────────────┘
//! ```
//!
//! - Validation and packing are pure functions of the input files; after a crash they are simply
//!   done again.
//! - `submitting` is recorded (compare-and-swap) *before* the POST, with a lease its holder
//!   renews while the POST runs (`lease.rs`). Only the worker whose write lands may POST; a
//!   lease is taken over only once it expired, by another compare-and-swap. After a crash the
//!   batch is never uploaded blindly: unless the lease proves no POST left, Canvas is asked for
//!   the import that is ours (`submit::find_ours`: our user, the POST's window, our files);
//!   only if none exists is the upload sent, and an ambiguous answer is left to an operator.
//! - `submitted` carries the Canvas import id: from there on the batch is only waited on.
//! - The zip is archived in the ledger *while* it is uploaded and waited on, not before (its
//!   transfer would otherwise add to every batch's time), and always before the end is recorded.
//!   A worker that dies before the archive is written leaves it owed ([`zip_archive_owed`]): the
//!   next run packs the zip again from the inputs — which stay in place until the end is
//!   recorded — checks it has the recorded sha256, and archives it then.
//! - At the end the outcome is recorded (Canvas JSON and errors file archived in the ledger), the
//!   tenant's last accepted statistics are updated, or its gate is halted — and only then may the
//!   caller move or delete the inputs (invariant 3). A failure halts by being recorded: the halt
//!   is derived from the batch (`super::gate`), the tenant's copy of it is only a shortcut.
//!
//! Ordering between the batches of a tenant is the caller's (`run_tenant` in the trigger): it
//! runs one batch at a time, in arrival order, and stops at the first that is not finished.

use std::path::{Path, PathBuf};

use tracing::Instrument as _;

use super::spans;
use super::{
    BatchEvent, ImportRequest, Observer, Outcome, Preflight, Rerun, Stage as ObsStage, collect,
    lease, pack, submit, validate, wait,
};
pub use crate::config::OnFailure;
use crate::ledger::{
    AcceptedStats, BatchId, BatchRecord, BatchSource, Ledger, LedgerError, LedgerStore, Stage,
    ZipDigest,
};
use canvas_sis_client::{BatchMode, CanvasApi, SisImport};
use canvas_sis_rules::sis::guard::{self, BatchStats, Decision, Thresholds};

/// Everything the staged run of one tenant's batches needs.
pub struct Staged<'a, S> {
    pub ledger: &'a Ledger<S>,
    /// The tenant's Canvas, through its port: the HTTP client, or a simulated Canvas.
    pub client: &'a dyn CanvasApi,
    pub tenant: String,
    /// Account, options, waits, limits; `path` is replaced by each batch's input.
    pub request: ImportRequest,
    pub on_failure: OnFailure,
    pub guard: Thresholds,
    /// The lease on a `submitting` batch (`lease.rs`): its holder renews it every third of this
    /// while its POST runs, however long that takes; a batch whose lease was renewed less than
    /// this ago is left alone. After it, the holder is presumed dead: the batch is taken over
    /// (compare-and-swap) and Canvas is asked what became of the POST.
    pub submit_lease: std::time::Duration,
    /// The tenant's default import settings, which a batch's own options (its manifest's
    /// `import`, recorded in [`BatchSource::import_overrides`]) are laid over. `None`: the batch options
    /// are refused (one-shot runs take their options from the flags).
    pub import_defaults: Option<crate::config::ImportDefaults>,
    pub obs: &'a dyn Observer,
    /// The tenant's blackout windows: checked before every step that leads to a send (like the
    /// gate), so a window that opens while the stream runs parks what has not been sent yet.
    pub blackouts: Vec<crate::config::Blackout>,
    /// Shutdown (SIGTERM): checked between steps. A step under way is finished and recorded —
    /// a POST is never cut off before its answer is recorded — but the wait for Canvas's end
    /// is not: the batch stays `submitted` and the next run waits on it.
    pub stop: tokio_util::sync::CancellationToken,
}

/// A rejected batch's record keeps this many validation errors after the reason (the full list
/// is in the archived validation report).
const FIRST_ERRORS_RECORDED: usize = 20;

/// Records a batch's own import options (its manifest's `import`) with its source, where
/// [`Staged`] finds them when the batch is sent.
pub fn record_import_overrides(
    source: &mut BatchSource,
    overrides: Option<&crate::config::ImportOverrides>,
) {
    if let Some(o) = overrides {
        source.import_overrides = Some(serde_json::to_value(o).unwrap_or_default());
    }
}

/// Where a run of one batch stopped.
#[derive(Debug)]
pub enum Progress {
    /// Terminal (or superseded): the caller may archive the inputs.
    Finished(Box<BatchRecord>),
    /// Waiting for an operator: held by the guard, or parked behind a closed gate; or, in a
    /// dry run (`ImportRequest::dry_run`), packed and checked, stopped before the send.
    Blocked(Box<BatchRecord>),
}

/// How many times one run of a batch looks again at it after another worker moved it on under
/// this one's step.
const MAX_RACED: u32 = 3;

/// Why a run stopped without a recorded outcome; the batch keeps its stage and resumes later.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A stage could not go on now (Canvas, the account, a deadline, the zip on disk): `cause`
    /// is the typed end a one-shot run reports (see `outcome.rs`), which callers decide from.
    #[error("batch {batch}: {}", cause.reason())]
    Stage { batch: BatchId, cause: Box<Outcome> },
    #[error("batch {0} is not in the ledger")]
    Unknown(BatchId),
    #[error("batch {0} is being submitted by another worker; try again later")]
    Busy(BatchId),
    /// The run was asked to stop; the batch keeps its recorded stage and resumes later.
    #[error("batch {0}: stopped (shutting down); it resumes from its recorded stage")]
    Stopped(BatchId),
}

impl RunError {
    /// Batch `batch` stopped at a stage with `cause`.
    fn stage(batch: &BatchId, cause: Outcome) -> Self {
        RunError::Stage {
            batch: batch.clone(),
            cause: Box::new(cause),
        }
    }

    /// Batch `batch` cannot go on now for `reason` (e.g. its zip): it keeps its stage.
    fn gave_up(batch: &BatchId, reason: String) -> Self {
        let cause = Outcome::GaveUp {
            reason,
            import_id: None,
        };
        Self::stage(batch, cause)
    }

    /// Why a stage stopped, when one did.
    pub fn cause(&self) -> Option<&Outcome> {
        match self {
            RunError::Stage { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

impl From<lease::LeaseError> for RunError {
    fn from(e: lease::LeaseError) -> Self {
        match e {
            lease::LeaseError::Lost(id) => RunError::Busy(id),
            // Nothing was lost: the batch resumes from its recorded stage on a later pass.
            lease::LeaseError::Unrenewed(ref id) => RunError::gave_up(id, e.to_string()),
            lease::LeaseError::Ledger(e) => RunError::Ledger(e),
        }
    }
}

impl<S: LedgerStore> Staged<'_, S> {
    /// Moves batch `id`, whose files are at `input`, as far as it can go, in the batch's span
    /// (see `telemetry::spans`), which ends with what the run came to.
    pub async fn run_batch(&self, id: &BatchId, input: &Path) -> Result<Progress, RunError> {
        let span = spans::batch(&self.tenant, &id.to_string());
        // Boxed, as are the stages below: their futures are large (a debug build's overflowed a
        // test thread's 2 MiB stack), and a caller awaiting this one should not carry them.
        let out = Box::pin(self.run_stages(id, input))
            .instrument(span.clone())
            .await;
        match &out {
            Ok(Progress::Finished(rec) | Progress::Blocked(rec)) => {
                spans::record_on_span(&span, rec)
            }
            // Canvas refused the token, its permissions or the account: retried on each pass,
            // but only an operator can make it pass.
            Err(RunError::Stage { cause, .. }) if cause.needs_operator() => {
                spans::mark_error(&span);
                let reason = &cause.reason();
                let event = BatchEvent::NeedsOperator { batch: id, reason };
                self.obs.batch_event(&self.tenant, event);
            }
            Err(RunError::Busy(_) | RunError::Stopped(_)) => {}
            Err(_) => spans::mark_error(&span),
        }
        out
    }

    async fn run_stages(&self, id: &BatchId, input: &Path) -> Result<Progress, RunError> {
        let mut raced = 0;
        loop {
            if self.stop.is_cancelled() {
                return Err(RunError::Stopped(id.clone()));
            }
            let rec = self
                .ledger
                .get_batch(id)
                .await?
                .ok_or_else(|| RunError::Unknown(id.clone()))?;
            let req = match self.request_for(&rec, input) {
                Ok(req) => req,
                Err(reason) if matches!(rec.stage, Stage::Received | Stage::Parked { .. }) => {
                    self.reject(&rec, reason, None).await?;
                    continue;
                }
                // Already past validation with these options: go on as recorded.
                Err(_) => ImportRequest {
                    path: input.to_owned(),
                    ..self.request.clone()
                },
            };
            match Box::pin(self.step(rec, &req)).await {
                Ok(Some(progress)) => return Ok(progress),
                Ok(None) => {}
                // Another worker moved the batch on between this one's read and its write, and
                // the state machine refused the stale step (two workers validating, packing or recording
                // the end of one batch): look again at where it is now. Bounded, so that a step the
                // state machine always refuses is still an error.
                Err(RunError::Ledger(LedgerError::IllegalTransition { .. }))
                    if raced < MAX_RACED =>
                {
                    raced += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One step of `rec` from its recorded stage: `Some` when the run ends here, `None` when the
    /// batch moved on and the next step may follow.
    async fn step(
        &self,
        rec: BatchRecord,
        req: &ImportRequest,
    ) -> Result<Option<Progress>, RunError> {
        match &rec.stage {
            Stage::Terminal { .. } | Stage::Superseded { .. } => {
                return Ok(Some(Progress::Finished(Box::new(rec))));
            }
            Stage::Submitted { import_id } => {
                let import_id = *import_id;
                Box::pin(self.finish(&rec, req, import_id)).await?;
            }
            Stage::Submitting => {
                if self.may_be_in_flight(&rec) {
                    return Err(RunError::Busy(rec.id.clone()));
                }
                Box::pin(self.resolve_submitting(&rec, req)).await?
            }
            stage => {
                if let Some(reason) = self.gate_closed().await?.or_else(|| self.blackout()) {
                    let parked = self.park(&rec, reason).await?;
                    return Ok(Some(Progress::Blocked(Box::new(parked))));
                }
                match stage {
                    Stage::Received | Stage::Parked { .. } => self.validate(&rec, req).await?,
                    Stage::Validated | Stage::Held { .. } => {
                        if let Some(held) = self.guard_and_pack(&rec, req).await? {
                            return Ok(Some(Progress::Blocked(Box::new(held))));
                        }
                    }
                    Stage::Packed if req.dry_run => {
                        let zip = self.zip_on_disk(&rec, req).await?;
                        Box::pin(self.account_ready(&rec, req, &zip)).await?;
                        return Ok(Some(Progress::Blocked(Box::new(rec))));
                    }
                    Stage::Packed => Box::pin(self.submit(&rec, req)).await?,
                    _ => unreachable!("handled above"),
                }
            }
        }
        Ok(None)
    }

    /// The request for one batch: its input, and its own import options over the tenant's.
    pub(super) fn request_for(
        &self,
        rec: &BatchRecord,
        input: &Path,
    ) -> Result<ImportRequest, String> {
        let mut req = self.request.clone();
        req.path = input.to_owned();
        let Some(raw) = &rec.source.import_overrides else {
            return Ok(req);
        };
        let bad = |e: String| format!("the batch's manifest import options: {e}");
        let overrides: crate::config::ImportOverrides =
            serde_json::from_value(raw.clone()).map_err(|e| bad(e.to_string()))?;
        let defaults = self
            .import_defaults
            .as_ref()
            .ok_or_else(|| bad("this run takes no per-batch options".into()))?;
        req.options = defaults
            .with(&overrides, "manifest.json import")
            .map_err(|p| bad(p.to_string()))?
            .to_options()
            .map_err(|e| bad(e.to_string()))?;
        Ok(req)
    }

    /// The reason the tenant's gate is closed (paused, halted or both), if it is: from the
    /// tenant record and the batch its halt names (`gate` module docs).
    async fn gate_closed(&self) -> Result<Option<String>, LedgerError> {
        let tenant = self.ledger.tenant(&self.tenant).await?;
        Ok(
            super::gate::of_record(self.ledger, &tenant, self.on_failure)
                .await?
                .closed_reason(),
        )
    }

    /// Why nothing may be sent now, if a blackout window of the tenant holds: the reason a batch
    /// is parked with, naming the window's end (the same for the whole window).
    pub fn blackout(&self) -> Option<String> {
        crate::config::blackout_until(&self.blackouts, self.ledger.now())
            .map(|until| format!("blackout until {}", until.to_rfc3339()))
    }

    /// Records `rec` as parked with `reason` (unchanged when it already is).
    pub async fn park(
        &self,
        rec: &BatchRecord,
        reason: String,
    ) -> Result<BatchRecord, LedgerError> {
        if matches!(&rec.stage, Stage::Parked { reason: r } if *r == reason) {
            return Ok(rec.clone());
        }
        self.obs.note(&format!("batch {} parked: {reason}", rec.id));
        let parked = self
            .ledger
            .transition(
                &rec.id,
                Stage::Parked {
                    reason: reason.clone(),
                },
                &reason,
            )
            .await?;
        self.obs
            .batch_event(&self.tenant, BatchEvent::Parked(&parked));
        Ok(parked)
    }

    /// Received/Parked → Validated, or Terminal("rejected") with the report archived.
    async fn validate(&self, rec: &BatchRecord, req: &ImportRequest) -> Result<(), RunError> {
        self.obs.stage(ObsStage::Collect);
        let collected = match spans::in_stage_sync(self.obs, &self.tenant, "collect", || {
            collect::collect(&req.path, &req.limits)
        }) {
            Ok(c) => c,
            Err(e) => return self.reject(rec, e.to_string(), None).await,
        };
        for s in collected.skipped() {
            self.obs.note(&format!("skipped {s}"));
        }
        self.obs.stage(ObsStage::Validate);
        // Packed while validating (other cores); kept only if validation agrees (below).
        let zip = self.zip_path(rec, req);
        let (report, prepacked) = spans::in_stage_sync(self.obs, &self.tenant, "validate", || {
            super::validate_and_prepack(&collected, &req.validate, &zip, &req.pack)
        });
        self.obs.validated(&report);
        let kinds_found = super::kinds_of(&report);
        let prepacked = prepacked
            .filter(|(guess, _)| !report.is_rejected() && *guess == kinds_found)
            .map(|(_, summary)| summary);
        if prepacked.is_none() {
            let _ = std::fs::remove_file(&zip);
        }
        let report_key = self
            .ledger
            .put_archive(&rec.id, "validation.txt", report.to_text_all().as_bytes())
            .await?;
        if report.is_rejected() {
            let reason = format!(
                "{} validation error(s); nothing was sent",
                report.error_count()
            );
            let first = report.first_errors(FIRST_ERRORS_RECORDED);
            return self.reject_with(rec, reason, Some(report_key), first).await;
        }
        let stats = BatchStats::from_report(&report);
        for (kind, s) in &stats.0 {
            self.obs.packed(kind, s.rows, 0);
        }
        if let Some(p) = &prepacked {
            packed_bytes(self.obs, &kinds_found, p);
        }
        let prepacked = prepacked.map(|p| ZipDigest::new(&p.sha256, p.bytes));
        self.ledger
            .update_batch(&rec.id, |r| {
                r.archive.report = Some(report_key.clone());
                r.file_kinds = Some(kinds_found.clone());
                r.prepacked = prepacked.clone();
                r.counts.0.extend(stats.0.clone());
                r.apply_transition(Stage::Validated, "validated", self.ledger.now())
            })
            .await?;
        Ok(())
    }

    /// Records a batch the trigger refused before it could be read (e.g. a manifest naming files
    /// that never arrived): terminal, rejected, and the tenant halts unless its policy continues.
    pub async fn reject_batch(&self, id: &BatchId, reason: &str) -> Result<(), RunError> {
        let rec = self
            .ledger
            .get_batch(id)
            .await?
            .ok_or_else(|| RunError::Unknown(id.clone()))?;
        if rec.stage.is_terminal() {
            return Ok(());
        }
        self.reject(&rec, reason.to_owned(), None).await
    }

    async fn reject(
        &self,
        rec: &BatchRecord,
        reason: String,
        report: Option<String>,
    ) -> Result<(), RunError> {
        self.reject_with(rec, reason, report, Vec::new()).await
    }

    /// [`Self::reject`], recording `details` (the first validation errors) after the reason.
    async fn reject_with(
        &self,
        rec: &BatchRecord,
        reason: String,
        report: Option<String>,
        details: Vec<String>,
    ) -> Result<(), RunError> {
        self.obs
            .note(&format!("batch {} rejected: {reason}", rec.id));
        let rejected = self
            .ledger
            .update_batch(&rec.id, |r| {
                r.errors.push(reason.clone());
                r.errors.extend(details.iter().cloned());
                if report.is_some() {
                    r.archive.report = report.clone();
                }
                r.apply_transition(
                    Stage::Terminal {
                        state: "rejected".into(),
                        ok: false,
                    },
                    &reason,
                    self.ledger.now(),
                )
            })
            .await?;
        self.obs
            .batch_event(&self.tenant, BatchEvent::Finished(&rejected));
        self.after_failure(&rec.id, &reason).await
    }

    /// The mass-change guard, then the zip. Returns the record when the batch is held.
    async fn guard_and_pack(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
    ) -> Result<Option<BatchRecord>, RunError> {
        if let Some(held) =
            spans::in_stage(self.obs, &self.tenant, "guard", self.guard(rec, req)).await?
        {
            return Ok(Some(held));
        }
        spans::in_stage(
            self.obs,
            &self.tenant,
            "pack",
            self.pack_and_archive(rec, req),
        )
        .await
    }

    /// The mass-change guard. Returns the record when the batch is held.
    async fn guard(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
    ) -> Result<Option<BatchRecord>, RunError> {
        if !rec.approved {
            let tenant = self.ledger.tenant(&self.tenant).await?;
            let previous = tenant.last_accepted.as_ref().map(stats_of_accepted);
            let batch_mode = matches!(
                req.options.batch_mode,
                Some(BatchMode::Term(_) | BatchMode::MultiTerm)
            );
            if let Decision::Hold(reasons) = guard::evaluate(
                &stats_of_record(rec),
                previous.as_ref(),
                &self.guard,
                batch_mode,
            ) {
                let reason = reasons
                    .iter()
                    .map(|r| r.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                if !matches!(&rec.stage, Stage::Held { reason: r } if *r == reason) {
                    self.obs.note(&format!(
                        "batch {} held by the mass-change guard: {reason}",
                        rec.id
                    ));
                    let held = self
                        .ledger
                        .transition(
                            &rec.id,
                            Stage::Held {
                                reason: reason.clone(),
                            },
                            "mass-change guard",
                        )
                        .await?;
                    self.obs.batch_event(&self.tenant, BatchEvent::Held(&held));
                    return Ok(Some(held));
                }
                return Ok(Some(rec.clone()));
            }
        }
        Ok(None)
    }

    /// The zip (already built while validating, or built now), archived in the ledger.
    async fn pack_and_archive(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
    ) -> Result<Option<BatchRecord>, RunError> {
        self.obs.stage(ObsStage::Pack);
        let zip = self.zip_path(rec, req);
        let sha256 = match prepacked_zip(rec, &zip) {
            Some(sha) => sha,
            None => match self.pack_now(rec, req, &zip).await? {
                Some(sha) => sha,
                None => return Ok(None),
            },
        };
        // Archived while it is uploaded (`send_and_finish`); until then it is owed.
        let bytes = std::fs::metadata(&zip).map_or(0, |m| m.len());
        let files = submit::posted_files(&zip).map_or(0, |f| f.len());
        self.obs.note(&format!(
            "packed {files} file(s) into {bytes} bytes (sha256 {sha256})"
        ));
        let packed = ZipDigest::new(&sha256, bytes);
        self.ledger
            .update_batch(&rec.id, |r| {
                r.packed_zip = Some(packed.clone());
                r.apply_transition(
                    Stage::Packed,
                    &format!("packed, sha256 {sha256}"),
                    self.ledger.now(),
                )
            })
            .await?;
        Ok(None)
    }

    /// Packs the batch now (it was not packed during validation); `None` when it was rejected.
    async fn pack_now(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        zip: &Path,
    ) -> Result<Option<String>, RunError> {
        let collected = match collect::collect(&req.path, &req.limits) {
            Ok(c) => c,
            Err(e) => {
                self.reject(rec, e.to_string(), None).await?;
                return Ok(None);
            }
        };
        let kinds = match &rec.file_kinds {
            Some(k) => k.clone(),
            // A record from before kinds were recorded, validated by another path, or naming a
            // kind this version does not know: detect again.
            None => super::kinds_of(&validate(&collected, &req.validate)),
        };
        match pack(&collected, &kinds, zip, &req.pack) {
            Ok(s) => {
                packed_bytes(self.obs, &kinds, &s);
                Ok(Some(s.sha256))
            }
            Err(e) => Err(RunError::gave_up(&rec.id, format!("packing failed: {e}"))),
        }
    }

    /// Where the batch's zip is built (in the request's work directory).
    pub fn zip_path(&self, rec: &BatchRecord, req: &ImportRequest) -> PathBuf {
        req.work_dir.join(format!("{}.zip", rec.id.local_part()))
    }

    /// Makes sure the packed zip is on disk (it may have been built by a process that died):
    /// from the archive, or packed again from the input when its archive is still owed.
    async fn zip_on_disk(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
    ) -> Result<PathBuf, RunError> {
        let path = self.zip_path(rec, req);
        if path.exists() {
            return Ok(path);
        }
        if zip_archive_owed(rec) {
            self.repack(rec, req, &path)?;
            return Ok(path);
        }
        let key = rec
            .archive
            .zip
            .clone()
            .ok_or_else(|| RunError::gave_up(&rec.id, "packed but no zip archived".into()))?;
        let bytes =
            self.ledger.get_archive(&key).await?.ok_or_else(|| {
                RunError::gave_up(&rec.id, format!("archived zip {key} is missing"))
            })?;
        std::fs::write(&path, bytes)
            .map_err(|e| RunError::gave_up(&rec.id, format!("writing {}: {e}", path.display())))?;
        Ok(path)
    }

    /// For a takeover about to send again: the zip of a batch whose holder died before
    /// archiving it, packed again from its input unless it is on this disk. An error means it
    /// can never be had (the archived zip, when there is one, is `zip_on_disk`'s business).
    fn zip_to_send_again(&self, rec: &BatchRecord, req: &ImportRequest) -> Result<(), RunError> {
        let path = self.zip_path(rec, req);
        if path.exists() || !zip_archive_owed(rec) {
            return Ok(());
        }
        self.repack(rec, req, &path)
    }

    /// Packs the zip again from the batch's input, for a worker that died before archiving it.
    /// Packing is deterministic, so the zip is the one that was (or is about to be) sent, which
    /// the recorded sha256 proves; a zip that differs (the inputs changed) is refused.
    fn repack(&self, rec: &BatchRecord, req: &ImportRequest, zip: &Path) -> Result<(), RunError> {
        let fail = |reason: String| RunError::gave_up(&rec.id, reason);
        let collected = collect::collect(&req.path, &req.limits).map_err(|e| {
            fail(format!(
                "packing the zip again from {}: {e}",
                req.path.display()
            ))
        })?;
        let kinds = match &rec.file_kinds {
            Some(k) => k.clone(),
            None => super::kinds_of(&validate(&collected, &req.validate)),
        };
        let summary = pack(&collected, &kinds, zip, &req.pack)
            .map_err(|e| fail(format!("packing the zip again: {e}")))?;
        let recorded = rec.packed_zip.as_ref().map(|p| p.sha256.as_str());
        if recorded != Some(summary.sha256.as_str()) {
            let _ = std::fs::remove_file(zip);
            return Err(fail(format!(
                "the zip packed again from {} has sha256 {}, not the recorded {}: the input changed",
                req.path.display(),
                summary.sha256,
                recorded.unwrap_or("(none)")
            )));
        }
        self.obs.note(&format!(
            "batch {}: zip packed again from its input",
            rec.id
        ));
        Ok(())
    }

    /// Archives the batch's zip in the ledger if it is still owed ([`zip_archive_owed`]).
    async fn archive_zip(&self, rec: &BatchRecord, zip: &Path) -> Result<(), RunError> {
        if !zip_archive_owed(rec) {
            return Ok(());
        }
        // Streamed from the file: the zip is never held in memory (invariant 6).
        let key = self
            .ledger
            .put_archive_file(&rec.id, "batch.zip", zip)
            .await?;
        self.ledger
            .update_batch(&rec.id, |r| {
                r.archive.zip = Some(key.clone());
                Ok::<(), LedgerError>(())
            })
            .await?;
        Ok(())
    }

    /// The owed archive of a batch being resumed after the POST: the zip on disk (packed again
    /// if need be), then archived.
    async fn archive_owed_zip(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
    ) -> Result<(), RunError> {
        if !zip_archive_owed(rec) {
            return Ok(());
        }
        let zip = self.zip_on_disk(rec, req).await?;
        self.archive_zip(rec, &zip).await
    }

    /// Packed → Submitting (only one worker can), then the POST.
    async fn submit(&self, rec: &BatchRecord, req: &ImportRequest) -> Result<(), RunError> {
        let claim = async {
            let zip = self.zip_on_disk(rec, req).await?;
            self.account_ready(rec, req, &zip).await?;
            // Another worker recorded Submitting first: it owns the POST (`Lost` is Busy).
            let held = lease::claim(self.ledger, &rec.id).await?;
            Ok((zip, held))
        };
        self.send_and_finish(rec, req, claim).await
    }

    /// `claim` (the zip on disk, the batch ours to send) and the POST — the "submit" stage —
    /// then the wait for Canvas's end ("wait"), with the zip archived alongside from the moment
    /// it is claimed; the end is recorded ("record") once both are done (module docs).
    async fn send_and_finish(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        claim: impl Future<Output = Result<(PathBuf, lease::Held), RunError>>,
    ) -> Result<(), RunError> {
        let (claimed, zip_ready) = tokio::sync::oneshot::channel::<PathBuf>();
        let sending = async {
            let import_id = spans::in_stage(self.obs, &self.tenant, "submit", async {
                let (zip, held) = claim.await?;
                let _ = claimed.send(zip.clone());
                let posting = Box::pin(self.post(rec, req, &zip, &held));
                lease::keep_alive(self.ledger, &held, self.submit_lease, posting).await?
            })
            .await?;
            // Refused by Canvas: the batch is recorded rejected, there is nothing to wait for.
            let Some(import_id) = import_id else {
                return Ok(None);
            };
            let waiting = Box::pin(self.await_end(rec, req, import_id));
            let ended = spans::in_stage(self.obs, &self.tenant, "wait", waiting).await?;
            Ok::<_, RunError>(Some((import_id, ended)))
        };
        // Nothing to archive when the batch was never claimed (the send failed before).
        let archiving = async {
            match zip_ready.await {
                Ok(zip) => Box::pin(self.archive_zip(rec, &zip)).await,
                Err(_) => Ok(()),
            }
        };
        let (ended, archived) = tokio::join!(Box::pin(sending), archiving);
        let Some((import_id, ended)) = ended? else {
            return Ok(());
        };
        spans::in_stage(
            self.obs,
            &self.tenant,
            "record",
            Box::pin(self.record_end(rec, import_id, &ended, archived)),
        )
        .await
    }

    /// The POST; records `submitted` with the import id, which it returns. What tells the
    /// import it makes from anyone else's is recorded in the lease before it leaves, and only
    /// while this worker still holds the lease. When Canvas refuses the POST itself (no import
    /// exists), the batch is recorded rejected with Canvas's answer, the tenant halts unless its
    /// policy continues, and `None` is returned.
    async fn post(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        zip: &Path,
        held: &lease::Held,
    ) -> Result<Option<u64>, RunError> {
        self.obs.stage(ObsStage::Upload);
        let mut one = req.clone();
        one.path = zip.to_owned();
        let canvas = |o: Outcome| RunError::stage(&rec.id, o);
        let files =
            submit::posted_files(zip).map_err(|reason| RunError::gave_up(&rec.id, reason))?;
        let known = self.known_imports().await?;
        let fresh = submit::evidence_before_post(
            self.client,
            &req.account,
            &known,
            files,
            self.ledger.clock(),
        )
        .await
        .map_err(canvas)?;
        let evidence = lease::record_post(self.ledger, held, &fresh).await?;
        match submit::submit(
            self.client,
            &one,
            zip,
            self.obs,
            &evidence,
            self.ledger.clock(),
        )
        .await
        {
            Ok(import) => {
                self.record_submitted(rec, &import).await?;
                Ok(Some(import.id))
            }
            Err(Outcome::Rejected { reason, .. }) => {
                self.reject(rec, reason, None).await?;
                Ok(None)
            }
            Err(outcome) => Err(canvas(outcome)),
        }
    }

    async fn record_submitted(
        &self,
        rec: &BatchRecord,
        import: &SisImport,
    ) -> Result<(), RunError> {
        self.ledger
            .transition(
                &rec.id,
                Stage::Submitted {
                    import_id: import.id,
                },
                &format!("Canvas SIS import {}", import.id),
            )
            .await?;
        Ok(())
    }

    /// Whether the account is ready for the batch, as the request's [`Preflight`] asks: for the
    /// unattended modes, no import of the account ahead of it ([`Self::account_idle`]); for a
    /// one-shot run, Canvas's guide in full (`preflight.rs`) and, unless forced or in a dry run
    /// (which sends nothing), no recent import of `zip`'s files by this token's user.
    async fn account_ready(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        zip: &Path,
    ) -> Result<(), RunError> {
        let Preflight::OneShot(rerun) = req.preflight else {
            return self.account_idle(rec, req).await;
        };
        self.obs.stage(ObsStage::Preflight);
        let checked = async {
            super::preflight::check(self.client, req, self.obs).await?;
            if rerun == Rerun::Refuse && !req.dry_run {
                let now = self.ledger.now();
                super::preflight::refuse_a_rerun(self.client, req, zip, now).await?;
            }
            Ok(())
        };
        checked.await.map_err(|o| RunError::stage(&rec.id, o))
    }

    /// Canvas's guide: do not queue a batch behind an import of the account that is still running
    /// or queued (someone else's, or a manual one). The batch stays packed and the stream waits;
    /// the next run checks again.
    async fn account_idle(&self, rec: &BatchRecord, req: &ImportRequest) -> Result<(), RunError> {
        let ahead = super::preflight::busy(self.client, req)
            .await
            .map_err(|o| RunError::stage(&rec.id, o))?;
        match ahead.first() {
            None => Ok(()),
            Some(i) => Err(RunError::gave_up(
                &rec.id,
                format!(
                    "SIS import {} of the account is still {}; this batch waits for it",
                    i.id,
                    i.workflow_state.as_str()
                ),
            )),
        }
    }

    /// Whether another worker may still be sending this batch's POST: its lease was renewed
    /// less than a lease period ago.
    fn may_be_in_flight(&self, rec: &BatchRecord) -> bool {
        lease::may_be_live(rec, self.submit_lease, self.ledger.now())
    }

    /// The Canvas imports the tenant's other batches are known to have made: never this one's.
    async fn known_imports(&self) -> Result<std::collections::HashSet<u64>, RunError> {
        Ok(self
            .ledger
            .list_batches(&self.tenant)
            .await?
            .into_iter()
            .filter_map(|b| b.canvas_import_id)
            .collect())
    }

    /// After a crash in `submitting` (its lease expired): take the batch over (compare-and-swap;
    /// the loser is Busy), then look in Canvas before ever sending again. A lease that records
    /// no POST proves none left: the upload goes. Otherwise the one import that is ours
    /// ([`submit::find_ours`]) is adopted; none means none was made and the upload goes; an
    /// ambiguous answer ends the batch `unresolved` for an operator, with nothing sent.
    async fn resolve_submitting(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
    ) -> Result<(), RunError> {
        let (held, taken) = lease::take_over(self.ledger, rec, self.submit_lease).await?;
        let found = match self.evidence_of_lost_post(rec, &taken, req).await? {
            None => {
                self.obs.note(&format!(
                    "batch {}: its POST never left before the interruption; uploading",
                    rec.id
                ));
                submit::Found::None
            }
            Some(evidence) => {
                let looking = spans::in_stage(self.obs, &self.tenant, "submit", async {
                    let clock = self.ledger.clock();
                    submit::find_ours(self.client, &req.account, &evidence, &req.wait, clock)
                        .await
                        .map_err(|o| RunError::stage(&rec.id, o))
                });
                lease::keep_alive(self.ledger, &held, self.submit_lease, looking).await??
            }
        };
        match found {
            submit::Found::Ours(import) => {
                self.obs.note(&format!(
                    "batch {}: found SIS import {} created before the interruption; waiting on it",
                    rec.id, import.id
                ));
                self.record_submitted(rec, &import).await
            }
            submit::Found::None => {
                // Sending again is a new send: a closed gate or a blackout holds it back.
                if let Some(reason) = self.gate_closed().await?.or_else(|| self.blackout()) {
                    self.obs.note(&format!(
                        "batch {}: no import was created before the interruption; not sending now ({reason})",
                        rec.id
                    ));
                    lease::park_held(self.ledger, &held, &reason).await?;
                    return Ok(());
                }
                // Its zip was never archived and cannot be packed again (its files are gone or
                // changed since): no POST of it can ever leave, and none made an import. It
                // ends rejected, for an operator, rather than left `submitting` for every taker.
                if let Err(e) = self.zip_to_send_again(rec, req) {
                    let reason = format!(
                        "no import was created before the interruption, and the batch cannot be \
                         sent again: {}; nothing was sent. Upload the batch again if it is still wanted",
                        e.cause().map_or_else(|| e.to_string(), |c| c.reason())
                    );
                    return self.reject(rec, reason, None).await;
                }
                self.obs.note(&format!(
                    "batch {}: no import was created before the interruption; uploading",
                    rec.id
                ));
                let claim = async { Ok::<_, RunError>((self.zip_on_disk(rec, req).await?, held)) };
                self.send_and_finish(rec, req, claim).await
            }
            submit::Found::Ambiguous { reason } => self.unresolved(&taken, req, reason).await,
        }
    }

    /// What identifies the import the lost POST may have made, or `None` when the lease proves
    /// that no POST left. `seen` is the record before the takeover, `taken` after it (its lease
    /// says by when every earlier holder's request had ended: `posts_ended_by`).
    async fn evidence_of_lost_post(
        &self,
        seen: &BatchRecord,
        taken: &BatchRecord,
        req: &ImportRequest,
    ) -> Result<Option<submit::Evidence>, RunError> {
        let Some(l) = taken.submit_lease.as_ref() else {
            return Ok(None);
        };
        let Some(post_started_at) = l.post_started_at else {
            return Ok(None);
        };
        let canvas = |o: Outcome| RunError::stage(&seen.id, o);
        let user_id = match l.user_id {
            Some(u) => u,
            None => submit::own_user_id(self.client).await.map_err(canvas)?,
        };
        // A record from before leases has no files: they are read from the zip, if it can still
        // be had; if not (the input changed), imports are told apart without them.
        let files = if l.files.is_empty() {
            let zip = self.zip_on_disk(seen, req).await;
            zip.ok()
                .and_then(|z| submit::posted_files(&z).ok())
                .unwrap_or_default()
        } else {
            l.files.clone()
        };
        let mut not_ours = self.known_imports().await?;
        not_ours.extend(l.pre_post_ids.iter().copied());
        // The takeover set it: when the last holder that may have posted lost its lease (a
        // holder that only looked, as this one may yet, moves nothing).
        let post_ended_by = l.posts_ended_by;
        Ok(Some(submit::Evidence {
            user_id,
            not_ours,
            post_started_at,
            post_ended_by,
            files,
        }))
    }

    /// Ends a batch whose import Canvas cannot tell apart (several candidates, or one that
    /// cannot be compared): `unresolved`, nothing sent, the zip archived, and the tenant halted
    /// (unless its policy continues) with what the operator must check.
    async fn unresolved(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        reason: String,
    ) -> Result<(), RunError> {
        let archived = self.archive_owed_zip(rec, req).await;
        let advice = format!(
            "batch {} not sent again: {reason}. Check those imports in Canvas (`canvas-sis status`): \
             if one is this batch's, nothing more is needed; if none is, drop the batch's files \
             again. Then `canvas-sis resume` the tenant",
            rec.id
        );
        self.obs.note(&advice);
        let record = self
            .ledger
            .update_batch(&rec.id, |r| {
                r.errors.push(advice.clone());
                if let Some(cause) = archived.as_ref().err().and_then(RunError::cause) {
                    let reason = cause.reason();
                    r.errors
                        .push(format!("the batch's zip is not archived: {reason}"));
                }
                r.apply_transition(
                    Stage::Terminal {
                        state: "unresolved".into(),
                        ok: false,
                    },
                    "the lost POST's import cannot be told apart",
                    self.ledger.now(),
                )
            })
            .await?;
        self.obs
            .batch_event(&self.tenant, BatchEvent::Finished(&record));
        self.after_failure(&rec.id, &advice).await
    }

    /// Waits for Canvas's end (and meanwhile archives the zip if that is still owed), records
    /// it, and updates the tenant.
    async fn finish(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        import_id: u64,
    ) -> Result<(), RunError> {
        let (ended, archived) = tokio::join!(
            spans::in_stage(
                self.obs,
                &self.tenant,
                "wait",
                Box::pin(self.await_end(rec, req, import_id))
            ),
            Box::pin(self.archive_owed_zip(rec, req))
        );
        let ended = ended?;
        spans::in_stage(
            self.obs,
            &self.tenant,
            "record",
            Box::pin(self.record_end(rec, import_id, &ended, archived)),
        )
        .await
    }

    /// Waits until Canvas ends the import, and fetches its errors file — or until the run is
    /// asked to stop: waiting is only reading, and the next run waits on the recorded import.
    async fn await_end(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        import_id: u64,
    ) -> Result<Box<super::Finished>, RunError> {
        // Biased: an import that ended is recorded even if the stop came at the same moment.
        tokio::select! {
            biased;
            r = self.await_canvas_end(rec, req, import_id) => r,
            _ = self.stop.cancelled() => Err(RunError::Stopped(rec.id.clone())),
        }
    }

    async fn await_canvas_end(
        &self,
        rec: &BatchRecord,
        req: &ImportRequest,
        import_id: u64,
    ) -> Result<Box<super::Finished>, RunError> {
        self.obs.stage(ObsStage::Wait);
        let current = self
            .client
            .get_sis_import(&req.account, import_id)
            .await
            .map_err(|e| RunError::stage(&rec.id, super::canvas_outcome(e, Some(import_id))))?;
        let done = wait::until_terminal(self.client, req, current, self.obs)
            .await
            .map_err(|o| RunError::stage(&rec.id, o))?;
        self.obs.stage(ObsStage::Report);
        match super::report::finish(self.client, req, done, self.obs).await {
            Outcome::Imported(f) | Outcome::CanvasFailed(f) => Ok(f),
            outcome => Err(RunError::stage(&rec.id, outcome)),
        }
    }

    /// Records Canvas's end `f` of the batch's import, with its JSON and errors file archived,
    /// once the zip's archive is done (`archived`). A zip that can no longer be packed (the
    /// input changed after the POST) does not hold the end back: the record says so. A ledger
    /// failure does: the end is recorded on the next run.
    async fn record_end(
        &self,
        rec: &BatchRecord,
        import_id: u64,
        f: &super::Finished,
        archived: Result<(), RunError>,
    ) -> Result<(), RunError> {
        let unarchived = match archived {
            Ok(()) => None,
            Err(RunError::Stage { cause, .. }) => Some(format!(
                "the batch's zip is not archived: {}",
                cause.reason()
            )),
            Err(e) => return Err(e),
        };
        let json = serde_json::to_vec_pretty(&f.import).unwrap_or_default();
        let json_key = self
            .ledger
            .put_archive(&rec.id, "canvas.json", &json)
            .await?;
        let errors_key = match &f.errors_file {
            Some(p) => match std::fs::read(p) {
                Ok(b) => Some(self.ledger.put_archive(&rec.id, "errors.csv", &b).await?),
                Err(_) => None,
            },
            None => None,
        };
        self.obs.canvas_import(&self.tenant, &f.import);
        let ok = f.import.workflow_state.is_success();
        let state = f.import.workflow_state.as_str().to_owned();
        let value = serde_json::to_value(&f.import).ok();
        // Two workers may wait on the same import: the second's terminal -> terminal is refused
        // here, and `run_stages` looks at the batch again and finds it ended.
        let record = self
            .ledger
            .update_batch(&rec.id, |r| {
                r.canvas_json = value.clone();
                r.archive.canvas_json = Some(json_key.clone());
                r.archive.errors_file = errors_key.clone();
                r.warnings = f
                    .import
                    .processing_warnings
                    .iter()
                    .map(|(file, m)| format!("{}: {m}", file.as_deref().unwrap_or("-")))
                    .collect();
                r.errors.extend(
                    f.import
                        .processing_errors
                        .iter()
                        .map(|(file, m)| format!("{}: {m}", file.as_deref().unwrap_or("-"))),
                );
                r.errors.extend(unarchived.clone());
                r.apply_transition(
                    Stage::Terminal {
                        state: state.clone(),
                        ok,
                    },
                    &format!("Canvas ended it {state}"),
                    self.ledger.now(),
                )
            })
            .await?;
        self.obs
            .batch_event(&self.tenant, BatchEvent::Finished(&record));
        if ok {
            self.accept(&record).await?;
            Ok(())
        } else {
            self.after_failure(
                &rec.id,
                &format!("Canvas ended SIS import {import_id} {state}"),
            )
            .await
        }
    }

    /// A successful batch becomes the guard's reference for the next one.
    async fn accept(&self, rec: &BatchRecord) -> Result<(), LedgerError> {
        let per_kind = rec.counts.0.clone();
        let accepted = AcceptedStats {
            batch: rec.id.clone(),
            at: self.ledger.now(),
            per_kind,
        };
        self.ledger
            .update_tenant(&self.tenant, |t| {
                t.last_accepted = Some(accepted.clone());
                Ok::<(), LedgerError>(())
            })
            .await?;
        Ok(())
    }

    /// After a failed, aborted or rejected batch (its failure recorded): the tenant halts, even
    /// under a pause, unless its policy continues (then the failure is acknowledged at once).
    /// The halt itself is the batch's recorded failure; this records its copy on the tenant
    /// (`gate` module docs), so a crash before it loses nothing.
    async fn after_failure(&self, batch: &BatchId, reason: &str) -> Result<(), RunError> {
        use super::gate;
        self.ensure_failure_recorded(batch, reason).await?;
        if self.on_failure == OnFailure::Continue {
            gate::acknowledge_batch(self.ledger, batch, gate::POLICY_CONTINUES).await?;
            return Ok(());
        }
        self.obs
            .note(&format!("tenant {} halted: {reason}", self.tenant));
        if gate::record_halt(self.ledger, &self.tenant, batch, reason).await? {
            self.obs
                .batch_event(&self.tenant, BatchEvent::Halted { batch, reason });
        }
        Ok(())
    }

    /// A batch made terminal without going through `apply_transition` lacks its failure record;
    /// it gets one here, so the halt is derived from it like any other.
    async fn ensure_failure_recorded(&self, batch: &BatchId, reason: &str) -> Result<(), RunError> {
        let missing = self.ledger.get_batch(batch).await?.is_some_and(|r| {
            matches!(r.stage, Stage::Terminal { ok: false, .. }) && r.failure.is_none()
        });
        if missing {
            self.ledger
                .update_batch(batch, |r| {
                    r.failure.get_or_insert_with(|| crate::ledger::Failure {
                        at: self.ledger.now(),
                        reason: reason.to_owned(),
                        acknowledged: None,
                        extra: Default::default(),
                    });
                    Ok::<(), LedgerError>(())
                })
                .await?;
        }
        Ok(())
    }

    /// At the start of a run of the tenant, with its batches listed: the halt of a failure whose
    /// worker stopped before recording it is recorded now (and told), before any batch goes on.
    pub(super) async fn recover_halt(&self, batches: &[BatchRecord]) -> Result<(), RunError> {
        let Some(halt) =
            super::gate::record_missing_halt(self.ledger, &self.tenant, batches, self.on_failure)
                .await?
        else {
            return Ok(());
        };
        self.obs.note(&format!(
            "tenant {} halted: batch {} failed and its halt was not recorded (the worker stopped in between): {}",
            self.tenant, halt.batch, halt.reason
        ));
        self.obs.batch_event(
            &self.tenant,
            BatchEvent::Halted {
                batch: &halt.batch,
                reason: &halt.reason,
            },
        );
        Ok(())
    }
}

/// Reports the uncompressed bytes of a packed zip per data type.
fn packed_bytes(
    obs: &dyn Observer,
    kinds: &std::collections::BTreeMap<String, canvas_sis_rules::sis::SisKind>,
    summary: &crate::pack::PackSummary,
) {
    for e in &summary.entries {
        let kind = kinds.get(&e.name).map_or("other", |k| k.counts_key());
        obs.packed(kind, 0, e.uncompressed);
    }
}

/// Whether the batch's zip was packed by the staged pipeline but is not archived yet: a run
/// that resumes it needs its input to pack the zip again (the queue worker fetches it).
pub fn zip_archive_owed(rec: &BatchRecord) -> bool {
    rec.archive.zip.is_none() && rec.packed_zip.is_some() && !rec.stage.is_terminal()
}

/// The sha256 of the zip packed during validation, if it is still on disk with its size.
fn prepacked_zip(rec: &BatchRecord, zip: &Path) -> Option<String> {
    let p = rec.prepacked.as_ref()?;
    let size = std::fs::metadata(zip).ok()?.len();
    (p.bytes == size).then(|| p.sha256.clone())
}

/// The guard's view of a recorded batch: its rows and deleting rows per kind.
fn stats_of_record(rec: &BatchRecord) -> BatchStats {
    BatchStats(rec.counts.0.clone())
}

fn stats_of_accepted(a: &AcceptedStats) -> BatchStats {
    BatchStats(a.per_kind.clone())
}
