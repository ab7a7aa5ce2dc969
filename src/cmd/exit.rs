//! Every exit code of `canvas-sis`, in one place, and how a one-shot import's [`Outcome`] and a
//! Canvas error map to them (documented in the README and `--help`):
//!
//! - 0: imported (with or without messages), or the command did what was asked;
//! - 1: Canvas failed or aborted the import; `watch`/`run --until-empty` left a tenant halted;
//! - 2: usage or configuration error (including a bad token or a missing permission);
//! - 3: rejected (before upload, or Canvas refused the upload itself: no import was created);
//! - 4: refused because an earlier import failed (`--after-failure` goes on);
//! - 5: gave up (deadline passed, the account stayed busy, or Canvas unreachable);
//! - 6: refused because this token's user imported the same files recently (a re-run;
//!   `--force` sends them again).

use canvas_sis::canvas::{CanvasError, ErrorClass};
use canvas_sis::pipeline::Outcome;

pub const OK: u8 = 0;
pub const CANVAS_FAILED: u8 = 1;
/// A tenant is left halted: an operator must look.
pub const HALTED: u8 = 1;
pub const USAGE: u8 = 2;
pub const REJECTED: u8 = 3;
pub const REFUSED_AFTER_FAILURE: u8 = 4;
pub const GAVE_UP: u8 = 5;
pub const ALREADY_IMPORTED: u8 = 6;

/// The exit code of a one-shot import that ended with `outcome`.
pub fn of_outcome(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Imported(_) | Outcome::DryRun { .. } => OK,
        Outcome::CanvasFailed(_) => CANVAS_FAILED,
        Outcome::Config { .. } => USAGE,
        Outcome::Rejected { .. } => REJECTED,
        Outcome::RefusedAfterFailure { .. } => REFUSED_AFTER_FAILURE,
        Outcome::GaveUp { .. } => GAVE_UP,
        Outcome::AlreadyImported { .. } => ALREADY_IMPORTED,
        Outcome::Canvas { error, .. } => of_canvas_error(error),
    }
}

/// The exit code of a command that Canvas answered with `e`: credentials, permissions or a wrong
/// request are for a person to fix (2); anything that may pass later is giving up (5).
pub fn of_canvas_error(e: &CanvasError) -> u8 {
    match e.class() {
        ErrorClass::Auth | ErrorClass::Permanent => USAGE,
        ErrorClass::Retryable | ErrorClass::Throttled | ErrorClass::Uncertain => GAVE_UP,
    }
}
