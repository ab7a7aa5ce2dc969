//! Check Canvas before sending: what Canvas's own guide asks of an import script.
//!
//! 1. Is an import of this account still running or queued? Then wait for it, bounded by
//!    `busy_max` — a run frequency shorter than Canvas's processing time would otherwise queue
//!    batch after batch behind it. Imports stuck in `created` or `initializing` are reported
//!    (orphans in `initializing` are never processed, so they are not waited for).
//! 2. Did the previous import of this account succeed? If it failed or was aborted, refuse
//!    (exit 4) unless `--after-failure`: updates must never run out of order past a failure.
//! 3. Did this token's user import these same files a moment ago? A one-shot run has no ledger
//!    to remember what it sent: Canvas's recent imports are its history, and a re-run is refused
//!    (exit 6) unless `--force` ([`refuse_a_rerun`]).

use chrono::Utc;

use super::{ImportRequest, Observer, Outcome, RERUN_LOOKBACK, canvas_outcome, submit};
use canvas_sis_client::{CanvasApi, ListFilter, SisImport, WorkflowState};

pub async fn check(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    obs: &dyn Observer,
) -> Result<(), Outcome> {
    report_orphans(client, req, obs).await?;
    wait_until_idle(client, req, obs).await?;
    previous_succeeded(client, req).await
}

/// Imports stuck in `initializing` (an interrupted upload, or a 400 Canvas returned after saving
/// the batch) are never processed and block nothing; they are reported so an admin can tidy up.
async fn report_orphans(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    obs: &dyn Observer,
) -> Result<(), Outcome> {
    let filter = ListFilter {
        workflow_states: vec![WorkflowState::Initializing],
        ..ListFilter::default()
    };
    let orphans = client
        .recent_sis_imports(&req.account, &filter, 100)
        .await
        .map_err(|e| canvas_outcome(e, None))?;
    let now = Utc::now();
    for o in orphans {
        let age = o
            .created_at
            .map(|t| (now - t).num_seconds().max(0) as u64)
            .unwrap_or(0);
        if age >= req.wait.stuck_after.as_secs() {
            obs.note(&format!(
                "SIS import {} has been stuck in initializing for {age}s: Canvas never processes it (an unfinished upload or a refused create). It does not block this run; abort it to tidy up (PUT .../sis_imports/{}/abort).",
                o.id, o.id
            ));
        }
    }
    Ok(())
}

/// Imports of the account that Canvas will still process: running, or queued in `created`.
pub(crate) async fn busy(
    client: &dyn CanvasApi,
    req: &ImportRequest,
) -> Result<Vec<SisImport>, Outcome> {
    let mut busy = client
        .importing(&req.account)
        .await
        .map_err(|e| canvas_outcome(e, None))?;
    let queued = ListFilter {
        workflow_states: vec![WorkflowState::Created],
        per_page: Some(100),
        ..ListFilter::default()
    };
    let created = client
        .recent_sis_imports(&req.account, &queued, 100)
        .await
        .map_err(|e| canvas_outcome(e, None))?;
    busy.extend(created);
    Ok(busy)
}

async fn wait_until_idle(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    obs: &dyn Observer,
) -> Result<(), Outcome> {
    let started = tokio::time::Instant::now();
    let mut delay = req.wait.poll_min;
    let mut told = false;
    loop {
        let busy = busy(client, req).await?;
        let Some(first) = busy.first() else {
            return Ok(());
        };
        if !told {
            obs.note(&describe_busy(&busy, req));
            told = true;
        }
        if started.elapsed() >= req.wait.busy_max {
            return Err(Outcome::GaveUp {
                reason: format!(
                    "import {} of this account was still {} after waiting {:?}; nothing was sent. {}",
                    first.id,
                    first.workflow_state.as_str(),
                    req.wait.busy_max,
                    "Check it in Canvas (GET .../sis_imports/importing), abort it if it is stuck, then run again."
                ),
                import_id: None,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(req.wait.poll_max);
    }
}

fn describe_busy(busy: &[SisImport], req: &ImportRequest) -> String {
    let now = Utc::now();
    let parts: Vec<String> = busy
        .iter()
        .map(|i| {
            let age = i
                .created_at
                .map(|t| (now - t).num_seconds().max(0))
                .unwrap_or(0);
            let stuck = i.workflow_state.is_pending()
                && age as u64 >= req.wait.stuck_after.as_secs()
                && !busy.iter().any(|b| b.workflow_state.is_running());
            format!(
                "import {} is {}{} (created {age}s ago){}",
                i.id,
                i.workflow_state.as_str(),
                i.progress.map(|p| format!(" at {p}%")).unwrap_or_default(),
                if stuck {
                    " and looks stuck: nothing is running ahead of it"
                } else {
                    ""
                }
            )
        })
        .collect();
    format!(
        "waiting for earlier imports of this account to end: {}",
        parts.join("; ")
    )
}

/// The newest import that Canvas processed (orphans in `initializing` never are).
async fn previous_succeeded(client: &dyn CanvasApi, req: &ImportRequest) -> Result<(), Outcome> {
    let recent = client
        .recent_sis_imports(
            &req.account,
            &ListFilter {
                per_page: Some(20),
                ..ListFilter::default()
            },
            20,
        )
        .await
        .map_err(|e| canvas_outcome(e, None))?;
    let Some(previous) = recent
        .into_iter()
        .find(|i| i.workflow_state != WorkflowState::Initializing)
    else {
        return Ok(());
    };
    if previous.workflow_state.is_failure() && !req.after_failure {
        return Err(Outcome::RefusedAfterFailure {
            previous: Box::new(previous),
        });
    }
    Ok(())
}

/// Refuses a re-run: an import of the same CSVs (names and sizes) as `zip` by this token's user
/// within [`RERUN_LOOKBACK`] of `now` (the ledger's clock). Checked after [`check`], so any
/// import of ours still running has ended and has its files.
pub async fn refuse_a_rerun(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    zip: &std::path::Path,
    now: chrono::DateTime<Utc>,
) -> Result<(), Outcome> {
    let files = submit::posted_files(zip).map_err(|reason| Outcome::Rejected {
        reason,
        report: None,
    })?;
    let since = now - RERUN_LOOKBACK;
    match submit::already_imported(client, &req.account, &files, since).await? {
        Some(done) => Err(Outcome::AlreadyImported {
            import: Box::new(done),
        }),
        None => Ok(()),
    }
}
