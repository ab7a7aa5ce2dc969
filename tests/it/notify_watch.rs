//! Notifications from `canvas-sis watch --once` end to end: a real watch process, the simulator
//! over HTTP, and a local webhook receiver. A rejected or failed batch, a held batch and a
//! success with warnings each reach the webhook with what an operator needs (tenant, batch,
//! Canvas import id and state, first errors, the exact resume/approve command); a receiver that
//! fails is retried, one that never answers does not hold up the import; neither the Canvas
//! token nor the webhook URL's path reaches the output.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::receiver::{Receiver, Reply};
use crate::common::*;

const SECRET_PATH: &str = "/hooks/T0SECRET/B0SECRET/k3yk3yk3y";

/// `watch --once DIR` with the simulator's URL and token, plus `env`.
async fn watch_once(s: &Sim, dir: &Path, env: &[(&str, String)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
    cmd.args(["watch", "--once", "--poll-secs", "0.05"])
        .arg(dir)
        .env("CANVAS_BASE_URL", s.sim.url())
        .env("CANVAS_TOKEN", ADMIN)
        .env("RUST_LOG", "info")
        .env_remove("CANVAS_SIS_CONFIG")
        .env_remove("CANVAS_TOKEN_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("watch --once ends")
        .unwrap();
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(ADMIN), "token in the output");
        assert!(!text.contains("T0SECRET"), "webhook path in the output");
    }
    out
}

/// A config file with one tenant `main` on the simulator and `notify` as its notify table.
fn config(dir: &Path, s: &Sim, notify: &str) -> PathBuf {
    let path = dir.join("canvas-sis.toml");
    let toml = format!(
        "[tenants.main]\ncanvas_url = \"{}\"\ntoken_env = \"CANVAS_TOKEN\"\n\n[tenants.main.notify]\n{notify}\n",
        s.sim.url()
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// A webhook whose URL (with its secret path) is in `HOOK_URL` ([`hook_env`]).
fn webhook(format: &str) -> String {
    format!("[[tenants.main.notify.webhook]]\nurl_env = \"HOOK_URL\"\nformat = \"{format}\"\n")
}

fn hook_env(r: &Receiver, config: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("HOOK_URL", format!("{}{SECRET_PATH}", r.base)),
        ("CANVAS_SIS_CONFIG", config.display().to_string()),
    ]
}

/// Runs a `canvas-sis ...` command line taken from a notice, as an operator would paste it.
fn run_pasted(command: &Value) -> Output {
    let line = command.as_str().expect("a command");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("canvas-sis"), "{line}");
    std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(words)
        .output()
        .unwrap()
}

fn canonical(dir: &Path) -> String {
    std::fs::canonicalize(dir).unwrap().display().to_string()
}

/// A users file with a stray quote in a row, which fails Canvas's import ("Malformed CSV"):
/// rejected before upload.
fn bad_users() -> String {
    "user_id,login_id,status\nu1,u1,active\nu2,u\"2,active\n".into()
}

/// Users plus an enrollment in a course Canvas does not have: imported with a warning.
/// Drops batch `b1` of [`users_and_stray_enrollment`], settled: Canvas imports it with a warning.
fn drop_warned_batch(dir: &std::path::Path) {
    drop_batch(
        dir,
        "b1",
        &as_refs(&users_and_stray_enrollment()),
        Duration::from_secs(300),
    );
}

fn users_and_stray_enrollment() -> Vec<(&'static str, String)> {
    vec![
        ("users.csv", users_csv(2)),
        (
            "enrollments.csv",
            "course_id,user_id,role,status\nNO_SUCH_COURSE,u1,student,active\n".into(),
        ),
    ]
}

fn as_refs<'a>(files: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    files.iter().map(|(n, b)| (*n, b.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_batch_notifies_its_first_errors_and_the_resume_command_after_a_retry() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(&[Reply::Status(503)]).await;
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &bad_users())],
        Duration::from_secs(300),
    );
    let env = [("SIS_NOTIFY_WEBHOOK_URL", format!("{}{SECRET_PATH}", r.base))];
    let out = watch_once(&s, dir.path(), &env).await;
    assert_eq!(out.status.code(), Some(1), "halted: {}", output_text(&out));
    let got = r.got();
    assert_eq!(got.len(), 2, "503, then delivered: {got:?}");
    assert_eq!(got[1].path, SECRET_PATH);
    let n = &got[1].body;
    assert_eq!(n["event"], "batch_failed", "{n}");
    assert_eq!(n["tenant"], "default");
    assert!(
        n["batch"]
            .as_str()
            .unwrap()
            .starts_with("default/00000001-"),
        "{n}"
    );
    assert_eq!(n["state"], "rejected");
    assert_eq!(n["canvas_import_id"], Value::Null);
    assert!(
        n["errors"][0]
            .as_str()
            .unwrap()
            .contains("1 validation error"),
        "{n}"
    );
    let detail = n["errors"][1].as_str().unwrap();
    assert!(
        detail.contains("users.csv") && detail.contains("users.csv:3"),
        "the first validation error, with its place: {detail}"
    );
    assert!(
        n["validation_report"]
            .as_str()
            .unwrap()
            .starts_with(&canonical(dir.path())),
        "{n}"
    );
    assert_eq!(
        n["command"],
        format!(
            "canvas-sis resume --dir {} --tenant default",
            canonical(dir.path())
        )
    );
    let resumed = run_pasted(&n["command"]);
    assert_exit(&resumed, 0);
    assert!(
        output_text(&out).contains("HTTP 503") && output_text(&out).contains("127.0.0.1"),
        "the failed attempt is a warning naming host and status: {}",
        output_text(&out)
    );
    assert!(s.imports().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canvas_failure_names_the_import_id_and_state_in_slack_text() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(&[]).await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed_with_messages"}})).await;
    drop_warned_batch(dir.path());
    let env = [
        ("SIS_NOTIFY_WEBHOOK_URL", format!("{}{SECRET_PATH}", r.base)),
        ("SIS_NOTIFY_WEBHOOK_FORMAT", "slack".to_owned()),
    ];
    let out = watch_once(&s, dir.path(), &env).await;
    assert_eq!(out.status.code(), Some(1), "halted: {}", output_text(&out));
    let imports = s.imports().await;
    assert_eq!(imports.len(), 1);
    let id = imports[0]["id"].as_u64().unwrap();
    let got = r.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let t = got[0].body["text"].as_str().unwrap();
    for want in [
        format!("Canvas import {id}"),
        "failed_with_messages".to_owned(),
        "NO_SUCH_COURSE".to_owned(),
        format!(
            "canvas-sis resume --dir {} --tenant default",
            canonical(dir.path())
        ),
    ] {
        assert!(t.contains(&want), "{want:?} missing in {t}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_batch_notifies_the_approve_command() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(&[]).await;
    let cfg = config(dir.path(), &s, &webhook("json"));
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &users_csv(40))],
        Duration::from_secs(300),
    );
    // Half of the users deleted: over the guard's default 10 % (of at least 20 rows).
    let deleting = users_csv(40).replacen(",active\n", ",deleted\n", 20);
    drop_batch(
        dir.path(),
        "b2",
        &[("users.csv", &deleting)],
        Duration::from_secs(200),
    );
    let out = watch_once(&s, dir.path(), &hook_env(&r, &cfg)).await;
    assert_eq!(s.imports().await.len(), 1, "b2 held: {}", output_text(&out));
    let got = r.got();
    assert_eq!(got.len(), 1, "only the held batch: {got:?}");
    let n = &got[0].body;
    assert_eq!(n["event"], "batch_held");
    assert_eq!(n["tenant"], "main");
    assert_eq!(n["state"], "held");
    let batch = n["batch"].as_str().unwrap();
    assert!(batch.starts_with("main/00000002-"), "{batch}");
    assert_eq!(
        n["command"],
        format!("canvas-sis approve --dir {} {batch}", canonical(dir.path()))
    );
    assert!(
        n["summary"].as_str().unwrap().contains("users"),
        "the guard's reason: {n}"
    );
    let approved = run_pasted(&n["command"]);
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        output_text(&approved)
    );
    let again = watch_once(&s, dir.path(), &hook_env(&r, &cfg)).await;
    assert_eq!(
        s.imports().await.len(),
        2,
        "approved, sent: {}",
        output_text(&again)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn success_with_warnings_is_notified_only_when_the_tenant_asks() {
    let s = watch_sim().await;
    for wanted in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let r = Receiver::start(&[]).await;
        let notify = format!("on_success_with_warnings = {wanted}\n{}", webhook("json"));
        let cfg = config(dir.path(), &s, &notify);
        drop_warned_batch(dir.path());
        let mut env = hook_env(&r, &cfg);
        if !wanted {
            // Describes the no-config tenant only: with a file it is ignored, and said so.
            env.push(("SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS", "true".to_owned()));
        }
        let out = watch_once(&s, dir.path(), &env).await;
        assert_exit(&out, 0);
        let got = r.got();
        if !wanted {
            assert!(got.is_empty(), "not asked for: {got:?}");
            assert!(
                output_text(&out).contains("SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS")
                    && output_text(&out).contains("ignored"),
                "{}",
                output_text(&out)
            );
            continue;
        }
        assert_eq!(got.len(), 1, "{got:?}");
        let n = &got[0].body;
        assert_eq!(n["event"], "succeeded_with_warnings");
        assert_eq!(n["state"], "imported_with_messages");
        assert!(n["canvas_import_id"].as_u64().is_some(), "{n}");
        assert!(
            n["warnings"][0]
                .as_str()
                .unwrap()
                .contains("enrollments.csv"),
            "{n}"
        );
        assert_eq!(n["command"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_never_answers_does_not_hold_up_the_import() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start(&[]).await;
    r.always(Reply::Hang);
    let notify = format!(
        "on_success_with_warnings = true\ntimeout_secs = 1\nretry_for_secs = 2\n{}",
        webhook("teams")
    );
    let cfg = config(dir.path(), &s, &notify);
    drop_warned_batch(dir.path());
    let started = std::time::Instant::now();
    let out = watch_once(&s, dir.path(), &hook_env(&r, &cfg)).await;
    let spent = started.elapsed();
    assert_exit(&out, 0);
    assert_eq!(s.imports().await.len(), 1, "the import went through");
    assert!(spent < Duration::from_secs(15), "bounded: {spent:?}");
    assert!(r.got().len() >= 2, "retried: {}", r.got().len());
    assert_says(&out, "giving up");
}
