//! Checks on a file's header row: how Canvas will recognise the file (first match wins, in
//! processing order), the detection pitfalls that follow from that rule, a byte-order mark glued
//! to the first header, and the required columns of the recognised kind.
//!
//! Everything here is pure: it sees the header's fields, never the stream.

use std::collections::HashSet;

use super::finding::Finding;
use super::rules::{self, rules, signature};
use crate::sis::SisKind;

/// The widest header row checked. Canvas's kinds use a few dozen columns; a header this wide is
/// not an SIS export (or is a broken one), and its names alone would take memory out of
/// proportion to one record, so it is refused before any per-column work (invariant 6 of
/// docs/design.md).
pub(crate) const MAX_HEADER_COLUMNS: usize = 10_000;

/// Names listed when a message shows the header row; the rest are counted.
const LISTED_NAMES: usize = 12;

/// The error for a header wider than [`MAX_HEADER_COLUMNS`].
pub(crate) fn too_wide(width: usize) -> Finding {
    Finding::error(
        "header_too_wide",
        format!(
            "the header row has {width} columns; canvas-sis checks at most {MAX_HEADER_COLUMNS} (Canvas SIS CSVs use a few dozen), so this is not an SIS export or its header row is broken"
        ),
        "Check that the first row is the header row of a Canvas SIS CSV (users.csv: user_id, login_id, status, ...) and that the file is the SIS export itself.",
    )
    .at_row(1)
}

/// A header row as Canvas reads it.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// Lower-cased and trimmed names, in column order.
    pub names: Vec<String>,
    /// Names that had spaces around them in the file (as found there).
    pub padded: Vec<(usize, String)>,
}

impl Header {
    /// Builds the header from its raw fields (already without any BOM).
    pub(crate) fn new(raw: &[Vec<u8>]) -> Self {
        let mut names = Vec::with_capacity(raw.len());
        let mut padded = Vec::new();
        for (i, f) in raw.iter().enumerate() {
            let text = String::from_utf8_lossy(f);
            let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
            if trimmed.len() != text.len() && !trimmed.is_empty() {
                padded.push((i, text.clone().into_owned()));
            }
            names.push(trimmed.to_lowercase());
        }
        Header { names, padded }
    }

    pub(crate) fn index(&self, column: &str) -> Option<usize> {
        self.names.iter().position(|n| n == column)
    }

    pub(crate) fn has(&self, column: &str) -> bool {
        self.index(column).is_some()
    }

    /// How messages may name column `i` (0-based): by its name when that is a column Canvas
    /// knows, or is short and not the whole line; otherwise by position. A file that is no SIS
    /// export (a token file, a key) arrives here as one line, so its text is never quoted.
    pub(crate) fn label(&self, i: usize) -> String {
        match self.names.get(i) {
            Some(name) if self.quotable(name) => name.clone(),
            _ => format!("column {}", i + 1),
        }
    }

    fn quotable(&self, name: &str) -> bool {
        rules::known_anywhere(name)
            || (self.names.len() > 1 && name.chars().count() <= rules::longest_known_column())
    }

    /// The header row for a message: the first names (see [`Header::label`]), then a count.
    fn list(&self) -> String {
        let mut shown: Vec<String> = (0..self.names.len().min(LISTED_NAMES))
            .map(|i| match self.label(i) {
                l if l == self.names[i] => l,
                _ if self.names.len() == 1 => {
                    "one column, not shown: a whole line is never quoted".to_owned()
                }
                _ => format!("column {} not shown: longer than any Canvas column", i + 1),
            })
            .collect();
        if self.names.len() > LISTED_NAMES {
            shown.push(format!("and {} more", self.names.len() - LISTED_NAMES));
        }
        shown.join(", ")
    }
}

/// Findings about the header itself: padded names, repeated names.
pub(crate) fn check_names(header: &Header) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, raw) in &header.padded {
        let label = header.label(*i);
        let (what, fix) = if label == header.names[*i] {
            (
                format!("header \"{raw}\""),
                format!("Write the header as \"{label}\", without spaces."),
            )
        } else {
            (
                format!("the header of {label}"),
                "Write the header without spaces around it.".to_owned(),
            )
        };
        out.push(
            Finding::warning(
                "header_whitespace",
                format!("{what} has spaces around it; Canvas may not strip them, and would then not see this column"),
                fix,
            )
            .at_row(1)
            .in_column(label),
        );
    }
    for i in repeated_names(&header.names) {
        let label = header.label(i);
        out.push(
            Finding::warning(
                "duplicate_column",
                format!(
                    "column {label} appears more than once (column {}); Canvas reads only the first",
                    i + 1
                ),
                format!("Keep one {label} column."),
            )
            .at_row(1)
            .in_column(label),
        );
    }
    out
}

/// The positions of names (not blank) that an earlier column already has: one set lookup per
/// column, so the work grows with the header's width, never with its square.
fn repeated_names<S: std::hash::Hash + Eq + AsRef<str>>(names: &[S]) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(names.len());
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.as_ref().is_empty() && !seen.insert(*n))
        .map(|(i, _)| i)
        .collect()
}

/// Canvas's verdict on a header: the kind, or the error that fails the batch.
pub(crate) fn detect(header: &Header, institutional_tags: bool) -> Result<SisKind, Box<Finding>> {
    if let Some(kind) = SisKind::detect(&header.names, institutional_tags) {
        return Ok(kind);
    }
    if header.has("account_id") && !header.has("parent_account_id") {
        return Err(Box::new(Finding::error(
            "accounts_missing_parent_column",
            "this accounts file has no parent_account_id column; Canvas recognises accounts only by account_id and parent_account_id together, so it won't recognise the file and fails the batch (\"Couldn't find Canvas CSV import headers\")",
            "Add a parent_account_id column; leave it blank for accounts directly under the root account.",
        )
        .at_row(1)
        .in_column("parent_account_id")));
    }
    let message = format!(
        "the header row ({}) matches no Canvas SIS CSV kind; Canvas fails the batch with \"Couldn't find Canvas CSV import headers\"",
        header.list()
    );
    let fix = match closest_kind(header, institutional_tags) {
        Some((kind, missing)) => format!(
            "If this is {}, add the column(s) {}: Canvas recognises it by {}. File names don't matter to Canvas, only the header row.",
            kind.doc_file_name(),
            missing.join(", "),
            signature(kind).join(" and ")
        ),
        None => "Make the first row the header row of a Canvas SIS CSV (users.csv: user_id, login_id, status, ...), lower-case names as in Canvas's SIS CSV format.".to_owned(),
    };
    Err(Box::new(
        Finding::error("unrecognised_headers", message, fix).at_row(1),
    ))
}

/// The institutional tag kind of a header Canvas recognises only where that feature is on,
/// when validating without it. Canvas imports such a file where the feature is on and fails the
/// import elsewhere; which one the account has is not known here, so the file is read as that
/// kind and sent as is, with a warning (never rejected by default).
pub(crate) fn needs_institutional_tags(
    header: &Header,
    institutional_tags: bool,
) -> Option<Finding> {
    if institutional_tags || SisKind::detect(&header.names, false).is_some() {
        return None;
    }
    let kind = SisKind::detect(&header.names, true)?;
    Some(
        Finding::warning(
            "needs_institutional_tags",
            format!(
                "this is {} ({}), which Canvas reads only where the institutional tags feature is on; it is sent as is, and Canvas fails the import (\"Couldn't find Canvas CSV import headers\") if the account doesn't have the feature",
                kind.doc_file_name(),
                kind.counts_key()
            ),
            "Check that the account has the institutional tags feature on (then set the institutional_tags validation option to check the file as such), or leave the file out.",
        )
        .at_row(1),
    )
}

/// The kind whose detection columns the header comes closest to, with the ones it lacks.
fn closest_kind(header: &Header, institutional_tags: bool) -> Option<(SisKind, Vec<&'static str>)> {
    let mut best: Option<(SisKind, usize, usize)> = None;
    for kind in SisKind::ALL {
        let gated = matches!(
            kind,
            SisKind::InstitutionalTagCategory
                | SisKind::InstitutionalTag
                | SisKind::InstitutionalTagAssociation
        );
        if gated && !institutional_tags {
            continue;
        }
        let sig = signature(kind);
        let present = sig.iter().filter(|c| header.has(c)).count();
        // More columns present wins; then fewer missing; then Canvas's order.
        let better =
            best.is_none_or(|(_, p, m)| present > p || (present == p && sig.len() - present < m));
        if present > 0 && better {
            best = Some((kind, present, sig.len() - present));
        }
    }
    best.map(|(kind, _, _)| {
        let missing = signature(kind)
            .iter()
            .copied()
            .filter(|c| !header.has(c))
            .collect();
        (kind, missing)
    })
}

/// The first-match pitfalls: an enrollments file read as sections, a file named for one kind
/// but read as another.
pub(crate) fn check_pitfalls(header: &Header, kind: SisKind, file_name: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let has_user = header.has("user_id") || header.has("user_integration_id");
    let has_role = header.has("role") || header.has("role_id");
    if kind == SisKind::Section && has_user && has_role {
        out.push(
            Finding::warning(
                "enrollments_read_as_sections",
                "this file has user and role columns like an enrollments file, but Canvas reads it as sections: it has section_id and name, and Canvas takes the first kind whose columns match (sections come before enrollments); every row would update a section instead of enrolling a user",
                "Remove the name column from the enrollments file (Canvas doesn't use it there).",
            )
            .at_row(1)
            .in_column("name"),
        );
        return out;
    }
    let base = file_name
        .rsplit('/')
        .next()
        .unwrap_or(file_name)
        .to_ascii_lowercase();
    let named = SisKind::ALL
        .into_iter()
        .find(|k| base == k.doc_file_name() || base == format!("{}.csv", k.counts_key()));
    if let Some(named) = named
        && named != kind
    {
        out.push(
            Finding::warning(
                "file_name_mismatch",
                format!(
                    "the file is named like {} but Canvas reads it as {} (Canvas ignores file names and takes the first kind whose columns the header matches)",
                    named.doc_file_name(),
                    kind.counts_key()
                ),
                format!(
                    "Check the header row: {} is recognised by {}.",
                    named.doc_file_name(),
                    signature(named).join(" and ")
                ),
            )
            .at_row(1),
        );
    }
    out
}

/// The required columns of `kind` the header lacks, as one error (or none).
pub(crate) fn check_required_columns(header: &Header, kind: SisKind) -> Option<Finding> {
    let r = rules(kind);
    let mut missing: Vec<String> = r
        .required
        .iter()
        .chain(r.required_columns)
        .filter(|c| !header.has(c))
        .map(|c| (*c).to_owned())
        .collect();
    for group in r.one_of {
        if !group.iter().any(|c| header.has(c)) {
            missing.push(format!("one of {}", group.join("/")));
        }
    }
    let first = missing.first()?.clone();
    let column = first
        .strip_prefix("one of ")
        .map_or(first.as_str(), |g| g.split('/').next().unwrap_or(g));
    Some(
        Finding::warning(
            "missing_required_column",
            format!(
                "this {} file lacks required column(s): {}",
                kind.counts_key(),
                missing.join(", ")
            ),
            format!(
                "Add {} to the header row (a column may be blank where Canvas allows it); Canvas skips rows without them.",
                missing.join(", ")
            ),
        )
        .at_row(1)
        .in_column(column.to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Header {
        let raw: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        Header::new(&raw)
    }

    #[test]
    fn headers_are_lower_cased_and_trimmed_with_a_warning_for_padding() {
        let h = header(&[" User_ID ", "LOGIN_ID", "status"]);
        assert_eq!(h.names, ["user_id", "login_id", "status"]);
        let f = check_names(&h);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "header_whitespace");
        assert_eq!(f[0].column.as_deref(), Some("user_id"));
    }

    #[test]
    fn unknown_headers_name_the_closest_kind_and_its_missing_columns() {
        let err = detect(&header(&["user_id", "status", "email"]), false).unwrap_err();
        assert_eq!(err.rule, "unrecognised_headers");
        assert!(
            err.fix.contains("users.csv, add the column(s) login_id"),
            "{}",
            err.fix
        );
    }

    /// Issue 13 #12: a file that is not a CSV export — a token file, a key — reaches the header
    /// check as one line. What the findings quote of it is bounded: never the whole line, never
    /// a name longer than the longest column Canvas knows.
    #[test]
    fn a_header_that_matches_no_kind_is_never_quoted_beyond_a_known_column_name() {
        let secret = "7~q8zkq1u3jt0xb9ygv2lr4pw6ns5hm1dc3fa7ke0tj9wq";
        let mut said = String::new();
        for names in [
            vec![secret],
            vec!["admin-token"],
            vec!["user_id", secret, "status"],
            vec![" user_id ", secret, secret],
        ] {
            let h = header(&names);
            if let Err(f) = detect(&h, false) {
                said.push_str(&format!("{}\n{}\n", f.message, f.fix));
            }
            for f in check_names(&h) {
                said.push_str(&format!("{}\n{}\n", f.message, f.fix));
            }
        }
        assert!(!said.contains(secret), "{said}");
        assert!(
            !said.contains("admin-token"),
            "a whole line is never quoted: {said}"
        );
        assert!(said.contains("user_id"), "known columns are named: {said}");
    }

    /// A name whose equality checks are counted, to show the work per column is bounded.
    struct Counted<'a>(String, &'a std::cell::Cell<u64>);
    impl std::hash::Hash for Counted<'_> {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }
    impl PartialEq for Counted<'_> {
        fn eq(&self, other: &Self) -> bool {
            self.1.set(self.1.get() + 1);
            self.0 == other.0
        }
    }
    impl Eq for Counted<'_> {}
    impl AsRef<str> for Counted<'_> {
        fn as_ref(&self) -> &str {
            &self.0
        }
    }

    #[test]
    fn repeated_columns_are_found_with_a_bounded_number_of_comparisons_per_column() {
        let compared = std::cell::Cell::new(0);
        let n = 100_000;
        let mut names: Vec<Counted> = (0..n)
            .map(|i| Counted(format!("c{i}"), &compared))
            .collect();
        names.push(Counted("c7".into(), &compared));
        assert_eq!(repeated_names(&names), vec![n]);
        assert!(
            compared.get() <= 2 * n as u64,
            "{} comparisons for {n} columns",
            compared.get()
        );
    }

    #[test]
    fn accounts_without_parent_column_get_their_own_error() {
        let err = detect(&header(&["account_id", "name", "status"]), false).unwrap_err();
        assert_eq!(err.rule, "accounts_missing_parent_column");
    }

    #[test]
    fn institutional_tag_files_without_the_feature_are_a_warning_that_says_so() {
        let h = header(&["category_id", "name", "status"]);
        let f = needs_institutional_tags(&h, false).expect("a finding");
        assert_eq!(f.severity, crate::sis::validate::Severity::Warning);
        assert!(f.fix.contains("institutional tags feature"), "{}", f.fix);
        assert!(needs_institutional_tags(&h, true).is_none());
        let users = header(&["user_id", "login_id", "status"]);
        assert!(needs_institutional_tags(&users, false).is_none());
    }

    #[test]
    fn enrollments_with_a_name_column_are_flagged() {
        let h = header(&["section_id", "user_id", "role", "status", "name"]);
        let f = check_pitfalls(&h, SisKind::Section, "enrollments.csv");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "enrollments_read_as_sections");
    }

    #[test]
    fn a_file_named_for_another_kind_is_a_warning() {
        let h = header(&["course_id", "user_id", "role", "status", "short_name"]);
        let f = check_pitfalls(&h, SisKind::Course, "exports/enrollments.csv");
        assert_eq!(f[0].rule, "file_name_mismatch");
        assert!(check_pitfalls(&h, SisKind::Course, "courses.csv").is_empty());
    }

    #[test]
    fn missing_required_columns_are_listed_once() {
        let f = check_required_columns(&header(&["course_id", "user_id"]), SisKind::Enrollment)
            .expect("missing");
        assert!(
            f.message.ends_with("status, one of role/role_id"),
            "{}",
            f.message
        );
        assert_eq!(f.column.as_deref(), Some("status"));
        let ok = header(&["course_id", "user_id", "role", "status"]);
        assert!(check_required_columns(&ok, SisKind::Enrollment).is_none());
    }
}
