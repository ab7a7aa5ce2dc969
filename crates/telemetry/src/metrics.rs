//! The metric catalog (documented in `docs/metrics.md`): one set of instruments, made from the
//! global meter provider the first time they are used, fed by the pipeline, the Canvas client
//! and the queue worker. The same instruments reach OTLP and `/metrics`.
//!
//! Attribute values are always low in cardinality: tenant names, stage names, Canvas states,
//! route templates and status codes — never batch ids or paths.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, ObservableGauge};

use canvas_sis_core::pipeline::gate::GateState;

/// Bucket bounds for durations in seconds: a Canvas call to an hour-long import.
const SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0, 7200.0,
];

/// The instruments.
pub struct Metrics {
    pub batches: Counter<u64>,
    pub halts: Counter<u64>,
    pub gate: Gauge<i64>,
    pub stage_duration: Histogram<f64>,
    pub import_duration: Histogram<f64>,
    pub import_queue_wait: Histogram<f64>,
    pub packed_bytes: Counter<u64>,
    pub packed_rows: Counter<u64>,
    pub canvas_warnings: Counter<u64>,
    pub canvas_errors: Counter<u64>,
    pub http_duration: Histogram<f64>,
    pub canvas_requests: Counter<u64>,
    pub canvas_throttled: Counter<u64>,
    pub rate_limit_remaining: Gauge<f64>,
    pub message_age: Histogram<f64>,
    pub messages: Counter<u64>,
    pub heartbeats: Counter<u64>,
    /// Tenant → when its last import succeeded; read by the `since_last_import` gauge.
    last_success: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    _since_last_import: ObservableGauge<f64>,
    _build_info: ObservableGauge<u64>,
}

/// The catalog, made on first use.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

fn kv(k: &'static str, v: impl Into<opentelemetry::Value>) -> KeyValue {
    KeyValue::new(k, v)
}

impl Metrics {
    fn new() -> Self {
        let m = opentelemetry::global::meter(super::SCOPE);
        let seconds = |name: &'static str, help: &'static str| {
            m.f64_histogram(name)
                .with_unit("s")
                .with_description(help)
                .with_boundaries(SECONDS.to_vec())
                .build()
        };
        let last_success: Arc<Mutex<HashMap<String, DateTime<Utc>>>> = Arc::default();
        let seen = last_success.clone();
        let since_last_import = m
            .f64_observable_gauge("canvas_sis.tenant.since_last_import")
            .with_unit("s")
            .with_description(
                "Seconds since the tenant's last successful import (the silence alarm); present \
                 once the worker has seen one",
            )
            .with_callback(move |o| {
                let now = Utc::now();
                if let Ok(map) = seen.lock() {
                    for (tenant, at) in map.iter() {
                        let age = (now - *at).num_milliseconds().max(0) as f64 / 1000.0;
                        o.observe(age, &[kv("tenant", tenant.clone())]);
                    }
                }
            })
            .build();
        let build_info = m
            .u64_observable_gauge("canvas_sis.build_info")
            .with_description("Always 1, labelled with the running canvas-sis version")
            .with_callback(|o| o.observe(1, &[kv("version", env!("CARGO_PKG_VERSION"))]))
            .build();
        Metrics {
            batches: m
                .u64_counter("canvas_sis.batches")
                .with_unit("{batch}")
                .with_description(
                    "Batches by outcome: Canvas's final state (imported, imported_with_messages, \
                     failed_with_messages, aborted, ...), rejected, held or parked",
                )
                .build(),
            halts: m
                .u64_counter("canvas_sis.tenant.halts")
                .with_description("Times a tenant's gate closed because of a failed batch")
                .build(),
            gate: m
                .i64_gauge("canvas_sis.tenant.gate")
                .with_description(
                    "A tenant's gate as a state set: 1 for its current state (open, paused, \
                     restoring, halted), 0 for the others",
                )
                .build(),
            stage_duration: seconds(
                "canvas_sis.stage.duration",
                "Time spent in one stage of a batch (collect, validate, guard, pack, submit, wait, record)",
            ),
            import_duration: seconds(
                "canvas_sis.canvas.import.duration",
                "Canvas's own time on an import, from created to ended",
            ),
            import_queue_wait: seconds(
                "canvas_sis.canvas.import.queue_wait",
                "Time an import waited in Canvas's queue (workflow state created) before it started",
            ),
            packed_bytes: m
                .u64_counter("canvas_sis.pack.bytes")
                .with_unit("By")
                .with_description("Uncompressed CSV bytes packed, by data type")
                .build(),
            packed_rows: m
                .u64_counter("canvas_sis.pack.rows")
                .with_unit("{row}")
                .with_description("CSV rows validated and packed, by data type")
                .build(),
            canvas_warnings: m
                .u64_counter("canvas_sis.canvas.warnings")
                .with_unit("{warning}")
                .with_description("Processing warnings Canvas reported on finished imports")
                .build(),
            canvas_errors: m
                .u64_counter("canvas_sis.canvas.errors")
                .with_unit("{error}")
                .with_description("Processing errors Canvas reported on finished imports")
                .build(),
            http_duration: seconds(
                "http.client.request.duration",
                "Duration of HTTP requests to Canvas (OpenTelemetry HTTP client convention)",
            ),
            canvas_requests: m
                .u64_counter("canvas_sis.canvas.requests")
                .with_unit("{request}")
                .with_description("Canvas API requests by endpoint template, method and status")
                .build(),
            canvas_throttled: m
                .u64_counter("canvas_sis.canvas.throttled")
                .with_unit("{request}")
                .with_description(
                    "Canvas answers that refused a request for its rate limit (403/429)",
                )
                .build(),
            rate_limit_remaining: m
                .f64_gauge("canvas_sis.canvas.rate_limit.remaining")
                .with_description("X-Rate-Limit-Remaining of Canvas's latest answer")
                .build(),
            message_age: seconds(
                "canvas_sis.queue.message.age",
                "Age of an SQS message when the worker received it (since SentTimestamp)",
            ),
            messages: m
                .u64_counter("canvas_sis.queue.messages")
                .with_unit("{message}")
                .with_description("Received messages by disposition (deleted, released, poison)")
                .build(),
            heartbeats: m
                .u64_counter("canvas_sis.queue.heartbeats")
                .with_unit("{heartbeat}")
                .with_description("Visibility extensions of in-flight messages, by result")
                .build(),
            last_success,
            _since_last_import: since_last_import,
            _build_info: build_info,
        }
    }

    pub fn stage_done(&self, tenant: &str, stage: &'static str, took: Duration) {
        self.stage_duration.record(
            took.as_secs_f64(),
            &[kv("tenant", tenant.to_owned()), kv("stage", stage)],
        );
    }

    pub fn batch_outcome(&self, tenant: &str, outcome: &str) {
        self.batches.add(
            1,
            &[
                kv("tenant", tenant.to_owned()),
                kv("outcome", outcome.to_owned()),
            ],
        );
    }

    /// Records the gate of `tenant` as a state set: `state` (one of [`GateState::STATES`]) 1,
    /// the others 0, so that `canvas_sis_tenant_gate{state="halted"} == 1` finds halted tenants.
    pub fn gate_state(&self, tenant: &str, state: &str) {
        for s in GateState::STATES {
            self.gate.record(
                i64::from(s == state),
                &[kv("tenant", tenant.to_owned()), kv("state", s)],
            );
        }
    }

    /// The tenant's last successful import (kept when `at` is newer than the one known).
    pub fn last_success(&self, tenant: &str, at: DateTime<Utc>) {
        if let Ok(mut map) = self.last_success.lock() {
            let e = map.entry(tenant.to_owned()).or_insert(at);
            if *e < at {
                *e = at;
            }
        }
    }

    pub fn heartbeat(&self, result: &'static str) {
        self.heartbeats.add(1, &[kv("result", result)]);
    }

    /// A received message: its age since it was sent.
    pub fn message_received(&self, sent_at_ms: Option<i64>) {
        if let Some(sent) = sent_at_ms {
            let age = (Utc::now().timestamp_millis() - sent).max(0) as f64 / 1000.0;
            self.message_age.record(age, &[]);
        }
    }

    pub fn message_disposed(&self, disposition: &'static str) {
        self.messages.add(1, &[kv("disposition", disposition)]);
    }

    /// Rows and uncompressed bytes packed, per data type.
    pub fn packed(&self, kind: &str, rows: u64, bytes: u64) {
        let a = [kv("kind", kind.to_owned())];
        if rows > 0 {
            self.packed_rows.add(rows, &a);
        }
        if bytes > 0 {
            self.packed_bytes.add(bytes, &a);
        }
    }

    /// A finished Canvas import: its timings, warnings and errors.
    pub fn canvas_import(&self, tenant: &str, import: &canvas_sis_client::model::SisImport) {
        let t = [kv("tenant", tenant.to_owned())];
        let state = import.workflow_state.as_str().to_owned();
        if let (Some(c), Some(e)) = (import.created_at, import.ended_at) {
            let secs = (e - c).num_milliseconds().max(0) as f64 / 1000.0;
            self.import_duration
                .record(secs, &[t[0].clone(), kv("state", state)]);
        }
        if let (Some(c), Some(s)) = (import.created_at, import.started_at) {
            let secs = (s - c).num_milliseconds().max(0) as f64 / 1000.0;
            self.import_queue_wait.record(secs, &t);
        }
        let w = import.processing_warnings.len() as u64;
        let e = import.processing_errors.len() as u64;
        if w > 0 {
            self.canvas_warnings.add(w, &t);
        }
        if e > 0 {
            self.canvas_errors.add(e, &t);
        }
    }
}

/// The Canvas client reports its requests through its hook; they land in these instruments.
impl canvas_sis_client::hook::RequestHook for Metrics {
    /// One attempt of a Canvas request, answered with `status` (`None`: no answer).
    fn request(
        &self,
        method: &'static str,
        route: &str,
        host: &str,
        status: Option<u16>,
        took: Duration,
        throttled: bool,
    ) {
        let status_attr = status.map(i64::from).unwrap_or(0);
        self.canvas_requests.add(
            1,
            &[
                kv("endpoint", route.to_owned()),
                kv("method", method),
                kv("status", status_attr),
            ],
        );
        let mut attrs = vec![
            kv("http.request.method", method),
            kv("url.template", route.to_owned()),
            kv("server.address", host.to_owned()),
        ];
        match status {
            Some(s) => attrs.push(kv("http.response.status_code", i64::from(s))),
            None => attrs.push(kv("error.type", "transport")),
        }
        self.http_duration.record(took.as_secs_f64(), &attrs);
        if throttled {
            self.canvas_throttled
                .add(1, &[kv("endpoint", route.to_owned())]);
        }
    }

    fn rate_limit(&self, host: &str, remaining: f64) {
        self.rate_limit_remaining
            .record(remaining, &[kv("server.address", host.to_owned())]);
    }
}
