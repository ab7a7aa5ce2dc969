//! When to try a notification again: the outcome of one attempt, exponential backoff with
//! jitter, and `Retry-After`.
//!
//! Pure functions only; [`super::deliver`] owns the loop and the sleeping.

use std::time::Duration;

/// The first retry waits about this long; each later one twice as long, up to [`MAX_DELAY`].
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again (network error, timeout, 5xx, 429); `after` is the receiver's own
    /// `Retry-After` when it sent one.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Trying again would get the same answer (a 4xx other than 408/429, a missing topic).
    GiveUp {
        why: String,
    },
}

/// The wait before retry number `retry` (1 for the first retry): `FIRST_DELAY · 2^(retry-1)`,
/// capped at `MAX_DELAY`, then drawn uniformly from its upper half so that many workers that
/// failed together do not retry together. `unit` is a random number in `[0, 1)`.
pub fn backoff(retry: u32, unit: f64) -> Duration {
    let exp = FIRST_DELAY.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
    let base = exp.min(MAX_DELAY);
    base.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// A `Retry-After` value: whole seconds or an HTTP date. `None` when unreadable or in the past.
pub fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

/// The outcome of an HTTP status; 2xx is delivered, 408, 429 and 5xx are retried.
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retry {
            after: retry_after,
            why: format!("HTTP {status}"),
        },
        _ => Attempt::GiveUp {
            why: format!("HTTP {status}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(1, 0.999_999).as_millis(), 499);
        assert_eq!(backoff(3, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(30, 0.0), MAX_DELAY / 2);
        assert!(backoff(30, 0.99) < MAX_DELAY);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn only_server_errors_timeouts_and_throttling_are_retried() {
        assert_eq!(classify_status(204, None), Attempt::Delivered);
        assert!(matches!(classify_status(500, None), Attempt::Retry { .. }));
        assert!(matches!(
            classify_status(429, Some(Duration::from_secs(2))),
            Attempt::Retry { after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(classify_status(400, None), Attempt::GiveUp { .. }));
        assert!(matches!(classify_status(404, None), Attempt::GiveUp { .. }));
        assert!(matches!(classify_status(302, None), Attempt::GiveUp { .. }));
    }
}
