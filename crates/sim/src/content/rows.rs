//! Per-row checks that need nothing but the row itself: required values, status enums, dates,
//! roles. A failed check is a Canvas row error (a warning): the row is skipped and not counted.
//!
//! Checks that need the account's content (does the course exist?) happen when the row is
//! applied, in `apply`. Status values are matched case-insensitively and anchored at the start,
//! as Canvas's importers mostly do (`/\Aactive/i`); user observers anchor both ends.

use canvas_sis_rules::sis::SisKind;

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
        SisKind::Account => check_account(row),
        SisKind::Term => check_term(row),
        SisKind::Course => check_course(row),
        SisKind::Section => check_section(row),
        SisKind::Xlist => check_xlist(row),
        SisKind::Enrollment => check_enrollment(row),
        SisKind::Admin => check_admin(row),
        SisKind::GroupCategory => check_category(row, GROUP_CATEGORY),
        SisKind::DifferentiationTagSet => check_category(row, TAG_SET),
        SisKind::Group => check_group(row, false),
        SisKind::DifferentiationTag => check_group(row, true),
        SisKind::GroupMembership => check_membership(row, false),
        SisKind::DifferentiationTagMembership => check_membership(row, true),
        SisKind::UserObserver => check_observer(row),
        SisKind::ChangeSisId => check_change_sis_id(row),
        SisKind::AbstractCourse => check_abstract_course(row),
        SisKind::GradePublishingResults => check_grade_publishing_result(row),
        _ => Ok(()),
    }
}

fn need<'a>(row: &'a Row, col: &str, msg: impl FnOnce() -> String) -> Result<&'a str, String> {
    row.get(col).ok_or_else(msg)
}

/// Canvas's `Improper status "<value>" for <what>` when the status (blank reads as `""`) is not
/// one the kind accepts; Canvas has no separate "No status given" for these kinds.
fn proper_status(row: &Row, kind: SisKind, what: &str) -> Result<(), String> {
    let status = row.get("status").unwrap_or_default();
    match match_status(kind, status) {
        Some(_) => Ok(()),
        None => Err(format!("Improper status \"{status}\" for {what}")),
    }
}

/// Accounts: only the id can be checked without the account's content. Whether a name and a
/// proper status are needed depends on the account being new (`apply::apply_account`).
fn check_account(row: &Row) -> Result<(), String> {
    need(row, "account_id", || {
        "No account_id given for an account".into()
    })?;
    Ok(())
}

fn check_user(row: &Row) -> Result<(), String> {
    // lib/sis/csv/user_importer.rb validates the row for NUL characters before anything else.
    if row.raw.contains('\0') || row.fields.values().any(|v| v.contains('\0')) {
        return Err("Some of the fields contain NULL character".into());
    }
    let id = need(row, "user_id", || "No user_id given for a user".into())?;
    need(row, "login_id", || {
        format!("No login_id given for user {id}")
    })?;
    let status = need(row, "status", || format!("No status given for user {id}"))?;
    match_status(SisKind::User, status)
        .map(|_| ())
        .ok_or_else(|| format!("Improper status for user {id}"))
}

/// logins.csv goes through the user importer with `login_only` (its status is always active):
/// the user importer's messages, then the one about the existing user.
fn check_login(row: &Row) -> Result<(), String> {
    let id = need(row, "user_id", || "No user_id given for a user".into())?;
    need(row, "login_id", || {
        format!("No login_id given for user {id}")
    })?;
    let existing = [
        "existing_user_id",
        "existing_integration_id",
        "existing_canvas_user_id",
    ];
    if existing.iter().all(|col| row.get(col).is_none()) {
        return Err(format!(
            "No existing user provided for login with SIS ID {id}"
        ));
    }
    Ok(())
}

/// Terms, in `SIS::TermImporter#add_term`'s order. A date override row
/// (`date_override_enrollment_type`) needs no name; its other checks need the term
/// (`apply::apply_term`). Dates are the CSV layer's ([`row_notes`]).
fn check_term(row: &Row) -> Result<(), String> {
    let id = need(row, "term_id", || "No term_id given for a term".into())?;
    proper_status(row, SisKind::Term, &format!("term {id}"))?;
    if row.get("date_override_enrollment_type").is_none() {
        need(row, "name", || format!("No name given for term {id}"))?;
    }
    Ok(())
}

/// `course_format` values Canvas accepts (matched case-insensitively at the start).
const COURSE_FORMATS: [&str; 4] = ["online", "on_campus", "blended", "not_set"];

/// `grade_passback_setting` values Canvas accepts (case-insensitively, stripped).
const GRADE_PASSBACK_SETTINGS: [&str; 3] = ["nightly_sync", "disabled", "not_set"];

/// Courses, in `SIS::CourseImporter#add_course`'s order: names may come from an abstract course.
/// Dates are the CSV layer's ([`row_notes`]).
fn check_course(row: &Row) -> Result<(), String> {
    let id = need(row, "course_id", || {
        "No course_id given for a course".into()
    })?;
    let abstract_course = row.get("abstract_course_id").is_some();
    if !abstract_course {
        need(row, "short_name", || {
            format!("No short_name given for course {id}")
        })?;
        need(row, "long_name", || {
            format!("No long_name given for course {id}")
        })?;
    }
    proper_status(row, SisKind::Course, &format!("course {id}"))?;
    if let Some(format) = row.get("course_format") {
        let lower = format.to_lowercase();
        if !COURSE_FORMATS.iter().any(|f| lower.starts_with(f)) {
            return Err(format!(
                "Invalid course_format \"{format}\" for course {id}"
            ));
        }
    }
    if let Some(setting) = row.get("grade_passback_setting")
        && !GRADE_PASSBACK_SETTINGS.contains(&setting.to_lowercase().trim())
    {
        return Err(format!(
            "Invalid grade_passback_setting \"{setting}\" for course {id}"
        ));
    }
    Ok(())
}

fn check_abstract_course(row: &Row) -> Result<(), String> {
    let id = need(row, "abstract_course_id", || {
        "No abstract_course_id given for an abstract course".into()
    })?;
    for col in ["short_name", "long_name"] {
        need(row, col, || {
            format!("No {col} given for abstract course {id}")
        })?;
    }
    proper_status(
        row,
        SisKind::AbstractCourse,
        &format!("abstract course {id}"),
    )
}

/// Grade publishing results; whether the enrollment exists is `apply`'s question.
fn check_grade_publishing_result(row: &Row) -> Result<(), String> {
    let id = need(row, "enrollment_id", || "No enrollment_id given".into())?;
    let status = need(row, "grade_publishing_status", || {
        format!("No grade_publishing_status given for enrollment {id}")
    })?;
    if !["published", "error"].contains(&status.to_lowercase().as_str()) {
        return Err(format!(
            "Improper grade_publishing_status \"{status}\" for enrollment {id}"
        ));
    }
    Ok(())
}

/// What Canvas's CSV layer reports about a row before the importer sees it, without skipping
/// the row: a `start_date`/`end_date` `Time.zone.parse` refuses ("Bad date format"; the row goes
/// on without its dates).
pub fn row_notes(kind: SisKind, row: &Row) -> Vec<String> {
    let what = match kind {
        SisKind::Course => format!("course {}", row.get("course_id").unwrap_or_default()),
        SisKind::Term => format!("term {}", row.get("term_id").unwrap_or_default()),
        _ => return Vec::new(),
    };
    if has_bad_date(row) {
        vec![format!("Bad date format for {what}")]
    } else {
        Vec::new()
    }
}

/// A `start_date` or `end_date` Canvas cannot read (`<delete>` is a course's way to clear one).
pub(crate) fn has_bad_date(row: &Row) -> bool {
    ["start_date", "end_date"]
        .iter()
        .filter_map(|col| row.get(col))
        .any(|v| v != "<delete>" && !is_date(v))
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

/// The row-only checks of `SIS::AdminImporter#process_admin`, in its order; the account, role
/// and user are resolved when the row is applied.
fn check_admin(row: &Row) -> Result<(), String> {
    need(row, "user_id", || "No user_id given for admin".into())?;
    let status = need(row, "status", || "No status given for admin".into())?;
    if row.get("role").is_none() && row.get("role_id").is_none() {
        return Err("No role_id or role given for admin".into());
    }
    match status.to_lowercase().as_str() {
        "active" | "deleted" => Ok(()),
        _ => Err(format!("Invalid status {status} for admin")),
    }
}

/// A group category or a differentiation tag set (a non-collaborative group category): the
/// columns it is read from and the name Canvas's messages give it.
pub(crate) struct CategoryKind {
    pub id_col: &'static str,
    pub name_col: &'static str,
    pub noun: &'static str,
}

pub(crate) const GROUP_CATEGORY: CategoryKind = CategoryKind {
    id_col: "group_category_id",
    name_col: "category_name",
    noun: "group category",
};

pub(crate) const TAG_SET: CategoryKind = CategoryKind {
    id_col: "tag_set_id",
    name_col: "set_name",
    noun: "differentiation tag set",
};

/// Canvas's `invalid_category?` (lib/sis/group_category_importer.rb); the context checks come
/// when the row is applied.
fn check_category(row: &Row, k: CategoryKind) -> Result<(), String> {
    let noun = k.noun;
    let id = need(row, k.id_col, || format!("No sis_id given for a {noun}"))?;
    need(row, k.name_col, || format!("No name given for {noun} {id}"))?;
    let status = need(row, "status", || format!("No status given for {noun} {id}"))?;
    if !starts_with_any(status, &["active", "deleted"]) {
        return Err(format!(
            "Improper status \"{status}\" for {noun} {id}, skipping"
        ));
    }
    Ok(())
}

/// Whether `value` starts, ignoring case, with one of `prefixes` (Canvas's `/\A(a|b)/i`).
fn starts_with_any(value: &str, prefixes: &[&str]) -> bool {
    let lower = value.to_lowercase();
    prefixes.iter().any(|p| lower.starts_with(p))
}

/// Canvas's `invalid_import_item?` (lib/sis/group_importer.rb) for a group or a differentiation
/// tag. The retired statuses `closed` and `completed` are still accepted (the group is
/// available), and a missing status is improper, shown as `""`.
fn check_group(row: &Row, tag: bool) -> Result<(), String> {
    let (id_col, noun) = if tag {
        ("tag_id", "differentiation tag")
    } else {
        ("group_id", "group")
    };
    let id = need(row, id_col, || format!("No {id_col} given for a {noun}."))?;
    need(row, "name", || format!("No name given for {noun} {id}."))?;
    let status = row.get("status").unwrap_or_default();
    if !starts_with_any(status, &["available", "closed", "completed", "deleted"]) {
        return Err(format!("Improper status \"{status}\" for {noun} {id}."));
    }
    Ok(())
}

/// Canvas's first checks in `add_group_membership` (lib/sis/group_membership_importer.rb), for
/// groups and differentiation tags alike.
fn check_membership(row: &Row, tag: bool) -> Result<(), String> {
    let (id_col, noun) = if tag {
        ("tag_id", "differentiation tag")
    } else {
        ("group_id", "group")
    };
    need(row, id_col, || {
        format!("No {id_col} given for a {noun} user")
    })?;
    need(row, "user_id", || {
        format!("No user_id given for a {noun} user")
    })?;
    let status = row.get("status").unwrap_or_default();
    if !starts_with_any(status, &["accepted", "deleted"]) {
        return Err(format!("Improper status \"{status}\" for a {noun} user"));
    }
    Ok(())
}

/// `SIS::UserObserverImporter#process_user_observer`: a missing student is reported as a missing
/// `user_id`, self-observation before the status, and the status must be exactly active or
/// deleted (a blank one included: `Improper status ""`).
fn check_observer(row: &Row) -> Result<(), String> {
    let observer = need(row, "observer_id", || {
        "No observer_id given for a user observer".into()
    })?;
    let student = need(row, "student_id", || {
        "No user_id given for a user observer".into()
    })?;
    if observer == student {
        return Err(format!("Can't observe yourself user {student}"));
    }
    let status = row.get("status").unwrap_or_default();
    match match_status(SisKind::UserObserver, status) {
        Some(_) => Ok(()),
        None => Err(format!("Improper status \"{status}\" for a user_observer")),
    }
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

/// In `SIS::ChangeSisIdImporter#process_change_sis_id`'s order; the type is named downcased.
fn check_change_sis_id(row: &Row) -> Result<(), String> {
    let ty = need(row, "type", || "No type given for change_sis_id".into())?;
    if row.get("old_id").is_none() && row.get("old_integration_id").is_none() {
        return Err("No old_id or old_integration_id given for change_sis_id".into());
    }
    if row.get("new_id").is_none() && row.get("new_integration_id").is_none() {
        return Err("No new_id or new_integration_id given for change_sis_id".into());
    }
    let ty = ty.to_lowercase();
    if !CHANGE_SIS_ID_TYPES.contains(&ty.as_str()) {
        return Err(format!("Invalid type '{ty}' for change_sis_id"));
    }
    Ok(())
}

/// Whether Canvas reads the value as a date without error (`Time.zone.parse` does not raise;
/// see `dates`): text with no date in it counts as read (Canvas stores no date, silently).
pub(crate) fn is_date(v: &str) -> bool {
    !super::dates::time_zone_parse_raises(v)
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
    fn bad_term_date_is_a_note_and_the_row_goes_on() {
        let r = row(&[
            ("term_id", "T1"),
            ("name", "Fall"),
            ("status", "active"),
            ("start_date", "2025-13-01 00:00:00"),
        ]);
        assert_eq!(
            row_notes(SisKind::Term, &r),
            vec!["Bad date format for term T1".to_owned()]
        );
        assert!(check_row(SisKind::Term, &r).is_ok());
        let ok = row(&[
            ("term_id", "T1"),
            ("name", "Fall"),
            ("status", "active"),
            ("start_date", "2025-8-20 00:00:00"),
            ("end_date", "not a date"),
        ]);
        assert!(row_notes(SisKind::Term, &ok).is_empty());
    }

    #[test]
    fn blank_course_status_is_improper_and_abstract_course_supplies_names() {
        let r = row(&[("course_id", "C1"), ("abstract_course_id", "AC1")]);
        assert_eq!(
            check_row(SisKind::Course, &r),
            Err("Improper status \"\" for course C1".into())
        );
        let r = row(&[
            ("course_id", "C1"),
            ("abstract_course_id", "AC1"),
            ("status", "active"),
            ("course_format", "Online"),
        ]);
        assert!(check_row(SisKind::Course, &r).is_ok());
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
    fn account_rows_need_only_an_id_before_apply() {
        let r = row(&[("status", "gone")]);
        assert_eq!(
            check_row(SisKind::Account, &r),
            Err("No account_id given for an account".into())
        );
        let r = row(&[("account_id", "A1"), ("status", "gone")]);
        assert!(check_row(SisKind::Account, &r).is_ok());
    }

    #[test]
    fn retired_group_statuses_are_accepted_and_a_missing_one_is_improper() {
        let r = row(&[("group_id", "G1"), ("name", "Team"), ("status", "Closed")]);
        assert!(check_row(SisKind::Group, &r).is_ok());
        let r = row(&[("group_id", "G1"), ("name", "Team")]);
        assert_eq!(
            check_row(SisKind::Group, &r),
            Err("Improper status \"\" for group G1.".into())
        );
    }

    #[test]
    fn tag_rows_use_the_differentiation_tag_wording() {
        let r = row(&[("tag_set_id", "S1"), ("status", "active")]);
        assert_eq!(
            check_row(SisKind::DifferentiationTagSet, &r),
            Err("No name given for differentiation tag set S1".into())
        );
        let r = row(&[("user_id", "U1"), ("status", "accepted")]);
        assert_eq!(
            check_row(SisKind::DifferentiationTagMembership, &r),
            Err("No tag_id given for a differentiation tag user".into())
        );
    }

    #[test]
    fn change_sis_id_needs_a_known_type() {
        let r = row(&[("old_id", "a"), ("new_id", "b"), ("type", "planet")]);
        assert!(check_row(SisKind::ChangeSisId, &r).is_err());
    }
}
