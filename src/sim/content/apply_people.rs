//! Applying checked rows to an account: users and logins (pseudonyms), admins, groups and
//! their memberships, user observers. Enrollments are in `apply_enrollment`.
//!
//! Users and logins are pseudonyms in the users table, keyed by their SIS id; each points at a
//! Canvas user (`refs.user`), which several logins can share. Join objects are keyed by the
//! Canvas ids they join, so a row naming the same section by another path still finds them.

use std::collections::BTreeMap;

use crate::sis::SisKind;

use super::apply::{Applied, ApplyCtx, fields_of, is_noop_delete, status_of};
use super::parse::Row;
use super::store::{AccountContent, UndoEntry, Upsert};

/// The Canvas user behind a pseudonym SIS id.
fn user_of(c: &AccountContent, sis: &str) -> Option<u64> {
    c.get(SisKind::User, sis)
        .filter(|p| !p.is_deleted())
        .and_then(|p| p.refs.get("user").copied())
}

/// The pseudonym key (SIS id) whose `integration_id` is this one.
fn pseudonym_by_integration_id(c: &AccountContent, integration: &str) -> Option<String> {
    c.entities(SisKind::User)
        .find(|(_, p)| p.field("integration_id") == Some(integration))
        .map(|(k, _)| k.clone())
}

fn upsert_join(
    c: &mut AccountContent,
    kind: SisKind,
    key: &str,
    state: &str,
    fields: BTreeMap<String, String>,
    refs: BTreeMap<String, u64>,
    ctx: &mut ApplyCtx<'_>,
) {
    let change = Upsert {
        sis_id: None,
        state: state.to_owned(),
        fields,
        refs,
    };
    c.upsert(kind, key, change, ctx.batch_id, ctx.undo);
}

/// The pseudonym, other than `sis`, that already holds this login id.
fn login_holder(c: &AccountContent, login: &str, sis: &str) -> Option<String> {
    c.entities(SisKind::User)
        .find(|(k, p)| {
            k.as_str() != sis
                && !p.is_deleted()
                && p.field("login_id")
                    .is_some_and(|l| l.eq_ignore_ascii_case(login))
        })
        .map(|(k, _)| k.clone())
}

pub(crate) fn apply_user(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let sis = row.get("user_id").unwrap_or_default();
    let login = row.get("login_id").unwrap_or_default();
    let state = status_of(SisKind::User, row);
    if let Some(holder) = login_holder(c, login, sis) {
        claim_login(c, &holder, sis, ctx.update_sis_id_if_login_claimed)?;
    }
    if is_noop_delete(c, SisKind::User, sis, state) {
        return Ok(());
    }
    let existing = c
        .get(SisKind::User, sis)
        .and_then(|p| p.refs.get("user").copied());
    let user = existing.unwrap_or_else(|| c.alloc_id());
    let mut fields = fields_of(row, &["user_id", "status"]);
    let named = ["full_name", "first_name", "last_name"]
        .iter()
        .any(|k| fields.contains_key(*k));
    if existing.is_none() && !named {
        fields.insert("full_name".into(), login.to_owned());
    }
    let change = Upsert {
        sis_id: Some(sis.to_owned()),
        state: state.to_owned(),
        fields,
        refs: [("user".to_owned(), user)].into(),
    };
    c.upsert(SisKind::User, sis, change, ctx.batch_id, ctx.undo);
    if existing.is_none() && row.get("email").is_some() {
        ctx.undo.entries.push(UndoEntry {
            kind: None,
            key: sis.to_owned(),
            class: "CommunicationChannel".into(),
            previous_state: None,
            new_state: "unconfirmed".into(),
            batch_mode: false,
        });
    }
    if state == "deleted" && !has_active_login(c, user) {
        delete_enrollments_of(c, user, ctx);
    }
    Ok(())
}

/// Another pseudonym holds the login id: with `update_sis_id_if_login_claimed` (and the SIS id
/// free) that pseudonym takes the new SIS id; otherwise the row is refused.
fn claim_login(c: &mut AccountContent, holder: &str, sis: &str, update: bool) -> Applied {
    if update && c.get(SisKind::User, sis).is_none() {
        let table = c.table_mut(SisKind::User);
        if let Some(mut p) = table.remove(holder) {
            p.sis_id = Some(sis.to_owned());
            table.insert(sis.to_owned(), p);
        }
        return Ok(());
    }
    Err(format!(
        "An existing Canvas user with the SIS ID {holder} has already claimed {sis}'s user_id requested login information, skipping"
    ))
}

fn has_active_login(c: &AccountContent, user: u64) -> bool {
    c.entities(SisKind::User)
        .any(|(_, p)| !p.is_deleted() && p.refs.get("user") == Some(&user))
}

/// When a user's last login is deleted, Canvas deletes the user's enrollments too.
fn delete_enrollments_of(c: &mut AccountContent, user: u64, ctx: &mut ApplyCtx<'_>) {
    let keys: Vec<String> = c
        .entities(SisKind::Enrollment)
        .filter(|(_, e)| !e.is_deleted() && e.refs.get("user") == Some(&user))
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

pub(crate) fn apply_login(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let sis = row.get("user_id").unwrap_or_default();
    let user = existing_user(c, row)
        .ok_or_else(|| format!("Could not find the existing user for login with SIS ID {sis}"))?;
    if let Some(p) = c.get(SisKind::User, sis)
        && p.refs.get("user") != Some(&user)
    {
        return Err(format!(
            "An existing Canvas user with the SIS ID {sis} has already claimed {sis}'s user_id requested login information, skipping"
        ));
    }
    let login = row.get("login_id").unwrap_or_default();
    if let Some(holder) = login_holder(c, login, sis) {
        return Err(format!(
            "An existing Canvas user with the SIS ID {holder} has already claimed {sis}'s user_id requested login information, skipping"
        ));
    }
    let fields = fields_of(row, &["user_id", "status"]);
    let change = Upsert {
        sis_id: Some(sis.to_owned()),
        state: "active".to_owned(), // logins.csv forces the status to active
        fields,
        refs: [("user".to_owned(), user)].into(),
    };
    c.upsert(SisKind::User, sis, change, ctx.batch_id, ctx.undo);
    Ok(())
}

/// The Canvas user a logins row adds a login to.
fn existing_user(c: &AccountContent, row: &Row) -> Option<u64> {
    if let Some(sis) = row.get("existing_user_id") {
        return user_of(c, sis);
    }
    if let Some(integration) = row.get("existing_integration_id") {
        return pseudonym_by_integration_id(c, integration).and_then(|k| user_of(c, &k));
    }
    let id: u64 = row.get("existing_canvas_user_id")?.parse().ok()?;
    c.entities(SisKind::User)
        .any(|(_, p)| p.refs.get("user") == Some(&id))
        .then_some(id)
}

pub(crate) fn apply_admin(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let user_sis = row.get("user_id").unwrap_or_default();
    let user = user_of(c, user_sis)
        .ok_or_else(|| format!("Invalid or unknown user_id '{user_sis}' for admin"))?;
    let account = match row.get("account_id") {
        None => c.root_account_id,
        Some(a) => c
            .get(SisKind::Account, a)
            .filter(|a| !a.is_deleted())
            .map(|a| a.id)
            .ok_or_else(|| format!("Invalid account_id given for admin {user_sis}"))?,
    };
    let role = row.get("role_id").map_or_else(
        || row.get("role").unwrap_or_default().to_owned(),
        |id| format!("role_id:{id}"),
    );
    let key = format!("{account}:{user}:{role}");
    let state = status_of(SisKind::Admin, row);
    if is_noop_delete(c, SisKind::Admin, &key, state) {
        return Ok(());
    }
    let refs = [("account".to_owned(), account), ("user".to_owned(), user)].into();
    upsert_join(
        c,
        SisKind::Admin,
        &key,
        state,
        fields_of(row, &["status"]),
        refs,
        ctx,
    );
    Ok(())
}

/// Resolves an optional `account_id`/`course_id` context column.
fn context_ref(
    c: &AccountContent,
    row: &Row,
    col: &str,
    kind: SisKind,
    err: impl FnOnce(&str) -> String,
) -> Result<Option<u64>, String> {
    match row.get(col) {
        None => Ok(None),
        Some(v) => c
            .get(kind, v)
            .filter(|e| !e.is_deleted())
            .map(|e| Some(e.id))
            .ok_or_else(|| err(v)),
    }
}

pub(crate) fn apply_group_category(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    let id = row.get("group_category_id").unwrap_or_default();
    let state = status_of(SisKind::GroupCategory, row);
    if is_noop_delete(c, SisKind::GroupCategory, id, state) {
        return Ok(());
    }
    let account = context_ref(c, row, "account_id", SisKind::Account, |a| {
        format!("Account with sis id {a} didn't exist for group category {id}")
    })?;
    let course = context_ref(c, row, "course_id", SisKind::Course, |cs| {
        format!("Course with sis id {cs} didn't exist for group category {id}")
    })?;
    let refs = context_refs(c, account, course);
    upsert_sis_entity(c, SisKind::GroupCategory, id, state, row, refs, ctx);
    Ok(())
}

fn context_refs(
    c: &AccountContent,
    account: Option<u64>,
    course: Option<u64>,
) -> BTreeMap<String, u64> {
    match course {
        Some(course) => [("course".to_owned(), course)].into(),
        None => [("account".to_owned(), account.unwrap_or(c.root_account_id))].into(),
    }
}

fn upsert_sis_entity(
    c: &mut AccountContent,
    kind: SisKind,
    id: &str,
    state: &str,
    row: &Row,
    refs: BTreeMap<String, u64>,
    ctx: &mut ApplyCtx<'_>,
) {
    let change = Upsert {
        sis_id: Some(id.to_owned()),
        state: state.to_owned(),
        fields: fields_of(row, &["status"]),
        refs,
    };
    c.upsert(kind, id, change, ctx.batch_id, ctx.undo);
}

pub(crate) fn apply_group(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = row.get("group_id").unwrap_or_default();
    let state = status_of(SisKind::Group, row);
    if is_noop_delete(c, SisKind::Group, id, state) {
        return Ok(());
    }
    let category = context_ref(c, row, "group_category_id", SisKind::GroupCategory, |g| {
        format!("Group category {g} didn't exist for group {id}")
    })?;
    let account = context_ref(c, row, "account_id", SisKind::Account, |a| {
        format!("Parent account didn't exist for {a}")
    })?;
    let course = context_ref(c, row, "course_id", SisKind::Course, |cs| {
        format!("Course with sis id {cs} didn't exist for group {id}")
    })?;
    let mut refs = context_refs(c, account, course);
    if let Some(gc) = category {
        refs.insert("group_category".into(), gc);
    }
    upsert_sis_entity(c, SisKind::Group, id, state, row, refs, ctx);
    Ok(())
}

pub(crate) fn apply_group_membership(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    let group_sis = row.get("group_id").unwrap_or_default();
    let user_sis = row.get("user_id").unwrap_or_default();
    let group = c
        .get(SisKind::Group, group_sis)
        .filter(|g| !g.is_deleted())
        .map(|g| g.id)
        .ok_or_else(|| format!("Group {group_sis} didn't exist for group user"))?;
    let user = user_of(c, user_sis)
        .ok_or_else(|| format!("User {user_sis} didn't exist for group user"))?;
    let key = format!("{group}:{user}");
    let state = status_of(SisKind::GroupMembership, row);
    if is_noop_delete(c, SisKind::GroupMembership, &key, state) {
        return Ok(());
    }
    let refs = [("group".to_owned(), group), ("user".to_owned(), user)].into();
    upsert_join(
        c,
        SisKind::GroupMembership,
        &key,
        state,
        fields_of(row, &["status"]),
        refs,
        ctx,
    );
    Ok(())
}

pub(crate) fn apply_user_observer(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    let observer_sis = row.get("observer_id").unwrap_or_default();
    let student_sis = row.get("student_id").unwrap_or_default();
    let observer = user_of(c, observer_sis)
        .ok_or_else(|| format!("An observer referenced a non-existent user {observer_sis}"))?;
    let student = user_of(c, student_sis)
        .ok_or_else(|| format!("A student referenced a non-existent user {student_sis}"))?;
    if observer == student {
        return Err(format!("Can't observe yourself user {observer_sis}"));
    }
    let key = format!("{observer}:{student}");
    let state = status_of(SisKind::UserObserver, row);
    if is_noop_delete(c, SisKind::UserObserver, &key, state) {
        return Ok(());
    }
    let refs = [
        ("observer".to_owned(), observer),
        ("student".to_owned(), student),
    ]
    .into();
    upsert_join(
        c,
        SisKind::UserObserver,
        &key,
        state,
        fields_of(row, &["status"]),
        refs,
        ctx,
    );
    Ok(())
}
