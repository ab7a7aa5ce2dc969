//! `restore_states`: rolling a batch's state changes back from its [`UndoLog`]
//! (docs/canvas-api.md §1.8).
//!
//! Canvas keeps, per changed object, the state before and after the batch, and a restore puts
//! the earlier state back, newest change first so that an object changed twice ends where it
//! started. An object the batch created goes to `deleted` (its earlier state is "non-existent").
//! Only the workflow state is restored, as in Canvas: field values stay as the batch left them.

use super::store::{AccountContent, RestoreMode, UndoEntry, UndoLog};

/// Rolls back the entries of `undo` that `mode` selects; returns how many objects changed.
pub(crate) fn restore(content: &mut AccountContent, undo: &UndoLog, mode: RestoreMode) -> u64 {
    let mut changed = std::collections::BTreeSet::new();
    for entry in undo.entries.iter().rev().filter(|e| selected(e, mode)) {
        let Some(kind) = entry.kind else {
            continue; // statistics-only record
        };
        let target = entry.previous_state.as_deref().unwrap_or("deleted");
        if let Some(e) = content.get_mut(kind, &entry.key)
            && e.workflow_state != target
        {
            e.workflow_state = target.to_owned();
            changed.insert((kind, entry.key.as_str()));
        }
    }
    changed.len() as u64
}

/// Whether a restore in `mode` undoes this change.
fn selected(entry: &UndoEntry, mode: RestoreMode) -> bool {
    match mode {
        RestoreMode::All => true,
        RestoreMode::UndeleteOnly => entry.new_state == "deleted",
        RestoreMode::UnconcludeOnly => entry.new_state == "completed",
        RestoreMode::BatchModeOnly => entry.batch_mode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::store::Upsert;
    use canvas_sis_rules::sis::SisKind;

    fn course(c: &mut AccountContent, undo: &mut UndoLog, key: &str, state: &str) {
        let up = Upsert {
            sis_id: Some(key.into()),
            state: state.into(),
            ..Upsert::default()
        };
        c.upsert(SisKind::Course, key, up, 1, undo);
    }

    fn state(c: &AccountContent, key: &str) -> String {
        c.get(SisKind::Course, key)
            .map(|e| e.workflow_state.clone())
            .unwrap_or_default()
    }

    #[test]
    fn full_restore_deletes_created_objects_and_reverts_changes_newest_first() {
        let mut c = AccountContent::new(1);
        let mut setup = UndoLog::default();
        course(&mut c, &mut setup, "C1", "available");
        let mut undo = UndoLog::default();
        course(&mut c, &mut undo, "C1", "completed");
        course(&mut c, &mut undo, "C1", "deleted");
        course(&mut c, &mut undo, "C2", "claimed");
        assert_eq!(c.restore(&undo, RestoreMode::All), 2);
        assert_eq!(state(&c, "C1"), "available");
        assert_eq!(state(&c, "C2"), "deleted");
    }

    #[test]
    fn undelete_only_leaves_conclusions_alone() {
        let mut c = AccountContent::new(1);
        let mut setup = UndoLog::default();
        course(&mut c, &mut setup, "C1", "available");
        course(&mut c, &mut setup, "C2", "available");
        let mut undo = UndoLog::default();
        course(&mut c, &mut undo, "C1", "deleted");
        course(&mut c, &mut undo, "C2", "completed");
        assert_eq!(c.restore(&undo, RestoreMode::UndeleteOnly), 1);
        assert_eq!(state(&c, "C1"), "available");
        assert_eq!(state(&c, "C2"), "completed");
        assert_eq!(c.restore(&undo, RestoreMode::UnconcludeOnly), 1);
        assert_eq!(state(&c, "C2"), "available");
    }

    #[test]
    fn batch_mode_only_restores_cleanup_changes() {
        let mut c = AccountContent::new(1);
        let mut setup = UndoLog::default();
        course(&mut c, &mut setup, "C1", "available");
        course(&mut c, &mut setup, "C2", "available");
        let mut undo = UndoLog::default();
        course(&mut c, &mut undo, "C1", "deleted");
        c.set_state(SisKind::Course, "C2", "deleted", None, &mut undo, true);
        assert_eq!(c.restore(&undo, RestoreMode::BatchModeOnly), 1);
        assert_eq!(state(&c, "C1"), "deleted");
        assert_eq!(state(&c, "C2"), "available");
    }
}
