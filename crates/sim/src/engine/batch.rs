//! One SIS batch (a Canvas `SisBatch`): its workflow state, options, upload and outcome.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::store::UndoLog;
use crate::content::{SisMessage, StoredCsv};

/// Canvas's twelve batch states (docs/canvas-api.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    Initializing,
    Created,
    Importing,
    CleanupBatch,
    Imported,
    ImportedWithMessages,
    Failed,
    FailedWithMessages,
    Aborted,
    Restoring,
    PartiallyRestored,
    Restored,
}

impl WorkflowState {
    pub const ALL: [WorkflowState; 12] = [
        WorkflowState::Initializing,
        WorkflowState::Created,
        WorkflowState::Importing,
        WorkflowState::CleanupBatch,
        WorkflowState::Imported,
        WorkflowState::ImportedWithMessages,
        WorkflowState::Failed,
        WorkflowState::FailedWithMessages,
        WorkflowState::Aborted,
        WorkflowState::Restoring,
        WorkflowState::PartiallyRestored,
        WorkflowState::Restored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Initializing => "initializing",
            WorkflowState::Created => "created",
            WorkflowState::Importing => "importing",
            WorkflowState::CleanupBatch => "cleanup_batch",
            WorkflowState::Imported => "imported",
            WorkflowState::ImportedWithMessages => "imported_with_messages",
            WorkflowState::Failed => "failed",
            WorkflowState::FailedWithMessages => "failed_with_messages",
            WorkflowState::Aborted => "aborted",
            WorkflowState::Restoring => "restoring",
            WorkflowState::PartiallyRestored => "partially_restored",
            WorkflowState::Restored => "restored",
        }
    }

    pub fn parse(s: &str) -> Option<WorkflowState> {
        WorkflowState::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Canvas's `importing` scope: the states that block the account's queue.
    pub fn is_running(self) -> bool {
        matches!(self, WorkflowState::Importing | WorkflowState::CleanupBatch)
    }

    /// Canvas's `not_completed` scope: what `abort` can still find.
    pub fn is_not_completed(self) -> bool {
        matches!(
            self,
            WorkflowState::Initializing
                | WorkflowState::Created
                | WorkflowState::Importing
                | WorkflowState::CleanupBatch
        )
    }

    /// Canvas's `succeeded` scope.
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            WorkflowState::Imported | WorkflowState::ImportedWithMessages
        )
    }
}

/// The create options Canvas stores on the batch and echoes in the JSON
/// (docs/canvas-api.md §1.2, §2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchOptions {
    pub import_type: String,
    pub batch_mode: Option<bool>,
    /// Canvas id of the batch-mode term.
    pub batch_mode_term_id: Option<u64>,
    pub multi_term_batch_mode: Option<bool>,
    pub override_sis_stickiness: Option<bool>,
    pub add_sis_stickiness: Option<bool>,
    pub clear_sis_stickiness: Option<bool>,
    pub update_sis_id_if_login_claimed: bool,
    pub diffing_data_set_identifier: Option<String>,
    pub diffing_remaster: Option<bool>,
    pub diffing_drop_status: Option<String>,
    pub diffing_user_remove_status: Option<String>,
    pub batch_mode_enrollment_drop_status: Option<String>,
    pub skip_deletes: bool,
    pub change_threshold: Option<u32>,
    pub diff_row_count_threshold: Option<u64>,
}

/// The uploaded file of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    /// The stored attachment's id.
    pub file_id: u64,
    /// `sis_import.zip` for raw bodies, the part's file name for multipart.
    pub filename: String,
}

/// A `pre_attachment` upload that has been announced but not finished yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingUpload {
    /// Secret path segment of the upload URL.
    pub upload_token: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub size: Option<u64>,
}

/// Test controls set through `/__sim/` or a fault rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BatchControls {
    /// The engine never picks the batch (an import "stuck in created"; also used for
    /// `initializing`, which Canvas never picks anyway).
    pub frozen: bool,
    /// Overrides the simulator's speed for this batch (slow imports).
    pub rows_per_sec: Option<f64>,
    /// When the import ends, it ends in this state instead of the computed one.
    pub final_state: Option<WorkflowState>,
}

/// What the import produced, kept after the job is gone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub messages: Vec<SisMessage>,
    pub counts: BTreeMap<String, i64>,
    pub statistics: Option<serde_json::Value>,
    pub supplied_batches: Option<Vec<String>>,
    pub completed_importers: Vec<String>,
    pub csv_files: Vec<StoredCsv>,
    pub csv_attachment_ids: Vec<u64>,
    pub diffed_attachment_ids: Vec<u64>,
    pub diffed_against: Option<u64>,
    pub diffing_threshold_exceeded: Option<bool>,
    pub diff_generated: bool,
    pub uncompressed_size: u64,
    pub undo: UndoLog,
    /// `data.error_message` when the whole job "crashed" (state `failed`).
    pub error_message: Option<String>,
}

/// One Canvas SIS batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub id: u64,
    /// The root account it was posted to.
    pub account_id: u64,
    /// The token user who posted it.
    pub user_id: u64,
    /// Creation order (ties in `created_at` are broken by it).
    pub seq: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub workflow_state: WorkflowState,
    pub progress: u8,
    pub options: BatchOptions,
    pub upload: Option<Upload>,
    pub pending_upload: Option<PendingUpload>,
    pub running_immediately: Option<bool>,
    pub outcome: Option<Outcome>,
    /// When the errors file was (or will be) attached: `ended_at` + the configured lag.
    pub errors_attachment: Option<(u64, DateTime<Utc>)>,
    pub controls: BatchControls,
}

impl Batch {
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
    }

    pub fn set_state(&mut self, state: WorkflowState, now: DateTime<Utc>) {
        self.workflow_state = state;
        self.updated_at = now;
    }
}
