//! What an operator does to a tenant or a batch: pause, resume, approve, undo, and look.
//!
//! All of it goes through the ledger's compare-and-swap writes, so it is safe while workers run:
//! a worker sees the new gate or approval on its next step.
//!
//! A pause and a halt are two things (`super::gate`): `resume` lifts a pause first, and only a
//! `resume` of a tenant that is not paused acknowledges its failures — so a failure that landed
//! during a pause is never walked past without the operator being told. An undo holds its
//! tenant with a mark of its own while Canvas restores ([`undo`]): `resume` refuses to lift the
//! mark of an undo that is alive, and lifts the mark of one that died.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::gate::{self, Paused};
use crate::config::OnFailure;
use crate::ledger::{
    BatchId, BatchRecord, Gate, Halt, Ledger, LedgerError, LedgerStore, Restore, RestoreMark,
    Stage, TenantRecord,
};
use canvas_sis_client::{AccountRef, CanvasApi, RestoreOptions, SisImport};

/// Why an operator action was refused; each says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(
        "no batch {0} in the ledger; `canvas-sis status --dir DIR` (or `--state URL`) lists the batches"
    )]
    NoSuchBatch(String),
    #[error(
        "batch {batch} is {stage}, not held: only a batch held by the mass-change guard can be approved"
    )]
    NotHeld { batch: String, stage: String },
    #[error(
        "tenant {tenant} is halted by batch {batch} ({reason}); look at that batch, then `canvas-sis resume` it instead of pausing"
    )]
    Halted {
        tenant: String,
        batch: String,
        reason: String,
    },
    #[error("batch {0} was never imported into Canvas, so there is nothing to undo")]
    NothingToUndo(String),
    #[error(
        "Canvas SIS import {import} of {canvas} is not the batch's: {why}. Nothing was restored; check that the tenant of batch {batch} names the Canvas instance and account it was imported into"
    )]
    NotTheBatchsImport {
        batch: String,
        import: u64,
        canvas: String,
        why: String,
    },
    #[error("Canvas refused to restore batch {batch}: {reason}")]
    Canvas { batch: String, reason: String },
    #[error(
        "tenant {tenant} is held by an undo of batch {batch}, which is restoring Canvas import {import_id} now (it checked in {seen_secs} s ago); the tenant goes on by itself when the restore ends. If no `canvas-sis undo` runs any more, `resume` lifts the hold once the undo has been silent for {alive_secs} s",
        alive_secs = UNDO_ALIVE.as_secs()
    )]
    UndoRunning {
        tenant: String,
        batch: BatchId,
        import_id: u64,
        seen_secs: i64,
    },
    #[error(
        "the restore of batch {batch} did not finish within {after:?}; follow Canvas progress {progress}. The tenant stays held until `canvas-sis resume`"
    )]
    RestoreTimeout {
        batch: String,
        progress: u64,
        after: Duration,
    },
}

/// The tenants that have a record in the ledger.
pub async fn tenants<S: LedgerStore>(ledger: &Ledger<S>) -> Result<Vec<String>, LedgerError> {
    let mut names: Vec<String> = ledger
        .store()
        .list("tenants/")
        .await?
        .iter()
        .filter_map(|k| {
            k.strip_prefix("tenants/")?
                .strip_suffix("/tenant.json")
                .map(str::to_owned)
        })
        .collect();
    names.dedup();
    Ok(names)
}

/// Closes the gate for a seasonal stop; batches keep arriving and park. A halted tenant is not
/// paused: its failure wants looking at, then `resume`.
pub async fn pause<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    by: &str,
    reason: &str,
) -> Result<TenantRecord, OperatorError> {
    if let Some(h) = gate::current(ledger, tenant, OnFailure::Halt).await?.halted {
        return Err(OperatorError::Halted {
            tenant: tenant.to_owned(),
            batch: h.batch.to_string(),
            reason: h.reason,
        });
    }
    ledger
        .update_tenant(tenant, |t| {
            t.lift_legacy_halt();
            t.gate = Gate::Paused {
                reason: reason.to_owned(),
                by: by.to_owned(),
                at: ledger.now(),
            };
            Ok::<(), OperatorError>(())
        })
        .await
}

/// What [`resume`] lifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// Nothing held the tenant.
    AlreadyOpen,
    /// The operator's pause, and only it. `still_halted`: a failure nobody acknowledged (it may
    /// have landed during the pause) keeps the tenant halted; a second `resume` goes past it.
    Unpaused {
        paused: Paused,
        still_halted: Option<Halt>,
    },
    /// The tenant's failures (`batches`, the newest being `halt`) are acknowledged: parked
    /// batches go on in arrival order on the next run.
    Acknowledged { halt: Halt, batches: Vec<BatchId> },
    /// The hold of an undo that stopped checking in (it died, or its restore timed out) is
    /// lifted; `gate` is what holds the tenant under it, if anything.
    UndoHoldLifted {
        mark: RestoreMark,
        gate: gate::GateState,
    },
}

/// [`resume_by`] an unnamed operator.
pub async fn resume<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
) -> Result<Resumed, OperatorError> {
    resume_by(ledger, tenant, "operator").await
}

/// Lifts what holds the tenant, one thing at a time: its pause if it is paused (a halt under it
/// stays, and is said), else its halt — every unacknowledged failure is acknowledged by `by`.
pub async fn resume_by<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    by: &str,
) -> Result<Resumed, OperatorError> {
    let batches = ledger.list_batches(tenant).await?;
    let record = ledger.tenant(tenant).await?;
    let state = gate::derive(&record, &batches, OnFailure::Halt);
    if let Some(mark) = &state.restoring {
        let seen_secs = (ledger.now() - mark.seen).num_seconds();
        if seen_secs < UNDO_ALIVE.as_secs() as i64 {
            return Err(OperatorError::UndoRunning {
                tenant: tenant.to_owned(),
                batch: mark.batch.clone(),
                import_id: mark.import_id,
                seen_secs,
            });
        }
        ledger
            .update_tenant(tenant, |t| {
                if t.restoring.as_ref() == Some(mark) {
                    t.restoring = None;
                }
                Ok::<(), OperatorError>(())
            })
            .await?;
        let mut under = state.clone();
        under.restoring = None;
        return Ok(Resumed::UndoHoldLifted {
            mark: mark.clone(),
            gate: under,
        });
    }
    if let Some(paused) = state.paused {
        ledger
            .update_tenant(tenant, |t| {
                if matches!(t.gate, Gate::Paused { .. }) {
                    t.gate = Gate::Open;
                }
                Ok::<(), OperatorError>(())
            })
            .await?;
        return Ok(Resumed::Unpaused {
            paused,
            still_halted: state.halted,
        });
    }
    let stale = record.recorded_halt().is_some();
    let acknowledged = match (&state.halted, stale) {
        (None, false) => Vec::new(),
        // Also clears a recorded halt whose failure was acknowledged since.
        _ => gate::acknowledge(ledger, tenant, &batches, by).await?,
    };
    Ok(match state.halted {
        Some(halt) => Resumed::Acknowledged {
            halt,
            batches: acknowledged,
        },
        None => Resumed::AlreadyOpen,
    })
}

/// Lets a batch held by the mass-change guard through, once.
pub async fn approve<S: LedgerStore>(
    ledger: &Ledger<S>,
    batch: &str,
) -> Result<BatchRecord, OperatorError> {
    let id = BatchId::parse(batch).map_err(|_| OperatorError::NoSuchBatch(batch.to_owned()))?;
    ledger
        .update_batch(&id, |r| {
            if !matches!(r.stage, Stage::Held { .. }) {
                return Err(OperatorError::NotHeld {
                    batch: batch.to_owned(),
                    stage: r.stage.to_string(),
                });
            }
            r.approved = true;
            Ok(())
        })
        .await
        .map_err(|e| match e {
            OperatorError::Ledger(LedgerError::NotFound { .. }) => {
                OperatorError::NoSuchBatch(batch.to_owned())
            }
            other => other,
        })
}

/// Canvas's `restore_states` for the batch's own import, followed to the end and recorded in
/// the batch's `restores` list.
///
/// `client` and `account` must be the batch's tenant's (the caller builds them from the tenant's
/// configuration, never from flags). Before anything is restored, Canvas's import of the
/// recorded id is fetched and must be the one the batch's submit made (its recorded JSON: same
/// id, creation time and user), so a tenant pointed at another instance restores nothing. The
/// tenant is held while the restore runs (`TenantRecord::restoring`, renewed every
/// [`CHECK_IN_EVERY`]) — no batch of it is sent over a half-restored account, whatever an
/// operator pauses or resumes meanwhile — and let go after; a crash or a timeout mid-restore
/// leaves it held, which `status` says, until an operator's `resume` once the undo has been
/// silent for [`UNDO_ALIVE`].
pub async fn undo<S: LedgerStore>(
    ledger: &Ledger<S>,
    client: &dyn CanvasApi,
    account: &AccountRef,
    batch: &str,
    opts: RestoreOptions,
    limit: Duration,
) -> Result<serde_json::Value, OperatorError> {
    let id = BatchId::parse(batch).map_err(|_| OperatorError::NoSuchBatch(batch.to_owned()))?;
    let rec = ledger
        .get_batch(&id)
        .await?
        .ok_or_else(|| OperatorError::NoSuchBatch(batch.to_owned()))?;
    let import_id = rec
        .canvas_import_id
        .ok_or_else(|| OperatorError::NothingToUndo(batch.to_owned()))?;
    let canvas = |e: canvas_sis_client::CanvasError| OperatorError::Canvas {
        batch: batch.to_owned(),
        reason: e.to_string(),
    };
    let live = client
        .get_sis_import(account, import_id)
        .await
        .map_err(canvas)?;
    if let Err(why) = same_import(&rec, &live) {
        return Err(OperatorError::NotTheBatchsImport {
            batch: batch.to_owned(),
            import: import_id,
            canvas: format!("{} (account {account})", client.base_url()),
            why,
        });
    }
    let mut mark = hold_for_restore(ledger, &id, import_id).await?;
    let progress = match client.restore_states(account, import_id, opts).await {
        Ok(p) => p,
        Err(e) => {
            // Canvas started nothing: the tenant goes on.
            release_after_restore(ledger, &mark).await?;
            return Err(canvas(e));
        }
    };
    let progress = follow_restore(ledger, client, batch, progress, limit, &mut mark).await?;
    let restore = Restore {
        at: ledger.now(),
        batch_mode: opts.batch_mode,
        import_id,
        message: progress.message,
        progress_id: progress.id,
        unconclude_only: opts.unconclude_only,
        undelete_only: opts.undelete_only,
        workflow_state: progress.workflow_state,
        extra: Default::default(),
    };
    ledger
        .update_batch(&id, |r| {
            r.restores.push(restore.clone());
            Ok::<(), LedgerError>(())
        })
        .await?;
    release_after_restore(ledger, &mark).await?;
    Ok(serde_json::to_value(&restore).unwrap_or_default())
}

/// Whether Canvas's `live` import is the one the batch's submit made, as recorded with its
/// outcome: same id, same creation time, same user. `Err` says what differs.
fn same_import(rec: &BatchRecord, live: &SisImport) -> Result<(), String> {
    let recorded = rec
        .canvas_json
        .clone()
        .and_then(|j| serde_json::from_value::<SisImport>(j).ok())
        .ok_or_else(|| {
            "the batch has no recorded Canvas answer to check it against (it has not finished)"
                .to_owned()
        })?;
    if recorded.id != live.id {
        return Err(format!(
            "the batch recorded import {}, Canvas answered import {}",
            recorded.id, live.id
        ));
    }
    if recorded.created_at != live.created_at {
        return Err(format!(
            "it was created at {}, the batch's at {}",
            when(live.created_at),
            when(recorded.created_at)
        ));
    }
    let user = |i: &SisImport| i.user.as_ref().and_then(|u| u.id);
    if user(&recorded) != user(live) {
        return Err(format!(
            "it was created by user {}, the batch's by user {}",
            user(live).map_or("?".into(), |u| u.to_string()),
            user(&recorded).map_or("?".into(), |u| u.to_string())
        ));
    }
    Ok(())
}

fn when(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map_or_else(|| "an unknown time".to_owned(), |t| t.to_rfc3339())
}

/// How long an undo may go without checking in before `resume` takes it for dead.
pub const UNDO_ALIVE: Duration = Duration::from_secs(60);
/// How often a running undo checks in (renews its mark).
const CHECK_IN_EVERY: Duration = Duration::from_secs(10);

/// Holds the batch's tenant for the restore (`TenantRecord::restoring`), whatever its gate —
/// unless another undo of the tenant is alive ([`OperatorError::UndoRunning`]: two restores at
/// once would each let the tenant go when theirs ends). Returns the mark written, to renew and
/// clear exactly that one.
async fn hold_for_restore<S: LedgerStore>(
    ledger: &Ledger<S>,
    batch: &BatchId,
    import_id: u64,
) -> Result<RestoreMark, OperatorError> {
    let mark = RestoreMark {
        batch: batch.clone(),
        import_id,
        seen: ledger.now(),
        extra: Default::default(),
    };
    let now = ledger.now();
    ledger
        .update_tenant(batch.tenant(), |t| {
            if let Some(other) = &t.restoring {
                let seen_secs = (now - other.seen).num_seconds();
                if seen_secs < UNDO_ALIVE.as_secs() as i64 {
                    return Err(OperatorError::UndoRunning {
                        tenant: batch.tenant().to_owned(),
                        batch: other.batch.clone(),
                        import_id: other.import_id,
                        seen_secs,
                    });
                }
            }
            t.restoring = Some(mark.clone());
            Ok::<(), OperatorError>(())
        })
        .await?;
    Ok(mark)
}

/// Renews `mark` (the undo is alive), if it is still the tenant's.
async fn check_in<S: LedgerStore>(
    ledger: &Ledger<S>,
    mark: &mut RestoreMark,
) -> Result<(), OperatorError> {
    let renewed = RestoreMark {
        seen: ledger.now(),
        ..mark.clone()
    };
    let ours = mark.clone();
    ledger
        .update_tenant(mark.batch.tenant(), |t| {
            if t.restoring.as_ref() == Some(&ours) {
                t.restoring = Some(renewed.clone());
            }
            Ok::<(), OperatorError>(())
        })
        .await?;
    *mark = renewed;
    Ok(())
}

/// Lifts the restore's hold, if it is still `mark`.
async fn release_after_restore<S: LedgerStore>(
    ledger: &Ledger<S>,
    mark: &RestoreMark,
) -> Result<(), OperatorError> {
    ledger
        .update_tenant(mark.batch.tenant(), |t| {
            if t.restoring.as_ref() == Some(mark) {
                t.restoring = None;
            }
            Ok::<(), OperatorError>(())
        })
        .await?;
    Ok(())
}

/// Polls Canvas's progress of a restore until it completes or fails, within `limit`.
async fn follow_restore<S: LedgerStore>(
    ledger: &Ledger<S>,
    client: &dyn CanvasApi,
    batch: &str,
    mut progress: canvas_sis_client::Progress,
    limit: Duration,
    mark: &mut RestoreMark,
) -> Result<canvas_sis_client::Progress, OperatorError> {
    let started = Instant::now();
    let mut checked_in = Instant::now();
    while !matches!(progress.workflow_state.as_str(), "completed" | "failed") {
        if checked_in.elapsed() >= CHECK_IN_EVERY {
            check_in(ledger, mark).await?;
            checked_in = Instant::now();
        }
        if started.elapsed() > limit {
            return Err(OperatorError::RestoreTimeout {
                batch: batch.to_owned(),
                progress: progress.id,
                after: limit,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        progress = client
            .get_progress(progress.id)
            .await
            .map_err(|e| OperatorError::Canvas {
                batch: batch.to_owned(),
                reason: e.to_string(),
            })?;
    }
    Ok(progress)
}

/// One line per unfinished batch and the tenant's gate, for `status --dir/--state`.
pub async fn describe<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    recent: usize,
) -> Result<String, LedgerError> {
    let t = ledger.tenant(tenant).await?;
    let batches = ledger.list_batches(tenant).await?;
    let state = gate::derive(&t, &batches, OnFailure::Halt);
    let mut out = format!("tenant {tenant}: {}\n", state.describe());
    let (done, open): (Vec<_>, Vec<_>) = batches.iter().partition(|b| b.stage.is_terminal());
    for b in &open {
        out.push_str(&format!("  {:<32} {}\n", b.id.to_string(), b.stage));
    }
    for b in done.iter().rev().take(recent) {
        out.push_str(&format!("  {:<32} {}\n", b.id.to_string(), b.stage));
    }
    if batches.is_empty() {
        out.push_str("  (no batches)\n");
    }
    Ok(out)
}
