//! Per-row checks: a kind's rules bound to one file's header (a [`Plan`]), applied to each
//! record without allocating unless something is wrong.
//!
//! Canvas treats all of these per row: it skips the row (or ignores the value) with a warning in
//! the import and goes on, so they are warnings here too (docs/design.md invariant 8: only what
//! fails Canvas's import rejects a batch). A tenant that wants a rule to reject opts in with
//! `strict`.

use super::dates::{DateRead, read_date};
use super::finding::Finding;
use super::header::Header;
use super::ids::IdSpace;
use super::rules::{ENROLLMENT_ROLES, KindRules, rules};
use super::values::{StatusMatch, is_integer, match_status, show, trim};
use crate::sis::SisKind;

/// A column the rules use, and where it is in this file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    pub idx: usize,
    pub name: &'static str,
}

/// Access to the fields of the current record.
pub(crate) trait Fields {
    /// Field `i`, untrimmed; empty past the last field.
    fn get(&self, i: usize) -> &[u8];
    /// The record as it is in the file.
    fn raw(&self) -> &[u8];
}

/// One kind's rules bound to one header.
#[derive(Debug)]
pub(crate) struct Plan {
    pub kind: SisKind,
    rules: &'static KindRules,
    pub id: Option<(Col, IdSpace)>,
    required: Vec<Col>,
    one_of: Vec<Vec<Col>>,
    status: Option<Col>,
    dates: Vec<Col>,
    integers: Vec<Col>,
    values: Vec<(Col, &'static [&'static str])>,
    pub refs: Vec<(Col, IdSpace)>,
    role: Option<Col>,
    /// Users and logins: `login_id` (one user per login id) and `email`.
    pub login: Option<Col>,
    email: Option<Col>,
    /// Terms: `date_override_enrollment_type`, whose rows set dates of an existing term.
    date_override: Option<Col>,
    observer: Option<(Col, Col)>,
    contexts: Option<(Col, Col)>,
}

impl Plan {
    pub(crate) fn new(kind: SisKind, header: &Header) -> Self {
        let col = |name: &'static str| header.index(name).map(|idx| Col { idx, name });
        let cols = |names: &[&'static str]| names.iter().filter_map(|n| col(n)).collect();
        let r = rules(kind);
        let pair = |a, b| col(a).zip(col(b));
        Plan {
            kind,
            rules: r,
            id: r.id.and_then(|(c, space)| col(c).map(|c| (c, space))),
            required: cols(r.required),
            one_of: r.one_of.iter().map(|g| cols(g)).collect(),
            status: if r.statuses.is_empty() {
                None
            } else {
                col("status")
            },
            dates: cols(r.dates),
            integers: cols(r.integers),
            values: r
                .values
                .iter()
                .filter_map(|(c, allowed)| col(c).map(|c| (c, *allowed)))
                .collect(),
            refs: r
                .refs
                .iter()
                .filter_map(|(c, space)| col(c).map(|c| (c, *space)))
                .collect(),
            role: (kind == SisKind::Enrollment).then(|| col("role")).flatten(),
            login: matches!(kind, SisKind::User | SisKind::Login)
                .then(|| col("login_id"))
                .flatten(),
            email: matches!(kind, SisKind::User | SisKind::Login)
                .then(|| col("email"))
                .flatten(),
            date_override: (kind == SisKind::Term)
                .then(|| col("date_override_enrollment_type"))
                .flatten(),
            observer: (kind == SisKind::UserObserver)
                .then(|| pair("observer_id", "student_id"))
                .flatten(),
            contexts: (kind == SisKind::GroupCategory)
                .then(|| pair("account_id", "course_id"))
                .flatten(),
        }
    }

    /// How messages name this row's object: `user "U1"`, or `this enrollment`.
    pub(crate) fn label(&self, row: &dyn Fields) -> String {
        match self.id.map(|(c, _)| trim(row.get(c.idx))) {
            Some(id) if !id.is_empty() => format!("{} \"{}\"", self.rules.noun, show(id)),
            _ => format!("this {}", self.rules.noun),
        }
    }

    /// Checks one record; findings go to `out` with row and column set.
    pub(crate) fn check(&self, row: &dyn Fields, line: u64, out: &mut dyn FnMut(Finding)) {
        // An empty column name means the finding is about the whole row.
        let mut emit = |f: Finding, col: &str| {
            let f = f.at_row(line);
            out(if col.is_empty() {
                f
            } else {
                f.in_column(col.to_owned())
            })
        };
        self.check_required(row, &mut emit);
        self.check_status(row, &mut emit);
        self.check_dates(row, &mut emit);
        self.check_numbers_and_values(row, &mut emit);
        self.check_kind_specific(row, &mut emit);
    }

    /// Whether the row is a term's date override for one enrollment type: it sets dates of a
    /// term (defined by its own row), needs no name, and repeats the term's id by design.
    pub(crate) fn is_date_override(&self, row: &dyn Fields) -> bool {
        self.date_override
            .is_some_and(|c| !trim(row.get(c.idx)).is_empty())
    }

    fn check_required(&self, row: &dyn Fields, emit: &mut dyn FnMut(Finding, &str)) {
        let noun = self.rules.noun;
        let date_override = self.is_date_override(row);
        let deleting = self.is_delete(row);
        let from_abstract = self.kind == SisKind::Course
            && self
                .refs
                .iter()
                .any(|(c, _)| c.name == "abstract_course_id" && !trim(row.get(c.idx)).is_empty());
        for c in &self.required {
            let is_name = NAME_COLUMNS.contains(&c.name);
            // Canvas needs names to create objects: not on a date override row, nor to delete,
            // nor for a course that takes its names from its abstract course.
            if is_name && (date_override || deleting || from_abstract) {
                continue;
            }
            if trim(row.get(c.idx)).is_empty() {
                let what = if self.id.is_some_and(|(id, _)| id.idx == c.idx) {
                    format!("a {noun} row has no {}", c.name)
                } else {
                    format!("{} has no {}", self.label(row), c.name)
                };
                let fix = format!("Fill in {}: Canvas skips a {noun} row without it.", c.name);
                emit(Finding::warning("missing_value", what, fix), c.name);
            }
        }
        for group in &self.one_of {
            let Some(first) = group.first() else { continue };
            if group.iter().all(|c| trim(row.get(c.idx)).is_empty()) {
                let names: Vec<&str> = group.iter().map(|c| c.name).collect();
                let what = format!("{} has no {}", self.label(row), names.join(" or "));
                let fix = format!(
                    "Fill in {}: Canvas skips a {noun} row without one.",
                    names.join(" or ")
                );
                emit(Finding::warning("missing_value", what, fix), first.name);
            }
        }
    }

    /// Whether the row's status asks Canvas to delete (`deleted`, `deleted_last_completed`):
    /// what the mass-change guard counts.
    pub(crate) fn is_delete(&self, row: &dyn Fields) -> bool {
        self.status.is_some_and(|c| {
            let v = trim(row.get(c.idx));
            v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"deleted")
        })
    }

    fn check_status(&self, row: &dyn Fields, emit: &mut dyn FnMut(Finding, &str)) {
        let Some(c) = self.status else { return };
        let v = trim(row.get(c.idx));
        if v.is_empty() {
            return;
        }
        let allowed = self.rules.statuses;
        match match_status(v, allowed, self.rules.status_exact) {
            StatusMatch::Exact => {}
            StatusMatch::Prefix(read_as) => emit(
                Finding::warning(
                    "status_prefix",
                    format!(
                        "{}: status \"{}\" is read by Canvas as \"{read_as}\" because it only checks how the value starts",
                        self.label(row),
                        show(v)
                    ),
                    format!("Write exactly \"{read_as}\"."),
                ),
                "status",
            ),
            StatusMatch::Bad => emit(
                Finding::warning(
                    "bad_status",
                    format!(
                        "{}: status \"{}\" is not a {} status, so Canvas skips the row",
                        self.label(row),
                        show(v),
                        self.kind.importer_name()
                    ),
                    format!("Use one of {} (any case).", allowed.join(", ")),
                ),
                "status",
            ),
        }
    }

    fn check_dates(&self, row: &dyn Fields, emit: &mut dyn FnMut(Finding, &str)) {
        let mut parsed = [None, None];
        for c in &self.dates {
            let v = trim(row.get(c.idx));
            if v.is_empty() || (self.rules.delete_clears_dates && v == b"<delete>") {
                continue;
            }
            match read_date(v) {
                DateRead::Exact(t) => {
                    let slot = usize::from(c.name == "end_date");
                    parsed[slot] = Some(t);
                }
                read => emit(self.date_finding(row, c.name, v, read), c.name),
            }
        }
        if let [Some(start), Some(end)] = parsed
            && end < start
        {
            emit(
                Finding::warning(
                    "end_before_start",
                    format!("{}: end_date is before start_date", self.label(row)),
                    "Check the dates: swap them or correct the end date.",
                ),
                "end_date",
            );
        }
        let given = |name| {
            self.dates
                .iter()
                .find(|c| c.name == name)
                .is_some_and(|c| !trim(row.get(c.idx)).is_empty())
        };
        if self.kind == SisKind::Enrollment && given("start_date") != given("end_date") {
            let (has, lacks) = if given("start_date") {
                ("start_date", "end_date")
            } else {
                ("end_date", "start_date")
            };
            emit(
                Finding::warning(
                    "enrollment_date_without_pair",
                    format!(
                        "this enrollment has a {has} but no {lacks}; Canvas applies enrollment dates only when both are given"
                    ),
                    format!("Fill in {lacks} too, or leave both blank."),
                ),
                lacks,
            );
        }
    }

    /// The warning for a date Canvas doesn't read as meant (`read` is not `Exact`).
    fn date_finding(&self, row: &dyn Fields, column: &str, v: &[u8], read: DateRead) -> Finding {
        let delete = if self.rules.delete_clears_dates {
            ", or <delete> to clear it"
        } else {
            ", or leave it blank"
        };
        let fix =
            format!("Write the date as ISO 8601, e.g. 2026-08-20T00:00:00Z or 2026-08-20{delete}.");
        let what = format!("{}: {column} \"{}\"", self.label(row), show(v));
        match read {
            DateRead::Bad(why) => Finding::warning(
                "bad_date",
                format!(
                    "{what} can't be read as a date ({why}); Canvas warns \"Bad date format for {}\" and imports the row without it",
                    self.canvas_name(row)
                ),
                fix,
            ),
            DateRead::Ignored => Finding::warning(
                "date_ignored",
                format!(
                    "{what} holds no date Canvas can find; it leaves {column} unset, without a message"
                ),
                fix,
            ),
            DateRead::Unclear(how) => Finding::warning(
                "unclear_date",
                format!("{what} is read by Canvas as {how}"),
                fix,
            ),
            DateRead::Exact(_) => Finding::warning("date_ignored", what, fix),
        }
    }

    /// How Canvas's "Bad date format for …" names the row's object.
    fn canvas_name(&self, row: &dyn Fields) -> String {
        let id = self
            .id
            .map_or_else(String::new, |(c, _)| show(trim(row.get(c.idx))));
        let value = |name: &str| {
            self.refs
                .iter()
                .find(|(c, _)| c.name == name)
                .map_or_else(String::new, |(c, _)| show(trim(row.get(c.idx))))
        };
        match self.kind {
            SisKind::Enrollment => {
                let course = value("course_id");
                let context = if course.is_empty() {
                    format!("section {}", value("section_id"))
                } else {
                    format!("course {course}")
                };
                format!("user {} in {context}", value("user_id"))
            }
            k => format!("{} {id}", k.importer_name()),
        }
    }

    fn check_numbers_and_values(&self, row: &dyn Fields, emit: &mut dyn FnMut(Finding, &str)) {
        for c in &self.integers {
            let v = trim(row.get(c.idx));
            if !v.is_empty() && !is_integer(v) {
                emit(
                    Finding::warning(
                        "not_an_integer",
                        format!(
                            "{}: {} \"{}\" is not a whole number",
                            self.label(row),
                            c.name,
                            show(v)
                        ),
                        format!(
                            "Use the numeric Canvas id in {}{}.",
                            c.name,
                            if c.name == "role_id" {
                                ", or give the role by name in role"
                            } else {
                                ""
                            }
                        ),
                    ),
                    c.name,
                );
            }
        }
        for (c, allowed) in &self.values {
            let v = trim(row.get(c.idx));
            if !v.is_empty() && !allowed.iter().any(|a| v.eq_ignore_ascii_case(a.as_bytes())) {
                emit(
                    Finding::warning(
                        "bad_value",
                        format!(
                            "{}: {} \"{}\" is not a value Canvas accepts there",
                            self.label(row),
                            c.name,
                            show(v)
                        ),
                        format!("Use one of {}.", allowed.join(", ")),
                    ),
                    c.name,
                );
            }
        }
    }

    fn check_kind_specific(&self, row: &dyn Fields, emit: &mut dyn FnMut(Finding, &str)) {
        if let Some(c) = self.role {
            let v = trim(row.get(c.idx));
            let builtin = ENROLLMENT_ROLES
                .iter()
                .any(|r| v.eq_ignore_ascii_case(r.as_bytes()));
            if !v.is_empty() && !builtin {
                emit(
                    Finding::warning(
                        "unknown_role",
                        format!(
                            "role \"{}\" is not a built-in enrollment role; Canvas skips the row unless the account has a custom role of exactly that name",
                            show(v)
                        ),
                        "Use student, teacher, ta, observer or designer, or the exact (case-sensitive) name of a custom course role.",
                    ),
                    "role",
                );
            }
        }
        if let Some((o, s)) = self.observer {
            let (ov, sv) = (trim(row.get(o.idx)), trim(row.get(s.idx)));
            if !ov.is_empty() && ov == sv {
                emit(
                    Finding::warning(
                        "self_observation",
                        format!(
                            "user \"{}\" is set to observe themself; Canvas rejects the row",
                            show(ov)
                        ),
                        "Put the observing user in observer_id and a different, observed user in student_id.",
                    ),
                    "student_id",
                );
            }
        }
        if let Some((a, c)) = self.contexts
            && !trim(row.get(a.idx)).is_empty()
            && !trim(row.get(c.idx)).is_empty()
        {
            emit(
                Finding::warning(
                    "conflicting_columns",
                    format!(
                        "{} has both account_id and course_id; Canvas allows only one context and skips the row",
                        self.label(row)
                    ),
                    "Fill in account_id or course_id, not both.",
                ),
                "course_id",
            );
        }
        if let Some(c) = self.login
            && trim(row.get(c.idx)).len() > MAX_LOGIN_ID_CHARS
            && String::from_utf8_lossy(trim(row.get(c.idx)))
                .chars()
                .count()
                > MAX_LOGIN_ID_CHARS
        {
            emit(
                Finding::warning(
                    "login_id_too_long",
                    format!(
                        "{}: login_id is longer than the {MAX_LOGIN_ID_CHARS} characters Canvas stores; it skips the row (\"unique_id is too long\")",
                        self.label(row)
                    ),
                    format!("Shorten the login_id to {MAX_LOGIN_ID_CHARS} characters or fewer."),
                ),
                "login_id",
            );
        }
        if let Some(c) = self.email {
            let v = trim(row.get(c.idx));
            if !v.is_empty() && !looks_like_email(v) {
                emit(
                    Finding::warning(
                        "bad_email",
                        format!(
                            "{}: email \"{}\" is not an address; Canvas imports the user without it and warns (\"The email address associated with user … is invalid\")",
                            self.label(row),
                            show(v)
                        ),
                        "Write one address, name@domain, with nothing around it, or leave email blank.",
                    ),
                    "email",
                );
            }
        }
        if matches!(self.kind, SisKind::User | SisKind::Login) && row.raw().contains(&0) {
            emit(
                Finding::warning(
                    "nul_byte",
                    format!(
                        "the row of {} contains a NUL byte, which Canvas rejects",
                        self.label(row)
                    ),
                    "Remove the NUL (0x00) characters from the export.",
                ),
                "",
            );
        }
    }
}

/// The columns that name an object, needed only to create it.
const NAME_COLUMNS: &[&str] = &[
    "name",
    "short_name",
    "long_name",
    "category_name",
    "set_name",
];

/// The longest login id Canvas stores (its `unique_id` column).
const MAX_LOGIN_ID_CHARS: usize = 100;

/// Whether `v` can be an email address as Canvas checks it: one `@` between a non-empty local
/// part and domain, without spaces or the characters that make an address header a display
/// name, comment or list. (Only the plain cases: what this refuses, Canvas refuses too.)
fn looks_like_email(v: &[u8]) -> bool {
    let Some(at) = v.iter().position(|&b| b == b'@') else {
        return false;
    };
    let plain = |part: &[u8]| !part.is_empty() && !part.iter().any(|&b| NOT_IN_ADDRESS[b as usize]);
    plain(&v[..at]) && plain(&v[at + 1..])
}

/// The bytes an address's name or domain cannot hold, as a table: the email of every users row
/// is checked byte by byte.
const NOT_IN_ADDRESS: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b == b'@'
            || b.is_ascii_whitespace()
            || b.is_ascii_control()
            || matches!(
                b,
                b'<' | b'>' | b'(' | b')' | b'[' | b']' | b',' | b';' | b':' | b'"' | b'\\'
            );
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_a_name_and_a_domain_without_spaces_controls_or_separators() {
        for ok in ["a@b", "jane.doe+x@students.example.edu", "ü@é.example"] {
            assert!(looks_like_email(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "jane", "@b", "a@", "a@b@c", "a b@c", "a@b c", "a\t@b", "a@b\x0c", "a\x7f@b",
            "<a@b>", "a@(b)", "a@[b]", "a,b@c", "a;b@c", "a:b@c", "\"a\"@b", "a\\b@c",
        ] {
            assert!(!looks_like_email(bad.as_bytes()), "{bad:?}");
        }
        // A vertical tab is not ASCII whitespace to Rust but is a control character.
        assert!(!looks_like_email(b"a\x0b@b"));
    }

    struct Row(Vec<&'static str>);
    impl Fields for Row {
        fn get(&self, i: usize) -> &[u8] {
            self.0.get(i).map_or(&[][..], |s| s.as_bytes())
        }
        fn raw(&self) -> &[u8] {
            b""
        }
    }

    fn check(kind: SisKind, header: &[&str], row: &[&'static str]) -> Vec<Finding> {
        let raw: Vec<Vec<u8>> = header.iter().map(|h| h.as_bytes().to_vec()).collect();
        let plan = Plan::new(kind, &Header::new(&raw));
        let mut out = Vec::new();
        plan.check(&Row(row.to_vec()), 2, &mut |f| out.push(f));
        out
    }

    fn rules_of(found: &[Finding]) -> Vec<&'static str> {
        found.iter().map(|f| f.rule).collect()
    }

    /// Names are needed to create: not to delete, not on a term's date override row, not for a
    /// course that takes them from its abstract course. Every problem is a warning.
    #[test]
    fn names_are_asked_for_only_where_canvas_needs_them() {
        let sections = ["section_id", "course_id", "name", "status"];
        assert!(check(SisKind::Section, &sections, &["S1", "C1", "", "deleted"]).is_empty());
        let found = check(SisKind::Section, &sections, &["S1", "C1", "", "active"]);
        assert_eq!(rules_of(&found), ["missing_value"]);
        assert!(
            found
                .iter()
                .all(|f| f.severity == crate::sis::validate::Severity::Warning)
        );
        let terms = ["term_id", "name", "status", "date_override_enrollment_type"];
        assert!(
            check(
                SisKind::Term,
                &terms,
                &["T1", "", "active", "StudentEnrollment"]
            )
            .is_empty()
        );
        let courses = [
            "course_id",
            "short_name",
            "long_name",
            "status",
            "abstract_course_id",
        ];
        assert!(check(SisKind::Course, &courses, &["C1", "", "", "active", "AC1"]).is_empty());
        let found = check(SisKind::Course, &courses, &["C1", "", "", "active", ""]);
        assert_eq!(rules_of(&found), ["missing_value", "missing_value"]);
    }

    #[test]
    fn a_valid_user_row_has_no_findings() {
        let f = check(
            SisKind::User,
            &["user_id", "login_id", "status"],
            &["U1", "u1", "Active"],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn missing_values_name_the_object_and_column() {
        let f = check(
            SisKind::User,
            &["user_id", "login_id", "status"],
            &["U1", " ", "active"],
        );
        assert_eq!(rules_of(&f), ["missing_value"]);
        assert_eq!(f[0].message, "user \"U1\" has no login_id");
        assert_eq!(f[0].column.as_deref(), Some("login_id"));
        assert_eq!(f[0].row, Some(2));
        let f = check(
            SisKind::User,
            &["user_id", "login_id", "status"],
            &["", "u", "active"],
        );
        assert_eq!(f[0].message, "a user row has no user_id");
    }

    #[test]
    fn bad_and_prefix_statuses_differ_in_severity() {
        let h = ["user_id", "login_id", "status"];
        let f = check(SisKind::User, &h, &["U1", "u1", "actve"]);
        assert_eq!(rules_of(&f), ["bad_status"]);
        let f = check(SisKind::User, &h, &["U1", "u1", "active-ish"]);
        assert_eq!(rules_of(&f), ["status_prefix"]);
        let f = check(
            SisKind::UserObserver,
            &["observer_id", "student_id", "status"],
            &["O1", "S1", "active-ish"],
        );
        assert_eq!(rules_of(&f), ["bad_status"]);
    }

    #[test]
    fn dates_must_be_iso_and_in_order() {
        let h = ["term_id", "name", "status", "start_date", "end_date"];
        let f = check(
            SisKind::Term,
            &h,
            &["T1", "Fall", "active", "08/20/2026", ""],
        );
        assert_eq!(rules_of(&f), ["bad_date"]);
        let f = check(
            SisKind::Term,
            &h,
            &["T1", "Fall", "active", "2026-12-01", "2026-08-01"],
        );
        assert_eq!(rules_of(&f), ["end_before_start"]);
        let h = [
            "course_id",
            "short_name",
            "long_name",
            "status",
            "start_date",
        ];
        let f = check(SisKind::Course, &h, &["C1", "c", "C", "active", "<delete>"]);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn enrollments_need_a_role_and_flag_unknown_ones() {
        let h = ["course_id", "user_id", "role", "role_id", "status"];
        let f = check(SisKind::Enrollment, &h, &["C1", "U1", "", "", "active"]);
        assert_eq!(f[0].message, "this enrollment has no role or role_id");
        let f = check(SisKind::Enrollment, &h, &["C1", "U1", "Dean", "", "active"]);
        assert_eq!(rules_of(&f), ["unknown_role"]);
        let f = check(SisKind::Enrollment, &h, &["C1", "U1", "", "x1", "active"]);
        assert_eq!(rules_of(&f), ["not_an_integer"]);
        let f = check(
            SisKind::Enrollment,
            &h,
            &["C1", "U1", "TA", "", "deleted_last_completed"],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn an_observer_cannot_observe_themself() {
        let h = ["observer_id", "student_id", "status"];
        let f = check(SisKind::UserObserver, &h, &["U1", "U1", "active"]);
        assert_eq!(rules_of(&f), ["self_observation"]);
    }

    #[test]
    fn group_categories_take_one_context() {
        let h = [
            "group_category_id",
            "category_name",
            "status",
            "account_id",
            "course_id",
        ];
        let f = check(
            SisKind::GroupCategory,
            &h,
            &["G1", "n", "active", "A1", "C1"],
        );
        assert_eq!(rules_of(&f), ["conflicting_columns"]);
    }

    #[test]
    fn enrollment_dates_come_in_pairs() {
        let h = [
            "course_id",
            "user_id",
            "role",
            "status",
            "start_date",
            "end_date",
        ];
        let f = check(
            SisKind::Enrollment,
            &h,
            &["C1", "U1", "student", "active", "2026-08-20", ""],
        );
        assert_eq!(rules_of(&f), ["enrollment_date_without_pair"]);
        assert_eq!(f[0].column.as_deref(), Some("end_date"));
    }
}
