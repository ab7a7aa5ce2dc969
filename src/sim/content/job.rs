//! One import of one batch, driven in steps by the engine.
//!
//! INTERFACE STUB: the signatures below are the contract between the engine and the content side.
//! Bodies are filled in by the content work.

use std::collections::BTreeMap;

use super::store::{AccountContent, UndoLog};
use super::{DiffCandidate, ImportSettings, SisMessage, StoredCsv};

/// What a batch-mode cleanup decided once all rows were applied (reference §4.1).
#[derive(Debug, Clone, PartialEq)]
pub enum CleanupPlan {
    /// Not a batch-mode import, or nothing to do.
    None,
    /// A `change_threshold` check failed (or multi-term found no terms): the batch ends
    /// `aborted`; the message (file `None`, a warning) says why. No deletions happen.
    Abort(SisMessage),
    /// This many objects will be deleted (or given the drop status) during `cleanup_batch`.
    Delete { total: u64 },
}

/// Everything the engine needs to render the batch once the job is over.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// All messages, warnings and failures, in the order Canvas would record them.
    pub messages: Vec<SisMessage>,
    /// `data.counts` without `error_count`/`warning_count` (the engine adds those):
    /// every importer key with 0 when unused, plus `batch_*_deleted` keys when something was removed.
    pub counts: BTreeMap<String, i64>,
    /// `data.statistics` (with `total_state_changes`).
    pub statistics: serde_json::Value,
    /// `data.supplied_batches`, singular importer names in processing order.
    pub supplied_batches: Vec<String>,
    /// `data.completed_importers`.
    pub completed_importers: Vec<String>,
    /// The CSVs split out of the upload (become `csv_attachments`; users files with password
    /// columns are stored as `*_filtered.csv` without them).
    pub csv_files: Vec<StoredCsv>,
    /// The diffed CSVs, when a diff was applied (become `diffed_csv_attachments`).
    pub diffed_files: Vec<StoredCsv>,
    /// The batch this one was diffed against.
    pub diffed_against: Option<u64>,
    /// `Some(..)` only when diffing was requested: whether the size guard tripped.
    pub diffing_threshold_exceeded: Option<bool>,
    /// A diff was generated (this batch can serve as a later base).
    pub diff_generated: bool,
    /// The diff was empty: Canvas finishes at once as `imported`, with `data` lacking
    /// `supplied_batches` and counts holding only error and warning counts.
    pub empty_diff: bool,
    /// Uncompressed size of the upload (for later size guards).
    pub uncompressed_size: u64,
    /// What `restore_states` needs to roll this batch back.
    pub undo: UndoLog,
}

/// A batch being imported.
#[derive(Debug)]
pub struct ImportJob {
    _private: (),
}

impl ImportJob {
    /// Parses the upload (unzip rules, UTF-8, malformed CSV, header detection, row checks) and,
    /// when diffing is on, picks the base among `history` and computes the diff. Never fails:
    /// every problem becomes a message.
    pub fn start(
        settings: ImportSettings,
        upload_filename: &str,
        upload: &[u8],
        history: &[DiffCandidate<'_>],
        content: &AccountContent,
    ) -> ImportJob {
        let _ = (settings, upload_filename, upload, history, content);
        todo!("content work")
    }

    /// Data rows to import (after diffing), for progress and speed.
    pub fn total_rows(&self) -> u64 {
        todo!("content work")
    }

    /// Data rows applied so far.
    pub fn rows_done(&self) -> u64 {
        todo!("content work")
    }

    /// Applies up to `budget` rows, in Canvas's processing order, to `content`; returns how many
    /// were applied (0 once all are done).
    pub fn step(&mut self, content: &mut AccountContent, budget: u64) -> u64 {
        let _ = (content, budget);
        todo!("content work")
    }

    /// True when every row has been applied.
    pub fn rows_finished(&self) -> bool {
        todo!("content work")
    }

    /// True when a failure-level message (invalid UTF-8, malformed CSV, unknown headers, ...)
    /// has been recorded: such a batch skips batch-mode cleanup and ends `failed_with_messages`.
    pub fn has_failure(&self) -> bool {
        todo!("content work")
    }

    /// Called once after the rows are finished, for a batch that has no failure message:
    /// decides batch-mode cleanup and checks `change_threshold`.
    pub fn plan_cleanup(&mut self, content: &AccountContent) -> CleanupPlan {
        let _ = content;
        todo!("content work")
    }

    /// Deletes up to `budget` objects of the cleanup plan; returns how many were handled.
    pub fn cleanup_step(&mut self, content: &mut AccountContent, budget: u64) -> u64 {
        let _ = (content, budget);
        todo!("content work")
    }

    /// Objects handled by the cleanup so far.
    pub fn cleanup_done(&self) -> u64 {
        todo!("content work")
    }

    /// The report, once the engine is done with the job (also valid after an abort part-way).
    pub fn into_report(self) -> ImportReport {
        todo!("content work")
    }
}
