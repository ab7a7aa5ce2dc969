//! Wait: poll the import until Canvas ends it, with backoff and a deadline.
//!
//! Every terminal state is an end (`imported`, `imported_with_messages`, `failed`,
//! `failed_with_messages`, `aborted`, and `restored`/`partially_restored` if someone restored it
//! meanwhile). Progress is not trusted as an end signal: failed imports stop below 100. An import
//! that stays `created` or `initializing` past `stuck_after` is reported once, naming what runs
//! ahead of it. Past the deadline we give up (exit 5) and leave the import alone: Canvas may still
//! finish it, and `canvas-sis status` shows it.

use super::{ImportRequest, Observer, Outcome, Stage, canvas_outcome};
use canvas_sis_client::{CanvasApi, ErrorClass, SisImport, WorkflowState};

pub async fn until_terminal(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    mut import: SisImport,
    obs: &dyn Observer,
) -> Result<SisImport, Outcome> {
    let started = tokio::time::Instant::now();
    let mut delay = req.wait.poll_min;
    let mut reported_stuck = false;
    loop {
        if import.workflow_state.is_terminal() {
            return Ok(import);
        }
        obs.progress(Stage::Wait, import.progress.unwrap_or(0), Some(100));
        if !reported_stuck
            && import.workflow_state.is_pending()
            && started.elapsed() >= req.wait.stuck_after
        {
            obs.note(&stuck_message(client, req, &import).await);
            reported_stuck = true;
        }
        if started.elapsed() >= req.wait.deadline {
            return Err(Outcome::GaveUp {
                reason: format!(
                    "SIS import {} was still {} after {:?}; it was left running. Follow it with `canvas-sis status`.",
                    import.id,
                    import.workflow_state.as_str(),
                    req.wait.deadline
                ),
                import_id: Some(import.id),
            });
        }
        let left = req
            .wait
            .until
            .map(|u| u.saturating_duration_since(tokio::time::Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(Outcome::GaveUp {
                reason: format!(
                    "SIS import {} was still {} when this run's time was up; it was left running \
                     and the next run waits on it again",
                    import.id,
                    import.workflow_state.as_str(),
                ),
                import_id: Some(import.id),
            });
        }
        tokio::time::sleep(left.map_or(delay, |l| delay.min(l))).await;
        delay = (delay * 3 / 2).min(req.wait.poll_max);
        match client.get_sis_import(&req.account, import.id).await {
            Ok(next) => import = next,
            // Transient trouble while waiting is not the import's failure: keep waiting.
            Err(e) if matches!(e.class(), ErrorClass::Retryable | ErrorClass::Throttled) => {
                obs.note(&format!(
                    "could not read import {} ({e}); still waiting",
                    import.id
                ));
            }
            Err(e) => return Err(canvas_outcome(e, Some(import.id))),
        }
    }
}

async fn stuck_message(client: &dyn CanvasApi, req: &ImportRequest, import: &SisImport) -> String {
    let ahead = client.importing(&req.account).await.unwrap_or_default();
    let state = import.workflow_state.as_str();
    match ahead.iter().find(|i| i.id != import.id) {
        Some(blocker) => format!(
            "SIS import {} is still {state}: import {} is {} ahead of it ({}%)",
            import.id,
            blocker.id,
            blocker.workflow_state.as_str(),
            blocker.progress.unwrap_or(0)
        ),
        None if import.workflow_state == WorkflowState::Initializing => format!(
            "SIS import {} is stuck in initializing: Canvas never processes such imports (an unfinished upload); abort it and run again",
            import.id
        ),
        None => format!(
            "SIS import {} is stuck in {state} with nothing running ahead of it: Canvas's job queue may be paused (self-hosted: are the delayed-job workers running?), or an abort's 10-minute hold is in effect",
            import.id
        ),
    }
}
