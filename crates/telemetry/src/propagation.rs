//! `OTEL_PROPAGATORS`: which context formats the worker reads from a queue message's attributes
//! (and would write): a comma list of `tracecontext` (W3C `traceparent`/`tracestate`), `baggage`
//! (W3C `baggage`) and `none`; unset or empty, the specification's default `tracecontext,baggage`.
//! Other names (`b3`, `jaeger`, `xray`, ...) are not built in: they are reported once at start and
//! left out, never a reason not to start.

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

/// The propagators `OTEL_PROPAGATORS` (its raw value) names, and the names not built in.
pub fn chosen(raw: Option<&str>) -> (TextMapCompositePropagator, Vec<String>) {
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("tracecontext,baggage");
    let mut parts: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = Vec::new();
    for name in raw.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        if name.is_empty() || seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        match name.as_str() {
            "tracecontext" => parts.push(Box::new(TraceContextPropagator::new())),
            "baggage" => parts.push(Box::new(BaggagePropagator::new())),
            "none" => {}
            _ => unknown.push(name),
        }
    }
    if seen.iter().any(|n| n == "none") {
        parts.clear();
    }
    (TextMapCompositePropagator::new(parts), unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header names the propagators read, sorted (the composite keeps them in a set).
    fn fields(raw: Option<&str>) -> Vec<String> {
        let (p, _) = chosen(raw);
        let mut f: Vec<String> = p.fields().map(str::to_owned).collect();
        f.sort();
        f
    }

    #[test]
    fn unset_means_tracecontext_and_baggage() {
        let f = fields(None);
        assert!(
            f.contains(&"traceparent".to_owned()) && f.contains(&"baggage".to_owned()),
            "{f:?}"
        );
        assert_eq!(fields(Some("  ")), f);
    }

    #[test]
    fn each_name_adds_its_format_and_none_turns_them_off() {
        assert_eq!(fields(Some("tracecontext")), ["traceparent", "tracestate"]);
        assert_eq!(fields(Some("baggage")), ["baggage"]);
        assert!(fields(Some("none")).is_empty());
        assert!(fields(Some("tracecontext,none")).is_empty());
    }

    #[test]
    fn unknown_propagators_are_reported_not_fatal() {
        let (p, unknown) = chosen(Some("b3, tracecontext, xray"));
        assert_eq!(unknown, ["b3", "xray"]);
        assert!(p.fields().any(|f| f == "traceparent"));
    }
}
