//! The logs of a real `canvas-sis watch --once` run, in JSON and in text: every line written
//! while a batch runs names its tenant, its batch id and its trace id, one trace per batch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common;
use crate::common::*;

fn drop_users(dir: &Path, name: &str, rows: usize) {
    let users = users_csv(rows);
    common::drop_batch(
        dir,
        name,
        &[("users.csv", &users)],
        Duration::from_secs(120),
    );
}

/// Runs `watch --once` on two batches with the given log format; returns stderr.
async fn run(format: &str) -> String {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 2000.0;
    c.errors_attachment_lag = Duration::from_millis(100);
    let s = Sim::start(c).await;
    let dir = tempfile::tempdir().unwrap();
    drop_users(dir.path(), "b1", 2);
    drop_users(dir.path(), "b2", 3);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["watch", "--once", "--poll-secs", "0.05"])
        .arg(dir.path())
        .env("CANVAS_BASE_URL", s.sim.url())
        .env("CANVAS_TOKEN", ADMIN)
        .env("CANVAS_SIS_LOG_FORMAT", format)
        .env("RUST_LOG", "info")
        .env_remove("CANVAS_SIS_CONFIG")
        .env_remove("CANVAS_TOKEN_FILE")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains(ADMIN), "token in the logs");
    err
}

fn is_trace_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_line_of_a_batch_names_its_tenant_batch_and_trace() {
    let err = run("json").await;
    let mut traces: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut lines = 0;
    for line in err.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let spans = v["spans"].as_array().cloned().unwrap_or_default();
        let Some(batch) = spans.iter().find(|s| s["name"] == "batch") else {
            continue;
        };
        lines += 1;
        let tenant = batch["sis.tenant"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}"));
        let id = batch["sis.batch_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}"));
        let trace = batch["trace_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}"));
        assert_eq!(tenant, "default");
        assert!(is_trace_id(trace), "{line}");
        traces
            .entry(id.to_owned())
            .or_default()
            .insert(trace.to_owned());
    }
    assert!(lines >= 6, "log lines inside batches: {lines}\n{err}");
    assert_eq!(traces.len(), 2, "two batches: {traces:?}");
    assert!(
        traces.values().all(|t| t.len() == 1),
        "one trace per batch: {traces:?}"
    );
    let all: BTreeSet<&String> = traces.values().flatten().collect();
    assert_eq!(
        all.len(),
        2,
        "different batches, different traces: {traces:?}"
    );
}

/// `text` without its ANSI colour escapes.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_text_line_of_a_batch_names_its_tenant_batch_and_trace() {
    let err = plain(&run("text").await);
    let in_batch: Vec<&str> = err.lines().filter(|l| l.contains(" batch{")).collect();
    assert!(in_batch.len() >= 6, "{err}");
    for line in &in_batch {
        assert!(line.contains("sis.tenant=default"), "{line}");
        assert!(line.contains("sis.batch_id="), "{line}");
        let trace = line
            .split("trace_id=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no trace id: {line}"));
        assert!(is_trace_id(trace), "{line}");
    }
}
