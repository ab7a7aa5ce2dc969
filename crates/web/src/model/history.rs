//! A tenant's batches, newest first: arrival, submission, Canvas's start and end, the outcome,
//! rows per kind, and how many warnings and errors — the timeline and its chart.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use canvas_sis_core::ledger::{BatchRecord, Ledger, LedgerError, LedgerStore, Stage};

use super::live::LiveCanvas;
use super::overview::{TenantSettings, TenantSummary, ask_canvas, summary};
use super::{LedgerPlace, canvas_time, outcome};
use canvas_sis_core::pipeline::gate;

/// One tenant: its summary and its newest batches.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub summary: TenantSummary,
    /// Newest first, at most the limit asked for.
    pub batches: Vec<BatchRow>,
    /// Batches older than those listed.
    pub older: usize,
}

/// One batch of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRow {
    pub id: String,
    pub arrival_seq: u64,
    pub arrived_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub canvas_started_at: Option<DateTime<Utc>>,
    pub canvas_ended_at: Option<DateTime<Utc>>,
    pub import_id: Option<u64>,
    /// Canvas's workflow state, `rejected`, `superseded`, or the stage on the way.
    pub outcome: String,
    /// `Some(true)` imported, `Some(false)` failed or rejected, `None` not finished (or
    /// superseded).
    pub ok: Option<bool>,
    /// Rows per kind (`users`, `enrollments`, ...).
    pub rows: BTreeMap<String, u64>,
    pub total_rows: u64,
    /// Rows that delete (`status=deleted` or the kind's equivalent), all kinds.
    pub deleted_rows: u64,
    /// Canvas's processing warnings as its JSON lists them (Canvas shows at most a few dozen;
    /// the batch page counts every message of the archived errors file).
    pub warnings: usize,
    pub errors: usize,
}

/// The tenant's summary and its newest `limit` batches.
pub async fn history<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &str,
    place: &LedgerPlace,
    settings: &TenantSettings,
    limit: usize,
    live: Option<&LiveCanvas>,
    now: DateTime<Utc>,
) -> Result<History, LedgerError> {
    let batches = ledger.list_batches(tenant).await?;
    let record = ledger.tenant(tenant).await?;
    let state = gate::derive(&record, &batches, settings.on_failure);
    let mut summary = summary(tenant, &state, &batches, settings, place, now);
    ask_canvas(&mut summary, live).await;
    let rows: Vec<BatchRow> = batches.iter().rev().take(limit).map(row).collect();
    Ok(History {
        summary,
        older: batches.len() - rows.len(),
        batches: rows,
    })
}

/// The timeline row of one batch.
pub fn row(b: &BatchRecord) -> BatchRow {
    let ok = match &b.stage {
        Stage::Terminal { ok, .. } => Some(*ok),
        _ => None,
    };
    BatchRow {
        id: b.id.to_string(),
        arrival_seq: b.arrival_seq,
        arrived_at: b.created_at,
        submitted_at: b.submit_started_at,
        canvas_started_at: canvas_time(b, "started_at").or_else(|| canvas_time(b, "created_at")),
        canvas_ended_at: canvas_time(b, "ended_at"),
        import_id: b.canvas_import_id,
        outcome: outcome(b),
        ok,
        rows: b.counts.iter().map(|(k, s)| (k.clone(), s.rows)).collect(),
        total_rows: b.counts.total_rows(),
        deleted_rows: b.counts.iter().map(|(_, s)| s.deleted).sum(),
        warnings: b.warnings.len(),
        errors: b.errors.len(),
    }
}
