//! `GET /api/v1/accounts/:account_id` — the Account JSON, which clients such as canvasapi fetch
//! before calling an account's SIS endpoints.
//!
//! Any authenticated user may read it here (Canvas asks for read rights on the account; the
//! simulator's users are all admins of some kind). Sub-accounts created by `accounts.csv`
//! imports are found too.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::auth::{MaybeCaller, find_configured};
use super::error::ApiError;
use crate::state::{SimState, lock};

pub async fn show(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.0.ok_or(ApiError::NoCredentials)?;
    configured(&state, &account)
        .or_else(|| imported(&state, &account))
        .map(Json)
        .ok_or(ApiError::NotFound)
}

fn configured(state: &SimState, param: &str) -> Option<Value> {
    let a = find_configured(state, param)?;
    Some(json!({
        "id": a.id,
        "name": a.name,
        "uuid": format!("sim-account-{}", a.id),
        "parent_account_id": a.parent_id,
        "root_account_id": a.parent_id,
        "workflow_state": "active",
        "default_time_zone": "Etc/UTC",
        "sis_account_id": a.sis_account_id,
        "integration_id": null,
        "sis_import_id": null,
    }))
}

fn imported(state: &SimState, param: &str) -> Option<Value> {
    let engine = lock(&state.engine);
    engine.accounts.iter().find_map(|(root_id, root)| {
        let e = root.content.sub_account(param)?;
        Some(json!({
            "id": e.id,
            "name": e.field("name").unwrap_or_default(),
            "uuid": format!("sim-account-{}", e.id),
            "parent_account_id": e.refs.get("parent_account").copied().unwrap_or(*root_id),
            "root_account_id": root_id,
            "workflow_state": "active",
            "default_time_zone": "Etc/UTC",
            "sis_account_id": e.sis_id,
            "integration_id": e.field("integration_id"),
            "sis_import_id": e.sis_batch_id,
        }))
    })
}
