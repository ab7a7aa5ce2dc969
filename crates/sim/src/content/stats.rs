//! `data.statistics` of a batch, derived from its undo log as Canvas derives them from its
//! roll-back data: one record per state change, bucketed by the state before and after.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::store::UndoLog;

/// The classes Canvas reports, in the order of docs/canvas-api.md §2.
const CLASSES: [&str; 13] = [
    "Account",
    "EnrollmentTerm",
    "AbstractCourse",
    "Course",
    "CourseSection",
    "GroupCategory",
    "Group",
    "Pseudonym",
    "CommunicationChannel",
    "Enrollment",
    "GroupMembership",
    "UserObserver",
    "AccountUser",
];

/// The buckets of one class: every class has created/restored/deleted; courses can be
/// concluded; enrollments concluded and deactivated.
fn buckets(class: &str) -> &'static [&'static str] {
    match class {
        "Course" => &["created", "concluded", "restored", "deleted"],
        "Enrollment" => &["created", "concluded", "deactivated", "restored", "deleted"],
        _ => &["created", "restored", "deleted"],
    }
}

/// Builds `{"total_state_changes": N, "<Class>": {"created": n, ...}, ...}`.
pub(crate) fn statistics(undo: &UndoLog) -> Value {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for e in &undo.entries {
        let bucket = match (e.previous_state.as_deref(), e.new_state.as_str()) {
            (None, _) => "created",
            (_, "deleted") => "deleted",
            (Some("deleted"), _) => "restored",
            (_, "completed") => "concluded",
            (_, "inactive") => "deactivated",
            _ => continue,
        };
        *counts.entry((e.class.as_str(), bucket)).or_default() += 1;
    }
    let mut out = serde_json::Map::new();
    out.insert("total_state_changes".into(), json!(undo.entries.len()));
    for class in CLASSES {
        let obj: serde_json::Map<String, Value> = buckets(class)
            .iter()
            .map(|b| {
                let n = counts.get(&(class, *b)).copied().unwrap_or(0);
                ((*b).to_owned(), json!(n))
            })
            .collect();
        out.insert(class.to_owned(), Value::Object(obj));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::store::UndoEntry;

    fn entry(class: &str, prev: Option<&str>, new: &str) -> UndoEntry {
        UndoEntry {
            kind: None,
            key: String::new(),
            class: class.into(),
            previous_state: prev.map(Into::into),
            new_state: new.into(),
            batch_mode: false,
        }
    }

    #[test]
    fn statistics_bucket_changes_by_class() {
        let undo = UndoLog {
            entries: vec![
                entry("Course", None, "claimed"),
                entry("Course", Some("available"), "completed"),
                entry("Enrollment", Some("active"), "inactive"),
                entry("Enrollment", Some("deleted"), "active"),
                entry("Pseudonym", Some("active"), "suspended"),
            ],
        };
        let s = statistics(&undo);
        assert_eq!(s["total_state_changes"], 5);
        assert_eq!(s["Course"]["created"], 1);
        assert_eq!(s["Course"]["concluded"], 1);
        assert_eq!(s["Enrollment"]["deactivated"], 1);
        assert_eq!(s["Enrollment"]["restored"], 1);
        assert_eq!(s["Pseudonym"]["deleted"], 0);
        assert!(s["Account"].get("concluded").is_none());
        assert_eq!(s.as_object().map(|o| o.len()), Some(14));
    }
}
