//! Batch-mode cleanup (docs/canvas-api.md §4.1): after all rows are applied, the courses, sections
//! and enrollments of the batch's term(s) that an earlier SIS batch touched and this one did not
//! are removed, unless `change_threshold` says the removal is too large.
//!
//! Only the kinds present in the upload are cleaned, and admins never are. All threshold checks
//! run before any object is touched, so an aborted batch deletes nothing (its upserts stay).

use std::collections::{BTreeMap, BTreeSet};

use canvas_sis_rules::sis::SisKind;

use super::store::{AccountContent, UndoLog};
use super::{BatchModeScope, ImportSettings, SisMessage};

/// The kinds batch mode cleans, in the order Canvas removes them.
const CLEANED: [SisKind; 3] = [SisKind::Course, SisKind::Section, SisKind::Enrollment];

/// One object to remove, and the state it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CleanupItem {
    pub kind: SisKind,
    pub key: String,
    pub state: String,
}

/// What the cleanup decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Planned {
    Abort(SisMessage),
    Remove(Vec<CleanupItem>),
}

/// Decides the cleanup of a batch-mode import; `present` are the kinds of the upload.
pub(crate) fn plan(
    settings: &ImportSettings,
    scope: &BatchModeScope,
    present: &BTreeSet<SisKind>,
    c: &AccountContent,
) -> Planned {
    let terms = scope_terms(scope, settings.batch_id, c);
    if terms.is_empty() {
        return Planned::Abort(SisMessage::warning(
            None,
            None,
            "Terms not found. Terms must be included with multi_term_batch_mode",
        ));
    }
    let course_terms: BTreeMap<u64, u64> = c
        .entities(SisKind::Course)
        .filter_map(|(_, e)| Some((e.id, *e.refs.get("term")?)))
        .collect();
    let in_scope = |course: Option<&u64>| {
        course
            .and_then(|id| course_terms.get(id))
            .is_some_and(|t| terms.contains(t))
    };
    let mut items = Vec::new();
    for kind in CLEANED.into_iter().filter(|k| present.contains(k)) {
        let (all, mut remove) = candidates(c, kind, settings, &in_scope);
        if let Some(t) = settings.change_threshold
            && remove.len() as u64 * 100 > u64::from(t) * all
        {
            return Planned::Abort(SisMessage::warning(
                None,
                None,
                format!(
                    "{} {} would be deleted and exceeds the set threshold of {t}%",
                    remove.len(),
                    kind.counts_key()
                ),
            ));
        }
        items.append(&mut remove);
    }
    Planned::Remove(items)
}

/// Canvas ids of the terms the batch owns.
fn scope_terms(scope: &BatchModeScope, batch: u64, c: &AccountContent) -> BTreeSet<u64> {
    match scope {
        BatchModeScope::Term(id) => [*id].into(),
        BatchModeScope::MultiTerm => c
            .entities(SisKind::Term)
            .filter(|(_, t)| t.sis_batch_id == Some(batch) && !t.is_deleted())
            .map(|(_, t)| t.id)
            .collect(),
    }
}

/// For one kind: how many live SIS objects the scope holds, and which of them to remove.
fn candidates(
    c: &AccountContent,
    kind: SisKind,
    settings: &ImportSettings,
    in_scope: &dyn Fn(Option<&u64>) -> bool,
) -> (u64, Vec<CleanupItem>) {
    let batch = settings.batch_id;
    let mut all = 0;
    let mut remove = Vec::new();
    for (key, e) in c.entities(kind) {
        let course = if kind == SisKind::Course {
            Some(&e.id)
        } else {
            e.refs.get("nonxlist_course").or(e.refs.get("course"))
        };
        let sis = kind == SisKind::Enrollment || e.sis_id.is_some();
        if e.is_deleted() || !sis || e.sis_batch_id.is_none() || !in_scope(course) {
            continue;
        }
        all += 1;
        if e.sis_batch_id == Some(batch) {
            continue;
        }
        let state = match kind {
            SisKind::Enrollment => enrollment_drop_state(c, settings, key),
            _ => "deleted".to_owned(),
        };
        if e.workflow_state != state {
            remove.push(CleanupItem {
                kind,
                key: key.clone(),
                state,
            });
        }
    }
    (all, remove)
}

/// `batch_mode_enrollment_drop_status`; `deleted_last_completed` deletes an enrollment when the
/// user keeps another active one in the course, and completes it otherwise.
fn enrollment_drop_state(c: &AccountContent, settings: &ImportSettings, key: &str) -> String {
    let status = settings
        .batch_mode_enrollment_drop_status
        .as_deref()
        .unwrap_or("deleted");
    if status != "deleted_last_completed" {
        return status.to_owned();
    }
    let Some(e) = c.get(SisKind::Enrollment, key) else {
        return "deleted".to_owned();
    };
    let other_active = c.entities(SisKind::Enrollment).any(|(k, o)| {
        k != key
            && o.workflow_state == "active"
            && o.sis_batch_id == Some(settings.batch_id)
            && o.refs.get("course") == e.refs.get("course")
            && o.refs.get("user") == e.refs.get("user")
    });
    if other_active { "deleted" } else { "completed" }.to_owned()
}

/// Applies one planned removal; returns the `batch_*_deleted` counts key it adds to.
pub(crate) fn remove(
    c: &mut AccountContent,
    item: &CleanupItem,
    undo: &mut UndoLog,
) -> &'static str {
    c.set_state(item.kind, &item.key, &item.state, None, undo, true);
    match item.kind {
        SisKind::Course => "batch_courses_deleted",
        SisKind::Section => "batch_sections_deleted",
        _ => "batch_enrollments_deleted",
    }
}
