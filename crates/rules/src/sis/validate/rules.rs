//! What each kind of SIS CSV must contain, per Canvas's `sis_csv` documentation and importers
//! (docs/canvas-api.md §5.3): required columns and values, status values, dates, whole numbers,
//! value lists, and which columns name objects defined elsewhere in the batch.
//!
//! This is data only; `plan` binds it to one file's header and `row` applies it.

use super::ids::IdSpace;
use crate::sis::SisKind;

/// The rules of one kind.
#[derive(Debug)]
pub(crate) struct KindRules {
    /// How a message names one row's object ("user", "enrollment").
    pub noun: &'static str,
    /// The column holding the object's own SIS id, and its namespace.
    pub id: Option<(&'static str, IdSpace)>,
    /// Columns that must be in the header and filled in on every row.
    pub required: &'static [&'static str],
    /// Columns that must be in the header but may be blank (blank `parent_account_id` = root).
    pub required_columns: &'static [&'static str],
    /// Groups of which at least one column must be in the header and filled in on every row.
    pub one_of: &'static [&'static [&'static str]],
    /// Accepted `status` values (checked when the column is there).
    pub statuses: &'static [&'static str],
    /// Canvas anchors the status match at both ends (user observers); otherwise at the start.
    pub status_exact: bool,
    /// Date columns, and whether `<delete>` clears them (courses).
    pub dates: &'static [&'static str],
    pub delete_clears_dates: bool,
    /// Columns that must hold whole numbers.
    pub integers: &'static [&'static str],
    /// Columns limited to a list of values (matched case-insensitively).
    pub values: &'static [(&'static str, &'static [&'static str])],
    /// Columns naming an object of another (or the same) namespace.
    pub refs: &'static [(&'static str, IdSpace)],
}

const ACTIVE_DELETED: &[&str] = &["active", "deleted"];

const BASE: KindRules = KindRules {
    noun: "row",
    id: None,
    required: &[],
    required_columns: &[],
    one_of: &[],
    statuses: ACTIVE_DELETED,
    status_exact: false,
    dates: &[],
    delete_clears_dates: false,
    integers: &[],
    values: &[],
    refs: &[],
};

/// Built-in enrollment roles (matched case-insensitively); anything else must be a custom role.
pub(crate) const ENROLLMENT_ROLES: &[&str] = &["student", "teacher", "ta", "observer", "designer"];

/// The rules for `kind`.
pub(crate) fn rules(kind: SisKind) -> &'static KindRules {
    match kind {
        SisKind::ChangeSisId => &CHANGE_SIS_ID,
        SisKind::Account => &ACCOUNT,
        SisKind::Term => &TERM,
        SisKind::AbstractCourse => &ABSTRACT_COURSE,
        SisKind::Course => &COURSE,
        SisKind::Section => &SECTION,
        SisKind::Xlist => &XLIST,
        SisKind::User => &USER,
        SisKind::Login => &LOGIN,
        SisKind::Enrollment => &ENROLLMENT,
        SisKind::Admin => &ADMIN,
        SisKind::GroupCategory => &GROUP_CATEGORY,
        SisKind::DifferentiationTagSet => &TAG_SET,
        SisKind::Group => &GROUP,
        SisKind::DifferentiationTag => &TAG,
        SisKind::GroupMembership => &GROUP_MEMBERSHIP,
        SisKind::DifferentiationTagMembership => &TAG_MEMBERSHIP,
        SisKind::InstitutionalTagCategory => &INST_TAG_CATEGORY,
        SisKind::InstitutionalTag => &INST_TAG,
        SisKind::InstitutionalTagAssociation => &INST_TAG_ASSOCIATION,
        SisKind::GradePublishingResults => &GRADE_PUBLISHING,
        SisKind::UserObserver => &USER_OBSERVER,
    }
}

static CHANGE_SIS_ID: KindRules = KindRules {
    noun: "change_sis_id row",
    required: &["type"],
    one_of: &[
        &["old_id", "old_integration_id"],
        &["new_id", "new_integration_id"],
    ],
    statuses: &[],
    values: &[(
        "type",
        &[
            "account",
            "term",
            "course",
            "section",
            "group",
            "group_category",
            "user",
        ],
    )],
    ..BASE
};

static ACCOUNT: KindRules = KindRules {
    noun: "account",
    id: Some(("account_id", IdSpace::Account)),
    required: &["account_id", "name", "status"],
    required_columns: &["parent_account_id"],
    refs: &[("parent_account_id", IdSpace::Account)],
    ..BASE
};

static TERM: KindRules = KindRules {
    noun: "term",
    id: Some(("term_id", IdSpace::Term)),
    required: &["term_id", "name", "status"],
    dates: &["start_date", "end_date"],
    values: &[(
        "date_override_enrollment_type",
        &[
            "StudentEnrollment",
            "TeacherEnrollment",
            "TaEnrollment",
            "DesignerEnrollment",
        ],
    )],
    ..BASE
};

static ABSTRACT_COURSE: KindRules = KindRules {
    noun: "abstract course",
    id: Some(("abstract_course_id", IdSpace::AbstractCourse)),
    required: &["abstract_course_id", "short_name", "status"],
    refs: &[("account_id", IdSpace::Account), ("term_id", IdSpace::Term)],
    ..BASE
};

static COURSE: KindRules = KindRules {
    noun: "course",
    id: Some(("course_id", IdSpace::Course)),
    required: &["course_id", "short_name", "long_name", "status"],
    statuses: &["active", "deleted", "completed", "published", "unpublished"],
    dates: &["start_date", "end_date"],
    delete_clears_dates: true,
    values: &[
        (
            "course_format",
            &["on_campus", "online", "blended", "not_set"],
        ),
        (
            "grade_passback_setting",
            &["nightly_sync", "disabled", "not_set"],
        ),
    ],
    refs: &[
        ("account_id", IdSpace::Account),
        ("term_id", IdSpace::Term),
        ("abstract_course_id", IdSpace::AbstractCourse),
    ],
    ..BASE
};

static SECTION: KindRules = KindRules {
    noun: "section",
    id: Some(("section_id", IdSpace::Section)),
    required: &["section_id", "course_id", "name", "status"],
    dates: &["start_date", "end_date"],
    refs: &[("course_id", IdSpace::Course)],
    ..BASE
};

static XLIST: KindRules = KindRules {
    noun: "cross-listing",
    required: &["xlist_course_id", "section_id", "status"],
    refs: &[("section_id", IdSpace::Section)],
    ..BASE
};

static USER: KindRules = KindRules {
    noun: "user",
    id: Some(("user_id", IdSpace::User)),
    required: &["user_id", "login_id", "status"],
    statuses: &["active", "suspended", "deleted"],
    values: &[(
        "declared_user_type",
        &[
            "administrative",
            "observer",
            "staff",
            "student",
            "student_other",
            "teacher",
            "<delete>",
        ],
    )],
    ..BASE
};

static LOGIN: KindRules = KindRules {
    noun: "login",
    id: Some(("user_id", IdSpace::User)),
    required: &["user_id", "login_id"],
    one_of: &[&[
        "existing_user_id",
        "existing_integration_id",
        "existing_canvas_user_id",
    ]],
    statuses: &[],
    integers: &["existing_canvas_user_id"],
    refs: &[("existing_user_id", IdSpace::User)],
    ..BASE
};

static ENROLLMENT: KindRules = KindRules {
    noun: "enrollment",
    required: &["status"],
    one_of: &[
        &["course_id", "section_id"],
        &["user_id", "user_integration_id"],
        &["role", "role_id"],
    ],
    statuses: &[
        "active",
        "deleted",
        "completed",
        "inactive",
        "deleted_last_completed",
    ],
    dates: &["start_date", "end_date"],
    integers: &["role_id"],
    refs: &[
        ("course_id", IdSpace::Course),
        ("section_id", IdSpace::Section),
        ("user_id", IdSpace::User),
        ("associated_user_id", IdSpace::User),
    ],
    ..BASE
};

static ADMIN: KindRules = KindRules {
    noun: "admin",
    required: &["user_id", "status"],
    required_columns: &["account_id"],
    one_of: &[&["role", "role_id"]],
    integers: &["role_id"],
    refs: &[("user_id", IdSpace::User), ("account_id", IdSpace::Account)],
    ..BASE
};

static GROUP_CATEGORY: KindRules = KindRules {
    noun: "group category",
    id: Some(("group_category_id", IdSpace::GroupCategory)),
    required: &["group_category_id", "category_name", "status"],
    refs: &[
        ("account_id", IdSpace::Account),
        ("course_id", IdSpace::Course),
    ],
    ..BASE
};

static TAG_SET: KindRules = KindRules {
    noun: "differentiation tag set",
    id: Some(("tag_set_id", IdSpace::TagSet)),
    required: &["tag_set_id", "course_id", "set_name"],
    refs: &[("course_id", IdSpace::Course)],
    ..BASE
};

static GROUP: KindRules = KindRules {
    noun: "group",
    id: Some(("group_id", IdSpace::Group)),
    required: &["group_id", "name", "status"],
    statuses: &["available", "closed", "completed", "deleted"],
    refs: &[
        ("group_category_id", IdSpace::GroupCategory),
        ("account_id", IdSpace::Account),
        ("course_id", IdSpace::Course),
    ],
    ..BASE
};

static TAG: KindRules = KindRules {
    noun: "differentiation tag",
    id: Some(("tag_id", IdSpace::Tag)),
    required: &["tag_id", "name"],
    one_of: &[&["tag_set_id", "course_id"]],
    statuses: &["available", "deleted"],
    refs: &[
        ("tag_set_id", IdSpace::TagSet),
        ("course_id", IdSpace::Course),
    ],
    ..BASE
};

static GROUP_MEMBERSHIP: KindRules = KindRules {
    noun: "group membership",
    required: &["group_id", "user_id", "status"],
    statuses: &["accepted", "deleted"],
    refs: &[("group_id", IdSpace::Group), ("user_id", IdSpace::User)],
    ..BASE
};

static TAG_MEMBERSHIP: KindRules = KindRules {
    noun: "differentiation tag membership",
    required: &["tag_id", "user_id"],
    statuses: &["accepted", "deleted"],
    refs: &[("tag_id", IdSpace::Tag), ("user_id", IdSpace::User)],
    ..BASE
};

static INST_TAG_CATEGORY: KindRules = KindRules {
    noun: "institutional tag category",
    id: Some(("category_id", IdSpace::InstitutionalTagCategory)),
    required: &["category_id", "name"],
    ..BASE
};

static INST_TAG: KindRules = KindRules {
    noun: "institutional tag",
    id: Some(("institutional_tag_id", IdSpace::InstitutionalTag)),
    required: &["institutional_tag_id", "category_id", "name"],
    refs: &[("category_id", IdSpace::InstitutionalTagCategory)],
    ..BASE
};

static INST_TAG_ASSOCIATION: KindRules = KindRules {
    noun: "institutional tag association",
    required: &["institutional_tag_id", "user_id"],
    refs: &[
        ("institutional_tag_id", IdSpace::InstitutionalTag),
        ("user_id", IdSpace::User),
    ],
    ..BASE
};

static GRADE_PUBLISHING: KindRules = KindRules {
    noun: "grade publishing result",
    required: &["enrollment_id", "grade_publishing_status"],
    statuses: &[],
    integers: &["enrollment_id"],
    ..BASE
};

static USER_OBSERVER: KindRules = KindRules {
    noun: "user observer",
    required: &["observer_id", "student_id", "status"],
    status_exact: true,
    refs: &[
        ("observer_id", IdSpace::User),
        ("student_id", IdSpace::User),
    ],
    ..BASE
};

/// The kinds whose files define ids of `space` (a reference is only checked when the batch has
/// at least one such file).
pub(crate) fn defining_kinds(space: IdSpace) -> &'static [SisKind] {
    match space {
        IdSpace::Account => &[SisKind::Account],
        IdSpace::Term => &[SisKind::Term],
        IdSpace::AbstractCourse => &[SisKind::AbstractCourse],
        IdSpace::Course => &[SisKind::Course],
        IdSpace::Section => &[SisKind::Section],
        IdSpace::User => &[SisKind::User, SisKind::Login],
        IdSpace::GroupCategory => &[SisKind::GroupCategory],
        IdSpace::Group => &[SisKind::Group],
        IdSpace::TagSet => &[SisKind::DifferentiationTagSet],
        IdSpace::Tag => &[SisKind::DifferentiationTag],
        IdSpace::InstitutionalTagCategory => &[SisKind::InstitutionalTagCategory],
        IdSpace::InstitutionalTag => &[SisKind::InstitutionalTag],
        IdSpace::LoginId => &[SisKind::User, SisKind::Login],
    }
}

/// The columns Canvas's detection looks for, per kind, for naming the closest kind of an
/// unrecognised header (mirrors `SisKind::detect`; negative conditions left out).
pub(crate) fn signature(kind: SisKind) -> &'static [&'static str] {
    match kind {
        SisKind::ChangeSisId => &["old_id"],
        SisKind::Account => &["account_id", "parent_account_id"],
        SisKind::Term => &["term_id", "name"],
        SisKind::AbstractCourse => &["abstract_course_id", "short_name"],
        SisKind::Course => &["course_id", "short_name"],
        SisKind::Section => &["section_id", "name"],
        SisKind::Xlist => &["xlist_course_id", "section_id"],
        SisKind::User => &["user_id", "login_id"],
        SisKind::Login => &["user_id", "login_id", "existing_user_id"],
        SisKind::Enrollment => &["course_id", "user_id"],
        SisKind::Admin => &["account_id", "user_id"],
        SisKind::GroupCategory => &["group_category_id", "category_name"],
        SisKind::DifferentiationTagSet => &["tag_set_id", "set_name"],
        SisKind::Group => &["group_id", "name"],
        SisKind::DifferentiationTag => &["tag_id", "name"],
        SisKind::GroupMembership => &["group_id", "user_id"],
        SisKind::DifferentiationTagMembership => &["tag_id", "user_id"],
        SisKind::InstitutionalTagCategory => &["category_id", "name"],
        SisKind::InstitutionalTag => &["institutional_tag_id", "category_id", "name"],
        SisKind::InstitutionalTagAssociation => &["institutional_tag_id", "user_id"],
        SisKind::GradePublishingResults => &["enrollment_id", "grade_publishing_status"],
        SisKind::UserObserver => &["observer_id", "student_id"],
    }
}

/// Every column the rules of `kind` read (for deciding whether a column Canvas would miss
/// matters).
pub(crate) fn known_column(kind: SisKind, column: &str) -> bool {
    let r = rules(kind);
    r.id.is_some_and(|(c, _)| c == column)
        || r.required.contains(&column)
        || r.required_columns.contains(&column)
        || r.one_of.iter().any(|g| g.contains(&column))
        || r.dates.contains(&column)
        || r.integers.contains(&column)
        || r.values.iter().any(|(c, _)| *c == column)
        || r.refs.iter().any(|(c, _)| *c == column)
        || signature(kind).contains(&column)
        || (column == "status" && !r.statuses.is_empty())
}

/// Whether the rules of any kind read `column`.
pub(crate) fn known_anywhere(column: &str) -> bool {
    SisKind::ALL.into_iter().any(|k| known_column(k, column))
}

/// The length of the longest column name the rules know. Messages never quote header text
/// longer than this: no Canvas column is longer, and a long unknown name may be anything a
/// mistaken or hostile file holds (a token, a key).
pub(crate) fn longest_known_column() -> usize {
    SisKind::ALL
        .into_iter()
        .flat_map(|k| {
            let r = rules(k);
            r.id.iter()
                .map(|(c, _)| *c)
                .chain(r.required.iter().copied())
                .chain(r.required_columns.iter().copied())
                .chain(r.one_of.iter().flat_map(|g| g.iter().copied()))
                .chain(r.dates.iter().copied())
                .chain(r.integers.iter().copied())
                .chain(r.values.iter().map(|(c, _)| *c))
                .chain(r.refs.iter().map(|(c, _)| *c))
                .chain(signature(k).iter().copied())
                .map(str::len)
                .max()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_is_detected_as_its_kind_or_an_earlier_one() {
        for kind in SisKind::ALL {
            let detected = SisKind::detect(signature(kind), true);
            assert!(
                detected.is_some_and(|d| d <= kind),
                "{kind:?} -> {detected:?}"
            );
        }
    }

    #[test]
    fn required_columns_of_each_kind_make_a_header_detected_as_that_kind() {
        for kind in SisKind::ALL {
            let r = rules(kind);
            let mut header: Vec<&str> = r.required.to_vec();
            header.extend(r.required_columns);
            header.extend(r.one_of.iter().map(|g| g[0]));
            assert_eq!(SisKind::detect(&header, true), Some(kind), "{header:?}");
        }
    }
}
