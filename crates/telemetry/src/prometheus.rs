//! The pull side of the metrics: a reader the meter provider feeds like any other (so `/metrics`
//! shows the very instruments OTLP exports), rendered in the Prometheus text format 0.0.4.
//!
//! Names follow the OpenTelemetry-to-Prometheus rules: dots become underscores, the unit is
//! appended (`s` → `_seconds`, `By` → `_bytes`), and monotonic sums end in `_total`.

use std::fmt::Write as _;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

/// A manual (pull) reader that can be shared between the meter provider and the listener.
#[derive(Debug, Clone)]
pub struct PullReader(Arc<ManualReader>);

impl Default for PullReader {
    fn default() -> Self {
        Self::new()
    }
}

impl PullReader {
    pub fn new() -> Self {
        PullReader(Arc::new(
            ManualReader::builder()
                .with_temporality(Temporality::Cumulative)
                .build(),
        ))
    }

    /// Collects the current values and renders them.
    pub fn render(&self) -> String {
        let mut rm = ResourceMetrics::default();
        if self.0.collect(&mut rm).is_err() {
            return String::new();
        }
        render(&rm)
    }
}

impl MetricReader for PullReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The Prometheus text exposition of `rm`.
pub fn render(rm: &ResourceMetrics) -> String {
    let mut out = String::new();
    for scope in rm.scope_metrics() {
        for m in scope.metrics() {
            match m.data() {
                AggregatedMetrics::F64(d) => write_metric(&mut out, m, d, |v| *v),
                AggregatedMetrics::U64(d) => write_metric(&mut out, m, d, |v| *v as f64),
                AggregatedMetrics::I64(d) => write_metric(&mut out, m, d, |v| *v as f64),
            }
        }
    }
    out
}

fn write_metric<T: Copy>(
    out: &mut String,
    m: &Metric,
    data: &MetricData<T>,
    f: impl Fn(&T) -> f64,
) {
    let base = prom_name(m.name(), m.unit());
    let help = m.description().replace('\\', r"\\").replace('\n', r"\n");
    match data {
        MetricData::Gauge(g) => {
            header(out, &base, &help, "gauge");
            for p in g.data_points() {
                sample(out, &base, p.attributes(), None, f(&p.value()));
            }
        }
        MetricData::Sum(s) => {
            let (name, kind) = if s.is_monotonic() {
                (format!("{base}_total"), "counter")
            } else {
                (base.clone(), "gauge")
            };
            header(out, &name, &help, kind);
            for p in s.data_points() {
                sample(out, &name, p.attributes(), None, f(&p.value()));
            }
        }
        MetricData::Histogram(h) => {
            header(out, &base, &help, "histogram");
            for p in h.data_points() {
                let mut cumulative = 0u64;
                let bucket = format!("{base}_bucket");
                for (bound, count) in p.bounds().zip(p.bucket_counts()) {
                    cumulative += count;
                    let le = format_value(bound);
                    sample(out, &bucket, p.attributes(), Some(&le), cumulative as f64);
                }
                sample(out, &bucket, p.attributes(), Some("+Inf"), p.count() as f64);
                sample(
                    out,
                    &format!("{base}_sum"),
                    p.attributes(),
                    None,
                    f(&p.sum()),
                );
                sample(
                    out,
                    &format!("{base}_count"),
                    p.attributes(),
                    None,
                    p.count() as f64,
                );
            }
        }
        // Not used by the catalog; exponential histograms have no text-format equivalent.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample<'a>(
    out: &mut String,
    name: &str,
    attrs: impl Iterator<Item = &'a KeyValue>,
    le: Option<&str>,
    value: f64,
) {
    let mut labels: Vec<String> = attrs
        .map(|kv| {
            format!(
                "{}=\"{}\"",
                sanitize(kv.key.as_str()),
                escape(&kv.value.to_string())
            )
        })
        .collect();
    if let Some(le) = le {
        labels.push(format!("le=\"{le}\""));
    }
    let _ = if labels.is_empty() {
        writeln!(out, "{name} {}", format_value(value))
    } else {
        writeln!(
            out,
            "{name}{{{}}} {}",
            labels.join(","),
            format_value(value)
        )
    };
}

/// `canvas_sis.stage.duration` with unit `s` → `canvas_sis_stage_duration_seconds`.
pub fn prom_name(name: &str, unit: &str) -> String {
    let mut n = sanitize(name);
    let suffix = match unit {
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        _ => "",
    };
    if !suffix.is_empty() && !n.ends_with(suffix) {
        n.push('_');
        n.push_str(suffix);
    }
    n
}

fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn format_value(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    #[test]
    fn names_get_their_unit_and_counters_their_total() {
        assert_eq!(
            prom_name("canvas_sis.stage.duration", "s"),
            "canvas_sis_stage_duration_seconds"
        );
        assert_eq!(
            prom_name("canvas_sis.pack.size", "By"),
            "canvas_sis_pack_size_bytes"
        );
        assert_eq!(
            prom_name("canvas_sis.batches", "{batch}"),
            "canvas_sis_batches"
        );
    }

    #[test]
    fn a_counter_a_gauge_and_a_histogram_render_in_the_text_format() {
        let reader = PullReader::new();
        let provider = SdkMeterProvider::builder()
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter("t");
        let c = meter
            .u64_counter("jobs")
            .with_description("Jobs \"done\"")
            .build();
        c.add(2, &[KeyValue::new("tenant", "e\"ast")]);
        let g = meter.f64_gauge("budget").build();
        g.record(512.5, &[]);
        let h = meter
            .f64_histogram("wait")
            .with_unit("s")
            .with_boundaries(vec![1.0, 10.0])
            .build();
        h.record(0.5, &[]);
        h.record(5.0, &[]);
        let text = reader.render();
        assert!(text.contains("# TYPE jobs_total counter\n"), "{text}");
        assert!(
            text.contains("jobs_total{tenant=\"e\\\"ast\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("budget 512.5\n"), "{text}");
        assert!(text.contains("wait_seconds_bucket{le=\"1\"} 1\n"), "{text}");
        assert!(
            text.contains("wait_seconds_bucket{le=\"10\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("wait_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("wait_seconds_count 2\n"), "{text}");
    }
}
