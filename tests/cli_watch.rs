//! `canvas-sis watch DIR --once` end to end: drops in the inbox become Canvas imports in arrival
//! order, are archived with their outcome, and a failure halts the tenant until `resume`.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::json;

async fn watch_once(s: &Sim, dir: &Path) -> Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["watch", "--once", "--poll-secs", "0.05"])
        .arg(dir)
        .env("CANVAS_BASE_URL", s.sim.url())
        .env("CANVAS_TOKEN", ADMIN)
        .env_remove("CANVAS_SIS_CONFIG")
        .env_remove("CANVAS_TOKEN_FILE")
        .output()
        .await
        .unwrap();
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(ADMIN),
            "token in the output"
        );
    }
    out
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_batches_are_imported_in_arrival_order_and_archived_with_their_outcome() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "zz-first",
        &[("users.csv", &users_csv(2))],
        Duration::from_secs(300),
    );
    drop_batch(
        dir.path(),
        "aa-second",
        &[("users.csv", &users_csv(3))],
        Duration::from_secs(200),
    );
    let out = watch_once(&s, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let imports = s.imports().await;
    assert_eq!(imports.len(), 2);
    let sizes: Vec<u64> = imports
        .iter()
        .map(|i| i["csv_files"][0]["size"].as_u64().unwrap())
        .collect();
    assert!(
        sizes[0] < sizes[1],
        "the older drop (2 users) went first: {sizes:?}"
    );
    let archived = entries(&dir.path().join("archive"));
    assert_eq!(archived.len(), 2, "{archived:?}");
    for a in &archived {
        let files = entries(&dir.path().join("archive").join(a));
        for f in ["batch.zip", "canvas.json", "input", "validation.txt"] {
            assert!(files.contains(&f.to_owned()), "{a}: {files:?}");
        }
    }
    assert!(entries(&dir.path().join("inbox")).is_empty());
    assert!(entries(&dir.path().join("processing")).is_empty());
    let log = std::fs::read_to_string(dir.path().join("logs").join("watch.log")).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.ends_with(": done")).count(),
        2,
        "{log}"
    );
    // A second pass finds nothing new and sends nothing again.
    let again = watch_once(&s, dir.path()).await;
    assert_eq!(again.status.code(), Some(0), "{}", output_text(&again));
    assert_eq!(s.imports().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_halts_the_tenant_later_drops_wait_and_resume_releases_them_in_order() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed_with_messages"}})).await;
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &users_csv(2))],
        Duration::from_secs(300),
    );
    drop_batch(
        dir.path(),
        "b2",
        &[("users.csv", &users_csv(3))],
        Duration::from_secs(200),
    );
    let out = watch_once(&s, dir.path()).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a halted tenant: {}",
        output_text(&out)
    );
    assert!(
        output_text(&out).contains("HALTED"),
        "{}",
        output_text(&out)
    );
    assert_eq!(entries(&dir.path().join("failed")).len(), 1);
    assert_eq!(
        entries(&dir.path().join("processing")).len(),
        1,
        "b2 parked, not lost"
    );
    assert_eq!(s.imports().await.len(), 1);

    let status = std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["status", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output_text(&status).contains("HALTED") && output_text(&status).contains("parked"),
        "{}",
        output_text(&status)
    );
    let resume = std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["resume", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(resume.status.code(), Some(0), "{}", output_text(&resume));

    let out = watch_once(&s, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(s.imports().await.len(), 2);
    assert_eq!(entries(&dir.path().join("archive")).len(), 1);
    assert!(entries(&dir.path().join("processing")).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_sent_during_a_blackout_window() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &users_csv(2))],
        Duration::from_secs(300),
    );
    let now = chrono::Utc::now();
    let config = dir.path().join("canvas-sis.toml");
    std::fs::write(
        &config,
        format!(
            "[tenants.main]\ncanvas_url = \"{}\"\ntoken_env = \"CANVAS_TOKEN\"\nblackout = [{{ from = \"{}\", to = \"{}\" }}]\n",
            s.sim.url(),
            (now - chrono::TimeDelta::hours(1)).to_rfc3339(),
            (now + chrono::TimeDelta::hours(1)).to_rfc3339()
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["watch", "--once", "--config"])
        .arg(&config)
        .arg(dir.path())
        .env("CANVAS_TOKEN", ADMIN)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("blackout"),
        "{}",
        output_text(&out)
    );
    assert!(
        s.imports().await.is_empty(),
        "held back during the blackout"
    );
    assert_eq!(
        entries(&dir.path().join("processing")).len(),
        1,
        "claimed and kept, not lost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_moved_to_the_archive_before_the_outcome_is_recorded() {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 20.0; // 60 rows: about three seconds of importing
    let s = Sim::start(c).await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &users_csv(60))],
        Duration::from_secs(300),
    );
    let watcher = tokio::spawn(watch_once_owned(
        s.sim.url().to_owned(),
        dir.path().to_owned(),
    ));
    // While Canvas is importing, the batch sits in processing/ and its ledger record is not terminal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let imports = s.imports().await;
        if imports
            .first()
            .is_some_and(|i| i["workflow_state"] == "importing")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the import never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(entries(&dir.path().join("processing")).len(), 1);
    assert!(
        entries(&dir.path().join("archive")).is_empty(),
        "archived before the outcome"
    );
    let out = watcher.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(entries(&dir.path().join("archive")).len(), 1);
    assert!(entries(&dir.path().join("processing")).is_empty());
}

async fn watch_once_owned(url: String, dir: std::path::PathBuf) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["watch", "--once", "--poll-secs", "0.05"])
        .arg(&dir)
        .env("CANVAS_BASE_URL", url)
        .env("CANVAS_TOKEN", ADMIN)
        .env_remove("CANVAS_SIS_CONFIG")
        .env_remove("CANVAS_TOKEN_FILE")
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_drop_twice_is_one_import_and_both_copies_are_kept() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &users_csv(2))],
        Duration::from_secs(300),
    );
    assert_eq!(watch_once(&s, dir.path()).await.status.code(), Some(0));
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &users_csv(2))],
        Duration::from_secs(300),
    );
    let out = watch_once(&s, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(
        s.imports().await.len(),
        1,
        "a duplicate drop is not imported again"
    );
    assert!(entries(&dir.path().join("inbox")).is_empty());
    assert!(entries(&dir.path().join("processing")).is_empty());
    let archived = entries(&dir.path().join("archive"));
    assert_eq!(archived.len(), 2, "both copies kept: {archived:?}");
    let dup = archived
        .iter()
        .find(|a| a.contains("--duplicate-"))
        .expect("the repeat is set aside");
    let note = std::fs::read_to_string(dir.path().join("archive").join(dup).join("duplicate.txt"))
        .unwrap();
    assert!(note.contains("not sent to Canvas again"), "{note}");
}

#[tokio::test]
async fn a_manifests_import_options_are_applied_to_its_batch_only() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "a-with-options",
        &[
            ("users.csv", &users_csv(2)),
            ("manifest.json", r#"{"import": {"skip_deletes": true}}"#),
        ],
        Duration::from_secs(300),
    );
    drop_batch(
        dir.path(),
        "b-plain",
        &[("users.csv", &users_csv(3))],
        Duration::from_secs(200),
    );
    let out = watch_once(&s, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let imports = s.imports().await;
    assert_eq!(imports.len(), 2);
    assert_eq!(
        imports[0]["options"]["skip_deletes"],
        serde_json::json!(true),
        "{}",
        imports[0]
    );
    assert_ne!(
        imports[1]["options"]["skip_deletes"],
        serde_json::json!(true),
        "{}",
        imports[1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_pass_ends_watch_after_the_current_step_with_the_batch_recorded() {
    use canvas_sis::ledger::{Ledger, LocalStore, Stage};
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 2.0; // 20 rows: the import runs for about 10 s
    let s = Sim::start(c).await;
    // Canvas creates the import at once and answers the POST 3 s later.
    s.add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "delay_after", "millis": 3000}}))
        .await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "b1",
        &[("users.csv", &users_csv(20))],
        Duration::from_secs(300),
    );
    let logs = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["watch", "--poll-secs", "0.05", "--interval-secs", "60"])
        .arg(dir.path())
        .env("CANVAS_BASE_URL", s.sim.url())
        .env("CANVAS_TOKEN", ADMIN)
        .env_remove("CANVAS_SIS_CONFIG")
        .env_remove("CANVAS_TOKEN_FILE")
        .stdout(std::fs::File::create(logs.path().join("out")).unwrap())
        .stderr(std::fs::File::create(logs.path().join("err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s.imports().await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the POST never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sigterm(child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("watch still running 15 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let said = std::fs::read_to_string(logs.path().join("err")).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{status:?}: {said}");
    let imports = s.imports().await;
    assert_eq!(imports.len(), 1);
    assert!(
        !is_terminal(&imports[0]),
        "watch ended without waiting for the import to end"
    );
    let ledger = Ledger::new(LocalStore::open(dir.path().join("ledger")).unwrap());
    let first = ledger.list_batches("default").await.unwrap().remove(0);
    assert_eq!(
        first.stage,
        Stage::Submitted {
            import_id: imports[0]["id"].as_u64().unwrap()
        },
        "the POST's answer is recorded before the exit"
    );
    let out = watch_once(&s, dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(s.imports().await.len(), 1, "no second upload");
}
