//! Every tenant at a glance: its gate (open, paused, halted, held by an undo) with the reason,
//! since when and the command that lifts it; how long since its last successful import against
//! its freshness target; and what waits — parked, held by the guard, in flight at Canvas.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use canvas_sis_core::config::{OnFailure, Tenant};
use canvas_sis_core::ledger::poison::{POISON_PREFIX, PoisonRecord};
use canvas_sis_core::ledger::{BatchRecord, Ledger, LedgerError, LedgerStore, Stage};
use canvas_sis_core::pipeline::gate::{self, GateState};
use canvas_sis_core::pipeline::operator;

use super::live::{LiveCanvas, LiveImport};
use super::{LedgerPlace, age_secs, imported_ok, stage_since};

pub use canvas_sis_core::config::DEFAULT_FRESHNESS_HOURS;

/// What the page knows of a tenant's configuration (when it was given one).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSettings {
    /// `freshness_hours`: the age of the last successful import past which it is stale.
    pub freshness_hours: f64,
    /// `on_failure`: a tenant that continues past failures is never halted.
    pub on_failure: OnFailure,
}

impl TenantSettings {
    /// A configured tenant's settings.
    pub fn of(t: &Tenant) -> Self {
        TenantSettings {
            freshness_hours: t.freshness_hours,
            on_failure: t.on_failure,
        }
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            freshness_hours: DEFAULT_FRESHNESS_HOURS,
            on_failure: OnFailure::Halt,
        }
    }
}

/// Every tenant of the ledger, by name.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub generated_at: DateTime<Utc>,
    pub ledger: String,
    pub tenants: Vec<TenantSummary>,
    /// How many messages the cloud worker could not process and moved aside (none in folder mode).
    pub poison_count: usize,
    /// The newest of them, newest first, at most [`POISON_SHOWN`].
    pub poison: Vec<PoisonLine>,
}

/// How many poison messages the tenants page (and `status`) lists.
pub const POISON_SHOWN: usize = 5;

/// The `kind` of a poison record that could not be read (its `error` says why).
pub const UNREADABLE: &str = "unreadable";

/// A queue message the worker could not process: when, what kind of problem, where it went.
#[derive(Debug, Clone, Serialize)]
pub struct PoisonLine {
    pub received_at: DateTime<Utc>,
    pub message_id: String,
    /// `unparseable`, `unknown_tenant`, ... (the worker's words).
    pub kind: String,
    pub error: String,
    /// The dead-letter queue, or `deleted`.
    pub moved_to: String,
    /// Where the record is (a file path or `s3://` URL).
    pub location: String,
}

/// One tenant's state.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSummary {
    pub tenant: String,
    pub gate: GateView,
    pub last_success: Option<LastSuccess>,
    pub freshness_hours: f64,
    /// `fresh`, `stale`, or `never` (no successful import yet).
    pub freshness: &'static str,
    /// Batches not yet finished, oldest first.
    pub waiting: Vec<Waiting>,
    /// Every batch the ledger holds for the tenant.
    pub batches: usize,
}

/// The tenant's gate, for a person.
#[derive(Debug, Clone, Serialize)]
pub struct GateView {
    /// [`GateState::state`]: `open`, `paused`, `restoring` or `halted` (what else holds it is in
    /// the description).
    pub state: String,
    /// Since when the oldest of what closes it holds.
    pub since: Option<DateTime<Utc>>,
    /// What closes it, in sentences.
    pub description: String,
    /// The batch whose failure halts the tenant.
    pub halted_by: Option<String>,
    /// The command that lifts it.
    pub command: Option<String>,
}

/// The newest batch Canvas imported successfully.
#[derive(Debug, Clone, Serialize)]
pub struct LastSuccess {
    pub batch: String,
    pub at: DateTime<Utc>,
    pub import_id: Option<u64>,
    pub age_secs: i64,
}

/// A batch on its way.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub batch: String,
    /// `received`, `parked`, `held`, `submitting`, `submitted`, ...
    pub stage: String,
    /// Why it waits (the park's or the guard's reason).
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    pub import_id: Option<u64>,
    /// Canvas's state of that import now, when the page could ask ([`LiveCanvas`]).
    pub canvas: Option<LiveImport>,
    /// The command that lets it go on, when one does (`approve` for a held batch).
    pub command: Option<String>,
}

/// The overview of every tenant in the ledger (with Canvas's progress of running imports when
/// `live` lends a Canvas).
pub async fn overview<S: LedgerStore>(
    ledger: &Ledger<S>,
    place: &LedgerPlace,
    settings: &BTreeMap<String, TenantSettings>,
    live: Option<&LiveCanvas>,
    now: DateTime<Utc>,
) -> Result<Overview, LedgerError> {
    let mut tenants = Vec::new();
    for name in operator::tenants(ledger).await? {
        let s = settings.get(&name).cloned().unwrap_or_default();
        let batches = ledger.list_batches(&name).await?;
        let record = ledger.tenant(&name).await?;
        let state = gate::derive(&record, &batches, s.on_failure);
        let mut t = summary(&name, &state, &batches, &s, place, now);
        ask_canvas(&mut t, live).await;
        tenants.push(t);
    }
    let (poison_count, poison) = poison(ledger).await?;
    Ok(Overview {
        generated_at: now,
        ledger: place.label(),
        tenants,
        poison_count,
        poison,
    })
}

/// How many poison records the ledger holds, and the newest [`POISON_SHOWN`] (an unreadable one
/// is listed by its key alone).
pub async fn poison<S: LedgerStore>(
    ledger: &Ledger<S>,
) -> Result<(usize, Vec<PoisonLine>), LedgerError> {
    let keys = ledger.store().list(POISON_PREFIX).await?;
    let mut lines = Vec::new();
    for key in keys.iter().rev().take(POISON_SHOWN) {
        let Some(body) = ledger.store().get_blob(key).await? else {
            continue;
        };
        let location = ledger.store().locate(key);
        lines.push(match serde_json::from_slice::<PoisonRecord>(&body) {
            Ok(p) => PoisonLine {
                received_at: p.received_at,
                message_id: p.message_id,
                kind: p.kind,
                error: p.error,
                moved_to: p.moved_to,
                location,
            },
            Err(e) => PoisonLine {
                received_at: DateTime::<Utc>::MIN_UTC,
                message_id: key.clone(),
                kind: UNREADABLE.into(),
                error: e.to_string(),
                moved_to: String::new(),
                location,
            },
        });
    }
    Ok((keys.len(), lines))
}

/// Fills in Canvas's state of each submitted batch's import, when `live` lends a Canvas.
pub async fn ask_canvas(t: &mut TenantSummary, live: Option<&LiveCanvas>) {
    let Some(live) = live else { return };
    for w in t.waiting.iter_mut().filter(|w| w.stage == "submitted") {
        if let Some(id) = w.import_id {
            w.canvas = live.import(&t.tenant, id).await;
        }
    }
}

/// One tenant's summary from its gate and batches (arrival order).
pub fn summary(
    name: &str,
    state: &GateState,
    batches: &[BatchRecord],
    settings: &TenantSettings,
    place: &LedgerPlace,
    now: DateTime<Utc>,
) -> TenantSummary {
    let last_success = batches
        .iter()
        .filter(|b| imported_ok(b))
        .max_by_key(|b| stage_since(b))
        .map(|b| LastSuccess {
            batch: b.id.to_string(),
            at: stage_since(b),
            import_id: b.canvas_import_id,
            age_secs: age_secs(stage_since(b), now),
        });
    let freshness = match &last_success {
        None => "never",
        Some(l) if (l.age_secs as f64) > settings.freshness_hours * 3600.0 => "stale",
        Some(_) => "fresh",
    };
    let waiting = batches
        .iter()
        .filter(|b| !b.stage.is_terminal())
        .map(|b| waiting(b, place))
        .collect();
    TenantSummary {
        tenant: name.to_owned(),
        gate: gate_view(name, state, place),
        last_success,
        freshness_hours: settings.freshness_hours,
        freshness,
        waiting,
        batches: batches.len(),
    }
}

fn gate_view(tenant: &str, state: &GateState, place: &LedgerPlace) -> GateView {
    let since = [
        state.restoring.as_ref().map(|r| r.seen),
        state.paused.as_ref().map(|p| p.at),
        state.halted.as_ref().map(|h| h.at),
    ]
    .into_iter()
    .flatten()
    .min();
    let command = (!state.is_open()).then(|| {
        format!(
            "canvas-sis resume {} --tenant {}",
            place.flag(),
            super::shell_word(tenant)
        )
    });
    GateView {
        state: state.state().to_owned(),
        since,
        description: describe(state),
        halted_by: state.halted.as_ref().map(|h| h.batch.to_string()),
        command,
    }
}

/// What closes the gate, each part in a sentence (times to the minute: the page says since
/// when).
fn describe(state: &GateState) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &state.restoring {
        parts.push(format!(
            "Held while an undo of batch {} restores Canvas import {} (it last checked in at {}); \
             it lets the tenant go on when the restore ends.",
            r.batch,
            r.import_id,
            r.seen.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if let Some(h) = &state.halted {
        parts.push(format!(
            "Halted by batch {}: {}. Look at that batch, fix the feed or Canvas, then resume.",
            h.batch, h.reason
        ));
    }
    if let Some(p) = &state.paused {
        parts.push(format!("Paused by {}: {}.", p.by, p.reason));
    }
    if parts.is_empty() {
        return "Open: batches go to Canvas as they arrive.".into();
    }
    parts.join(" ")
}

fn waiting(b: &BatchRecord, place: &LedgerPlace) -> Waiting {
    let reason = match &b.stage {
        Stage::Held { reason } | Stage::Parked { reason } => Some(reason.clone()),
        _ => None,
    };
    let command = matches!(b.stage, Stage::Held { .. })
        .then(|| format!("canvas-sis approve {} {}", place.flag(), b.id));
    Waiting {
        batch: b.id.to_string(),
        stage: b.stage.name().to_owned(),
        reason,
        since: stage_since(b),
        import_id: b.canvas_import_id,
        canvas: None,
        command,
    }
}
