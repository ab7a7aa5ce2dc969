//! Poison messages as the ledger keeps them: what the queue worker (`canvas-sis-aws`) records
//! before it moves a message it cannot process out of its FIFO group, and what `canvas-sis
//! status` reads back, whatever the build.
//!
//! The record lives at `poison/<UTC time>-<message id>.json` under the ledger, readable with any
//! S3 tool: what was wrong, what arrived (an excerpt; bodies carry keys and ids, never
//! credentials), and where the message went.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::validate_segment;

/// The ledger folder of poison records.
pub const POISON_PREFIX: &str = "poison/";

/// One poison message, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoisonRecord {
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    pub receive_count: u32,
    pub group: Option<String>,
    /// A stable snake_case kind (`not_json`, `unknown_tenant`, `unknown_bucket`, …).
    pub kind: String,
    /// What was wrong and what to do, as the worker logged it.
    pub error: String,
    /// `dead-letter queue <url>` or `deleted`.
    pub moved_to: String,
}

impl PoisonRecord {
    /// Its ledger key: time first, so a listing reads oldest first.
    pub fn key(&self) -> String {
        let safe: String = self
            .message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        let name = format!(
            "{}-{}.json",
            self.received_at.format("%Y%m%dT%H%M%S%.3fZ"),
            if safe.is_empty() {
                "unknown".into()
            } else {
                safe
            }
        );
        debug_assert!(validate_segment(&name).is_ok(), "{name}");
        format!("{POISON_PREFIX}{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_safe_ledger_keys_whatever_the_message_id() {
        for id in ["0b9b1e9c-3d4f-4c2a-9d1e-1f2e3d4c5b6a", "a/b c:é", ""] {
            let r = PoisonRecord {
                message_id: id.into(),
                received_at: Utc::now(),
                receive_count: 1,
                group: Some("main".into()),
                kind: "not_json".into(),
                error: "e".into(),
                moved_to: "deleted".into(),
            };
            super::super::store::validate_key(&r.key()).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(r.key().starts_with(POISON_PREFIX));
        }
    }
}
