//! A tenant's gate as the operator commands print it for machines (`pause`, `resume` and
//! `approve` with `--json`); its one word is the core's [`GateState::state`], the same the
//! status page and the `canvas_sis.tenant.gate` metric use.
//!
//! Only a view of [`GateState`]: nothing here reads or writes the ledger, and the field names
//! are the JSON contract documented in `--help` (add fields, never rename them).

use chrono::{DateTime, Utc};
use serde::Serialize;

use canvas_sis::pipeline::gate::GateState;

/// The gate after an operator's action, as JSON.
#[derive(Debug, Serialize)]
pub struct GateJson {
    /// [`GateState::state`]: `open`, `paused`, `restoring` or `halted`.
    pub state: &'static str,
    pub paused: Option<PausedJson>,
    pub halted: Option<HaltedJson>,
    /// The undo restoring Canvas, if one holds the tenant.
    pub undo: Option<UndoJson>,
}

#[derive(Debug, Serialize)]
pub struct PausedJson {
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct HaltedJson {
    pub batch: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct UndoJson {
    pub batch: String,
    pub import_id: u64,
    pub seen: DateTime<Utc>,
}

impl From<&GateState> for GateJson {
    fn from(g: &GateState) -> Self {
        GateJson {
            state: g.state(),
            paused: g.paused.as_ref().map(|p| PausedJson {
                reason: p.reason.clone(),
                by: p.by.clone(),
                at: p.at,
            }),
            halted: g.halted.as_ref().map(|h| HaltedJson {
                batch: h.batch.to_string(),
                reason: h.reason.clone(),
                at: h.at,
            }),
            undo: g.restoring.as_ref().map(|r| UndoJson {
                batch: r.batch.to_string(),
                import_id: r.import_id,
                seen: r.seen,
            }),
        }
    }
}

/// Prints `value` as one line of JSON on stdout (JSON Lines: one object per tenant or batch).
pub fn print_line(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use canvas_sis::ledger::{BatchId, Halt};
    use canvas_sis::pipeline::gate::Paused;

    fn halt() -> Halt {
        Halt {
            batch: BatchId::parse("main/00000003-3fa9c1d2e4b5").unwrap(),
            reason: "failed_with_messages".into(),
            at: Utc::now(),
            extra: Default::default(),
        }
    }

    #[test]
    fn a_halt_under_a_pause_reads_halted_and_both_are_in_the_json() {
        let gate = GateState {
            paused: Some(Paused {
                reason: "term rollover".into(),
                by: "ops".into(),
                at: Utc::now(),
            }),
            halted: Some(halt()),
            restoring: None,
        };
        let v = serde_json::to_value(GateJson::from(&gate)).unwrap();
        assert_eq!(v["state"], "halted");
        assert_eq!(v["paused"]["reason"], "term rollover");
        assert_eq!(v["halted"]["batch"], "main/00000003-3fa9c1d2e4b5");
        assert!(v["undo"].is_null());
        assert_eq!(GateState::default().state(), "open");
    }
}
