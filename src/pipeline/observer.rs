//! What the pipeline tells the outside while it runs: stages, progress and notes.
//!
//! The pipeline never writes to a terminal; the CLI turns these calls into progress bars on a
//! TTY and log lines elsewhere.

use crate::ledger::{BatchId, BatchRecord};
use crate::sis::validate::ValidationReport;

/// The stages of a one-shot import, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Collect,
    Validate,
    Pack,
    Preflight,
    Upload,
    Wait,
    Report,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Collect => "collect",
            Stage::Validate => "validate",
            Stage::Pack => "pack",
            Stage::Preflight => "check Canvas",
            Stage::Upload => "upload",
            Stage::Wait => "wait",
            Stage::Report => "report",
        }
    }
}

/// A change in a batch's life that an operator may need to hear about: what notifications,
/// metrics and the batch's log line are made from. Sent once, when the ledger has recorded it.
#[derive(Debug, Clone, Copy)]
pub enum BatchEvent<'a> {
    /// Terminal: Canvas ended the import (successfully or not), or the batch was rejected
    /// before it was sent (`stage` is `Terminal { state: "rejected", .. }`).
    Finished(&'a BatchRecord),
    /// Held by the mass-change guard until an operator approves it.
    Held(&'a BatchRecord),
    /// Parked behind a closed gate (halted or paused tenant, or a held batch before it).
    Parked(&'a BatchRecord),
    /// The tenant's gate closed because of `batch`; its later batches park until `resume`.
    Halted { batch: &'a BatchId, reason: &'a str },
    /// `batch` cannot go on until an operator fixes something outside it — the token, its
    /// permissions, the account (`reason` is Canvas's answer and what to fix). The batch stays
    /// where it is and is tried again on each pass; nothing is halted or lost.
    NeedsOperator { batch: &'a BatchId, reason: &'a str },
}

/// Receives the pipeline's events. Every method has a default that does nothing.
pub trait Observer: Send + Sync {
    fn stage(&self, _stage: Stage) {}
    /// Progress within a stage (`total` when known, e.g. Canvas's percent).
    fn progress(&self, _stage: Stage, _done: u64, _total: Option<u64>) {}
    /// Something an operator should read (a stuck import, a wait, an adopted import).
    fn note(&self, _message: &str) {}
    /// The batch's validation report, as soon as it is made (a one-shot run prints it when the
    /// batch is rejected; the ledger keeps it as text).
    fn validated(&self, _report: &ValidationReport) {}
    /// A recorded change of batch `event` of `tenant` (see [`BatchEvent`]).
    fn batch_event(&self, _tenant: &str, _event: BatchEvent<'_>) {}
    fn finish(&self) {}
}

/// An observer that only logs.
pub struct LogObserver;

impl Observer for LogObserver {
    fn stage(&self, stage: Stage) {
        tracing::info!(stage = stage.as_str(), "stage");
    }

    fn note(&self, message: &str) {
        tracing::info!("{message}");
    }

    fn batch_event(&self, tenant: &str, event: BatchEvent<'_>) {
        log_batch_event(tenant, event);
    }
}

/// The one log line of a recorded batch event. Alarms are built on it (Terraform's "no successful
/// import for N hours" filters JSON logs on `message = "batch finished"` and `outcome`), so its
/// message and field names are part of the operator contract.
pub fn log_batch_event(tenant: &str, event: BatchEvent<'_>) {
    use crate::ledger::Stage as Recorded;
    match event {
        BatchEvent::Finished(rec) => {
            let (outcome, ok) = match &rec.stage {
                Recorded::Terminal { state, ok } => (state.as_str(), *ok),
                other => (other.name(), false),
            };
            let import_id = rec.canvas_import_id;
            if ok {
                tracing::info!(tenant, batch = %rec.id, outcome, import_id, warnings = rec.warnings.len(), "batch finished");
            } else {
                tracing::error!(tenant, batch = %rec.id, outcome, import_id, errors = rec.errors.len(), "batch finished");
            }
        }
        BatchEvent::Held(rec) => {
            tracing::warn!(tenant, batch = %rec.id, reason = stage_reason(&rec.stage), "batch held for approval");
        }
        BatchEvent::Parked(rec) => {
            tracing::warn!(tenant, batch = %rec.id, reason = stage_reason(&rec.stage), "batch parked");
        }
        BatchEvent::Halted { batch, reason } => {
            tracing::error!(tenant, batch = %batch, reason, "tenant halted");
        }
        BatchEvent::NeedsOperator { batch, reason } => {
            tracing::error!(tenant, batch = %batch, reason, "batch needs an operator");
        }
    }
}

/// Passes every event to each of its observers, in order (the log, the metrics, the notifier).
pub struct Tee<'a>(pub Vec<&'a dyn Observer>);

impl Observer for Tee<'_> {
    fn stage(&self, stage: Stage) {
        self.0.iter().for_each(|o| o.stage(stage));
    }

    fn progress(&self, stage: Stage, done: u64, total: Option<u64>) {
        self.0.iter().for_each(|o| o.progress(stage, done, total));
    }

    fn note(&self, message: &str) {
        self.0.iter().for_each(|o| o.note(message));
    }

    fn validated(&self, report: &ValidationReport) {
        self.0.iter().for_each(|o| o.validated(report));
    }

    fn batch_event(&self, tenant: &str, event: BatchEvent<'_>) {
        self.0.iter().for_each(|o| o.batch_event(tenant, event));
    }

    fn finish(&self) {
        self.0.iter().for_each(|o| o.finish());
    }
}

fn stage_reason(stage: &crate::ledger::Stage) -> &str {
    match stage {
        crate::ledger::Stage::Held { reason } | crate::ledger::Stage::Parked { reason } => reason,
        _ => "",
    }
}
