//! Starting and stopping a simulator: the listener, the accept loop and the engine's ticker.
//!
//! The accept loop is written out (instead of `axum::serve`) for one reason: the fault tests need
//! to close a connection *after* a request was handled and before the answer is written, which is
//! what a client sees when Canvas accepted a POST but the network failed. Each connection gets a
//! [`ConnControl`] that the request edge can trigger; the loop then drops the connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::config::SimConfig;
use crate::engine::Engine;
use crate::state::SimState;

/// How often the ticker moves imports forward on a real clock.
const TICK: Duration = Duration::from_millis(25);

/// Lets the request edge close the connection it arrived on.
#[derive(Clone)]
pub struct ConnControl(Arc<Notify>);

impl ConnControl {
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

/// The request path as the client sent it, before a `.json` suffix was stripped for routing.
#[derive(Clone, Debug)]
pub struct OriginalPath(pub String);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not listen on {addr}: {source}; is another process using that port?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] crate::persist::PersistError),
}

/// A simulator running on its own tasks. Dropping it does not stop it; call [`shutdown`].
///
/// [`shutdown`]: RunningSimulator::shutdown
pub struct RunningSimulator {
    url: String,
    state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
    accept: JoinHandle<()>,
    ticker: JoinHandle<()>,
}

impl RunningSimulator {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The shared state, for in-process tests that want to look inside.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Stops accepting connections and ticking, and saves the state file if there is one.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.ticker.abort();
        let _ = (&mut self.accept).await;
        self.state.persist();
    }
}

/// Binds `listen` (port 0 for an ephemeral port) and starts serving.
pub async fn start(config: SimConfig, listen: SocketAddr) -> Result<RunningSimulator, StartError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: listen,
        source,
    })?;
    let seed = format!("{:?}{}", std::time::SystemTime::now(), addr.port());
    let mut engine = Engine::new(&config, seed);
    if let Some(path) = &config.state_file
        && crate::persist::load(path, &mut engine, chrono::Utc::now())?
    {
        tracing::info!(path = %path.display(), "loaded simulator state");
    }
    let state = Arc::new(SimState::new(config, engine));
    let url = format!("http://{addr}");
    let _ = state.base_url.set(url.clone());
    let (stop_tx, stop_rx) = oneshot::channel();
    let app = crate::api::router(state.clone());
    let accept = tokio::spawn(accept_loop(listener, app, stop_rx));
    let ticker = tokio::spawn(ticker(state.clone()));
    tracing::info!(%url, "Canvas simulator listening");
    Ok(RunningSimulator {
        url,
        state,
        stop: Some(stop_tx),
        accept,
        ticker,
    })
}

/// Moves imports forward on a real clock; a manual clock moves only through `/__sim/advance`.
async fn ticker(state: Arc<SimState>) {
    if state.clock.is_manual() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = state.wake.notified() => {}
        }
        // A bug in an import must not stop every later import: log it and keep ticking.
        let tick = std::panic::AssertUnwindSafe(|| state.tick());
        if std::panic::catch_unwind(tick).is_err() {
            tracing::error!("simulator engine panicked during a tick; continuing");
        }
    }
}

async fn accept_loop(listener: TcpListener, app: axum::Router, mut stop: oneshot::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        tokio::spawn(serve_connection(stream, app.clone()));
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, app: axum::Router) {
    let kill = Arc::new(Notify::new());
    let control = ConnControl(kill.clone());
    let svc = app.map_request(move |mut req: Request<hyper::body::Incoming>| {
        strip_json_suffix(&mut req);
        req.extensions_mut().insert(control.clone());
        req
    });
    let svc = hyper_util::service::TowerToHyperService::new(svc);
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = kill.notified() => {
            tracing::debug!("connection dropped on purpose (fault)");
        }
    }
}

/// Canvas accepts a `.json` suffix on every API path; routing sees the path without it.
fn strip_json_suffix<B>(req: &mut Request<B>) {
    let path = req.uri().path().to_owned();
    let Some(stripped) = path.strip_suffix(".json") else {
        return;
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{stripped}?{q}"),
        None => stripped.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
            req.extensions_mut().insert(OriginalPath(path));
        }
    }
}
