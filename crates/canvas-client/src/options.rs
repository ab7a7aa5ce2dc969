//! Typed options of the create call (docs/canvas-api.md §1.2), checked before anything is sent.
//!
//! Canvas accepts several contradictory combinations and silently does something else (diffing
//! with batch mode: batch mode wins; stickiness flags without override: dropped;
//! `multi_term_batch_mode=false`: still multi-term). [`ImportOptions::validate`] refuses them
//! with a message that says what to change, and [`ImportOptions::to_query`] writes only what
//! Canvas reads the way we mean it (it never sends `multi_term_batch_mode=false`).
//!
//! Also here: the list filter and the restore options, which are small enough to live together.

use chrono::{DateTime, SecondsFormat, Utc};

use super::model::WorkflowState;

/// Which term(s) batch mode cleans up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchMode {
    /// One term (`batch_mode=true&batch_mode_term_id=...`).
    Term(BatchModeTerm),
    /// Every term in the import's terms file (`multi_term_batch_mode=true`); needs `change_threshold`.
    MultiTerm,
}

/// A term by Canvas id or SIS id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchModeTerm {
    Id(u64),
    SisId(String),
}

impl BatchModeTerm {
    fn to_param(&self) -> String {
        match self {
            BatchModeTerm::Id(id) => id.to_string(),
            BatchModeTerm::SisId(s) => format!("sis_term_id:{s}"),
        }
    }
}

/// Status given to enrollments dropped by batch mode or diffing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentDropStatus {
    Deleted,
    Completed,
    Inactive,
    DeletedLastCompleted,
}

impl EnrollmentDropStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentDropStatus::Deleted => "deleted",
            EnrollmentDropStatus::Completed => "completed",
            EnrollmentDropStatus::Inactive => "inactive",
            EnrollmentDropStatus::DeletedLastCompleted => "deleted_last_completed",
        }
    }
}

/// Status given to users that vanished between diffed imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRemoveStatus {
    Deleted,
    Suspended,
}

impl UserRemoveStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRemoveStatus::Deleted => "deleted",
            UserRemoveStatus::Suspended => "suspended",
        }
    }
}

/// Diffing (docs/canvas-api.md §4.2): only the rows that changed since the last import of the data
/// set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diffing {
    /// `diffing_data_set_identifier`, at most 128 bytes.
    pub data_set_identifier: String,
    /// `diffing_remaster_data_set`: join the chain but apply the whole file.
    pub remaster: bool,
    pub drop_status: Option<EnrollmentDropStatus>,
    pub user_remove_status: Option<UserRemoveStatus>,
    /// `diff_row_count_threshold`: skip the diff when it has more rows than this (> 0).
    pub row_count_threshold: Option<u64>,
}

impl Diffing {
    pub fn new(data_set_identifier: impl Into<String>) -> Self {
        Diffing {
            data_set_identifier: data_set_identifier.into(),
            remaster: false,
            drop_status: None,
            user_remove_status: None,
            row_count_threshold: None,
        }
    }
}

/// Sticky-field handling (docs/canvas-api.md §7.15).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stickiness {
    /// `override_sis_stickiness`: SIS data overwrites fields changed in the UI.
    pub override_sticky: bool,
    /// `add_sis_stickiness`: mark changed fields sticky (needs `override_sticky`).
    pub add: bool,
    /// `clear_sis_stickiness`: clear stickiness (needs `override_sticky`).
    pub clear: bool,
}

/// Every option of `POST .../sis_imports` (the file is given separately).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    pub batch_mode: Option<BatchMode>,
    pub batch_mode_enrollment_drop_status: Option<EnrollmentDropStatus>,
    pub diffing: Option<Diffing>,
    pub stickiness: Stickiness,
    /// Ignore rows with status `deleted`.
    pub skip_deletes: bool,
    pub update_sis_id_if_login_claimed: bool,
    /// Percent, 1..=100 (docs/canvas-api.md §1.2, §4.1).
    pub change_threshold: Option<u32>,
}

/// Why options were refused before sending; each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error(
        "multi-term batch mode needs change_threshold (1-100): without it a partial file can delete most of several terms, and Canvas refuses it"
    )]
    MultiTermWithoutThreshold,
    #[error(
        "diffing (data set {0:?}) cannot be combined with batch mode: Canvas silently ignores diffing when batch mode is on; choose one"
    )]
    DiffingWithBatchMode(String),
    #[error(
        "add_sis_stickiness / clear_sis_stickiness only take effect with override_sis_stickiness; set override or drop them"
    )]
    StickinessWithoutOverride,
    #[error(
        "add_sis_stickiness and clear_sis_stickiness together: clear wins in Canvas; choose one"
    )]
    AddAndClearStickiness,
    #[error("change_threshold must be between 1 and 100 percent, got {0}")]
    ChangeThresholdOutOfRange(u32),
    #[error("diff_row_count_threshold must be greater than 0 (Canvas ignores 0)")]
    DiffRowCountThresholdZero,
    #[error("diffing_data_set_identifier must be 1 to 128 bytes, got {0} bytes")]
    DataSetIdentifierLength(usize),
    #[error(
        "batch_mode_enrollment_drop_status only applies in batch mode; set batch_mode or drop it"
    )]
    DropStatusWithoutBatchMode,
    #[error("batch mode term SIS id is empty; give the term's Canvas id or its SIS id")]
    EmptyTermSisId,
    #[error("restore: undelete_only and unconclude_only cannot both be set")]
    RestoreBothOnly,
}

impl ImportOptions {
    /// Refuses the combinations Canvas would reject or silently misread.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if let Some(t) = self.change_threshold
            && !(1..=100).contains(&t)
        {
            return Err(OptionsError::ChangeThresholdOutOfRange(t));
        }
        match &self.batch_mode {
            Some(BatchMode::MultiTerm) if self.change_threshold.is_none() => {
                return Err(OptionsError::MultiTermWithoutThreshold);
            }
            Some(BatchMode::Term(BatchModeTerm::SisId(s))) if s.trim().is_empty() => {
                return Err(OptionsError::EmptyTermSisId);
            }
            _ => {}
        }
        if self.batch_mode.is_none() && self.batch_mode_enrollment_drop_status.is_some() {
            return Err(OptionsError::DropStatusWithoutBatchMode);
        }
        if let Some(d) = &self.diffing {
            if self.batch_mode.is_some() {
                return Err(OptionsError::DiffingWithBatchMode(
                    d.data_set_identifier.clone(),
                ));
            }
            let len = d.data_set_identifier.len();
            if len == 0 || len > 128 {
                return Err(OptionsError::DataSetIdentifierLength(len));
            }
            if d.row_count_threshold == Some(0) {
                return Err(OptionsError::DiffRowCountThresholdZero);
            }
        }
        let s = self.stickiness;
        if (s.add || s.clear) && !s.override_sticky {
            return Err(OptionsError::StickinessWithoutOverride);
        }
        if s.add && s.clear {
            return Err(OptionsError::AddAndClearStickiness);
        }
        Ok(())
    }

    /// The query parameters, with Canvas's names. Call [`validate`](Self::validate) first (the
    /// client does). Flags that are off are omitted, never sent as `false`.
    pub fn to_query(&self) -> Vec<(String, String)> {
        let mut q: Vec<(String, String)> = Vec::new();
        let flag = |q: &mut Vec<(String, String)>, k: &str, on: bool| {
            if on {
                q.push((k.to_owned(), "true".to_owned()));
            }
        };
        match &self.batch_mode {
            Some(BatchMode::Term(term)) => {
                flag(&mut q, "batch_mode", true);
                q.push(("batch_mode_term_id".into(), term.to_param()));
            }
            Some(BatchMode::MultiTerm) => {
                flag(&mut q, "batch_mode", true);
                flag(&mut q, "multi_term_batch_mode", true);
            }
            None => {}
        }
        if let Some(s) = self.batch_mode_enrollment_drop_status {
            q.push((
                "batch_mode_enrollment_drop_status".into(),
                s.as_str().into(),
            ));
        }
        if let Some(d) = &self.diffing {
            q.push((
                "diffing_data_set_identifier".into(),
                d.data_set_identifier.clone(),
            ));
            flag(&mut q, "diffing_remaster_data_set", d.remaster);
            if let Some(s) = d.drop_status {
                q.push(("diffing_drop_status".into(), s.as_str().into()));
            }
            if let Some(s) = d.user_remove_status {
                q.push(("diffing_user_remove_status".into(), s.as_str().into()));
            }
            if let Some(n) = d.row_count_threshold {
                q.push(("diff_row_count_threshold".into(), n.to_string()));
            }
        }
        flag(
            &mut q,
            "override_sis_stickiness",
            self.stickiness.override_sticky,
        );
        flag(&mut q, "add_sis_stickiness", self.stickiness.add);
        flag(&mut q, "clear_sis_stickiness", self.stickiness.clear);
        flag(&mut q, "skip_deletes", self.skip_deletes);
        flag(
            &mut q,
            "update_sis_id_if_login_claimed",
            self.update_sis_id_if_login_claimed,
        );
        if let Some(t) = self.change_threshold {
            q.push(("change_threshold".into(), t.to_string()));
        }
        q
    }
}

/// Filters of `GET .../sis_imports`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Keeps imports created strictly after this instant.
    pub created_since: Option<DateTime<Utc>>,
    /// Keeps imports created strictly before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Keeps imports in any of these states (empty: all).
    pub workflow_states: Vec<WorkflowState>,
    /// Page size (Canvas: default 10, at most 100).
    pub per_page: Option<u32>,
}

impl ListFilter {
    pub(crate) fn to_query(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        if let Some(t) = &self.created_since {
            q.push(("created_since".into(), time(t)));
        }
        if let Some(t) = &self.created_before {
            q.push(("created_before".into(), time(t)));
        }
        for s in &self.workflow_states {
            q.push(("workflow_state[]".into(), s.as_str().to_owned()));
        }
        if let Some(n) = self.per_page {
            q.push(("per_page".into(), n.clamp(1, 100).to_string()));
        }
        q
    }
}

/// Options of `PUT .../restore_states`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Only restore what batch mode removed.
    pub batch_mode: bool,
    /// Only undelete (do not unconclude).
    pub undelete_only: bool,
    /// Only unconclude (do not undelete).
    pub unconclude_only: bool,
}

impl RestoreOptions {
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.undelete_only && self.unconclude_only {
            return Err(OptionsError::RestoreBothOnly);
        }
        Ok(())
    }

    pub(crate) fn to_query(self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        for (k, on) in [
            ("batch_mode", self.batch_mode),
            ("undelete_only", self.undelete_only),
            ("unconclude_only", self.unconclude_only),
        ] {
            if on {
                q.push((k.to_owned(), "true".to_owned()));
            }
        }
        q
    }
}
