//! Applying checked rows to an account: the organisation side (change_sis_id, accounts, terms,
//! courses, sections, cross-listings) and the kinds stored generically. People and memberships
//! are in `apply_people`.
//!
//! Each `apply_*` function upserts one row. References to other objects are resolved here, at
//! apply time, because they may come from an earlier file of the same upload; a missing one is a
//! Canvas row error (`Err` with its wording), and the row is skipped.
//!
//! Sticky fields are not modelled: nothing outside SIS imports edits the simulated objects, so
//! there is never a UI change for `override_sis_stickiness` to overwrite, and the
//! stickiness options have no observable effect.

use std::collections::BTreeMap;

use crate::sis::SisKind;

use super::apply_enrollment;
use super::apply_people;
use super::parse::Row;
use super::rows::{CHANGE_SIS_ID_TYPES, match_status};
use super::ruby_time::parse_raises;
use super::store::{AccountContent, DEFAULT_TERM_KEY, UndoLog, Upsert};

/// What applying a row needs besides the row and the content.
pub(crate) struct ApplyCtx<'a> {
    pub batch_id: u64,
    pub update_sis_id_if_login_claimed: bool,
    pub undo: &'a mut UndoLog,
    /// Warnings Canvas records for a row it still applies (a section's bad date, an enrollment
    /// through a deleted login); the job stores them before the row's own outcome.
    pub warnings: Vec<String>,
}

/// Row result: `Err` is the warning Canvas records when it skips the row.
pub(crate) type Applied = Result<(), String>;

/// Columns never stored on an object.
const SECRET_COLUMNS: [&str; 2] = ["password", "ssha_password"];

/// Applies one row (already checked by `rows::check_row`) of `kind`.
pub(crate) fn apply_row(
    c: &mut AccountContent,
    kind: SisKind,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    match kind {
        SisKind::ChangeSisId => apply_change_sis_id(c, row),
        SisKind::Account => apply_account(c, row, ctx),
        SisKind::Term => apply_term(c, row, ctx),
        SisKind::Course => apply_course(c, row, ctx),
        SisKind::Section => apply_section(c, row, ctx),
        SisKind::Xlist => apply_xlist(c, row, ctx),
        SisKind::User => apply_people::apply_user(c, row, ctx),
        SisKind::Login => apply_people::apply_login(c, row, ctx),
        SisKind::Enrollment => apply_enrollment::apply_enrollment(c, row, ctx),
        SisKind::Admin => apply_people::apply_admin(c, row, ctx),
        SisKind::GroupCategory => apply_people::apply_group_category(c, row, ctx),
        SisKind::Group => apply_people::apply_group(c, row, ctx),
        SisKind::GroupMembership => apply_people::apply_group_membership(c, row, ctx),
        SisKind::UserObserver => apply_people::apply_user_observer(c, row, ctx),
        SisKind::DifferentiationTagSet
        | SisKind::DifferentiationTag
        | SisKind::DifferentiationTagMembership => Err(format!(
            "Differentiation Tags are not enabled for Account {}.",
            c.root_account_id
        )),
        _ => apply_generic(c, kind, row, ctx),
    }
}

/// The row's values worth keeping on the object: everything but the excluded columns and
/// passwords.
pub(crate) fn fields_of(row: &Row, exclude: &[&str]) -> BTreeMap<String, String> {
    row.fields
        .iter()
        .filter(|(k, _)| !exclude.contains(&k.as_str()) && !SECRET_COLUMNS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The canonical status of a checked row (`active` when the kind has no status column).
pub(crate) fn status_of(kind: SisKind, row: &Row) -> &'static str {
    row.get("status")
        .and_then(|s| match_status(kind, s))
        .unwrap_or("active")
}

/// A row that deletes an object Canvas does not have changes nothing.
pub(crate) fn is_noop_delete(c: &AccountContent, kind: SisKind, key: &str, state: &str) -> bool {
    state == "deleted" && c.get(kind, key).is_none()
}

fn refs(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Upserts an object keyed by its SIS id.
fn upsert_sis(
    c: &mut AccountContent,
    kind: SisKind,
    sis: &str,
    state: &str,
    fields: BTreeMap<String, String>,
    refs: BTreeMap<String, u64>,
    ctx: &mut ApplyCtx<'_>,
) -> u64 {
    let change = Upsert {
        sis_id: Some(sis.to_owned()),
        state: state.to_owned(),
        fields,
        refs,
    };
    c.upsert(kind, sis, change, ctx.batch_id, ctx.undo)
}

fn apply_account(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("account_id").unwrap_or_default();
    let state = status_of(SisKind::Account, row);
    if is_noop_delete(c, SisKind::Account, id, state) {
        return Ok(());
    }
    let parent = match row.get("parent_account_id") {
        None => c.root_account_id,
        Some(p) => c
            .get(SisKind::Account, p)
            .filter(|a| p != id && !a.is_deleted())
            .map(|a| a.id)
            .ok_or_else(|| format!("Parent account didn't exist for {p}"))?,
    };
    if c.get(SisKind::Account, id).is_none() && row.get("name").is_none() {
        return Err(format!("No name given for account {id}, skipping"));
    }
    let fields = fields_of(row, &["account_id", "status"]);
    let r = refs(&[("parent_account", parent)]);
    upsert_sis(c, SisKind::Account, id, state, fields, r, ctx);
    Ok(())
}

fn apply_term(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("term_id").unwrap_or_default();
    let state = status_of(SisKind::Term, row);
    if let Some(ty) = row.get("date_override_enrollment_type") {
        return apply_term_override(c, id, ty, row, state);
    }
    if is_noop_delete(c, SisKind::Term, id, state) {
        return Ok(());
    }
    let fields = fields_of(row, &["term_id", "status"]);
    upsert_sis(c, SisKind::Term, id, state, fields, BTreeMap::new(), ctx);
    Ok(())
}

/// A `date_override_enrollment_type` row sets (or, when deleted, removes) per-enrollment-type
/// dates on an existing term.
fn apply_term_override(
    c: &mut AccountContent,
    id: &str,
    ty: &str,
    row: &Row,
    state: &str,
) -> Applied {
    let term = c
        .get_mut(SisKind::Term, id)
        .ok_or_else(|| format!("Term {id} not found for date override"))?;
    for col in ["start_date", "end_date"] {
        let key = format!("{ty}.{col}");
        match row.get(col) {
            Some(v) if state != "deleted" => term.fields.insert(key, v.to_owned()),
            _ => term.fields.remove(&key),
        };
    }
    Ok(())
}

/// Canvas's course states: `active` makes a new (or deleted/completed) course `claimed`
/// (unpublished) and leaves a published one published.
fn course_state(status: &str, current: Option<&str>) -> &'static str {
    match status {
        "deleted" => "deleted",
        "completed" => "completed",
        "published" => "available",
        "unpublished" => "claimed",
        _ => match current {
            Some("available") => "available",
            _ => "claimed",
        },
    }
}

fn apply_course(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("course_id").unwrap_or_default();
    let status = status_of(SisKind::Course, row);
    if is_noop_delete(c, SisKind::Course, id, status) {
        return Ok(());
    }
    let current = c
        .get(SisKind::Course, id)
        .map(|e| e.workflow_state.as_str());
    let state = course_state(status, current);
    // Canvas keeps the course's term (or the default term) when term_id names no active term:
    // `course.enrollment_term = term if term`, then `||= default_enrollment_term`. No warning.
    let named_term = row
        .get("term_id")
        .and_then(|t| c.get(SisKind::Term, t))
        .filter(|t| !t.is_deleted())
        .map(|t| t.id);
    let existing_term = c
        .get(SisKind::Course, id)
        .and_then(|e| e.refs.get("term").copied());
    let term = named_term
        .or(existing_term)
        .unwrap_or_else(|| c.default_term_id());
    let account = [row.get("account_id"), row.get("fallback_account_id")]
        .into_iter()
        .flatten()
        .find_map(|a| c.get(SisKind::Account, a).filter(|a| !a.is_deleted()))
        .map_or(c.root_account_id, |a| a.id);
    let fields = fields_of(row, &["course_id", "status"]);
    let r = refs(&[("term", term), ("account", account)]);
    upsert_sis(c, SisKind::Course, id, state, fields, r, ctx);
    // A blank date keeps the stored one (merge); `<delete>` clears it.
    if let Some(e) = c.get_mut(SisKind::Course, id) {
        e.fields.retain(|_, v| v != "<delete>");
    }
    Ok(())
}

/// Canvas's `add_section` after the row checks. The course may be deleted (Canvas looks in
/// `all_courses`); a new section needs a name, even a deleted one (Canvas creates it deleted); a
/// cross-listed section keeps its cross-listing course unless the row moves it to another
/// course, or that course was deleted and the row is active. A bad date is a warning and the
/// section imports without it; deleting a section deletes its enrollments.
fn apply_section(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("section_id").unwrap_or_default();
    let course_sis = row.get("course_id").unwrap_or_default();
    let state = status_of(SisKind::Section, row);
    let bad_dates = section_bad_dates(row);
    if !bad_dates.is_empty() {
        ctx.warnings
            .push(format!("Bad date format for section {id}"));
    }
    let course = c
        .get(SisKind::Course, course_sis)
        .map(|e| e.id)
        .ok_or_else(|| {
            format!("Section {id} references course {course_sis} which doesn't exist")
        })?;
    let existing = c.get(SisKind::Section, id);
    if existing.is_none() && row.get("name").is_none() {
        return Err(format!(
            "No name given for section {id} in course {course_sis}"
        ));
    }
    let uncrosslist = existing.is_some_and(|s| leaves_crosslisting(c, s, course, state));
    let moves = existing.is_none_or(|s| {
        s.refs.get("course") != Some(&course)
            && (uncrosslist || !s.refs.contains_key("nonxlist_course"))
    });
    let mut r = BTreeMap::new();
    if moves {
        r.insert("course".to_owned(), course);
    }
    let mut exclude = vec!["section_id", "status"];
    exclude.extend(bad_dates);
    let fields = fields_of(row, &exclude);
    let section = upsert_sis(c, SisKind::Section, id, state, fields, r, ctx);
    if uncrosslist && let Some(s) = c.get_mut(SisKind::Section, id) {
        s.refs.remove("nonxlist_course");
    }
    if state == "deleted" {
        delete_section_enrollments(c, section, ctx);
    }
    Ok(())
}

/// The date columns of a section row Canvas cannot parse: a bad `start_date` leaves both unset
/// (one `begin` block), a bad `end_date` only the end.
fn section_bad_dates(row: &Row) -> Vec<&'static str> {
    let raises = |col| row.get(col).is_some_and(parse_raises);
    if raises("start_date") {
        vec!["start_date", "end_date"]
    } else if raises("end_date") {
        vec!["end_date"]
    } else {
        Vec::new()
    }
}

/// A cross-listed section named with a course other than its original one is un-cross-listed
/// and moved there; so is one whose cross-listing course was deleted, by an active row.
fn leaves_crosslisting(
    c: &AccountContent,
    s: &super::store::Entity,
    course: u64,
    state: &str,
) -> bool {
    let Some(home) = s.refs.get("nonxlist_course") else {
        return false;
    };
    let current = s.refs.get("course").copied();
    if current == Some(course) {
        return false;
    }
    let xlist_deleted = c
        .entities(SisKind::Course)
        .any(|(_, e)| Some(e.id) == current && e.is_deleted());
    *home != course || (xlist_deleted && state == "active")
}

/// Canvas deletes the live enrollments of the sections an import deleted.
fn delete_section_enrollments(c: &mut AccountContent, section: u64, ctx: &mut ApplyCtx<'_>) {
    let keys: Vec<String> = c
        .entities(SisKind::Enrollment)
        .filter(|(_, e)| !e.is_deleted() && e.refs.get("section") == Some(&section))
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        c.set_state(
            SisKind::Enrollment,
            &k,
            "deleted",
            Some(ctx.batch_id),
            ctx.undo,
            false,
        );
    }
}

/// Canvas's `add_crosslist` after the row checks. The section may be deleted; so may the
/// course, which an active row then restores (`claimed`), and which Canvas creates from the
/// section's course when it does not exist. A deleted row leaves alone a section that is in
/// another course than the one named, and otherwise un-cross-lists it (even when the named
/// course does not exist).
fn apply_xlist(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let xlist = row.get("xlist_course_id").unwrap_or_default();
    let section_sis = row.get("section_id").unwrap_or_default();
    let active = status_of(SisKind::Xlist, row) == "active";
    let section = c
        .get(SisKind::Section, section_sis)
        .cloned()
        .ok_or_else(|| {
            format!("A cross-listing referenced a non-existent section {section_sis}")
        })?;
    let current = section.refs.get("course").copied().unwrap_or_default();
    let home = section
        .refs
        .get("nonxlist_course")
        .copied()
        .unwrap_or(current);
    let named = c
        .get(SisKind::Course, xlist)
        .map(|e| (e.id, e.is_deleted()));
    if !active {
        if named.is_none_or(|(id, _)| id == current) {
            set_section_course(c, section_sis, home, None);
        }
        return Ok(());
    }
    let target = match named {
        Some((id, deleted)) => {
            if deleted {
                c.set_state(
                    SisKind::Course,
                    xlist,
                    "claimed",
                    Some(ctx.batch_id),
                    ctx.undo,
                    false,
                );
            }
            id
        }
        None => create_xlist_course(c, xlist, home, ctx),
    };
    if target != current {
        let nonxlist = (target != home).then_some(home);
        set_section_course(c, section_sis, target, nonxlist);
    }
    Ok(())
}

/// Puts a section in `course`; `nonxlist` is its original course while cross-listed.
fn set_section_course(c: &mut AccountContent, section: &str, course: u64, nonxlist: Option<u64>) {
    if let Some(s) = c.get_mut(SisKind::Section, section) {
        s.refs.insert("course".into(), course);
        match nonxlist {
            Some(home) => s.refs.insert("nonxlist_course".into(), home),
            None => s.refs.remove("nonxlist_course"),
        };
    }
}

/// Canvas creates a missing cross-listing course from the section's course: its names, term and
/// account, unpublished (`claimed`).
fn create_xlist_course(
    c: &mut AccountContent,
    xlist: &str,
    home: u64,
    ctx: &mut ApplyCtx<'_>,
) -> u64 {
    let template = c
        .key_of_id(SisKind::Course, home)
        .and_then(|k| c.get(SisKind::Course, &k))
        .cloned();
    let mut r = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for k in ["term", "account"] {
        if let Some(v) = template.as_ref().and_then(|t| t.refs.get(k)) {
            r.insert(k.to_owned(), *v);
        }
    }
    for k in ["short_name", "long_name"] {
        let name = template.as_ref().and_then(|t| t.field(k)).unwrap_or(xlist);
        fields.insert(k.to_owned(), name.to_owned());
    }
    upsert_sis(c, SisKind::Course, xlist, "claimed", fields, r, ctx)
}

/// The table a `change_sis_id` type names.
fn change_table(ty: &str) -> SisKind {
    match ty {
        "account" => SisKind::Account,
        "term" => SisKind::Term,
        "course" => SisKind::Course,
        "section" => SisKind::Section,
        "group" => SisKind::Group,
        "group_category" => SisKind::GroupCategory,
        _ => SisKind::User,
    }
}

fn apply_change_sis_id(c: &mut AccountContent, row: &Row) -> Applied {
    let ty = row.get("type").unwrap_or_default().to_lowercase();
    debug_assert!(CHANGE_SIS_ID_TYPES.contains(&ty.as_str()));
    let kind = change_table(&ty);
    if let (Some(old), Some(new)) = (row.get("old_id"), row.get("new_id")) {
        rename_sis_id(c, kind, &ty, old, new)?;
    }
    if let (Some(old), Some(new)) = (row.get("old_integration_id"), row.get("new_integration_id")) {
        change_integration_id(c, kind, &ty, old, new)?;
    }
    Ok(())
}

fn rename_sis_id(c: &mut AccountContent, kind: SisKind, ty: &str, old: &str, new: &str) -> Applied {
    if old == DEFAULT_TERM_KEY || c.get(kind, old).is_none() {
        return Err(format!(
            "An old_id, '{old}', referenced a non-existent {ty} and was not changed to '{new}'"
        ));
    }
    if c.get(kind, new).is_some() {
        return Err(format!(
            "A new_id, '{new}', referenced an existing {ty} and the {ty} with {ty}_id '{old}' was not updated"
        ));
    }
    let table = c.table_mut(kind);
    if let Some(mut e) = table.remove(old) {
        e.sis_id = Some(new.to_owned());
        table.insert(new.to_owned(), e);
    }
    Ok(())
}

fn change_integration_id(
    c: &mut AccountContent,
    kind: SisKind,
    ty: &str,
    old: &str,
    new: &str,
) -> Applied {
    let table = c.table_mut(kind);
    let taken = new != "<delete>"
        && table
            .values()
            .any(|e| e.field("integration_id") == Some(new));
    let target = table
        .values_mut()
        .find(|e| e.field("integration_id") == Some(old))
        .ok_or_else(|| {
            format!("An old_integration_id, '{old}', referenced a non-existent {ty} and was not changed to '{new}'")
        })?;
    if taken {
        return Err(format!(
            "A new_integration_id, '{new}', referenced an existing {ty} and was not changed"
        ));
    }
    if new == "<delete>" {
        target.fields.remove("integration_id");
    } else {
        target
            .fields
            .insert("integration_id".into(), new.to_owned());
    }
    Ok(())
}

/// Kinds the simulator keeps without modelling their effect (abstract courses, institutional
/// tags, grade publishing results): stored by their identifying columns, with the row's status.
fn apply_generic(
    c: &mut AccountContent,
    kind: SisKind,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    let id_cols = super::diff::identifying_fields(kind);
    let key = id_cols
        .iter()
        .map(|col| row.get(col).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|");
    if key.chars().all(|ch| ch == '|') {
        return Err(format!(
            "No {} given for a {}",
            id_cols.first().copied().unwrap_or("id"),
            kind.importer_name().replace('_', " ")
        ));
    }
    let state = match row.get("status") {
        Some(s) if s.to_lowercase().starts_with("deleted") => "deleted".to_owned(),
        Some(s) => s.to_lowercase(),
        None => "active".to_owned(),
    };
    if is_noop_delete(c, kind, &key, &state) {
        return Ok(());
    }
    let fields = fields_of(row, &["status"]);
    upsert_sis(c, kind, &key, &state, fields, BTreeMap::new(), ctx);
    Ok(())
}
