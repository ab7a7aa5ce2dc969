//! Canvas's error answers turned into [`CanvasError`]s (docs/canvas-api.md §1.1, §6.3).
//!
//! Canvas writes errors in several shapes (`{"errors":[{"message":..}]}`, `{"errors":["..."]}`,
//! `{"message":..}`, `{"error_message":..}`, `{"error":..}`, plain text); [`canvas_message`]
//! reads them all. [`classify`] decides, from status and body only, what kind of failure it is;
//! whether to retry is the request loop's business.

use super::error::{CanvasError, NeededPermission, TokenProblem};
use super::retry::is_throttled;

/// What the request is, for error messages: method and path, account, what was looked up.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub method: &'static str,
    /// The path only, never the query.
    pub endpoint: String,
    pub account: Option<String>,
    /// What a 404 means here, e.g. "SIS import 12 on account 1".
    pub what: String,
    pub needed: NeededPermission,
}

/// A failed answer, sorted by what the loop may do with it.
#[derive(Debug)]
pub enum Failure {
    /// Rate limited: back off and retry (any method; Canvas did not handle the request).
    Throttled { status: u16 },
    /// 5xx: retry a safe call; for a POST the outcome is unknown.
    Server { status: u16, message: String },
    /// Retrying will not change the answer.
    Final(CanvasError),
}

/// Longest Canvas message kept in an error.
const MAX_MESSAGE: usize = 500;

pub fn classify(call: &CallInfo, status: u16, body: &[u8]) -> Failure {
    if is_throttled(status, body) {
        return Failure::Throttled { status };
    }
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = canvas_message(json.as_ref(), body);
    let unauthorized = json
        .as_ref()
        .and_then(|j| j.get("status"))
        .and_then(|s| s.as_str())
        == Some("unauthorized");
    let account = call.account.clone().unwrap_or_else(|| "-".into());
    let (method, endpoint) = (call.method.to_owned(), call.endpoint.clone());
    let err = match status {
        401 | 403 if unauthorized => CanvasError::Forbidden {
            method,
            endpoint,
            account,
            status,
            needed: call.needed,
        },
        401 => CanvasError::Token {
            method,
            endpoint,
            problem: token_problem(&message),
            message,
        },
        403 if message.contains("not enabled") => CanvasError::SisNotEnabled { account, message },
        400 if message.contains("root accounts") => {
            CanvasError::NotRootAccount { account, message }
        }
        404 => CanvasError::NotFound {
            method,
            endpoint,
            what: call.what.clone(),
            message,
        },
        s if s >= 500 => return Failure::Server { status, message },
        _ => CanvasError::Rejected {
            method,
            endpoint,
            status,
            message,
        },
    };
    Failure::Final(err)
}

fn token_problem(message: &str) -> TokenProblem {
    let m = message.to_ascii_lowercase();
    if m.contains("expired") {
        TokenProblem::Expired
    } else if m.contains("revoked") {
        TokenProblem::Revoked
    } else if m.contains("scope") {
        TokenProblem::InsufficientScopes
    } else if m.contains("invalid access token") {
        TokenProblem::Invalid
    } else if m.contains("authorization required") {
        TokenProblem::Missing
    } else {
        TokenProblem::Unexplained
    }
}

/// Canvas's message, whatever shape it came in; plain text bodies are kept (shortened).
pub fn canvas_message(json: Option<&serde_json::Value>, body: &[u8]) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    let from_json = json.and_then(|j| {
        if let Some(errors) = j.get("errors") {
            let parts: Vec<String> = match errors {
                serde_json::Value::Array(items) => items.iter().filter_map(text).collect(),
                other => text(other).into_iter().collect(),
            };
            if !parts.is_empty() {
                return Some(parts.join("; "));
            }
        }
        ["message", "error_message", "error"]
            .iter()
            .find_map(|k| j.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
            .or_else(|| j.as_str().map(str::to_owned))
    });
    let msg = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let msg = if msg.is_empty() {
        "(empty answer)".to_owned()
    } else {
        msg
    };
    shorten(&msg)
}

fn shorten(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(needed: NeededPermission) -> CallInfo {
        CallInfo {
            method: "POST",
            endpoint: "/api/v1/accounts/1/sis_imports".into(),
            account: Some("1".into()),
            what: "account 1".into(),
            needed,
        }
    }

    #[test]
    fn canvas_message_shapes() {
        let m = |s: &str| canvas_message(serde_json::from_str(s).ok().as_ref(), s.as_bytes());
        assert_eq!(
            m(r#"{"errors":[{"message":"The specified resource does not exist."}]}"#),
            "The specified resource does not exist."
        );
        assert_eq!(
            m(r#"{"errors":["SIS imports can only be executed on root accounts"]}"#),
            "SIS imports can only be executed on root accounts"
        );
        assert_eq!(
            m(
                r#"{"message":"Batch mode specified, but the given batch_mode_term_id cannot be found."}"#
            ),
            "Batch mode specified, but the given batch_mode_term_id cannot be found."
        );
        assert_eq!(
            m(r#"{"error":true,"error_message":"Missing attachment"}"#),
            "Missing attachment"
        );
        assert_eq!(
            m(r#"{"error":"Invalid content type, UTF-8 required"}"#),
            "Invalid content type, UTF-8 required"
        );
        assert_eq!(m("\"cannot set both\""), "cannot set both");
        assert_eq!(m("oops\n"), "oops");
    }

    #[test]
    fn statuses_map_to_kinds() {
        let c = call(NeededPermission::ImportSis);
        let f = |status, body: &str| classify(&c, status, body.as_bytes());
        assert!(matches!(
            f(403, "403 Forbidden (Rate Limit Exceeded)\n"),
            Failure::Throttled { .. }
        ));
        assert!(matches!(
            f(
                403,
                r#"{"status":"unauthorized","errors":[{"message":"user not authorized to perform that action"}]}"#
            ),
            Failure::Final(CanvasError::Forbidden {
                needed: NeededPermission::ImportSis,
                ..
            })
        ));
        assert!(matches!(
            f(401, r#"{"status":"unauthorized","errors":[]}"#),
            Failure::Final(CanvasError::Forbidden { status: 401, .. })
        ));
        assert!(matches!(
            f(401, r#"{"errors":[{"message":"Expired access token."}]}"#),
            Failure::Final(CanvasError::Token {
                problem: TokenProblem::Expired,
                ..
            })
        ));
        assert!(matches!(
            f(
                403,
                r#"{"errors":["SIS imports are not enabled for this account"]}"#
            ),
            Failure::Final(CanvasError::SisNotEnabled { .. })
        ));
        assert!(matches!(f(503, ""), Failure::Server { status: 503, .. }));
        assert!(matches!(
            f(422, "{}"),
            Failure::Final(CanvasError::Rejected { status: 422, .. })
        ));
    }
}
