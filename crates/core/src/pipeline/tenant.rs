//! One tenant's stream: its batches run one at a time, in arrival order, never past one that is
//! not finished.
//!
//! Arrival order is the ledger's arrival sequence (allocated when a batch is first recorded,
//! strictly increasing). A run goes through the unfinished batches oldest first and stops at the
//! first that cannot finish now (held, parked, still importing, Canvas unreachable): a later batch
//! is never submitted while an earlier one is unfinished. When the gate is closed every unfinished
//! batch that has not been sent is recorded as parked, with the reason, so `status` can say why.
//!
//! Full snapshots supersede each other: when a batch is sent in batch mode (each batch is the
//! whole term), and several batches with the same effective options (same term) wait that have
//! not been sent yet, only the newest is sent; the older ones are recorded as superseded by it
//! (their inputs are archived, never lost).
//! Incremental batches are never skipped.

use std::path::{Path, PathBuf};

use super::staged::{Progress, RunError, Staged};
use crate::ledger::{BatchRecord, LedgerError, LedgerStore, Stage};
use canvas_sis_client::ImportOptions;

/// Where each batch of the tenant stopped in this run.
#[derive(Debug, Default)]
pub struct TenantRun {
    /// Batches that reached the end in this run (superseded ones first, then terminal ones in
    /// arrival order): their inputs may now be archived.
    pub finished: Vec<BatchRecord>,
    /// The batch the run stopped at, and why, if it stopped before the end of the stream.
    pub stopped_at: Option<(BatchRecord, String)>,
    /// The error the run stopped on, if it stopped on one: typed, for the trigger that decides
    /// what to do with the batch's message ([`RunError::cause`], and through it a Canvas error's
    /// class: `Outcome::canvas_error`).
    pub error: Option<RunError>,
}

/// Not yet handed to Canvas: may still be parked or superseded.
fn unsent(stage: &Stage) -> bool {
    matches!(
        stage,
        Stage::Received
            | Stage::Validated
            | Stage::Held { .. }
            | Stage::Parked { .. }
            | Stage::Packed
    )
}

impl<S: LedgerStore> Staged<'_, S> {
    /// Runs the tenant's unfinished batches in arrival order. `input_of` says where a batch's
    /// files are now (the trigger knows: a processing folder, a downloaded object, ...).
    pub async fn run_tenant(
        &self,
        input_of: impl Fn(&BatchRecord) -> Option<PathBuf>,
    ) -> Result<TenantRun, RunError> {
        let mut run = TenantRun {
            finished: self.supersede_snapshots().await?,
            stopped_at: None,
            error: None,
        };
        let batches = self.ledger.list_batches(&self.tenant).await?;
        self.recover_halt(&batches).await?;
        for rec in batches.into_iter().filter(|b| !b.stage.is_terminal()) {
            let Some(input) = input_of(&rec) else {
                run.stopped_at = Some((rec, "held by another worker".into()));
                return Ok(run);
            };
            match self.run_batch(&rec.id, &input).await {
                Ok(Progress::Finished(done)) => {
                    // Never past a failure, whoever recorded it: a worker that recorded the
                    // batch's end and died (or lost the write) before its halt leaves the halt
                    // to this run, before the next batch looks at the gate.
                    if done.unacknowledged_failure().is_some() {
                        let batches = self.ledger.list_batches(&self.tenant).await?;
                        self.recover_halt(&batches).await?;
                    }
                    run.finished.push(*done)
                }
                Ok(Progress::Blocked(blocked)) => {
                    let why = blocked.stage.to_string();
                    self.park_the_rest(&blocked).await?;
                    run.stopped_at = Some((*blocked, why));
                    return Ok(run);
                }
                Err(e) => {
                    let current = self.ledger.get_batch(&rec.id).await?.unwrap_or(rec);
                    run.stopped_at = Some((current, e.to_string()));
                    run.error = Some(e);
                    return Ok(run);
                }
            }
        }
        Ok(run)
    }

    /// Every later unsent batch is recorded as parked too, with why: the gate's reason when the
    /// gate is closed, or "waiting behind" a batch held for approval (later batches that are held
    /// themselves keep their own reason then). A trigger may then let go of their arrivals (a
    /// queue message): the ledger says where they wait.
    async fn park_the_rest(&self, blocked: &BatchRecord) -> Result<(), RunError> {
        let (reason, keep_held) = match &blocked.stage {
            Stage::Parked { reason } => (reason.clone(), false),
            Stage::Held { .. } => (
                format!("waiting behind batch {}, held for approval", blocked.id),
                true,
            ),
            _ => return Ok(()),
        };
        let reason = &reason;
        for rec in self.ledger.list_batches(&self.tenant).await? {
            if rec.arrival_seq > blocked.arrival_seq
                && unsent(&rec.stage)
                && !(keep_held && matches!(rec.stage, Stage::Held { .. }))
                && !matches!(&rec.stage, Stage::Parked { reason: r } if r == reason)
            {
                let parked = self
                    .ledger
                    .transition(
                        &rec.id,
                        Stage::Parked {
                            reason: reason.clone(),
                        },
                        reason,
                    )
                    .await;
                match parked {
                    // Another worker moved it since the listing (superseded it, say): it
                    // waits for nothing more.
                    Ok(_) | Err(LedgerError::IllegalTransition { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// In batch mode, an older unsent snapshot is superseded by the newest later one of the same
    /// scope; returns the superseded batches.
    ///
    /// The scope is the batch's own effective import options (its manifest's `import` over the
    /// tenant's defaults), compared whole: a spring batch naming its own `batch_mode_term` is not
    /// a snapshot of fall, and neither replaces the other. A batch whose options do not resolve
    /// is left alone (it is rejected when its turn comes).
    async fn supersede_snapshots(&self) -> Result<Vec<BatchRecord>, RunError> {
        let waiting: Vec<(BatchRecord, Option<ImportOptions>)> = self
            .ledger
            .list_batches(&self.tenant)
            .await?
            .into_iter()
            .filter(|b| unsent(&b.stage))
            .map(|b| {
                let scope = self.snapshot_scope(&b);
                (b, scope)
            })
            .collect();
        let mut superseded = Vec::new();
        for (i, (old, scope)) in waiting.iter().enumerate() {
            let Some(scope) = scope else { continue };
            let Some((newest, _)) = waiting[i + 1..]
                .iter()
                .rev()
                .find(|(_, s)| s.as_ref() == Some(scope))
            else {
                continue;
            };
            let rec = match self
                .ledger
                .transition(
                    &old.id,
                    Stage::Superseded {
                        by: newest.id.clone(),
                    },
                    "a newer full snapshot of the same batch-mode scope is waiting",
                )
                .await
            {
                Ok(rec) => rec,
                // Another worker moved it between this listing and this write: superseded it
                // first, or took it on to be sent (then it goes, and the newer one after it).
                Err(LedgerError::IllegalTransition { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            self.obs.note(&format!(
                "batch {} superseded by the newer full snapshot {}",
                old.id, newest.id
            ));
            superseded.push(rec);
        }
        Ok(superseded)
    }

    /// The options a batch would be sent with, when they are a full snapshot (batch mode).
    fn snapshot_scope(&self, rec: &BatchRecord) -> Option<ImportOptions> {
        self.request_for(rec, Path::new(""))
            .ok()
            .map(|r| r.options)
            .filter(|o| o.batch_mode.is_some())
    }
}
