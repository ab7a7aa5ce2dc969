//! Printing outcomes for people (text) and machines (`--json`).

use canvas_sis::canvas::SisImport;
use canvas_sis::pipeline::{Finished, Outcome};
use serde_json::json;

use crate::cmd::exit;

/// The outcome as text, for stdout.
pub fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Imported(f) | Outcome::CanvasFailed(f) => finished_text(f),
        Outcome::Rejected { reason, report } => {
            let mut s = format!("REJECTED before upload: {reason}\n");
            if let Some(r) = report {
                s.push_str(&r.to_text());
            }
            s
        }
        Outcome::RefusedAfterFailure { previous } => format!(
            "REFUSED: the previous SIS import of this account ({}) ended {}. Updates must not run past a failure.\n\
             Look at it (canvas-sis status), fix the cause, then run again with --after-failure.\n",
            previous.id,
            previous.workflow_state.as_str()
        ),
        Outcome::DryRun {
            zip_bytes,
            zip_sha256,
        } => format!(
            "DRY RUN: the batch is valid and packed ({zip_bytes} bytes, sha256 {zip_sha256}); Canvas is ready for it. Nothing was sent.\n"
        ),
        Outcome::GaveUp { reason, import_id } => gave_up_text(reason, *import_id),
        Outcome::Canvas { import_id, .. } if !outcome.needs_operator() => {
            gave_up_text(&outcome.reason(), *import_id)
        }
        Outcome::Config { .. } | Outcome::Canvas { .. } => {
            format!("CONFIGURATION: {}\n", outcome.reason())
        }
        Outcome::AlreadyImported { import } => format!(
            "REFUSED: SIS import {} (created {}, {}) by this token's user already holds these same files; \
             this looks like a re-run. Nothing was sent. Check it (canvas-sis status); to send the files again anyway, add --force.\n",
            import.id,
            import
                .created_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "at an unknown time".into()),
            import.workflow_state.as_str()
        ),
    }
}

fn gave_up_text(reason: &str, import_id: Option<u64>) -> String {
    match import_id {
        Some(id) => format!("GAVE UP on SIS import {id}: {reason}\n"),
        None => format!("GAVE UP: {reason}\n"),
    }
}

fn finished_text(f: &Finished) -> String {
    let i = &f.import;
    let mut s = format!(
        "SIS import {} {} (progress {}%)\n",
        i.id,
        i.workflow_state.as_str(),
        i.progress.unwrap_or(0)
    );
    if let Some(b) = Some(&i.data.supplied_batches).filter(|b| !b.is_empty()) {
        s.push_str(&format!("  supplied: {}\n", b.join(", ")));
    }
    let counts: Vec<String> = i
        .data
        .counts
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !counts.is_empty() {
        s.push_str(&format!("  counts: {}\n", counts.join(", ")));
    }
    push_messages(&mut s, "error", &i.processing_errors);
    push_messages(&mut s, "warning", &i.processing_warnings);
    if let Some(msg) = &i.data.error_message {
        s.push_str(&format!("  Canvas error: {msg}\n"));
    }
    if let Some(p) = &f.errors_file {
        s.push_str(&format!("  errors file saved to {}\n", p.display()));
    }
    s
}

fn push_messages(s: &mut String, label: &str, list: &[(Option<String>, String)]) {
    for (file, message) in list {
        s.push_str(&format!(
            "  {label}: {}: {message}\n",
            file.as_deref().unwrap_or("(batch)")
        ));
    }
}

/// The outcome as JSON, for `--json`.
pub fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let kind = match outcome {
        Outcome::Imported(_) => "imported",
        Outcome::CanvasFailed(_) => "canvas_failed",
        Outcome::Rejected { .. } => "rejected",
        Outcome::RefusedAfterFailure { .. } => "refused_after_failure",
        Outcome::DryRun { .. } => "dry_run",
        Outcome::Canvas { .. } if !outcome.needs_operator() => "gave_up",
        Outcome::GaveUp { .. } => "gave_up",
        Outcome::Config { .. } | Outcome::Canvas { .. } => "configuration_error",
        Outcome::AlreadyImported { .. } => "already_imported",
    };
    let mut v = json!({"outcome": kind, "exit_code": exit::of_outcome(outcome)});
    match outcome {
        Outcome::Imported(f) | Outcome::CanvasFailed(f) => {
            v["import"] = serde_json::to_value(&f.import).unwrap_or_default();
            v["errors_file"] = json!(f.errors_file);
        }
        Outcome::Rejected { reason, report } => {
            v["reason"] = json!(reason);
            v["report"] = serde_json::to_value(report).unwrap_or_default();
        }
        Outcome::RefusedAfterFailure { previous } => {
            v["previous"] = serde_json::to_value(previous).unwrap_or_default()
        }
        Outcome::DryRun {
            zip_bytes,
            zip_sha256,
        } => {
            v["zip_bytes"] = json!(zip_bytes);
            v["zip_sha256"] = json!(zip_sha256);
        }
        Outcome::GaveUp { reason, import_id } => {
            v["reason"] = json!(reason);
            v["import_id"] = json!(import_id);
        }
        Outcome::Config { reason } => v["reason"] = json!(reason),
        // Canvas's error as the ending it means (kind above): a configuration error or giving up.
        Outcome::Canvas { import_id, .. } => {
            v["reason"] = json!(outcome.reason());
            if !outcome.needs_operator() {
                v["import_id"] = json!(import_id);
            }
        }
        Outcome::AlreadyImported { import } => {
            v["import"] = serde_json::to_value(import).unwrap_or_default()
        }
    }
    v
}

/// One line per import, for `status`.
pub fn status_line(i: &SisImport, now: chrono::DateTime<chrono::Utc>) -> String {
    let age = i
        .created_at
        .map(|t| human_age((now - t).num_seconds().max(0)))
        .unwrap_or_else(|| "?".into());
    let rows: i64 = i
        .data
        .counts
        .iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "error_count" | "warning_count") && !k.starts_with("batch_")
        })
        .map(|(_, v)| *v)
        .sum();
    format!(
        "{:>8}  {:<24} {:>4}%  {:>8} ago  rows={rows} warnings={} errors={}",
        i.id,
        i.workflow_state.as_str(),
        i.progress.unwrap_or(0),
        age,
        i.data.counts.get("warning_count").copied().unwrap_or(0),
        i.data.counts.get("error_count").copied().unwrap_or(0),
    )
}

fn human_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Prints an outcome on stdout, as text or as JSON.
pub fn print(outcome: &Outcome, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome_json(outcome)).unwrap_or_default()
        );
    } else {
        print!("{}", outcome_text(outcome));
    }
}
