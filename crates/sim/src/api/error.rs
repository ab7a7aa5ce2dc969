//! Canvas's error answers, with the exact status codes, bodies and headers of
//! docs/canvas-api.md §1.1 and §6.3. Every failure of a Canvas endpoint goes through [`ApiError`],
//! so no handler can answer an error in a shape Canvas would not use.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no credentials")]
    NoCredentials,
    #[error("invalid access token")]
    InvalidToken,
    #[error("expired access token")]
    ExpiredToken,
    #[error("revoked access token")]
    RevokedToken,
    #[error("insufficient scopes")]
    InsufficientScopes,
    /// Authenticated, but without the permission; 403 on current Canvas, 401 on older ones.
    #[error("user not authorized")]
    Unauthorized { legacy_401: bool },
    #[error("resource does not exist")]
    NotFound,
    #[error("not a root account")]
    NotRootAccount,
    #[error("SIS imports not enabled")]
    SisNotEnabled,
    /// A 400 whose body Canvas writes by hand at that spot.
    #[error("bad request: {0}")]
    BadRequest(Value),
    #[error("internal error (report {0})")]
    Internal(u64),
    #[error("request body over {limit} bytes")]
    TooLarge { limit: usize, upload: bool },
    #[error("rate limit exceeded")]
    Throttled { status_429: bool },
}

fn www_authenticate() -> (header::HeaderName, HeaderValue) {
    (
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"canvas-lms\""),
    )
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let msg = |m: &str| json!({"errors": [{"message": m}]});
        match self {
            ApiError::NoCredentials => {
                let body = json!({"status": "unauthenticated", "errors": [{"message": "user authorization required"}]});
                (
                    StatusCode::UNAUTHORIZED,
                    [www_authenticate()],
                    axum::Json(body),
                )
                    .into_response()
            }
            ApiError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                [www_authenticate()],
                axum::Json(msg("Invalid access token.")),
            )
                .into_response(),
            ApiError::ExpiredToken => {
                let body = json!({"errors": [{"message": "Expired access token.", "expired_at": "2020-01-01T00:00:00Z"}]});
                (
                    StatusCode::UNAUTHORIZED,
                    [www_authenticate()],
                    axum::Json(body),
                )
                    .into_response()
            }
            ApiError::RevokedToken => (
                StatusCode::UNAUTHORIZED,
                [www_authenticate()],
                axum::Json(msg("Revoked access token.")),
            )
                .into_response(),
            ApiError::InsufficientScopes => json_response(
                StatusCode::UNAUTHORIZED,
                msg("Insufficient scopes on access token."),
            ),
            ApiError::Unauthorized { legacy_401 } => {
                let status = if legacy_401 {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::FORBIDDEN
                };
                let body = json!({"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]});
                json_response(status, body)
            }
            ApiError::NotFound => json_response(
                StatusCode::NOT_FOUND,
                msg("The specified resource does not exist."),
            ),
            ApiError::NotRootAccount => json_response(
                StatusCode::BAD_REQUEST,
                json!({"errors": ["SIS imports can only be executed on root accounts"]}),
            ),
            ApiError::SisNotEnabled => json_response(
                StatusCode::FORBIDDEN,
                json!({"errors": ["SIS imports are not enabled for this account"]}),
            ),
            ApiError::BadRequest(body) => json_response(StatusCode::BAD_REQUEST, body),
            ApiError::Internal(report) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}], "error_report_id": report}),
            ),
            ApiError::TooLarge { limit, upload } => {
                let hint = if upload {
                    "raise the simulator's --max-upload-bytes"
                } else {
                    "use the pre_attachment upload flow, or raise the simulator's --max-body-bytes"
                };
                json_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"errors": [{"message": format!("Request body exceeds the simulator's limit of {limit} bytes; {hint}.")}]}),
                )
            }
            ApiError::Throttled { status_429 } => throttled_response(status_429),
        }
    }
}

/// Canvas's throttled answer: text/plain, no `X-Request-Cost`, remaining budget 0.
pub fn throttled_response(status_429: bool) -> Response {
    let status = if status_429 {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::FORBIDDEN
    };
    let body = if status_429 {
        "429 Too Many Requests (Rate Limit Exceeded)\n"
    } else {
        "403 Forbidden (Rate Limit Exceeded)\n"
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::HeaderName::from_static("x-rate-limit-remaining"),
                "0.0",
            ),
        ],
        body,
    )
        .into_response()
}
