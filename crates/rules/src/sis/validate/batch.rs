//! The whole batch: files in Canvas's processing order, so that by the time a row names a user,
//! course or section, every file that could define it has been read; duplicate ids across the
//! batch; references to objects the batch does not define.
//!
//! Canvas orders files by kind, never by name or position in the zip (docs/canvas-api.md §5.2).
//! Files of one kind are taken in name order. A reference is checked only if the batch has at least
//! one file defining that kind of object: an incremental feed of enrollments alone relies on
//! Canvas's existing users by design, and flagging every row of it would bury real problems.

use std::collections::HashSet;

use super::ValidateOptions;
use super::deferred::{Deferred, Resolver, SECTIONS_TABLE, Verdict, read_found};
use super::file::{self, DuplicateLines, FileOutcome};
use super::finding::{Finding, FindingList};
use super::handoff::drain_to_thread;
use super::ids::{Defined, IdSpace, IdStore, Known, SPACES, Seen, course_hash, hash64, id_key};
use super::report::{FileReport, ValidationReport};
use super::row::{Fields, Plan};
use super::rules::defining_kinds;
use super::spill::{RUN_BYTES, Spill};
use super::values::{show, trim};
use crate::batch::BatchFile;
use crate::sis::SisKind;

/// What the batch knows while its files are read.
pub(crate) struct Batch<'o> {
    pub opts: &'o ValidateOptions,
    ids: IdStore,
    /// Kinds with at least one file in the batch.
    present: HashSet<SisKind>,
    /// Per id space, whether a file of the batch defines it (asked for every reference).
    defined_spaces: [bool; SPACES],
    /// File names in processing order (for naming an earlier row).
    names: Vec<String>,
    /// Account rows whose parent was not defined yet when they were read.
    pending_parents: Vec<PendingParent>,
    /// The checks the id tables could not answer once full, resolved after the last file.
    spill: Spill,
}

struct PendingParent {
    file: u32,
    row: u64,
    key: u64,
    parent: String,
}

/// Validates every file of a batch and the references between them. Never fails: a file that
/// can't be read is a finding like any other.
pub fn validate_batch(files: &[&dyn BatchFile], opts: &ValidateOptions) -> ValidationReport {
    let kinds: Vec<Option<SisKind>> = files
        .iter()
        .map(|f| file::sniff_kind(*f, opts.institutional_tags))
        .collect();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| (kinds[i].is_none(), kinds[i], files[i].name());
        key(a).cmp(&key(b))
    });
    let present: HashSet<SisKind> = kinds.iter().flatten().copied().collect();
    let mut batch = Batch {
        opts,
        ids: IdStore::with_budget(opts.id_memory_bytes),
        defined_spaces: IdSpace::ALL
            .map(|space| defining_kinds(space).iter().any(|k| present.contains(k))),
        present,
        names: order.iter().map(|&i| files[i].name().to_owned()).collect(),
        pending_parents: Vec::new(),
        spill: Spill::new(opts.spill_dir.clone(), RUN_BYTES),
    };
    let mut outcomes: Vec<FileOutcome> = order
        .iter()
        .enumerate()
        .map(|(pos, &i)| file::validate_file(files[i], pos as u32, &mut batch))
        .collect();
    let mut batch_findings = Vec::new();
    batch.resolve_parents(&mut outcomes);
    // Every question the tables can answer has been asked: their memory goes to the spill's
    // read buffers.
    batch.ids.release();
    if let Err(e) = batch.resolve_deferred(&mut outcomes) {
        batch_findings.push(checks_incomplete(&e));
    }
    for o in &mut outcomes {
        if let Some(f) = o.dup.finding() {
            o.findings.push(f);
        }
    }
    if !outcomes.iter().any(|o| o.read_as.is_some()) {
        batch_findings.push(Finding::error(
            "no_sis_files",
            "the batch has no file Canvas would import (no .csv file with a recognised header)",
            "Add the SIS CSV files to the batch; see the findings of each file for why it isn't recognised.",
        ));
    }
    ValidationReport {
        files: outcomes.into_iter().map(finish).collect(),
        batch_findings: batch_findings
            .into_iter()
            .map(|f| opts.strict.apply(f))
            .collect(),
    }
}

/// Adds a found record (a resolved check's verdict) to the findings of its file.
fn add_found(names: &[String], outcomes: &mut [FileOutcome], payload: &[u8]) {
    let Some((verdict, d)) = read_found(payload) else {
        return;
    };
    let (file, row) = d.at();
    let Some(out) = outcomes.get_mut(file as usize) else {
        return;
    };
    match (verdict, d) {
        (Verdict::Repeat, _) => out.dup.repeat(row),
        (
            Verdict::DuplicateId(first),
            Deferred::Define {
                space, column, id, ..
            },
        ) => out.findings.push_warning_with("duplicate_id", || {
            duplicate_id(names, space, column, id, first).at_row(row)
        }),
        (
            Verdict::LoginTaken(first),
            Deferred::Login {
                column,
                login,
                user,
                ..
            },
        ) => out.findings.push_warning_with("login_id_taken", || {
            login_taken(names, column, login, user, first).at_row(row)
        }),
        (
            Verdict::Missing,
            Deferred::Refer {
                space, column, id, ..
            },
        ) => out
            .findings
            .push_warning_with("reference_not_in_batch", || {
                missing_reference(space, column, &show(id)).at_row(row)
            }),
        (Verdict::ParentAfterChild(first), Deferred::Refer { id, .. }) => out.findings.push(
            parent_after_child(&show(id), &place(names, first))
                .at_row(row)
                .in_column("parent_account_id".to_owned()),
        ),
        (
            Verdict::SectionNotInCourse,
            Deferred::Enroll {
                section, course_id, ..
            },
        ) => out.findings.push_warning_with("section_not_in_course", || {
            section_not_in_course(section, course_id).at_row(row)
        }),
        _ => debug_assert!(false, "a verdict on a check it cannot come from"),
    }
}

fn finish(o: FileOutcome) -> FileReport {
    let (errors, warnings) = o.findings.counts();
    let rule_counts = o.findings.tally();
    FileReport {
        name: o.name,
        kind: o.kind,
        rows: o.rows,
        deleted: o.deleted,
        bytes: o.bytes,
        findings: o.findings.finish(),
        rule_counts,
        errors,
        warnings,
    }
}

impl Batch<'_> {
    /// Records the row's own id and checks the ids it refers to.
    pub(crate) fn track_row(
        &mut self,
        plan: &Plan,
        row: &dyn Fields,
        line: u64,
        pos: u32,
        dup: &mut DuplicateLines,
        out: &mut FindingList,
    ) {
        let line_hash = hash64(0, row.raw());
        // A login names a user Canvas has; only a users file in the batch could define it.
        let logins_alone = plan.kind == SisKind::Login && !self.present.contains(&SisKind::User);
        for (col, space) in &plan.refs {
            if logins_alone || !self.defines(*space) {
                continue;
            }
            let v = trim(row.get(col.idx));
            if v.is_empty() {
                continue;
            }
            let key = id_key(*space, v);
            // An account's parent may come later in the file: resolved once all are read.
            let parent = plan.kind == SisKind::Account && col.name == "parent_account_id";
            match self.ids.holds(*space, key) {
                Known::Yes(()) => {}
                Known::Unknown => self.defer(
                    *space as u8,
                    key,
                    &Deferred::Refer {
                        space: *space,
                        file: pos,
                        row: line,
                        column: col.name,
                        id: v,
                        parent,
                    },
                ),
                Known::No if parent => self.pending_parents.push(PendingParent {
                    file: pos,
                    row: line,
                    key,
                    parent: show(v),
                }),
                Known::No => out.push_warning_with("reference_not_in_batch", || {
                    missing_reference(*space, col.name, &show(v)).at_row(line)
                }),
            }
        }
        self.track_login(plan, row, line, pos, out);
        self.track_section_course(plan, row, line, pos, out);
        let Some((col, space)) = plan.id.filter(|_| !plan.is_date_override(row)) else {
            dup.note_line(line_hash, line);
            return;
        };
        let id = trim(row.get(col.idx));
        if id.is_empty() {
            return;
        }
        let here = Seen::new(pos, line, line_hash);
        let key = id_key(space, id);
        match self.ids.define(space, key, here) {
            Defined::New => {}
            // The same line again: a repeat (counted when in the same file), not a conflict.
            Defined::Again(first) if first.line() == here.line() && first.file() == pos => {
                dup.repeat(line)
            }
            Defined::Again(first) if first.line() == here.line() => {}
            Defined::Again(first) => out.push_warning_with("duplicate_id", || {
                duplicate_id(&self.names, space, col.name, id, first).at_row(line)
            }),
            Defined::Unknown => self.defer(
                space as u8,
                key,
                &Deferred::Define {
                    space,
                    seen: here,
                    column: col.name,
                    id,
                },
            ),
        }
    }

    /// Spills a check the tables cannot answer.
    fn defer(&mut self, table: u8, key: u64, d: &Deferred) {
        self.spill.push_with(table, key, |out| d.encode(out));
    }

    /// Sections record their course, cross-listings the sections they move; an enrollment
    /// naming a section of the batch and another course is a warning: Canvas skips it ("An
    /// enrollment listed a section (…) and a course (…) that are unrelated").
    /// (The `Option` only lets `?` end early on a row without the columns.)
    fn track_section_course(
        &mut self,
        plan: &Plan,
        row: &dyn Fields,
        line: u64,
        pos: u32,
        out: &mut FindingList,
    ) -> Option<()> {
        if !matches!(
            plan.kind,
            SisKind::Section | SisKind::Xlist | SisKind::Enrollment
        ) {
            return None;
        }
        let value = |name: &str| {
            plan.refs
                .iter()
                .chain(plan.id.iter())
                .find(|(c, _)| c.name == name)
                .map(|(c, _)| trim(row.get(c.idx)))
                .filter(|v| !v.is_empty())
        };
        let section = value("section_id")?;
        let key = id_key(IdSpace::Section, section);
        match plan.kind {
            SisKind::Section => {
                let course = course_hash(value("course_id")?);
                if !self.ids.define_section(key, course) {
                    self.defer(SECTIONS_TABLE, key, &Deferred::Section { course });
                }
            }
            SisKind::Xlist if !self.ids.crosslist(key) => {
                self.defer(SECTIONS_TABLE, key, &Deferred::Crosslist);
            }
            SisKind::Enrollment => {
                let course_id = value("course_id")?;
                let course = course_hash(course_id);
                match self.ids.section(key) {
                    Known::Yes(of) if of.course != 0 && of.course != course && !of.crosslisted => {
                        out.push_warning_with("section_not_in_course", || {
                            section_not_in_course(section, course_id).at_row(line)
                        });
                    }
                    Known::Yes(_) | Known::No => {}
                    Known::Unknown => self.defer(
                        SECTIONS_TABLE,
                        key,
                        &Deferred::Enroll {
                            file: pos,
                            row: line,
                            course,
                            section,
                            course_id,
                        },
                    ),
                }
            }
            _ => {}
        }
        Some(())
    }

    /// Records the row's login_id (users and logins) for the user it names; a login_id already
    /// given to another user is a warning: Canvas skips the later row ("An existing Canvas user
    /// with the SIS ID … has already claimed …'s user_id requested login information").
    /// (The `Option` only lets `?` end early on a row without the columns.)
    fn track_login(
        &mut self,
        plan: &Plan,
        row: &dyn Fields,
        line: u64,
        pos: u32,
        out: &mut FindingList,
    ) -> Option<()> {
        let (login_col, (user_col, _)) = plan.login.zip(plan.id)?;
        let login = trim(row.get(login_col.idx));
        let user = trim(row.get(user_col.idx));
        if login.is_empty() || user.is_empty() {
            return None;
        }
        let mut buf = [0u8; 128];
        let lower: std::borrow::Cow<[u8]> = match buf.get_mut(..login.len()) {
            Some(b) => {
                b.copy_from_slice(login);
                b.make_ascii_lowercase();
                std::borrow::Cow::Borrowed(&*b)
            }
            None => std::borrow::Cow::Owned(login.to_ascii_lowercase()),
        };
        let key = id_key(IdSpace::LoginId, &lower);
        let owner = hash64(0, user);
        let here = Seen::new(pos, line, owner);
        match self.ids.define(IdSpace::LoginId, key, here) {
            Defined::New => {}
            Defined::Again(first) if first.line() == here.line() => {}
            Defined::Again(first) => out.push_warning_with("login_id_taken", || {
                login_taken(&self.names, login_col.name, login, user, first).at_row(line)
            }),
            Defined::Unknown => {
                self.defer(
                    IdSpace::LoginId as u8,
                    key,
                    &Deferred::Login {
                        seen: here,
                        column: login_col.name,
                        login,
                        user,
                    },
                );
            }
        }
        Some(())
    }

    /// Resolves the spilled checks and adds what they found to each file, in row order.
    fn resolve_deferred(&mut self, outcomes: &mut [FileOutcome]) -> std::io::Result<()> {
        let spill = std::mem::replace(&mut self.spill, Spill::new(None, RUN_BYTES));
        if spill.is_empty() {
            return Ok(());
        }
        let read_budget = self.opts.id_memory_bytes;
        let resolver = Resolver::new(Spill::new(self.opts.spill_dir.clone(), RUN_BYTES));
        let resolver = drain_to_thread(spill, read_budget, resolver, |r, table, key, seq, p| {
            r.take(table, key, seq, p)
        })?;
        // The findings are merged back in row order on this thread and written into the files'
        // lists on another.
        let names = &self.names;
        drain_to_thread(
            resolver.finish(),
            read_budget,
            outcomes,
            |outs, _, _, _, p| add_found(names, outs, p),
        )
        .map(|_| ())
    }

    /// Makes room for the ids of a file of about `n` rows read by `plan` (its ids first, then
    /// its login ids and sections' courses), as far as the budget allows.
    pub(crate) fn reserve_ids(&mut self, plan: &Plan, n: usize) {
        if let Some((_, space)) = plan.id {
            self.ids.reserve(space, n);
        }
        if plan.login.is_some() {
            self.ids.reserve(IdSpace::LoginId, n);
        }
        if plan.kind == SisKind::Section {
            self.ids.reserve_sections(n);
        }
    }

    /// Whether any file of the batch defines objects of `space`.
    fn defines(&self, space: IdSpace) -> bool {
        self.defined_spaces[space as usize]
    }

    /// Account parents that were not defined when their child was read: defined later (an
    /// error: Canvas skips the child) or not at all (must already exist in Canvas). Those the
    /// full accounts table cannot answer join the spilled checks.
    fn resolve_parents(&mut self, outcomes: &mut [FileOutcome]) {
        for p in std::mem::take(&mut self.pending_parents) {
            let Some(out) = outcomes.get_mut(p.file as usize) else {
                continue;
            };
            let finding = match self.ids.get(IdSpace::Account, p.key) {
                Known::Yes(seen) => parent_after_child(&p.parent, &place(&self.names, seen)),
                Known::No => missing_reference(IdSpace::Account, "parent_account_id", &p.parent),
                // The accounts table filled up after this row: the answer is in the spill.
                Known::Unknown => {
                    self.defer(
                        IdSpace::Account as u8,
                        p.key,
                        &Deferred::Refer {
                            space: IdSpace::Account,
                            file: p.file,
                            row: p.row,
                            column: "parent_account_id",
                            id: p.parent.as_bytes(),
                            parent: true,
                        },
                    );
                    continue;
                }
            };
            out.findings.push(
                finding
                    .at_row(p.row)
                    .in_column("parent_account_id".to_owned()),
            );
        }
    }
}

/// The spilled cross-file checks could not be read back. A warning: what they would find is
/// warnings Canvas imports past (invariant 8); a tenant that wants such a batch held names the
/// rule in `strict`.
fn checks_incomplete(e: &std::io::Error) -> Finding {
    Finding::warning(
        "checks_incomplete",
        format!(
            "the checks across files (duplicate ids, references) could not finish: reading back their temporary file failed ({e}); the batch was checked without them"
        ),
        "Make sure the folder beside the zip (or the temporary folder) has free space and is readable, then validate again.",
    )
}

/// Where a row is, as a finding names it: `file:row`.
fn place(names: &[String], at: Seen) -> String {
    format!(
        "{}:{}",
        names.get(at.file() as usize).map_or("?", String::as_str),
        at.row()
    )
}

fn duplicate_id(names: &[String], space: IdSpace, column: &str, id: &[u8], first: Seen) -> Finding {
    let at = place(names, first);
    Finding::warning(
        "duplicate_id",
        format!(
            "{} \"{}\" is already defined at {at} with different values; Canvas imports both rows and the one it processes last wins, which inside a file is not always the later one (Canvas imports a big file in parallel chunks)",
            space.noun(),
            show(id)
        ),
        format!("Keep one row per {column}: remove or merge the row here or the one at {at}."),
    )
    .in_column(column.to_owned())
}

fn login_taken(names: &[String], column: &str, login: &[u8], user: &[u8], first: Seen) -> Finding {
    let at = place(names, first);
    Finding::warning(
        "login_id_taken",
        format!(
            "login_id \"{}\" is already the login of another user, at {at} (Canvas compares login ids without case); Canvas skips this row (\"An existing Canvas user with the SIS ID … has already claimed {}'s user_id requested login information\")",
            show(login),
            show(user)
        ),
        format!("Give each user their own login_id: change the one here or at {at}."),
    )
    .in_column(column.to_owned())
}

fn section_not_in_course(section: &[u8], course: &[u8]) -> Finding {
    Finding::warning(
        "section_not_in_course",
        format!(
            "section \"{}\" belongs to another course than course_id \"{}\" in sections.csv; Canvas skips the enrollment (\"An enrollment listed a section and a course that are unrelated\")",
            show(section),
            show(course)
        ),
        "Give the section's own course in course_id, or leave course_id blank: the section says which course it is in.",
    )
    .in_column("course_id".to_owned())
}

fn parent_after_child(parent: &str, at: &str) -> Finding {
    Finding::warning(
        "parent_after_child",
        format!(
            "parent account \"{parent}\" is defined only later, at {at}; Canvas reads accounts in order, so unless that account already exists in Canvas it skips this one (\"Parent account didn't exist\")"
        ),
        "Put every parent account before its children in accounts.csv.",
    )
}

fn missing_reference(space: IdSpace, column: &str, id: &str) -> Finding {
    let noun = space.noun();
    Finding::warning(
        "reference_not_in_batch",
        format!(
            "{column} \"{id}\" names {} that is not in this batch's {}; Canvas skips the row unless that {noun} already exists in Canvas",
            space.a_noun(),
            space.defining_file()
        ),
        format!(
            "Add {noun} \"{id}\" to {}, or make sure it already exists in Canvas.",
            space.defining_file()
        ),
    )
    .in_column(column.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_that_could_not_finish_never_refuse_the_batch_unless_the_tenant_says_so() {
        let e = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "cut");
        let f = checks_incomplete(&e);
        assert_eq!(
            (f.rule, f.severity),
            ("checks_incomplete", super::super::Severity::Warning)
        );
        assert!(f.message.contains("cut") && !f.fix.is_empty());
        let strict = super::super::Strict::rules(&["checks_incomplete"]).unwrap();
        assert_eq!(strict.apply(f).severity, super::super::Severity::Error);
    }
}
