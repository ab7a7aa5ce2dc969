//! Per-row checks that need nothing but the row itself: required values, status enums, dates,
//! roles. A failed check is a Canvas row error (a warning): the row is skipped and not counted.
//!
//! Checks that need the account's content (does the course exist?) happen when the row is
//! applied, in `apply`. Status values are matched case-insensitively and anchored at the start,
//! as Canvas's importers mostly do (`/\Aactive/i`); user observers anchor both ends.

use crate::sis::SisKind;

use super::parse::Row;

/// The statuses each kind accepts, longest first so that a prefix match picks the right one.
pub(crate) fn statuses(kind: SisKind) -> &'static [&'static str] {
    match kind {
        SisKind::User => &["suspended", "deleted", "active"],
        SisKind::Course => &["unpublished", "published", "completed", "deleted", "active"],
        SisKind::Enrollment => &[
            "deleted_last_completed",
            "completed",
            "inactive",
            "deleted",
            "active",
        ],
        SisKind::Group | SisKind::DifferentiationTag => &["available", "deleted"],
        SisKind::GroupMembership | SisKind::DifferentiationTagMembership => {
            &["accepted", "deleted"]
        }
        _ => &["active", "deleted"],
    }
}

/// The canonical status of a row, if its value is one the kind accepts.
pub(crate) fn match_status(kind: SisKind, value: &str) -> Option<&'static str> {
    let lower = value.to_lowercase();
    let exact = kind == SisKind::UserObserver;
    statuses(kind).iter().copied().find(|s| {
        if exact {
            lower == *s
        } else {
            lower.starts_with(s)
        }
    })
}

/// Built-in enrollment roles, matched case-insensitively.
pub(crate) const ENROLLMENT_ROLES: [&str; 5] = ["student", "teacher", "ta", "observer", "designer"];

/// Checks a row of `kind`; `Err` carries the Canvas-worded warning.
pub fn check_row(kind: SisKind, row: &Row) -> Result<(), String> {
    match kind {
        SisKind::User => check_user(row),
        SisKind::Login => check_login(row),
        SisKind::Account => check_simple(row, kind, "account_id", "an account", "account"),
        SisKind::Term => check_term(row),
        SisKind::Course => check_course(row),
        SisKind::Section => check_section(row),
        SisKind::Xlist => check_xlist(row),
        SisKind::Enrollment => check_enrollment(row),
        SisKind::Admin => check_admin(row),
        SisKind::GroupCategory => check_group_category(row),
        SisKind::Group => check_named(row, kind, "group_id", "a group", "group", "name"),
        SisKind::GroupMembership => check_membership(row),
        SisKind::UserObserver => check_observer(row),
        SisKind::ChangeSisId => check_change_sis_id(row),
        SisKind::AbstractCourse => check_named(
            row,
            kind,
            "abstract_course_id",
            "an abstract course",
            "abstract course",
            "short_name",
        ),
        _ => Ok(()),
    }
}

fn need<'a>(row: &'a Row, col: &str, msg: impl FnOnce() -> String) -> Result<&'a str, String> {
    row.get(col).ok_or_else(msg)
}

/// Checks the status column: present, and one the kind accepts.
fn check_status(row: &Row, kind: SisKind, what: &str) -> Result<(), String> {
    let status = need(row, "status", || format!("No status given for {what}"))?;
    match match_status(kind, status) {
        Some(_) => Ok(()),
        None => Err(format!("Improper status \"{status}\" for {what}")),
    }
}

/// Kinds identified by one id column plus a status (accounts).
fn check_simple(row: &Row, kind: SisKind, id: &str, a: &str, noun: &str) -> Result<(), String> {
    let v = need(row, id, || format!("No {id} given for {a}"))?;
    check_status(row, kind, &format!("{noun} {v}")).map_err(|e| format!("{e}, skipping"))
}

/// Kinds identified by an id column, with a required name column and a status.
fn check_named(
    row: &Row,
    kind: SisKind,
    id: &str,
    a: &str,
    noun: &str,
    name_col: &str,
) -> Result<(), String> {
    let v = need(row, id, || format!("No {id} given for {a}"))?;
    need(row, name_col, || {
        format!("No {name_col} given for {noun} {v}")
    })?;
    check_status(row, kind, &format!("{noun} {v}"))
}

fn check_user(row: &Row) -> Result<(), String> {
    let id = need(row, "user_id", || "No user_id given for a user".into())?;
    if row.raw.contains('\0') || row.fields.values().any(|v| v.contains('\0')) {
        return Err(format!("Invalid character (NUL byte) in row for user {id}"));
    }
    need(row, "login_id", || {
        format!("No login_id given for user {id}")
    })?;
    let status = need(row, "status", || format!("No status given for user {id}"))?;
    match_status(SisKind::User, status)
        .map(|_| ())
        .ok_or_else(|| format!("Improper status for user {id}"))
}

fn check_login(row: &Row) -> Result<(), String> {
    let id = need(row, "user_id", || "No user_id given for login".into())?;
    need(row, "login_id", || {
        format!("No login_id given for login {id}")
    })?;
    Ok(())
}

fn check_term(row: &Row) -> Result<(), String> {
    let id = need(row, "term_id", || "No term_id given for a term".into())?;
    need(row, "name", || format!("No name given for term {id}"))?;
    check_status(row, SisKind::Term, &format!("term {id}"))?;
    check_dates(row, &format!("term {id}"))
}

fn check_course(row: &Row) -> Result<(), String> {
    let id = need(row, "course_id", || {
        "No course_id given for a course".into()
    })?;
    need(row, "short_name", || {
        format!("No short_name given for course {id}")
    })?;
    need(row, "long_name", || {
        format!("No long_name given for course {id}")
    })?;
    check_status(row, SisKind::Course, &format!("course {id}"))?;
    check_dates(row, &format!("course {id}"))
}

/// Canvas's section checks, in its order. The name is needed only for an active row here (a new
/// section needs one whatever its status: `apply` checks that). Dates are not checked: a bad
/// date is a warning on a row Canvas still imports (`apply`).
fn check_section(row: &Row) -> Result<(), String> {
    let course = row.get("course_id");
    let id = need(row, "section_id", || {
        format!(
            "No section_id given for a section in course {}",
            course.unwrap_or("")
        )
    })?;
    let course = course.ok_or_else(|| format!("No course_id given for a section {id}"))?;
    let status = row.get("status").unwrap_or_default();
    let lower = status.to_lowercase();
    if row.get("name").is_none() && lower.starts_with("active") {
        return Err(format!("No name given for section {id} in course {course}"));
    }
    match match_status(SisKind::Section, status) {
        Some(_) => Ok(()),
        None => Err(format!(
            "Improper status \"{status}\" for section {id} in course {course}"
        )),
    }
}

/// Canvas's cross-listing checks: the status must be exactly `active` or `deleted` (any case).
fn check_xlist(row: &Row) -> Result<(), String> {
    need(row, "xlist_course_id", || {
        "No xlist_course_id given for a cross-listing".into()
    })?;
    need(row, "section_id", || {
        "No section_id given for a cross-listing".into()
    })?;
    let status = row.get("status").unwrap_or_default();
    match status.to_lowercase().as_str() {
        "active" | "deleted" => Ok(()),
        _ => Err(format!("Improper status \"{status}\" for a cross-listing")),
    }
}

/// The checks Canvas makes before it looks anything up (`add_enrollment`). Roles, dates and
/// references are checked when the row is applied, in Canvas's order.
fn check_enrollment(row: &Row) -> Result<(), String> {
    if row.get("course_id").is_none() && row.get("section_id").is_none() {
        return Err("No course_id or section_id given for an enrollment".into());
    }
    if row.get("user_id").is_none() && row.get("user_integration_id").is_none() {
        return Err("No user_id given for an enrollment".into());
    }
    let status = row.get("status").unwrap_or_default();
    match match_status(SisKind::Enrollment, status) {
        Some(_) => Ok(()),
        None => Err(format!("Improper status \"{status}\" for an enrollment")),
    }
}

/// The built-in role a `role` value names, as Canvas matches it: `teacher`, `ta`, `observer`
/// and `designer` exactly, `student` as a prefix (`/\Astudent/i`), any case. Custom roles do
/// not exist in the simulator.
pub(crate) fn enrollment_role(role: &str) -> Option<&'static str> {
    let lower = role.to_lowercase();
    if lower.starts_with("student") {
        return Some("student");
    }
    ENROLLMENT_ROLES.iter().copied().find(|r| *r == lower)
}

fn check_admin(row: &Row) -> Result<(), String> {
    let user = need(row, "user_id", || "No user_id given for admin".into())?;
    match (row.get("role"), row.get("role_id")) {
        (None, None) => return Err(format!("No role_id or role given for admin {user}")),
        (Some(role), None) if role != "AccountAdmin" => {
            return Err(format!("Invalid or unknown role '{role}' for admin {user}"));
        }
        _ => {}
    }
    check_status(row, SisKind::Admin, &format!("admin {user}"))
}

fn check_group_category(row: &Row) -> Result<(), String> {
    let id = need(row, "group_category_id", || {
        "No group_category_id given for a group category".into()
    })?;
    need(row, "category_name", || {
        format!("No category_name given for group category {id}")
    })?;
    if row.get("account_id").is_some() && row.get("course_id").is_some() {
        return Err(format!(
            "Only one context is allowed and both course_id and account_id were provided for group category {id}"
        ));
    }
    check_status(row, SisKind::GroupCategory, &format!("group category {id}"))
}

fn check_membership(row: &Row) -> Result<(), String> {
    need(row, "group_id", || {
        "No group_id given for a group user".into()
    })?;
    need(row, "user_id", || {
        "No user_id given for a group user".into()
    })?;
    check_status(row, SisKind::GroupMembership, "a group user")
}

fn check_observer(row: &Row) -> Result<(), String> {
    let observer = need(row, "observer_id", || {
        "No observer_id given for a user observer".into()
    })?;
    let student = need(row, "student_id", || {
        "No student_id given for a user observer".into()
    })?;
    check_status(row, SisKind::UserObserver, "a user observer")?;
    if observer == student {
        return Err(format!("Can't observe yourself user {observer}"));
    }
    Ok(())
}

/// The SIS types `change_sis_id.csv` can rename.
pub(crate) const CHANGE_SIS_ID_TYPES: [&str; 7] = [
    "account",
    "term",
    "course",
    "section",
    "group",
    "group_category",
    "user",
];

fn check_change_sis_id(row: &Row) -> Result<(), String> {
    let ty = need(row, "type", || "No type given for change_sis_id".into())?;
    if !CHANGE_SIS_ID_TYPES.contains(&ty.to_lowercase().as_str()) {
        return Err(format!("Invalid type '{ty}' for change_sis_id"));
    }
    if row.get("old_id").is_none() && row.get("old_integration_id").is_none() {
        return Err("No old_id or old_integration_id given for change_sis_id".into());
    }
    if row.get("new_id").is_none() && row.get("new_integration_id").is_none() {
        return Err("No new_id or new_integration_id given for change_sis_id".into());
    }
    Ok(())
}

/// `start_date`/`end_date` must parse as dates; `<delete>` clears them (courses).
fn check_dates(row: &Row, what: &str) -> Result<(), String> {
    for col in ["start_date", "end_date"] {
        if let Some(v) = row.get(col)
            && v != "<delete>"
            && !is_date(v)
        {
            return Err(format!("Bad date format for {what}"));
        }
    }
    Ok(())
}

/// ISO 8601 as Canvas's feeds write it: a date, or a date and time with optional seconds and
/// zone. (Canvas's `Time.zone.parse` is laxer; anything sensible a feed sends is accepted here.)
pub(crate) fn is_date(v: &str) -> bool {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    DateTime::parse_from_rfc3339(v).is_ok()
        || DateTime::parse_from_str(v, "%Y-%m-%dT%H:%M%:z").is_ok()
        || [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%SZ",
        ]
        .iter()
        .any(|f| NaiveDateTime::parse_from_str(v, f).is_ok())
        || NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        Row {
            line: 2,
            raw: String::new(),
            fields: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn user_without_login_id_is_a_warning() {
        let r = row(&[("user_id", "U1"), ("status", "active")]);
        assert_eq!(
            check_row(SisKind::User, &r),
            Err("No login_id given for user U1".into())
        );
    }

    #[test]
    fn status_is_case_insensitive_and_anchored_at_start() {
        let r = row(&[
            ("user_id", "U1"),
            ("login_id", "u"),
            ("status", "ACTIVEish"),
        ]);
        assert!(check_row(SisKind::User, &r).is_ok());
        let r = row(&[("user_id", "U1"), ("login_id", "u"), ("status", "xactive")]);
        assert_eq!(
            check_row(SisKind::User, &r),
            Err("Improper status for user U1".into())
        );
    }

    #[test]
    fn user_observer_status_is_anchored_at_both_ends() {
        let r = row(&[
            ("observer_id", "O"),
            ("student_id", "S"),
            ("status", "activex"),
        ]);
        assert!(check_row(SisKind::UserObserver, &r).is_err());
    }

    #[test]
    fn self_observation_is_an_error() {
        let r = row(&[
            ("observer_id", "U1"),
            ("student_id", "U1"),
            ("status", "active"),
        ]);
        assert_eq!(
            check_row(SisKind::UserObserver, &r),
            Err("Can't observe yourself user U1".into())
        );
    }

    #[test]
    fn enrollment_checks_say_what_canvas_says_before_any_lookup() {
        let r = row(&[
            ("course_id", "C1"),
            ("role", "student"),
            ("status", "active"),
        ]);
        assert_eq!(
            check_row(SisKind::Enrollment, &r),
            Err("No user_id given for an enrollment".into())
        );
        let r = row(&[("course_id", "C1"), ("user_id", "U1"), ("role", "student")]);
        assert_eq!(
            check_row(SisKind::Enrollment, &r),
            Err("Improper status \"\" for an enrollment".into())
        );
        // The role is checked once the course is found, as Canvas does (custom roles).
        let r = row(&[
            ("course_id", "C1"),
            ("user_id", "U1"),
            ("role", "dean"),
            ("status", "active"),
        ]);
        assert!(check_row(SisKind::Enrollment, &r).is_ok());
        assert_eq!(enrollment_role("Students"), Some("student"));
        assert_eq!(enrollment_role("teachers"), None);
    }

    #[test]
    fn section_name_is_needed_only_for_active_rows_and_status_comes_after_it() {
        let r = row(&[
            ("section_id", "S1"),
            ("course_id", "C1"),
            ("status", "active"),
        ]);
        assert_eq!(
            check_row(SisKind::Section, &r),
            Err("No name given for section S1 in course C1".into())
        );
        let r = row(&[
            ("section_id", "S1"),
            ("course_id", "C1"),
            ("status", "deleted"),
        ]);
        assert!(check_row(SisKind::Section, &r).is_ok());
        let r = row(&[
            ("section_id", "S1"),
            ("course_id", "C1"),
            ("status", "gone"),
        ]);
        assert_eq!(
            check_row(SisKind::Section, &r),
            Err("Improper status \"gone\" for section S1 in course C1".into())
        );
    }

    #[test]
    fn cross_listing_status_is_exact_and_blank_is_improper() {
        for (status, ok) in [
            ("Active", true),
            ("deleted", true),
            ("", false),
            ("actives", false),
        ] {
            let mut pairs = vec![("xlist_course_id", "X1"), ("section_id", "S1")];
            if !status.is_empty() {
                pairs.push(("status", status));
            }
            let got = check_row(SisKind::Xlist, &row(&pairs));
            let want = format!("Improper status \"{status}\" for a cross-listing");
            assert_eq!(got, if ok { Ok(()) } else { Err(want) }, "{status}");
        }
    }

    #[test]
    fn deleted_last_completed_is_its_own_status() {
        assert_eq!(
            match_status(SisKind::Enrollment, "Deleted_Last_Completed"),
            Some("deleted_last_completed")
        );
    }

    #[test]
    fn bad_term_date_is_reported_with_the_term() {
        let r = row(&[
            ("term_id", "T1"),
            ("name", "Fall"),
            ("status", "active"),
            ("start_date", "next tuesday"),
        ]);
        assert_eq!(
            check_row(SisKind::Term, &r),
            Err("Bad date format for term T1".into())
        );
        let ok = row(&[
            ("term_id", "T1"),
            ("name", "Fall"),
            ("status", "active"),
            ("start_date", "2025-08-20T00:00:00Z"),
            ("end_date", "2025-12-20"),
        ]);
        assert!(check_row(SisKind::Term, &ok).is_ok());
    }

    #[test]
    fn nul_byte_in_users_row_is_rejected() {
        let r = row(&[
            ("user_id", "U1"),
            ("login_id", "a\0b"),
            ("status", "active"),
        ]);
        assert!(check_row(SisKind::User, &r).is_err_and(|e| e.contains("NUL")));
    }

    #[test]
    fn account_status_message_says_skipping() {
        let r = row(&[("account_id", "A1"), ("status", "gone")]);
        assert_eq!(
            check_row(SisKind::Account, &r),
            Err("Improper status \"gone\" for account A1, skipping".into())
        );
    }

    #[test]
    fn change_sis_id_needs_a_known_type() {
        let r = row(&[("old_id", "a"), ("new_id", "b"), ("type", "planet")]);
        assert!(check_row(SisKind::ChangeSisId, &r).is_err());
    }
}
