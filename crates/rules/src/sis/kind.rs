//! The kinds of SIS CSV file Canvas knows, in its processing order, and header detection.
//!
//! Canvas does not look at file names: it lower-cases the first row and tests it against each
//! importer's predicate in processing order, and the first match wins (docs/canvas-api.md §5.2).
//! That is why an enrollments file carrying `name` and `section_id` is read as sections, and why
//! `accounts.csv` must carry a `parent_account_id` column even when every value is blank.

/// One Canvas SIS importer, declared in Canvas's processing order (docs/canvas-api.md §5.2).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SisKind {
    ChangeSisId,
    Account,
    Term,
    AbstractCourse,
    Course,
    Section,
    Xlist,
    User,
    Login,
    Enrollment,
    Admin,
    GroupCategory,
    DifferentiationTagSet,
    Group,
    DifferentiationTag,
    GroupMembership,
    DifferentiationTagMembership,
    InstitutionalTagCategory,
    InstitutionalTag,
    InstitutionalTagAssociation,
    GradePublishingResults,
    UserObserver,
}

impl SisKind {
    /// Every kind, in the order Canvas processes them.
    pub const ALL: [SisKind; 22] = [
        SisKind::ChangeSisId,
        SisKind::Account,
        SisKind::Term,
        SisKind::AbstractCourse,
        SisKind::Course,
        SisKind::Section,
        SisKind::Xlist,
        SisKind::User,
        SisKind::Login,
        SisKind::Enrollment,
        SisKind::Admin,
        SisKind::GroupCategory,
        SisKind::DifferentiationTagSet,
        SisKind::Group,
        SisKind::DifferentiationTag,
        SisKind::GroupMembership,
        SisKind::DifferentiationTagMembership,
        SisKind::InstitutionalTagCategory,
        SisKind::InstitutionalTag,
        SisKind::InstitutionalTagAssociation,
        SisKind::GradePublishingResults,
        SisKind::UserObserver,
    ];

    /// The singular importer name Canvas puts in `data.supplied_batches`.
    pub fn importer_name(self) -> &'static str {
        match self {
            SisKind::ChangeSisId => "change_sis_id",
            SisKind::Account => "account",
            SisKind::Term => "term",
            SisKind::AbstractCourse => "abstract_course",
            SisKind::Course => "course",
            SisKind::Section => "section",
            SisKind::Xlist => "xlist",
            SisKind::User => "user",
            SisKind::Login => "login",
            SisKind::Enrollment => "enrollment",
            SisKind::Admin => "admin",
            SisKind::GroupCategory => "group_category",
            SisKind::DifferentiationTagSet => "differentiation_tag_set",
            SisKind::Group => "group",
            SisKind::DifferentiationTag => "differentiation_tag",
            SisKind::GroupMembership => "group_membership",
            SisKind::DifferentiationTagMembership => "differentiation_tag_membership",
            SisKind::InstitutionalTagCategory => "institutional_tag_category",
            SisKind::InstitutionalTag => "institutional_tag",
            SisKind::InstitutionalTagAssociation => "institutional_tag_association",
            SisKind::GradePublishingResults => "grade_publishing_results",
            SisKind::UserObserver => "user_observer",
        }
    }

    /// The pluralised key Canvas uses in `data.counts`.
    pub fn counts_key(self) -> &'static str {
        match self {
            SisKind::ChangeSisId => "change_sis_ids",
            SisKind::Account => "accounts",
            SisKind::Term => "terms",
            SisKind::AbstractCourse => "abstract_courses",
            SisKind::Course => "courses",
            SisKind::Section => "sections",
            SisKind::Xlist => "xlists",
            SisKind::User => "users",
            SisKind::Login => "logins",
            SisKind::Enrollment => "enrollments",
            SisKind::Admin => "admins",
            SisKind::GroupCategory => "group_categories",
            SisKind::DifferentiationTagSet => "differentiation_tag_sets",
            SisKind::Group => "groups",
            SisKind::DifferentiationTag => "differentiation_tags",
            SisKind::GroupMembership => "group_memberships",
            SisKind::DifferentiationTagMembership => "differentiation_tag_memberships",
            SisKind::InstitutionalTagCategory => "institutional_tag_categories",
            SisKind::InstitutionalTag => "institutional_tags",
            SisKind::InstitutionalTagAssociation => "institutional_tag_associations",
            SisKind::GradePublishingResults => "grade_publishing_results",
            SisKind::UserObserver => "user_observers",
        }
    }

    /// The file name Canvas's documentation uses for this kind (names do not matter to Canvas).
    pub fn doc_file_name(self) -> &'static str {
        match self {
            SisKind::ChangeSisId => "change_sis_id.csv",
            SisKind::Account => "accounts.csv",
            SisKind::Term => "terms.csv",
            SisKind::AbstractCourse => "abstract_courses.csv",
            SisKind::Course => "courses.csv",
            SisKind::Section => "sections.csv",
            SisKind::Xlist => "xlists.csv",
            SisKind::User => "users.csv",
            SisKind::Login => "logins.csv",
            SisKind::Enrollment => "enrollments.csv",
            SisKind::Admin => "admins.csv",
            SisKind::GroupCategory => "group_categories.csv",
            SisKind::DifferentiationTagSet => "differentiation_tag_sets.csv",
            SisKind::Group => "groups.csv",
            SisKind::DifferentiationTag => "differentiation_tags.csv",
            SisKind::GroupMembership => "groups_membership.csv",
            SisKind::DifferentiationTagMembership => "differentiation_tag_membership.csv",
            SisKind::InstitutionalTagCategory => "institutional_tag_categories.csv",
            SisKind::InstitutionalTag => "institutional_tags.csv",
            SisKind::InstitutionalTagAssociation => "institutional_tag_associations.csv",
            SisKind::GradePublishingResults => "grade_publishing_results.csv",
            SisKind::UserObserver => "user_observers.csv",
        }
    }

    /// Detects the kind of a CSV from its header row, as Canvas does: headers are compared
    /// lower-cased and trimmed, kinds are tried in processing order, the first match wins.
    ///
    /// `institutional_tags` says whether the account has that feature flag on; without it the
    /// three institutional-tag kinds are never matched.
    pub fn detect<S: AsRef<str>>(headers: &[S], institutional_tags: bool) -> Option<SisKind> {
        let set: std::collections::HashSet<String> = headers
            .iter()
            .map(|h| h.as_ref().trim().to_ascii_lowercase())
            .collect();
        let has = |c: &str| set.contains(c);
        SisKind::ALL.into_iter().find(|kind| match kind {
            SisKind::ChangeSisId => has("old_id") || has("old_integration_id"),
            SisKind::Account => has("account_id") && has("parent_account_id"),
            SisKind::Term => has("term_id") && has("name"),
            SisKind::AbstractCourse => {
                has("abstract_course_id") && has("short_name") && !has("course_id")
            }
            SisKind::Course => has("course_id") && has("short_name"),
            SisKind::Section => has("section_id") && has("name"),
            SisKind::Xlist => has("xlist_course_id") && has("section_id"),
            SisKind::User => {
                has("user_id")
                    && has("login_id")
                    && !has("existing_user_id")
                    && !has("existing_integration_id")
                    && !has("existing_canvas_user_id")
            }
            SisKind::Login => {
                has("existing_user_id")
                    || has("existing_integration_id")
                    || has("existing_canvas_user_id")
            }
            SisKind::Enrollment => {
                (has("course_id") || has("section_id"))
                    && (has("user_id") || has("user_integration_id"))
            }
            SisKind::Admin => has("account_id") && has("user_id"),
            SisKind::GroupCategory => has("group_category_id") && has("category_name"),
            SisKind::DifferentiationTagSet => has("tag_set_id") && has("set_name"),
            SisKind::Group => has("group_id") && has("name"),
            SisKind::DifferentiationTag => has("tag_id") && has("name"),
            SisKind::GroupMembership => has("group_id") && has("user_id"),
            SisKind::DifferentiationTagMembership => has("tag_id") && has("user_id"),
            SisKind::InstitutionalTagCategory => {
                institutional_tags
                    && has("category_id")
                    && has("name")
                    && !has("tag_id")
                    && !has("institutional_tag_id")
            }
            SisKind::InstitutionalTag => {
                institutional_tags
                    && has("institutional_tag_id")
                    && has("category_id")
                    && has("name")
            }
            SisKind::InstitutionalTagAssociation => {
                institutional_tags && has("institutional_tag_id") && has("user_id")
            }
            SisKind::GradePublishingResults => {
                has("enrollment_id") && has("grade_publishing_status")
            }
            SisKind::UserObserver => has("observer_id") && has("student_id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollments_with_name_and_section_id_are_read_as_sections() {
        let h = ["section_id", "user_id", "role", "status", "name"];
        assert_eq!(SisKind::detect(&h, false), Some(SisKind::Section));
    }

    #[test]
    fn accounts_without_parent_column_are_not_accounts() {
        let h = ["account_id", "name", "status"];
        assert_eq!(SisKind::detect(&h, false), None);
        let h = ["account_id", "parent_account_id", "name", "status"];
        assert_eq!(SisKind::detect(&h, false), Some(SisKind::Account));
    }

    #[test]
    fn headers_are_compared_case_insensitively() {
        let h = ["USER_ID", "Login_ID", "status"];
        assert_eq!(SisKind::detect(&h, false), Some(SisKind::User));
    }

    #[test]
    fn logins_are_users_with_an_existing_id() {
        let h = ["user_id", "login_id", "existing_user_id"];
        assert_eq!(SisKind::detect(&h, false), Some(SisKind::Login));
    }

    #[test]
    fn institutional_tags_need_the_feature() {
        let h = ["category_id", "name", "status"];
        assert_eq!(SisKind::detect(&h, false), None);
        assert_eq!(
            SisKind::detect(&h, true),
            Some(SisKind::InstitutionalTagCategory)
        );
    }

    #[test]
    fn processing_order_matches_canvas() {
        assert!(SisKind::Account < SisKind::Term);
        assert!(SisKind::Course < SisKind::Section);
        assert!(SisKind::User < SisKind::Enrollment);
        assert_eq!(SisKind::ALL.len(), 22);
        assert_eq!(SisKind::ALL[21], SisKind::UserObserver);
    }
}
