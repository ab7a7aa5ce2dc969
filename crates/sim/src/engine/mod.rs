//! The simulated Canvas's SIS machinery: batches, their workflow states, and the per-account queue.
//!
//! Transitions (docs/canvas-api.md §3.2), all driven by [`Engine::tick`] except the API-driven
//! ones:
//!
//! ```text
//! POST ─► initializing ─(upload complete)─► created ─(account idle, FIFO, start delay, no hold)─► importing
//! importing ─(rows done; batch mode)─► cleanup_batch ─► imported* | aborted (change_threshold)
//! importing ─(rows done)─► imported | imported_with_messages | failed_with_messages
//! initializing|created|importing|cleanup_batch ─(PUT abort)─► aborted        (next batch waits abort_hold)
//! initializing|created ─(PUT abort_all_pending)─► aborted, progress 100
//! terminal ─(PUT restore_states)─► restoring ─► restored | partially_restored
//! ```
//!
//! One batch per root account runs at a time; others wait in `created`, oldest first. Time comes
//! from the caller (`now`), so a manual clock makes every step reproducible. The engine is plain
//! synchronous state behind the simulator's mutex; the server's ticker calls `tick`.

pub mod batch;
pub mod files;
pub mod progress;
pub mod render;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::SimConfig;
use crate::content::job::ImportJob;
use crate::content::store::AccountContent;
use batch::{Batch, BatchControls, BatchOptions, PendingUpload, Upload, WorkflowState};
use files::FileStore;
use progress::Progress;

/// Pace settings copied from the config.
#[derive(Debug, Clone)]
pub struct Pace {
    pub rows_per_sec: f64,
    pub start_delay: Duration,
    pub errors_attachment_lag: Duration,
    pub abort_hold: Duration,
}

impl Pace {
    pub fn from_config(c: &SimConfig) -> Self {
        Pace {
            rows_per_sec: c.rows_per_sec,
            start_delay: c.start_delay,
            errors_attachment_lag: c.errors_attachment_lag,
            abort_hold: c.abort_hold,
        }
    }
}

/// A root account's runtime state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RootAccount {
    pub content: AccountContent,
    /// No batch starts before this time (set by an abort while others are pending).
    pub hold_until: Option<DateTime<Utc>>,
    pub institutional_tags: bool,
    /// Canvas's `allow_assign_to_differentiation_tags` setting (see `AccountSpec`).
    #[serde(default)]
    pub differentiation_tags: bool,
}

/// Which part of a running import the engine is stepping.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Rows,
    Cleanup { total: u64 },
}

/// A batch in `importing` or `cleanup_batch`, with its job.
#[derive(Debug)]
struct Running {
    job: ImportJob,
    phase: Phase,
    /// Fractional rows earned but not yet applied.
    credit: f64,
    last_step: DateTime<Utc>,
}

/// Everything the SIS side of the simulated Canvas holds.
#[derive(Debug)]
pub struct Engine {
    pub pace: Pace,
    pub accounts: BTreeMap<u64, RootAccount>,
    pub batches: BTreeMap<u64, Batch>,
    pub files: FileStore,
    pub progresses: BTreeMap<u64, Progress>,
    running: HashMap<u64, Running>,
    next_batch_id: u64,
    next_progress_id: u64,
    next_seq: u64,
}

/// What a new batch is created with.
#[derive(Debug)]
pub struct NewBatch {
    pub account_id: u64,
    pub user_id: u64,
    pub options: BatchOptions,
    /// `(filename, bytes)` of an upload sent with the POST.
    pub upload: Option<(String, Vec<u8>)>,
    pub pending_upload: Option<PendingUpload>,
    pub controls: BatchControls,
    /// `initializing` leaves an orphan (the 400-inside-create quirk); `created` queues it.
    pub state: WorkflowState,
}

impl Engine {
    pub fn new(config: &SimConfig, seed: String) -> Self {
        let accounts = config
            .accounts
            .iter()
            .filter(|a| a.parent_id.is_none())
            .map(|a| {
                let root = RootAccount {
                    content: AccountContent::new(a.id),
                    hold_until: None,
                    institutional_tags: a.institutional_tags,
                    differentiation_tags: a.differentiation_tags,
                };
                (a.id, root)
            })
            .collect();
        Engine {
            pace: Pace::from_config(config),
            accounts,
            batches: BTreeMap::new(),
            files: FileStore::new(seed),
            progresses: BTreeMap::new(),
            running: HashMap::new(),
            next_batch_id: 1,
            next_progress_id: 1,
            next_seq: 1,
        }
    }

    /// Records a new batch and returns its id.
    pub fn create_batch(&mut self, new: NewBatch, now: DateTime<Utc>) -> u64 {
        let id = self.next_batch_id;
        self.next_batch_id += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        let upload = new.upload.map(|(filename, bytes)| {
            let ct = files::content_type_for(&filename);
            let file_id = self.files.add(&filename, ct, bytes, now);
            Upload { file_id, filename }
        });
        let batch = Batch {
            id,
            account_id: new.account_id,
            user_id: new.user_id,
            seq,
            created_at: now,
            updated_at: now,
            started_at: None,
            ended_at: None,
            workflow_state: new.state,
            progress: 0,
            options: new.options,
            upload,
            pending_upload: new.pending_upload,
            running_immediately: None,
            outcome: None,
            errors_attachment: None,
            controls: new.controls,
        };
        self.batches.insert(id, batch);
        id
    }

    /// Finishes a `pre_attachment` upload: stores the file and queues the batch.
    /// Returns the batch id and the new file's id, or `None` for an unknown or used token.
    pub fn complete_upload(
        &mut self,
        upload_token: &str,
        bytes: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Option<(u64, u64)> {
        let batch = self.batches.values_mut().find(|b| {
            b.pending_upload
                .as_ref()
                .is_some_and(|p| p.upload_token == upload_token)
        })?;
        let pending = batch.pending_upload.take()?;
        let ct = pending
            .content_type
            .clone()
            .unwrap_or_else(|| files::content_type_for(&pending.filename).to_owned());
        let file_id = self.files.add(&pending.filename, &ct, bytes, now);
        batch.upload = Some(Upload {
            file_id,
            filename: pending.filename,
        });
        if batch.workflow_state == WorkflowState::Initializing {
            batch.set_state(WorkflowState::Created, now);
        }
        Some((batch.id, file_id))
    }

    /// The batches of one account, newest first (Canvas's `created_at DESC`).
    pub fn batches_of(&self, account_id: u64) -> Vec<&Batch> {
        let mut v: Vec<&Batch> = self
            .batches
            .values()
            .filter(|b| b.account_id == account_id)
            .collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.seq));
        v
    }

    /// `PUT .../abort`: only batches Canvas still considers not completed can be found.
    /// When others wait in `created`, the account holds for `abort_hold` (Canvas re-queues its
    /// job ten minutes later so the aborted job's workers notice).
    pub fn abort(&mut self, account_id: u64, id: u64, now: DateTime<Utc>) -> Option<&Batch> {
        let found = self
            .batches
            .get(&id)
            .is_some_and(|b| b.account_id == account_id && b.workflow_state.is_not_completed());
        if !found {
            return None;
        }
        let was_running = self.running.contains_key(&id);
        if let Some(b) = self.batches.get_mut(&id) {
            b.set_state(WorkflowState::Aborted, now);
            b.controls.frozen = false;
        }
        if was_running {
            self.stop_running(id, now);
        }
        let others_waiting = self.batches.values().any(|b| {
            b.account_id == account_id && b.id != id && b.workflow_state == WorkflowState::Created
        });
        if others_waiting && let Some(root) = self.accounts.get_mut(&account_id) {
            let hold = chrono::TimeDelta::from_std(self.pace.abort_hold).unwrap_or_default();
            root.hold_until = Some(now + hold);
        }
        self.batches.get(&id)
    }

    /// `PUT .../abort_all_pending`: every `initializing` or `created` batch becomes `aborted`
    /// with progress 100; running ones are left alone.
    pub fn abort_all_pending(&mut self, account_id: u64, now: DateTime<Utc>) -> usize {
        let mut n = 0;
        for b in self
            .batches
            .values_mut()
            .filter(|b| b.account_id == account_id)
        {
            if matches!(
                b.workflow_state,
                WorkflowState::Initializing | WorkflowState::Created
            ) {
                b.set_state(WorkflowState::Aborted, now);
                b.progress = 100;
                n += 1;
            }
        }
        n
    }

    /// Forces a batch into a state (test control). A running job is stopped; a terminal state
    /// sets `ended_at`.
    pub fn force_state(&mut self, id: u64, state: WorkflowState, now: DateTime<Utc>) -> bool {
        if !self.batches.contains_key(&id) {
            return false;
        }
        if self.running.contains_key(&id) && !state.is_running() {
            self.stop_running(id, now);
        }
        let Some(b) = self.batches.get_mut(&id) else {
            return false;
        };
        b.set_state(state, now);
        if !state.is_not_completed() && state != WorkflowState::Restoring {
            b.ended_at.get_or_insert(now);
            if state.succeeded() {
                b.progress = 100;
            }
            if state == WorkflowState::Failed {
                let outcome = b.outcome.get_or_insert_with(Default::default);
                outcome.error_message = Some("Forced to failed by the simulator".into());
            }
        }
        true
    }

    /// Test control: freeze or unfreeze a batch, or change its speed or final state.
    pub fn batch_controls_mut(&mut self, id: u64) -> Option<&mut BatchControls> {
        self.batches.get_mut(&id).map(|b| &mut b.controls)
    }

    /// After a load: continue ids after the highest ones in use.
    pub fn resume_counters(&mut self) {
        self.next_batch_id = self.batches.keys().max().map_or(1, |m| m + 1);
        self.next_seq = self
            .batches
            .values()
            .map(|b| b.seq)
            .max()
            .map_or(1, |m| m + 1);
        self.next_progress_id = self.progresses.keys().max().map_or(1, |m| m + 1);
    }

    /// Drops the in-memory jobs (used when state is loaded from a file: jobs are not persisted,
    /// so batches that were running go back to `created` and are imported again from the start).
    pub fn requeue_interrupted(&mut self, now: DateTime<Utc>) {
        for b in self.batches.values_mut() {
            if b.workflow_state.is_running() {
                b.set_state(WorkflowState::Created, now);
                b.progress = 0;
                b.started_at = None;
            }
        }
        self.running.clear();
    }
}
