//! What can go wrong talking to Canvas, and what the caller should do about it.
//!
//! Each variant carries what identifies the failure: the call (method and path, never the query
//! or a token), the account, the import id where there is one, the HTTP status and Canvas's own
//! message. [`CanvasError::class`] tells the pipeline what to do: retry later, give up, wait
//! out throttling, fix credentials, or — for a POST whose outcome is unknown — look before
//! sending again. The client has already retried what is safe to retry before returning
//! `Retryable` or `Throttled`.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::options::OptionsError;

/// What the caller should do with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient (network, timeout, 5xx): try the same call again later.
    Retryable,
    /// The request is wrong or the thing does not exist: retrying will not help.
    Permanent,
    /// Canvas's rate limit: wait, then retry.
    Throttled,
    /// The token or its permissions: a human must fix credentials.
    Auth,
    /// A non-idempotent call may or may not have taken effect: look before sending again.
    Uncertain,
}

/// A permission Canvas checks for SIS endpoints (docs/canvas-api.md §1, §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeededPermission {
    /// Create needs `import_sis` specifically.
    ImportSis,
    /// Restore needs `manage_sis` specifically.
    ManageSis,
    /// Reads and aborts accept either.
    Either,
}

impl std::fmt::Display for NeededPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NeededPermission::ImportSis => {
                "the account permission import_sis (\"Import SIS data\")"
            }
            NeededPermission::ManageSis => {
                "the account permission manage_sis (\"Manage SIS data\")"
            }
            NeededPermission::Either => "one of the account permissions import_sis or manage_sis",
        })
    }
}

/// Why Canvas refused the token itself (HTTP 401, docs/canvas-api.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Canvas saw no credentials.
    Missing,
    /// Unknown token (mistyped, or deleted).
    Invalid,
    Expired,
    Revoked,
    /// A scoped developer key without the SIS scopes.
    InsufficientScopes,
    /// A 401 Canvas did not explain.
    Unexplained,
}

impl std::fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenProblem::Missing => "Canvas saw no credentials; check that a token is configured",
            TokenProblem::Invalid => "the access token is invalid (mistyped or deleted); generate a new one",
            TokenProblem::Expired => "the access token has expired; generate or refresh it",
            TokenProblem::Revoked => "the access token was revoked; generate a new one",
            TokenProblem::InsufficientScopes => {
                "the access token's developer key lacks the SIS scopes (url:POST|/api/v1/accounts/:account_id/sis_imports and the other sis_imports routes); add them to the key"
            }
            TokenProblem::Unexplained => "Canvas refused the token without saying why",
        })
    }
}

/// How a request failed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No connection was made: the request was never sent.
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke while sending or before the answer was read.
    Broken,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Broken => "connection broken before the answer arrived",
        })
    }
}

/// A failure of the Canvas client. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum CanvasError {
    #[error("Canvas client configuration: {0}")]
    Config(String),

    #[error(
        "refusing plain http to {host}: the token would travel unencrypted; use https (http is allowed only for loopback hosts or with allow_insecure_http)"
    )]
    InsecureUrl { host: String },

    #[error("{0}")]
    Options(#[from] OptionsError),

    #[error("{method} {endpoint}: {kind} after {attempts} attempt(s) ({detail})")]
    Transport {
        method: String,
        endpoint: String,
        kind: TransportKind,
        attempts: u32,
        detail: String,
    },

    #[error(
        "{method} {endpoint}: Canvas answered HTTP {status} after {attempts} attempt(s): {message}"
    )]
    Server {
        method: String,
        endpoint: String,
        status: u16,
        attempts: u32,
        message: String,
    },

    #[error(
        "{method} {endpoint}: still rate limited by Canvas after {attempts} attempt(s) (HTTP {status}); slow down and retry later"
    )]
    Throttled {
        method: String,
        endpoint: String,
        status: u16,
        attempts: u32,
    },

    #[error("{method} {endpoint}: HTTP 401: {problem} (Canvas said: {message})")]
    Token {
        method: String,
        endpoint: String,
        problem: TokenProblem,
        message: String,
    },

    #[error(
        "{method} {endpoint}: HTTP {status}: the token's user lacks permission on account {account}; it needs {needed}"
    )]
    Forbidden {
        method: String,
        endpoint: String,
        account: String,
        status: u16,
        needed: NeededPermission,
    },

    #[error(
        "account {account} is a sub-account; SIS imports run on root accounts only (Canvas said: {message})"
    )]
    NotRootAccount { account: String, message: String },

    #[error(
        "SIS imports are not enabled for account {account}; ask Instructure or a site admin to turn on allow_sis_import (Canvas said: {message})"
    )]
    SisNotEnabled { account: String, message: String },

    #[error("{method} {endpoint}: {what} was not found (HTTP 404; Canvas said: {message})")]
    NotFound {
        method: String,
        endpoint: String,
        what: String,
        message: String,
    },

    #[error("{method} {endpoint}: Canvas refused the request (HTTP {status}): {message}")]
    Rejected {
        method: String,
        endpoint: String,
        status: u16,
        message: String,
    },

    #[error("{method} {endpoint}: could not read Canvas's answer: {detail}")]
    Decode {
        method: String,
        endpoint: String,
        detail: String,
    },

    #[error(
        "creating a SIS import on account {account}: the request was sent at {sent_at} but its outcome is unknown ({cause}); an import may exist: look for it (find_import_created_since) before sending again"
    )]
    CreateOutcomeUnknown {
        account: String,
        sent_at: DateTime<Utc>,
        cause: String,
    },

    #[error(
        "{method} {endpoint}: sent at {sent_at}, outcome unknown ({cause}); check the import's state before sending again"
    )]
    OutcomeUnknown {
        method: String,
        endpoint: String,
        sent_at: DateTime<Utc>,
        cause: String,
    },

    #[error(
        "SIS import {import_id} on account {account} was created, but uploading its file to {upload_host} failed ({cause}); check the import: if it stays in initializing, abort it and send again"
    )]
    UploadFailed {
        account: String,
        import_id: u64,
        upload_host: String,
        cause: String,
    },

    #[error(
        "SIS import {import_id} on account {account} was created, but its file never reached {upload_host} ({cause}); the import was aborted (Canvas never processes an import without its file): send the batch again"
    )]
    UploadAbandoned {
        account: String,
        import_id: u64,
        upload_host: String,
        cause: String,
    },

    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{endpoint}: more than {limit} pages; stopping (raise max_pages if this is expected)")]
    TooManyPages { endpoint: String, limit: u32 },

    #[error(
        "{endpoint}: the next-page link points to {host}, not the Canvas host; not following it with the token"
    )]
    ForeignLink { endpoint: String, host: String },

    #[error("{what} took longer than {after:?}")]
    Deadline { what: String, after: Duration },
}

impl CanvasError {
    /// What the caller should do with this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            CanvasError::Transport { .. }
            | CanvasError::Server { .. }
            | CanvasError::Deadline { .. }
            | CanvasError::UploadAbandoned { .. } => ErrorClass::Retryable,
            CanvasError::Throttled { .. } => ErrorClass::Throttled,
            CanvasError::Token { .. } | CanvasError::Forbidden { .. } => ErrorClass::Auth,
            CanvasError::CreateOutcomeUnknown { .. }
            | CanvasError::OutcomeUnknown { .. }
            | CanvasError::UploadFailed { .. } => ErrorClass::Uncertain,
            CanvasError::Config(_)
            | CanvasError::InsecureUrl { .. }
            | CanvasError::Options(_)
            | CanvasError::NotRootAccount { .. }
            | CanvasError::SisNotEnabled { .. }
            | CanvasError::NotFound { .. }
            | CanvasError::Rejected { .. }
            | CanvasError::Decode { .. }
            | CanvasError::File { .. }
            | CanvasError::TooManyPages { .. }
            | CanvasError::ForeignLink { .. } => ErrorClass::Permanent,
        }
    }

    /// Whether this is Canvas's definitive refusal of a request: an answer that says the request
    /// itself is wrong (an unknown account or term, a bad option, a sub-account), so sending it
    /// again would be refused the same way. For the create POST it also means no import exists
    /// (Canvas refuses these before creating one). Not a 401/403 (credentials or permissions,
    /// which an operator can fix without touching the batch: [`ErrorClass::Auth`]), a 408/409
    /// (try again), throttling, or anything without an answer.
    pub fn is_refusal(&self) -> bool {
        match self {
            CanvasError::NotFound { .. } | CanvasError::NotRootAccount { .. } => true,
            CanvasError::Rejected { status, .. } => {
                (400..500).contains(status) && !matches!(status, 401 | 403 | 408 | 409 | 429)
            }
            _ => false,
        }
    }

    /// The HTTP status Canvas answered, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            CanvasError::Server { status, .. }
            | CanvasError::Throttled { status, .. }
            | CanvasError::Forbidden { status, .. }
            | CanvasError::Rejected { status, .. } => Some(*status),
            CanvasError::Token { .. } => Some(401),
            CanvasError::NotFound { .. } => Some(404),
            CanvasError::NotRootAccount { .. } => Some(400),
            CanvasError::SisNotEnabled { .. } => Some(403),
            _ => None,
        }
    }
}
