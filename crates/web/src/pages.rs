//! The three pages (and the error page) as askama templates over the models: the models stay
//! plain data (they are `status --json` too); what only a person reads — times, badges,
//! the chart — is shaped here.

use askama::Template;
use chrono::{DateTime, Utc};

use crate::model::batch::BatchDetail;
use crate::model::history::{BatchRow, History};
use crate::model::overview::{Overview, TenantSummary};

/// The stylesheet, served at `/page.css`.
pub const CSS: &str = include_str!("../templates/page.css");

/// How many batches the tenant page's chart shows.
pub const CHART_BATCHES: usize = 30;

#[derive(Template)]
#[template(path = "tenants.html")]
pub struct TenantsPage {
    pub title: String,
    pub ledger: String,
    pub generated: String,
    pub tenants: Vec<TenantCard>,
    pub poison_count: usize,
    pub poison: Vec<PoisonView>,
}

pub struct PoisonView {
    pub received: String,
    pub message_id: String,
    pub kind: String,
    pub error: String,
    pub moved_to: String,
    pub location: String,
}

#[derive(Template)]
#[template(path = "tenant.html")]
pub struct TenantPage {
    pub title: String,
    pub ledger: String,
    pub generated: String,
    pub t: TenantCard,
    pub rows: Vec<RowView>,
    pub older: usize,
    pub chart: String,
    pub chart_batches: usize,
}

#[derive(Template)]
#[template(path = "batch.html")]
pub struct BatchPage {
    pub title: String,
    pub ledger: String,
    pub generated: String,
    pub tenant_href: String,
    pub outcome_class: &'static str,
    pub guard_href: String,
    pub guard: Vec<GuardView>,
    pub classes: Vec<ClassView>,
    pub trend_header: String,
    pub message_total: u64,
    pub samples: bool,
    pub d: BatchDetail,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub ledger: String,
    pub generated: String,
    pub message: String,
}

/// A tenant as its card shows it.
pub struct TenantCard {
    pub name: String,
    pub href: String,
    pub state: String,
    pub state_class: &'static str,
    pub since: Option<String>,
    pub gate_text: String,
    pub command: Option<String>,
    pub last_success: String,
    pub freshness: &'static str,
    pub freshness_hours: String,
    pub batches: usize,
    pub waiting: Vec<WaitView>,
}

pub struct WaitView {
    pub batch: String,
    pub href: String,
    pub stage: String,
    pub since: String,
    pub reason: String,
}

pub struct RowView {
    /// The batch's id without its tenant (the page is the tenant's).
    pub local: String,
    pub href: String,
    pub arrived: String,
    pub sent: String,
    pub started: String,
    pub ended: String,
    pub outcome: String,
    pub outcome_class: &'static str,
    pub total_rows: u64,
    pub rows_by_kind: String,
    pub warnings: usize,
    pub errors: usize,
}

pub struct GuardView {
    pub kind: String,
    pub rows: u64,
    pub deleted: u64,
    pub previous: String,
    pub change: String,
}

pub struct ClassView {
    pub class: String,
    pub severity: &'static str,
    pub count: u64,
    pub trend: String,
    pub samples: Vec<String>,
}

/// A time as the pages print it, with how long ago.
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "{}, {} ago",
        t.format("%Y-%m-%d %H:%M UTC"),
        span((now - t).num_seconds())
    )
}

/// A duration in seconds, in the largest unit that fits: `42 s`, `7 min`, `5 h 12 min`, `3 d 4 h`.
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// The link of a batch's page.
pub fn batch_href(id: &str) -> String {
    format!("/batches/{id}")
}

/// The link of a tenant's page.
pub fn tenant_href(name: &str) -> String {
    format!("/tenants/{name}")
}

fn outcome_class(ok: Option<bool>, outcome: &str) -> &'static str {
    match (ok, outcome) {
        (Some(true), _) => "ok",
        (Some(false), _) => "bad",
        (None, "superseded") => "muted",
        (None, _) => "waiting",
    }
}

/// The card of one tenant.
pub fn card(t: &TenantSummary, now: DateTime<Utc>) -> TenantCard {
    let state_class = match t.gate.state.as_str() {
        "open" => "open",
        "paused" => "paused",
        "restoring" => "restoring",
        _ => "halted",
    };
    let last_success = match &t.last_success {
        Some(l) => format!(
            "{} — batch {}{}",
            when(l.at, now),
            l.batch,
            l.import_id
                .map(|i| format!(", Canvas import {i}"))
                .unwrap_or_default()
        ),
        None => "none yet".to_owned(),
    };
    TenantCard {
        name: t.tenant.clone(),
        href: tenant_href(&t.tenant),
        state: t.gate.state.clone(),
        state_class,
        since: t.gate.since.map(|s| when(s, now)),
        gate_text: t.gate.description.clone(),
        command: t.gate.command.clone(),
        last_success,
        freshness: t.freshness,
        freshness_hours: format!("{}", t.freshness_hours),
        batches: t.batches,
        waiting: t
            .waiting
            .iter()
            .map(|w| WaitView {
                batch: w.batch.clone(),
                href: batch_href(&w.batch),
                stage: match (w.import_id, &w.canvas) {
                    (Some(i), Some(c)) => format!(
                        "{} (Canvas import {i}: {}{})",
                        w.stage,
                        c.workflow_state,
                        c.progress.map(|p| format!(", {p} %")).unwrap_or_default()
                    ),
                    (Some(i), None) => format!("{} (Canvas import {i})", w.stage),
                    (None, _) => w.stage.clone(),
                },
                since: when(w.since, now),
                reason: w.reason.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

pub fn tenants_page(o: &Overview) -> TenantsPage {
    TenantsPage {
        title: "Tenants".into(),
        ledger: o.ledger.clone(),
        generated: o.generated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        tenants: o.tenants.iter().map(|t| card(t, o.generated_at)).collect(),
        poison_count: o.poison_count,
        poison: o
            .poison
            .iter()
            .map(|p| PoisonView {
                received: when(p.received_at, o.generated_at),
                message_id: p.message_id.clone(),
                kind: p.kind.clone(),
                error: p.error.clone(),
                moved_to: p.moved_to.clone(),
                location: p.location.clone(),
            })
            .collect(),
    }
}

/// A later time of the same batch, as short as the arrival allows: the time alone on the same
/// day, else month, day and time.
fn later(t: Option<DateTime<Utc>>, arrived: DateTime<Utc>) -> String {
    match t {
        None => "—".to_owned(),
        Some(t) if t.date_naive() == arrived.date_naive() => t.format("%H:%M:%S").to_string(),
        Some(t) => t.format("%m-%d %H:%M").to_string(),
    }
}

fn row_view(r: &BatchRow, now: DateTime<Utc>) -> RowView {
    let opt = |t: Option<DateTime<Utc>>| later(t, r.arrived_at);
    RowView {
        local: r
            .id
            .split_once('/')
            .map_or(r.id.clone(), |(_, l)| l.to_owned()),
        href: batch_href(&r.id),
        arrived: format!(
            "{}, {} ago",
            r.arrived_at.format("%Y-%m-%d %H:%M"),
            span((now - r.arrived_at).num_seconds())
        ),
        sent: opt(r.submitted_at),
        started: opt(r.canvas_started_at),
        ended: opt(r.canvas_ended_at),
        outcome: r.outcome.clone(),
        outcome_class: outcome_class(r.ok, &r.outcome),
        total_rows: r.total_rows,
        rows_by_kind: r
            .rows
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        warnings: r.warnings,
        errors: r.errors,
    }
}

pub fn tenant_page(h: &History, ledger: &str, now: DateTime<Utc>) -> TenantPage {
    let charted: Vec<&BatchRow> = h.batches.iter().take(CHART_BATCHES).rev().collect();
    TenantPage {
        title: format!("Tenant {}", h.summary.tenant),
        ledger: ledger.to_owned(),
        generated: now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        t: card(&h.summary, now),
        rows: h.batches.iter().map(|r| row_view(r, now)).collect(),
        older: h.older,
        chart: crate::pages::chart(&charted),
        chart_batches: charted.len(),
    }
}

pub fn batch_page(d: BatchDetail, ledger: &str, samples: bool, now: DateTime<Utc>) -> BatchPage {
    let guard = d
        .guard
        .iter()
        .map(|g| GuardView {
            kind: g.kind.clone(),
            rows: g.rows,
            deleted: g.deleted,
            previous: g.previous_rows.map_or("—".into(), |p| p.to_string()),
            change: g
                .change_percent
                .map_or("—".into(), |c| format!("{c:+.1} %")),
        })
        .collect();
    let classes = d
        .messages
        .iter()
        .map(|m| ClassView {
            class: m.class.clone(),
            severity: m.severity,
            count: m.count,
            trend: m
                .trend
                .iter()
                .map(|n| n.map_or("?".to_owned(), |n| n.to_string()))
                .collect::<Vec<_>>()
                .join(" → "),
            samples: m
                .samples
                .iter()
                .map(|s| {
                    let at = match (&s.file, s.row) {
                        (Some(f), Some(r)) => format!("{f}:{r}: "),
                        (Some(f), None) => format!("{f}: "),
                        _ => String::new(),
                    };
                    format!("{at}{}", s.text)
                })
                .collect(),
        })
        .collect();
    BatchPage {
        title: format!("Batch {}", d.row.id),
        ledger: ledger.to_owned(),
        generated: now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        tenant_href: tenant_href(&d.tenant),
        outcome_class: outcome_class(d.row.ok, &d.row.outcome),
        guard_href: d
            .guard_against
            .as_deref()
            .map(batch_href)
            .unwrap_or_default(),
        guard,
        classes,
        trend_header: d.trend_batches.join(", "),
        message_total: d.messages.iter().map(|m| m.count).sum(),
        samples,
        d,
    }
}

/// An inline SVG chart of the batches (oldest left): a bar of rows each, a dot for warnings on
/// a scale of its own. Its title and description say what it shows; the table below it has the
/// numbers.
pub fn chart(rows: &[&BatchRow]) -> String {
    const W: usize = 600;
    const H: usize = 160;
    if rows.is_empty() {
        return "<p class=\"muted\">Nothing to chart yet.</p>".into();
    }
    let max_rows = rows.iter().map(|r| r.total_rows).max().unwrap_or(0).max(1);
    let max_warn = rows.iter().map(|r| r.warnings).max().unwrap_or(0).max(1);
    let step = W / rows.len().max(1);
    let bar = (step * 2 / 3).max(2);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {}\" role=\"img\" aria-labelledby=\"chart-title chart-desc\">\
         <title id=\"chart-title\">Rows and warnings per batch</title>\
         <desc id=\"chart-desc\">{} batches, oldest left. Bars: rows (up to {max_rows}). Dots: Canvas warnings (up to {max_warn}).</desc>\
         <line class=\"axis\" x1=\"0\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\"/>",
        H + 2,
        rows.len()
    );
    for (i, r) in rows.iter().enumerate() {
        let x = i * step + (step - bar) / 2;
        let h = (r.total_rows as f64 / max_rows as f64 * (H - 10) as f64).round() as usize;
        let wy = H - (r.warnings as f64 / max_warn as f64 * (H - 10) as f64).round() as usize;
        svg.push_str(&format!(
            "<rect class=\"bar\" x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{h}\"><title>{}: {} rows</title></rect>\
             <circle class=\"dot\" cx=\"{}\" cy=\"{wy}\" r=\"4\"><title>{}: {} warnings</title></circle>",
            H - h,
            escape(&r.id),
            r.total_rows,
            x + bar / 2,
            escape(&r.id),
            r.warnings
        ));
    }
    svg.push_str("</svg><p class=\"legend\"><span class=\"key-bar\">■</span> rows &nbsp; <span class=\"key-dot\">●</span> warnings (own scale)</p>");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::overview::PoisonLine;

    fn overview(poison: Vec<PoisonLine>, count: usize) -> Overview {
        Overview {
            generated_at: Utc::now(),
            ledger: "s3://state/canvas-sis/".into(),
            tenants: Vec::new(),
            poison_count: count,
            poison,
        }
    }

    #[test]
    fn an_empty_ledger_says_no_batches_yet() {
        let html = tenants_page(&overview(Vec::new(), 0)).render().unwrap();
        assert!(html.contains("No batches yet"), "{html}");
        assert!(!html.contains("could not process"), "{html}");
    }

    #[test]
    fn poison_messages_are_counted_and_the_newest_listed_with_where_their_record_is() {
        let line = PoisonLine {
            received_at: Utc::now(),
            message_id: "m-1".into(),
            kind: "unknown_tenant".into(),
            error: "no tenant's s3_prefix matches west/b.zip".into(),
            moved_to: "sis-dlq.fifo".into(),
            location: "s3://state/canvas-sis/poison/x.json".into(),
        };
        let html = tenants_page(&overview(vec![line], 7)).render().unwrap();
        assert!(
            html.contains("Messages the worker could not process (7)"),
            "{html}"
        );
        assert!(
            html.contains("unknown_tenant") && html.contains("sis-dlq.fifo"),
            "{html}"
        );
        assert!(
            html.contains("s3://state/canvas-sis/poison/x.json"),
            "{html}"
        );
    }

    #[test]
    fn a_duration_reads_in_the_largest_unit_that_fits() {
        assert_eq!(span(42), "42 s");
        assert_eq!(span(7 * 60 + 5), "7 min");
        assert_eq!(span(5 * 3600 + 12 * 60), "5 h 12 min");
        assert_eq!(span(3 * 86400 + 4 * 3600), "3 d 4 h");
        assert_eq!(span(-5), "0 s");
    }
}
