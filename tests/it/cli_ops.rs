//! The operator commands on a folder-mode ledger, as an admin runs them.

use std::process::{Command, Output};
use std::time::Duration;

use canvas_sis::ledger::{BatchSource, Gate, Ledger, LocalStore, NewBatch, Stage};

use crate::common::{
    ADMIN, Sim, assert_exit, assert_says, assert_status_shows_held, output_text, record_held,
    record_imported, run_cli, small_feed, tokens, users_csv, zip_of,
};

async fn held_batch(dir: &std::path::Path) -> String {
    std::fs::create_dir_all(dir.join("ledger")).unwrap();
    let ledger = Ledger::new(LocalStore::open(dir.join("ledger")).unwrap());
    let source = BatchSource {
        kind: "folder".into(),
        location: "/drop/b1".into(),
        files: vec![],
        ..Default::default()
    };
    record_held(&ledger, source).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sees_the_hold_approves_it_and_pauses_and_resumes_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let id = held_batch(dir.path()).await;

    assert_status_shows_held(&run_cli(&["status", "--dir", d]), &id);

    let out = run_cli(&["approve", "--dir", d, &id]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let out = run_cli(&["approve", "--dir", d, &id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "approving twice is harmless: {}",
        output_text(&out)
    );

    let out = run_cli(&["pause", "--dir", d, "--reason", "term rollover"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(output_text(&run_cli(&["status", "--dir", d])).contains("paused"));
    let out = run_cli(&["resume", "--dir", d, "--tenant", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_says(&out, "it was paused: term rollover");

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
    let out = run_cli(&["resume", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_says(&out, "has no ledger");
    assert!(!dir.path().join("ledger").exists());
}

/// A folder-mode ledger whose tenant `west` has one batch imported as Canvas SIS import
/// `import` (its final JSON `canvas_json` recorded, as the pipeline records it).
async fn imported_batch(
    dir: &std::path::Path,
    import: u64,
    canvas_json: serde_json::Value,
) -> String {
    std::fs::create_dir_all(dir.join("ledger")).unwrap();
    let ledger = Ledger::new(LocalStore::open(dir.join("ledger")).unwrap());
    let new = NewBatch {
        tenant: "west".into(),
        source: BatchSource {
            kind: "folder".into(),
            location: "/drop/west/b1".into(),
            files: vec![],
            ..Default::default()
        },
        content_sha256: "cd".repeat(32),
    };
    let id = ledger.create_batch(new).await.unwrap().record().id.clone();
    record_imported(&ledger, &id, import, canvas_json).await;
    id.to_string()
}

/// `canvas-sis undo` with only these variables set (no stray CANVAS_* from the test's shell).
async fn undo_with(env: Vec<(&'static str, String)>, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
            .arg("undo")
            .args(&args)
            .env_clear()
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_restores_only_the_batchs_own_import_on_its_tenants_canvas() {
    let mut fast = canvas_sis::sim::SimConfig::with_tokens(tokens());
    fast.rows_per_sec = 2000.0;
    let west = Sim::start(fast).await;
    // Another Canvas instance (another tenant's), created an hour later, whose first import has
    // the same id as west's.
    let east = Sim::manual().await;
    east.advance(3600.0).await;
    let ours = west.post_zip(small_feed(), "").await["id"]
        .as_u64()
        .unwrap();
    let theirs = east
        .post_zip(zip_of(&[("users.csv", &users_csv(7))]), "")
        .await["id"]
        .as_u64()
        .unwrap();
    assert_eq!(ours, theirs, "the same import id on both instances");
    let ours_json = west.wait_real(ours, Duration::from_secs(10)).await;
    east.run_to_end(theirs).await;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let id = imported_batch(dir.path(), ours, ours_json).await;
    let config = |name: &str, west_url: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[tenants.west]\ncanvas_url = \"{west_url}\"\naccount = \"1\"\ntoken_env = \"CANVAS_TOKEN\"\nfolder = \"west\"\n\n\
                 [tenants.east]\ncanvas_url = \"{}\"\naccount = \"1\"\ntoken_env = \"CANVAS_TOKEN\"\nfolder = \"east\"\n",
                east.url("")
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let good = config("good.toml", &west.url(""));
    let env = |extra: &[(&'static str, String)]| {
        let mut v = vec![
            ("CANVAS_SIS_CONFIG", good.clone()),
            ("CANVAS_TOKEN", ADMIN.to_owned()),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    let args = |extra: &[&str]| {
        // Bounded: a restore started on the wrong instance must fail the test, not hang it.
        let mut v = vec![
            "--dir".to_owned(),
            d.clone(),
            id.clone(),
            "--wait-secs".to_owned(),
            "20".to_owned(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let untouched = |why: &str| {
        let why = why.to_owned();
        let (west, east) = (&west, &east);
        async move {
            assert_eq!(
                east.show(theirs).await["workflow_state"],
                "imported",
                "{why}"
            );
            assert_eq!(west.show(ours).await["workflow_state"], "imported", "{why}");
        }
    };

    // A flag naming another instance than the batch's tenant: refused, nothing restored.
    let out = undo_with(env(&[]), args(&["--canvas-url", &east.url("")])).await;
    untouched(&format!(
        "--canvas-url naming another instance: {}",
        output_text(&out)
    ))
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", output_text(&out));
    // The same from the environment.
    let out = undo_with(env(&[("CANVAS_BASE_URL", east.url(""))]), args(&[])).await;
    untouched(&format!(
        "CANVAS_BASE_URL naming another instance: {}",
        output_text(&out)
    ))
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", output_text(&out));
    // A tenant config pointing at another instance: its import of that id is not the batch's.
    let wrong = config("wrong.toml", &east.url(""));
    let out = undo_with(
        vec![
            ("CANVAS_SIS_CONFIG", wrong),
            ("CANVAS_TOKEN", ADMIN.to_owned()),
        ],
        args(&[]),
    )
    .await;
    untouched(&format!(
        "a config naming another instance: {}",
        output_text(&out)
    ))
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_says(&out, "not the batch's");

    // From the ledger and the tenant's config alone: the batch's own import, on its instance.
    let out = undo_with(env(&[]), args(&[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(west.show(ours).await["workflow_state"], "restored");
    assert_eq!(east.show(theirs).await["workflow_state"], "imported");
    let ledger = Ledger::new(LocalStore::open(dir.path().join("ledger")).unwrap());
    assert_eq!(
        ledger.tenant("west").await.unwrap().gate,
        Gate::Open,
        "the pause held during the restore is lifted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_under_a_pause_is_shown_with_it_and_resume_lifts_one_then_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let id = held_batch(dir.path()).await;
    let ledger = Ledger::new(LocalStore::open(dir.path().join("ledger")).unwrap());
    let out = run_cli(&["pause", "--dir", d, "--reason", "term rollover"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    // The batch fails while the tenant is paused (a guard rejection, say).
    let rejected = Stage::Terminal {
        state: "rejected".into(),
        ok: false,
    };
    let batch = canvas_sis::ledger::BatchId::parse(&id).unwrap();
    ledger
        .transition(&batch, rejected, "the feed is empty")
        .await
        .unwrap();

    let status = output_text(&run_cli(&["status", "--dir", d]));
    assert!(
        status.contains("paused") && status.contains("HALTED since") && status.contains(&id),
        "{status}"
    );
    let out = run_cli(&["resume", "--dir", d, "--tenant", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("STILL HALTED") && output_text(&out).contains(&id),
        "{}",
        output_text(&out)
    );
    assert!(output_text(&run_cli(&["status", "--dir", d])).contains("HALTED"));
    let out = run_cli(&["resume", "--dir", d, "--tenant", "main"]);
    assert_says(&out, &format!("it was halted by batch {id}"));
    let status = output_text(&run_cli(&["status", "--dir", d]));
    assert!(status.contains("tenant main: open"), "{status}");
}

/// The JSON lines a `--json` operator command printed on stdout, one object each.
fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}"))
        })
        .collect()
}

/// A batch of tenant `tenant` that Canvas failed (unacknowledged: the tenant halts).
async fn failed_batch(ledger: &Ledger<LocalStore>, tenant: &str) -> String {
    let new = NewBatch {
        tenant: tenant.into(),
        source: BatchSource {
            kind: "folder".into(),
            location: format!("/drop/{tenant}/b1"),
            files: vec![],
            ..Default::default()
        },
        content_sha256: "ef".repeat(32),
    };
    let id = ledger.create_batch(new).await.unwrap().record().id.clone();
    let failed = Stage::Terminal {
        state: "failed_with_messages".into(),
        ok: false,
    };
    ledger
        .transition(&id, failed, "Canvas failed it")
        .await
        .unwrap();
    id.to_string()
}

/// `approve`, `pause` and `resume` with `--json`: one object per batch or tenant acted on,
/// with what was done and the tenant's gate after it.
#[tokio::test(flavor = "multi_thread")]
async fn approve_pause_and_resume_with_json_print_one_object_each_with_the_gate_after() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let id = held_batch(dir.path()).await;

    let out = run_cli(&["approve", "--dir", d, &id, "--json"]);
    assert_exit(&out, 0);
    let v = json_lines(&out);
    assert_eq!(v.len(), 1, "{}", output_text(&out));
    assert_eq!(v[0]["tenant"], "main");
    assert_eq!(v[0]["batch"], id.as_str());
    assert_eq!(v[0]["action"], "approve");
    assert_eq!(v[0]["result"], "approved");
    assert_eq!(v[0]["gate"]["state"], "open");

    let out = run_cli(&["pause", "--dir", d, "--reason", "term rollover", "--json"]);
    assert_exit(&out, 0);
    let v = json_lines(&out);
    assert_eq!(v.len(), 1, "{}", output_text(&out));
    assert_eq!(v[0]["action"], "pause");
    assert_eq!(v[0]["result"], "paused");
    assert_eq!(v[0]["gate"]["state"], "paused");
    assert_eq!(v[0]["gate"]["paused"]["reason"], "term rollover");

    let out = run_cli(&["resume", "--dir", d, "--json"]);
    assert_exit(&out, 0);
    let v = json_lines(&out);
    assert_eq!(v[0]["result"], "unpaused");
    assert_eq!(v[0]["reason"], "term rollover");
    assert_eq!(v[0]["gate"]["state"], "open");
    assert!(v[0]["gate"]["paused"].is_null());

    let out = run_cli(&["resume", "--dir", d, "--tenant", "main", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(json_lines(&out)[0]["result"], "already_open");
}

/// Over several tenants, `--json` prints a line per tenant — a refusal too, with the error, and
/// the command exits 2; resuming a halted tenant lists the failures it acknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn json_lines_cover_every_tenant_a_refusal_included_and_resume_lists_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    held_batch(dir.path()).await;
    let ledger = Ledger::new(LocalStore::open(dir.path().join("ledger")).unwrap());
    let failed = failed_batch(&ledger, "west").await;

    let out = run_cli(&["pause", "--dir", d, "--json"]);
    assert_exit(&out, 2);
    let v = json_lines(&out);
    assert_eq!(v.len(), 2, "{}", output_text(&out));
    assert_eq!(
        (&v[0]["tenant"], &v[0]["result"]),
        (&"main".into(), &"paused".into())
    );
    assert_eq!(v[1]["tenant"], "west");
    assert_eq!(v[1]["result"], "refused");
    assert!(
        v[1]["error"].as_str().is_some_and(|e| e.contains(&failed)),
        "{}",
        v[1]
    );

    let out = run_cli(&["resume", "--dir", d, "--tenant", "west", "--json"]);
    assert_exit(&out, 0);
    let v = json_lines(&out);
    assert_eq!(v[0]["result"], "acknowledged");
    assert_eq!(v[0]["acknowledged"], serde_json::json!([failed]));
    assert_eq!(v[0]["reason"], "Canvas failed it");
    assert_eq!(v[0]["gate"]["state"], "open");

    let out = run_cli(&[
        "approve",
        "--dir",
        d,
        "main/00000099-aaaaaaaaaaaa",
        "--json",
    ]);
    assert_exit(&out, 2);
    let v = json_lines(&out);
    assert_eq!(v[0]["result"], "refused");
    assert!(v[0]["gate"].is_null());
}
