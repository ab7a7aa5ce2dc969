//! The spans of a batch run and its stages, written with the `tracing` facade. The pipeline
//! owns them; `telemetry` installs the subscriber that logs and exports them, and learns
//! durations and counts through the [`Observer`] port, never the other way round.

use std::future::Future;
use std::time::Instant;

use opentelemetry::trace::TraceContextExt as _;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::Observer;
use crate::ledger::{BatchRecord, Stage};

/// The span of one batch run. Its trace id is recorded on it (`trace_id`) for the logs.
pub fn batch(tenant: &str, batch_id: &str) -> Span {
    let span = tracing::info_span!(
        "batch",
        otel.name = "batch",
        sis.tenant = %tenant,
        sis.batch_id = %batch_id,
        trace_id = Empty,
        sis.stage = Empty,
        sis.import_id = Empty,
        sis.workflow_state = Empty,
        sis.rows = Empty,
        sis.warnings = Empty,
        sis.errors = Empty,
        otel.status_code = Empty,
    );
    record_trace_id(&span);
    span
}

/// Records the span's trace id in its `trace_id` field (when the OTel layer gave it one).
pub fn record_trace_id(span: &Span) {
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id.as_str());
    }
}

/// The span's trace id in hex, if it belongs to a trace.
pub fn trace_id(span: &Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The span of one stage of a batch.
pub fn stage(name: &'static str) -> Span {
    tracing::info_span!(
        "stage",
        otel.name = name,
        sis.stage = name,
        sis.rows = Empty,
        sis.bytes = Empty,
        sis.errors = Empty,
        sis.import_id = Empty,
        sis.workflow_state = Empty,
        otel.status_code = Empty,
    )
}

/// Runs `f` as stage `name` of a batch of `tenant`: in its span, its duration reported to `obs`
/// ([`Observer::stage_done`]; telemetry's observer puts it in the stage-duration histogram).
pub async fn in_stage<F: Future>(
    obs: &dyn Observer,
    tenant: &str,
    name: &'static str,
    f: F,
) -> F::Output {
    let started = Instant::now();
    let out = f.instrument(stage(name)).await;
    obs.stage_done(tenant, name, started.elapsed());
    out
}

/// [`in_stage`] for a synchronous stage (collect, validate).
pub fn in_stage_sync<T>(
    obs: &dyn Observer,
    tenant: &str,
    name: &'static str,
    f: impl FnOnce() -> T,
) -> T {
    let started = Instant::now();
    let out = stage(name).in_scope(f);
    obs.stage_done(tenant, name, started.elapsed());
    out
}

/// Marks `span` failed (OTel status `ERROR`).
pub fn mark_error(span: &Span) {
    span.record("otel.status_code", "ERROR");
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
            mark_error(span);
        }
    }
    // Recorded signed: OpenTelemetry has no unsigned integers, and tracing's bridge writes a
    // u64 as text.
    let rows = i64::try_from(rec.counts.total_rows()).unwrap_or(i64::MAX);
    span.record("sis.rows", rows);
    span.record("sis.warnings", rec.warnings.len() as u64);
    span.record("sis.errors", rec.errors.len() as u64);
}
