//! The entities a simulated root account holds (accounts, terms, courses, sections, users,
//! enrollments, ...), as SIS imports left them.
//!
//! Every entity lives in one table per [`SisKind`], keyed by its SIS id, or by the identifying
//! Canvas ids for join kinds (enrollments, admins, memberships, observers). Logins share the users
//! table, since both are pseudonyms that enrollments reference by SIS id. The account's
//! "Default Term" is the one entity without an SIS id; its key is the empty string, which no SIS
//! id can be (ids are required and stripped).
//!
//! Canvas ids are allocated from a per-account counter, so two runs of the same imports give the
//! same ids. Changes of `workflow_state` go into an [`UndoLog`], which is both the roll-back data
//! of `restore_states` and the source of `data.statistics` (as Canvas derives them from its
//! `SisBatchRollBackData`). Field changes are not logged: Canvas does not roll them back either.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use canvas_sis_rules::sis::SisKind;

/// One state change of one object, as Canvas records it for `restore_states`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndoEntry {
    /// The table of the object; `None` for records kept only for statistics (a communication
    /// channel created with a user), which restore leaves alone.
    pub kind: Option<SisKind>,
    pub key: String,
    /// The Canvas class the statistics count it under (`Course`, `Pseudonym`, ...).
    pub class: String,
    /// `None` when the change created the object ("non-existent" in Canvas).
    pub previous_state: Option<String>,
    pub new_state: String,
    /// Made by the batch-mode cleanup rather than by a row.
    pub batch_mode: bool,
}

/// Roll-back data of one batch (what `restore_states` undoes), oldest change first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UndoLog {
    pub entries: Vec<UndoEntry>,
}

/// How much of a batch's changes `restore_states` rolls back (docs/canvas-api.md §1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// Everything the batch changed.
    All,
    /// Only objects the batch deleted.
    UndeleteOnly,
    /// Only objects the batch concluded (courses and enrollments set to completed).
    UnconcludeOnly,
    /// Only what the batch-mode cleanup removed.
    BatchModeOnly,
}

/// One object of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Canvas id.
    pub id: u64,
    pub sis_id: Option<String>,
    pub workflow_state: String,
    /// Row values as last imported (never passwords).
    pub fields: BTreeMap<String, String>,
    /// Canvas ids of related objects: `course`, `section`, `term`, `account`, `user`, ...
    pub refs: BTreeMap<String, u64>,
    /// The last SIS batch that created or updated it.
    pub sis_batch_id: Option<u64>,
}

impl Entity {
    pub fn is_deleted(&self) -> bool {
        self.workflow_state == "deleted"
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// What a row wants an object to become; see [`AccountContent::upsert`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Upsert {
    pub sis_id: Option<String>,
    pub state: String,
    pub fields: BTreeMap<String, String>,
    pub refs: BTreeMap<String, u64>,
}

/// Everything one root account holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccountContent {
    pub root_account_id: u64,
    next_id: u64,
    tables: BTreeMap<SisKind, BTreeMap<String, Entity>>,
}

/// Key of the Default Term in the terms table.
pub(crate) const DEFAULT_TERM_KEY: &str = "";

/// The statistics class of the objects in a table (docs/canvas-api.md §2), if Canvas counts them.
pub(crate) fn stat_class(kind: SisKind) -> Option<&'static str> {
    Some(match kind {
        SisKind::Account => "Account",
        SisKind::Term => "EnrollmentTerm",
        SisKind::AbstractCourse => "AbstractCourse",
        SisKind::Course => "Course",
        SisKind::Section => "CourseSection",
        SisKind::GroupCategory => "GroupCategory",
        SisKind::Group => "Group",
        SisKind::User | SisKind::Login => "Pseudonym",
        SisKind::Enrollment => "Enrollment",
        SisKind::GroupMembership => "GroupMembership",
        SisKind::UserObserver => "UserObserver",
        SisKind::Admin => "AccountUser",
        _ => return None,
    })
}

impl AccountContent {
    /// An empty root account whose "Default Term" exists, as in a fresh Canvas.
    pub fn new(root_account_id: u64) -> Self {
        let mut content = AccountContent {
            root_account_id,
            next_id: root_account_id.saturating_mul(1_000_000),
            tables: BTreeMap::new(),
        };
        let id = content.alloc_id();
        let mut fields = BTreeMap::new();
        fields.insert("name".to_owned(), "Default Term".to_owned());
        let term = Entity {
            id,
            sis_id: None,
            workflow_state: "active".to_owned(),
            fields,
            refs: BTreeMap::new(),
            sis_batch_id: None,
        };
        content
            .table_mut(SisKind::Term)
            .insert(DEFAULT_TERM_KEY.to_owned(), term);
        content
    }

    /// `api_find` among the account's active terms: a Canvas id (`"12"`) or `sis_term_id:X`.
    pub fn find_active_term(&self, api_id: &str) -> Option<u64> {
        self.api_find(SisKind::Term, "sis_term_id:", api_id)
            .filter(|t| t.workflow_state == "active")
            .map(|t| t.id)
    }

    /// A sub-account created by an import, found by Canvas id or by `sis_account_id:X`
    /// (used to answer "SIS imports can only be executed on root accounts").
    pub fn find_sub_account(&self, api_id: &str) -> Option<u64> {
        self.sub_account(api_id).map(|a| a.id)
    }

    /// The sub-account entity behind [`find_sub_account`](Self::find_sub_account).
    pub fn sub_account(&self, api_id: &str) -> Option<&Entity> {
        self.api_find(SisKind::Account, "sis_account_id:", api_id)
            .filter(|a| !a.is_deleted())
    }

    /// Rolls back changes recorded in `undo`, newest first; returns how many objects changed.
    pub fn restore(&mut self, undo: &UndoLog, mode: RestoreMode) -> u64 {
        super::restore::restore(self, undo, mode)
    }

    /// The content as JSON for inspection: `{"accounts":[...],"terms":[...],"courses":[...],...}`,
    /// each object with its SIS id, Canvas id, state and fields.
    pub fn to_inspection_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for kind in SisKind::ALL {
            if kind == SisKind::Login {
                continue; // logins live in the users table
            }
            let list: Vec<serde_json::Value> = self
                .table(kind)
                .map(|t| t.values().map(entity_json).collect())
                .unwrap_or_default();
            out.insert(kind.counts_key().to_owned(), serde_json::Value::Array(list));
        }
        serde_json::Value::Object(out)
    }

    pub(crate) fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn table(&self, kind: SisKind) -> Option<&BTreeMap<String, Entity>> {
        self.tables.get(&kind)
    }

    pub(crate) fn table_mut(&mut self, kind: SisKind) -> &mut BTreeMap<String, Entity> {
        self.tables.entry(kind).or_default()
    }

    pub(crate) fn get(&self, kind: SisKind, key: &str) -> Option<&Entity> {
        self.tables.get(&kind)?.get(key)
    }

    pub(crate) fn get_mut(&mut self, kind: SisKind, key: &str) -> Option<&mut Entity> {
        self.tables.get_mut(&kind)?.get_mut(key)
    }

    /// All entities of a table, in key order.
    pub(crate) fn entities(&self, kind: SisKind) -> impl Iterator<Item = (&String, &Entity)> {
        self.tables.get(&kind).into_iter().flatten()
    }

    /// The key of the entity with this Canvas id.
    pub(crate) fn key_of_id(&self, kind: SisKind, id: u64) -> Option<String> {
        self.entities(kind)
            .find(|(_, e)| e.id == id)
            .map(|(k, _)| k.clone())
    }

    /// The Canvas id of the Default Term.
    pub(crate) fn default_term_id(&self) -> u64 {
        self.get(SisKind::Term, DEFAULT_TERM_KEY)
            .map(|t| t.id)
            .unwrap_or_default()
    }

    fn api_find(&self, kind: SisKind, sis_prefix: &str, api_id: &str) -> Option<&Entity> {
        if let Some(sis) = api_id.strip_prefix(sis_prefix) {
            return self.get(kind, sis).filter(|e| e.sis_id.is_some());
        }
        let id: u64 = api_id.parse().ok()?;
        self.entities(kind).map(|(_, e)| e).find(|e| e.id == id)
    }

    /// Creates or updates an object from a row: fields and refs given are merged in, the state is
    /// set, the batch becomes its `sis_batch_id`, and a state change is logged in `undo`.
    /// Returns the Canvas id.
    pub(crate) fn upsert(
        &mut self,
        kind: SisKind,
        key: &str,
        change: Upsert,
        batch_id: u64,
        undo: &mut UndoLog,
    ) -> u64 {
        let previous = self.get(kind, key).map(|e| e.workflow_state.clone());
        let new_state = change.state.clone();
        let id = match self.get_mut(kind, key) {
            Some(e) => {
                e.fields.extend(change.fields);
                e.refs.extend(change.refs);
                if change.sis_id.is_some() {
                    e.sis_id = change.sis_id;
                }
                e.workflow_state = change.state;
                e.sis_batch_id = Some(batch_id);
                e.id
            }
            None => {
                let id = self.alloc_id();
                let entity = Entity {
                    id,
                    sis_id: change.sis_id,
                    workflow_state: change.state,
                    fields: change.fields,
                    refs: change.refs,
                    sis_batch_id: Some(batch_id),
                };
                self.table_mut(kind).insert(key.to_owned(), entity);
                id
            }
        };
        if previous.as_deref() != Some(new_state.as_str()) {
            log_change(undo, kind, key, previous, &new_state, false);
        }
        id
    }

    /// Moves an existing object to `state`, logging the change; `batch` marks the row's batch as
    /// the last to touch it (the batch-mode cleanup passes `None`: Canvas does not stamp the
    /// objects it removes). Returns false when the object does not exist or is already there.
    pub(crate) fn set_state(
        &mut self,
        kind: SisKind,
        key: &str,
        state: &str,
        batch: Option<u64>,
        undo: &mut UndoLog,
        batch_mode: bool,
    ) -> bool {
        let Some(e) = self.get_mut(kind, key) else {
            return false;
        };
        if let Some(b) = batch {
            e.sis_batch_id = Some(b);
        }
        if e.workflow_state == state {
            return false;
        }
        let previous = std::mem::replace(&mut e.workflow_state, state.to_owned());
        log_change(undo, kind, key, Some(previous), state, batch_mode);
        true
    }
}

/// Appends a state change to the undo log, under the class Canvas counts it as.
pub(crate) fn log_change(
    undo: &mut UndoLog,
    kind: SisKind,
    key: &str,
    previous_state: Option<String>,
    new_state: &str,
    batch_mode: bool,
) {
    let Some(class) = stat_class(kind) else {
        return; // Canvas keeps no roll-back data for the other kinds
    };
    undo.entries.push(UndoEntry {
        kind: Some(kind),
        key: key.to_owned(),
        class: class.to_owned(),
        previous_state,
        new_state: new_state.to_owned(),
        batch_mode,
    });
}

fn entity_json(e: &Entity) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    obj.insert("id".into(), e.id.into());
    if let Some(sis) = &e.sis_id {
        obj.insert("sis_id".into(), sis.clone().into());
    }
    obj.insert("workflow_state".into(), e.workflow_state.clone().into());
    for (k, v) in &e.fields {
        obj.entry(k.clone()).or_insert_with(|| v.clone().into());
    }
    for (k, v) in &e.refs {
        obj.insert(format!("{k}_canvas_id"), (*v).into());
    }
    obj.insert(
        "sis_batch_id".into(),
        e.sis_batch_id.map_or(serde_json::Value::Null, Into::into),
    );
    serde_json::Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_account_has_an_active_default_term() {
        let c = AccountContent::new(7);
        let id = c.default_term_id();
        assert_eq!(id, 7_000_001);
        assert_eq!(c.find_active_term("7000001"), Some(id));
        assert_eq!(c.find_active_term("sis_term_id:"), None);
        let json = c.to_inspection_json();
        assert_eq!(json["terms"][0]["name"], "Default Term");
        assert!(json["courses"].as_array().is_some_and(Vec::is_empty));
    }

    #[test]
    fn upsert_logs_creation_and_state_changes_only() {
        let mut c = AccountContent::new(1);
        let mut undo = UndoLog::default();
        let up = Upsert {
            sis_id: Some("C1".into()),
            state: "claimed".into(),
            ..Upsert::default()
        };
        c.upsert(SisKind::Course, "C1", up.clone(), 5, &mut undo);
        c.upsert(SisKind::Course, "C1", up, 6, &mut undo);
        assert_eq!(undo.entries.len(), 1);
        assert_eq!(undo.entries[0].previous_state, None);
        assert_eq!(
            c.get(SisKind::Course, "C1").and_then(|e| e.sis_batch_id),
            Some(6)
        );
    }

    #[test]
    fn content_round_trips_through_json() {
        let mut c = AccountContent::new(1);
        let mut undo = UndoLog::default();
        let up = Upsert {
            sis_id: Some("A1".into()),
            state: "active".into(),
            ..Upsert::default()
        };
        let id = c.upsert(SisKind::Account, "A1", up, 2, &mut undo);
        let text = serde_json::to_string(&c).expect("serialises");
        let back: AccountContent = serde_json::from_str(&text).expect("parses");
        assert_eq!(back.find_sub_account("sis_account_id:A1"), Some(id));
        assert_eq!(back.find_sub_account(&id.to_string()), Some(id));
        assert_eq!(back.alloc_id_peek(), c.alloc_id_peek());
    }

    impl AccountContent {
        fn alloc_id_peek(&self) -> u64 {
            self.next_id
        }
    }
}
