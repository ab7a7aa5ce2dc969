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

use canvas_sis_rules::sis::SisKind;

use super::dates::bad_date_columns;
use super::parse::Row;
use super::rows::{CHANGE_SIS_ID_TYPES, is_date, match_status};
use super::store::{AccountContent, DEFAULT_TERM_KEY, Entity, UndoLog, Upsert};
use super::{apply_enrollment, apply_groups, apply_people, apply_tags, apply_users};

/// What applying a row needs besides the row and the content.
pub(crate) struct ApplyCtx<'a> {
    pub batch_id: u64,
    pub update_sis_id_if_login_claimed: bool,
    /// The account's `allow_assign_to_differentiation_tags` setting.
    pub differentiation_tags: bool,
    pub undo: &'a mut UndoLog,
    /// Warnings that do not skip the row and that Canvas's importers push to their `messages`
    /// (an unknown blueprint course): reported for the file, without a row number.
    pub notes: Vec<String>,
    /// Warnings Canvas records as the row's own errors although it still applies the row (a
    /// section's bad date, an enrollment through a deleted login): reported with the row.
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
        SisKind::AbstractCourse => apply_abstract_course(c, row, ctx),
        SisKind::GradePublishingResults => apply_grade_publishing_result(c, row),
        SisKind::Account => apply_account(c, row, ctx),
        SisKind::Term => apply_term(c, row, ctx),
        SisKind::Course => apply_course(c, row, ctx),
        SisKind::Section => apply_section(c, row, ctx),
        SisKind::Xlist => apply_xlist(c, row, ctx),
        SisKind::User => apply_users::apply_user(c, row, ctx),
        SisKind::Login => apply_users::apply_login(c, row, ctx),
        SisKind::Enrollment => apply_enrollment::apply_enrollment(c, row, ctx),
        SisKind::Admin => apply_people::apply_admin(c, row, ctx),
        SisKind::GroupCategory => apply_groups::apply_group_category(c, row, ctx),
        SisKind::DifferentiationTagSet => apply_groups::apply_tag_set(c, row, ctx),
        SisKind::Group => apply_groups::apply_group(c, row, ctx),
        SisKind::DifferentiationTag => apply_groups::apply_tag(c, row, ctx),
        SisKind::GroupMembership => apply_groups::apply_group_membership(c, row, ctx),
        SisKind::DifferentiationTagMembership => apply_groups::apply_tag_membership(c, row, ctx),
        SisKind::InstitutionalTagCategory => apply_tags::apply_category(c, row, ctx),
        SisKind::InstitutionalTag => apply_tags::apply_tag(c, row, ctx),
        SisKind::InstitutionalTagAssociation => apply_tags::apply_association(c, row, ctx),
        SisKind::UserObserver => apply_people::apply_user_observer(c, row, ctx),
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

/// Accounts, as `SIS::AccountImporter#add_account`: the parent (any state) must exist and not be
/// deleted; a new account needs a name and a proper status, an existing one neither (a blank
/// status leaves it as it is); deleting needs no active sub-accounts or courses; a parent inside
/// the account's own subtree is a loop. A deleted row creates a deleted account.
fn apply_account(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("account_id").unwrap_or_default();
    let parent = match row.get("parent_account_id") {
        None => None,
        Some(p) => {
            let parent = c
                .get(SisKind::Account, p)
                .ok_or_else(|| format!("Parent account didn't exist for {id}"))?;
            if parent.is_deleted() {
                return Err(format!(
                    "Cannot restore sub_account with ID: {id} because parent_account with ID: {p} has been deleted."
                ));
            }
            Some((p, parent.id))
        }
    };
    let existing = c.get(SisKind::Account, id).cloned();
    let status = row.get("status").unwrap_or_default();
    let state = match &existing {
        None => {
            if row.get("name").is_none() {
                return Err(format!("No name given for account {id}, skipping"));
            }
            match_status(SisKind::Account, status)
                .ok_or_else(|| format!("Improper status \"{status}\" for account {id}, skipping"))?
        }
        // An existing account's status is matched anywhere in the value (`when /active/i`).
        Some(e) => match status.to_lowercase() {
            s if s.contains("active") => "active",
            s if s.contains("deleted") => "deleted",
            _ => state_str(&e.workflow_state),
        },
    };
    if let Some(e) = &existing
        && state == "deleted"
        && !e.is_deleted()
    {
        refuse_account_delete(c, id, e.id)?;
    }
    if let (Some(e), Some((p, parent_id))) = (&existing, parent)
        && account_chain(c, parent_id).contains(&e.id)
    {
        return Err(format!(
            "Setting account {id}'s parent to {p} would create a loop"
        ));
    }
    let parent_id = parent.map_or(c.root_account_id, |(_, pid)| pid);
    let fields = fields_of(row, &["account_id", "status"]);
    let r = refs(&[("parent_account", parent_id)]);
    upsert_sis(c, SisKind::Account, id, state, fields, r, ctx);
    Ok(())
}

/// The static name of a stored workflow state the kinds here use.
fn state_str(state: &str) -> &'static str {
    match state {
        "deleted" => "deleted",
        _ => "active",
    }
}

/// Canvas refuses to delete an account that still has active sub-accounts or courses.
fn refuse_account_delete(c: &AccountContent, sis: &str, id: u64) -> Applied {
    let holds = |kind: SisKind, link: &str| {
        c.entities(kind)
            .any(|(_, e)| !e.is_deleted() && e.refs.get(link) == Some(&id))
    };
    if holds(SisKind::Account, "parent_account") {
        return Err(format!(
            "Cannot delete the sub_account with ID: {sis} because it has active sub accounts."
        ));
    }
    if holds(SisKind::Course, "account") {
        return Err(format!(
            "Cannot delete the sub_account with ID: {sis} because it has active courses."
        ));
    }
    Ok(())
}

/// Canvas ids of an account and its ancestors up to the root.
fn account_chain(c: &AccountContent, mut id: u64) -> Vec<u64> {
    let mut chain = Vec::new();
    while id != c.root_account_id && !chain.contains(&id) {
        chain.push(id);
        let parent = c
            .entities(SisKind::Account)
            .find(|(_, e)| e.id == id)
            .and_then(|(_, e)| e.refs.get("parent_account").copied());
        match parent {
            Some(p) => id = p,
            None => break,
        }
    }
    chain
}

/// Terms, as `SIS::TermImporter#add_term`. A term with active courses cannot be deleted (its
/// validation fails); dates Canvas could not read are stored as none. A deleted row for a term
/// Canvas does not have creates it deleted (`first_or_initialize`).
fn apply_term(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("term_id").unwrap_or_default();
    let state = status_of(SisKind::Term, row);
    if let Some(ty) = row.get("date_override_enrollment_type") {
        return apply_term_override(c, id, ty, row, state);
    }
    if let Some(term) = c.get(SisKind::Term, id)
        && state == "deleted"
        && !term.is_deleted()
    {
        let term_id = term.id;
        let has_courses = c
            .entities(SisKind::Course)
            .any(|(_, e)| !e.is_deleted() && e.refs.get("term") == Some(&term_id));
        if has_courses {
            let name = row.get("name").unwrap_or_default();
            return Err(format!(
                "A term did not pass validation (term: {id} / {name}, error: Workflow state Cannot delete a term with active courses)"
            ));
        }
    }
    let fields = fields_of(row, &["term_id", "status"]);
    upsert_sis(c, SisKind::Term, id, state, fields, BTreeMap::new(), ctx);
    // `term.start_at = start_date`: a blank date clears the stored one, and so does one Canvas
    // could not read (the parse stops at the first bad date, leaving the later one unread too).
    if let Some(t) = c.get_mut(SisKind::Term, id) {
        let mut unread = false;
        for col in ["start_date", "end_date"] {
            unread = unread || row.get(col).is_some_and(|v| !is_date(v));
            if unread || row.get(col).is_none() {
                t.fields.remove(col);
            }
        }
    }
    Ok(())
}

/// Enrollment types a term's date override can name (exactly, case-sensitively).
const OVERRIDE_TYPES: [&str; 4] = [
    "StudentEnrollment",
    "TeacherEnrollment",
    "TaEnrollment",
    "DesignerEnrollment",
];

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
        .ok_or_else(|| "Cannot set date override on non-existent term".to_owned())?;
    if !OVERRIDE_TYPES.contains(&ty) {
        return Err("Invalid date_override_enrollment_type".into());
    }
    for col in ["start_date", "end_date"] {
        let key = format!("{ty}.{col}");
        match row.get(col) {
            Some(v) if state != "deleted" => term.fields.insert(key, v.to_owned()),
            _ => term.fields.remove(&key),
        };
    }
    Ok(())
}

/// Canvas's course states for a row's status (`SIS::CourseImporter`): `active`, `unpublished`
/// and `published` (exactly, any case) make a new, unpublished or deleted course `claimed`
/// (`available` for `published`), a concluded one `available`, and leave a published one as it
/// is; other statuses that passed the check act by what they contain (`deleted`, `completed`),
/// or change nothing.
fn course_state(status: &str, current: Option<&str>) -> &'static str {
    let lower = status.to_lowercase();
    let active_state = if lower == "published" {
        "available"
    } else {
        "claimed"
    };
    if ["active", "unpublished", "published"].contains(&lower.as_str()) {
        return match current {
            Some("completed") => "available",
            Some("available") => "available",
            _ => active_state,
        };
    }
    if lower.contains("deleted") {
        return "deleted";
    }
    if lower.contains("completed") {
        return "completed";
    }
    match current {
        Some("available") => "available",
        Some("completed") => "completed",
        Some("deleted") => "deleted",
        _ => "claimed",
    }
}

/// Courses, as `SIS::CourseImporter#add_course` (its checks of the row alone are in `rows`). A
/// deleted row for a course Canvas does not have creates it deleted (`Course.new`, saved).
fn apply_course(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("course_id").unwrap_or_default();
    let status = row.get("status").unwrap_or_default();
    let existing = c.get(SisKind::Course, id).cloned();
    let account = course_account(c, id, row, existing.as_ref())?;
    let state = course_state(status, existing.as_ref().map(|e| e.workflow_state.as_str()));
    // Canvas keeps the course's term (or the default term) when term_id names no active term:
    // `course.enrollment_term = term if term`, then `||= default_enrollment_term`. No warning.
    let named_term = row
        .get("term_id")
        .and_then(|t| c.get(SisKind::Term, t))
        .filter(|t| !t.is_deleted())
        .map(|t| t.id);
    let existing_term = existing.as_ref().and_then(|e| e.refs.get("term").copied());
    let mut term = named_term
        .or(existing_term)
        .unwrap_or_else(|| c.default_term_id());
    let mut account = account;
    if let Some(ab) = row.get("abstract_course_id") {
        match c.get(SisKind::AbstractCourse, ab) {
            None => ctx.notes.push(format!(
                "unknown abstract course id {ab}, ignoring abstract course reference"
            )),
            Some(a) => {
                if row.get("term_id").is_none() {
                    term = a.refs.get("term").copied().unwrap_or(term);
                }
                if row.get("account_id").is_none() {
                    account = a.refs.get("account").copied().unwrap_or(account);
                }
            }
        }
    }
    let fields = fields_of(row, &["course_id", "status"]);
    let r = refs(&[("term", term), ("account", account)]);
    upsert_sis(c, SisKind::Course, id, state, fields, r, ctx);
    // A blank date keeps the stored one (merge); `<delete>` clears it.
    if let Some(e) = c.get_mut(SisKind::Course, id) {
        e.fields.retain(|_, v| v != "<delete>");
    }
    // No blueprint course can exist here (only the API makes one), so every association is
    // reported once the file is done; `dissociate` has nothing to remove.
    if let Some(bp) = row.get("blueprint_course_id")
        && bp != "dissociate"
        && state != "deleted"
    {
        ctx.notes.push(format!(
            "Unknown blueprint course \"{bp}\" for course \"{id}\""
        ));
    }
    Ok(())
}

/// The course's account, as Canvas picks it: `account_id` (any state), else
/// `fallback_account_id`; a named account that is not found is an error; only an active one is
/// assigned; a course left in a deleted account cannot be imported; otherwise the course keeps
/// its account, or a new one goes to the root account.
fn course_account(
    c: &AccountContent,
    id: &str,
    row: &Row,
    existing: Option<&Entity>,
) -> Result<u64, String> {
    let find = |col: &str| row.get(col).and_then(|a| c.get(SisKind::Account, a));
    let named = find("account_id").or_else(|| find("fallback_account_id"));
    if let (Some(a), None) = (row.get("account_id"), named) {
        return Err(format!("Account not found \"{a}\" for course {id}"));
    }
    if let Some(a) = named.filter(|a| !a.is_deleted()) {
        return Ok(a.id);
    }
    let current = existing.and_then(|e| e.refs.get("account").copied());
    if let Some(acc) = current.and_then(|cur| {
        c.entities(SisKind::Account)
            .find(|(_, e)| e.id == cur && e.is_deleted())
    }) {
        return Err(format!(
            "Cannot restore course {id} because the associated account {} is deleted",
            acc.1.sis_id.as_deref().unwrap_or_default()
        ));
    }
    Ok(current.unwrap_or(c.root_account_id))
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
    let bad_dates = bad_date_columns(row);
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

/// `change_sis_id.csv`, as `SIS::ChangeSisIdImporter`: the new ids must be free, the old ones
/// must find the object (both the same one when both are given); then the ids change.
fn apply_change_sis_id(c: &mut AccountContent, row: &Row) -> Applied {
    let ty = row.get("type").unwrap_or_default().to_lowercase();
    debug_assert!(CHANGE_SIS_ID_TYPES.contains(&ty.as_str()));
    let kind = change_table(&ty);
    let [old_id, new_id, old_int, new_int] = [
        "old_id",
        "new_id",
        "old_integration_id",
        "new_integration_id",
    ]
    .map(|col| row.get(col));
    if ty == "group_category" && (old_int.is_some() || new_int.is_some()) {
        return Err("Group categories should not have integration IDs.".into());
    }
    let column = if ty == "user" {
        "sis_user_id"
    } else {
        "sis_source_id"
    };
    if let Some(new) = new_id
        && c.get(kind, new).is_some()
    {
        let old = old_id.unwrap_or_default();
        return Err(format!(
            "A new_id, '{new}', referenced an existing {ty} and the {ty} with {column} '{old}' was not updated"
        ));
    }
    if let Some(new) = new_int
        && key_by_integration_id(c, kind, new).is_some()
    {
        let old = old_int.unwrap_or_default();
        return Err(format!(
            "A new_integration_id, '{new}', referenced an existing {ty} and the {ty} with integration_id '{old}' was not updated"
        ));
    }
    let key = find_changed(c, kind, &ty, old_id, old_int)?;
    if let Some(new) = new_int
        && let Some(e) = c.get_mut(kind, &key)
    {
        if new == "<delete>" {
            e.fields.remove("integration_id");
        } else {
            e.fields.insert("integration_id".into(), new.to_owned());
        }
    }
    if let Some(new) = new_id {
        let table = c.table_mut(kind);
        if let Some(mut e) = table.remove(&key) {
            e.sis_id = Some(new.to_owned());
            table.insert(new.to_owned(), e);
        }
    }
    Ok(())
}

/// The key of the object holding an integration id.
fn key_by_integration_id(c: &AccountContent, kind: SisKind, int: &str) -> Option<String> {
    c.entities(kind)
        .find(|(_, e)| e.field("integration_id") == Some(int))
        .map(|(k, _)| k.clone())
}

/// The object a change_sis_id row names by its old SIS id and/or old integration id.
fn find_changed(
    c: &AccountContent,
    kind: SisKind,
    ty: &str,
    old_id: Option<&str>,
    old_int: Option<&str>,
) -> Result<String, String> {
    // The Default Term has no SIS id: its empty key is never a row's old_id.
    let by_id = old_id.filter(|o| *o != DEFAULT_TERM_KEY && c.get(kind, o).is_some());
    let by_int = old_int.and_then(|o| key_by_integration_id(c, kind, o));
    match (old_id, old_int) {
        (Some(o), Some(oi)) => match (by_id, by_int) {
            (Some(k), Some(ki)) if k == ki => Ok(ki),
            (None, None) => Err(format!(
                "An old_id, '{o}', referenced a non-existent {ty} and was not changed."
            )),
            _ => Err(format!(
                "An old_id, '{o}', referenced a different {ty} than the old_integration_id, '{oi}'"
            )),
        },
        (Some(o), None) => by_id.map(str::to_owned).ok_or_else(|| {
            format!("An old_id, '{o}', referenced a non-existent {ty} and was not changed.")
        }),
        (None, Some(oi)) => by_int.ok_or_else(|| {
            format!(
                "An old_integration_id, '{oi}', referenced a non-existent {ty} and was not changed."
            )
        }),
        (None, None) => Err("No old_id or old_integration_id given for change_sis_id".into()),
    }
}

/// Abstract courses, as `SIS::AbstractCourseImporter`: the term (any state) or the Default Term;
/// the account (any state), the fallback account, or the root account. Unknown ones are no error.
/// A deleted row for a new abstract course creates it deleted.
fn apply_abstract_course(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("abstract_course_id").unwrap_or_default();
    let state = status_of(SisKind::AbstractCourse, row);
    let term = row
        .get("term_id")
        .and_then(|t| c.get(SisKind::Term, t))
        .map_or_else(|| c.default_term_id(), |t| t.id);
    let account = [row.get("account_id"), row.get("fallback_account_id")]
        .into_iter()
        .flatten()
        .find_map(|a| c.get(SisKind::Account, a))
        .map_or(c.root_account_id, |a| a.id);
    let fields = fields_of(row, &["abstract_course_id", "status"]);
    let r = refs(&[("term", term), ("account", account)]);
    upsert_sis(c, SisKind::AbstractCourse, id, state, fields, r, ctx);
    Ok(())
}

/// Grade publishing results name an enrollment by its Canvas id.
fn apply_grade_publishing_result(c: &mut AccountContent, row: &Row) -> Applied {
    let id = row.get("enrollment_id").unwrap_or_default();
    let status = row
        .get("grade_publishing_status")
        .unwrap_or_default()
        .to_lowercase();
    let canvas_id = id.parse::<u64>().ok();
    let key = c
        .entities(SisKind::Enrollment)
        .find(|(_, e)| Some(e.id) == canvas_id)
        .map(|(k, _)| k.clone())
        .ok_or_else(|| format!("Enrollment {id} doesn't exist"))?;
    if let Some(e) = c.get_mut(SisKind::Enrollment, &key) {
        e.fields.insert("grade_publishing_status".into(), status);
        let message = row.get("message").unwrap_or_default().to_owned();
        e.fields.insert("grade_publishing_message".into(), message);
    }
    Ok(())
}
