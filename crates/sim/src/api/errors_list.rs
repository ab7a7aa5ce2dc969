//! `GET .../sis_imports/:id/errors` and `GET .../sis_import_errors` (docs/canvas-api.md §1.9):
//! `{"sis_import_errors":[{sis_import_id,file,message,row,row_info}]}`, newest first, paginated
//! with a `last` link; `failure=true` keeps only failure-level errors.
//!
//! Errors of a batch are listed once its import has produced them (the simulator records them
//! when the job reports, not row by row).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{MaybeCaller, authorize};
use super::error::ApiError;
use super::imports::{READ, with_link};
use super::pagination::paginate;
use super::params::Params;
use crate::engine::Engine;
use crate::state::{SimState, lock};

pub async fn of_import(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path((account, id)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (account_id, _) = authorize(&state, caller, &account, READ)?;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let engine = lock(&state.engine);
    if engine
        .batches
        .get(&id)
        .is_none_or(|b| b.account_id != account_id)
    {
        return Err(ApiError::NotFound);
    }
    Ok(respond(&state, &engine, account_id, Some(id), &uri))
}

pub async fn of_account(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(account): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (account_id, _) = authorize(&state, caller, &account, READ)?;
    let engine = lock(&state.engine);
    Ok(respond(&state, &engine, account_id, None, &uri))
}

fn respond(
    state: &SimState,
    engine: &Engine,
    account_id: u64,
    only: Option<u64>,
    uri: &Uri,
) -> Response {
    let params = Params::from_query(uri.query());
    let failures_only = params.truthy("failure");
    let mut rows: Vec<Value> = Vec::new();
    for b in engine.batches_of(account_id) {
        if only.is_some_and(|id| id != b.id) {
            continue;
        }
        let Some(outcome) = &b.outcome else { continue };
        for m in outcome
            .messages
            .iter()
            .filter(|m| !failures_only || m.failure)
        {
            rows.push(json!({
                "sis_import_id": b.id,
                "file": m.file,
                "message": m.message,
                "row": m.row,
                "row_info": m.row_info,
            }));
        }
    }
    let url = format!("{}{}", state.base_url(), uri.path());
    let page = paginate(rows.len(), params.pairs(), &url, true);
    let items = rows[page.range.clone()].to_vec();
    with_link(
        Json(json!({"sis_import_errors": items})).into_response(),
        &page.link,
    )
}
