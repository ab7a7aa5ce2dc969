//! One batch in full: where it came from and its files, its stage history, the validation
//! report grouped by rule, the mass-change guard's comparison per kind, Canvas's result, its
//! messages grouped by class (with each class's count in the tenant's earlier batches), where
//! its archive is, and the command an operator runs next.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use canvas_sis_core::ledger::{BatchId, BatchRecord, Ledger, LedgerError, LedgerStore, Stage};

use super::history::{BatchRow, row};
use super::{LedgerPlace, imported_ok, shell_word};
use crate::classes::{self, ClassCount, Message};

/// How many of the tenant's batches (this one and those before it) a class's trend spans.
pub const TREND_BATCHES: usize = 8;

/// Everything the page shows of one batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchDetail {
    pub tenant: String,
    pub row: BatchRow,
    /// The stage as `status` prints it (`held (…)`, `terminal (failed, not ok)`).
    pub stage: String,
    pub source_kind: String,
    pub source_location: String,
    pub files: Vec<FileLine>,
    pub history: Vec<StageLine>,
    pub validation: Vec<RuleGroup>,
    /// The report's last line (`2 errors, 5 warnings: rejected`), when archived.
    pub validation_verdict: Option<String>,
    pub guard: Vec<GuardLine>,
    /// The successful batch the guard lines compare with.
    pub guard_against: Option<String>,
    pub canvas: Option<CanvasSummary>,
    /// `errors file` (every message) or `Canvas JSON` (the lists Canvas truncates).
    pub messages_from: Option<&'static str>,
    pub messages: Vec<ClassLine>,
    /// The batches of the trend, oldest first (short ids), for the classes' columns.
    pub trend_batches: Vec<String>,
    pub failure: Option<FailureLine>,
    pub archive: Vec<ArchiveLine>,
    pub commands: Vec<CommandLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileLine {
    pub name: String,
    pub bytes: u64,
    /// The SIS kind validation found (`users`, ...), when recorded.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageLine {
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
    pub note: String,
}

/// The findings of one rule and severity.
#[derive(Debug, Clone, Serialize)]
pub struct RuleGroup {
    pub severity: String,
    pub rule: String,
    pub count: u64,
    /// The first findings as the report words them (shown only with row samples).
    pub samples: Vec<String>,
}

/// One kind's rows against the last successful batch before this one.
#[derive(Debug, Clone, Serialize)]
pub struct GuardLine {
    pub kind: String,
    pub rows: u64,
    pub deleted: u64,
    pub previous_rows: Option<u64>,
    /// Change in rows, percent of the previous batch's.
    pub change_percent: Option<f64>,
}

/// Canvas's JSON for the import, the parts a person reads.
#[derive(Debug, Clone, Serialize)]
pub struct CanvasSummary {
    pub workflow_state: String,
    pub progress: Option<u64>,
    /// `data.counts`: what Canvas created or changed, by kind (those above zero).
    pub counts: BTreeMap<String, u64>,
    pub batch_mode: bool,
    pub diffed_against: Option<u64>,
}

/// One message class, with its count here and in the tenant's earlier batches.
#[derive(Debug, Clone, Serialize)]
pub struct ClassLine {
    pub class: String,
    /// `error` when Canvas listed a message of the class among its errors, else `warning`.
    pub severity: &'static str,
    pub count: u64,
    /// Counts in the trend's batches, oldest first (`None`: that batch's messages are unknown).
    pub trend: Vec<Option<u64>>,
    pub samples: Vec<Message>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureLine {
    pub at: DateTime<Utc>,
    pub reason: String,
    /// Who acknowledged it (`resume`), if anyone has.
    pub acknowledged_by: Option<String>,
}

/// A piece of the batch's archive: what it is and where it lives.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveLine {
    pub what: &'static str,
    /// The file path or `s3://` URL.
    pub location: String,
    /// The page's download link, when downloads are on (row samples).
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandLine {
    pub what: String,
    pub command: String,
}

/// The archive pieces a page may serve, by their link's last segment.
pub const DOWNLOADS: &[(&str, &str)] = &[
    ("zip", "the zip sent to Canvas"),
    ("errors.csv", "Canvas's errors file"),
    ("validation.txt", "the validation report"),
    ("canvas.json", "Canvas's final JSON"),
];

/// The batch `id`, or `None` when the ledger has no such batch.
pub async fn batch_detail<S: LedgerStore>(
    ledger: &Ledger<S>,
    id: &BatchId,
    place: &LedgerPlace,
    row_samples: bool,
) -> Result<Option<BatchDetail>, LedgerError> {
    let Some(b) = ledger.get_batch(id).await? else {
        return Ok(None);
    };
    let batches = ledger.list_batches(id.tenant()).await?;
    let report = match &b.archive.report {
        Some(key) => ledger.get_archive(key).await?,
        None => None,
    };
    let (validation, validation_verdict) = report
        .as_deref()
        .map(|r| validation_groups(&String::from_utf8_lossy(r), row_samples))
        .unwrap_or_default();
    let (guard_against, guard) = guard_lines(&b, &batches);
    let trend_of: Vec<&BatchRecord> = batches
        .iter()
        .filter(|o| o.arrival_seq <= b.arrival_seq && o.stage.is_terminal())
        .rev()
        .take(TREND_BATCHES)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut trend_counts = Vec::new();
    for o in &trend_of {
        trend_counts.push(
            messages_of(ledger, o)
                .await?
                .map(|(_, m)| classes::count(&m)),
        );
    }
    let (messages_from, mine) = match messages_of(ledger, &b).await? {
        Some((from, m)) => (Some(from), classes::count(&m)),
        None => (None, Vec::new()),
    };
    let messages = class_lines(&b, mine, &trend_counts, row_samples);
    Ok(Some(BatchDetail {
        tenant: b.tenant.clone(),
        row: row(&b),
        stage: b.stage.to_string(),
        source_kind: b.source.kind.clone(),
        source_location: b.source.location.clone(),
        files: files(&b),
        history: b
            .history
            .iter()
            .map(|c| StageLine {
                at: c.at,
                from: c.from.name().to_owned(),
                to: c.to.to_string(),
                note: c.note.clone(),
            })
            .collect(),
        validation,
        validation_verdict,
        guard,
        guard_against,
        canvas: canvas_summary(&b),
        messages_from,
        messages,
        trend_batches: trend_of
            .iter()
            .map(|o| o.id.local_part().to_owned())
            .collect(),
        failure: b.failure.as_ref().map(|f| FailureLine {
            at: f.at,
            reason: f.reason.clone(),
            acknowledged_by: f.acknowledged.as_ref().map(|a| a.by.clone()),
        }),
        archive: archive_lines(ledger, &b, row_samples),
        commands: commands(&b, place),
    }))
}

fn files(b: &BatchRecord) -> Vec<FileLine> {
    b.source
        .files
        .iter()
        .map(|f| FileLine {
            name: f.name.clone(),
            bytes: f.size,
            kind: b
                .file_kinds
                .as_ref()
                .and_then(|k| k.get(&f.name))
                .map(|k| k.counts_key().to_owned()),
        })
        .collect()
}

/// The validation report's findings grouped by severity and rule (errors first), and its
/// verdict line. A finding line reads `  <severity> <location> <rule>: <message> Fix: <fix>`.
pub fn validation_groups(report: &str, row_samples: bool) -> (Vec<RuleGroup>, Option<String>) {
    let mut groups: Vec<RuleGroup> = Vec::new();
    for line in report.lines().filter(|l| l.starts_with("  ")) {
        let mut parts = line.trim().splitn(3, ' ');
        let (Some(severity), Some(_location), Some(rest)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some((rule, _)) = rest.split_once(':') else {
            continue;
        };
        let at = groups
            .iter()
            .position(|g| g.severity == severity && g.rule == rule);
        let g = match at {
            Some(i) => &mut groups[i],
            None => {
                groups.push(RuleGroup {
                    severity: severity.to_owned(),
                    rule: rule.to_owned(),
                    count: 0,
                    samples: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        g.count += 1;
        if row_samples && g.samples.len() < classes::SAMPLES {
            g.samples.push(line.trim().to_owned());
        }
    }
    groups.sort_by_key(|g| g.severity != "error");
    let verdict = report
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("  "))
        .map(str::to_owned);
    (groups, verdict)
}

/// Each kind of the batch against the newest successful batch that arrived before it: what the
/// guard compared it with (or would have).
fn guard_lines(b: &BatchRecord, batches: &[BatchRecord]) -> (Option<String>, Vec<GuardLine>) {
    let previous = batches
        .iter()
        .filter(|o| o.arrival_seq < b.arrival_seq && imported_ok(o))
        .max_by_key(|o| o.arrival_seq);
    let lines = b
        .counts
        .iter()
        .map(|(kind, s)| {
            let previous_rows = previous.and_then(|p| p.counts.get(kind)).map(|p| p.rows);
            let change_percent = previous_rows
                .filter(|p| *p > 0)
                .map(|p| (s.rows as f64 - p as f64) * 100.0 / p as f64);
            GuardLine {
                kind: kind.clone(),
                rows: s.rows,
                deleted: s.deleted,
                previous_rows,
                change_percent,
            }
        })
        .collect();
    (previous.map(|p| p.id.to_string()), lines)
}

fn canvas_summary(b: &BatchRecord) -> Option<CanvasSummary> {
    let j = b.canvas_json.as_ref()?;
    let counts = j
        .pointer("/data/counts")
        .and_then(|c| c.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64().filter(|n| *n > 0)?)))
                .collect()
        })
        .unwrap_or_default();
    Some(CanvasSummary {
        workflow_state: j["workflow_state"].as_str().unwrap_or("?").to_owned(),
        progress: j["progress"].as_u64(),
        counts,
        batch_mode: j["batch_mode"].as_bool().unwrap_or(false),
        diffed_against: j["diffed_against_import_id"].as_u64(),
    })
}

/// The batch's messages: every one from its archived errors file, else the lists of Canvas's
/// JSON as the ledger recorded them; `None` for a batch Canvas never finished.
async fn messages_of<S: LedgerStore>(
    ledger: &Ledger<S>,
    b: &BatchRecord,
) -> Result<Option<(&'static str, Vec<Message>)>, LedgerError> {
    if let Some(key) = &b.archive.errors_file
        && let Some(bytes) = ledger.get_archive(key).await?
    {
        return Ok(Some(("errors file", classes::read_errors_file(&bytes))));
    }
    if b.canvas_json.is_none() {
        return Ok(None);
    }
    let canvas = b.warnings.iter().chain(canvas_errors(b));
    Ok(Some((
        "Canvas JSON",
        canvas.map(|l| classes::from_recorded(l)).collect(),
    )))
}

/// The recorded errors that came from Canvas's JSON (`processing_errors`), not from canvas-sis.
fn canvas_errors(b: &BatchRecord) -> impl Iterator<Item = &String> {
    let listed: Vec<String> = b
        .canvas_json
        .as_ref()
        .and_then(|j| j["processing_errors"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|e| Some(e.get(1)?.as_str()?.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    b.errors
        .iter()
        .filter(move |e| listed.iter().any(|m| e.ends_with(m.as_str())))
}

fn class_lines(
    b: &BatchRecord,
    mine: Vec<ClassCount>,
    trend: &[Option<Vec<ClassCount>>],
    row_samples: bool,
) -> Vec<ClassLine> {
    let error_classes: Vec<String> = canvas_errors(b)
        .map(|e| classes::class_of(&classes::from_recorded(e).text))
        .collect();
    mine.into_iter()
        .map(|c| ClassLine {
            severity: if error_classes.contains(&c.class) {
                "error"
            } else {
                "warning"
            },
            trend: trend
                .iter()
                .map(|t| {
                    t.as_ref().map(|cs| {
                        cs.iter()
                            .find(|o| o.class == c.class)
                            .map_or(0, |o| o.count)
                    })
                })
                .collect(),
            samples: if row_samples { c.samples } else { Vec::new() },
            class: c.class,
            count: c.count,
        })
        .collect()
}

fn archive_lines<S: LedgerStore>(
    ledger: &Ledger<S>,
    b: &BatchRecord,
    downloads: bool,
) -> Vec<ArchiveLine> {
    let refs = [
        ("zip", b.archive.zip.as_ref()),
        ("errors.csv", b.archive.errors_file.as_ref()),
        ("validation.txt", b.archive.report.as_ref()),
        ("canvas.json", b.archive.canvas_json.as_ref()),
    ];
    refs.into_iter()
        .filter_map(|(name, key)| {
            let key = key?;
            let what = DOWNLOADS.iter().find(|(n, _)| *n == name)?.1;
            Some(ArchiveLine {
                what,
                location: ledger.store().locate(key),
                link: downloads.then(|| format!("/batches/{}/{name}", b.id)),
            })
        })
        .collect()
}

/// What an operator can do with the batch now, as the exact command.
fn commands(b: &BatchRecord, place: &LedgerPlace) -> Vec<CommandLine> {
    let flag = place.flag();
    let tenant = shell_word(&b.tenant);
    let mut out = Vec::new();
    if matches!(b.stage, Stage::Held { .. }) {
        out.push(CommandLine {
            what: "let it past the mass-change guard, once".into(),
            command: format!("canvas-sis approve {flag} {}", b.id),
        });
    }
    if b.unacknowledged_failure().is_some() {
        out.push(CommandLine {
            what: "go on past this failure (after fixing the feed or Canvas)".into(),
            command: format!("canvas-sis resume {flag} --tenant {tenant}"),
        });
    }
    if b.canvas_import_id.is_some() && b.stage.is_terminal() {
        out.push(CommandLine {
            what: "roll back what its import changed in Canvas".into(),
            command: format!(
                "canvas-sis undo {flag} --config /path/to/canvas-sis.toml {}",
                b.id
            ),
        });
    }
    out
}
