//! Applying an enrollments.csv row the way Canvas's `SIS::EnrollmentImporter` does, in its
//! order: the row's dates, the root account, the user's login, the course and section, the role,
//! the observed and the temporary-source users, the status (and what a deleted login makes of
//! it), then the enrollment's own validation.
//!
//! Canvas finds deleted objects too: a deleted login still names its user, a deleted course or
//! section is still "there" (the enrollment then fails validation unless it is itself deleted).
//! Enrollments are keyed by the Canvas ids Canvas matches them on: course, section, user, role
//! and observed user.

use std::collections::BTreeMap;

use canvas_sis_rules::sis::SisKind;

use super::apply::{Applied, ApplyCtx, fields_of, status_of};
use super::dates::bad_date_columns;
use super::parse::Row;
use super::rows::enrollment_role;
use super::store::{AccountContent, Entity, Upsert};

/// Where an enrollment goes, once its course and section are resolved.
struct Target {
    course: u64,
    course_deleted: bool,
    /// `None`: the course's default section (enrolled by course only).
    section: Option<u64>,
    section_deleted: bool,
}

/// The enrollment a row names, once everything it references is found.
struct Resolved {
    key: String,
    user: u64,
    target: Target,
    role: String,
    /// The observed user of an observer.
    associated: Option<u64>,
}

pub(crate) fn apply_enrollment(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    let bad_dates = bad_date_columns(row);
    if !bad_dates.is_empty() {
        ctx.warnings.push(bad_date_message(row));
    }
    if row.get("root_account").is_some() {
        // Open-source Canvas resolves no other root account (`root_account_from_id` is nil), and
        // skips such a row without a message.
        return Ok(());
    }
    let (login_key, login) = enrollment_login(c, row)
        .map(|(k, l)| (k.clone(), l.clone()))
        .ok_or_else(|| {
            format!(
                "User not found for enrollment (User ID: {}, Course ID: {}, Section ID: {})",
                row.get("user_id").unwrap_or_default(),
                row.get("course_id").unwrap_or_default(),
                row.get("section_id").unwrap_or_default()
            )
        })?;
    let e = resolve(c, row, &login)?;
    let existing_state = c
        .get(SisKind::Enrollment, &e.key)
        .map(|x| x.workflow_state.clone());
    if existing_state.as_deref() == Some("deleted") && login.is_deleted() {
        return Err(format!(
            "Attempted enrolling with deleted sis login {} in course {}",
            login.field("login_id").unwrap_or_default(),
            row.get("course_id").unwrap_or_default()
        ));
    }
    let state = match enrollment_state(c, row, &login_key, &login, ctx) {
        "deleted_last_completed" if other_live_enrollment(c, &e) => "deleted",
        "deleted_last_completed" => "completed",
        s => s,
    };
    if existing_state.as_deref() != Some(state) {
        validate(c, row, &e, state)?;
    }
    store(c, row, &e, state, &bad_dates, ctx);
    Ok(())
}

/// The course, section, role and observed user of a row, with Canvas's warnings, in its order.
fn resolve(c: &AccountContent, row: &Row, login: &Entity) -> Result<Resolved, String> {
    let user = login.refs.get("user").copied().unwrap_or_default();
    let target = enrollment_target(c, row, row.get("user_id").unwrap_or_default())?;
    let role = enrollment_role_label(row)?;
    let associated = associated_user(c, row, &role)?;
    temporary_source_user(c, row)?;
    let key = format!(
        "{}:{}:{user}:{role}:{}",
        target.course,
        target.section.unwrap_or(0),
        associated.map(|a| a.to_string()).unwrap_or_default()
    );
    Ok(Resolved {
        key,
        user,
        target,
        role,
        associated,
    })
}

/// Creates or updates the enrollment; unreadable dates are not stored.
fn store(
    c: &mut AccountContent,
    row: &Row,
    e: &Resolved,
    state: &str,
    bad_dates: &[&str],
    ctx: &mut ApplyCtx<'_>,
) {
    let mut refs: BTreeMap<String, u64> = [
        ("course".to_owned(), e.target.course),
        ("user".to_owned(), e.user),
    ]
    .into();
    if let Some(s) = e.target.section {
        refs.insert("section".into(), s);
    }
    if let Some(a) = e.associated {
        refs.insert("associated_user".into(), a);
    }
    let mut exclude = vec!["status"];
    exclude.extend(bad_dates.iter().copied());
    let mut fields = fields_of(row, &exclude);
    fields.insert("role".into(), e.role.clone());
    let change = Upsert {
        sis_id: None,
        state: state.to_owned(),
        fields,
        refs,
    };
    c.upsert(SisKind::Enrollment, &e.key, change, ctx.batch_id, ctx.undo);
}

fn bad_date_message(row: &Row) -> String {
    let user_id = row.get("user_id").unwrap_or_default();
    match row.get("course_id") {
        Some(course) => format!("Bad date format for user {user_id} in course {course}"),
        None => format!(
            "Bad date format for user {user_id} in section {}",
            row.get("section_id").unwrap_or_default()
        ),
    }
}

/// The login (pseudonym) a row names, by `user_integration_id` when given, else by `user_id`;
/// deleted logins included.
fn enrollment_login<'c>(c: &'c AccountContent, row: &Row) -> Option<(&'c String, &'c Entity)> {
    match row.get("user_integration_id") {
        Some(integration) => c
            .entities(SisKind::User)
            .find(|(_, p)| p.field("integration_id") == Some(integration)),
        None => c.table(SisKind::User)?.get_key_value(row.get("user_id")?),
    }
}

/// A course by its Canvas id, deleted ones included.
fn course_by_id(c: &AccountContent, id: u64) -> Option<&Entity> {
    c.entities(SisKind::Course)
        .map(|(_, e)| e)
        .find(|e| e.id == id)
}

/// The course and section an enrollment row names, with Canvas's warnings. A section named with
/// its original course resolves to the course it is cross-listed into.
fn enrollment_target(c: &AccountContent, row: &Row, user_id: &str) -> Result<Target, String> {
    let cs = row.get("course_id");
    let ss = row.get("section_id");
    let course = cs.and_then(|s| c.get(SisKind::Course, s));
    let section = ss.and_then(|s| c.get(SisKind::Section, s));
    let (course, section) = match (course, section) {
        (None, None) => {
            return Err(format!(
                "Neither course nor section existed for user enrollment (Course ID: {}, Section ID: {}, User ID: {user_id})",
                cs.unwrap_or_default(),
                ss.unwrap_or_default()
            ));
        }
        (_, None) if ss.is_some() => {
            return Err(format!(
                "An enrollment referenced a non-existent section {}",
                ss.unwrap_or_default()
            ));
        }
        (None, _) if cs.is_some() => {
            return Err(format!(
                "An enrollment referenced a non-existent course {}",
                cs.unwrap_or_default()
            ));
        }
        pair => pair,
    };
    let Some(section) = section else {
        return Ok(Target {
            course: course.map_or(0, |e| e.id),
            course_deleted: course.is_some_and(Entity::is_deleted),
            section: None,
            section_deleted: false,
        });
    };
    let in_course = section.refs.get("course").copied().unwrap_or_default();
    if let Some(course) = course
        && course.id != in_course
        && section.refs.get("nonxlist_course") != Some(&course.id)
    {
        return Err(format!(
            "An enrollment listed a section ({}) and a course ({}) that are unrelated for user ({user_id})",
            ss.unwrap_or_default(),
            cs.unwrap_or_default()
        ));
    }
    Ok(Target {
        course: in_course,
        course_deleted: course_by_id(c, in_course).is_some_and(Entity::is_deleted),
        section: Some(section.id),
        section_deleted: section.is_deleted(),
    })
}

/// The role an enrollment gets: a `role_id` (custom roles are not modelled: any numeric id is
/// taken as valid), else a built-in role name; anything else is an improper role.
fn enrollment_role_label(row: &Row) -> Result<String, String> {
    if let Some(id) = row.get("role_id")
        && id.parse::<u64>().is_ok()
    {
        return Ok(format!("role_id:{id}"));
    }
    let role = row.get("role").unwrap_or_default();
    enrollment_role(role)
        .map(str::to_owned)
        .ok_or_else(|| format!("Improper role \"{role}\" for an enrollment"))
}

/// The Canvas user an observer row observes (only observers look at `associated_user_id`).
fn associated_user(c: &AccountContent, row: &Row, role: &str) -> Result<Option<u64>, String> {
    let Some(sis) = row.get("associated_user_id").filter(|_| role == "observer") else {
        return Ok(None);
    };
    c.get(SisKind::User, sis)
        .and_then(|p| p.refs.get("user").copied())
        .map(Some)
        .ok_or_else(|| format!("An enrollment referenced a non-existent associated user {sis}"))
}

/// `temporary_enrollment_source_user_id` must name a user; the link itself needs the
/// `temporary_enrollments` feature, which the simulator does not model.
fn temporary_source_user(c: &AccountContent, row: &Row) -> Result<(), String> {
    match row.get("temporary_enrollment_source_user_id") {
        Some(sis) if c.get(SisKind::User, sis).is_none() => Err(format!(
            "An enrollment referenced a non-existent temporary enrollment source user {sis}"
        )),
        _ => Ok(()),
    }
}

/// The state the row asks for. An active row through a deleted login is still made active
/// when the user has another active login (with a warning), and is stored deleted otherwise
/// (with another).
fn enrollment_state(
    c: &AccountContent,
    row: &Row,
    login_key: &str,
    login: &Entity,
    ctx: &mut ApplyCtx<'_>,
) -> &'static str {
    let status = status_of(SisKind::Enrollment, row);
    if status != "active" || !login.is_deleted() {
        return status;
    }
    let user_id = row.get("user_id").unwrap_or_default();
    let course_id = row.get("course_id").unwrap_or_default();
    let user = login.refs.get("user");
    let other_login = c
        .entities(SisKind::User)
        .any(|(k, p)| k != login_key && !p.is_deleted() && p.refs.get("user") == user);
    if other_login {
        ctx.warnings.push(format!(
            "Enrolled a user {user_id} in course {course_id}, but referenced a deleted sis login"
        ));
        return "active";
    }
    ctx.warnings.push(format!(
        "Attempted enrolling of deleted user {user_id} in course {course_id}"
    ));
    "deleted"
}

/// Whether the user holds another enrollment, not deleted, with the same role and observed
/// user in the course: `deleted_last_completed` then deletes rather than completes.
fn other_live_enrollment(c: &AccountContent, e: &Resolved) -> bool {
    c.entities(SisKind::Enrollment).any(|(k, x)| {
        *k != e.key
            && !x.is_deleted()
            && x.refs.get("course") == Some(&e.target.course)
            && x.refs.get("user") == Some(&e.user)
            && x.refs.get("associated_user").copied() == e.associated
            && x.field("role") == Some(e.role.as_str())
    })
}

/// Canvas's `Enrollment` validations, in its order, of an enrollment the row creates or changes:
/// an observer may not observe themselves, nor someone observing them in the course; a live
/// enrollment's course and section must not be deleted. The stored message repeats its first
/// half, as Canvas builds it.
fn validate(c: &AccountContent, row: &Row, e: &Resolved, state: &str) -> Applied {
    let live = state != "deleted";
    let target = &e.target;
    let mut errors = Vec::new();
    if let Some((user, observed)) = e.associated.map(|a| (e.user, a)) {
        if user == observed {
            errors.push("Associated user Cannot observe yourself");
        }
        let mutual = c.entities(SisKind::Enrollment).any(|(_, e)| {
            !e.is_deleted()
                && e.refs.get("course") == Some(&target.course)
                && e.field("role") == Some("observer")
                && e.refs.get("user") == Some(&observed)
                && e.refs.get("associated_user") == Some(&user)
        });
        if live && mutual {
            errors.push("Associated user Cannot observe observer observing self");
        }
    }
    if live && target.course_deleted {
        errors.push("Course is not a valid course");
    }
    if live && target.section_deleted {
        errors.push("Course section is not a valid section");
    }
    if errors.is_empty() {
        return Ok(());
    }
    let head = format!(
        "An enrollment did not pass validation (course: {}, section: {}, ",
        row.get("course_id").unwrap_or_default(),
        row.get("section_id").unwrap_or_default()
    );
    Err(format!(
        "{head}user: {}, role: {}, error: {head}{})",
        row.get("user_id").unwrap_or_default(),
        row.get("role").unwrap_or_default(),
        errors.join(",")
    ))
}
