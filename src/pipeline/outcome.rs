//! How a one-shot import ended, and the exit code each ending maps to.
//!
//! Exit codes (documented in the README and `--help`): 0 imported (with or without messages);
//! 1 Canvas failed or aborted it; 2 usage or configuration error (including a bad token or a
//! missing permission); 3 rejected (before upload, or Canvas refused the upload itself: no import
//! was created); 4 refused because an earlier import failed; 5 gave up (deadline passed or Canvas
//! unreachable); 6 refused because this token's user imported the same files recently (a re-run;
//! `--force` sends them again).

use crate::canvas::SisImport;
use crate::sis::validate::ValidationReport;

/// The end of one run of the pipeline.
#[derive(Debug)]
pub enum Outcome {
    /// Canvas ended the import `imported` or `imported_with_messages`.
    Imported(Box<Finished>),
    /// Canvas ended it `failed`, `failed_with_messages` or `aborted`.
    CanvasFailed(Box<Finished>),
    /// Our own checks refused the batch before anything was sent, or Canvas refused its upload
    /// outright (no import was created).
    Rejected {
        reason: String,
        report: Option<Box<ValidationReport>>,
    },
    /// The previous import of the account did not succeed, and `--after-failure` was not given.
    RefusedAfterFailure { previous: Box<SisImport> },
    /// `--dry-run`: everything up to the upload succeeded.
    DryRun { zip_bytes: u64, zip_sha256: String },
    /// Waited past a deadline, or Canvas stayed unreachable; the import (if any) is left as is.
    GaveUp {
        reason: String,
        import_id: Option<u64>,
    },
    /// A configuration problem Canvas reported: bad token, missing permission, unknown account.
    Config { reason: String },
    /// This token's user imported the same CSVs recently (`import`): a re-run, not sent again
    /// unless forced.
    AlreadyImported { import: Box<SisImport> },
}

/// A finished Canvas import and where its errors file was saved.
#[derive(Debug)]
pub struct Finished {
    pub import: SisImport,
    pub errors_file: Option<std::path::PathBuf>,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Imported(_) | Outcome::DryRun { .. } => 0,
            Outcome::CanvasFailed(_) => 1,
            Outcome::Config { .. } => 2,
            Outcome::Rejected { .. } => 3,
            Outcome::RefusedAfterFailure { .. } => 4,
            Outcome::GaveUp { .. } => 5,
            Outcome::AlreadyImported { .. } => 6,
        }
    }

    /// What the end says in a sentence, for logs and a batch's error.
    pub fn reason(&self) -> String {
        match self {
            Outcome::GaveUp { reason, .. }
            | Outcome::Config { reason }
            | Outcome::Rejected { reason, .. } => reason.clone(),
            Outcome::RefusedAfterFailure { previous } => {
                format!("the previous import {} did not succeed", previous.id)
            }
            Outcome::DryRun { .. } => "dry run".into(),
            Outcome::AlreadyImported { import } => {
                format!("SIS import {} already holds these files", import.id)
            }
            Outcome::Imported(f) | Outcome::CanvasFailed(f) => format!(
                "import {} ended {}",
                f.import.id,
                f.import.workflow_state.as_str()
            ),
        }
    }
}
