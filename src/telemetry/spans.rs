//! The spans the pipeline opens, named and attributed once here so that an operator can search
//! traces by the same keys everywhere: `sis.tenant`, `sis.batch_id`, `sis.import_id`,
//! `sis.workflow_state`, `sis.rows`, `sis.bytes`, `sis.warnings`, `sis.errors`.
//!
//! - a **message** span per SQS message (OpenTelemetry messaging conventions, kind consumer),
//!   continuing the W3C `traceparent` the message carries, if any;
//! - a **batch** span per batch run, the root of the batch's trace (or a child of its message);
//!   it carries `trace_id` too, so every log line inside it names the trace;
//! - a **stage** span per stage (collect, validate, guard, pack, submit, wait, record);
//! - an **HTTP client** span per Canvas request attempt (HTTP client conventions), and the AWS
//!   SDK's own operation spans (`rpc.system=aws-api`, `rpc.service`, `rpc.method`) for S3 and
//!   SQS calls made inside a batch or message.

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use opentelemetry::trace::TraceContextExt as _;
use tracing::field::Empty;
use tracing::{Instrument as _, Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;

use super::metrics;

/// What the OpenTelemetry layer turns into spans: this crate's spans (info and above), the AWS
/// SDK's operation spans when they happen inside one of ours (so an idle worker's long polls do
/// not each make a trace), and warnings and errors as span events.
///
/// Decided per callsite wherever it can be, so that the `debug!`/`trace!` calls of hot loops stay
/// disabled at no cost; only the SDK's operation spans are looked at each time (current span).
pub fn exported_filter<S>() -> impl Filter<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    Exported
}

struct Exported;

#[derive(PartialEq)]
enum Exports {
    Never,
    Always,
    InsideOurs,
}

fn exports(meta: &tracing::Metadata<'_>) -> Exports {
    let level = *meta.level();
    if !meta.is_span() {
        return if level <= Level::WARN {
            Exports::Always
        } else {
            Exports::Never
        };
    }
    let target = meta.target();
    if target.starts_with("aws_sdk_") && level <= Level::DEBUG {
        Exports::InsideOurs
    } else if target.starts_with("canvas_sis") && level <= Level::INFO {
        Exports::Always
    } else {
        Exports::Never
    }
}

impl<S> Filter<S> for Exported
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        match exports(meta) {
            Exports::Never => false,
            Exports::Always => true,
            Exports::InsideOurs => cx.lookup_current().is_some(),
        }
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        match exports(meta) {
            Exports::Never => tracing::subscriber::Interest::never(),
            Exports::Always => tracing::subscriber::Interest::always(),
            Exports::InsideOurs => tracing::subscriber::Interest::sometimes(),
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::DEBUG)
    }
}

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

/// Runs `f` as stage `name` of a batch of `tenant`: in its span, timed into the stage-duration
/// histogram.
pub async fn in_stage<F: Future>(tenant: &str, name: &'static str, f: F) -> F::Output {
    let started = Instant::now();
    let out = f.instrument(stage(name)).await;
    metrics::get().stage_done(tenant, name, started.elapsed());
    out
}

/// [`in_stage`] for a synchronous stage (collect, validate).
pub fn in_stage_sync<T>(tenant: &str, name: &'static str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = stage(name).in_scope(f);
    metrics::get().stage_done(tenant, name, started.elapsed());
    out
}

/// Marks `span` failed (OTel status `ERROR`).
pub fn mark_error(span: &Span) {
    span.record("otel.status_code", "ERROR");
}

/// The span of one HTTP request attempt to Canvas (HTTP client conventions). `route` is the
/// low-cardinality path template (`/api/v1/accounts/{id}/sis_imports`). The URL's query is left
/// out; the token is never in a URL anyway.
pub fn http_client(method: &str, url: &url::Url, route: &str) -> Span {
    let full = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path();
    tracing::info_span!(
        "canvas_http",
        otel.name = %format!("{method} {route}"),
        otel.kind = "client",
        http.request.method = %method,
        server.address = %url.host_str().unwrap_or(""),
        server.port = url.port_or_known_default().unwrap_or(0),
        url.full = %full,
        url.template = %route,
        http.response.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// The span of the processing of one SQS message (messaging conventions, kind consumer). When
/// the message carries a W3C `traceparent` (and `tracestate`) attribute, the span continues
/// that trace.
pub fn sqs_process(
    queue_url: &str,
    message_id: &str,
    receive_count: u32,
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> Span {
    let queue = queue_url.rsplit('/').next().unwrap_or(queue_url);
    let host = url::Url::parse(queue_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    // Only what a log line needs is a `tracing` field; the rest goes to the OTel span alone.
    let span = tracing::info_span!(
        "sqs_message",
        otel.name = %format!("process {queue}"),
        otel.kind = "consumer",
        messaging.message.id = %message_id,
        trace_id = Empty,
        otel.status_code = Empty,
    );
    for (k, v) in [
        ("messaging.system", "aws_sqs".to_owned()),
        ("messaging.operation.type", "process".to_owned()),
        ("messaging.operation.name", "process".to_owned()),
        ("messaging.destination.name", queue.to_owned()),
        ("server.address", host),
    ] {
        span.set_attribute(k, v);
    }
    span.set_attribute("messaging.aws_sqs.receive_count", i64::from(receive_count));
    if let Some(parent) = traceparent {
        let mut carrier = HashMap::from([("traceparent".to_owned(), parent.to_owned())]);
        if let Some(state) = tracestate {
            carrier.insert("tracestate".to_owned(), state.to_owned());
        }
        let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
        if cx.span().span_context().is_valid() {
            let _ = span.set_parent(cx);
        }
    }
    record_trace_id(&span);
    span
}

/// `/api/v1/accounts/1/sis_imports/12` → `/api/v1/accounts/{id}/sis_imports/{id}`: numeric and
/// `sis_*:` segments become `{id}` so that metrics stay low in cardinality.
pub fn route_template(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let numeric = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
            let sis_ref = seg.starts_with("sis_") && seg.contains(':') || seg.contains("%3A");
            if numeric || sis_ref { "{id}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hide_ids_and_sis_references() {
        assert_eq!(
            route_template("/api/v1/accounts/1/sis_imports/12"),
            "/api/v1/accounts/{id}/sis_imports/{id}"
        );
        assert_eq!(
            route_template("/api/v1/accounts/sis_account_id:ROOT/sis_imports"),
            "/api/v1/accounts/{id}/sis_imports"
        );
        assert_eq!(
            route_template("/api/v1/progress/7"),
            "/api/v1/progress/{id}"
        );
    }
}
