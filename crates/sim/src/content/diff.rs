//! Diffing a batch against an earlier batch of the same data set (docs/canvas-api.md §4.2).
//!
//! Canvas picks a base batch, checks two guards (file size against `change_threshold`, diff
//! size against `diff_row_count_threshold`), and then, per kind present in both batches, keeps
//! only the rows that are new or changed and turns rows that vanished into deletions (or the
//! requested drop status). When a guard trips, or files cannot be paired, the full file applies.

use std::collections::{BTreeMap, HashMap};

use canvas_sis_rules::sis::SisKind;

use super::parse::{self, ParsedCsv, ParsedUpload, Row};
use super::{DiffCandidate, DiffingSettings, SisMessage, StoredCsv};

/// The columns that identify a row of each kind (Canvas's `identifying_fields`).
pub(crate) fn identifying_fields(kind: SisKind) -> &'static [&'static str] {
    match kind {
        SisKind::ChangeSisId => &["old_id", "old_integration_id", "type"],
        SisKind::Account => &["account_id"],
        SisKind::Term => &["term_id", "date_override_enrollment_type"],
        SisKind::AbstractCourse => &["abstract_course_id"],
        SisKind::Course => &["course_id"],
        SisKind::Section => &["section_id"],
        SisKind::Xlist => &["xlist_course_id", "section_id"],
        SisKind::User | SisKind::Login => &["user_id"],
        SisKind::Enrollment => &[
            "course_id",
            "section_id",
            "user_id",
            "user_integration_id",
            "role",
            "associated_user_id",
        ],
        SisKind::Admin => &["user_id", "account_id"],
        SisKind::GroupCategory => &["group_category_id"],
        SisKind::DifferentiationTagSet => &["tag_set_id"],
        SisKind::Group => &["group_id"],
        SisKind::DifferentiationTag => &["tag_id"],
        SisKind::GroupMembership => &["group_id", "user_id"],
        SisKind::DifferentiationTagMembership => &["tag_id", "user_id"],
        SisKind::InstitutionalTagCategory => &["category_id"],
        SisKind::InstitutionalTag => &["institutional_tag_id"],
        SisKind::InstitutionalTagAssociation => &["institutional_tag_id", "user_id"],
        SisKind::GradePublishingResults => &["enrollment_id"],
        SisKind::UserObserver => &["observer_id", "student_id"],
    }
}

/// The result of diffing: the files to import and what the report says about it.
#[derive(Debug, Default)]
pub(crate) struct DiffOutcome {
    pub files: Vec<ParsedCsv>,
    pub messages: Vec<SisMessage>,
    pub diffed_files: Vec<StoredCsv>,
    pub diffed_against: Option<u64>,
    pub threshold_exceeded: bool,
    pub diff_generated: bool,
    pub empty: bool,
}

/// The base batch: the newest succeeded batch of the data set that was diffed or a remaster,
/// else the oldest succeeded one. A batch whose size guard tripped is no base unless it was a
/// remaster.
pub(crate) fn choose_base<'h, 'a>(
    history: &'h [DiffCandidate<'a>],
    identifier: &str,
    current: u64,
) -> Option<&'h DiffCandidate<'a>> {
    let eligible = || {
        history.iter().filter(|h| {
            h.batch_id != current
                && h.data_set_identifier == identifier
                && h.succeeded
                && (!h.threshold_exceeded || h.remaster)
        })
    };
    eligible()
        .filter(|h| h.diffed_or_remaster)
        .max_by_key(|h| h.created_seq)
        .or_else(|| eligible().min_by_key(|h| h.created_seq))
}

/// Applies diffing to a parsed upload.
pub(crate) fn diff_upload(
    settings: &DiffingSettings,
    change_threshold: Option<u32>,
    upload: &ParsedUpload,
    history: &[DiffCandidate<'_>],
    batch_id: u64,
    institutional_tags: bool,
) -> DiffOutcome {
    let full = DiffOutcome {
        files: upload.files.clone(),
        ..DiffOutcome::default()
    };
    if settings.remaster {
        return full;
    }
    let Some(base) = choose_base(history, &settings.data_set_identifier, batch_id) else {
        return full;
    };
    if size_guard_trips(
        change_threshold,
        base.uncompressed_size,
        upload.uncompressed_size,
    ) {
        return DiffOutcome {
            threshold_exceeded: true,
            messages: vec![SisMessage::warning(
                None,
                None,
                "Diffing not performed because file size difference exceeded threshold",
            )],
            ..full
        };
    }
    let previous: Vec<ParsedCsv> = base
        .files
        .iter()
        .filter_map(|f| {
            parse::parse_csv(&f.name, &f.bytes, institutional_tags)
                .ok()
                .flatten()
        })
        .collect();
    let mut out = diff_files(settings, &upload.files, &previous);
    out.diffed_against = Some(base.batch_id);
    let diff_rows: u64 = out.files.iter().map(|f| f.rows.len() as u64).sum();
    if settings
        .row_count_threshold
        .is_some_and(|limit| diff_rows > limit)
    {
        let mut messages = out.messages;
        messages.push(SisMessage::warning(
            None,
            None,
            "Diffing not performed because difference row count exceeded threshold",
        ));
        return DiffOutcome { messages, ..full };
    }
    out.empty = diff_rows == 0;
    out
}

/// pct = |1 − current/previous| × 100, compared with the threshold (uncompressed sizes).
fn size_guard_trips(threshold: Option<u32>, previous: u64, current: u64) -> bool {
    let Some(t) = threshold else { return false };
    if previous == 0 {
        return false;
    }
    let pct = (1.0 - current as f64 / previous as f64).abs() * 100.0;
    pct > f64::from(t)
}

/// Pairs current and previous files per kind and diffs each pair.
fn diff_files(
    settings: &DiffingSettings,
    current: &[ParsedCsv],
    previous: &[ParsedCsv],
) -> DiffOutcome {
    let mut out = DiffOutcome::default();
    let mut kinds: Vec<SisKind> = current.iter().map(|f| f.kind).collect();
    kinds.dedup();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let cur: Vec<&ParsedCsv> = current.iter().filter(|f| f.kind == kind).collect();
        let prev: Vec<&ParsedCsv> = previous.iter().filter(|f| f.kind == kind).collect();
        if prev.is_empty() {
            out.files.extend(cur.into_iter().cloned());
            continue;
        }
        let Some(pairs) = pair_files(&cur, &prev) else {
            // Canvas interpolates the importer's symbol (`user`), on the first current file.
            out.messages.push(SisMessage::warning(
                cur.first().map(|f| f.name.as_str()),
                None,
                format!(
                    "Unable to perform diffing against mismatched previous and current {} imports",
                    kind.importer_name()
                ),
            ));
            out.files.extend(cur.into_iter().cloned());
            continue;
        };
        for (c, p) in pairs {
            let (parsed, stored) = diff_pair(settings, c, p);
            out.files.push(parsed);
            out.diffed_files.push(stored);
            out.diff_generated = true;
        }
    }
    out
}

/// One file each: paired. Several: every current file needs a previous file of the same name.
fn pair_files<'c>(
    cur: &[&'c ParsedCsv],
    prev: &[&'c ParsedCsv],
) -> Option<Vec<(&'c ParsedCsv, &'c ParsedCsv)>> {
    if let ([c], [p]) = (cur, prev) {
        return Some(vec![(*c, *p)]);
    }
    if cur.len() != prev.len() {
        return None;
    }
    cur.iter()
        .map(|c| prev.iter().find(|p| p.name == c.name).map(|p| (*c, *p)))
        .collect()
}

fn row_key(kind: SisKind, row: &Row) -> String {
    identifying_fields(kind)
        .iter()
        .map(|c| row.get(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Values compared for "changed": everything but passwords, which the stored base lacks.
fn comparable(row: &Row) -> BTreeMap<&str, &str> {
    row.fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "password" | "ssha_password"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The status a vanished row gets.
fn drop_status(settings: &DiffingSettings, kind: SisKind) -> String {
    let chosen = match kind {
        SisKind::Enrollment => settings.drop_status.clone(),
        SisKind::User => settings.user_remove_status.clone(),
        _ => None,
    };
    chosen.unwrap_or_else(|| "deleted".to_owned())
}

/// Diffs one file against its base: the diffed CSV, parsed (so rows carry the line numbers of
/// the diffed file, as Canvas reports them) and as stored.
fn diff_pair(
    settings: &DiffingSettings,
    cur: &ParsedCsv,
    prev: &ParsedCsv,
) -> (ParsedCsv, StoredCsv) {
    let kind = cur.kind;
    let prev_rows: HashMap<String, &Row> =
        prev.rows.iter().map(|r| (row_key(kind, r), r)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<BTreeMap<String, String>> = Vec::new();
    for row in &cur.rows {
        let key = row_key(kind, row);
        let unchanged = prev_rows
            .get(&key)
            .is_some_and(|p| comparable(p) == comparable(row));
        seen.insert(key);
        if !unchanged {
            out.push(row.fields.clone());
        }
    }
    let mut headers = cur.headers.clone();
    if !headers.iter().any(|h| h == "status") {
        headers.push("status".to_owned());
    }
    let status = drop_status(settings, kind);
    for row in &prev.rows {
        if !seen.contains(&row_key(kind, row)) {
            let mut fields = row.fields.clone();
            fields.insert("status".to_owned(), status.clone());
            out.push(fields);
        }
    }
    let bytes = parse::render_csv(&headers, out.iter());
    let parsed = ParsedCsv {
        name: cur.name.clone(),
        kind,
        rows: reparse_rows(&cur.name, &bytes, kind),
        headers,
    };
    let stored = parse::stored_copy(&parsed, &bytes);
    (parsed, stored)
}

/// Rows of a CSV this module rendered itself (so it parses; a failure would leave no rows).
fn reparse_rows(name: &str, bytes: &[u8], kind: SisKind) -> Vec<Row> {
    parse::parse_csv(name, bytes, true)
        .ok()
        .flatten()
        .filter(|f| f.kind == kind)
        .map(|f| f.rows)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(name: &str, text: &str) -> ParsedCsv {
        parse::parse_csv(name, text.as_bytes(), false)
            .expect("parses")
            .expect("file")
    }

    fn settings() -> DiffingSettings {
        DiffingSettings {
            data_set_identifier: "ds".into(),
            remaster: false,
            drop_status: Some("inactive".into()),
            user_remove_status: Some("suspended".into()),
            row_count_threshold: None,
        }
    }

    fn candidate<'a>(id: u64, seq: u64, diffed: bool, files: &'a [StoredCsv]) -> DiffCandidate<'a> {
        DiffCandidate {
            batch_id: id,
            created_seq: seq,
            data_set_identifier: "ds",
            succeeded: true,
            diffed_or_remaster: diffed,
            threshold_exceeded: false,
            remaster: false,
            uncompressed_size: 100,
            files,
        }
    }

    #[test]
    fn base_is_newest_diffed_else_oldest_succeeded() {
        let h = [
            candidate(1, 1, false, &[]),
            candidate(2, 2, false, &[]),
            candidate(3, 3, true, &[]),
        ];
        assert_eq!(choose_base(&h, "ds", 9).map(|c| c.batch_id), Some(3));
        assert_eq!(choose_base(&h[..2], "ds", 9).map(|c| c.batch_id), Some(1));
        let mut tripped = candidate(4, 4, true, &[]);
        tripped.threshold_exceeded = true;
        let h = [candidate(1, 1, false, &[]), tripped];
        assert_eq!(choose_base(&h, "ds", 9).map(|c| c.batch_id), Some(1));
        assert!(choose_base(&h, "other", 9).is_none());
    }

    #[test]
    fn vanished_enrollment_gets_drop_status_in_diff() {
        let prev = csv(
            "e.csv",
            "course_id,user_id,role,status\nC1,U1,student,active\nC1,U2,student,active\n",
        );
        let cur = csv(
            "e.csv",
            "course_id,user_id,role,status\nC1,U1,student,active\nC1,U3,student,active\n",
        );
        let (parsed, _) = diff_pair(&settings(), &cur, &prev);
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[0].get("user_id"), Some("U3"));
        assert_eq!(parsed.rows[1].get("user_id"), Some("U2"));
        assert_eq!(parsed.rows[1].get("status"), Some("inactive"));
        assert_eq!(parsed.rows[1].line, 3);
    }

    #[test]
    fn vanished_user_gets_user_remove_status_and_changed_rows_are_kept() {
        let prev = csv(
            "u.csv",
            "user_id,login_id,status\nU1,a,active\nU2,b,active\n",
        );
        let cur = csv("u.csv", "user_id,login_id,status\nU1,a2,active\n");
        let (parsed, _) = diff_pair(&settings(), &cur, &prev);
        assert_eq!(parsed.rows[0].get("login_id"), Some("a2"));
        assert_eq!(parsed.rows[1].get("status"), Some("suspended"));
    }

    fn upload(files: Vec<ParsedCsv>, size: u64) -> ParsedUpload {
        ParsedUpload {
            files,
            uncompressed_size: size,
            ..ParsedUpload::default()
        }
    }

    #[test]
    fn size_guard_applies_full_file_with_warning() {
        let stored = [StoredCsv {
            name: "c.csv".into(),
            kind: SisKind::Course,
            bytes: b"course_id,short_name,long_name,status\nC1,a,a,active\n".to_vec(),
        }];
        let h = [candidate(1, 1, false, &stored)];
        let cur = csv(
            "c.csv",
            "course_id,short_name,long_name,status\nC1,a,a,active\n",
        );
        let out = diff_upload(
            &settings(),
            Some(10),
            &upload(vec![cur.clone()], 200),
            &h,
            2,
            false,
        );
        assert!(out.threshold_exceeded);
        assert_eq!(out.files[0].rows.len(), 1);
        assert!(out.messages[0].message.contains("file size difference"));
        let out = diff_upload(&settings(), Some(10), &upload(vec![cur], 105), &h, 2, false);
        assert!(!out.threshold_exceeded);
        assert!(out.empty && out.diff_generated);
        assert_eq!(out.diffed_against, Some(1));
    }

    #[test]
    fn row_count_guard_applies_full_file_with_warning() {
        let stored = [StoredCsv {
            name: "c.csv".into(),
            kind: SisKind::Course,
            bytes: b"course_id,short_name,long_name,status\nC1,a,a,active\n".to_vec(),
        }];
        let h = [candidate(1, 1, false, &stored)];
        let cur = csv(
            "c.csv",
            "course_id,short_name,long_name,status\nC1,a,a,active\nC2,b,b,active\nC3,c,c,active\n",
        );
        let mut s = settings();
        s.row_count_threshold = Some(1);
        let out = diff_upload(&s, None, &upload(vec![cur], 100), &h, 2, false);
        assert_eq!(out.files[0].rows.len(), 3);
        assert!(!out.diff_generated);
        assert!(out.messages[0].message.contains("row count exceeded"));
    }

    #[test]
    fn mismatched_files_are_applied_in_full_with_warning() {
        let text = "course_id,short_name,long_name,status\nC1,a,a,active\n";
        let stored: Vec<StoredCsv> = ["x.csv", "y.csv"]
            .iter()
            .map(|n| StoredCsv {
                name: (*n).into(),
                kind: SisKind::Course,
                bytes: text.as_bytes().to_vec(),
            })
            .collect();
        let h = [candidate(1, 1, false, &stored)];
        let files = vec![csv("a.csv", text), csv("b.csv", text)];
        let out = diff_upload(&settings(), None, &upload(files, 100), &h, 2, false);
        assert_eq!(out.files.len(), 2);
        assert!(out.files.iter().all(|f| f.rows.len() == 1));
        assert_eq!(
            out.messages[0].message,
            "Unable to perform diffing against mismatched previous and current course imports"
        );
    }

    #[test]
    fn remaster_skips_diffing() {
        let stored = [StoredCsv {
            name: "c.csv".into(),
            kind: SisKind::Course,
            bytes: b"course_id,short_name,long_name,status\nC1,a,a,active\n".to_vec(),
        }];
        let h = [candidate(1, 1, false, &stored)];
        let mut s = settings();
        s.remaster = true;
        let cur = csv(
            "c.csv",
            "course_id,short_name,long_name,status\nC1,a,a,active\n",
        );
        let out = diff_upload(&s, None, &upload(vec![cur], 100), &h, 2, false);
        assert!(!out.diff_generated && !out.empty);
        assert_eq!(out.diffed_against, None);
    }
}
