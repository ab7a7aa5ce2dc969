//! The optional HTTP listener of the long-running commands (`run`, `watch`; `--listen ADDR` /
//! `SIS_LISTEN_ADDR`): Kubernetes probes and the Prometheus scrape.
//!
//! - `GET /healthz`: 200 while the process serves requests (liveness).
//! - `GET /readyz`: 200 when every readiness check passes — the configuration is loaded (the
//!   listener only starts after it is), the queue answers (`run`) and each tenant's Canvas
//!   answers an authenticated request — else 503 with the failing checks, one per line. The
//!   result is kept for [`READY_TTL`] so that probes do not hammer Canvas.
//! - `GET /metrics`: the metric catalog in the Prometheus text format 0.0.4.
//!
//! The command may add routes of its own ([`start`]'s `pages`: the status page of
//! `canvas-sis-web`); the three above stay open whatever access rule those routes have.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::prometheus::PullReader;

/// How long a readiness result is reused.
pub const READY_TTL: Duration = Duration::from_secs(5);

/// How long one readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One named readiness check.
pub struct Check {
    pub name: String,
    run: Box<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl Check {
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Check
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Check {
            name: name.into(),
            run: Box::new(move || Box::pin(f())),
        }
    }
}

/// The listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ListenError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

struct Shared {
    checks: Vec<Check>,
    pull: Option<PullReader>,
    cached: tokio::sync::Mutex<Option<(Instant, Vec<String>)>>,
}

/// A running listener; stops when dropped.
pub struct Listener {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves the probes, `/metrics` and `pages` (when given) in the background.
pub async fn start(
    addr: SocketAddr,
    checks: Vec<Check>,
    pages: Option<axum::Router>,
) -> Result<Listener, ListenError> {
    let with_pages = pages.is_some();
    let shared = Arc::new(Shared {
        checks,
        pull: super::pull_reader(),
        cached: tokio::sync::Mutex::new(None),
    });
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(shared);
    let app = match pages {
        Some(pages) => app.merge(pages),
        None => app,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ListenError { addr, source })?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the probe and metrics listener stopped");
        }
    });
    if with_pages {
        tracing::info!(addr = %bound, "serving the status page, /healthz, /readyz and /metrics");
    } else {
        tracing::info!(addr = %bound, "serving /healthz, /readyz and /metrics");
    }
    Ok(Listener { addr: bound, task })
}

async fn ready(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let mut cached = s.cached.lock().await;
    let failures = match cached.as_ref() {
        Some((at, failures)) if at.elapsed() < READY_TTL => failures.clone(),
        _ => {
            let mut failures = Vec::new();
            for c in &s.checks {
                match tokio::time::timeout(CHECK_TIMEOUT, (c.run)()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failures.push(format!("{}: {e}", c.name)),
                    Err(_) => {
                        failures.push(format!("{}: no answer within {CHECK_TIMEOUT:?}", c.name))
                    }
                }
            }
            *cached = Some((Instant::now(), failures.clone()));
            failures
        }
    };
    if failures.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", failures.join("\n")),
        )
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let body = s.pull.as_ref().map(PullReader::render).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// Readiness of a tenant's Canvas: an authenticated one-item list of the account's SIS imports,
/// without retries (a probe must answer fast), made by a client of its own.
pub fn canvas_check(
    tenant: &str,
    cfg: &canvas_sis_client::ClientConfig,
    account: canvas_sis_client::AccountRef,
) -> Result<Check, canvas_sis_client::error::CanvasError> {
    let mut cfg = cfg.clone();
    cfg.max_retries = 0;
    let client = Arc::new(canvas_sis_client::CanvasClient::new(cfg)?);
    Ok(Check::new(format!("canvas ({tenant})"), move || {
        let (client, account) = (client.clone(), account.clone());
        async move {
            let filter = canvas_sis_client::options::ListFilter::default();
            client
                .recent_sis_imports(&account, &filter, 1)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }))
}
