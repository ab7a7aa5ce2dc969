//! What happens to every Canvas API request before and after its handler: it is recorded for
//! inspection, matched against the test's fault rules, and passed through the throttle.
//!
//! The body is read here, once, up to the configured limit (413 past it), so the log can carry its
//! size and sha256 and handlers get it whole.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::bearer_token;
use super::error::{ApiError, throttled_response};
use crate::clock::canvas_time;
use crate::faults::FaultAction;
use crate::inspect::{RecordedRequest, logged_header_value, mask_query};
use crate::server::{ConnControl, OriginalPath};
use crate::state::{SimState, lock};
use crate::throttle::{Admission, client_key};

pub async fn canvas_edge(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    // The pre_attachment upload URL is the file host, made for large files: its own limit.
    let upload = parts.uri.path().starts_with("/files_api/upload/");
    let limit = if upload {
        state.config.max_upload_bytes
    } else {
        state.config.max_body_bytes
    };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError::TooLarge { limit, upload }.into_response();
    };
    let path = parts
        .extensions
        .get::<OriginalPath>()
        .map(|p| p.0.clone())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let method = parts.method.to_string();
    let seq = lock(&state.requests).push(RecordedRequest {
        seq: 0,
        at: canvas_time(state.clock.now()),
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(mask_query),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), logged_header_value(k.as_str(), v.as_bytes())))
            .collect(),
        body_size: bytes.len(),
        body_sha256: hex::encode(Sha256::digest(&bytes)),
        status: None,
    });
    let conn = parts.extensions.get::<ConnControl>().cloned();
    let token = bearer_token(&parts);
    let mut req = Request::from_parts(parts, Body::from(bytes));

    let fault = lock(&state.faults).fire(&method, &path);
    let mut drop_after = false;
    let mut delay = None;
    let mut delay_after = None;
    match fault {
        Some(FaultAction::Status { status, body }) => {
            tracing::info!(%method, %path, status, "fault: answering with a chosen status");
            return record(&state, seq, fault_status(&state, status, body));
        }
        Some(FaultAction::Delay { millis }) => {
            tracing::info!(%method, %path, millis, "fault: slow handling");
            delay = Some(std::time::Duration::from_millis(millis));
        }
        Some(FaultAction::Hang) => {
            tracing::info!(%method, %path, "fault: never answering");
            return std::future::pending().await;
        }
        Some(FaultAction::DropBefore) => {
            tracing::info!(%method, %path, "fault: dropping the connection unanswered");
            return drop_connection(conn).await;
        }
        Some(FaultAction::DropAfter) => drop_after = true,
        Some(FaultAction::DelayAfter { millis }) => {
            delay_after = Some(std::time::Duration::from_millis(millis));
        }
        Some(FaultAction::Throttle) => {
            return record(&state, seq, throttled_response(throttle_429(&state)));
        }
        Some(action @ FaultAction::Import { .. }) => {
            req.extensions_mut().insert(action);
        }
        None => {}
    }

    let resp = throttled_call(&state, token.as_deref(), delay, req, next).await;
    let resp = record(&state, seq, resp);
    if let Some(d) = delay_after {
        tracing::info!(%method, %path, millis = d.as_millis() as u64, "fault: request handled, answer held back");
        tokio::time::sleep(d).await;
    }
    if drop_after {
        tracing::info!(%method, %path, "fault: request handled, connection dropped before the answer");
        return drop_connection(conn).await;
    }
    resp
}

fn throttle_429(state: &SimState) -> bool {
    state.config.throttle.status == crate::config::ThrottleStatus::TooMany429
}

/// Runs the handler inside the token's leaky bucket, adding Canvas's rate-limit headers.
/// A `delay` fault is slow *handling*: it happens after admission, holding the up-front cost.
async fn throttled_call(
    state: &SimState,
    token: Option<&str>,
    delay: Option<std::time::Duration>,
    req: Request,
    next: Next,
) -> Response {
    let cfg = &state.config.throttle;
    let Some(key) = token.filter(|_| cfg.enabled).map(client_key) else {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        return next.run(req).await;
    };
    let admitted = lock(&state.throttle).admit(&key, cfg, state.clock.now());
    if admitted == Admission::Throttled {
        tracing::info!("request throttled: bucket over the high-water mark");
        return throttled_response(throttle_429(state));
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = next.run(req).await;
    let remaining = lock(&state.throttle).finish(&key, cfg, cfg.request_cost, state.clock.now());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{:.1}", cfg.request_cost)) {
        h.insert("x-request-cost", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{remaining:.1}")) {
        h.insert("x-rate-limit-remaining", v);
    }
    resp
}

fn record(state: &SimState, seq: u64, resp: Response) -> Response {
    lock(&state.requests).set_status(seq, resp.status().as_u16());
    resp
}

fn fault_status(state: &SimState, status: u16, body: Option<String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match body {
        Some(b) => (code, b).into_response(),
        None if code.is_server_error() => {
            let mut r = ApiError::Internal(state.next_error_report()).into_response();
            *r.status_mut() = code;
            r
        }
        None => (code, axum::Json(serde_json::json!({}))).into_response(),
    }
}

/// Asks the server to close this connection now, and never answers.
async fn drop_connection(conn: Option<ConnControl>) -> Response {
    if let Some(c) = conn {
        c.kill();
    }
    std::future::pending().await
}
