//! Applying checked rows to an account: admins and user observers. Users and logins are in
//! `apply_users`, enrollments in `apply_enrollment`, groups and their memberships in
//! `apply_groups`.
//!
//! Users and logins are pseudonyms in the users table, keyed by their SIS id; each points at a
//! Canvas user (`refs.user`), which several logins can share. Join objects are keyed by the
//! Canvas ids they join, so a row naming the same section by another path still finds them.

use std::collections::BTreeMap;

use canvas_sis_rules::sis::SisKind;

use super::apply::{Applied, ApplyCtx, fields_of, is_noop_delete, status_of};
use super::parse::Row;
use super::store::{AccountContent, Upsert};

/// The built-in account role every Canvas account has.
const ACCOUNT_ADMIN_ROLE: &str = "AccountAdmin";

/// The Canvas user behind a pseudonym SIS id.
fn user_of(c: &AccountContent, sis: &str) -> Option<u64> {
    c.get(SisKind::User, sis)
        .filter(|p| !p.is_deleted())
        .and_then(|p| p.refs.get("user").copied())
}

/// The pseudonym key (SIS id) whose `integration_id` is this one.
pub(crate) fn pseudonym_by_integration_id(c: &AccountContent, integration: &str) -> Option<String> {
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

/// `SIS::AdminImporter`: the account (the root one when blank, else a live sub-account), then
/// the role, then the user. Deleting an admin Canvas does not have changes nothing, silently.
pub(crate) fn apply_admin(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let user_sis = row.get("user_id").unwrap_or_default();
    let account = match row.get("account_id") {
        None => c.root_account_id,
        Some(a) => c
            .get(SisKind::Account, a)
            .filter(|a| !a.is_deleted())
            .map(|a| a.id)
            .ok_or_else(|| "Invalid account_id given for admin".to_owned())?,
    };
    let role = admin_role(row)?;
    let user = user_of(c, user_sis)
        .ok_or_else(|| format!("Invalid or unknown user_id '{user_sis}' for admin"))?;
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

/// The account role an admins row names: by id, else by name. The simulated account has the
/// built-in `AccountAdmin` role and no custom ones; the ids of the real account's roles are not
/// known here, so any whole number is taken as one of them.
fn admin_role(row: &Row) -> Result<String, String> {
    let by_id = row
        .get("role_id")
        .filter(|id| id.parse::<u64>().is_ok())
        .map(|id| format!("role_id:{id}"));
    let by_name = row
        .get("role")
        .filter(|r| *r == ACCOUNT_ADMIN_ROLE)
        .map(str::to_owned);
    by_id.or(by_name).ok_or_else(|| match row.get("role") {
        Some(role) => format!("Invalid role '{role}' for admin"),
        None => format!(
            "Invalid role_id '{}' for admin",
            row.get("role_id").unwrap_or_default()
        ),
    })
}

/// `SIS::UserObserverImporter`: both users must have a live login; deleting a link Canvas does
/// not have (or no longer has) is reported.
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
        return Err(format!("Can't observe yourself user {student_sis}"));
    }
    let key = format!("{observer}:{student}");
    let state = status_of(SisKind::UserObserver, row);
    let linked = c
        .get(SisKind::UserObserver, &key)
        .is_some_and(|l| !l.is_deleted());
    if state == "deleted" && !linked {
        return Err(format!(
            "Can't delete a non-existent observer for observer: {observer_sis}, student: {student_sis}"
        ));
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
