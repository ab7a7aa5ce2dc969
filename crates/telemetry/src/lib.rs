//! Telemetry: logs, OpenTelemetry traces and metrics, and the scrape that serves them to
//! Prometheus.
//!
//! [`init`] is called once by the binary (and by the Lambda handler). It installs the `tracing`
//! subscriber — readable text or JSON lines on stderr — and, unless `OTEL_SDK_DISABLED=true`,
//! the OpenTelemetry layer that turns the pipeline's spans into OTel spans, and the meter
//! provider that the metric catalog ([`metrics`]) records into. What is exported follows the
//! standard `OTEL_*` variables ([`env`]): without an OTLP endpoint nothing leaves the process
//! and no exporter thread or socket is opened; spans still get trace ids (for the logs) and
//! metrics are still kept for `/metrics`.
//!
//! The returned [`Telemetry`] must live until the end: [`Telemetry::flush`] pushes what is
//! buffered (the end of a Lambda invocation), and dropping it flushes and shuts down.
//!
//! - [`color`]: whether log lines on stderr may carry ANSI escapes (a terminal, no `NO_COLOR`).
//! - [`spans`]: the spans of a batch, its stages, Canvas HTTP calls and queue messages.
//! - [`metrics`]: the instruments (the catalog is in `docs/metrics.md`).
//! - [`prometheus`]: the pull reader behind `/metrics` and the text format.
//! - [`listener`]: the `/healthz`, `/readyz` and `/metrics` HTTP listener.

pub mod color;
pub mod env;
pub mod listener;
pub mod metrics;
pub mod observer;
pub mod prometheus;
pub mod propagation;
pub mod spans;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use env::OtelEnv;
pub use observer::MetricsObserver;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    /// Readable text, one line per event, the batch's fields in the span prefix.
    Text,
    /// One JSON object per line, with the current span and the list of spans (tenant, batch id,
    /// trace id) in each.
    Json,
}

/// The installed telemetry. Flushes and shuts down the providers when dropped.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    pull: Option<prometheus::PullReader>,
}

/// The pull reader of the installed meter provider (for `/metrics`); `None` before [`init`] or
/// with the SDK disabled.
pub fn pull_reader() -> Option<prometheus::PullReader> {
    PULL.get().cloned()
}

static PULL: std::sync::OnceLock<prometheus::PullReader> = std::sync::OnceLock::new();

/// The installed providers, for [`flush`] from code that does not own the [`Telemetry`].
static PROVIDERS: std::sync::OnceLock<(SdkTracerProvider, SdkMeterProvider)> =
    std::sync::OnceLock::new();

/// Pushes every finished span and the current metric values to the OTLP endpoint now (the end of
/// a Lambda invocation, before Lambda may freeze the process). Blocking: call it off the async
/// workers (`spawn_blocking`). Does nothing before [`init`] or with the SDK disabled.
pub fn flush() {
    if let Some((tracer, meter)) = PROVIDERS.get() {
        if let Err(e) = tracer.force_flush() {
            tracing::warn!(error = %e, "could not flush the traces");
        }
        if let Err(e) = meter.force_flush() {
            tracing::warn!(error = %e, "could not flush the metrics");
        }
    }
}

/// The instrumentation scope of every span and instrument.
pub const SCOPE: &str = "canvas-sis";

impl Telemetry {
    /// Telemetry that records nothing (the SDK disabled): only logs.
    fn logs_only() -> Self {
        Telemetry {
            tracer: None,
            meter: None,
            pull: None,
        }
    }

    /// Sends every finished span and the current metric values to the OTLP endpoint, if any.
    pub fn flush(&self) {
        if let Some(t) = &self.tracer
            && let Err(e) = t.force_flush()
        {
            tracing::warn!(error = %e, "could not flush the traces");
        }
        if let Some(m) = &self.meter
            && let Err(e) = m.force_flush()
        {
            tracing::warn!(error = %e, "could not flush the metrics");
        }
    }

    /// The current metrics in the Prometheus text format (0.0.4); `None` when the SDK is off.
    pub fn scrape(&self) -> Option<String> {
        self.pull.as_ref().map(|p| p.render())
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(t) = self.tracer.take() {
            let _ = t.shutdown();
        }
        if let Some(m) = self.meter.take() {
            let _ = m.shutdown();
        }
    }
}

/// The logs filter used when `RUST_LOG` is not set: `default_level` for everything, and the S3
/// SDK's per-part checksum warning silenced (the worker hashes what it downloads itself and
/// checks a manifest's sha256, so it says nothing an operator can act on).
fn log_filter(default_level: &str) -> tracing_subscriber::EnvFilter {
    let quiet = "aws_sdk_s3::http_response_checksum=error";
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default_level},{quiet}")))
}

/// Installs logging, tracing and metrics as the environment asks (see the module docs).
pub fn init(style: LogStyle, default_level: &str) -> Telemetry {
    let env = OtelEnv::from_env();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color::on_stderr());
    let fmt = match style {
        LogStyle::Text => fmt.boxed(),
        LogStyle::Json => fmt.json().boxed(),
    }
    .with_filter(log_filter(default_level));
    if env.disabled {
        tracing_subscriber::registry().with(fmt).init();
        return Telemetry::logs_only();
    }
    let resource = resource(&env);
    let mut problems = Vec::new();
    let tracer = tracer_provider(&env, resource.clone(), &mut problems);
    let pull = prometheus::PullReader::new();
    let meter = meter_provider(&env, resource, pull.clone(), &mut problems);
    let _ = PULL.set(pull.clone());
    let _ = PROVIDERS.set((tracer.clone(), meter.clone()));
    opentelemetry::global::set_meter_provider(meter.clone());
    // The Canvas client reports its requests through its own hook, into the metrics; installed
    // only now, since the instruments are made from the meter provider set just above.
    canvas_sis_client::hook::install(metrics::get());
    let (propagator, unknown_propagators) =
        propagation::chosen(std::env::var("OTEL_PROPAGATORS").ok().as_deref());
    opentelemetry::global::set_text_map_propagator(propagator);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer(SCOPE))
        .with_threads(false)
        .with_target(false)
        .with_location(false)
        .with_filter(spans::exported_filter());
    tracing_subscriber::registry().with(fmt).with(otel).init();
    if !unknown_propagators.is_empty() {
        tracing::warn!(
            propagators = %unknown_propagators.join(","),
            "OTEL_PROPAGATORS names propagators canvas-sis does not have (it has tracecontext, \
             baggage and none): they are left out"
        );
    }
    if let Some(p) = &env.unsupported_protocol {
        tracing::warn!(
            protocol = %p,
            "OTEL_EXPORTER_OTLP_PROTOCOL asks for a protocol canvas-sis does not build in; exporting over http/protobuf"
        );
    }
    for p in problems {
        tracing::warn!("{p}; that signal is not exported");
    }
    Telemetry {
        tracer: Some(tracer),
        meter: Some(meter),
        pull: Some(pull),
    }
}

/// The process's resource: `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`, else
/// `service.name=canvas-sis`, and the version.
fn resource(env: &OtelEnv) -> Resource {
    let mut b = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if !env.names_service {
        b = b.with_service_name(SCOPE);
    }
    b.build()
}

fn tracer_provider(
    env: &OtelEnv,
    resource: Resource,
    problems: &mut Vec<String>,
) -> SdkTracerProvider {
    let mut b = SdkTracerProvider::builder().with_resource(resource);
    if env.export_traces {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => b = b.with_batch_exporter(exporter),
            Err(e) => problems.push(format!("the OTLP span exporter could not be built: {e}")),
        }
    }
    b.build()
}

fn meter_provider(
    env: &OtelEnv,
    resource: Resource,
    pull: prometheus::PullReader,
    problems: &mut Vec<String>,
) -> SdkMeterProvider {
    let mut b = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(pull);
    if env.export_metrics {
        match opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => b = b.with_reader(PeriodicReader::builder(exporter).build()),
            Err(e) => problems.push(format!("the OTLP metric exporter could not be built: {e}")),
        }
    }
    b.build()
}
