//! What the standard `OTEL_*` variables ask for: whether the SDK is on, and which signals are
//! exported over OTLP.
//!
//! Only the switches are read here. The exporters read the rest themselves
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` and the per-signal `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT`,
//! `..._HEADERS`, `..._TIMEOUT`, `OTEL_METRIC_EXPORT_INTERVAL`), and the resource reads
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.

/// The telemetry an environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelEnv {
    /// `OTEL_SDK_DISABLED=true`: no spans, no metrics, no trace ids in logs.
    pub disabled: bool,
    /// Spans are exported over OTLP (an endpoint is set and `OTEL_TRACES_EXPORTER` is not `none`).
    pub export_traces: bool,
    /// Metrics are exported over OTLP (an endpoint is set and `OTEL_METRICS_EXPORTER` is not `none`).
    pub export_metrics: bool,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` names something other than `http/protobuf` (only that is built in).
    pub unsupported_protocol: Option<String>,
    /// `OTEL_SERVICE_NAME` or a `service.name` in `OTEL_RESOURCE_ATTRIBUTES` is set.
    pub names_service: bool,
}

impl OtelEnv {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let set = |k: &str| get(k).is_some_and(|v| !v.trim().is_empty());
        let is = |k: &str, want: &str| get(k).is_some_and(|v| v.trim().eq_ignore_ascii_case(want));
        let disabled = is("OTEL_SDK_DISABLED", "true");
        let any_endpoint = set("OTEL_EXPORTER_OTLP_ENDPOINT");
        let signal = |endpoint: &str, exporter: &str| {
            !disabled && (any_endpoint || set(endpoint)) && !is(exporter, "none")
        };
        let unsupported_protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty() && v != "http/protobuf");
        let names_service = set("OTEL_SERVICE_NAME")
            || get("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|v| {
                v.split(',')
                    .any(|kv| kv.trim_start().starts_with("service.name="))
            });
        OtelEnv {
            disabled,
            export_traces: signal("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"),
            export_metrics: signal(
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "OTEL_METRICS_EXPORTER",
            ),
            unsupported_protocol,
            names_service,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> OtelEnv {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtelEnv::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        let e = env(&[("OTEL_SERVICE_NAME", "sis")]);
        assert!(!e.disabled && !e.export_traces && !e.export_metrics);
        assert!(e.names_service);
    }

    #[test]
    fn the_common_endpoint_turns_on_both_signals_unless_one_is_none() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]);
        assert!(e.export_traces && !e.export_metrics);
        let e = env(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://c/v1/metrics")]);
        assert!(!e.export_traces && e.export_metrics);
    }

    #[test]
    fn sdk_disabled_wins_over_an_endpoint() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ]);
        assert!(e.disabled && !e.export_traces && !e.export_metrics);
    }

    #[test]
    fn grpc_is_reported_as_unsupported_and_service_name_found_in_resource_attributes() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, service.name=sis",
            ),
        ]);
        assert_eq!(e.unsupported_protocol.as_deref(), Some("grpc"));
        assert!(e.names_service);
    }
}
