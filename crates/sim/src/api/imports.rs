//! The read and abort endpoints of SIS imports: list, importing, show, abort, abort_all_pending
//! (docs/canvas-api.md §1.3–§1.7).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::auth::{MaybeCaller, authorize};
use super::error::ApiError;
use super::pagination::paginate;
use super::params::Params;
use crate::config::Permission;
use crate::engine::Engine;
use crate::engine::batch::{Batch, WorkflowState};
use crate::engine::render::sis_import_json;
use crate::state::{SimState, lock};

/// Reading and aborting need either SIS permission.
pub const READ: &[Permission] = &[Permission::ImportSis, Permission::ManageSis];

fn render(state: &SimState, engine: &Engine, b: &Batch) -> Value {
    sis_import_json(
        b,
        &engine.files,
        state.user_json(b.user_id),
        state.base_url(),
        state.clock.now(),
    )
}

/// `GET .../sis_imports`: `{"sis_imports":[...]}`, newest first, filtered, paginated without `last`.
pub async fn list(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(account): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (account_id, _) = authorize(&state, caller, &account, READ)?;
    let params = Params::from_query(uri.query());
    let since = params.get("created_since").and_then(parse_time);
    let before = params.get("created_before").and_then(parse_time);
    let wanted: Vec<WorkflowState> = params
        .all("workflow_state")
        .into_iter()
        .filter_map(WorkflowState::parse)
        .collect();
    // Canvas intersects with the valid states: when every value was unknown, nothing is filtered.
    let engine = lock(&state.engine);
    let rows: Vec<&Batch> = engine
        .batches_of(account_id)
        .into_iter()
        .filter(|b| since.is_none_or(|t| b.created_at > t))
        .filter(|b| before.is_none_or(|t| b.created_at < t))
        .filter(|b| wanted.is_empty() || wanted.contains(&b.workflow_state))
        .collect();
    let url = format!("{}{}", state.base_url(), uri.path());
    let page = paginate(rows.len(), params.pairs(), &url, false);
    let items: Vec<Value> = rows[page.range.clone()]
        .iter()
        .map(|b| render(&state, &engine, b))
        .collect();
    Ok(with_link(
        Json(json!({"sis_imports": items})).into_response(),
        &page.link,
    ))
}

/// `GET .../sis_imports/importing`: batches in `importing` or `cleanup_batch`; not paginated.
pub async fn importing(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    let (account_id, _) = authorize(&state, caller, &account, READ)?;
    let engine = lock(&state.engine);
    let items: Vec<Value> = engine
        .batches_of(account_id)
        .into_iter()
        .filter(|b| b.workflow_state.is_running())
        .map(|b| render(&state, &engine, b))
        .collect();
    Ok(Json(json!({"sis_imports": items})).into_response())
}

/// `GET .../sis_imports/:id`.
pub async fn show(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (account_id, _) = authorize(&state, caller, &account, READ)?;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let engine = lock(&state.engine);
    let b = engine
        .batches
        .get(&id)
        .filter(|b| b.account_id == account_id)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(render(&state, &engine, b)).into_response())
}

/// `PUT .../sis_imports/:id/abort`: only not-completed batches are found (404 otherwise).
pub async fn abort(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (account_id, caller) = authorize(&state, caller, &account, READ)?;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let now = state.clock.now();
    let json = {
        let mut engine = lock(&state.engine);
        engine
            .abort(account_id, id, now)
            .ok_or(ApiError::NotFound)?;
        let b = engine.batches.get(&id).ok_or(ApiError::NotFound)?;
        render(&state, &engine, b)
    };
    state.persist();
    tracing::info!(batch = id, user = %caller.name, "SIS import aborted");
    Ok(Json(json).into_response())
}

/// `PUT .../sis_imports/abort_all_pending`: `{"aborted": true}`.
pub async fn abort_all_pending(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    let (account_id, caller) = authorize(&state, caller, &account, READ)?;
    let n = lock(&state.engine).abort_all_pending(account_id, state.clock.now());
    state.persist();
    tracing::info!(account = account_id, aborted = n, user = %caller.name, "pending SIS imports aborted");
    Ok(Json(json!({"aborted": true})).into_response())
}

/// Canvas ignores filters it cannot parse.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

pub fn with_link(mut resp: Response, link: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(link) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}
