//! Faults a test asks for: errors, delays, hangs, dropped connections, throttling, and imports
//! that get stuck, run slowly or end in a forced state.
//!
//! A test posts rules to `/__sim/faults`; each request to the Canvas API is matched against them
//! in order, and the first rule that matches and still has shots left fires. Nothing here looks
//! at request *content*: faults are chosen per test, never by magic inputs.

use serde::{Deserialize, Serialize};

/// What a rule does to the request it fires on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status instead of handling the request. Without a body, 5xx statuses get
    /// Canvas's internal-error JSON and others an empty JSON object.
    Status {
        status: u16,
        #[serde(default)]
        body: Option<String>,
    },
    /// Wait this long, then handle the request normally.
    Delay { millis: u64 },
    /// Never answer (the client's timeout fires); the request is not handled.
    Hang,
    /// Handle the request (a POST creates its import), then wait this long before answering:
    /// the window in which a client can die after Canvas acted but before it heard.
    DelayAfter { millis: u64 },
    /// Close the connection without handling the request or answering.
    DropBefore,
    /// Handle the request (a POST creates its import) and then close the connection without
    /// answering: the import exists but the client never hears of it.
    DropAfter,
    /// Answer as the throttle does when the bucket is full.
    Throttle,
    /// For a create request: shape the import it creates.
    Import {
        /// `"created"` keeps it queued forever; `"initializing"` leaves it an orphan.
        #[serde(default)]
        stuck_in: Option<String>,
        /// Its own speed, in rows per second (slow imports).
        #[serde(default)]
        rows_per_sec: Option<f64>,
        /// The state it ends in, whatever its content (e.g. `"failed"`).
        #[serde(default)]
        final_state: Option<String>,
    },
}

/// A rule: which requests it applies to, how often, and what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method to match (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Substring of the path to match (any when absent), e.g. `"/sis_imports"` or `"/abort"`.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Let this many matching requests through before firing.
    #[serde(default)]
    pub skip: u32,
    /// How many times to fire; `null` means every time. Default 1.
    #[serde(default = "one")]
    pub times: Option<u32>,
    pub action: FaultAction,
}

fn one() -> Option<u32> {
    Some(1)
}

/// A rule with its counters, as `/__sim/faults` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ArmedRule {
    pub id: u64,
    #[serde(flatten)]
    pub rule: FaultRule,
    pub matched: u32,
    pub fired: u32,
}

/// Every rule in force.
#[derive(Debug, Default)]
pub struct FaultBook {
    rules: Vec<ArmedRule>,
    next_id: u64,
}

impl FaultBook {
    pub fn add(&mut self, rule: FaultRule) -> u64 {
        self.next_id += 1;
        self.rules.push(ArmedRule {
            id: self.next_id,
            rule,
            matched: 0,
            fired: 0,
        });
        self.next_id
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn list(&self) -> Vec<ArmedRule> {
        self.rules.clone()
    }

    /// The action of the first live rule matching this request, counting the match.
    pub fn fire(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        for armed in &mut self.rules {
            let r = &armed.rule;
            let method_ok = r
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            let path_ok = r.path_contains.as_deref().is_none_or(|p| path.contains(p));
            let live = r.times.is_none_or(|t| armed.fired < t);
            if !(method_ok && path_ok && live) {
                continue;
            }
            armed.matched += 1;
            if armed.matched <= r.skip {
                continue;
            }
            armed.fired += 1;
            return Some(r.action.clone());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_rule_fires_once_by_default_on_matching_requests_only() {
        let mut book = FaultBook::default();
        book.add(rule(r#"{"method":"POST","path_contains":"/sis_imports","action":{"kind":"status","status":503}}"#));
        assert_eq!(book.fire("GET", "/api/v1/accounts/1/sis_imports"), None);
        assert!(matches!(
            book.fire("POST", "/api/v1/accounts/1/sis_imports"),
            Some(FaultAction::Status { status: 503, .. })
        ));
        assert_eq!(book.fire("POST", "/api/v1/accounts/1/sis_imports"), None);
    }

    #[test]
    fn skip_lets_requests_through_first_and_null_times_fires_forever() {
        let mut book = FaultBook::default();
        book.add(rule(r#"{"skip":2,"times":null,"action":{"kind":"hang"}}"#));
        assert_eq!(book.fire("GET", "/x"), None);
        assert_eq!(book.fire("GET", "/x"), None);
        for _ in 0..5 {
            assert_eq!(book.fire("GET", "/x"), Some(FaultAction::Hang));
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<FaultRule>(r#"{"action":{"kind":"hang"},"pathh":"/"}"#).is_err()
        );
    }
}
