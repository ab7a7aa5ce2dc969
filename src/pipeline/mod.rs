//! The one pipeline: a batch goes collect → validate → pack → check Canvas → upload → wait →
//! report, one step function per stage, ending in one [`Outcome`].
//!
//! [`import`] is the one-shot form (`canvas-sis import`): it does what Canvas's own guide asks of
//! an import script (docs/design.md) — wait for a running or queued import of the account, refuse
//! to run after a failed one unless told, check the upload, handle every terminal state and a
//! deadline, report stuck imports — and never sends a batch twice: after a POST whose outcome is
//! unknown it looks for the import in Canvas before sending again, and a re-run of files this
//! token's user imported recently is refused ([`Rerun`]). Its upload, wait and record go
//! through [`staged`], the ledger-backed run that the unattended triggers use (here on an
//! in-memory ledger); [`tenant`] orders a tenant's batches; [`operator`] is what an admin does.

pub mod collect;
pub mod gate;
pub mod lease;
pub mod observer;
pub mod operator;
pub mod outcome;
pub mod preflight;
pub mod report;
pub mod spans;
pub mod staged;
pub mod submit;
pub mod tenant;
pub mod wait;

use std::path::PathBuf;
use std::time::Duration;

use crate::canvas::{AccountRef, CanvasClient, CanvasError, ErrorClass, ImportOptions};
use crate::pack::{PackEntry, PackOptions, PackSummary, ZipLimits, pack_to_file};
use crate::sis::validate::{ValidateOptions, ValidationReport, validate_batch};
use collect::Collected;
pub use observer::{BatchEvent, LogObserver, Observer, Stage, Tee};
pub use outcome::{Finished, Outcome};

/// How long to wait for what, in a one-shot import.
#[derive(Debug, Clone)]
pub struct WaitPolicy {
    /// Longest wait for an earlier import of the account to end before uploading.
    pub busy_max: Duration,
    /// Longest wait for our import to end after the upload.
    pub deadline: Duration,
    /// Polling starts at `poll_min` and backs off to `poll_max`.
    pub poll_min: Duration,
    pub poll_max: Duration,
    /// An import still `created`/`initializing` after this is reported as stuck.
    pub stuck_after: Duration,
    /// How long to wait for a lagging `errors_attachment` after the end.
    pub errors_file_wait: Duration,
    /// An end no wait on Canvas goes past, whatever `deadline` says (a Lambda invocation's
    /// deadline less its margin). `None`: only `deadline` counts.
    pub until: Option<std::time::Instant>,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            busy_max: Duration::from_secs(30 * 60),
            deadline: Duration::from_secs(6 * 3600),
            poll_min: Duration::from_secs(2),
            poll_max: Duration::from_secs(30),
            stuck_after: Duration::from_secs(10 * 60),
            errors_file_wait: Duration::from_secs(60),
            until: None,
        }
    }
}

/// Everything a one-shot import needs besides the Canvas client.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// A folder of CSVs, a `.zip` or a `.csv`.
    pub path: PathBuf,
    pub account: AccountRef,
    pub options: ImportOptions,
    /// Go ahead even if the previous import of the account failed or was aborted.
    pub after_failure: bool,
    /// Stop before the upload.
    pub dry_run: bool,
    pub wait: WaitPolicy,
    /// Where the built zip and the errors file are written.
    pub work_dir: PathBuf,
    pub validate: ValidateOptions,
    pub pack: PackOptions,
    pub limits: ZipLimits,
}

/// Whether a one-shot run may send files this token's user imported a moment ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// Refuse ([`Outcome::AlreadyImported`]) when the account's recent imports hold one by this
    /// user with the same CSVs (names and sizes): the re-run of a run whose end was lost.
    Refuse,
    /// Send anyway (`--force`).
    Force,
}

/// How far back a one-shot run looks for its own earlier import of the same files: long enough
/// for a re-run after a crash, short of a daily feed that sends an unchanged snapshot again.
pub const RERUN_LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// Runs one batch through every stage.
pub async fn import(
    client: &CanvasClient,
    req: &ImportRequest,
    obs: &dyn Observer,
    rerun: Rerun,
) -> Outcome {
    let result = run(client, req, obs, rerun).await;
    obs.finish();
    match result {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

async fn run(
    client: &CanvasClient,
    req: &ImportRequest,
    obs: &dyn Observer,
    rerun: Rerun,
) -> Result<Outcome, Outcome> {
    req.options.validate().map_err(|e| Outcome::Config {
        reason: e.to_string(),
    })?;
    obs.stage(Stage::Collect);
    let collected =
        collect::collect(&req.path, &req.limits).map_err(|e| rejected(e.to_string()))?;
    for s in collected.skipped() {
        obs.note(&format!("skipped {s}"));
    }
    obs.stage(Stage::Validate);
    let report = validate(&collected, &req.validate);
    if report.is_rejected() {
        let reason = format!(
            "{} error(s) in the batch; nothing was sent to Canvas",
            report.error_count()
        );
        return Err(Outcome::Rejected {
            reason,
            report: Some(Box::new(report)),
        });
    }
    obs.stage(Stage::Pack);
    let zip_path = req.work_dir.join("canvas-sis-batch.zip");
    let packed = pack(&collected, &kinds_of(&report), &zip_path, &req.pack).map_err(rejected)?;
    obs.note(&format!(
        "packed {} file(s) into {} bytes (sha256 {})",
        packed.entries.len(),
        packed.bytes,
        packed.sha256
    ));
    obs.stage(Stage::Preflight);
    preflight::check(client, req, obs).await?;
    if req.dry_run {
        return Ok(Outcome::DryRun {
            zip_bytes: packed.bytes,
            zip_sha256: packed.sha256,
        });
    }
    if rerun == Rerun::Refuse {
        refuse_a_rerun(client, req, &zip_path).await?;
    }
    submit_recorded(client, req, obs, &zip_path, &packed.sha256).await
}

/// A one-shot run has no ledger to remember what it sent: Canvas's recent imports are its
/// history. An import of the same CSVs by this token's user (after the preflight, so any of
/// ours still running has ended and has its files) means a re-run; it is refused.
async fn refuse_a_rerun(
    client: &CanvasClient,
    req: &ImportRequest,
    zip: &std::path::Path,
) -> Result<(), Outcome> {
    let files = submit::posted_files(zip).map_err(rejected)?;
    let since = chrono::Utc::now() - RERUN_LOOKBACK;
    match submit::already_imported(client, &req.account, &files, since).await? {
        Some(done) => Err(Outcome::AlreadyImported {
            import: Box::new(done),
        }),
        None => Ok(()),
    }
}

/// The upload, wait and record of a one-shot run go through the same ledger-backed stages as
/// the unattended modes, on an in-memory ledger (a one-shot run has no history to keep): the
/// batch is recorded as validated and packed, then `Staged::run_batch` records `submitting`
/// before the POST, adopts the import of a lost answer, waits and records the end.
async fn submit_recorded(
    client: &CanvasClient,
    req: &ImportRequest,
    obs: &dyn Observer,
    zip: &std::path::Path,
    zip_sha256: &str,
) -> Result<Outcome, Outcome> {
    use crate::ledger::{BatchSource, Ledger, MemoryStore, NewBatch, Stage as LedgerStage};
    use staged::{Progress, RunError, Staged};

    let gave_up = |reason: String| Outcome::GaveUp {
        reason,
        import_id: None,
    };
    let ledger = Ledger::new(MemoryStore::new());
    let new = NewBatch {
        tenant: "one-shot".into(),
        source: BatchSource {
            kind: "path".into(),
            location: req.path.display().to_string(),
            files: vec![],
            ..Default::default()
        },
        content_sha256: zip_sha256.to_owned(),
    };
    let record = |e: crate::ledger::LedgerError| gave_up(format!("recording the batch: {e}"));
    let rec = ledger
        .create_batch(new)
        .await
        .map_err(record)?
        .record()
        .clone();
    let staged = Staged {
        ledger: &ledger,
        client,
        tenant: rec.tenant.clone(),
        request: req.clone(),
        on_failure: staged::OnFailure::Halt,
        // One batch, no history: the guard needs a previous accepted batch (use `watch`).
        guard: crate::sis::guard::Thresholds {
            enabled: false,
            ..Default::default()
        },
        submit_lease: std::time::Duration::ZERO,
        import_defaults: None,
        obs,
        blackouts: Vec::new(),
        stop: Default::default(),
    };
    std::fs::rename(zip, staged.zip_path(&rec, req))
        .map_err(|e| gave_up(format!("moving the zip {}: {e}", zip.display())))?;
    for stage in [LedgerStage::Validated, LedgerStage::Packed] {
        ledger
            .transition(&rec.id, stage, "one-shot")
            .await
            .map_err(record)?;
    }
    let result = staged.run_batch(&rec.id, &req.path).await;
    let import_id = ledger
        .get_batch(&rec.id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.canvas_import_id);
    match result {
        Ok(Progress::Finished(done)) => Ok(finished_outcome(*done, req)),
        Ok(Progress::Blocked(b)) => Err(gave_up(format!("the batch stopped at {}", b.stage))),
        Err(RunError::Canvas {
            reason, exit_code, ..
        }) => Err(match exit_code {
            2 => Outcome::Config { reason },
            3 => rejected(reason),
            _ => Outcome::GaveUp { reason, import_id },
        }),
        Err(e) => Err(Outcome::GaveUp {
            reason: e.to_string(),
            import_id,
        }),
    }
}

/// The Canvas end recorded for the batch, as the one-shot reports it.
fn finished_outcome(rec: crate::ledger::BatchRecord, req: &ImportRequest) -> Outcome {
    // Canvas refused the POST itself (e.g. an unknown batch-mode term): nothing was imported.
    if matches!(&rec.stage, crate::ledger::Stage::Terminal { state, .. } if state == "rejected") {
        let reason = rec.errors.first().cloned();
        return rejected(reason.unwrap_or_else(|| "Canvas refused the import".into()));
    }
    let import = rec
        .canvas_json
        .and_then(|j| serde_json::from_value::<crate::canvas::SisImport>(j).ok());
    let Some(import) = import else {
        return Outcome::GaveUp {
            reason: format!("batch ended {} without Canvas's answer", rec.stage),
            import_id: rec.canvas_import_id,
        };
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

fn rejected(reason: String) -> Outcome {
    Outcome::Rejected {
        reason,
        report: None,
    }
}

/// Runs blocking work (file reading, compression) without stalling other tasks: on a
/// multi-threaded runtime the worker hands its other tasks away first; elsewhere (a
/// current-thread runtime, or no runtime) it simply runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Validation streams every file once.
pub fn validate(collected: &Collected, opts: &ValidateOptions) -> ValidationReport {
    let files = collected.files();
    blocking(|| validate_batch(&files, opts))
}

/// The kind validation detected for each file, by file name (what packing orders by).
pub fn kinds_of(
    report: &ValidationReport,
) -> std::collections::BTreeMap<String, crate::sis::SisKind> {
    report
        .files
        .iter()
        .filter_map(|r| r.kind.map(|k| (r.name.clone(), k)))
        .collect()
}

/// Packs the batch in Canvas order, each file with the kind validation detected (`kinds`, from
/// [`kinds_of`]; files without one go last).
pub fn pack(
    collected: &Collected,
    kinds: &std::collections::BTreeMap<String, crate::sis::SisKind>,
    out: &std::path::Path,
    opts: &PackOptions,
) -> Result<PackSummary, String> {
    let files = collected.files();
    let entries = pack_entries(&files, kinds);
    blocking(|| pack_to_file(&entries, out, opts).map_err(|e| e.to_string()))
}

/// The zip entries of `files`, each with its kind (files without one go last).
fn pack_entries<'a>(
    files: &[&'a dyn crate::store::BatchFile],
    kinds: &std::collections::BTreeMap<String, crate::sis::SisKind>,
) -> Vec<PackEntry<'a>> {
    files
        .iter()
        .map(|f| PackEntry {
            name: f.name().to_owned(),
            kind: kinds.get(f.name()).copied(),
            file: *f,
        })
        .collect()
}

/// A zip packed during validation, with the kinds it was packed with.
pub type Prepacked = (
    std::collections::BTreeMap<String, crate::sis::SisKind>,
    PackSummary,
);

/// Validates the batch and, at the same time on the other cores, packs it with the kinds its
/// headers show ([`crate::sis::validate::sniff_kinds`]). The zip is only worth keeping when
/// validation passes and detected the same kinds: the caller compares the returned kinds with
/// [`kinds_of`] the report, and deletes `out` otherwise. A failed pack is `None`.
pub fn validate_and_prepack(
    collected: &Collected,
    validate_opts: &ValidateOptions,
    out: &std::path::Path,
    pack_opts: &PackOptions,
) -> (ValidationReport, Option<Prepacked>) {
    let files = collected.files();
    let guess = crate::sis::validate::sniff_kinds(&files, validate_opts.institutional_tags);
    // Validation keeps one core busy: the packer gets the others (the zip's bytes do not depend
    // on its thread count), and one compression thread fewer is one chunk in flight fewer.
    let pack_opts = PackOptions {
        threads: pack_opts.threads.saturating_sub(1).max(1),
        ..pack_opts.clone()
    };
    blocking(|| {
        std::thread::scope(|s| {
            let packer =
                s.spawn(|| pack_to_file(&pack_entries(&files, &guess), out, &pack_opts).ok());
            let report = validate_batch(&files, validate_opts);
            let packed = packer.join().ok().flatten();
            (report, packed.map(|p| (guess.clone(), p)))
        })
    })
}

/// What a Canvas error means for a one-shot run that cannot go on.
pub fn canvas_outcome(e: &CanvasError, import_id: Option<u64>) -> Outcome {
    match e.class() {
        ErrorClass::Auth | ErrorClass::Permanent => Outcome::Config {
            reason: e.to_string(),
        },
        ErrorClass::Retryable | ErrorClass::Throttled | ErrorClass::Uncertain => Outcome::GaveUp {
            reason: format!("Canvas could not be reached reliably: {e}"),
            import_id,
        },
    }
}
