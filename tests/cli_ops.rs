//! The operator commands on a folder-mode ledger, as an admin runs them.

use std::process::{Command, Output};

use canvas_sis::ledger::{BatchSource, Gate, Ledger, LocalStore, NewBatch, Stage};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn held_batch(dir: &std::path::Path) -> String {
    std::fs::create_dir_all(dir.join("ledger")).unwrap();
    let ledger = Ledger::new(LocalStore::open(dir.join("ledger")).unwrap());
    let new = NewBatch {
        tenant: "main".into(),
        source: BatchSource {
            kind: "folder".into(),
            location: "/drop/b1".into(),
            files: vec![],
            extra: Default::default(),
        },
        content_sha256: "ab".repeat(32),
    };
    let id = ledger.create_batch(new).await.unwrap().record().id.clone();
    ledger.transition(&id, Stage::Validated, "t").await.unwrap();
    ledger
        .transition(
            &id,
            Stage::Held {
                reason: "users went from 100 to 30 rows".into(),
            },
            "t",
        )
        .await
        .unwrap();
    id.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sees_the_hold_approves_it_and_pauses_and_resumes_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let id = held_batch(dir.path()).await;

    let out = run(&["status", "--dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&id) && text(&out).contains("held (users went from 100 to 30 rows)"),
        "{}",
        text(&out)
    );

    let out = run(&["approve", "--dir", d, &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&["approve", "--dir", d, &id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "approving twice is harmless: {}",
        text(&out)
    );

    let out = run(&["pause", "--dir", d, "--reason", "term rollover"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&run(&["status", "--dir", d])).contains("paused"));
    let out = run(&["resume", "--dir", d, "--tenant", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("it was paused: term rollover"),
        "{}",
        text(&out)
    );

    let ledger = Ledger::new(LocalStore::open(dir.path().join("ledger")).unwrap());
    assert_eq!(ledger.tenant("main").await.unwrap().gate, Gate::Open);
    let rec = ledger
        .get_batch(&canvas_sis::ledger::BatchId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(rec.approved);
}

#[test]
fn a_directory_without_a_ledger_is_refused_rather_than_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["resume", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("has no ledger"), "{}", text(&out));
    assert!(!dir.path().join("ledger").exists());
}
