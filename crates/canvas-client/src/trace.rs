//! The span of one Canvas HTTP request (HTTP client conventions) and the low-cardinality route
//! it is counted under. Written with the `tracing` facade; `telemetry` exports it.

use tracing::Span;
use tracing::field::Empty;

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

/// Marks `span` failed (OTel status `ERROR`).
pub(crate) fn mark_error(span: &Span) {
    span.record("otel.status_code", "ERROR");
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
