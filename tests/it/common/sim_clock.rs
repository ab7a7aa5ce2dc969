//! The simulated wall clock: UTC time that moves with tokio's clock, so that a simulation on
//! paused time sees submit leases expire, evidence windows close and blackouts open exactly as
//! its seed says, and replays them the same way.
//!
//! [`start`] anchors it on the current thread (a simulation runs each seed on a thread of its
//! own); [`now`] is the clock handed to the ledger (`Ledger::with_clock`) and read by the
//! scripted Canvas. On a thread where it was never started it is the real clock.

use std::cell::Cell;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

thread_local! {
    static ANCHOR: Cell<Option<(Instant, DateTime<Utc>)>> = const { Cell::new(None) };
}

/// From now on, on this thread, [`now`] is `at` plus the tokio time elapsed since this call.
pub fn start(at: DateTime<Utc>) {
    ANCHOR.set(Some((Instant::now(), at)));
}

/// The simulated time on this thread (the real time where none was started).
pub fn now() -> DateTime<Utc> {
    match ANCHOR.get() {
        Some((then, at)) => at + TimeDelta::from_std(then.elapsed()).expect("a short simulation"),
        None => Utc::now(),
    }
}
