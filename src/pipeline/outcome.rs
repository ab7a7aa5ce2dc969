//! How a run of the pipeline ended (or why a stage stopped it): what a one-shot import reports,
//! and what the staged run's [`super::staged::RunError::Stage`] carries. The CLI maps each
//! ending to its exit code in one place (`src/cmd/exit.rs`).

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
