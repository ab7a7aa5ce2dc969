//! The entities a simulated root account holds (accounts, terms, courses, sections, users,
//! enrollments, ...), as SIS imports left them.
//!
//! INTERFACE STUB: the items below are what the engine relies on. Bodies are filled in by the
//! content work.

use serde::{Deserialize, Serialize};

/// Roll-back data of one batch (what `restore_states` undoes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UndoLog {
    _todo: (),
}

/// How much of a batch's changes `restore_states` rolls back (reference §1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// Everything the batch changed.
    All,
    /// Only objects the batch deleted.
    UndeleteOnly,
    /// Only objects the batch concluded (courses and enrollments set to completed).
    UnconcludeOnly,
    /// Only what the batch-mode cleanup removed.
    BatchModeOnly,
}

/// Everything one root account holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccountContent {
    _todo: (),
}

impl AccountContent {
    /// An empty root account whose "Default Term" exists, as in a fresh Canvas.
    pub fn new(root_account_id: u64) -> Self {
        let _ = root_account_id;
        todo!("content work")
    }

    /// `api_find` among the account's active terms: a Canvas id (`"12"`) or `sis_term_id:X`.
    pub fn find_active_term(&self, api_id: &str) -> Option<u64> {
        let _ = api_id;
        todo!("content work")
    }

    /// A sub-account created by an import, found by Canvas id or by `sis_account_id:X`
    /// (used to answer "SIS imports can only be executed on root accounts").
    pub fn find_sub_account(&self, api_id: &str) -> Option<u64> {
        let _ = api_id;
        todo!("content work")
    }

    /// Rolls back changes recorded in `undo`, newest first; returns how many objects changed.
    pub fn restore(&mut self, undo: &UndoLog, mode: RestoreMode) -> u64 {
        let _ = (undo, mode);
        todo!("content work")
    }

    /// The content as JSON for inspection: `{"accounts":[...],"terms":[...],"courses":[...],...}`,
    /// each object with its SIS id, Canvas id, state and fields.
    pub fn to_inspection_json(&self) -> serde_json::Value {
        todo!("content work")
    }
}
