//! The pipeline's recorded batch events turned into metrics and into the attributes of the
//! batch's span: outcomes, holds, parks, halts, and each tenant's last success.

use tracing::Span;

use super::metrics;
use crate::ledger::{BatchRecord, Stage};
use crate::pipeline::{BatchEvent, Observer};

/// Counts batch outcomes per tenant; add it to the run's `Tee`.
pub struct MetricsObserver;

impl Observer for MetricsObserver {
    fn batch_event(&self, tenant: &str, event: BatchEvent<'_>) {
        let m = metrics::get();
        match event {
            BatchEvent::Finished(rec) => {
                if let Stage::Terminal { state, ok } = &rec.stage {
                    m.batch_outcome(tenant, state);
                    if *ok {
                        m.last_success(tenant, rec.updated_at);
                    }
                }
            }
            BatchEvent::Held(_) => m.batch_outcome(tenant, "held"),
            BatchEvent::Parked(_) => m.batch_outcome(tenant, "parked"),
            BatchEvent::NeedsOperator { .. } => m.batch_outcome(tenant, "needs_operator"),
            BatchEvent::Halted { .. } => {
                m.halts.add(
                    1,
                    &[opentelemetry::KeyValue::new("tenant", tenant.to_owned())],
                );
                m.gate_state(tenant, 2);
            }
        }
    }
}

/// Records what the ledger says of a tenant: its gate (as derived, `pipeline::gate`) and its
/// last successful import.
pub fn tenant_seen(
    name: &str,
    tenant: &crate::ledger::TenantRecord,
    gate: &crate::pipeline::gate::GateState,
) {
    let m = metrics::get();
    m.gate_state(name, gate.level());
    if let Some(a) = &tenant.last_accepted {
        m.last_success(name, a.at);
    }
}

/// Puts what a batch run ended with on its span: stage, Canvas import and state, row count,
/// warnings and errors; a failed or rejected batch marks the span as an error.
pub fn record_on_span(span: &Span, rec: &BatchRecord) {
    span.record("sis.stage", rec.stage.name());
    if let Some(id) = rec.canvas_import_id {
        span.record("sis.import_id", id);
    }
    if let Stage::Terminal { state, ok } = &rec.stage {
        span.record("sis.workflow_state", state.as_str());
        if !ok {
            super::spans::mark_error(span);
        }
    }
    // Recorded signed: OpenTelemetry has no unsigned integers, and tracing's bridge writes a
    // u64 as text.
    let rows = i64::try_from(rec.counts.total_rows()).unwrap_or(i64::MAX);
    span.record("sis.rows", rows);
    span.record("sis.warnings", rec.warnings.len() as u64);
    span.record("sis.errors", rec.errors.len() as u64);
}
