//! What a pass left each tenant waiting on, in one line: `watch --once`'s answer to "why was
//! nothing sent?" (a quiet period, a halt, a pause, a held batch, a blackout, an empty inbox).
//!
//! Read only: the facts come from the [`PassReport`] of the pass and from the ledger (the gate
//! and the tenant's unfinished batches); nothing is recorded or moved here. The line names the
//! command that lifts what blocks the tenant, with the folder it was given.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::pass::{PassReport, Waiting};
use crate::config::{Config, Tenant};
use crate::ledger::{BatchId, Halt, Ledger, LedgerError, LedgerStore, RestoreMark, Stage};
use crate::pipeline::gate::{self, Paused};

/// What keeps a tenant's batches from going to Canvas now, the first that applies (in this
/// order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// An undo is restoring one of the tenant's imports in Canvas.
    Restoring(RestoreMark),
    /// A failure nobody acknowledged; `paused` too if an operator also paused the tenant.
    Halted { halt: Halt, paused: Option<Paused> },
    /// An operator's pause.
    Paused(Paused),
    /// A blackout window is in effect until this instant; the pass skipped the tenant.
    Blackout { until: DateTime<Utc> },
    /// The oldest unfinished batch waits for an operator's approval (the mass-change guard).
    Held { batch: BatchId, reason: String },
    /// The stream stopped at a batch for another reason (still importing, Canvas unreachable).
    Stopped { why: String },
}

/// One tenant after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSummary {
    pub tenant: String,
    /// Batches archived by this pass, as done and as failed.
    pub done: usize,
    pub failed: usize,
    /// Batches recorded as parked behind the gate (or a held batch).
    pub parked: usize,
    /// A failure nobody acknowledged halts the tenant (whatever else holds it).
    pub halted: bool,
    /// The first of the gate, a blackout, a held batch, or where the stream stopped.
    pub blocked: Option<Blocked>,
    /// Drops in the inbox not taken yet, with why.
    pub waiting: Vec<Waiting>,
}

/// Every configured tenant's summary after the pass that produced `report`.
pub async fn summarize<S: LedgerStore>(
    ledger: &Ledger<S>,
    config: &Config,
    report: &PassReport,
    now: DateTime<Utc>,
) -> Result<Vec<TenantSummary>, LedgerError> {
    let mut out = Vec::with_capacity(config.tenants.len());
    for t in &config.tenants {
        out.push(summarize_tenant(ledger, t, report, now).await?);
    }
    Ok(out)
}

async fn summarize_tenant<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &Tenant,
    report: &PassReport,
    now: DateTime<Utc>,
) -> Result<TenantSummary, LedgerError> {
    let name = &tenant.name;
    let mine = |batch: &String| batch.split('/').next() == Some(name.as_str());
    let archived = report.archived.iter().filter(|(b, _)| mine(b));
    let (done, failed) = archived.fold((0, 0), |(d, f), (_, ok)| match ok {
        true => (d + 1, f),
        false => (d, f + 1),
    });
    let batches = ledger.list_batches(name).await?;
    let parked = batches
        .iter()
        .filter(|b| matches!(b.stage, Stage::Parked { .. }))
        .count();
    let held = batches.iter().find_map(|b| match &b.stage {
        Stage::Held { reason } if !b.approved => Some(Blocked::Held {
            batch: b.id.clone(),
            reason: reason.clone(),
        }),
        _ => None,
    });
    let gate = gate::current(ledger, name, tenant.on_failure).await?;
    let stopped = report
        .stopped
        .iter()
        .find(|(t, _)| t == name)
        .map(|(_, why)| Blocked::Stopped { why: why.clone() });
    let blackout = report
        .in_blackout
        .contains(name)
        .then(|| crate::config::blackout_until(&tenant.blackouts, now))
        .flatten()
        .map(|until| Blocked::Blackout { until });
    let halted = gate.halted.is_some();
    let blocked = gate_blocks(gate).or(blackout).or(held).or(stopped);
    Ok(TenantSummary {
        tenant: name.clone(),
        done,
        failed,
        parked,
        halted,
        blocked,
        waiting: report
            .waiting
            .iter()
            .filter(|w| &w.tenant == name)
            .cloned()
            .collect(),
    })
}

fn gate_blocks(gate: gate::GateState) -> Option<Blocked> {
    if let Some(mark) = gate.restoring {
        return Some(Blocked::Restoring(mark));
    }
    match (gate.halted, gate.paused) {
        (Some(halt), paused) => Some(Blocked::Halted { halt, paused }),
        (None, Some(p)) => Some(Blocked::Paused(p)),
        (None, None) => None,
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl TenantSummary {
    /// The summary in one line; `dir` is the folder `watch` runs on, for the commands it names.
    pub fn line(&self, dir: &Path) -> String {
        let mut parts = Vec::new();
        if self.done + self.failed > 0 {
            parts.push(format!(
                "{} finished ({} done, {} failed)",
                plural(self.done + self.failed, "batch"),
                self.done,
                self.failed
            ));
        }
        if let Some(b) = &self.blocked {
            parts.push(self.blocked_words(b, dir));
        }
        if self.parked > 0 {
            parts.push(format!(
                "{} parked in processing/",
                plural(self.parked, "batch")
            ));
        }
        parts.extend(self.waiting_words());
        if parts.is_empty() {
            parts.push("inbox empty: nothing to send".into());
        }
        format!("tenant {}: {}", self.tenant, parts.join("; "))
    }

    fn blocked_words(&self, b: &Blocked, dir: &Path) -> String {
        let resume = format!(
            "canvas-sis resume --dir {} --tenant {}",
            dir.display(),
            self.tenant
        );
        match b {
            Blocked::Blackout { until } => {
                format!(
                    "in a blackout window until {}: nothing is sent before then",
                    when(*until)
                )
            }
            Blocked::Restoring(m) => format!(
                "held while an undo of batch {} restores Canvas import {} (last checked in {}); it goes on by itself when the restore ends",
                m.batch,
                m.import_id,
                when(m.seen)
            ),
            Blocked::Halted { halt, paused } => format!(
                "HALTED since {} by batch {}: {}{}; look at failed/, fix the feed or Canvas, then run `{resume}`",
                when(halt.at),
                halt.batch,
                halt.reason,
                paused
                    .as_ref()
                    .map(|p| format!(" (and paused by {}: {})", p.by, p.reason))
                    .unwrap_or_default()
            ),
            Blocked::Paused(p) => format!(
                "paused since {} by {}: {}; run `{resume}` to reopen",
                when(p.at),
                p.by,
                p.reason
            ),
            Blocked::Held { batch, reason } => format!(
                "batch {batch} held by the mass-change guard ({reason}); if the change is intended, run `canvas-sis approve --dir {} {batch}`",
                dir.display()
            ),
            Blocked::Stopped { why } => format!("waits at {why}"),
        }
    }

    fn waiting_words(&self) -> Option<String> {
        let first = self.waiting.first()?;
        let more = match self.waiting.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more, listed above)"),
        };
        Some(format!(
            "{} waiting in the inbox: {}: {}{more}",
            plural(self.waiting.len(), "drop"),
            first.path.display(),
            first.why
        ))
    }
}

fn plural(n: usize, word: &str) -> String {
    match (n, word) {
        (1, w) => format!("1 {w}"),
        (n, "batch") => format!("{n} batches"),
        (n, w) => format!("{n} {w}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> TenantSummary {
        TenantSummary {
            tenant: "main".into(),
            done: 0,
            failed: 0,
            parked: 0,
            halted: false,
            blocked: None,
            waiting: Vec::new(),
        }
    }

    #[test]
    fn an_empty_inbox_says_so() {
        let line = summary().line(Path::new("/srv/sis"));
        assert_eq!(line, "tenant main: inbox empty: nothing to send");
    }

    #[test]
    fn a_paused_tenant_names_the_command_that_reopens_it() {
        let s = TenantSummary {
            blocked: Some(Blocked::Paused(Paused {
                reason: "term rollover".into(),
                by: "ops".into(),
                at: "2026-12-01T02:00:00Z".parse().unwrap(),
            })),
            parked: 2,
            ..summary()
        };
        let line = s.line(Path::new("/srv/sis"));
        assert!(
            line.contains("paused since 2026-12-01 02:00 UTC by ops: term rollover")
                && line.contains("`canvas-sis resume --dir /srv/sis --tenant main`")
                && line.contains("2 batches parked"),
            "{line}"
        );
    }
}
