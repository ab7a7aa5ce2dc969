//! `GET /api/v1/users/:id` for `self` (or the caller's own id): the User JSON of the token's
//! user, as Canvas's `users#api_show` renders it — the same `id` the user gets as `user` on the
//! imports it creates, which is how a client tells its own imports from anyone else's.
//!
//! Other users are not served: the simulator holds no users besides the tokens' own; they get
//! Canvas's "user not authorized" answer.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::auth::MaybeCaller;
use super::error::ApiError;
use crate::state::SimState;

pub async fn show(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller.0.ok_or(ApiError::NoCredentials)?;
    let own = id == "self" || id.parse::<u64>().ok() == Some(caller.user_id);
    if !own {
        return Err(ApiError::Unauthorized {
            legacy_401: state.config.legacy_unauthorized_401,
        });
    }
    let mut user = state.user_json(caller.user_id).ok_or(ApiError::NotFound)?;
    // api_show adds these includes (locale, effective_locale, permissions) to the User JSON.
    if let Some(m) = user.as_object_mut() {
        m.insert("locale".into(), Value::Null);
        m.insert("effective_locale".into(), "en".into());
        m.insert(
            "permissions".into(),
            serde_json::json!({"can_update_name": true, "can_update_avatar": false,
                "limit_parent_app_web_access": false}),
        );
    }
    Ok(Json(user))
}
