//! `PUT .../sis_imports/:id/restore_states` and `GET /api/v1/progress/:id`
//! (docs/canvas-api.md §1.8).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::auth::{MaybeCaller, authorize};
use super::error::ApiError;
use super::params::Params;
use crate::config::Permission;
use crate::content::store::RestoreMode;
use crate::engine::progress::RestoreError;
use crate::state::{SimState, lock};

/// Restoring needs `manage_sis` specifically.
pub async fn restore_states(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path((account, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (account_id, caller) = authorize(&state, caller, &account, &[Permission::ManageSis])?;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let params = body_params(&uri, &headers, &body);
    let (undelete, unconclude) = (
        params.truthy("undelete_only"),
        params.truthy("unconclude_only"),
    );
    if undelete && unconclude {
        return Err(ApiError::BadRequest(
            json!({"message": "cannot set both undelete_only and unconclude_only"}),
        ));
    }
    let mode = if undelete {
        RestoreMode::UndeleteOnly
    } else if unconclude {
        RestoreMode::UnconcludeOnly
    } else if params.truthy("batch_mode") {
        RestoreMode::BatchModeOnly
    } else {
        RestoreMode::All
    };
    let now = state.clock.now();
    let result = lock(&state.engine).start_restore(account_id, id, mode, caller.user_id, now);
    let pid = match result {
        Ok(pid) => pid,
        Err(RestoreError::NotFound(_)) => return Err(ApiError::NotFound),
        Err(RestoreError::Unavailable) => {
            return Err(ApiError::BadRequest(
                json!({"message": "restore data unavailable"}),
            ));
        }
    };
    state.persist();
    state.wake.notify_one();
    tracing::info!(batch = id, progress = pid, user = %caller.name, "restore_states started");
    let engine = lock(&state.engine);
    let p = engine.progresses.get(&pid).ok_or(ApiError::NotFound)?;
    Ok(Json(p.to_json(state.base_url())).into_response())
}

/// `GET /api/v1/progress/:id`: any authenticated user who started it, or with SIS permission.
pub async fn progress(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller.0.ok_or(ApiError::NoCredentials)?;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let engine = lock(&state.engine);
    let p = engine.progresses.get(&id).ok_or(ApiError::NotFound)?;
    if p.user_id != caller.user_id && caller.permissions.is_empty() {
        return Err(ApiError::Unauthorized {
            legacy_401: state.config.legacy_unauthorized_401,
        });
    }
    Ok(Json(p.to_json(state.base_url())).into_response())
}

/// Query parameters plus a form or JSON body (canvasapi sends PUT parameters as a form).
pub fn body_params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Params {
    let mut params = Params::from_query(uri.query());
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ct.starts_with("application/json") {
        if let Ok(v) = serde_json::from_slice(body) {
            params.extend_json(&v);
        }
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in form_urlencoded::parse(body) {
            params.push(k.into_owned(), v.into_owned());
        }
    }
    params
}
