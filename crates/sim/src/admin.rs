//! The test controls under `/__sim/`: inspection, faults, the manual clock, per-import controls.
//!
//! No authentication: the simulator is a test tool that listens on loopback by default. These
//! routes are neither recorded in the request log nor throttled nor subject to faults.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock::canvas_time;
use crate::engine::batch::WorkflowState;
use crate::faults::FaultRule;
use crate::state::{SimState, lock};
use crate::throttle::client_key;

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/__sim/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/__sim/requests", get(requests).delete(clear_requests))
        .route("/__sim/imports", get(imports))
        .route("/__sim/imports/{id}", axum::routing::patch(control_import))
        .route("/__sim/accounts/{id}/content", get(content))
        .route(
            "/__sim/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/__sim/advance", post(advance))
        .route("/__sim/tick", post(tick))
        .route("/__sim/throttle", post(set_throttle).delete(reset_throttle))
}

fn bad(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

async fn requests(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({"requests": lock(&state.requests).all()}))
}

async fn clear_requests(State(state): State<Arc<SimState>>) -> StatusCode {
    lock(&state.requests).clear();
    StatusCode::NO_CONTENT
}

/// Every import with what it held: the upload (name, size, sha256) and the CSVs found in it.
async fn imports(State(state): State<Arc<SimState>>) -> Json<Value> {
    let engine = lock(&state.engine);
    let items: Vec<Value> = engine
        .batches
        .values()
        .map(|b| {
            let upload = b.upload.as_ref().and_then(|u| engine.files.get(u.file_id)).map(|f| {
                json!({"filename": f.display_name, "size": f.bytes.len(), "sha256": hex::encode(Sha256::digest(&f.bytes))})
            });
            let csvs: Vec<Value> = b
                .outcome
                .iter()
                .flat_map(|o| o.csv_files.iter())
                .map(|c| json!({"name": c.name, "kind": c.kind, "size": c.bytes.len(), "sha256": hex::encode(Sha256::digest(&c.bytes))}))
                .collect();
            json!({
                "id": b.id,
                "account_id": b.account_id,
                "workflow_state": b.workflow_state.as_str(),
                "progress": b.progress,
                "created_at": canvas_time(b.created_at),
                "upload": upload,
                "pending_upload": b.pending_upload.as_ref().map(|p| &p.filename),
                "csv_files": csvs,
                "messages": b.outcome.as_ref().map(|o| &o.messages),
                "options": b.options,
                "controls": b.controls,
            })
        })
        .collect();
    Json(json!({"imports": items, "now": canvas_time(state.clock.now())}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportControl {
    /// Force this state now (e.g. `failed`, `imported`, `created`).
    workflow_state: Option<String>,
    /// Freeze (never picked / no progress) or release.
    frozen: Option<bool>,
    rows_per_sec: Option<f64>,
    /// The state it will end in.
    final_state: Option<String>,
}

async fn control_import(
    State(state): State<Arc<SimState>>,
    Path(id): Path<u64>,
    Json(c): Json<ImportControl>,
) -> Response {
    let parse = |s: &Option<String>| -> Result<Option<WorkflowState>, String> {
        match s {
            None => Ok(None),
            Some(s) => WorkflowState::parse(s)
                .map(Some)
                .ok_or_else(|| format!("unknown workflow_state {s:?}")),
        }
    };
    let (forced, final_state) = match (parse(&c.workflow_state), parse(&c.final_state)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let now = state.clock.now();
    {
        let mut engine = lock(&state.engine);
        let Some(controls) = engine.batch_controls_mut(id) else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": format!("no import {id}")})),
            )
                .into_response();
        };
        if let Some(f) = c.frozen {
            controls.frozen = f;
        }
        if c.rows_per_sec.is_some() {
            controls.rows_per_sec = c.rows_per_sec;
        }
        if final_state.is_some() {
            controls.final_state = final_state;
        }
        if let Some(s) = forced {
            engine.force_state(id, s, now);
        }
    }
    state.persist();
    state.wake.notify_one();
    StatusCode::NO_CONTENT.into_response()
}

async fn content(State(state): State<Arc<SimState>>, Path(id): Path<u64>) -> Response {
    let engine = lock(&state.engine);
    match engine.accounts.get(&id) {
        Some(root) => Json(root.content.to_inspection_json()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no root account {id}")})),
        )
            .into_response(),
    }
}

async fn list_faults(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({"faults": lock(&state.faults).list()}))
}

async fn add_fault(State(state): State<Arc<SimState>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => {
            tracing::info!(?rule, "fault armed");
            let id = lock(&state.faults).add(rule);
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(e) => bad(format!("not a fault rule: {e}")),
    }
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    lock(&state.faults).clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

/// Moves a manual clock forward in quarter-second steps, running the engine at each, so an
/// import's progress and the hold after an abort play out as they would in real time.
async fn advance(State(state): State<Arc<SimState>>, Json(a): Json<Advance>) -> Response {
    if !state.clock.is_manual() {
        return bad("the clock is real; start the simulator with --manual-clock to advance it");
    }
    if !(a.seconds.is_finite() && a.seconds >= 0.0 && a.seconds <= 30.0 * 86400.0) {
        return bad("seconds must be between 0 and 2592000");
    }
    let mut left_ms = (a.seconds * 1000.0).round() as i64;
    state.tick();
    while left_ms > 0 {
        let step = left_ms.min(250);
        state.clock.advance(chrono::TimeDelta::milliseconds(step));
        state.tick();
        left_ms -= step;
    }
    Json(json!({"now": canvas_time(state.clock.now())})).into_response()
}

async fn tick(State(state): State<Arc<SimState>>) -> Json<Value> {
    let changed = state.tick();
    Json(json!({"changed": changed, "now": canvas_time(state.clock.now())}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleLevel {
    token: String,
    level: f64,
}

/// Sets a token's bucket level (e.g. 600 to force the next request to be throttled).
async fn set_throttle(
    State(state): State<Arc<SimState>>,
    Json(t): Json<ThrottleLevel>,
) -> StatusCode {
    lock(&state.throttle).set_level(&client_key(&t.token), t.level, state.clock.now());
    StatusCode::NO_CONTENT
}

async fn reset_throttle(State(state): State<Arc<SimState>>) -> StatusCode {
    lock(&state.throttle).reset();
    StatusCode::NO_CONTENT
}
