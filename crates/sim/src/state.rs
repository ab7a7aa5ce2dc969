//! The simulator's shared state: config, clock, engine and test-control books, behind mutexes.
//!
//! Every lock here is a `std::sync::Mutex` held for short, synchronous work only (never across an
//! `.await`), so handlers, the ticker and the admin API can share them without deadlock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::clock::SimClock;
use crate::config::{SimConfig, TokenSpec};
use crate::engine::Engine;
use crate::faults::FaultBook;
use crate::inspect::RequestLog;
use crate::throttle::Throttle;

/// Users behind the tokens get ids from here up, in token order.
const FIRST_USER_ID: u64 = 1001;

pub struct SimState {
    pub config: SimConfig,
    pub clock: SimClock,
    /// Batches, files, progresses and the content of each root account.
    pub engine: Mutex<Engine>,
    pub requests: Mutex<RequestLog>,
    pub faults: Mutex<FaultBook>,
    pub throttle: Mutex<Throttle>,
    /// Wakes the ticker when a batch is queued, so small imports start at once.
    pub wake: Notify,
    /// `http://host:port`, set once the listener is bound.
    pub base_url: OnceLock<String>,
    error_reports: AtomicU64,
}

/// Locks a mutex even if a panicking thread poisoned it: the data are plain records, and a
/// simulator that stops answering after one bug helps no test.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimState {
    pub fn new(config: SimConfig, engine: Engine) -> Self {
        let clock = if config.manual_clock {
            SimClock::manual()
        } else {
            SimClock::real()
        };
        SimState {
            config,
            clock,
            engine: Mutex::new(engine),
            requests: Mutex::new(RequestLog::default()),
            faults: Mutex::new(FaultBook::default()),
            throttle: Mutex::new(Throttle::default()),
            wake: Notify::new(),
            base_url: OnceLock::new(),
            error_reports: AtomicU64::new(0),
        }
    }

    pub fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://localhost")
    }

    /// The token with this secret, and its user's id.
    pub fn token(&self, secret: &str) -> Option<(u64, &TokenSpec)> {
        self.config
            .tokens
            .iter()
            .enumerate()
            .find(|(_, t)| t.secret == secret)
            .map(|(i, t)| (FIRST_USER_ID + i as u64, t))
    }

    /// The Canvas User JSON of a token's user.
    pub fn user_json(&self, user_id: u64) -> Option<Value> {
        let idx = user_id.checked_sub(FIRST_USER_ID)? as usize;
        let t = self.config.tokens.get(idx)?;
        Some(json!({
            "id": user_id,
            "name": t.name,
            "created_at": "2020-01-01T00:00:00Z",
            "sortable_name": t.name,
            "short_name": t.name,
        }))
    }

    /// A fresh `error_report_id` for a 500 answer.
    pub fn next_error_report(&self) -> u64 {
        4000 + self.error_reports.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs the engine up to the clock's now; saves the state when something changed.
    pub fn tick(&self) -> bool {
        let now = self.clock.now();
        let changed = lock(&self.engine).tick(now);
        if changed {
            self.persist();
        }
        changed
    }

    /// Saves the state file, if one is configured. Failures are logged, never fatal.
    pub fn persist(&self) {
        if let Some(path) = &self.config.state_file {
            let engine = lock(&self.engine);
            if let Err(e) = crate::persist::save(path, &engine) {
                tracing::warn!(path = %path.display(), error = %e, "could not save simulator state");
            }
        }
    }
}
