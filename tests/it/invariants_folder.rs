//! The design's invariants under violence, with the real `watch` binary: killed at random
//! (SIGKILL) again and again, and two watchers on one folder. The final check is always the same:
//! every batch imported exactly once, in arrival order, every input archived, nothing lost.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

const BATCHES: usize = 4;

/// The watchers' submit lease: short, so that a killed watcher's batch is taken over soon, and
/// long enough for a live one to renew it (every third) while its POST runs.
const LEASE: Duration = Duration::from_millis(600);

/// Waits until the lease of a killed watcher has certainly run out.
async fn lease_runs_out() {
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
}

async fn slow_sim() -> Sim {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 150.0;
    c.errors_attachment_lag = Duration::from_millis(50);
    Sim::start(c).await
}

/// Batch `i` holds `i + 2` users, so Canvas's imports can be matched to batches by size.
fn drop_batches(dir: &Path) {
    for i in 0..BATCHES {
        let users = users_csv(i + 2);
        let age = Duration::from_secs(1000 - i as u64 * 10);
        drop_batch(dir, &format!("batch-{i}"), &[("users.csv", &users)], age);
    }
}

fn watch(s: &Sim, dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
    cmd.args([
        "watch",
        "--once",
        "--poll-secs",
        "0.02",
        "--submit-lease-secs",
    ])
    .arg(LEASE.as_secs_f64().to_string())
    .arg(dir)
    .env("CANVAS_BASE_URL", s.sim.url())
    .env("CANVAS_TOKEN", ADMIN)
    .env_remove("CANVAS_SIS_CONFIG")
    .env_remove("CANVAS_TOKEN_FILE")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

/// Exactly once, in order, all archived.
async fn assert_everything_imported_once_in_order(s: &Sim, dir: &Path) {
    let imports = s.imports().await;
    let users: Vec<u64> = imports
        .iter()
        .map(|i| {
            i["csv_files"][0]["size"]
                .as_u64()
                .expect("each import holds its users.csv")
        })
        .collect();
    assert_eq!(
        imports.len(),
        BATCHES,
        "exactly one import per batch: {users:?}"
    );
    let mut sorted = users.clone();
    sorted.sort();
    assert_eq!(
        users, sorted,
        "in arrival order (sizes grow with the batch number)"
    );
    assert!(imports.iter().all(|i| i["workflow_state"] == "imported"));
    assert_eq!(count(&dir.join("archive")), BATCHES, "every input archived");
    assert_eq!(count(&dir.join("inbox")), 0);
    assert_eq!(count(&dir.join("failed")), 0);
    assert_eq!(count(&dir.join("processing")), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_thirty_times_every_batch_is_imported_exactly_once_in_order() {
    let s = slow_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batches(dir.path());
    let mut rng = fastrand::Rng::with_seed(20261126);
    // More iterations: KILL_ITERATIONS=300 cargo test --test it -- invariants_folder::killed
    let iterations: usize = std::env::var("KILL_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .max(30);
    for _ in 0..iterations {
        let mut child = watch(&s, dir.path()).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(rng.u64(5..250))).await;
        let _ = child.kill().await; // SIGKILL; may find it already finished
    }
    lease_runs_out().await;
    let mut last = watch(&s, dir.path());
    last.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = last.output().await.unwrap();
    let listing = |d: &str| {
        std::fs::read_dir(dir.path().join(d))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    eprintln!(
        "final run: {}\n{}\nprocessing: {:?}\nfailed: {:?}\narchive: {:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        listing("processing"),
        listing("failed"),
        listing("archive")
    );
    assert_eq!(out.status.code(), Some(0));
    assert_everything_imported_once_in_order(&s, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_watchers_on_one_folder_never_import_a_batch_twice() {
    let s = slow_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batches(dir.path());
    // Each round of two `--once` watchers finishes at least the earliest unfinished batch (its
    // holder runs it; the other stops behind it), so BATCHES rounds always suffice.
    for _ in 0..BATCHES * 2 {
        let piped = || {
            let mut c = watch(&s, dir.path());
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c
        };
        let (a, b) = tokio::join!(piped().output(), piped().output());
        let (a, b) = (a.unwrap(), b.unwrap());
        for o in [&a, &b] {
            eprintln!(
                "watcher exit {:?}: {}{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert!(a.status.success() || b.status.success());
        if count(&dir.path().join("archive")) == BATCHES {
            break;
        }
    }
    assert_everything_imported_once_in_order(&s, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_one_import_when_the_watcher_is_killed_after_the_post_before_recording_it() {
    use canvas_sis::ledger::{Ledger, LocalStore, Stage};
    let s = slow_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batches(dir.path());
    // Canvas creates the import at once but answers the POST only 10 s later.
    s.add_fault(serde_json::json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "delay_after", "millis": 10000}}))
        .await;
    let mut child = watch(&s, dir.path()).spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s.imports().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the POST never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().await.unwrap(); // SIGKILL: the import exists, the watcher never heard of it
    let ledger = Ledger::new(LocalStore::open(dir.path().join("ledger")).unwrap());
    let first = ledger.list_batches("default").await.unwrap().remove(0);
    assert_eq!(
        first.stage,
        Stage::Submitting,
        "recorded before the POST, never after"
    );
    assert_eq!(first.canvas_import_id, None);

    lease_runs_out().await;
    let out = watch(&s, dir.path()).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    let first = ledger.get_batch(&first.id).await.unwrap().unwrap();
    let imports = s.imports().await;
    assert_eq!(
        first.canvas_import_id,
        imports[0]["id"].as_u64(),
        "the lost POST's import was adopted"
    );
    assert_everything_imported_once_in_order(&s, dir.path()).await;
}
