//! The simulator's notion of "now": real time, or a manual clock that tests move explicitly.
//!
//! Every time-dependent behaviour (import speed, the hold after an abort, the errors-file lag,
//! the throttle's leak) reads this clock, so a test with a manual clock can jump ten minutes
//! ahead without sleeping.

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// Real or manual time.
#[derive(Debug)]
pub struct SimClock {
    /// `Some(offset)` in manual mode: the time the clock shows is `frozen + advanced`.
    manual: Option<Mutex<DateTime<Utc>>>,
}

impl SimClock {
    pub fn real() -> Self {
        SimClock { manual: None }
    }

    /// A manual clock that starts at the current real time (rounded to the second, so the
    /// timestamps in JSON stay short).
    pub fn manual() -> Self {
        let start = Utc::now();
        let start = start - TimeDelta::nanoseconds(i64::from(start.timestamp_subsec_nanos()));
        SimClock {
            manual: Some(Mutex::new(start)),
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock forward; returns false (and does nothing) on a real clock.
    pub fn advance(&self, by: TimeDelta) -> bool {
        match &self.manual {
            Some(t) => {
                let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
                *t += by;
                true
            }
            None => false,
        }
    }
}

/// Canvas's timestamp form: ISO 8601, UTC, `Z`, whole seconds.
pub fn canvas_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = SimClock::manual();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        assert!(c.advance(TimeDelta::seconds(600)));
        assert_eq!(c.now() - t0, TimeDelta::seconds(600));
    }

    #[test]
    fn real_clock_cannot_be_advanced() {
        assert!(!SimClock::real().advance(TimeDelta::seconds(1)));
    }

    #[test]
    fn canvas_time_is_utc_with_z() {
        let t = DateTime::parse_from_rfc3339("2025-02-03T14:00:05.123+00:00").unwrap();
        assert_eq!(canvas_time(t.with_timezone(&Utc)), "2025-02-03T14:00:05Z");
    }
}
