//! The pipeline's recorded batch events turned into metrics and into the attributes of the
//! batch's span: outcomes, holds, parks, halts, and each tenant's last success.

use std::time::Duration;

use super::metrics;
use canvas_sis_client::SisImport;
use canvas_sis_core::ledger::Stage;
use canvas_sis_core::pipeline::{BatchEvent, Observer};

/// Counts batch outcomes per tenant; add it to the run's `Tee`.
pub struct MetricsObserver;

/// The pipeline reports through its port; the instruments are recorded here.
impl Observer for MetricsObserver {
    fn stage_done(&self, tenant: &str, stage: &'static str, took: Duration) {
        metrics::get().stage_done(tenant, stage, took);
    }

    fn packed(&self, kind: &str, rows: u64, bytes: u64) {
        metrics::get().packed(kind, rows, bytes);
    }

    fn canvas_import(&self, tenant: &str, import: &SisImport) {
        metrics::get().canvas_import(tenant, import);
    }

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
                m.gate_state(tenant, "halted");
            }
        }
    }
}

/// Records what the ledger says of a tenant: its gate (as derived, `pipeline::gate`) and its
/// last successful import.
pub fn tenant_seen(
    name: &str,
    tenant: &canvas_sis_core::ledger::TenantRecord,
    gate: &canvas_sis_core::pipeline::gate::GateState,
) {
    let m = metrics::get();
    m.gate_state(name, gate.state());
    if let Some(a) = &tenant.last_accepted {
        m.last_success(name, a.at);
    }
}
