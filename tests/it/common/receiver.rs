//! A webhook receiver for the notification tests: an axum server on a free loopback port that
//! records every POST (path, body, arrival time) and answers from a script — given statuses,
//! `429` with `Retry-After`, or no answer at all — then `200`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::time::Instant;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// `429 Too Many Requests` with `Retry-After: secs`.
    RetryAfter(u64),
    /// Never answers.
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Got {
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    /// Used once the script is spent (`None` = 200).
    then: Mutex<Option<Reply>>,
    got: Mutex<Vec<Got>>,
    arrived: tokio::sync::Notify,
}

pub struct Receiver {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver answering `script` in order, then `200`.
    pub async fn start(script: &[Reply]) -> Receiver {
        let shared = Arc::new(Shared::default());
        *shared.script.lock().unwrap() = script.iter().copied().collect();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base, shared }
    }

    /// Answers every request (after the script) with `reply`.
    pub fn always(&self, reply: Reply) {
        *self.shared.then.lock().unwrap() = Some(reply);
    }

    pub fn got(&self) -> Vec<Got> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (panics after `limit`).
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Got> {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "waited {limit:?} for {n} requests, got {}",
                    self.got().len()
                );
            }
        }
    }
}

async fn record(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    s.got.lock().unwrap().push(Got {
        path,
        body,
        at: Instant::now(),
    });
    s.arrived.notify_waiters();
    let next = s.script.lock().unwrap().pop_front();
    let reply = next.or(*s.then.lock().unwrap());
    match reply {
        None => StatusCode::OK.into_response(),
        Some(Reply::Status(code)) => StatusCode::from_u16(code).unwrap().into_response(),
        Some(Reply::RetryAfter(secs)) => {
            let mut h = HeaderMap::new();
            h.insert("retry-after", secs.to_string().parse().unwrap());
            (StatusCode::TOO_MANY_REQUESTS, h).into_response()
        }
        Some(Reply::Hang) => std::future::pending().await,
    }
}
