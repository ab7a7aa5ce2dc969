//! What the simulated Canvas holds and how an SIS import changes it.
//!
//! The engine (`sim::engine`) owns time, queueing and workflow states; this module owns the
//! *content*: parsing an upload the way Canvas does (unzip rules, UTF-8, header detection, row
//! checks), applying rows to the entities of a root account, batch-mode cleanup with
//! `change_threshold`, diffing against an earlier batch of the same data set, and the undo log
//! behind `restore_states`. Nothing here knows about HTTP or clocks.
//!
//! The engine drives an [`job::ImportJob`] in small steps (`step(budget)`) so that progress and
//! the `importing` / `cleanup_batch` states can be observed while a batch runs.

mod apply;
mod apply_enrollment;
mod apply_groups;
mod apply_people;
mod apply_tags;
mod apply_users;
pub mod cleanup;
mod dates;
mod dedup;
mod detect;
pub mod diff;
pub mod job;
pub mod parse;
pub mod restore;
pub mod rows;
mod ruby_csv;
mod stats;
pub mod store;

use serde::{Deserialize, Serialize};

/// One SIS batch error, as Canvas stores it (`SisBatchError`; docs/canvas-api.md §1.9 and §3.1).
///
/// `failure: true` marks the errors that make a batch end `failed_with_messages`; all others are
/// warnings (the row or file was skipped, the rest imported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SisMessage {
    /// File name inside the upload (`users.csv`), or `None` for batch-level messages.
    pub file: Option<String>,
    pub message: String,
    /// 1-based line number, the header being line 1; `None` where Canvas does not fill it.
    pub row: Option<u64>,
    /// The raw content of the offending line, where known.
    pub row_info: Option<String>,
    pub failure: bool,
}

impl SisMessage {
    pub fn warning(file: Option<&str>, row: Option<u64>, message: impl Into<String>) -> Self {
        SisMessage {
            file: file.map(str::to_owned),
            message: message.into(),
            row,
            row_info: None,
            failure: false,
        }
    }

    pub fn failure(file: Option<&str>, row: Option<u64>, message: impl Into<String>) -> Self {
        SisMessage {
            failure: true,
            ..SisMessage::warning(file, row, message)
        }
    }
}

/// Which terms a batch-mode import owns (docs/canvas-api.md §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchModeScope {
    /// `batch_mode=true` + `batch_mode_term_id`: the Canvas id of that (active) term.
    Term(u64),
    /// `multi_term_batch_mode`: the terms created or updated by this batch.
    MultiTerm,
}

/// Diffing options of a batch (docs/canvas-api.md §4.2). Ignored by the engine when batch mode is
/// on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffingSettings {
    pub data_set_identifier: String,
    pub remaster: bool,
    /// `diffing_drop_status`: status given to enrollments that vanished (default `deleted`).
    pub drop_status: Option<String>,
    /// `diffing_user_remove_status`: status given to users that vanished (default `deleted`).
    pub user_remove_status: Option<String>,
    /// `diff_row_count_threshold` (> 0): no diff when the diff has more rows than this.
    pub row_count_threshold: Option<u64>,
}

/// Everything about a batch that changes how its rows are applied. Built by the engine from the
/// validated create parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSettings {
    pub batch_id: u64,
    pub skip_deletes: bool,
    pub override_sis_stickiness: bool,
    pub add_sis_stickiness: bool,
    pub clear_sis_stickiness: bool,
    pub update_sis_id_if_login_claimed: bool,
    pub batch_mode: Option<BatchModeScope>,
    /// `batch_mode_enrollment_drop_status`: `deleted` (default), `completed`, `inactive`, ...
    pub batch_mode_enrollment_drop_status: Option<String>,
    /// Percent, 1–100.
    pub change_threshold: Option<u32>,
    pub diffing: Option<DiffingSettings>,
    /// Whether the account has the `institutional_tags` feature (enables those three kinds).
    pub institutional_tags: bool,
    /// Canvas's `allow_assign_to_differentiation_tags` setting on the account (differentiation
    /// tag rows are refused without it).
    #[serde(default)]
    pub differentiation_tags: bool,
}

/// One CSV file as Canvas stored it for a batch (a `csv_attachments` entry), kept so later
/// batches of the same data set can be diffed against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCsv {
    pub name: String,
    pub kind: canvas_sis_rules::sis::SisKind,
    pub bytes: Vec<u8>,
}

/// An earlier batch of the same account, as the diffing code needs to see it
/// (docs/canvas-api.md §4.2).
#[derive(Debug, Clone)]
pub struct DiffCandidate<'a> {
    pub batch_id: u64,
    /// Creation order: larger is newer.
    pub created_seq: u64,
    pub data_set_identifier: &'a str,
    /// Ended `imported` or `imported_with_messages`.
    pub succeeded: bool,
    /// A diff was generated for it, or it was a remaster.
    pub diffed_or_remaster: bool,
    /// Its size guard tripped (so it is not a base unless it was a remaster).
    pub threshold_exceeded: bool,
    pub remaster: bool,
    /// Uncompressed size of its upload, for the size guard.
    pub uncompressed_size: u64,
    pub files: &'a [StoredCsv],
}
