//! The notice: what one notification says, built from a recorded batch event, and its renderings
//! (the versioned JSON, the Slack and Teams text, the SNS subject).
//!
//! Field names of the JSON are a contract (`schema = "canvas-sis.notice.v1"`): new fields may be
//! added, none renamed or removed without a new schema name. Lists are bounded
//! ([`MAX_LISTED`] entries of at most [`MAX_LINE_CHARS`] characters) so a batch with ten thousand
//! errors still makes a message Slack accepts. Nothing here sends anything.

use serde::Serialize;

use crate::ledger::{BatchId, BatchRecord, KindCounts, Stage};

/// The schema name written in every notice.
pub const SCHEMA: &str = "canvas-sis.notice.v1";
/// At most this many errors (and warnings) are listed; the totals say how many there were.
pub const MAX_LISTED: usize = 5;
/// Longer error lines are cut to this many characters.
pub const MAX_LINE_CHARS: usize = 300;

/// Why a notice was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Canvas ended the import failed or aborted, or it was rejected before sending.
    BatchFailed,
    /// The tenant's gate closed without a failure notice for the batch that closed it.
    TenantHalted,
    /// The mass-change guard holds the batch until an operator approves it.
    BatchHeld,
    /// Imported, with warnings (only when the tenant asks for it).
    SucceededWithWarnings,
    /// A batch cannot go on until an operator fixes the token, its permissions or the account.
    NeedsOperator,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::BatchFailed => "batch_failed",
            NoticeKind::TenantHalted => "tenant_halted",
            NoticeKind::BatchHeld => "batch_held",
            NoticeKind::SucceededWithWarnings => "succeeded_with_warnings",
            NoticeKind::NeedsOperator => "needs_operator",
        }
    }
}

/// How an operator reaches this deployment's ledger: the flag for `canvas-sis status|resume|
/// approve` and where archived files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerHint {
    /// `--dir /srv/sis` or `--state s3://bucket/prefix/`.
    pub flag: String,
    /// Prefix of an archived blob's key: `/srv/sis/ledger/` or `s3://bucket/prefix/`.
    pub archive_base: String,
}

impl LedgerHint {
    /// Folder mode: the watched directory.
    pub fn folder(dir: &std::path::Path) -> LedgerHint {
        LedgerHint {
            flag: format!("--dir {}", dir.display()),
            archive_base: format!("{}/", dir.join("ledger").display()),
        }
    }

    /// The cloud worker: its `--state` (s3://… or a directory).
    pub fn state(url: &str) -> LedgerHint {
        let base = if url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        };
        LedgerHint {
            flag: format!("--state {url}"),
            archive_base: base,
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub schema: &'static str,
    pub event: NoticeKind,
    pub tenant: String,
    pub batch: String,
    pub canvas_import_id: Option<u64>,
    /// Canvas's workflow state (`failed_with_messages`, `imported_with_messages`), `rejected`,
    /// `held` or `halted`.
    pub state: String,
    /// One line saying what happened.
    pub summary: String,
    /// The first errors of the batch's record (at most [`MAX_LISTED`]); for a rejected batch
    /// the reason, then the first validation errors.
    pub errors: Vec<String>,
    /// How many errors the record holds.
    pub errors_total: usize,
    /// The first warnings (at most [`MAX_LISTED`]).
    pub warnings: Vec<String>,
    pub warnings_total: usize,
    /// Rows and deleting rows per data type, as recorded (`{"users": 12, "users.deleted": 1}`).
    pub counts: KindCounts,
    /// Where Canvas's errors file was archived, when there is one.
    pub errors_file: Option<String>,
    /// Where the validation report was archived (every finding with its place and fix).
    pub validation_report: Option<String>,
    /// What an operator should do, in a sentence.
    pub action: String,
    /// The exact command that lets the tenant go on, when one is needed.
    pub command: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Whether a terminal batch failed, and whether it had warnings.
fn terminal(record: &BatchRecord) -> Option<(&str, bool)> {
    match &record.stage {
        Stage::Terminal { state, ok } => Some((state.as_str(), *ok)),
        _ => None,
    }
}

impl Notice {
    fn base(kind: NoticeKind, record: &BatchRecord, state: &str, hint: &LedgerHint) -> Notice {
        Notice {
            schema: SCHEMA,
            event: kind,
            tenant: record.tenant.clone(),
            batch: record.id.to_string(),
            canvas_import_id: record.canvas_import_id,
            state: state.to_owned(),
            summary: String::new(),
            errors: bounded(&record.errors),
            errors_total: record.errors.len(),
            warnings: bounded(&record.warnings),
            warnings_total: record.warnings.len(),
            counts: record.counts.clone(),
            errors_file: archived(record.archive.errors_file.as_ref(), hint),
            validation_report: archived(record.archive.report.as_ref(), hint),
            action: String::new(),
            command: None,
            at: chrono::Utc::now(),
        }
    }

    /// A terminal batch: a failure notice, a success-with-warnings notice when `warned` asks for
    /// one, else nothing. `halts` says whether the tenant's policy halts after a failure.
    pub fn finished(
        record: &BatchRecord,
        halts: bool,
        warned: bool,
        hint: &LedgerHint,
    ) -> Option<Notice> {
        let (state, ok) = terminal(record)?;
        if ok {
            let has_warnings = !record.warnings.is_empty() || state == "imported_with_messages";
            if !(warned && has_warnings) {
                return None;
            }
            let mut n = Notice::base(NoticeKind::SucceededWithWarnings, record, state, hint);
            n.summary = format!(
                "batch {} of tenant {} was imported ({state}) with {} warning(s)",
                record.id,
                record.tenant,
                record.warnings.len()
            );
            n.action = "nothing blocks the tenant; read the warnings and fix the feed at its \
                        source before the next drop"
                .into();
            return Some(n);
        }
        let mut n = Notice::base(NoticeKind::BatchFailed, record, state, hint);
        n.summary = match record.canvas_import_id {
            Some(id) => format!(
                "batch {} of tenant {} failed: Canvas import {id} ended {state}",
                record.id, record.tenant
            ),
            None => format!(
                "batch {} of tenant {} failed before it reached Canvas ({state})",
                record.id, record.tenant
            ),
        };
        if halts {
            n.action = format!(
                "the tenant is halted: its later batches are parked, not lost. Fix the feed or \
                 Canvas (see the errors{}), then resume the tenant",
                match (&n.errors_file, &n.validation_report) {
                    (Some(_), _) => " and Canvas's errors file",
                    (None, Some(_)) => " and the validation report",
                    (None, None) => "",
                }
            );
            n.command = Some(resume_command(&record.tenant, hint));
        } else {
            n.action = "the tenant goes on with its next batch (on_failure = continue); fix the \
                        feed and drop a corrected batch"
                .into();
        }
        Some(n)
    }

    /// A batch held by the mass-change guard.
    pub fn held(record: &BatchRecord, hint: &LedgerHint) -> Notice {
        let reason = match &record.stage {
            Stage::Held { reason } => reason.as_str(),
            _ => "",
        };
        let mut n = Notice::base(NoticeKind::BatchHeld, record, "held", hint);
        n.summary = format!(
            "batch {} of tenant {} is held by the mass-change guard: {}",
            record.id,
            record.tenant,
            cut(reason)
        );
        n.action = "check that the change is intended; if it is, approve the batch once (later \
                    batches of the tenant park until then); if not, fix the feed"
            .into();
        n.command = Some(format!("canvas-sis approve {} {}", hint.flag, record.id));
        n
    }

    /// The gate closed for `batch` and no failure notice told of it.
    pub fn halted(tenant: &str, batch: &BatchId, reason: &str, hint: &LedgerHint) -> Notice {
        Notice {
            schema: SCHEMA,
            event: NoticeKind::TenantHalted,
            tenant: tenant.to_owned(),
            batch: batch.to_string(),
            canvas_import_id: None,
            state: "halted".into(),
            summary: format!(
                "tenant {tenant} is halted by batch {batch}: {}",
                cut(reason)
            ),
            errors: vec![cut(reason)],
            errors_total: 1,
            warnings: Vec::new(),
            warnings_total: 0,
            counts: KindCounts::default(),
            errors_file: None,
            validation_report: None,
            action: "later batches are parked, not lost; fix the feed or Canvas, then resume the \
                     tenant"
                .into(),
            command: Some(resume_command(tenant, hint)),
            at: chrono::Utc::now(),
        }
    }

    /// Canvas refused `batch` for a reason outside it (the token, its permissions, the account);
    /// the batch waits where it is and is tried again on each pass.
    pub fn needs_operator(
        tenant: &str,
        batch: &BatchId,
        reason: &str,
        hint: &LedgerHint,
    ) -> Notice {
        let mut n = Notice::halted(tenant, batch, reason, hint);
        n.event = NoticeKind::NeedsOperator;
        n.state = "waiting".into();
        n.summary = format!(
            "batch {batch} of tenant {tenant} cannot be sent to Canvas: {}",
            cut(reason)
        );
        n.action = "fix what Canvas refused (the token, its permissions or the account, as the \
                    error says); the batch is tried again on the next pass, nothing is lost"
            .into();
        n.command = None;
        n
    }

    /// SNS's subject: ASCII, one line, at most 100 characters.
    pub fn subject(&self) -> String {
        let what = match self.event {
            NoticeKind::BatchFailed => "batch failed",
            NoticeKind::TenantHalted => "tenant halted",
            NoticeKind::BatchHeld => "batch held for approval",
            NoticeKind::SucceededWithWarnings => "imported with warnings",
            NoticeKind::NeedsOperator => "needs an operator",
        };
        let s = format!("canvas-sis {}: {what} ({})", self.tenant, self.state);
        let ascii: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        ascii.chars().take(100).collect()
    }

    /// The plain lines both text formats share, with `bold` and `code` applied.
    fn lines(&self, bold: &dyn Fn(&str) -> String, code: &dyn Fn(&str) -> String) -> Vec<String> {
        let mut out = vec![bold(&self.summary)];
        let import = self
            .canvas_import_id
            .map_or_else(|| "none".to_owned(), |i| i.to_string());
        out.push(format!(
            "tenant {} · batch {} · Canvas import {import} · state {}",
            code(&self.tenant),
            code(&self.batch),
            code(&self.state)
        ));
        if !self.errors.is_empty() {
            out.push(format!("errors ({} in all):", self.errors_total));
            out.extend(self.errors.iter().map(|e| format!("• {e}")));
        }
        if !self.warnings.is_empty() {
            out.push(format!("warnings ({} in all):", self.warnings_total));
            out.extend(self.warnings.iter().map(|w| format!("• {w}")));
        }
        if let Some(f) = &self.errors_file {
            out.push(format!("errors file: {}", code(f)));
        }
        if let Some(f) = &self.validation_report {
            out.push(format!("validation report: {}", code(f)));
        }
        out.push(format!("what to do: {}", self.action));
        if let Some(c) = &self.command {
            out.push(code(c));
        }
        out
    }

    /// Slack's mrkdwn, for `{"text": ...}`.
    pub fn slack_text(&self) -> String {
        self.lines(&|s| format!("*{}*", s.replace('*', "")), &|s| {
            format!("`{}`", s.replace('`', "'"))
        })
        .join("\n")
    }

    /// Markdown for a Teams incoming webhook's `{"text": ...}` (blank lines break lines there).
    pub fn teams_text(&self) -> String {
        self.lines(&|s| format!("**{}**", s.replace('*', "")), &|s| {
            format!("`{}`", s.replace('`', "'"))
        })
        .join("\n\n")
    }
}

fn resume_command(tenant: &str, hint: &LedgerHint) -> String {
    format!("canvas-sis resume {} --tenant {tenant}", hint.flag)
}

/// An archived blob's key as an operator finds it (a path or an s3:// URL).
fn archived(key: Option<&String>, hint: &LedgerHint) -> Option<String> {
    key.map(|k| format!("{}{k}", hint.archive_base))
}

fn bounded(lines: &[String]) -> Vec<String> {
    lines.iter().take(MAX_LISTED).map(|l| cut(l)).collect()
}

fn cut(line: &str) -> String {
    if line.chars().count() <= MAX_LINE_CHARS {
        return line.to_owned();
    }
    let mut s: String = line.chars().take(MAX_LINE_CHARS - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{BatchSource, NewBatch};

    fn record(stage: Stage, errors: usize, warnings: usize) -> BatchRecord {
        let new = NewBatch {
            tenant: "main".into(),
            source: BatchSource {
                kind: "folder".into(),
                location: "inbox/x".into(),
                files: vec![],
                ..Default::default()
            },
            content_sha256: "ab".repeat(32),
        };
        let id = BatchId::new("main", 7, &"ab".repeat(32)).unwrap();
        let mut r = BatchRecord::received(&new, id, 7, chrono::Utc::now());
        r.stage = stage;
        r.canvas_import_id = Some(4242);
        r.errors = (0..errors)
            .map(|i| format!("users.csv: row {i} bad"))
            .collect();
        r.warnings = (0..warnings).map(|i| format!("w{i}")).collect();
        r.archive.errors_file = Some("tenants/main/archive/errors.csv".into());
        r
    }

    fn hint() -> LedgerHint {
        LedgerHint::folder(std::path::Path::new("/srv/sis"))
    }

    #[test]
    fn a_failure_names_the_import_the_first_errors_and_the_resume_command() {
        let r = record(
            Stage::Terminal {
                state: "failed_with_messages".into(),
                ok: false,
            },
            12,
            0,
        );
        let n = Notice::finished(&r, true, false, &hint()).unwrap();
        assert_eq!(n.event, NoticeKind::BatchFailed);
        assert_eq!(n.canvas_import_id, Some(4242));
        assert_eq!(n.errors.len(), MAX_LISTED);
        assert_eq!(n.errors_total, 12);
        assert_eq!(
            n.command.as_deref(),
            Some("canvas-sis resume --dir /srv/sis --tenant main")
        );
        assert_eq!(
            n.errors_file.as_deref(),
            Some("/srv/sis/ledger/tenants/main/archive/errors.csv")
        );
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["event"], "batch_failed");
        let text = n.slack_text();
        assert!(
            text.contains("4242") && text.contains("row 0 bad"),
            "{text}"
        );
        assert!(!text.contains("row 5 bad"), "{text}");
    }

    #[test]
    fn success_with_warnings_is_sent_only_when_asked() {
        let r = record(
            Stage::Terminal {
                state: "imported_with_messages".into(),
                ok: true,
            },
            0,
            2,
        );
        assert!(Notice::finished(&r, true, false, &hint()).is_none());
        let n = Notice::finished(&r, true, true, &hint()).unwrap();
        assert_eq!(n.event, NoticeKind::SucceededWithWarnings);
        assert_eq!(n.command, None);
        let clean = record(
            Stage::Terminal {
                state: "imported".into(),
                ok: true,
            },
            0,
            0,
        );
        assert!(Notice::finished(&clean, true, true, &hint()).is_none());
    }

    #[test]
    fn a_held_batch_names_the_approve_command() {
        let r = record(
            Stage::Held {
                reason: "enrollments: 40% deleted".into(),
            },
            0,
            0,
        );
        let n = Notice::held(&r, &LedgerHint::state("s3://b/p/"));
        assert_eq!(
            n.command.as_deref(),
            Some("canvas-sis approve --state s3://b/p/ main/00000007-abababababab")
        );
        assert!(n.summary.contains("40% deleted"));
    }

    #[test]
    fn subjects_are_short_ascii_lines_and_long_errors_are_cut() {
        let mut r = record(
            Stage::Terminal {
                state: "failed".into(),
                ok: false,
            },
            0,
            0,
        );
        r.errors = vec!["é".repeat(1000)];
        r.tenant = "t".repeat(64);
        let n = Notice::finished(&r, false, false, &hint()).unwrap();
        let s = n.subject();
        assert!(s.len() <= 100 && s.is_ascii() && !s.contains('\n'), "{s}");
        assert_eq!(n.errors[0].chars().count(), MAX_LINE_CHARS);
    }
}
