//! What the pipeline tells the outside while it runs: stages, progress and notes.
//!
//! The pipeline never writes to a terminal; the CLI turns these calls into progress bars on a
//! TTY and log lines elsewhere.

use std::time::Duration;

use canvas_sis_client::SisImport;
use canvas_sis_rules::sis::validate::ValidationReport;

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

pub use crate::ledger::BatchEvent;

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
    /// Stage `stage` of a batch of `tenant` ended after `took` (the metrics' stage durations).
    fn stage_done(&self, _tenant: &str, _stage: &'static str, _took: Duration) {}
    /// One kind of a batch was packed: its rows (counted) or its uncompressed bytes (written).
    fn packed(&self, _kind: &str, _rows: u64, _bytes: u64) {}
    /// Canvas ended `tenant`'s import in the state `import` shows.
    fn canvas_import(&self, _tenant: &str, _import: &SisImport) {}
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

    fn stage_done(&self, tenant: &str, stage: &'static str, took: Duration) {
        self.0
            .iter()
            .for_each(|o| o.stage_done(tenant, stage, took));
    }

    fn packed(&self, kind: &str, rows: u64, bytes: u64) {
        self.0.iter().for_each(|o| o.packed(kind, rows, bytes));
    }

    fn canvas_import(&self, tenant: &str, import: &SisImport) {
        self.0.iter().for_each(|o| o.canvas_import(tenant, import));
    }
}

fn stage_reason(stage: &crate::ledger::Stage) -> &str {
    match stage {
        crate::ledger::Stage::Held { reason } | crate::ledger::Stage::Parked { reason } => reason,
        _ => "",
    }
}

/// The notifier hears the pipeline's batch events through this port (`notify` itself depends
/// on the ledger only, so that `config` can embed its settings).
impl Observer for crate::notify::Notifier {
    fn batch_event(&self, tenant: &str, event: BatchEvent<'_>) {
        crate::notify::Notifier::batch_event(self, tenant, event);
    }
}
