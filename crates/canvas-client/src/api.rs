//! The Canvas port: [`CanvasApi`], the Canvas calls the pipeline makes, so that something other
//! than the HTTP client — a scripted or simulated Canvas in a test, with no sockets — can stand
//! in for Canvas (issue 16, deterministic simulation testing).
//!
//! The trait holds exactly the calls `canvas-sis-core` makes, with the signatures and meaning of
//! the [`CanvasClient`] methods of the same names (their documentation is the contract); the
//! client implements it by delegation. It is object-safe: each call returns a boxed future, so
//! the pipeline takes a `&dyn CanvasApi` and stays free of a type parameter for Canvas.

use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use url::Url;

use crate::client::{AccountRef, CanvasClient};
use crate::error::CanvasError;
use crate::model::{CanvasUser, Progress, SisImport};
use crate::options::{ImportOptions, ListFilter, RestoreOptions};

/// What every call of [`CanvasApi`] returns: a boxed, sendable future of its answer.
pub type CanvasFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CanvasError>> + Send + 'a>>;

/// The Canvas SIS Imports API as the pipeline uses it. Errors are [`CanvasError`]s, whose
/// [`class`](CanvasError::class) the pipeline decides from — a stand-in must report a lost
/// answer as [`CanvasError::CreateOutcomeUnknown`] (or another `Uncertain` error) exactly as the
/// client does.
pub trait CanvasApi: Send + Sync + Debug {
    /// The Canvas instance this is (named in messages to an operator).
    fn base_url(&self) -> &Url;

    /// See [`CanvasClient::get_sis_import`].
    fn get_sis_import<'a>(
        &'a self,
        account: &'a AccountRef,
        id: u64,
    ) -> CanvasFuture<'a, SisImport>;

    /// See [`CanvasClient::recent_sis_imports`]: one page of the newest, at most `limit`.
    fn recent_sis_imports<'a>(
        &'a self,
        account: &'a AccountRef,
        filter: &'a ListFilter,
        limit: usize,
    ) -> CanvasFuture<'a, Vec<SisImport>>;

    /// See [`CanvasClient::importing`].
    fn importing<'a>(&'a self, account: &'a AccountRef) -> CanvasFuture<'a, Vec<SisImport>>;

    /// See [`CanvasClient::create_sis_import`]: the one call that is never repeated blindly.
    fn create_sis_import<'a>(
        &'a self,
        account: &'a AccountRef,
        opts: &'a ImportOptions,
        zip: &'a Path,
    ) -> CanvasFuture<'a, SisImport>;

    /// See [`CanvasClient::imports_created_since`]: oldest first.
    fn imports_created_since<'a>(
        &'a self,
        account: &'a AccountRef,
        since: DateTime<Utc>,
        user_id: Option<u64>,
    ) -> CanvasFuture<'a, Vec<SisImport>>;

    /// See [`CanvasClient::users_self`].
    fn users_self(&self) -> CanvasFuture<'_, CanvasUser>;

    /// See [`CanvasClient::download_to`].
    fn download_to<'a>(&'a self, url: &'a str, path: &'a Path) -> CanvasFuture<'a, u64>;

    /// See [`CanvasClient::restore_states`].
    fn restore_states<'a>(
        &'a self,
        account: &'a AccountRef,
        id: u64,
        opts: RestoreOptions,
    ) -> CanvasFuture<'a, Progress>;

    /// See [`CanvasClient::get_progress`].
    fn get_progress(&self, id: u64) -> CanvasFuture<'_, Progress>;
}

impl CanvasApi for CanvasClient {
    fn base_url(&self) -> &Url {
        CanvasClient::base_url(self)
    }

    fn get_sis_import<'a>(
        &'a self,
        account: &'a AccountRef,
        id: u64,
    ) -> CanvasFuture<'a, SisImport> {
        Box::pin(CanvasClient::get_sis_import(self, account, id))
    }

    fn recent_sis_imports<'a>(
        &'a self,
        account: &'a AccountRef,
        filter: &'a ListFilter,
        limit: usize,
    ) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(CanvasClient::recent_sis_imports(
            self, account, filter, limit,
        ))
    }

    fn importing<'a>(&'a self, account: &'a AccountRef) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(CanvasClient::importing(self, account))
    }

    fn create_sis_import<'a>(
        &'a self,
        account: &'a AccountRef,
        opts: &'a ImportOptions,
        zip: &'a Path,
    ) -> CanvasFuture<'a, SisImport> {
        Box::pin(CanvasClient::create_sis_import(self, account, opts, zip))
    }

    fn imports_created_since<'a>(
        &'a self,
        account: &'a AccountRef,
        since: DateTime<Utc>,
        user_id: Option<u64>,
    ) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(CanvasClient::imports_created_since(
            self, account, since, user_id,
        ))
    }

    fn users_self(&self) -> CanvasFuture<'_, CanvasUser> {
        Box::pin(CanvasClient::users_self(self))
    }

    fn download_to<'a>(&'a self, url: &'a str, path: &'a Path) -> CanvasFuture<'a, u64> {
        Box::pin(CanvasClient::download_to(self, url, path))
    }

    fn restore_states<'a>(
        &'a self,
        account: &'a AccountRef,
        id: u64,
        opts: RestoreOptions,
    ) -> CanvasFuture<'a, Progress> {
        Box::pin(CanvasClient::restore_states(self, account, id, opts))
    }

    fn get_progress(&self, id: u64) -> CanvasFuture<'_, Progress> {
        Box::pin(CanvasClient::get_progress(self, id))
    }
}
