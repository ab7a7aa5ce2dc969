//! Who is calling, and may they touch this account's SIS imports (docs/canvas-api.md §1.1, §6.3).
//!
//! The order is Canvas's: a bad token is refused before anything else; then the account is
//! loaded (404), checked to be a root account (400) with SIS imports allowed (403); only then is
//! the permission checked — so a request without credentials still learns that an account does
//! not exist, exactly as Canvas answers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::Arc;

use super::error::ApiError;
use crate::config::{AccountSpec, Permission, TokenStatus};
use crate::state::{SimState, lock};

/// An authenticated caller (the token's user).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: u64,
    pub name: String,
    pub permissions: Vec<Permission>,
}

/// The caller, if credentials were sent. Extraction fails only on a bad token.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

/// The bearer token of a request: `Authorization: Bearer X`, or `?access_token=X`.
pub fn bearer_token(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION)
        && let Ok(v) = h.to_str()
    {
        let v = v.trim();
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_owned());
        }
    }
    parts.uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    })
}

impl FromRequestParts<Arc<SimState>> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SimState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(secret) = bearer_token(parts) else {
            return Ok(MaybeCaller(None));
        };
        let (user_id, spec) = state.token(&secret).ok_or(ApiError::InvalidToken)?;
        match spec.status {
            TokenStatus::Active => {}
            TokenStatus::Expired => return Err(ApiError::ExpiredToken),
            TokenStatus::Revoked => return Err(ApiError::RevokedToken),
            TokenStatus::InsufficientScopes => return Err(ApiError::InsufficientScopes),
        }
        Ok(MaybeCaller(Some(Caller {
            user_id,
            name: spec.name.clone(),
            permissions: spec.permissions.clone(),
        })))
    }
}

/// Resolves `:account_id` to a root account the caller may use with one of `any_of`.
/// Returns the root account's id and the caller.
pub fn authorize(
    state: &SimState,
    caller: MaybeCaller,
    account_param: &str,
    any_of: &[Permission],
) -> Result<(u64, Caller), ApiError> {
    let account = find_account(state, account_param).ok_or(ApiError::NotFound)?;
    match account {
        Found::Sub => return Err(ApiError::NotRootAccount),
        Found::Root {
            allow_sis: false, ..
        } => return Err(ApiError::SisNotEnabled),
        Found::Root { .. } => {}
    }
    let Found::Root { id, .. } = account else {
        return Err(ApiError::NotFound);
    };
    let caller = caller.0.ok_or(ApiError::NoCredentials)?;
    if !caller.permissions.iter().any(|p| any_of.contains(p)) {
        return Err(ApiError::Unauthorized {
            legacy_401: state.config.legacy_unauthorized_401,
        });
    }
    Ok((id, caller))
}

enum Found {
    Root { id: u64, allow_sis: bool },
    Sub,
}

/// Canvas's `api_find` among the configured accounts: a numeric id, `self` (the first root
/// account), or `sis_account_id:X`.
pub fn find_configured<'a>(state: &'a SimState, param: &str) -> Option<&'a AccountSpec> {
    let accounts = &state.config.accounts;
    if param == "self" {
        accounts.iter().find(|a| a.parent_id.is_none())
    } else if let Some(sis) = param.strip_prefix("sis_account_id:") {
        accounts
            .iter()
            .find(|a| a.sis_account_id.as_deref() == Some(sis))
    } else {
        let id: u64 = param.parse().ok()?;
        accounts.iter().find(|a| a.id == id)
    }
}

/// Configured accounts first, then sub-accounts created by imports.
fn find_account(state: &SimState, param: &str) -> Option<Found> {
    let spec = find_configured(state, param);
    if let Some(a) = spec {
        return Some(match a.parent_id {
            None => Found::Root {
                id: a.id,
                allow_sis: a.allow_sis_import,
            },
            Some(_) => Found::Sub,
        });
    }
    let engine = lock(&state.engine);
    engine
        .accounts
        .values()
        .any(|root| root.content.find_sub_account(param).is_some())
        .then_some(Found::Sub)
}
