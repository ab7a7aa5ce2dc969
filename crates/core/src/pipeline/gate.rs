//! Whether a tenant's stream may go on: the operator's pause, and the halt of a failure, derived
//! from the ledger.
//!
//! A failed, aborted or rejected batch records its [`Failure`] in the same write as its terminal
//! stage. Until an operator's `resume` acknowledges it, the tenant is halted — unless its policy
//! continues, which acknowledges each failure as it happens. A pause is the operator's gate laid
//! *over* a halt, never in its place: lifting the pause leaves the halt. An undo restoring one of
//! the tenant's imports holds it too ([`TenantRecord::restoring`]), whatever an operator pauses
//! or resumes meanwhile: no batch is sent over a half-restored account.
//!
//! The tenant record keeps a copy of the newest halt ([`TenantRecord::halt`]) so that the check
//! before every stage reads one record (and the batch it names), not every batch. The copy is
//! written after the failure; a copy lost in a crash between the two writes is written again by
//! [`record_missing_halt`] at the start of the tenant's next run, which lists the batches
//! anyway. [`derive`] is the exact answer, from every batch; [`of_record`] the cheap one.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::config::OnFailure;
use crate::ledger::{
    Acknowledgement, BatchId, BatchRecord, Gate, Halt, Ledger, LedgerError, LedgerStore,
    RestoreMark, TenantRecord,
};

/// Who acknowledges a failure of a tenant whose policy continues.
pub const POLICY_CONTINUES: &str = "on_failure = continue";

/// An operator's pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// What keeps a tenant's batches from going on; several may hold at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateState {
    pub paused: Option<Paused>,
    /// The newest failure no operator has acknowledged.
    pub halted: Option<Halt>,
    /// An undo restoring one of the tenant's imports (or one that died doing so).
    pub restoring: Option<RestoreMark>,
}

impl GateState {
    pub fn is_open(&self) -> bool {
        self.paused.is_none() && self.halted.is_none() && self.restoring.is_none()
    }

    /// Why batches park now, in the words a parked batch records.
    pub fn closed_reason(&self) -> Option<String> {
        if let Some(r) = &self.restoring {
            return Some(format!(
                "tenant held while an undo of batch {} restores Canvas import {}",
                r.batch, r.import_id
            ));
        }
        let halted = self
            .halted
            .as_ref()
            .map(|h| format!("halted by batch {}: {}", h.batch, h.reason));
        let paused = self
            .paused
            .as_ref()
            .map(|p| format!("paused by {}: {}", p.by, p.reason));
        match (paused, halted) {
            (None, None) => None,
            (Some(p), None) => Some(format!("tenant {p}")),
            (None, Some(h)) => Some(format!("tenant {h}")),
            (Some(p), Some(h)) => Some(format!("tenant {p}; and {h}")),
        }
    }

    /// For `status`: each of pause and halt, with what lifts it.
    pub fn describe(&self) -> String {
        let halted = self.halted.as_ref().map(|h| {
            format!(
                "HALTED since {} by batch {}: {}. Look at that batch's archive, fix the feed or Canvas, then `canvas-sis resume`.",
                h.at, h.batch, h.reason
            )
        });
        let paused = self.paused.as_ref().map(|p| {
            format!(
                "paused since {} by {}: {}. `canvas-sis resume` lifts the pause{}.",
                p.at,
                p.by,
                p.reason,
                if halted.is_some() {
                    " (the halt stays: a second `resume` acknowledges it)"
                } else {
                    ""
                }
            )
        });
        let state = match (paused, halted) {
            (None, None) => "open".into(),
            (Some(p), None) => p,
            (None, Some(h)) => h,
            (Some(p), Some(h)) => format!("{p} And {h}"),
        };
        match &self.restoring {
            Some(r) => format!(
                "HELD by an undo of batch {}: Canvas is restoring import {} (the undo last checked in at {}; \
                 it lets the tenant go on when the restore ends; if no `canvas-sis undo` runs any more, \
                 check the import in Canvas, then `canvas-sis resume`). Under it: {state}",
                r.batch, r.import_id, r.seen
            ),
            None => state,
        }
    }

    /// Every state [`Self::state`] names, for a state-set gauge (one series each, 1 for the
    /// current one).
    pub const STATES: [&'static str; 4] = ["open", "paused", "restoring", "halted"];

    /// The gate in one word, the gravest that holds: `halted` (paused, or held by an undo, or
    /// not: the halt is what an operator must act on), `restoring` (an undo holds it), `paused`,
    /// or `open`. What `--json`, the status page and the gate metric say.
    pub fn state(&self) -> &'static str {
        match (&self.halted, &self.restoring, &self.paused) {
            (Some(_), _, _) => "halted",
            (None, Some(_), _) => "restoring",
            (None, None, Some(_)) => "paused",
            (None, None, None) => "open",
        }
    }
}

/// The operator's pause of the tenant, if any.
pub fn paused(tenant: &TenantRecord) -> Option<Paused> {
    match &tenant.gate {
        Gate::Paused { reason, by, at } => Some(Paused {
            reason: reason.clone(),
            by: by.clone(),
            at: *at,
        }),
        _ => None,
    }
}

/// The exact gate, from the tenant record and every batch of the tenant (arrival order).
pub fn derive(tenant: &TenantRecord, batches: &[BatchRecord], policy: OnFailure) -> GateState {
    let halted = match policy {
        OnFailure::Continue => None,
        OnFailure::Halt => {
            let recorded = tenant.recorded_halt().filter(|h| still_halts(h, batches));
            match newest_unacknowledged(batches) {
                // The tenant's copy tells it in the words of the run that recorded it.
                Some(newest) => Some(
                    recorded
                        .filter(|r| r.batch == newest.batch)
                        .unwrap_or(newest),
                ),
                None => recorded,
            }
        }
    };
    GateState {
        paused: paused(tenant),
        halted,
        restoring: tenant.restoring.clone(),
    }
}

/// The gate from the tenant record, reading only the batch its recorded halt names (to see that
/// its failure was not acknowledged since). What the pipeline checks before each stage.
pub async fn of_record<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &TenantRecord,
    policy: OnFailure,
) -> Result<GateState, LedgerError> {
    let mut halted = match policy {
        OnFailure::Continue => None,
        OnFailure::Halt => tenant.recorded_halt(),
    };
    if let Some(h) = &halted
        && let Some(b) = ledger.get_batch(&h.batch).await?
        && !still_halts(h, std::slice::from_ref(&b))
    {
        halted = None;
    }
    Ok(GateState {
        paused: paused(tenant),
        halted,
        restoring: tenant.restoring.clone(),
    })
}

/// The exact gate of `tenant`, read from the ledger (lists its batches).
pub async fn current<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    policy: OnFailure,
) -> Result<GateState, LedgerError> {
    let record = ledger.tenant(tenant).await?;
    let batches = ledger.list_batches(tenant).await?;
    Ok(derive(&record, &batches, policy))
}

/// The newest batch failure no one has acknowledged, as a halt.
fn newest_unacknowledged(batches: &[BatchRecord]) -> Option<Halt> {
    batches.iter().rev().find_map(|b| {
        b.unacknowledged_failure().map(|f| Halt {
            batch: b.id.clone(),
            reason: f.reason.clone(),
            at: f.at,
            extra: Default::default(),
        })
    })
}

/// Whether a recorded halt still holds: its batch's failure is unacknowledged, or it was
/// recorded by an earlier version (the batch has no [`crate::ledger::Failure`]), or its batch is
/// not among `batches`.
fn still_halts(h: &Halt, batches: &[BatchRecord]) -> bool {
    batches
        .iter()
        .find(|b| b.id == h.batch)
        .is_none_or(|b| b.failure.is_none() || b.unacknowledged_failure().is_some())
}

/// Records on the tenant that `batch` halts it (the newest failure is the one named), moving
/// an earlier version's `Gate::Halted` out of the way. Returns whether the tenant was not
/// halted before, as far as its record says (then the halt is news worth a notice).
pub async fn record_halt<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    batch: &BatchId,
    reason: &str,
) -> Result<bool, LedgerError> {
    let before = ledger.tenant(tenant).await?;
    let was_halted = of_record(ledger, &before, OnFailure::Halt)
        .await?
        .halted
        .is_some();
    let halt = Halt {
        batch: batch.clone(),
        reason: reason.to_owned(),
        at: ledger.now(),
        extra: Default::default(),
    };
    ledger
        .update_tenant(tenant, |t| {
            t.lift_legacy_halt();
            t.halt = Some(halt.clone());
            Ok::<(), LedgerError>(())
        })
        .await?;
    Ok(!was_halted)
}

/// At the start of a run of the tenant, with its batches listed: a failure whose halt the
/// tenant record does not show (a worker stopped between the two writes) is recorded now, before
/// any batch can go on; a tenant whose policy continues has it acknowledged instead. Returns
/// the halt recorded, if one was.
pub async fn record_missing_halt<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    batches: &[BatchRecord],
    policy: OnFailure,
) -> Result<Option<Halt>, LedgerError> {
    let Some(newest) = newest_unacknowledged(batches) else {
        return Ok(None);
    };
    if policy == OnFailure::Continue {
        for b in batches
            .iter()
            .filter(|b| b.unacknowledged_failure().is_some())
        {
            acknowledge_batch(ledger, &b.id, POLICY_CONTINUES).await?;
        }
        return Ok(None);
    }
    let record = ledger.tenant(tenant).await?;
    let seen = record.recorded_halt();
    if seen.as_ref().is_some_and(|h| still_halts(h, batches)) {
        return Ok(None);
    }
    let mut written = false;
    ledger
        .update_tenant(tenant, |t| {
            // Only over what was read: a halt recorded meanwhile is as good.
            written = t.recorded_halt() == seen;
            if written {
                t.lift_legacy_halt();
                t.halt = Some(newest.clone());
            }
            Ok::<(), LedgerError>(())
        })
        .await?;
    Ok(written.then_some(newest))
}

/// Marks the failure of `batch` acknowledged by `by` (idempotent).
pub async fn acknowledge_batch<S: LedgerStore>(
    ledger: &Ledger<S>,
    batch: &BatchId,
    by: &str,
) -> Result<(), LedgerError> {
    let at = ledger.now();
    ledger
        .update_batch(batch, |r| {
            if let Some(f) = &mut r.failure
                && f.acknowledged.is_none()
            {
                f.acknowledged = Some(Acknowledgement {
                    by: by.to_owned(),
                    at,
                    extra: Default::default(),
                });
            }
            Ok::<(), LedgerError>(())
        })
        .await?;
    Ok(())
}

/// An operator's "go on past the failures": acknowledges every unacknowledged failure among
/// `batches` (the tenant's, as just listed), then removes the tenant's recorded halt if it names
/// one of them (or an earlier version's halt). A batch that failed after the listing is left
/// halting. Returns the batches acknowledged, in arrival order.
pub async fn acknowledge<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    batches: &[BatchRecord],
    by: &str,
) -> Result<Vec<BatchId>, LedgerError> {
    let mut acknowledged = Vec::new();
    for b in batches
        .iter()
        .filter(|b| b.unacknowledged_failure().is_some())
    {
        acknowledge_batch(ledger, &b.id, by).await?;
        acknowledged.push(b.id.clone());
    }
    let settled: HashSet<&BatchId> = batches
        .iter()
        .filter(|b| b.stage.is_terminal())
        .map(|b| &b.id)
        .collect();
    ledger
        .update_tenant(tenant, |t| {
            if matches!(t.gate, Gate::Halted { .. }) {
                t.gate = Gate::Open;
            }
            if t.halt.as_ref().is_some_and(|h| settled.contains(&h.batch)) {
                t.halt = None;
            }
            Ok::<(), LedgerError>(())
        })
        .await?;
    Ok(acknowledged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{BatchSource, MemoryStore, NewBatch, Stage};

    async fn failed(ledger: &Ledger<MemoryStore>, name: &str) -> BatchId {
        use sha2::{Digest, Sha256};
        let new = NewBatch {
            tenant: "t".into(),
            source: BatchSource {
                kind: "folder".into(),
                location: name.into(),
                files: vec![],
                ..Default::default()
            },
            content_sha256: hex::encode(Sha256::digest(name.as_bytes())),
        };
        let id = ledger.create_batch(new).await.unwrap().record().id.clone();
        let rejected = Stage::Terminal {
            state: "rejected".into(),
            ok: false,
        };
        ledger.transition(&id, rejected, "bad feed").await.unwrap();
        id
    }

    #[tokio::test]
    async fn a_failure_halts_until_acknowledged_and_a_later_one_halts_again() {
        let l = Ledger::new(MemoryStore::new());
        let b1 = failed(&l, "b1").await;
        let gate = current(&l, "t", OnFailure::Halt).await.unwrap();
        assert_eq!(gate.halted.as_ref().map(|h| &h.batch), Some(&b1));
        assert_eq!(gate.halted.unwrap().reason, "bad feed");
        assert!(
            current(&l, "t", OnFailure::Continue)
                .await
                .unwrap()
                .is_open()
        );
        let batches = l.list_batches("t").await.unwrap();
        assert_eq!(acknowledge(&l, "t", &batches, "ops").await.unwrap(), [b1]);
        assert!(current(&l, "t", OnFailure::Halt).await.unwrap().is_open());
        let b2 = failed(&l, "b2").await;
        let gate = current(&l, "t", OnFailure::Halt).await.unwrap();
        assert_eq!(gate.halted.map(|h| h.batch), Some(b2));
    }

    #[tokio::test]
    async fn an_earlier_versions_halt_still_halts_and_a_pause_laid_over_it_keeps_it() {
        let l = Ledger::new(MemoryStore::new());
        let b1 = failed(&l, "b1").await;
        // As an earlier version left it: no failure on the batch, the halt in the gate.
        l.update_batch(&b1, |r| {
            r.failure = None;
            Ok::<(), LedgerError>(())
        })
        .await
        .unwrap();
        l.update_tenant("t", |t| {
            t.gate = Gate::Halted {
                reason: "failed".into(),
                batch: b1.clone(),
                at: Utc::now(),
            };
            Ok::<(), LedgerError>(())
        })
        .await
        .unwrap();
        let t = l.tenant("t").await.unwrap();
        assert_eq!(
            of_record(&l, &t, OnFailure::Halt)
                .await
                .unwrap()
                .halted
                .map(|h| h.batch),
            Some(b1.clone())
        );
        l.update_tenant("t", |t| {
            t.lift_legacy_halt();
            t.gate = Gate::Paused {
                reason: "x".into(),
                by: "ops".into(),
                at: Utc::now(),
            };
            Ok::<(), LedgerError>(())
        })
        .await
        .unwrap();
        let gate = current(&l, "t", OnFailure::Halt).await.unwrap();
        assert!(gate.paused.is_some() && gate.halted.is_some(), "{gate:?}");
        assert_eq!(gate.state(), "halted", "a halt under a pause is the graver");
        let batches = l.list_batches("t").await.unwrap();
        acknowledge(&l, "t", &batches, "ops").await.unwrap();
        let gate = current(&l, "t", OnFailure::Halt).await.unwrap();
        assert!(gate.halted.is_none() && gate.paused.is_some(), "{gate:?}");
    }

    #[tokio::test]
    async fn a_halt_lost_between_the_two_writes_is_recorded_again_once() {
        let l = Ledger::new(MemoryStore::new());
        let b1 = failed(&l, "b1").await;
        let t = l.tenant("t").await.unwrap();
        assert!(of_record(&l, &t, OnFailure::Halt).await.unwrap().is_open());
        let batches = l.list_batches("t").await.unwrap();
        let again = record_missing_halt(&l, "t", &batches, OnFailure::Halt)
            .await
            .unwrap();
        assert_eq!(again.map(|h| h.batch), Some(b1.clone()));
        let t = l.tenant("t").await.unwrap();
        let fast = of_record(&l, &t, OnFailure::Halt).await.unwrap();
        assert_eq!(fast.halted.map(|h| h.batch), Some(b1));
        let twice = record_missing_halt(&l, "t", &batches, OnFailure::Halt)
            .await
            .unwrap();
        assert!(twice.is_none());
    }
}
