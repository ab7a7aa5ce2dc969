//! The spans, named and attributed so that an operator can search traces by the same keys
//! everywhere: `sis.tenant`, `sis.batch_id`, `sis.import_id`,
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
//!
//! The batch and stage spans are the pipeline's own (`pipeline::spans`), the HTTP client span
//! is the Canvas client's (`canvas::trace`); they are re-exported here. This module adds the
//! export filter and the message span of the queue worker.

use std::collections::HashMap;
use std::time::Instant;

use opentelemetry::trace::TraceContextExt as _;
use tracing::field::Empty;
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;

use super::metrics;
pub use canvas_sis_client::trace::{http_client, route_template};
pub use canvas_sis_core::pipeline::spans::{batch, mark_error, record_trace_id, stage, trace_id};

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

/// Runs `f` as stage `name` of `tenant`, outside a pipeline run (the `pack` command): in its
/// span, timed into the stage-duration histogram.
pub fn in_stage_sync<T>(tenant: &str, name: &'static str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = canvas_sis_core::pipeline::spans::stage(name).in_scope(f);
    metrics::get().stage_done(tenant, name, started.elapsed());
    out
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
