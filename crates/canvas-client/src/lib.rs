//! The Canvas SIS Imports API client (docs/canvas-api.md §1, §2, §6).
//!
//! # Layout
//!
//! - `api`: [`CanvasApi`], the port the pipeline calls Canvas through, implemented by the client
//!   (a simulated Canvas implements it too).
//! - `client`: [`ClientConfig`], [`CanvasClient`] with one method per endpoint, the request loop
//!   and its retry policy (documented there), [`AccountRef`].
//! - `upload`: the create call (raw body or `pre_attachment` flow, streamed) and `download_to`.
//! - `model`: tolerant serde types for Canvas's JSON ([`SisImport`], [`WorkflowState`], ...).
//! - `options`: typed create options, validated before sending; list and restore options.
//! - `error`: [`CanvasError`] and its [`ErrorClass`].
//! - `response`, `retry`, `pagination`: error-body reading, backoff and pacing, `Link` headers.
//! - `token`: loading the token into a `SecretString`.
//!
//! The client never polls on its own and never decides what to do after a failure beyond the
//! retries that are safe; the pipeline does that from [`CanvasError::class`].

pub mod api;
pub mod client;
pub mod error;
pub mod hook;
pub mod model;
pub mod options;
pub mod pagination;
pub mod response;
pub mod retry;
pub mod token;
pub mod trace;
pub mod upload;

pub use api::{CanvasApi, CanvasFuture};
pub use client::{AccountRef, CanvasClient, ClientConfig};
pub use error::{CanvasError, ErrorClass, NeededPermission, TokenProblem, TransportKind};
pub use model::{
    Account, CanvasFile, CanvasUser, ImportData, PreAttachment, Progress, SisImport,
    SisImportError, SisImportErrorList, SisImportList, WorkflowState,
};
pub use options::{
    BatchMode, BatchModeTerm, Diffing, EnrollmentDropStatus, ImportOptions, ListFilter,
    OptionsError, RestoreOptions, Stickiness, UserRemoveStatus,
};
pub use token::{TokenError, load_token};
