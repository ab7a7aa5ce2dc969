//! One import of one batch, driven in steps by the engine.
//!
//! `start` does everything that needs no account content (unzip, parse, header detection,
//! diffing); `step` then checks and applies rows in Canvas's processing order, a budget at a
//! time, so the engine can show progress; `plan_cleanup`/`cleanup_step` run batch mode's
//! removals; `into_report` gathers counts, statistics and the undo log. Nothing here fails:
//! every problem is a message, as in Canvas.

use std::collections::{BTreeMap, BTreeSet};

use canvas_sis_rules::sis::SisKind;

use super::apply::{ApplyCtx, apply_row};
use super::cleanup::{self, CleanupItem, Planned};
use super::diff;
use super::parse::{self, ParsedCsv, Row};
use super::rows;
use super::stats;
use super::store::{AccountContent, UndoLog};
use super::{DiffCandidate, ImportSettings, SisMessage, StoredCsv};

/// What a batch-mode cleanup decided once all rows were applied (docs/canvas-api.md §4.1).
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
    settings: ImportSettings,
    /// Files to import, sorted by kind in processing order (upload order within a kind).
    files: Vec<ParsedCsv>,
    /// Position of the next row: file index, row index.
    cursor: (usize, usize),
    rows_done: u64,
    total_rows: u64,
    counts: BTreeMap<SisKind, i64>,
    batch_deleted: BTreeMap<&'static str, i64>,
    cleanup: Vec<CleanupItem>,
    cleanup_done: u64,
    report: ImportReport,
}

impl ImportJob {
    /// Parses the upload (unzip rules, UTF-8, malformed CSV, header detection, row checks) and,
    /// when diffing is on, picks the base among `history` and computes the diff. Never fails:
    /// every problem becomes a message.
    ///
    /// Row checks run in `step`, in processing order, so their warnings interleave with the
    /// apply-time ones as Canvas reports them. `content` is not needed before the rows apply.
    pub fn start(
        settings: ImportSettings,
        upload_filename: &str,
        upload: &[u8],
        history: &[DiffCandidate<'_>],
        content: &AccountContent,
    ) -> ImportJob {
        let _ = content;
        let parsed = parse::parse_upload(
            upload_filename,
            upload,
            settings.institutional_tags,
            settings.batch_id,
        );
        let mut report = ImportReport {
            messages: parsed.messages.clone(),
            csv_files: parsed.stored.clone(),
            uncompressed_size: parsed.uncompressed_size,
            ..ImportReport::default()
        };
        let mut files = parsed.files.clone();
        if let (Some(d), None) = (&settings.diffing, &settings.batch_mode) {
            let out = diff::diff_upload(
                d,
                settings.change_threshold,
                &parsed,
                history,
                settings.batch_id,
                settings.institutional_tags,
            );
            report.messages.extend(out.messages);
            report.diffed_files = out.diffed_files;
            report.diffed_against = out.diffed_against;
            report.diffing_threshold_exceeded = Some(out.threshold_exceeded);
            report.diff_generated = out.diff_generated;
            report.empty_diff = out.empty;
            files = out.files;
        }
        report.supplied_batches = supplied_kinds(&files)
            .iter()
            .map(|k| k.importer_name().to_owned())
            .collect();
        files.sort_by_key(|f| f.kind);
        let total_rows = files.iter().map(|f| f.rows.len() as u64).sum();
        ImportJob {
            settings,
            files,
            cursor: (0, 0),
            rows_done: 0,
            total_rows,
            counts: BTreeMap::new(),
            batch_deleted: BTreeMap::new(),
            cleanup: Vec::new(),
            cleanup_done: 0,
            report,
        }
    }

    /// Data rows to import (after diffing), for progress and speed.
    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }

    /// Data rows applied so far.
    pub fn rows_done(&self) -> u64 {
        self.rows_done
    }

    /// Applies up to `budget` rows, in Canvas's processing order, to `content`; returns how many
    /// were applied (0 once all are done).
    pub fn step(&mut self, content: &mut AccountContent, budget: u64) -> u64 {
        let mut applied = 0;
        while applied < budget {
            let (fi, ri) = self.cursor;
            let Some(file) = self.files.get(fi) else {
                break;
            };
            if ri >= file.rows.len() {
                self.cursor = (fi + 1, 0);
                continue;
            }
            self.process_row(content, fi, ri);
            self.cursor = (fi, ri + 1);
            self.rows_done += 1;
            applied += 1;
        }
        applied
    }

    /// Checks and applies one row, recording a warning when Canvas would skip it, and the
    /// warnings Canvas records for a row it still applies.
    fn process_row(&mut self, content: &mut AccountContent, fi: usize, ri: usize) {
        let file = &self.files[fi];
        let row = &file.rows[ri];
        for note in rows::row_notes(file.kind, row) {
            self.report.messages.push(SisMessage {
                row_info: Some(parse::row_info(&file.headers, row)),
                ..SisMessage::warning(Some(&file.name), Some(row.line), note)
            });
        }
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        let outcome = rows::check_row(file.kind, row).and_then(|()| {
            if self.settings.skip_deletes && is_delete(row) {
                return Ok(()); // skip_deletes: Canvas's importers return early on such rows
            }
            let mut ctx = ApplyCtx {
                batch_id: self.settings.batch_id,
                update_sis_id_if_login_claimed: self.settings.update_sis_id_if_login_claimed,
                differentiation_tags: self.settings.differentiation_tags,
                undo: &mut self.report.undo,
                notes: Vec::new(),
                warnings: Vec::new(),
            };
            let applied = apply_row(content, file.kind, row, &mut ctx);
            notes = ctx.notes;
            warnings = ctx.warnings;
            applied
        });
        // Importer messages that do not skip the row carry no row number in Canvas.
        for note in notes {
            self.report
                .messages
                .push(SisMessage::warning(Some(&file.name), None, note));
        }
        let skipped = outcome.as_ref().err().cloned();
        if outcome.is_ok() {
            *self.counts.entry(file.kind).or_default() += 1;
        }
        for message in warnings.into_iter().chain(skipped) {
            self.report.messages.push(SisMessage {
                row_info: Some(parse::row_info(&file.headers, row)),
                ..SisMessage::warning(Some(&file.name), Some(row.line), message)
            });
        }
    }

    /// True when every row has been applied.
    pub fn rows_finished(&self) -> bool {
        self.rows_done >= self.total_rows
    }

    /// True when a failure-level message (invalid UTF-8, malformed CSV, unknown headers, ...)
    /// has been recorded: such a batch skips batch-mode cleanup and ends `failed_with_messages`.
    pub fn has_failure(&self) -> bool {
        self.report.messages.iter().any(|m| m.failure)
    }

    /// Called once after the rows are finished, for a batch that has no failure message:
    /// decides batch-mode cleanup and checks `change_threshold`.
    ///
    /// An `Abort` message is also added to the report's messages (it is one of the batch's
    /// errors in Canvas), so the engine need not add it again.
    pub fn plan_cleanup(&mut self, content: &AccountContent) -> CleanupPlan {
        let Some(scope) = &self.settings.batch_mode else {
            return CleanupPlan::None;
        };
        let present: BTreeSet<SisKind> = self.files.iter().map(|f| f.kind).collect();
        match cleanup::plan(&self.settings, scope, &present, content) {
            Planned::Abort(msg) => {
                self.report.messages.push(msg.clone());
                CleanupPlan::Abort(msg)
            }
            Planned::Remove(items) if items.is_empty() => CleanupPlan::None,
            Planned::Remove(items) => {
                self.cleanup = items;
                CleanupPlan::Delete {
                    total: self.cleanup.len() as u64,
                }
            }
        }
    }

    /// Deletes up to `budget` objects of the cleanup plan; returns how many were handled.
    pub fn cleanup_step(&mut self, content: &mut AccountContent, budget: u64) -> u64 {
        let start = usize::try_from(self.cleanup_done).unwrap_or(usize::MAX);
        let end = start
            .saturating_add(usize::try_from(budget).unwrap_or(usize::MAX))
            .min(self.cleanup.len());
        for item in self.cleanup.get(start..end).unwrap_or_default() {
            let key = cleanup::remove(content, item, &mut self.report.undo);
            *self.batch_deleted.entry(key).or_default() += 1;
        }
        let handled = end.saturating_sub(start) as u64;
        self.cleanup_done += handled;
        handled
    }

    /// Objects handled by the cleanup so far.
    pub fn cleanup_done(&self) -> u64 {
        self.cleanup_done
    }

    /// The report, once the engine is done with the job (also valid after an abort part-way).
    pub fn into_report(mut self) -> ImportReport {
        self.report.statistics = stats::statistics(&self.report.undo);
        if self.report.empty_diff {
            // Canvas finishes an empty diff at once: no supplied batches, no importer counts.
            self.report.supplied_batches.clear();
            return self.report;
        }
        self.report.completed_importers = self.completed_kinds();
        let mut counts: BTreeMap<String, i64> = SisKind::ALL
            .iter()
            .map(|k| (k.counts_key().to_owned(), 0))
            .collect();
        for (kind, n) in &self.counts {
            counts.insert(kind.counts_key().to_owned(), *n);
        }
        for (key, n) in &self.batch_deleted {
            counts.insert((*key).to_owned(), *n);
        }
        self.report.counts = counts;
        self.report
    }

    /// Importer names whose files have all been applied, in processing order.
    fn completed_kinds(&self) -> Vec<String> {
        let (fi, ri) = self.cursor;
        let file_done =
            |i: usize| i < fi || (i == fi && self.files.get(i).is_some_and(|f| ri >= f.rows.len()));
        let mut out: Vec<String> = Vec::new();
        for kind in supplied_kinds(&self.files) {
            let done = self
                .files
                .iter()
                .enumerate()
                .filter(|(_, f)| f.kind == kind)
                .all(|(i, _)| {
                    file_done(i) || self.files[i].rows.is_empty() && self.rows_finished()
                });
            if done {
                out.push(kind.importer_name().to_owned());
            }
        }
        out
    }
}

/// The distinct kinds of some files, in processing order.
fn supplied_kinds(files: &[ParsedCsv]) -> Vec<SisKind> {
    let set: BTreeSet<SisKind> = files.iter().map(|f| f.kind).collect();
    set.into_iter().collect()
}

/// A row whose status asks for a deletion (`deleted`, `deleted_last_completed`).
fn is_delete(row: &Row) -> bool {
    row.get("status")
        .is_some_and(|s| s.to_lowercase().starts_with("deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::store::RestoreMode;
    use crate::content::{BatchModeScope, DiffingSettings};
    use std::io::{Cursor, Write};

    fn settings(batch_id: u64) -> ImportSettings {
        ImportSettings {
            batch_id,
            skip_deletes: false,
            override_sis_stickiness: false,
            add_sis_stickiness: false,
            clear_sis_stickiness: false,
            update_sis_id_if_login_claimed: false,
            batch_mode: None,
            batch_mode_enrollment_drop_status: None,
            change_threshold: None,
            diffing: None,
            institutional_tags: false,
            differentiation_tags: false,
        }
    }

    fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, text) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("start");
            w.write_all(text.as_bytes()).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    /// Runs a whole job the way the engine does, cleanup included.
    fn run(
        content: &mut AccountContent,
        s: ImportSettings,
        entries: &[(&str, &str)],
    ) -> (ImportReport, CleanupPlan) {
        let z = zip_of(entries);
        let mut job = ImportJob::start(s, "feed.zip", &z, &[], content);
        while job.step(content, 2) > 0 {}
        assert!(job.rows_finished());
        let plan = job.plan_cleanup(content);
        if let CleanupPlan::Delete { total } = plan {
            while job.cleanup_done() < total {
                job.cleanup_step(content, 1);
            }
        }
        (job.into_report(), plan)
    }

    const BASE: [(&str, &str); 4] = [
        (
            "enrollments.csv",
            "course_id,user_id,role,status\nC1,U1,student,active\nC2,U1,teacher,active\n",
        ),
        (
            "users.csv",
            "user_id,login_id,status,email\nU1,u1,active,u1@example.edu\n",
        ),
        (
            "courses.csv",
            "course_id,short_name,long_name,term_id,status\nC1,c1,Course 1,T1,active\nC2,c2,Course 2,T1,active\n",
        ),
        ("terms.csv", "term_id,name,status\nT1,Fall,active\n"),
    ];

    fn state(c: &AccountContent, kind: SisKind, key: &str) -> Option<String> {
        c.get(kind, key).map(|e| e.workflow_state.clone())
    }

    #[test]
    fn files_are_processed_in_canvas_order_whatever_the_zip_order() {
        let mut c = AccountContent::new(1);
        let (r, _) = run(&mut c, settings(1), &BASE);
        assert!(r.messages.is_empty(), "{:?}", r.messages);
        assert_eq!(
            r.supplied_batches,
            vec!["term", "course", "user", "enrollment"]
        );
        assert_eq!(r.completed_importers, r.supplied_batches);
        assert_eq!(r.counts["enrollments"], 2);
        assert_eq!(r.counts["courses"], 2);
        assert_eq!(r.counts["xlists"], 0);
        assert_eq!(r.counts.len(), SisKind::ALL.len());
        assert_eq!(r.statistics["Course"]["created"], 2);
        assert_eq!(r.statistics["CommunicationChannel"]["created"], 1);
        assert_eq!(r.statistics["total_state_changes"], 7);
        assert_eq!(r.csv_files.len(), 4);
    }

    #[test]
    fn enrollment_for_unknown_user_is_a_warning_and_skipped() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, _) = run(
            &mut c,
            settings(2),
            &[(
                "e.csv",
                "course_id,user_id,role,status\nC1,U999,student,active\n",
            )],
        );
        assert_eq!(r.messages.len(), 1);
        let m = &r.messages[0];
        assert_eq!(
            m.message,
            "User not found for enrollment (User ID: U999, Course ID: C1, Section ID: )"
        );
        assert_eq!(
            (m.file.as_deref(), m.row, m.failure),
            (Some("e.csv"), Some(2), false)
        );
        assert_eq!(m.row_info.as_deref(), Some("C1,U999,student,active"));
        assert_eq!(r.counts["enrollments"], 0);
    }

    #[test]
    fn enrollment_with_an_unreadable_date_is_imported_without_it_and_a_warning() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, _) = run(
            &mut c,
            settings(2),
            &[(
                "e.csv",
                "course_id,user_id,role,status,start_date\n\
                 C1,U1,ta,active,2024-13-01\n\
                 C9,U1,dean,active,\n",
            )],
        );
        let got: Vec<&str> = r.messages.iter().map(|m| m.message.as_str()).collect();
        // The course is looked up before the role, as Canvas does; with no section named,
        // an unknown course is "neither course nor section".
        assert_eq!(
            got,
            [
                "Bad date format for user U1 in course C1",
                "Neither course nor section existed for user enrollment (Course ID: C9, Section ID: , User ID: U1)"
            ]
        );
        assert_eq!(r.counts["enrollments"], 1);
    }

    #[test]
    fn an_observer_of_themselves_fails_the_enrollment_validation() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, _) = run(
            &mut c,
            settings(2),
            &[(
                "e.csv",
                "course_id,user_id,role,status,associated_user_id\nC1,U1,observer,active,U1\n",
            )],
        );
        let got: Vec<&str> = r.messages.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(
            got,
            [
                "An enrollment did not pass validation (course: C1, section: , user: U1, role: observer, \
              error: An enrollment did not pass validation (course: C1, section: , \
              Associated user Cannot observe yourself)"
            ]
        );
    }

    #[test]
    fn cross_listing_restores_a_deleted_course_and_a_deleted_row_for_another_course_is_ignored() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let sections = "section_id,course_id,name,status\nS1,C1,One,active\n";
        let xlist = "xlist_course_id,section_id,status\nC2,S1,active\n";
        run(
            &mut c,
            settings(2),
            &[("s.csv", sections), ("x.csv", xlist)],
        );
        let deleted = "course_id,short_name,long_name,status\nC2,c2,Course 2,deleted\n";
        run(&mut c, settings(3), &[("c.csv", deleted)]);
        assert_eq!(state(&c, SisKind::Course, "C2").as_deref(), Some("deleted"));
        let (r, _) = run(&mut c, settings(4), &[("x.csv", xlist)]);
        assert!(r.messages.is_empty());
        assert_eq!(state(&c, SisKind::Course, "C2").as_deref(), Some("claimed"));
        let other = "xlist_course_id,section_id,status\nC1,S1,deleted\n";
        run(&mut c, settings(5), &[("x.csv", other)]);
        let c2 = c.get(SisKind::Course, "C2").map(|e| e.id);
        let s1 = c
            .get(SisKind::Section, "S1")
            .and_then(|s| s.refs.get("course").copied());
        assert_eq!(
            s1, c2,
            "a deleted row naming another course leaves the section alone"
        );
    }

    #[test]
    fn section_without_its_course_and_account_without_parent_are_warnings() {
        let mut c = AccountContent::new(1);
        let (r, _) = run(
            &mut c,
            settings(1),
            &[
                (
                    "s.csv",
                    "section_id,course_id,name,status\nS1,C9,Sec,active\n",
                ),
                (
                    "a.csv",
                    "account_id,parent_account_id,name,status\nA1,,Root child,active\nA002,A404,Orphan,active\n",
                ),
            ],
        );
        let texts: Vec<&str> = r.messages.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Parent account didn't exist for A002",
                "Section S1 references course C9 which doesn't exist"
            ]
        );
        assert!(c.find_sub_account("sis_account_id:A1").is_some());
        assert!(c.find_sub_account("sis_account_id:A002").is_none());
    }

    #[test]
    fn deleting_a_users_last_login_deletes_their_enrollments() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, _) = run(
            &mut c,
            settings(2),
            &[("u.csv", "user_id,login_id,status\nU1,u1,deleted\n")],
        );
        let deleted = c
            .entities(SisKind::Enrollment)
            .filter(|(_, e)| e.is_deleted())
            .count();
        assert_eq!(deleted, 2);
        assert_eq!(r.statistics["Enrollment"]["deleted"], 2);
        assert_eq!(r.statistics["Pseudonym"]["deleted"], 1);
    }

    #[test]
    fn rejected_users_row_does_not_leak_its_password() {
        let mut c = AccountContent::new(1);
        let users = "user_id,login_id,password,status\nU1,,hunter2,active\n";
        let (r, _) = run(&mut c, settings(1), &[("users.csv", users)]);
        assert_eq!(r.messages[0].message, "No login_id given for user U1");
        assert_eq!(r.messages[0].row_info.as_deref(), Some("U1,,,active"));
        assert_eq!(r.csv_files[0].name, "users_filtered.csv");
    }

    #[test]
    fn logins_xlists_observers_and_sis_id_changes_apply() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, _) = run(
            &mut c,
            settings(2),
            &[
                ("u.csv", "user_id,login_id,status\nU2,u2,active\n"),
                (
                    "l.csv",
                    "user_id,login_id,existing_user_id\nU1b,u1b,U1\nU3,u3,NOPE\n",
                ),
                (
                    "s.csv",
                    "section_id,course_id,name,status\nS1,C1,Sec 1,active\n",
                ),
                ("x.csv", "xlist_course_id,section_id,status\nX1,S1,active\n"),
                (
                    "o.csv",
                    "observer_id,student_id,status\nU2,U1b,active\nU2,U2,active\n",
                ),
                (
                    "c.csv",
                    "old_id,new_id,type\nC2,C2new,course\nC404,C5,course\n",
                ),
            ],
        );
        let texts: Vec<&str> = r.messages.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "An old_id, 'C404', referenced a non-existent course and was not changed.",
                "Could not find the existing user for login with SIS ID U3, skipping",
                "Can't observe yourself user U2",
            ]
        );
        assert!(
            c.get(SisKind::Course, "C2new").is_some() && c.get(SisKind::Course, "C2").is_none()
        );
        let x1 = c.get(SisKind::Course, "X1").map(|e| e.id);
        assert_eq!(
            c.get(SisKind::Section, "S1")
                .and_then(|s| s.refs.get("course").copied()),
            x1
        );
        assert_eq!(r.counts["logins"], 1);
        assert_eq!(r.counts["user_observers"], 1);
        assert_eq!(r.statistics["UserObserver"]["created"], 1);
    }

    #[test]
    fn skip_deletes_ignores_deleted_rows() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let mut s = settings(2);
        s.skip_deletes = true;
        let (r, _) = run(
            &mut c,
            s,
            &[("u.csv", "user_id,login_id,status\nU1,u1,deleted\n")],
        );
        assert_eq!(state(&c, SisKind::User, "U1").as_deref(), Some("active"));
        assert_eq!(r.statistics["total_state_changes"], 0);
    }

    fn batch_mode(batch: u64, threshold: Option<u32>) -> ImportSettings {
        let mut s = settings(batch);
        s.batch_mode = Some(BatchModeScope::MultiTerm);
        s.change_threshold = threshold;
        s
    }

    const TERMS: (&str, &str) = ("terms.csv", "term_id,name,status\nT1,Fall,active\n");
    const ONE_COURSE: (&str, &str) = (
        "courses.csv",
        "course_id,short_name,long_name,term_id,status\nC1,c1,Course 1,T1,active\n",
    );

    #[test]
    fn threshold_over_limit_aborts_before_deleting() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, plan) = run(&mut c, batch_mode(2, Some(10)), &[TERMS, ONE_COURSE]);
        let expected = "1 courses would be deleted and exceeds the set threshold of 10%";
        assert!(
            matches!(&plan, CleanupPlan::Abort(m) if m.message == expected && m.file.is_none())
        );
        assert_eq!(
            r.messages.last().map(|m| m.message.as_str()),
            Some(expected)
        );
        assert_eq!(state(&c, SisKind::Course, "C2").as_deref(), Some("claimed"));
        assert!(!r.counts.contains_key("batch_courses_deleted"));
    }

    #[test]
    fn batch_mode_deletes_untouched_courses_and_restore_brings_them_back() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, plan) = run(&mut c, batch_mode(2, Some(50)), &[TERMS, ONE_COURSE]);
        assert_eq!(plan, CleanupPlan::Delete { total: 1 });
        assert_eq!(state(&c, SisKind::Course, "C2").as_deref(), Some("deleted"));
        assert_eq!(state(&c, SisKind::Course, "C1").as_deref(), Some("claimed"));
        assert_eq!(r.counts["batch_courses_deleted"], 1);
        assert!(!r.counts.contains_key("batch_enrollments_deleted"));
        assert_eq!(c.restore(&r.undo, RestoreMode::BatchModeOnly), 1);
        assert_eq!(state(&c, SisKind::Course, "C2").as_deref(), Some("claimed"));
    }

    #[test]
    fn batch_mode_enrollments_get_the_drop_status() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let mut s = batch_mode(2, Some(100));
        s.batch_mode_enrollment_drop_status = Some("inactive".into());
        let enr = (
            "e.csv",
            "course_id,user_id,role,status\nC1,U1,student,active\n",
        );
        let (r, _) = run(&mut c, s, &[TERMS, enr]);
        assert_eq!(r.counts["batch_enrollments_deleted"], 1);
        assert_eq!(r.statistics["Enrollment"]["deactivated"], 1);
        let inactive = c
            .entities(SisKind::Enrollment)
            .filter(|(_, e)| e.workflow_state == "inactive")
            .count();
        assert_eq!(inactive, 1);
    }

    #[test]
    fn batch_mode_only_cleans_kinds_present_in_the_upload() {
        let mut c = AccountContent::new(1);
        run(&mut c, settings(1), &BASE);
        let (r, plan) = run(&mut c, batch_mode(2, Some(100)), &[TERMS]);
        assert_eq!(plan, CleanupPlan::None);
        assert_eq!(state(&c, SisKind::Course, "C2").as_deref(), Some("claimed"));
        assert!(!r.counts.contains_key("batch_courses_deleted"));
    }

    #[test]
    fn multi_term_without_terms_aborts() {
        let mut c = AccountContent::new(1);
        let (_, plan) = run(&mut c, batch_mode(1, Some(10)), &[ONE_COURSE]);
        assert!(matches!(plan, CleanupPlan::Abort(m) if m.message.starts_with("Terms not found")));
    }

    #[test]
    fn step_respects_its_budget_and_reports_progress() {
        let mut c = AccountContent::new(1);
        let z = zip_of(&BASE);
        let mut job = ImportJob::start(settings(1), "f.zip", &z, &[], &c);
        assert_eq!(job.total_rows(), 6);
        assert_eq!(job.step(&mut c, 3), 3);
        assert_eq!(job.rows_done(), 3);
        assert!(!job.rows_finished());
        let partial = job.into_report();
        assert_eq!(partial.completed_importers, vec!["term", "course"]);
    }

    #[test]
    fn identical_diffed_upload_is_an_empty_diff() {
        let mut c = AccountContent::new(1);
        let diffing = DiffingSettings {
            data_set_identifier: "ds".into(),
            remaster: false,
            drop_status: None,
            user_remove_status: None,
            row_count_threshold: None,
        };
        let mut s = settings(1);
        s.diffing = Some(diffing.clone());
        let (first, _) = run(&mut c, s.clone(), &BASE);
        assert_eq!(first.diffing_threshold_exceeded, Some(false));
        assert!(!first.diff_generated);
        let history = [DiffCandidate {
            batch_id: 1,
            created_seq: 1,
            data_set_identifier: "ds",
            succeeded: true,
            diffed_or_remaster: false,
            threshold_exceeded: false,
            remaster: false,
            uncompressed_size: first.uncompressed_size,
            files: &first.csv_files,
        }];
        s.batch_id = 2;
        let z = zip_of(&BASE);
        let job = ImportJob::start(s, "f.zip", &z, &history, &c);
        assert_eq!(job.total_rows(), 0);
        let r = job.into_report();
        assert!(r.empty_diff && r.diff_generated);
        assert_eq!(r.diffed_against, Some(1));
        assert!(r.supplied_batches.is_empty() && r.counts.is_empty());
    }

    #[test]
    fn account_status_is_checked_only_for_new_accounts() {
        let mut c = AccountContent::new(1);
        let (r, _) = run(
            &mut c,
            settings(1),
            &[(
                "a.csv",
                "account_id,parent_account_id,name,status\nA1,,Arts,active\nA2,,Biology,gone\n",
            )],
        );
        let texts: Vec<&str> = r.messages.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(
            texts,
            vec!["Improper status \"gone\" for account A2, skipping"]
        );
        let (r, _) = run(
            &mut c,
            settings(2),
            &[("a.csv", "account_id,parent_account_id,name,status\nA1,,,\n")],
        );
        assert!(r.messages.is_empty(), "{:?}", r.messages);
    }

    #[test]
    fn a_bad_course_date_is_reported_and_the_course_still_imported() {
        let mut c = AccountContent::new(1);
        let (r, _) = run(
            &mut c,
            settings(1),
            &[(
                "c.csv",
                "course_id,short_name,long_name,status,start_date\nC1,C 1,Course,active,2025-14-01\n",
            )],
        );
        let texts: Vec<&str> = r.messages.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(texts, vec!["Bad date format for course C1"]);
        assert_eq!(r.messages[0].row, Some(2));
        assert_eq!(r.counts.get("courses"), Some(&1));
    }

    #[test]
    fn a_deleted_row_creates_a_deleted_course_that_sections_can_name() {
        let mut c = AccountContent::new(1);
        let (r, _) = run(
            &mut c,
            settings(1),
            &[
                (
                    "c.csv",
                    "course_id,short_name,long_name,status\nC1,C 1,Course,deleted\n",
                ),
                (
                    "s.csv",
                    "section_id,course_id,name,status\nS1,C1,Sec,active\n",
                ),
            ],
        );
        assert!(r.messages.is_empty(), "{:?}", r.messages);
        assert!(c.get(SisKind::Course, "C1").is_some_and(|e| e.is_deleted()));
    }
}
