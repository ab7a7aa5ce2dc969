//! The one pipeline: a batch goes collect → validate → pack → check Canvas → upload → wait →
//! report, one step function per stage, ending in one [`Outcome`].
//!
//! Every entry point runs a batch through [`staged`], the ledger-backed run: folder, queue and
//! Lambda on their ledgers, and [`import`] — the one-shot form (`canvas-sis import`) — on an
//! in-memory ledger, with [`Preflight::OneShot`]: it does what Canvas's own guide asks of an
//! import script (docs/design.md) — wait for a running or queued import of the account, refuse to run
//! after a failed one unless told, check the upload, handle every terminal state and a deadline,
//! report stuck imports — and never sends a batch twice: after a POST whose outcome is unknown it
//! looks for the import in Canvas before sending again, and a re-run of files this token's user
//! imported recently is refused ([`Rerun`]). [`tenant`] orders a tenant's batches; [`operator`]
//! is what an admin does.

pub mod collect;
pub mod gate;
pub mod lease;
pub mod observer;
mod one_shot;
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

use crate::pack::{
    PackEntry, PackOptions, PackSummary, SharedCores, ZipLimits, pack_sharing_cores, pack_to_file,
};
use canvas_sis_client::{AccountRef, CanvasError, ImportOptions};
use canvas_sis_rules::sis::validate::{ValidateOptions, ValidationReport, validate_batch};
use collect::Collected;
pub use observer::{BatchEvent, LogObserver, Observer, Stage, Tee};
pub use one_shot::{import, import_on_clock};
pub use outcome::{Finished, Outcome};

/// How long to wait for what, in a run of a batch.
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
    pub until: Option<tokio::time::Instant>,
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

/// What a run of a batch needs besides Canvas (and the ledger): the one-shot's, or
/// a tenant's with each batch's input as `path`.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// A folder of CSVs, a `.zip` or a `.csv`.
    pub path: PathBuf,
    pub account: AccountRef,
    pub options: ImportOptions,
    /// Go ahead even if the previous import of the account failed or was aborted (checked by
    /// [`Preflight::OneShot`]).
    pub after_failure: bool,
    /// Stop before the upload, once the batch is packed and Canvas is checked.
    pub dry_run: bool,
    /// What is checked in Canvas before the upload.
    pub preflight: Preflight,
    pub wait: WaitPolicy,
    /// Where the built zip and the errors file are written.
    pub work_dir: PathBuf,
    pub validate: ValidateOptions,
    pub pack: PackOptions,
    pub limits: ZipLimits,
}

/// What a run checks in Canvas before it sends a batch (`preflight.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    /// The unattended modes: an import of the account still running or queued stops this run
    /// (the batch stays packed; the next run checks again), and the ledger knows what was sent.
    Unattended,
    /// A one-shot run: Canvas's guide in full (orphans reported, a running import waited for
    /// up to `busy_max`, a failed previous one refused unless `after_failure`), then a re-run
    /// refused or not.
    OneShot(Rerun),
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
) -> std::collections::BTreeMap<String, canvas_sis_rules::sis::SisKind> {
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
    kinds: &std::collections::BTreeMap<String, canvas_sis_rules::sis::SisKind>,
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
    kinds: &std::collections::BTreeMap<String, canvas_sis_rules::sis::SisKind>,
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
    std::collections::BTreeMap<String, canvas_sis_rules::sis::SisKind>,
    PackSummary,
);

/// Validates the batch and, at the same time on the other cores, packs it with the kinds its
/// headers show ([`canvas_sis_rules::sis::validate::sniff_kinds`]). The zip is only worth keeping when
/// validation passes and detected the same kinds: the caller compares the returned kinds with
/// [`kinds_of`] the report, and deletes `out` otherwise. A failed pack is `None`.
pub fn validate_and_prepack(
    collected: &Collected,
    validate_opts: &ValidateOptions,
    out: &std::path::Path,
    pack_opts: &PackOptions,
) -> (ValidationReport, Option<Prepacked>) {
    let files = collected.files();
    let guess =
        canvas_sis_rules::sis::validate::sniff_kinds(&files, validate_opts.institutional_tags);
    // Validation has a core of its own while it runs, then the packer has them all (why:
    // `pack::SharedCores`).
    let cores = SharedCores::default();
    let entries = pack_entries(&files, &guess);
    blocking(|| {
        std::thread::scope(|s| {
            let lent = cores.lend();
            let packer = s.spawn(|| pack_sharing_cores(&entries, out, pack_opts, &cores).ok());
            let report = validate_batch(&files, &spilling_beside(validate_opts, out));
            drop(lent);
            let packed = packer.join().ok().flatten();
            (report, packed.map(|p| (guess.clone(), p)))
        })
    })
}

/// `opts`, with validation's spill (ids past the memory budget) beside the zip being written
/// unless a folder is set: a disk the operator sized for batches, where the system's
/// temporary folder may be a small RAM-backed one in a container.
fn spilling_beside(opts: &ValidateOptions, zip: &std::path::Path) -> ValidateOptions {
    let mut opts = opts.clone();
    if opts.spill_dir.is_none() {
        opts.spill_dir = zip
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf);
    }
    opts
}

/// A Canvas error a stage cannot go past, kept whole: its class decides what it means
/// ([`Outcome::needs_operator`]); `import_id` is the import it was about, if any.
pub fn canvas_outcome(e: CanvasError, import_id: Option<u64>) -> Outcome {
    Outcome::Canvas {
        error: Box::new(e),
        import_id,
    }
}

#[cfg(test)]
mod spill_tests {
    use super::*;

    #[test]
    fn validation_spills_beside_the_zip_unless_told_where() {
        let opts = ValidateOptions::default();
        let beside = spilling_beside(&opts, std::path::Path::new("/work/slot-1/batch.zip"));
        assert_eq!(
            beside.spill_dir.as_deref(),
            Some(std::path::Path::new("/work/slot-1"))
        );
        let told = ValidateOptions {
            spill_dir: Some("/elsewhere".into()),
            ..ValidateOptions::default()
        };
        let kept = spilling_beside(&told, std::path::Path::new("/work/slot-1/batch.zip"));
        assert_eq!(
            kept.spill_dir.as_deref(),
            Some(std::path::Path::new("/elsewhere"))
        );
        // A bare file name: the system's temporary folder, not "".
        let bare = spilling_beside(&opts, std::path::Path::new("batch.zip"));
        assert_eq!(bare.spill_dir, None);
    }
}
