//! The Canvas client's one outward report: every request attempt and every rate-limit reading go
//! to the [`RequestHook`] the process installed (telemetry's metrics, at `telemetry::init`), so the
//! client needs nothing of telemetry. Without a hook nothing is recorded.

use std::sync::OnceLock;
use std::time::Duration;

/// What the client reports about its requests.
pub trait RequestHook: Send + Sync {
    /// One attempt of a request to `route` (a path template), answered with `status` (`None`:
    /// no answer) after `took`; `throttled` when Canvas refused it for the rate limit.
    fn request(
        &self,
        method: &'static str,
        route: &str,
        host: &str,
        status: Option<u16>,
        took: Duration,
        throttled: bool,
    );
    /// Canvas's `X-Rate-Limit-Remaining` as last read from `host`.
    fn rate_limit(&self, host: &str, remaining: f64);
}

static HOOK: OnceLock<&'static dyn RequestHook> = OnceLock::new();

/// Installs the process's hook; the first one stays.
pub fn install(hook: &'static dyn RequestHook) {
    let _ = HOOK.set(hook);
}

pub(crate) fn get() -> Option<&'static dyn RequestHook> {
    HOOK.get().copied()
}
