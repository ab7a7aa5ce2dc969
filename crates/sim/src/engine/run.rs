//! How time moves imports forward: picking the next batch per account and stepping it.
//!
//! Canvas runs one job per root account (`process_all_for_account`): it returns at once while a
//! batch is `importing`/`cleanup_batch`, otherwise takes `created` batches oldest first. Rows are
//! applied at `rows_per_sec`; a batch of at most 50 rows is "running immediately" and keeps
//! progress 0 until it ends, a larger one shows rows done / rows, capped at 99
//! (docs/canvas-api.md §3.4).

use chrono::{DateTime, TimeDelta, Utc};

use super::batch::{Outcome, WorkflowState};
use super::{Engine, Phase, Running};
use crate::content::SisMessage;
use crate::content::job::{CleanupPlan, ImportJob, ImportReport};
use crate::content::{BatchModeScope, DiffCandidate, DiffingSettings, ImportSettings};

/// Batches of at most this many rows run inline in Canvas (`running_immediately`).
const INLINE_ROWS: u64 = 50;

impl Engine {
    /// Moves every account forward to `now`. Returns true when anything changed.
    pub fn tick(&mut self, now: DateTime<Utc>) -> bool {
        let mut changed = self.tick_progresses(now);
        let account_ids: Vec<u64> = self.accounts.keys().copied().collect();
        for account_id in account_ids {
            changed |= self.tick_account(account_id, now);
        }
        changed
    }

    fn tick_account(&mut self, account_id: u64, now: DateTime<Utc>) -> bool {
        let mut changed = false;
        // A finished batch lets the next one start within the same tick, as Canvas's job loops.
        for _ in 0..64 {
            if let Some(id) = self.running_batch_of(account_id) {
                let (step_changed, done) = self.step_running(id, now);
                changed |= step_changed;
                if !done {
                    break;
                }
            } else if let Some(id) = self.next_to_start(account_id, now) {
                self.start_batch(id, now);
                changed = true;
            } else {
                break;
            }
        }
        changed
    }

    fn running_batch_of(&self, account_id: u64) -> Option<u64> {
        self.running.keys().copied().find(|id| {
            self.batches
                .get(id)
                .is_some_and(|b| b.account_id == account_id)
        })
    }

    /// The oldest `created` batch that may start now, unless the account is on hold.
    fn next_to_start(&self, account_id: u64, now: DateTime<Utc>) -> Option<u64> {
        let root = self.accounts.get(&account_id)?;
        if root.hold_until.is_some_and(|t| now < t) {
            return None;
        }
        let delay = TimeDelta::from_std(self.pace.start_delay).unwrap_or_default();
        self.batches
            .values()
            .filter(|b| b.account_id == account_id)
            .filter(|b| b.workflow_state == WorkflowState::Created && !b.controls.frozen)
            .filter(|b| b.created_at + delay <= now)
            .min_by_key(|b| b.seq)
            .map(|b| b.id)
    }

    fn start_batch(&mut self, id: u64, now: DateTime<Utc>) {
        let Some(batch) = self.batches.get(&id) else {
            return;
        };
        let settings = self.import_settings(batch);
        let (filename, bytes) = match &batch.upload {
            Some(u) => (
                u.filename.clone(),
                self.files
                    .get(u.file_id)
                    .map(|f| f.bytes.clone())
                    .unwrap_or_default(),
            ),
            None => ("sis_import.zip".to_owned(), Vec::new()),
        };
        let account_id = batch.account_id;
        let history = self.diff_history(account_id, id);
        let Some(root) = self.accounts.get(&account_id) else {
            return;
        };
        let job = ImportJob::start(settings, &filename, &bytes, &history, &root.content);
        let inline = job.total_rows() <= INLINE_ROWS;
        tracing::info!(
            batch = id,
            account = account_id,
            rows = job.total_rows(),
            file = %filename,
            "SIS import started"
        );
        if let Some(b) = self.batches.get_mut(&id) {
            b.set_state(WorkflowState::Importing, now);
            b.started_at = Some(now);
            b.progress = 0;
            b.running_immediately = Some(inline);
        }
        let running = Running {
            job,
            phase: Phase::Rows,
            credit: 0.0,
            last_step: now,
        };
        self.running.insert(id, running);
    }

    fn import_settings(&self, b: &super::batch::Batch) -> ImportSettings {
        let o = &b.options;
        let batch_mode = if o.multi_term_batch_mode == Some(true) {
            Some(BatchModeScope::MultiTerm)
        } else if o.batch_mode == Some(true) {
            o.batch_mode_term_id.map(BatchModeScope::Term)
        } else {
            None
        };
        // Batch mode wins silently over diffing (docs/canvas-api.md §4.2).
        let diffing = match (&batch_mode, &o.diffing_data_set_identifier) {
            (None, Some(id)) => Some(DiffingSettings {
                data_set_identifier: id.clone(),
                remaster: o.diffing_remaster == Some(true),
                drop_status: o.diffing_drop_status.clone(),
                user_remove_status: o.diffing_user_remove_status.clone(),
                row_count_threshold: o.diff_row_count_threshold,
            }),
            _ => None,
        };
        let override_sticky = o.override_sis_stickiness == Some(true);
        ImportSettings {
            batch_id: b.id,
            skip_deletes: o.skip_deletes,
            override_sis_stickiness: override_sticky,
            add_sis_stickiness: override_sticky && o.add_sis_stickiness == Some(true),
            clear_sis_stickiness: override_sticky && o.clear_sis_stickiness == Some(true),
            update_sis_id_if_login_claimed: o.update_sis_id_if_login_claimed,
            batch_mode,
            batch_mode_enrollment_drop_status: o.batch_mode_enrollment_drop_status.clone(),
            change_threshold: o.change_threshold,
            diffing,
            institutional_tags: self
                .accounts
                .get(&b.account_id)
                .is_some_and(|a| a.institutional_tags),
            differentiation_tags: self
                .accounts
                .get(&b.account_id)
                .is_some_and(|a| a.differentiation_tags),
        }
    }

    /// Earlier batches of the account that carry a diffing data set, for the diff base choice.
    fn diff_history(&self, account_id: u64, except: u64) -> Vec<DiffCandidate<'_>> {
        self.batches
            .values()
            .filter(|b| b.account_id == account_id && b.id != except)
            .filter_map(|b| {
                let ident = b.options.diffing_data_set_identifier.as_deref()?;
                let outcome = b.outcome.as_ref()?;
                let remaster = b.options.diffing_remaster == Some(true);
                Some(DiffCandidate {
                    batch_id: b.id,
                    created_seq: b.seq,
                    data_set_identifier: ident,
                    succeeded: b.workflow_state.succeeded(),
                    diffed_or_remaster: outcome.diff_generated || remaster,
                    threshold_exceeded: outcome.diffing_threshold_exceeded == Some(true),
                    remaster,
                    uncompressed_size: outcome.uncompressed_size,
                    files: &outcome.csv_files,
                })
            })
            .collect()
    }

    /// Advances one running batch; returns (changed, finished).
    fn step_running(&mut self, id: u64, now: DateTime<Utc>) -> (bool, bool) {
        let (state, frozen, speed) = match self.batches.get(&id) {
            Some(b) => (
                b.workflow_state,
                b.controls.frozen,
                b.controls.rows_per_sec.unwrap_or(self.pace.rows_per_sec),
            ),
            None => return (false, true),
        };
        if !state.is_running() {
            // Aborted (or forced) through the API while running: the job notices and stops.
            self.stop_running(id, now);
            return (true, true);
        }
        let Some(mut run) = self.running.remove(&id) else {
            return (false, true);
        };
        let elapsed = (now - run.last_step).to_std().unwrap_or_default();
        run.last_step = now;
        if frozen {
            self.running.insert(id, run);
            return (false, false);
        }
        run.credit += elapsed.as_secs_f64() * speed;
        let budget = run.credit.floor() as u64;
        run.credit -= budget as f64;
        let account_id = self
            .batches
            .get(&id)
            .map(|b| b.account_id)
            .unwrap_or_default();
        let Some(root) = self.accounts.get_mut(&account_id) else {
            return (false, true);
        };
        match run.phase {
            Phase::Rows => {
                let applied = if budget > 0 {
                    run.job.step(&mut root.content, budget)
                } else {
                    0
                };
                if run.job.rows_finished() {
                    return self.after_rows(id, run, now);
                }
                let (done, total) = (run.job.rows_done(), run.job.total_rows());
                self.set_progress(id, done, total, now);
                self.running.insert(id, run);
                (applied > 0, false)
            }
            Phase::Cleanup { total } => {
                let handled = if budget > 0 {
                    run.job.cleanup_step(&mut root.content, budget)
                } else {
                    0
                };
                let done = run.job.cleanup_done();
                if done >= total {
                    self.finish(id, run.job.into_report(), None, now);
                    return (true, true);
                }
                self.set_progress_always(id, done, total, now);
                self.running.insert(id, run);
                (handled > 0, false)
            }
        }
    }

    /// Rows are done: batch-mode cleanup, a threshold abort, or the end.
    fn after_rows(&mut self, id: u64, mut run: Running, now: DateTime<Utc>) -> (bool, bool) {
        let account_id = self
            .batches
            .get(&id)
            .map(|b| b.account_id)
            .unwrap_or_default();
        let plan = if run.job.has_failure() {
            CleanupPlan::None
        } else {
            match self.accounts.get(&account_id) {
                Some(root) => run.job.plan_cleanup(&root.content),
                None => CleanupPlan::None,
            }
        };
        match plan {
            CleanupPlan::None | CleanupPlan::Delete { total: 0 } => {
                self.finish(id, run.job.into_report(), None, now);
                (true, true)
            }
            CleanupPlan::Abort(message) => {
                self.finish(id, run.job.into_report(), Some(message), now);
                (true, true)
            }
            CleanupPlan::Delete { total } => {
                if let Some(b) = self.batches.get_mut(&id) {
                    b.set_state(WorkflowState::CleanupBatch, now);
                    b.progress = 0;
                }
                run.phase = Phase::Cleanup { total };
                self.running.insert(id, run);
                (true, false)
            }
        }
    }

    /// Progress for the row phase: 0 for inline batches, else done/total capped at 99.
    fn set_progress(&mut self, id: u64, done: u64, total: u64, now: DateTime<Utc>) {
        let inline = self
            .batches
            .get(&id)
            .is_some_and(|b| b.running_immediately == Some(true));
        if !inline {
            self.set_progress_always(id, done, total, now);
        }
    }

    fn set_progress_always(&mut self, id: u64, done: u64, total: u64, now: DateTime<Utc>) {
        if let Some(b) = self.batches.get_mut(&id) {
            let pct = (done * 100).checked_div(total).unwrap_or(0).min(99) as u8;
            if pct != b.progress {
                b.progress = pct;
                b.touch(now);
            }
        }
    }

    /// Ends a job that was stopped from outside (abort, forced state): what was applied stays
    /// applied and is reported.
    pub(super) fn stop_running(&mut self, id: u64, now: DateTime<Utc>) {
        if let Some(run) = self.running.remove(&id) {
            let report = run.job.into_report();
            self.record_outcome(id, report, now);
            if let Some(b) = self.batches.get_mut(&id) {
                b.ended_at.get_or_insert(now);
            }
        }
    }

    /// Decides the final state (docs/canvas-api.md §3.1) and records the outcome.
    fn finish(
        &mut self,
        id: u64,
        report: ImportReport,
        threshold_abort: Option<SisMessage>,
        now: DateTime<Utc>,
    ) {
        let empty_diff = report.empty_diff;
        self.record_outcome(id, report, now);
        let Some(b) = self.batches.get_mut(&id) else {
            return;
        };
        let outcome = b.outcome.get_or_insert_with(Outcome::default);
        let aborted = threshold_abort.is_some();
        // `plan_cleanup` already recorded the abort message in the report; add it only if not.
        if let Some(m) = threshold_abort
            && !outcome.messages.contains(&m)
        {
            outcome.messages.push(m);
        }
        let has_failure = outcome.messages.iter().any(|m| m.failure);
        let state = if let Some(forced) = b.controls.final_state {
            forced
        } else if aborted {
            WorkflowState::Aborted
        } else if has_failure {
            WorkflowState::FailedWithMessages
        } else if outcome.messages.is_empty() {
            WorkflowState::Imported
        } else {
            WorkflowState::ImportedWithMessages
        };
        if empty_diff {
            outcome.supplied_batches = None;
            outcome.counts.clear();
            outcome.statistics = None;
        }
        let warnings = outcome.messages.iter().filter(|m| !m.failure).count() as i64;
        let errors = outcome.messages.len() as i64 - warnings;
        outcome.counts.insert("error_count".into(), errors);
        outcome.counts.insert("warning_count".into(), warnings);
        b.workflow_state = state;
        b.updated_at = now;
        b.ended_at = Some(now);
        if state.succeeded() || aborted {
            b.progress = 100;
        }
        if state == WorkflowState::Failed {
            outcome
                .error_message
                .get_or_insert_with(|| "Forced to failed by the simulator".into());
        }
        tracing::info!(
            batch = id,
            state = state.as_str(),
            warnings,
            errors,
            "SIS import finished"
        );
        self.attach_errors_file(id, now);
        if aborted {
            self.hold_after_abort(id, now);
        }
    }

    /// Keeps what the job produced on the batch and stores its CSVs as files.
    fn record_outcome(&mut self, id: u64, report: ImportReport, now: DateTime<Utc>) {
        let mut csv_ids = Vec::new();
        for f in &report.csv_files {
            csv_ids.push(self.files.add(&f.name, "text/csv", f.bytes.clone(), now));
        }
        let mut diffed_ids = Vec::new();
        for f in &report.diffed_files {
            diffed_ids.push(self.files.add(&f.name, "text/csv", f.bytes.clone(), now));
        }
        if let Some(b) = self.batches.get_mut(&id) {
            let previous_error = b.outcome.as_ref().and_then(|o| o.error_message.clone());
            b.outcome = Some(Outcome {
                messages: report.messages,
                counts: report.counts,
                statistics: Some(report.statistics),
                supplied_batches: Some(report.supplied_batches),
                completed_importers: report.completed_importers,
                csv_files: report.csv_files,
                csv_attachment_ids: csv_ids,
                diffed_attachment_ids: diffed_ids,
                diffed_against: report.diffed_against,
                diffing_threshold_exceeded: report.diffing_threshold_exceeded,
                diff_generated: report.diff_generated,
                uncompressed_size: report.uncompressed_size,
                undo: report.undo,
                error_message: previous_error,
            });
            b.touch(now);
        }
    }

    /// The errors CSV (`sis_import_id,file,message,row`), attached after the configured lag.
    fn attach_errors_file(&mut self, id: u64, now: DateTime<Utc>) {
        let Some(b) = self.batches.get(&id) else {
            return;
        };
        let Some(outcome) = &b.outcome else {
            return;
        };
        if outcome.messages.is_empty() {
            return;
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(["sis_import_id", "file", "message", "row"]);
        for m in &outcome.messages {
            let row = m.row.map(|r| r.to_string()).unwrap_or_default();
            let _ = w.write_record([
                id.to_string().as_str(),
                m.file.as_deref().unwrap_or(""),
                m.message.as_str(),
                row.as_str(),
            ]);
        }
        let bytes = w.into_inner().unwrap_or_default();
        let name = format!("sis_errors_attachment_{id}.csv");
        let file_id = self.files.add(&name, "text/csv", bytes, now);
        let lag = TimeDelta::from_std(self.pace.errors_attachment_lag).unwrap_or_default();
        if let Some(b) = self.batches.get_mut(&id) {
            b.errors_attachment = Some((file_id, now + lag));
        }
    }

    /// A threshold abort holds the account's later batches like an API abort does.
    fn hold_after_abort(&mut self, id: u64, now: DateTime<Utc>) {
        let Some(account_id) = self.batches.get(&id).map(|b| b.account_id) else {
            return;
        };
        let waiting = self
            .batches
            .values()
            .any(|b| b.account_id == account_id && b.workflow_state == WorkflowState::Created);
        if waiting && let Some(root) = self.accounts.get_mut(&account_id) {
            let hold = TimeDelta::from_std(self.pace.abort_hold).unwrap_or_default();
            root.hold_until = Some(now + hold);
        }
    }
}
