//! The Canvas endpoints of the simulator, one module per group, and the router that joins them
//! with the test controls.
//!
//! Routes are Canvas's (docs/canvas-api.md §1): every SIS route is account-scoped; `:account_id`
//! may be a number, `self` or `sis_account_id:X`; a `.json` suffix is accepted (stripped by the
//! server before routing). Unknown routes answer Canvas's 404 body.

pub mod accounts;
pub mod auth;
pub mod create;
pub mod edge;
pub mod error;
pub mod errors_list;
pub mod files;
pub mod imports;
pub mod pagination;
pub mod params;
pub mod restore;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};

use crate::state::SimState;

pub fn router(state: Arc<SimState>) -> Router {
    const ACC: &str = "/api/v1/accounts/{account_id}";
    let api = Router::new()
        .route(ACC, get(accounts::show))
        .route(
            &format!("{ACC}/sis_imports"),
            get(imports::list).post(create::create),
        )
        .route(
            &format!("{ACC}/sis_imports/importing"),
            get(imports::importing),
        )
        .route(
            &format!("{ACC}/sis_imports/abort_all_pending"),
            put(imports::abort_all_pending),
        )
        .route(&format!("{ACC}/sis_imports/{{id}}"), get(imports::show))
        .route(
            &format!("{ACC}/sis_imports/{{id}}/abort"),
            put(imports::abort),
        )
        .route(
            &format!("{ACC}/sis_imports/{{id}}/restore_states"),
            put(restore::restore_states),
        )
        .route(
            &format!("{ACC}/sis_imports/{{id}}/errors"),
            get(errors_list::of_import),
        )
        .route(
            &format!("{ACC}/sis_import_errors"),
            get(errors_list::of_account),
        )
        .route("/api/v1/progress/{id}", get(restore::progress))
        .route("/api/v1/users/{id}", get(users::show))
        .route("/files/{id}/download", get(files::download))
        .route("/files_api/upload/{token}", post(files::upload))
        .fallback(|| async { error::ApiError::NotFound })
        // Rails answers an unrouted method like an unknown path.
        .method_not_allowed_fallback(|| async { error::ApiError::NotFound })
        .layer(from_fn_with_state(state.clone(), edge::canvas_edge));
    api.merge(crate::admin::router())
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}
