//! When to wait and for how long: jittered exponential backoff, and pacing on Canvas's
//! `X-Rate-Limit-Remaining` (docs/canvas-api.md §6.4).
//!
//! The policy (which calls are retried at all) lives in `client.rs`, next to the loop that applies
//! it; this file only computes delays, so it can be tested without a network.

use std::time::Duration;

/// Below this remaining budget the client slows down (Canvas's docs suggest ~100).
pub const LOW_RATE_LIMIT_REMAINING: f64 = 100.0;

/// Canvas's bucket leaks 10 units a second (docs/canvas-api.md §6.4).
const LEAK_PER_SEC: f64 = 10.0;

/// Exponential backoff with jitter: attempt `n` (1-based) waits a random time between half and
/// all of `base × 2^(n-1)`, capped at `max`. Jitter keeps several workers that failed together
/// from retrying together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        let half = full / 2;
        let spread = (full - half).as_nanos() as u64;
        half + Duration::from_nanos(if spread == 0 {
            0
        } else {
            fastrand::u64(0..=spread)
        })
    }
}

/// How long to hold the next request when `remaining` is low: the time Canvas's bucket needs to
/// leak back to [`LOW_RATE_LIMIT_REMAINING`], capped at `max`. `None` when there is budget.
pub fn pacing_delay(remaining: f64, max: Duration) -> Option<Duration> {
    if !remaining.is_finite() || remaining >= LOW_RATE_LIMIT_REMAINING {
        return None;
    }
    let secs = (LOW_RATE_LIMIT_REMAINING - remaining.max(0.0)) / LEAK_PER_SEC;
    Some(Duration::from_secs_f64(secs).min(max))
}

/// Canvas's throttled answer: 403 with "Rate Limit Exceeded" in the body, or any 429.
pub fn is_throttled(status: u16, body: &[u8]) -> bool {
    status == 429 || (status == 403 && body.windows(19).any(|w| w == b"Rate Limit Exceeded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(b.delay(30) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn pacing_starts_below_100_and_grows_with_the_deficit() {
        let max = Duration::from_secs(60);
        assert_eq!(pacing_delay(600.0, max), None);
        assert_eq!(pacing_delay(100.0, max), None);
        assert_eq!(pacing_delay(50.0, max), Some(Duration::from_secs(5)));
        assert_eq!(pacing_delay(0.0, max), Some(Duration::from_secs(10)));
        assert_eq!(
            pacing_delay(0.0, Duration::from_secs(2)),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn throttling_is_403_with_the_phrase_or_429() {
        assert!(is_throttled(403, b"403 Forbidden (Rate Limit Exceeded)\n"));
        assert!(is_throttled(429, b""));
        assert!(!is_throttled(403, br#"{"status":"unauthorized"}"#));
        assert!(!is_throttled(500, b"Rate Limit Exceeded"));
    }
}
