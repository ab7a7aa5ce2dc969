//! Applying group rows: group categories, groups and group memberships, and their
//! non-collaborative twins, differentiation tag sets, tags and tag memberships. Canvas runs both
//! through the same importers (`lib/sis/group_category_importer.rb`, `group_importer.rb`,
//! `group_membership_importer.rb`), so one set of functions serves both here.
//!
//! A category's or group's context is an account or a course: its `refs` hold `account` or
//! `course` (Canvas ids). Canvas finds groups, tags and users by SIS id whatever their state
//! (`all_groups`, `pseudonyms`), so deleted ones stay addressable; accounts, courses and (in a
//! context) categories must be active.
//!
//! Differentiation tags live in courses and need the account setting
//! `allow_assign_to_differentiation_tags` (`ApplyCtx::differentiation_tags`, one switch for the
//! root account and its sub-accounts).

use std::collections::BTreeMap;

use canvas_sis_rules::sis::SisKind;

use super::apply::{Applied, ApplyCtx, fields_of};
use super::parse::Row;
use super::rows::{CategoryKind, GROUP_CATEGORY, TAG_SET};
use super::store::{AccountContent, Entity, Upsert};

/// Where a category or a group lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Account(u64),
    Course(u64),
}

impl Context {
    fn of(e: &Entity, root: u64) -> Context {
        match e.refs.get("course") {
            Some(course) => Context::Course(*course),
            None => Context::Account(e.refs.get("account").copied().unwrap_or(root)),
        }
    }

    fn is_course(self) -> bool {
        matches!(self, Context::Course(_))
    }
}

/// The tables and message words of the collaborative or the non-collaborative side.
struct Side {
    category: SisKind,
    group: SisKind,
    membership: SisKind,
    /// What a membership message calls the group: "group" or "differentiation tag".
    noun: &'static str,
}

const GROUPS: Side = Side {
    category: SisKind::GroupCategory,
    group: SisKind::Group,
    membership: SisKind::GroupMembership,
    noun: "group",
};

const TAGS: Side = Side {
    category: SisKind::DifferentiationTagSet,
    group: SisKind::DifferentiationTag,
    membership: SisKind::DifferentiationTagMembership,
    noun: "differentiation tag",
};

fn active_id(c: &AccountContent, kind: SisKind, sis: &str) -> Option<u64> {
    c.get(kind, sis).filter(|e| !e.is_deleted()).map(|e| e.id)
}

/// The account a course belongs to (Canvas id).
fn course_account(c: &AccountContent, course: u64) -> u64 {
    c.entities(SisKind::Course)
        .find(|(_, e)| e.id == course)
        .and_then(|(_, e)| e.refs.get("account").copied())
        .unwrap_or(c.root_account_id)
}

/// Canvas refuses differentiation tag rows in a course whose account lacks the setting.
fn tags_enabled(c: &AccountContent, ctx: &ApplyCtx<'_>, course: u64) -> Applied {
    if ctx.differentiation_tags {
        return Ok(());
    }
    Err(format!(
        "Differentiation Tags are not enabled for Account {}.",
        course_account(c, course)
    ))
}

/// Upserts an object keyed by its SIS id into `context`, replacing its previous context.
fn upsert_in_context(
    c: &mut AccountContent,
    kind: SisKind,
    id: &str,
    state: &str,
    row: &Row,
    context: Context,
    ctx: &mut ApplyCtx<'_>,
) {
    let change = Upsert {
        sis_id: Some(id.to_owned()),
        state: state.to_owned(),
        fields: fields_of(row, &["status"]),
        refs: BTreeMap::new(),
    };
    c.upsert(kind, id, change, ctx.batch_id, ctx.undo);
    if let Some(e) = c.get_mut(kind, id) {
        e.refs.remove("account");
        e.refs.remove("course");
        match context {
            Context::Account(a) => e.refs.insert("account".into(), a),
            Context::Course(course) => e.refs.insert("course".into(), course),
        };
    }
}

/// A category's status: `/active/i` is tested before `/deleted/i`, as Canvas's `case` does.
fn category_state(row: &Row) -> &'static str {
    let status = row.get("status").unwrap_or_default().to_lowercase();
    if status.contains("active") {
        "active"
    } else {
        "deleted"
    }
}

/// Canvas's `find_context` for a group category: one of account or course, else the root.
fn group_category_context(c: &AccountContent, row: &Row, id: &str) -> Result<Context, String> {
    let noun = GROUP_CATEGORY.noun;
    match (row.get("account_id"), row.get("course_id")) {
        (Some(_), Some(_)) => Err(format!(
            "Only one context is allowed and both course_id and account_id where provided for {noun} {id}."
        )),
        (Some(a), None) => active_id(c, SisKind::Account, a)
            .map(Context::Account)
            .ok_or_else(|| format!("Account with id \"{a}\" didn't exist for {noun} {id}")),
        (None, Some(cs)) => active_id(c, SisKind::Course, cs)
            .map(Context::Course)
            .ok_or_else(|| format!("Course with id \"{cs}\" didn't exist for {noun} {id}")),
        (None, None) => Ok(Context::Account(c.root_account_id)),
    }
}

/// A tag set's context: its course, which must exist and allow differentiation tags.
fn tag_set_context(
    c: &AccountContent,
    row: &Row,
    id: &str,
    ctx: &ApplyCtx<'_>,
) -> Result<Context, String> {
    let noun = TAG_SET.noun;
    let cs = row
        .get("course_id")
        .ok_or_else(|| format!("No course_id given for {noun} {id}"))?;
    let course = active_id(c, SisKind::Course, cs)
        .ok_or_else(|| format!("Course with id \"{cs}\" didn't exist for {noun} {id}"))?;
    tags_enabled(c, ctx, course)?;
    Ok(Context::Course(course))
}

/// Canvas's `check_context_movement`: a category with active groups stays where it is.
fn check_category_move(
    c: &AccountContent,
    side: &Side,
    k: &CategoryKind,
    id: &str,
    to: Context,
) -> Applied {
    let Some(category) = c.get(side.category, id) else {
        return Ok(());
    };
    let has_groups = c
        .entities(side.group)
        .any(|(_, g)| !g.is_deleted() && g.refs.get("group_category") == Some(&category.id));
    if has_groups && Context::of(category, c.root_account_id) != to {
        let items = if side.group == SisKind::Group {
            "groups"
        } else {
            "tags"
        };
        return Err(format!(
            "Cannot move {} {id} because it has {items} in it.",
            k.noun
        ));
    }
    Ok(())
}

/// GroupCategory's name validation: no other active category of the context has the new name.
fn check_category_name(c: &AccountContent, id: &str, name: &str, to: Context) -> Applied {
    let kind = SisKind::GroupCategory;
    if c.get(kind, id).and_then(|e| e.field("category_name")) == Some(name) {
        return Ok(()); // Canvas validates the name only when it changes
    }
    let taken = c.entities(kind).any(|(k, e)| {
        k != id
            && !e.is_deleted()
            && e.field("category_name") == Some(name)
            && Context::of(e, c.root_account_id) == to
    });
    if taken {
        return Err(format!(
            "A group category did not pass validation (group category: {id}, error: Name {name} is already in use.)"
        ));
    }
    Ok(())
}

pub(crate) fn apply_group_category(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    let id = row.get("group_category_id").unwrap_or_default();
    let to = group_category_context(c, row, id)?;
    check_category_move(c, &GROUPS, &GROUP_CATEGORY, id, to)?;
    check_category_name(c, id, row.get("category_name").unwrap_or_default(), to)?;
    let state = category_state(row);
    upsert_in_context(c, SisKind::GroupCategory, id, state, row, to, ctx);
    Ok(())
}

pub(crate) fn apply_tag_set(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("tag_set_id").unwrap_or_default();
    let to = tag_set_context(c, row, id, ctx)?;
    check_category_move(c, &TAGS, &TAG_SET, id, to)?;
    let state = category_state(row);
    upsert_in_context(c, SisKind::DifferentiationTagSet, id, state, row, to, ctx);
    Ok(())
}

/// Canvas's `find_category`: in the row's context when it names one (the category must be
/// active there), else any active category of the root account with that SIS id.
fn find_category<'a>(
    c: &'a AccountContent,
    side: &Side,
    sis: &str,
    context: Option<(Context, &str)>,
    item: &str,
) -> Result<&'a Entity, String> {
    let display = if side.group == SisKind::Group {
        "Group Category"
    } else {
        "Differentiation Tag Set"
    };
    let noun = side.noun;
    let found = c.get(side.category, sis).filter(|e| !e.is_deleted());
    match context {
        Some((context, context_sis)) => found
            .filter(|e| Context::of(e, c.root_account_id) == context)
            .ok_or_else(|| {
                let class = if context.is_course() {
                    "course"
                } else {
                    "account"
                };
                format!("{display} {sis} didn't exist in {class} {context_sis} for {noun} {item}.")
            }),
        None => found.ok_or_else(|| format!("{display} {sis} didn't exist for {noun} {item}.")),
    }
}

/// The context a group row names by `account_id` or `course_id`, if any.
fn group_row_context<'r>(
    c: &AccountContent,
    row: &'r Row,
    id: &str,
) -> Result<Option<(Context, &'r str)>, String> {
    match (row.get("account_id"), row.get("course_id")) {
        (Some(_), Some(_)) => Err(format!(
            "Only one context is allowed and both course_id and account_id where provided for group {id}."
        )),
        (Some(a), None) => active_id(c, SisKind::Account, a)
            .map(|a_id| Some((Context::Account(a_id), a)))
            .ok_or_else(|| format!("Account with sis id {a} didn't exist for group {id}.")),
        (None, Some(cs)) => course_context(c, cs, "group", id).map(Some),
        (None, None) => Ok(None),
    }
}

fn course_context<'r>(
    c: &AccountContent,
    cs: &'r str,
    noun: &str,
    id: &str,
) -> Result<(Context, &'r str), String> {
    active_id(c, SisKind::Course, cs)
        .map(|course| (Context::Course(course), cs))
        .ok_or_else(|| format!("Course with sis id {cs} didn't exist for {noun} {id}."))
}

/// Canvas's `can_change_context?`: a group with members keeps its course; a tag with members
/// keeps its context.
fn check_group_move(c: &AccountContent, side: &Side, id: &str, to: Context) -> Applied {
    let Some(group) = c.get(side.group, id) else {
        return Ok(());
    };
    let from = Context::of(group, c.root_account_id);
    let has_members = c
        .entities(side.membership)
        .any(|(_, m)| !m.is_deleted() && m.refs.get("group") == Some(&group.id));
    let courses_involved = from.is_course() || to.is_course() || side.group != SisKind::Group;
    if has_members && from != to && courses_involved {
        let kind = side.group.importer_name();
        return Err(format!(
            "Cannot move {} {id} because it has {kind}_memberships.",
            side.noun
        ));
    }
    Ok(())
}

/// A group's state: only the exact status `deleted` deletes it; `available`, `closed`,
/// `completed` (and `Deleted`) make it available, as Canvas's importer does.
fn group_state(row: &Row) -> &'static str {
    if row.get("status") == Some("deleted") {
        "deleted"
    } else {
        "available"
    }
}

/// Upserts a group or tag into its context and category.
fn upsert_group(
    c: &mut AccountContent,
    side: &Side,
    id: &str,
    row: &Row,
    to: Context,
    category: Option<u64>,
    ctx: &mut ApplyCtx<'_>,
) {
    upsert_in_context(c, side.group, id, group_state(row), row, to, ctx);
    if let (Some(category), Some(e)) = (category, c.get_mut(side.group, id)) {
        e.refs.insert("group_category".into(), category);
    }
}

pub(crate) fn apply_group(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("group_id").unwrap_or_default();
    let named = group_row_context(c, row, id)?;
    let category = match row.get("group_category_id") {
        Some(sis) => Some(find_category(c, &GROUPS, sis, named, id)?),
        None => None,
    };
    let existing = c.get(SisKind::Group, id);
    let to = category
        .map(|gc| Context::of(gc, c.root_account_id))
        .or(named.map(|(context, _)| context))
        .or(existing.map(|g| Context::of(g, c.root_account_id)))
        .unwrap_or(Context::Account(c.root_account_id));
    let category = category.map(|gc| gc.id);
    check_group_move(c, &GROUPS, id, to)?;
    upsert_group(c, &GROUPS, id, row, to, category, ctx);
    Ok(())
}

pub(crate) fn apply_tag(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("tag_id").unwrap_or_default();
    let named = match row.get("course_id") {
        Some(cs) => Some(course_context(c, cs, TAGS.noun, id)?),
        None => None,
    };
    if let Some((Context::Course(course), _)) = named {
        tags_enabled(c, ctx, course)?;
    }
    let tag_set = match row.get("tag_set_id") {
        Some(sis) => Some(find_category(c, &TAGS, sis, named, id)?),
        None => None,
    };
    let from_set = tag_set.map(|ts| Context::of(ts, c.root_account_id));
    if let Some(Context::Course(course)) = from_set {
        tags_enabled(c, ctx, course)?;
    }
    let existing = c.get(SisKind::DifferentiationTag, id);
    let to = from_set
        .or(named.map(|(context, _)| context))
        .or(existing.map(|t| Context::of(t, c.root_account_id)))
        .ok_or_else(|| {
            format!(
                "No tag_set_id or course_id given for differentiation tag {id}. At least one is required for new tags."
            )
        })?;
    if let Context::Course(course) = to {
        tags_enabled(c, ctx, course)?;
    }
    let tag_set = tag_set.map(|ts| ts.id);
    check_group_move(c, &TAGS, id, to)?;
    upsert_group(c, &TAGS, id, row, to, tag_set, ctx);
    Ok(())
}

/// Whether the user has a (not deleted) enrollment in the course: Canvas's `all_real_users`.
fn enrolled(c: &AccountContent, course: u64, user: u64) -> bool {
    c.entities(SisKind::Enrollment).any(|(_, e)| {
        !e.is_deleted()
            && e.refs.get("course") == Some(&course)
            && e.refs.get("user") == Some(&user)
    })
}

fn apply_membership(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
    side: &Side,
) -> Applied {
    let noun = side.noun;
    let id_col = if side.group == SisKind::Group {
        "group_id"
    } else {
        "tag_id"
    };
    let group_sis = row.get(id_col).unwrap_or_default();
    let user_sis = row.get("user_id").unwrap_or_default();
    // Canvas finds the login among all of the account's pseudonyms, deleted ones included.
    let user = c
        .get(SisKind::User, user_sis)
        .and_then(|p| p.refs.get("user").copied())
        .ok_or_else(|| format!("User {user_sis} didn't exist for {noun} user"))?;
    let group = c.get(side.group, group_sis).ok_or_else(|| {
        let display = if side.group == SisKind::Group {
            "Group"
        } else {
            "Differentiation tag"
        };
        format!("{display} {group_sis} didn't exist for {noun} user")
    })?;
    let group_id = group.id;
    if let Context::Course(course) = Context::of(group, c.root_account_id) {
        if !enrolled(c, course, user) {
            return Err(format!(
                "User {user_sis} doesn't have an enrollment in the course of {noun} {group_sis}."
            ));
        }
        if side.group != SisKind::Group {
            tags_enabled(c, ctx, course)?;
        }
    }
    let status = row.get("status").unwrap_or_default().to_lowercase();
    let state = if status.contains("accepted") {
        "accepted"
    } else {
        "deleted"
    };
    let change = Upsert {
        sis_id: None,
        state: state.to_owned(),
        fields: fields_of(row, &["status"]),
        refs: [("group".to_owned(), group_id), ("user".to_owned(), user)].into(),
    };
    let key = format!("{group_id}:{user}");
    c.upsert(side.membership, &key, change, ctx.batch_id, ctx.undo);
    Ok(())
}

pub(crate) fn apply_group_membership(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    apply_membership(c, row, ctx, &GROUPS)
}

pub(crate) fn apply_tag_membership(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    apply_membership(c, row, ctx, &TAGS)
}
