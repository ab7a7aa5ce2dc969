//! The page's routes, for any ledger store: `/` (tenants), `/tenants/{tenant}` (history),
//! `/batches/{tenant}/{batch}` (one batch), `/batches/{tenant}/{batch}/{piece}` (an archived
//! piece, only with row samples on) and `/page.css`.
//!
//! [`router`] gives an axum router to merge into the listener of `watch`/`run` (next to the
//! probes and `/metrics`) or to serve alone (`canvas-sis serve`). Each request reads the ledger
//! afresh: the page is as current as the ledger, and holds no state of its own. Every answer
//! says `no-store` (a shared proxy keeps nothing), forbids framing and scripts, and sends no
//! referrer.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;

use canvas_sis_core::ledger::{BatchId, Ledger, LedgerError, LedgerStore, tenant_key};

use crate::auth::Access;
use crate::model::LedgerPlace;
use crate::model::batch::{DOWNLOADS, batch_detail};
use crate::model::live::LiveCanvas;
pub use crate::model::overview::TenantSettings;
use crate::model::{history, overview};
use crate::pages;

/// How many batches a tenant's page lists.
pub const HISTORY_LIMIT: usize = 100;

/// What the page is told at start.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// Where the ledger is, for the commands the page prints.
    pub place: LedgerPlace,
    /// Each configured tenant's freshness target and failure policy (others: the defaults).
    pub settings: BTreeMap<String, TenantSettings>,
    /// Show message texts, findings and row samples, and serve the archived zip and errors
    /// file (they hold people's data); off by default.
    pub row_samples: bool,
    pub access: Access,
    /// Each tenant's Canvas, lent by `watch`/`run` so that running imports show Canvas's
    /// progress; `None` for `serve`.
    pub live: Option<LiveCanvas>,
}

struct App<S> {
    ledger: Ledger<S>,
    opts: PageOptions,
}

/// The page's routes over `ledger`.
pub fn router<S: LedgerStore + 'static>(ledger: Ledger<S>, opts: PageOptions) -> Router {
    let app = Arc::new(App { ledger, opts });
    Router::new()
        .route("/", get(tenants::<S>))
        .route("/page.css", get(css))
        .route("/tenants/{tenant}", get(tenant::<S>))
        .route("/batches/{tenant}/{batch}", get(batch::<S>))
        .route("/batches/{tenant}/{batch}/{piece}", get(piece::<S>))
        .fallback(not_found)
        .with_state(app)
}

impl<S: LedgerStore> App<S> {
    /// The refusal, when the request's credentials do not match.
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if self.opts.access.allows(given) {
            return None;
        }
        let mut r = html(
            StatusCode::UNAUTHORIZED,
            self.error_page("Sign in", "This status page asks for credentials."),
        );
        if let Some(c) = self.opts.access.challenge() {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        Some(r)
    }

    fn ledger_label(&self) -> String {
        match &self.opts.place {
            LedgerPlace::Dir(d) => d.clone(),
            LedgerPlace::State(u) => u.clone(),
        }
    }

    fn error_page(&self, title: &str, message: &str) -> String {
        pages::ErrorPage {
            title: title.to_owned(),
            ledger: self.ledger_label(),
            generated: Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            message: message.to_owned(),
        }
        .render()
        .unwrap_or_else(|_| message.to_owned())
    }

    fn failed(&self, e: LedgerError) -> Response {
        tracing::warn!(error = %e, "the status page could not read the ledger");
        html(
            StatusCode::INTERNAL_SERVER_ERROR,
            self.error_page(
                "The ledger could not be read",
                &format!("{e}. The page shows the ledger as it is; try again, and check the worker's logs if it persists."),
            ),
        )
    }

    fn missing(&self, what: &str) -> Response {
        html(
            StatusCode::NOT_FOUND,
            self.error_page("Not found", &format!("{what} is not in the ledger.")),
        )
    }

    fn settings(&self, tenant: &str) -> TenantSettings {
        self.opts.settings.get(tenant).cloned().unwrap_or_default()
    }
}

/// An HTML answer with the page's headers.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(h);
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn rendered(status: StatusCode, page: Result<String, askama::Error>) -> Response {
    match page {
        Ok(body) => html(status, body),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {e}"),
        )
            .into_response(),
    }
}

async fn css() -> Response {
    let mut r = pages::CSS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    secure(h);
    r
}

async fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · canvas-sis</title></head><body><main><h1>Not found</h1><p><a href=\"/\">Back to the tenants</a></p></main></body></html>".into(),
    )
}

async fn tenants<S: LedgerStore + 'static>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = app.refusal(&headers) {
        return r;
    }
    let now = Utc::now();
    let live = app.opts.live.as_ref();
    match overview::overview(&app.ledger, &app.opts.place, &app.opts.settings, live, now).await {
        Ok(o) => rendered(StatusCode::OK, pages::tenants_page(&o).render()),
        Err(e) => app.failed(e),
    }
}

async fn tenant<S: LedgerStore + 'static>(
    State(app): State<Arc<App<S>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = app.refusal(&headers) {
        return r;
    }
    let Ok(key) = tenant_key(&name) else {
        return app.missing("That tenant");
    };
    let now = Utc::now();
    let settings = app.settings(&name);
    let known = match app.ledger.store().get(&key).await {
        Ok(found) => found.is_some(),
        Err(e) => return app.failed(e),
    };
    if !known {
        return app.missing(&format!("Tenant {name}"));
    }
    let live = app.opts.live.as_ref();
    match history::history(
        &app.ledger,
        &name,
        &app.opts.place,
        &settings,
        HISTORY_LIMIT,
        live,
        now,
    )
    .await
    {
        Ok(h) => rendered(
            StatusCode::OK,
            pages::tenant_page(&h, &app.ledger_label(), now).render(),
        ),
        Err(e) => app.failed(e),
    }
}

async fn batch<S: LedgerStore + 'static>(
    State(app): State<Arc<App<S>>>,
    Path((tenant, local)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = app.refusal(&headers) {
        return r;
    }
    let Ok(id) = BatchId::parse(&format!("{tenant}/{local}")) else {
        return app.missing("That batch");
    };
    let samples = app.opts.row_samples;
    match batch_detail(&app.ledger, &id, &app.opts.place, samples).await {
        Ok(Some(d)) => rendered(
            StatusCode::OK,
            pages::batch_page(d, &app.ledger_label(), samples, Utc::now()).render(),
        ),
        Ok(None) => app.missing(&format!("Batch {id}")),
        Err(e) => app.failed(e),
    }
}

/// An archived piece of a batch, as it was archived; only when row samples are on (the zip and
/// the errors file hold people's data).
async fn piece<S: LedgerStore + 'static>(
    State(app): State<Arc<App<S>>>,
    Path((tenant, local, piece)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = app.refusal(&headers) {
        return r;
    }
    if !app.opts.row_samples || !DOWNLOADS.iter().any(|(n, _)| *n == piece) {
        return app.missing("That download");
    }
    let Ok(id) = BatchId::parse(&format!("{tenant}/{local}")) else {
        return app.missing("That batch");
    };
    let record = match app.ledger.get_batch(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return app.missing(&format!("Batch {id}")),
        Err(e) => return app.failed(e),
    };
    let (key, kind) = match piece.as_str() {
        "zip" => (record.archive.zip, "application/zip"),
        "errors.csv" => (record.archive.errors_file, "text/csv; charset=utf-8"),
        "validation.txt" => (record.archive.report, "text/plain; charset=utf-8"),
        _ => (record.archive.canvas_json, "application/json"),
    };
    let Some(key) = key else {
        return app.missing(&format!("The {piece} of batch {id}"));
    };
    match app.ledger.get_archive(&key).await {
        Ok(Some(bytes)) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            let name = format!("{}-{}", id.local_part(), piece.replace("zip", "batch.zip"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            secure(h);
            r
        }
        Ok(None) => app.missing(&format!("The archived {piece} of batch {id}")),
        Err(e) => app.failed(e),
    }
}
