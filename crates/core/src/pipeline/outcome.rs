//! How a run of the pipeline ended (or why a stage stopped it): what a one-shot import reports,
//! and what the staged run's [`super::staged::RunError::Stage`] carries. The CLI maps each
//! ending to its exit code in one place (`src/cmd/exit.rs`).

use canvas_sis_client::{CanvasError, ErrorClass, SisImport};
use canvas_sis_rules::sis::validate::ValidationReport;

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
    /// A configuration problem found before Canvas was asked (contradictory import options).
    Config { reason: String },
    /// Canvas answered with an error the run cannot go past. Its [`CanvasError::class`] decides
    /// what it means ([`Outcome::needs_operator`]): a bad token, a missing permission or an
    /// unknown account is for a person to fix; Canvas unreachable, still throttling or an unknown
    /// outcome may pass on a later run. `import_id`: the import it was about, if any.
    Canvas {
        error: Box<CanvasError>,
        import_id: Option<u64>,
    },
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
    /// Whether only a person can make the run pass: a configuration problem, or Canvas refused
    /// the token, its permissions or the request ([`ErrorClass::Auth`], [`ErrorClass::Permanent`]).
    pub fn needs_operator(&self) -> bool {
        match self {
            Outcome::Config { .. } => true,
            Outcome::Canvas { error, .. } => {
                matches!(error.class(), ErrorClass::Auth | ErrorClass::Permanent)
            }
            _ => false,
        }
    }

    /// The Canvas error the run stopped on, if it did.
    pub fn canvas_error(&self) -> Option<&CanvasError> {
        match self {
            Outcome::Canvas { error, .. } => Some(error),
            _ => None,
        }
    }

    /// What the end says in a sentence, for logs and a batch's error.
    pub fn reason(&self) -> String {
        match self {
            Outcome::GaveUp { reason, .. }
            | Outcome::Config { reason }
            | Outcome::Rejected { reason, .. } => reason.clone(),
            Outcome::Canvas { error, .. } if self.needs_operator() => error.to_string(),
            Outcome::Canvas { error, .. } => {
                format!("Canvas could not be reached reliably: {error}")
            }
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
