//! Applying users.csv and logins.csv rows, as `SIS::UserImporter` does (logins.csv is the same
//! importer with `login_only`).
//!
//! A row's pseudonym is found by its SIS id (in any state), else by its login id among the live
//! (not deleted) pseudonyms. Another user's claim on the login id or the integration id refuses
//! the row; a deleted user stays in the table, deleted, and can be brought back. The checks run
//! in Canvas's order so that a row breaking several rules gets Canvas's message.

use canvas_sis_rules::sis::SisKind;

use super::apply::{Applied, ApplyCtx, fields_of};
use super::apply_people::pseudonym_by_integration_id;
use super::parse::Row;
use super::store::{AccountContent, UndoEntry, Upsert};

/// Canvas's `Pseudonym::MAX_UNIQUE_ID_LENGTH`, in characters.
const MAX_LOGIN_LENGTH: usize = 100;

/// Authentication providers (by type) of a fresh root account: only Canvas's own login.
const KNOWN_AUTH_PROVIDERS: [&str; 1] = ["canvas"];

/// Columns of logins.csv that name the existing user rather than describe the login.
const EXISTING_USER_COLUMNS: [&str; 3] = [
    "existing_user_id",
    "existing_integration_id",
    "existing_canvas_user_id",
];

/// The pseudonym state a users.csv row asks for. The row check accepted any value that starts
/// with a status; Canvas stores only an exact one and takes anything else as active.
fn user_status(row: &Row) -> &'static str {
    match row.get("status").map(str::to_lowercase).as_deref() {
        Some("deleted") => "deleted",
        Some("suspended") => "suspended",
        _ => "active",
    }
}

fn same_login(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The live pseudonym holding `login`. A row naming an authentication provider only collides
/// with logins of that provider (an unknown provider: with logins that have none).
fn pseudonym_by_login(c: &AccountContent, login: &str, provider: Option<&str>) -> Option<String> {
    let wanted = provider.map(known_provider);
    c.entities(SisKind::User)
        .find(|(_, p)| {
            !p.is_deleted()
                && p.field("login_id").is_some_and(|l| same_login(l, login))
                && wanted.is_none_or(|w| p.field("authentication_provider_id") == w)
        })
        .map(|(k, _)| k.clone())
}

/// The canonical name of a provider the account has, if it has it.
fn known_provider(provider: &str) -> Option<&'static str> {
    let lower = provider.to_lowercase();
    KNOWN_AUTH_PROVIDERS.iter().copied().find(|p| *p == lower)
}

fn claimed_login(holder: &str, sis: &str) -> String {
    format!(
        "An existing Canvas user with the SIS ID {holder} has already claimed {sis}'s user_id requested login information, skipping"
    )
}

/// Another pseudonym holding the row's integration id refuses the row (unless it deletes).
fn check_integration_id(
    c: &AccountContent,
    row: &Row,
    pseudo: Option<&str>,
    state: &str,
) -> Applied {
    let sis = row.get("user_id").unwrap_or_default();
    match row
        .get("integration_id")
        .and_then(|i| pseudonym_by_integration_id(c, i))
    {
        Some(holder) if state != "deleted" && Some(holder.as_str()) != pseudo => Err(format!(
            "An existing Canvas user with the SIS ID {holder} has already claimed {sis}'s requested integration_id, skipping"
        )),
        _ => Ok(()),
    }
}

/// The pseudonym a users.csv row updates (`None`: a new user), after Canvas's claim checks.
/// With `update_sis_id_if_login_claimed`, a pseudonym found by its login takes the row's SIS id.
fn pseudonym_for_user_row(
    c: &mut AccountContent,
    row: &Row,
    state: &str,
    update_sis_id: bool,
) -> Result<Option<String>, String> {
    let sis = row.get("user_id").unwrap_or_default();
    let login = row.get("login_id").unwrap_or_default();
    let by_login = pseudonym_by_login(c, login, row.get("authentication_provider_id"));
    let found = match c.get(SisKind::User, sis) {
        Some(_) => Some(sis.to_owned()),
        None => by_login.clone(),
    };
    check_integration_id(c, row, found.as_deref(), state)?;
    let Some(found) = found else {
        return Ok(None);
    };
    if found != sis && !update_sis_id {
        return Err(claimed_login(&found, sis));
    }
    if let Some(holder) = by_login {
        let login_kept = c
            .get(SisKind::User, &found)
            .and_then(|p| p.field("login_id"))
            .is_some_and(|l| same_login(l, login));
        if (holder != found && state != "deleted") || !login_kept {
            return Err(claimed_login(&holder, sis));
        }
    }
    if found != sis {
        rename_pseudonym(c, &found, sis);
    }
    Ok(Some(sis.to_owned()))
}

fn rename_pseudonym(c: &mut AccountContent, from: &str, to: &str) {
    let table = c.table_mut(SisKind::User);
    if let Some(mut p) = table.remove(from) {
        p.sis_id = Some(to.to_owned());
        table.insert(to.to_owned(), p);
    }
}

/// The checks Canvas makes when it saves the pseudonym: a known authentication provider and a
/// login id Canvas can store.
fn check_saveable(row: &Row) -> Applied {
    let sis = row.get("user_id").unwrap_or_default();
    if let Some(provider) = row.get("authentication_provider_id")
        && known_provider(provider).is_none()
    {
        return Err(format!(
            "unrecognized authentication provider {provider} for {sis}, skipping"
        ));
    }
    if row.get("login_id").unwrap_or_default().chars().count() > MAX_LOGIN_LENGTH {
        return Err(format!(
            "Could not save the user with user_id: '{sis}'. Unknown reason: unique_id is too long (maximum is {MAX_LOGIN_LENGTH} characters)"
        ));
    }
    Ok(())
}

/// Canvas's `EmailAddressValidator` (a `Mail::Address` that parses back to the same text and has
/// a domain): one `@` between a non-empty local part and domain, nothing an address header
/// would read as a display name, comment, group or list.
pub(crate) fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && !s.contains('@')
            && !s
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control() || "<>()[],;:\"\\".contains(ch))
    };
    plain(local) && plain(domain) && !local.starts_with('.') && !local.ends_with('.')
}

/// After the login is saved, an email Canvas cannot use is reported (the row is not counted).
fn check_email(row: &Row) -> Applied {
    match row.get("email") {
        Some(email) if !is_valid_email(email) => Err(format!(
            "The email address associated with user '{}' is invalid (email: '{email}')",
            row.get("user_id").unwrap_or_default()
        )),
        _ => Ok(()),
    }
}

/// Creates or updates the pseudonym `sis` of Canvas user `user`. A row without an
/// authentication provider clears the one stored (Canvas sets it to nil).
fn upsert_pseudonym(
    c: &mut AccountContent,
    row: &Row,
    user: u64,
    state: &str,
    exclude: &[&str],
    ctx: &mut ApplyCtx<'_>,
) {
    let sis = row.get("user_id").unwrap_or_default();
    let change = Upsert {
        sis_id: Some(sis.to_owned()),
        state: state.to_owned(),
        fields: fields_of(row, exclude),
        refs: [("user".to_owned(), user)].into(),
    };
    c.upsert(SisKind::User, sis, change, ctx.batch_id, ctx.undo);
    if row.get("authentication_provider_id").is_none()
        && let Some(p) = c.get_mut(SisKind::User, sis)
    {
        p.fields.remove("authentication_provider_id");
    }
}

pub(crate) fn apply_user(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let sis = row.get("user_id").unwrap_or_default();
    let state = user_status(row);
    let pseudo = pseudonym_for_user_row(c, row, state, ctx.update_sis_id_if_login_claimed)?;
    let existing = pseudo
        .as_deref()
        .and_then(|k| c.get(SisKind::User, k))
        .map(|p| (p.refs.get("user").copied(), p.is_deleted()));
    if state == "deleted" && existing.is_some_and(|(_, deleted)| deleted) {
        return Ok(()); // Canvas is done with a login that is already deleted
    }
    check_saveable(row)?;
    let user = existing
        .and_then(|(user, _)| user)
        .unwrap_or_else(|| c.alloc_id());
    let named = ["full_name", "first_name", "last_name"]
        .iter()
        .any(|k| row.get(k).is_some());
    upsert_pseudonym(c, row, user, state, &["user_id", "status"], ctx);
    if existing.is_none()
        && !named
        && let Some(p) = c.get_mut(SisKind::User, sis)
    {
        let login = row.get("login_id").unwrap_or_default().to_owned();
        p.fields.insert("full_name".into(), login);
    }
    if existing.is_none() && row.get("email").is_some_and(is_valid_email) {
        ctx.undo.entries.push(UndoEntry {
            kind: None,
            key: sis.to_owned(),
            class: "CommunicationChannel".into(),
            previous_state: None,
            new_state: "unconfirmed".into(),
            batch_mode: false,
        });
    }
    if state == "deleted" && existing.is_some() && !has_active_login(c, user) {
        remove_memberships_of(c, user, ctx);
    }
    check_email(row)
}

fn has_active_login(c: &AccountContent, user: u64) -> bool {
    c.entities(SisKind::User)
        .any(|(_, p)| !p.is_deleted() && p.refs.get("user") == Some(&user))
}

/// When a user's last login is deleted, Canvas deletes the user's enrollments, group
/// memberships and admin roles in the root account too.
fn remove_memberships_of(c: &mut AccountContent, user: u64, ctx: &mut ApplyCtx<'_>) {
    for kind in [
        SisKind::Enrollment,
        SisKind::GroupMembership,
        SisKind::Admin,
    ] {
        let keys: Vec<String> = c
            .entities(kind)
            .filter(|(_, e)| !e.is_deleted() && e.refs.get("user") == Some(&user))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            c.set_state(kind, &k, "deleted", Some(ctx.batch_id), ctx.undo, false);
        }
    }
}

pub(crate) fn apply_login(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let sis = row.get("user_id").unwrap_or_default();
    let login = row.get("login_id").unwrap_or_default();
    let found = match c.get(SisKind::User, sis) {
        Some(_) => Some(sis.to_owned()),
        None => pseudonym_by_login(c, login, row.get("authentication_provider_id")),
    };
    check_integration_id(c, row, found.as_deref(), "active")?;
    if found.is_some() {
        return Err(format!(
            "An existing Canvas user with the SIS ID {sis} or login of {login} already exists, skipping"
        ));
    }
    let holder = existing_login(c, row).ok_or_else(|| {
        format!("Could not find the existing user for login with SIS ID {sis}, skipping")
    })?;
    let user = c
        .get(SisKind::User, &holder)
        .filter(|p| matches_existing_ids(&holder, p, row))
        .and_then(|p| p.refs.get("user").copied())
        .ok_or_else(|| {
            format!(
                "An existing user does not match existing user ids provided for login with SIS ID {sis}, skipping"
            )
        })?;
    check_saveable(row)?;
    let mut exclude = vec!["user_id", "status"];
    exclude.extend(EXISTING_USER_COLUMNS);
    upsert_pseudonym(c, row, user, "active", &exclude, ctx); // logins.csv is always active
    check_email(row)
}

/// The live pseudonym a logins row's existing ids point at: the first id given, in Canvas's
/// order (SIS id, integration id, Canvas user id), that finds one.
fn existing_login(c: &AccountContent, row: &Row) -> Option<String> {
    let live = |f: &dyn Fn(&str, &super::store::Entity) -> bool| {
        c.entities(SisKind::User)
            .find(|(k, p)| !p.is_deleted() && f(k, p))
            .map(|(k, _)| k.clone())
    };
    let by_sis = row
        .get("existing_user_id")
        .and_then(|s| live(&|k, _| k == s));
    let by_integration = || {
        row.get("existing_integration_id")
            .and_then(|i| live(&|_, p| p.field("integration_id") == Some(i)))
    };
    let by_user = || {
        row.get("existing_canvas_user_id").and_then(|id| {
            let id = ruby_to_i(id);
            live(&|_, p| p.refs.get("user").is_some_and(|u| i128::from(*u) == id))
        })
    };
    by_sis.or_else(by_integration).or_else(by_user)
}

/// Whether the found pseudonym has every existing id the row gives.
fn matches_existing_ids(key: &str, p: &super::store::Entity, row: &Row) -> bool {
    row.get("existing_user_id").is_none_or(|s| s == key)
        && row
            .get("existing_integration_id")
            .is_none_or(|i| p.field("integration_id") == Some(i))
        && row.get("existing_canvas_user_id").is_none_or(|id| {
            p.refs
                .get("user")
                .is_some_and(|u| i128::from(*u) == ruby_to_i(id))
        })
}

/// Ruby's `String#to_i`: the leading integer of the text, 0 when there is none.
fn ruby_to_i(text: &str) -> i128 {
    let t = text.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let leading: String = digits.chars().take_while(char::is_ascii_digit).collect();
    leading.parse::<i128>().map_or(0, |n| sign * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_validity_follows_canvas() {
        assert!(is_valid_email("ada@example.edu"));
        assert!(is_valid_email("ada@localhost"));
        assert!(!is_valid_email("none"));
        assert!(!is_valid_email("ada@"));
        assert!(!is_valid_email("Ada <ada@example.edu>"));
        assert!(!is_valid_email("a@b@c"));
    }

    #[test]
    fn to_i_reads_the_leading_integer() {
        assert_eq!(ruby_to_i("42"), 42);
        assert_eq!(ruby_to_i(" 7abc"), 7);
        assert_eq!(ruby_to_i("not a number"), 0);
        assert_eq!(ruby_to_i("-3"), -3);
    }
}
