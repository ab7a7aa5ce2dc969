//! Applying institutional tag rows: categories, tags and their associations with users
//! (`lib/sis/institutional_tag_category_importer.rb`, `institutional_tag_importer.rb`,
//! `institutional_tag_association_importer.rb`).
//!
//! The checks are made here, in Canvas's order: required values, status, then the lookups.
//! Without the account's `institutional_tags` feature Canvas does not recognise these files at
//! all (header detection), so no row gets here. Categories and tags are found by SIS id
//! whatever their state, as Canvas's `find_by` does.

use std::collections::BTreeMap;

use canvas_sis_rules::sis::SisKind;

use super::apply::{Applied, ApplyCtx, fields_of};
use super::parse::Row;
use super::store::{AccountContent, Upsert};

fn need<'a>(row: &'a Row, col: &str, msg: impl FnOnce() -> String) -> Result<&'a str, String> {
    row.get(col).ok_or_else(msg)
}

/// The row's state: the status must be there and start with `active` or `deleted`.
fn state_of(row: &Row, what: &str) -> Result<&'static str, String> {
    let status = need(row, "status", || format!("No status given for {what}"))?;
    let lower = status.to_lowercase();
    if lower.starts_with("active") {
        Ok("active")
    } else if lower.starts_with("deleted") {
        Ok("deleted")
    } else {
        Err(format!("Improper status \"{status}\" for {what}"))
    }
}

fn upsert(
    c: &mut AccountContent,
    kind: SisKind,
    key: &str,
    state: &str,
    row: &Row,
    refs: BTreeMap<String, u64>,
    ctx: &mut ApplyCtx<'_>,
) {
    let change = Upsert {
        sis_id: Some(key.to_owned()),
        state: state.to_owned(),
        fields: fields_of(row, &["status"]),
        refs,
    };
    c.upsert(kind, key, change, ctx.batch_id, ctx.undo);
}

pub(crate) fn apply_category(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = need(row, "category_id", || {
        "No category_id given for an institutional tag category".into()
    })?;
    need(row, "name", || {
        format!("No name given for institutional tag category {id}")
    })?;
    let state = state_of(row, &format!("institutional tag category {id}"))?;
    let refs = BTreeMap::new();
    upsert(
        c,
        SisKind::InstitutionalTagCategory,
        id,
        state,
        row,
        refs,
        ctx,
    );
    Ok(())
}

pub(crate) fn apply_tag(c: &mut AccountContent, row: &Row, ctx: &mut ApplyCtx<'_>) -> Applied {
    let id = need(row, "institutional_tag_id", || {
        "No institutional_tag_id given for an institutional tag".into()
    })?;
    let what = format!("institutional tag {id}");
    let category = need(row, "category_id", || {
        format!("No category_id given for {what}")
    })?;
    need(row, "name", || format!("No name given for {what}"))?;
    need(row, "description", || {
        format!("No description given for {what}")
    })?;
    let state = state_of(row, &what)?;
    let category = c
        .get(SisKind::InstitutionalTagCategory, category)
        .map(|e| e.id)
        .ok_or_else(|| format!("Category with id \"{category}\" didn't exist for {what}"))?;
    let refs = [("category".to_owned(), category)].into();
    upsert(c, SisKind::InstitutionalTag, id, state, row, refs, ctx);
    Ok(())
}

pub(crate) fn apply_association(
    c: &mut AccountContent,
    row: &Row,
    ctx: &mut ApplyCtx<'_>,
) -> Applied {
    let tag = need(row, "institutional_tag_id", || {
        "No institutional_tag_id given for an institutional tag association".into()
    })?;
    let user = need(row, "user_id", || {
        format!("No user_id given for institutional tag association with tag {tag}")
    })?;
    let state = state_of(
        row,
        &format!("institutional tag association (tag: {tag}, user: {user})"),
    )?;
    // Canvas looks the user up among all of the account's logins, deleted ones included.
    let user_id = c
        .get(SisKind::User, user)
        .and_then(|p| p.refs.get("user").copied())
        .ok_or_else(|| {
            format!(
                "User with sis_user_id \"{user}\" didn't exist for institutional tag association with tag {tag}"
            )
        })?;
    let tag_id = c
        .get(SisKind::InstitutionalTag, tag)
        .map(|e| e.id)
        .ok_or_else(|| format!("Institutional tag with id \"{tag}\" didn't exist"))?;
    let key = format!("{tag}|{user}");
    let refs = [("tag".to_owned(), tag_id), ("user".to_owned(), user_id)].into();
    upsert(
        c,
        SisKind::InstitutionalTagAssociation,
        &key,
        state,
        row,
        refs,
        ctx,
    );
    Ok(())
}
