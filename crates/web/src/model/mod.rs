//! What the status page and `status --json` show, read from the ledger: plain serialisable
//! structs, built once per request and rendered by the templates (or printed as JSON).
//!
//! - [`overview`]: every tenant's gate, freshness and what waits.
//! - [`history`]: one tenant's batches, newest first, with counts per kind and outcome.
//! - [`batch`]: one batch in full, and its message classes across the tenant's batches.
//! - [`live`]: Canvas's progress of imports still running, when the command lends its Canvas.

pub mod batch;
pub mod history;
pub mod live;
pub mod overview;

use chrono::{DateTime, Utc};
use serde::Serialize;

use canvas_sis_core::ledger::{BatchRecord, Stage};

/// Where the ledger is, as the operator commands take it: `--dir DIR` or `--state s3://…`.
/// The page prints the exact `resume`/`approve`/`undo` commands with it.
#[derive(Debug, Clone, Serialize)]
pub enum LedgerPlace {
    /// A folder-mode directory (`watch DIR`).
    Dir(String),
    /// The cloud worker's state URL (`run`, Lambda).
    State(String),
}

impl LedgerPlace {
    /// The directory or URL itself.
    pub fn label(&self) -> String {
        match self {
            LedgerPlace::Dir(d) | LedgerPlace::State(d) => d.clone(),
        }
    }

    /// The `--dir DIR` or `--state URL` flag of an operator command, quoted for a shell.
    pub fn flag(&self) -> String {
        match self {
            LedgerPlace::Dir(d) => format!("--dir {}", shell_word(d)),
            LedgerPlace::State(u) => format!("--state {}", shell_word(u)),
        }
    }
}

/// `s` as one word for a POSIX shell: as it is when it holds only safe characters, else in
/// single quotes.
pub fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/-_.:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// When a batch reached its current stage: the newest recorded change, else its creation.
pub fn stage_since(b: &BatchRecord) -> DateTime<Utc> {
    b.history.last().map_or(b.created_at, |c| c.at)
}

/// A successful Canvas import (not a rejection before upload, which is never `ok`).
pub fn imported_ok(b: &BatchRecord) -> bool {
    matches!(&b.stage, Stage::Terminal { ok: true, .. })
}

/// The outcome a person reads: Canvas's workflow state, `rejected`, `superseded`, or the stage
/// of a batch still on its way.
pub fn outcome(b: &BatchRecord) -> String {
    match &b.stage {
        Stage::Terminal { state, .. } => state.clone(),
        other => other.name().to_owned(),
    }
}

/// A timestamp of Canvas's JSON (`created_at`, `ended_at`, ...), when it is one.
pub fn canvas_time(b: &BatchRecord, field: &str) -> Option<DateTime<Utc>> {
    let raw = b.canvas_json.as_ref()?.get(field)?.as_str()?;
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Seconds from `earlier` to `now`, never negative.
pub fn age_secs(earlier: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - earlier).num_seconds().max(0)
}
