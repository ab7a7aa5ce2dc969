//! The one pipeline: a batch goes collect → validate → pack → check Canvas → upload → wait →
//! report, one step function per stage, ending in one [`Outcome`].
//!
//! This is the one-shot form (`canvas-sis import`): it does what Canvas's own guide asks of an
//! import script (design.md) — wait for a running or queued import of the account, refuse to run
//! after a failed one unless told, check the upload, handle every terminal state and a deadline,
//! report stuck imports — and never sends a batch twice: after a POST whose outcome is unknown it
//! looks for the import in Canvas before sending again. The durable ledger and the triggers that
//! call this unattended come later and reuse these stages.

pub mod collect;
pub mod observer;
pub mod operator;
pub mod outcome;
pub mod preflight;
pub mod report;
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
pub use observer::{LogObserver, Observer, Stage};
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

/// Runs one batch through every stage.
pub async fn import(client: &CanvasClient, req: &ImportRequest, obs: &dyn Observer) -> Outcome {
    let result = run(client, req, obs).await;
    obs.finish();
    match result {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

async fn run(
    client: &CanvasClient,
    req: &ImportRequest,
    obs: &dyn Observer,
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
    let packed = pack(&collected, &report, &zip_path, &req.pack).map_err(rejected)?;
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
    obs.stage(Stage::Upload);
    let created = submit::submit(client, req, &zip_path, obs, &Default::default()).await?;
    obs.stage(Stage::Wait);
    let done = wait::until_terminal(client, req, created, obs).await?;
    obs.stage(Stage::Report);
    Ok(report::finish(client, req, done, obs).await)
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

/// Packs the batch in Canvas order, each file with the kind validation detected.
pub fn pack(
    collected: &Collected,
    report: &ValidationReport,
    out: &std::path::Path,
    opts: &PackOptions,
) -> Result<PackSummary, String> {
    let files = collected.files();
    let entries: Vec<PackEntry<'_>> = files
        .iter()
        .map(|f| PackEntry {
            name: f.name().to_owned(),
            kind: report
                .files
                .iter()
                .find(|r| r.name == f.name())
                .and_then(|r| r.kind),
            file: *f,
        })
        .collect();
    blocking(|| pack_to_file(&entries, out, opts).map_err(|e| e.to_string()))
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
