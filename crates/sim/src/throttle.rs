//! Canvas's request throttle: a leaky bucket per access token (docs/canvas-api.md §6.4).
//!
//! A request is refused while the bucket is at or above the high-water mark. Otherwise it
//! reserves an up-front cost (which is what makes parallel requests expensive), and when it ends
//! the reservation is replaced by the request's own cost. The bucket leaks at a fixed rate. The
//! clock is the simulator's, so a manual-clock test controls the leak too.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::ThrottleConfig;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    updated: DateTime<Utc>,
}

/// What the throttle decided for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Go ahead; call [`Throttle::finish`] with the same key when done.
    Admitted,
    /// Refuse with the throttled response.
    Throttled,
}

/// All buckets, by client key (a hash of the token).
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<String, Bucket>,
}

impl Throttle {
    fn bucket(&mut self, key: &str, cfg: &ThrottleConfig, now: DateTime<Utc>) -> &mut Bucket {
        let b = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            level: 0.0,
            updated: now,
        });
        let secs = (now - b.updated).num_milliseconds().max(0) as f64 / 1000.0;
        b.level = (b.level - secs * cfg.outflow_per_sec).max(0.0);
        b.updated = now;
        b
    }

    /// Admits a request or refuses it, reserving the up-front cost when admitted.
    pub fn admit(&mut self, key: &str, cfg: &ThrottleConfig, now: DateTime<Utc>) -> Admission {
        let b = self.bucket(key, cfg, now);
        if b.level >= cfg.high_water_mark {
            return Admission::Throttled;
        }
        b.level = (b.level + cfg.up_front_cost).min(cfg.maximum);
        Admission::Admitted
    }

    /// Refunds the up-front reservation and charges `cost`; returns the remaining budget
    /// (`high-water mark − level`) for `X-Rate-Limit-Remaining`.
    pub fn finish(
        &mut self,
        key: &str,
        cfg: &ThrottleConfig,
        cost: f64,
        now: DateTime<Utc>,
    ) -> f64 {
        let b = self.bucket(key, cfg, now);
        b.level = (b.level - cfg.up_front_cost + cost).clamp(0.0, cfg.maximum);
        cfg.high_water_mark - b.level
    }

    /// Test control: sets a client's bucket level (e.g. to the high-water mark to force throttling).
    pub fn set_level(&mut self, key: &str, level: f64, now: DateTime<Utc>) {
        self.buckets.insert(
            key.to_owned(),
            Bucket {
                level,
                updated: now,
            },
        );
    }

    /// Test control: empties every bucket.
    pub fn reset(&mut self) {
        self.buckets.clear();
    }
}

/// The bucket key of a token: a short hash, so secrets are never kept as map keys or logged.
pub fn client_key(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(token.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig::default()
    }

    #[test]
    fn serial_requests_are_never_throttled() {
        let (mut t, c, now) = (Throttle::default(), cfg(), Utc::now());
        for _ in 0..1000 {
            assert_eq!(t.admit("k", &c, now), Admission::Admitted);
            t.finish("k", &c, 0.1, now);
        }
    }

    #[test]
    fn parallel_requests_hit_the_high_water_mark() {
        let (mut t, c, now) = (Throttle::default(), cfg(), Utc::now());
        // Twelve in flight reserve 600: the thirteenth is refused.
        for _ in 0..12 {
            assert_eq!(t.admit("k", &c, now), Admission::Admitted);
        }
        assert_eq!(t.admit("k", &c, now), Admission::Throttled);
        // Another client is unaffected.
        assert_eq!(t.admit("other", &c, now), Admission::Admitted);
    }

    #[test]
    fn the_bucket_leaks_ten_units_per_second() {
        let (mut t, c, now) = (Throttle::default(), cfg(), Utc::now());
        t.set_level("k", 600.0, now);
        assert_eq!(t.admit("k", &c, now), Admission::Throttled);
        assert_eq!(
            t.admit("k", &c, now + TimeDelta::seconds(1)),
            Admission::Admitted
        );
        let remaining = t.finish("k", &c, 1.0, now + TimeDelta::seconds(1));
        assert!((remaining - 9.0).abs() < 1e-9, "{remaining}");
    }
}
