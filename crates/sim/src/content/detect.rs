//! Which importer Canvas hands a CSV to, decided from its header row as
//! `SIS::CSV::ImportRefactored#process_file` does: the header row is read with the value
//! converter (stripped, blank columns dropped) and lower-cased, then each importer of
//! `IMPORTERS`, in that order, is asked its `<kind>_csv?` question; the first that answers yes
//! takes the file. File names play no part.
//!
//! Written from Canvas's predicates, apart from the product's detection (`SisKind::detect`): the
//! conformance suite compares the two. Only the names of the kinds are shared.

use canvas_sis_rules::sis::SisKind;

/// The header row as the predicates see it: stripped, lower-cased, blank columns `None`.
struct Header<'a>(&'a [Option<String>]);

impl Header<'_> {
    /// Ruby's `row.include?(name)`.
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|h| h.as_deref() == Some(name))
    }

    fn has_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.has(n))
    }
}

type Predicate = fn(&Header<'_>) -> bool;

/// The columns that make a file a logins file (`LoginImporter.login_csv?`), and that keep it
/// from being a users file.
const EXISTING_USER_COLUMNS: [&str; 3] = [
    "existing_user_id",
    "existing_integration_id",
    "existing_canvas_user_id",
];

/// Canvas's `IMPORTERS`, in order, each with its `<kind>_csv?` predicate.
const IMPORTERS: [(SisKind, Predicate); 22] = [
    (SisKind::ChangeSisId, |h| {
        h.has_any(&["old_id", "old_integration_id"])
    }),
    (SisKind::Account, |h| {
        h.has("account_id") && h.has("parent_account_id")
    }),
    (SisKind::Term, |h| h.has("term_id") && h.has("name")),
    (SisKind::AbstractCourse, |h| {
        h.has("abstract_course_id") && !h.has("course_id") && h.has("short_name")
    }),
    (SisKind::Course, |h| {
        h.has("course_id") && h.has("short_name")
    }),
    (SisKind::Section, |h| h.has("section_id") && h.has("name")),
    (SisKind::Xlist, |h| {
        h.has("xlist_course_id") && h.has("section_id")
    }),
    (SisKind::User, |h| {
        h.has("user_id") && h.has("login_id") && !h.has_any(&EXISTING_USER_COLUMNS)
    }),
    (SisKind::Login, |h| h.has_any(&EXISTING_USER_COLUMNS)),
    (SisKind::Enrollment, |h| {
        h.has_any(&["section_id", "course_id"]) && h.has_any(&["user_id", "user_integration_id"])
    }),
    (SisKind::Admin, |h| h.has("account_id") && h.has("user_id")),
    (SisKind::GroupCategory, |h| {
        h.has("group_category_id") && h.has("category_name")
    }),
    (SisKind::DifferentiationTagSet, |h| {
        h.has("tag_set_id") && h.has("set_name")
    }),
    (SisKind::Group, |h| h.has("group_id") && h.has("name")),
    (SisKind::DifferentiationTag, |h| {
        h.has("tag_id") && h.has("name")
    }),
    (SisKind::GroupMembership, |h| {
        h.has("group_id") && h.has("user_id")
    }),
    (SisKind::DifferentiationTagMembership, |h| {
        h.has("tag_id") && h.has("user_id")
    }),
    (SisKind::InstitutionalTagCategory, |h| {
        h.has("category_id") && h.has("name") && !h.has("tag_id") && !h.has("institutional_tag_id")
    }),
    (SisKind::InstitutionalTag, |h| {
        h.has("institutional_tag_id") && h.has("category_id") && h.has("name")
    }),
    (SisKind::InstitutionalTagAssociation, |h| {
        h.has("institutional_tag_id") && h.has("user_id")
    }),
    (SisKind::GradePublishingResults, |h| {
        h.has("enrollment_id") && h.has("grade_publishing_status")
    }),
    (SisKind::UserObserver, |h| {
        h.has("observer_id") && h.has("student_id")
    }),
];

/// The importers Canvas skips unless the root account has the `institutional_tags` feature.
const INSTITUTIONAL_TAG_IMPORTERS: [SisKind; 3] = [
    SisKind::InstitutionalTagCategory,
    SisKind::InstitutionalTag,
    SisKind::InstitutionalTagAssociation,
];

/// The importer that takes a file with this header row (already stripped and lower-cased, blank
/// columns `None`), or `None`: "Couldn't find Canvas CSV import headers".
pub fn importer_for(header: &[Option<String>], institutional_tags: bool) -> Option<SisKind> {
    let header = Header(header);
    IMPORTERS
        .iter()
        .filter(|(kind, _)| institutional_tags || !INSTITUTIONAL_TAG_IMPORTERS.contains(kind))
        .find(|(_, asks)| asks(&header))
        .map(|(kind, _)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(names: &[&str], tags: bool) -> Option<SisKind> {
        let header: Vec<Option<String>> = names
            .iter()
            .map(|n| (!n.is_empty()).then(|| (*n).to_owned()))
            .collect();
        importer_for(&header, tags)
    }

    #[test]
    fn the_first_importer_in_canvas_order_wins() {
        assert_eq!(
            kind(&["section_id", "user_id", "role", "name"], false),
            Some(SisKind::Section)
        );
        assert_eq!(
            kind(&["account_id", "parent_account_id", "user_id"], false),
            Some(SisKind::Account)
        );
        assert_eq!(
            kind(&["user_id", "login_id", "existing_user_id"], false),
            Some(SisKind::Login)
        );
        assert_eq!(
            kind(&["course_id", "short_name", "abstract_course_id"], false),
            Some(SisKind::Course)
        );
    }

    #[test]
    fn accounts_need_the_parent_column_and_blank_columns_match_nothing() {
        assert_eq!(kind(&["account_id", "name", "status"], false), None);
        assert_eq!(kind(&["", "", ""], false), None);
        assert_eq!(kind(&["term_id", "", "name"], false), Some(SisKind::Term));
    }

    #[test]
    fn institutional_tag_kinds_need_the_feature() {
        let header = ["institutional_tag_id", "user_id", "status"];
        assert_eq!(kind(&header, false), None);
        assert_eq!(
            kind(&header, true),
            Some(SisKind::InstitutionalTagAssociation)
        );
        assert_eq!(
            kind(&["category_id", "name"], true),
            Some(SisKind::InstitutionalTagCategory)
        );
    }

    #[test]
    fn every_kind_has_one_predicate_in_processing_order() {
        let kinds: Vec<SisKind> = IMPORTERS.iter().map(|(k, _)| *k).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(kinds, sorted);
        assert_eq!(kinds.len(), 22);
    }
}
