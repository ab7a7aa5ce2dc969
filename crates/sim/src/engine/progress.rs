//! Canvas `Progress` objects, which `restore_states` returns, and how a restore runs.
//!
//! A restore goes `queued` → `running` → `completed` over two engine ticks, while its batch is
//! `restoring`; at the end the batch becomes `restored`, or `partially_restored` when only part of
//! its changes were asked for (docs/canvas-api.md §1.8).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Engine;
use super::batch::WorkflowState;
use crate::clock::canvas_time;
use crate::content::store::RestoreMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressState {
    Queued,
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub id: u64,
    pub batch_id: u64,
    pub user_id: u64,
    pub state: ProgressState,
    pub completion: u8,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(with = "restore_mode_serde")]
    pub mode: RestoreMode,
    pub message: Option<String>,
}

/// Why `restore_states` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("no batch {0} in this account")]
    NotFound(u64),
    #[error("restore data unavailable")]
    Unavailable,
}

impl Progress {
    pub fn to_json(&self, base_url: &str) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "context_id": self.batch_id,
            "context_type": "SisBatch",
            "user_id": self.user_id,
            "tag": "sis_batch_state_restore",
            "completion": self.completion,
            "workflow_state": match self.state {
                ProgressState::Queued => "queued",
                ProgressState::Running => "running",
                ProgressState::Completed => "completed",
                ProgressState::Failed => "failed",
            },
            "created_at": canvas_time(self.created_at),
            "updated_at": canvas_time(self.updated_at),
            "message": self.message,
            "url": format!("{base_url}/api/v1/progress/{}", self.id),
        })
    }
}

impl Engine {
    /// `PUT .../restore_states`: the batch goes to `restoring` and a Progress is returned.
    /// Refused when the batch never applied anything (no roll-back data) or ended over 30 days
    /// ago (Canvas keeps restore data that long).
    pub fn start_restore(
        &mut self,
        account_id: u64,
        id: u64,
        mode: RestoreMode,
        user_id: u64,
        now: DateTime<Utc>,
    ) -> Result<u64, RestoreError> {
        let batch = self
            .batches
            .get_mut(&id)
            .filter(|b| b.account_id == account_id)
            .ok_or(RestoreError::NotFound(id))?;
        let expired = batch
            .ended_at
            .is_some_and(|t| now - t > chrono::TimeDelta::days(30));
        if batch.outcome.is_none() || expired || batch.workflow_state.is_not_completed() {
            return Err(RestoreError::Unavailable);
        }
        batch.set_state(WorkflowState::Restoring, now);
        let pid = self.next_progress_id;
        self.next_progress_id += 1;
        self.progresses.insert(
            pid,
            Progress {
                id: pid,
                batch_id: id,
                user_id,
                state: ProgressState::Queued,
                completion: 0,
                created_at: now,
                updated_at: now,
                mode,
                message: None,
            },
        );
        Ok(pid)
    }

    /// Moves each restore one step: queued → running → completed (rolling the content back).
    pub(super) fn tick_progresses(&mut self, now: DateTime<Utc>) -> bool {
        let ids: Vec<u64> = self
            .progresses
            .values()
            .filter(|p| matches!(p.state, ProgressState::Queued | ProgressState::Running))
            .map(|p| p.id)
            .collect();
        for pid in &ids {
            self.step_progress(*pid, now);
        }
        !ids.is_empty()
    }

    fn step_progress(&mut self, pid: u64, now: DateTime<Utc>) {
        let Some(p) = self.progresses.get_mut(&pid) else {
            return;
        };
        p.updated_at = now;
        if p.state == ProgressState::Queued {
            p.state = ProgressState::Running;
            p.completion = 50;
            return;
        }
        let (batch_id, mode) = (p.batch_id, p.mode);
        let changed = self.restore_batch(batch_id, mode, now);
        if let Some(p) = self.progresses.get_mut(&pid) {
            p.state = ProgressState::Completed;
            p.completion = 100;
            p.message = Some(format!("{changed} objects restored"));
        }
    }

    fn restore_batch(&mut self, batch_id: u64, mode: RestoreMode, now: DateTime<Utc>) -> u64 {
        let Some(batch) = self.batches.get(&batch_id) else {
            return 0;
        };
        let account_id = batch.account_id;
        let undo = batch
            .outcome
            .as_ref()
            .map(|o| o.undo.clone())
            .unwrap_or_default();
        let changed = match self.accounts.get_mut(&account_id) {
            Some(root) => root.content.restore(&undo, mode),
            None => 0,
        };
        let end_state = if mode == RestoreMode::All {
            WorkflowState::Restored
        } else {
            WorkflowState::PartiallyRestored
        };
        if let Some(b) = self.batches.get_mut(&batch_id) {
            b.set_state(end_state, now);
        }
        changed
    }
}

mod restore_mode_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::content::store::RestoreMode;

    pub fn serialize<S: Serializer>(m: &RestoreMode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match m {
            RestoreMode::All => "all",
            RestoreMode::UndeleteOnly => "undelete_only",
            RestoreMode::UnconcludeOnly => "unconclude_only",
            RestoreMode::BatchModeOnly => "batch_mode",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RestoreMode, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "undelete_only" => RestoreMode::UndeleteOnly,
            "unconclude_only" => RestoreMode::UnconcludeOnly,
            "batch_mode" => RestoreMode::BatchModeOnly,
            _ => RestoreMode::All,
        })
    }
}
