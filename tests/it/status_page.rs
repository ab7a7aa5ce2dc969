//! The status page's data and its listener, from outside: `status --dir --json` (the page's
//! models as JSON), `status` on a folder with no ledger yet, and `watch --listen` serving the
//! page behind a token while the probes and `/metrics` stay open. The page in a browser is
//! tested in tests/python/test_status_page.py.

use std::process::Stdio;
use std::time::{Duration, Instant};

use canvas_sis::ledger::{BatchSource, Ledger, LocalStore, NewBatch};

use crate::common::{
    ADMIN, Sim, assert_exit, output_text, record_held, record_imported, run_cli, small_feed, tokens,
};

/// A folder-mode ledger with tenant `main`: one batch held by the guard, and in tenant `west`
/// three imported batches.
async fn ledger_with_history(dir: &std::path::Path) -> (String, Vec<String>) {
    std::fs::create_dir_all(dir.join("ledger")).unwrap();
    let ledger = Ledger::new(LocalStore::open(dir.join("ledger")).unwrap());
    let held = record_held(&ledger, source("/drop/main/b1")).await;
    let mut imported = Vec::new();
    for n in 1..=3u64 {
        let new = NewBatch {
            tenant: "west".into(),
            source: source(&format!("/drop/west/b{n}")),
            content_sha256: format!("{n:02}").repeat(32),
        };
        let id = ledger.create_batch(new).await.unwrap().record().id.clone();
        let json = serde_json::json!({"id": n, "workflow_state": "imported", "progress": 100});
        record_imported(&ledger, &id, n, json).await;
        imported.push(id.to_string());
    }
    (held, imported)
}

fn source(location: &str) -> BatchSource {
    BatchSource {
        kind: "folder".into(),
        location: location.into(),
        files: vec![],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_json_gives_each_tenants_gate_freshness_what_waits_and_its_newest_batches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (held, imported) = ledger_with_history(dir.path()).await;
    let out = run_cli(&["status", "--dir", d, "--json", "--limit", "2"]);
    assert_exit(&out, 0);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let tenants = doc["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2, "{doc:#}");
    let main = &tenants[0];
    assert_eq!(main["summary"]["tenant"], "main");
    assert_eq!(main["summary"]["gate"]["state"], "open");
    assert_eq!(main["summary"]["freshness"], "never");
    let waiting = &main["summary"]["waiting"][0];
    assert_eq!(waiting["batch"], held.as_str());
    assert_eq!(waiting["stage"], "held");
    let approve = format!("canvas-sis approve --dir {d} {held}");
    assert_eq!(waiting["command"], approve.as_str());

    let west = &tenants[1];
    assert_eq!(west["summary"]["freshness"], "fresh");
    assert_eq!(
        west["summary"]["last_success"]["batch"],
        imported[2].as_str()
    );
    // --limit: the two newest, newest first; the oldest is counted, not listed.
    let listed: Vec<&str> = west["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [imported[2].as_str(), imported[1].as_str()]);
    assert_eq!(west["older"], 1);
    assert_eq!(west["batches"][0]["outcome"], "imported");

    // The text form honours --limit too.
    let text = output_text(&run_cli(&["status", "--dir", d, "--limit", "1"]));
    assert!(
        text.contains(&imported[2]) && !text.contains(&imported[1]),
        "{text}"
    );
}

#[test]
fn status_of_a_folder_nothing_was_imported_through_says_no_batches_yet_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run_cli(&["status", "--dir", d]);
    assert_exit(&out, 0);
    assert!(
        output_text(&out).contains("no batches yet"),
        "{}",
        output_text(&out)
    );
    let out = run_cli(&["status", "--dir", d, "--json"]);
    assert_exit(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["tenants"], serde_json::json!([]));
    assert!(
        !dir.path().join("ledger").exists(),
        "status created nothing"
    );
    // A directory that is not there is still a mistake (a typo), not an empty ledger.
    let out = run_cli(&["status", "--dir", &format!("{d}/nope")]);
    assert_exit(&out, 2);
    assert!(output_text(&out).contains("is not a directory"));
}

async fn get(url: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    let mut req = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.ok()?;
    Some((r.status().as_u16(), r.text().await.unwrap_or_default()))
}

/// `canvas-sis watch DIR --listen ADDR [extra]` against `sim`, its page answering.
async fn watch_listening(
    sim: &Sim,
    dir: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> (tokio::process::Child, String) {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["watch", dir.to_str().unwrap(), "--listen", &addr])
        .args(extra)
        .env("CANVAS_BASE_URL", sim.url(""))
        .env("CANVAS_TOKEN", ADMIN)
        .env_remove("CANVAS_SIS_CONFIG")
        .env_remove("CANVAS_TOKEN_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    let started = Instant::now();
    while get(&format!("{base}/healthz"), None).await.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "watch never listened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, base)
}

#[tokio::test(flavor = "multi_thread")]
async fn watchs_page_shows_canvas_progress_of_an_import_still_running() {
    // A simulated Canvas whose clock stands still: the import stays where it is.
    let sim = Sim::manual().await;
    let import = sim.post_zip_id(small_feed(), "").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ledger")).unwrap();
    let ledger = Ledger::new(LocalStore::open(dir.path().join("ledger")).unwrap());
    let new = NewBatch {
        tenant: "default".into(),
        source: source("/drop/b1"),
        content_sha256: "ef".repeat(32),
    };
    let id = ledger.create_batch(new).await.unwrap().record().id.clone();
    use canvas_sis::ledger::Stage;
    for stage in [
        Stage::Validated,
        Stage::Packed,
        Stage::Submitting,
        Stage::Submitted { import_id: import },
    ] {
        ledger.transition(&id, stage, "t").await.unwrap();
    }
    let (mut child, base) = watch_listening(&sim, dir.path(), &[]).await;
    let state = sim.show(import).await["workflow_state"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, page) = get(&format!("{base}/"), None).await.unwrap();
    assert_eq!(status, 200, "{page}");
    let shown = format!("submitted (Canvas import {import}: {state}");
    assert!(page.contains(&shown), "{shown:?} not in {page}");
    child.kill().await.unwrap();
    // `status --json` (no Canvas at hand) shows the batch without Canvas's word.
    let out = run_cli(&["status", "--dir", dir.path().to_str().unwrap(), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let waiting = &doc["tenants"][0]["summary"]["waiting"][0];
    assert_eq!(waiting["import_id"], import);
    assert_eq!(waiting["canvas"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_serves_the_status_page_behind_its_token_and_the_probes_in_the_open() {
    let sim = Sim::start(canvas_sis::sim::SimConfig::with_tokens(tokens())).await;
    let dir = tempfile::tempdir().unwrap();
    let (held, _) = ledger_with_history(&dir.path().join("sis")).await;
    let token_file = dir.path().join("page-token");
    std::fs::write(&token_file, "reader-token-91c2\n").unwrap();
    let page_flag = std::ffi::OsStr::new("--page-token-file");
    let extra = [page_flag, token_file.as_os_str()];
    let (mut child, base) = watch_listening(&sim, &dir.path().join("sis"), &extra).await;
    let (status, body) = get(&format!("{base}/"), None).await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("reader-token-91c2"));
    let (status, _) = get(&format!("{base}/"), Some("reader-token-92c2"))
        .await
        .unwrap();
    assert_eq!(status, 401, "a wrong token is refused");
    let (status, body) = get(&format!("{base}/"), Some("reader-token-91c2"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("main") && body.contains("west"), "{body}");
    let batch = format!("{base}/batches/{held}");
    let (status, body) = get(&batch, Some("reader-token-91c2")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("canvas-sis approve --dir"), "{body}");
    assert!(!body.contains(ADMIN), "no Canvas token on the page");
    let (status, _) = get(
        &format!("{base}/batches/main/00000099-abababababab"),
        Some("reader-token-91c2"),
    )
    .await
    .unwrap();
    assert_eq!(status, 404);
    for open in ["/healthz", "/metrics"] {
        let (status, _) = get(&format!("{base}{open}"), None).await.unwrap();
        assert_eq!(status, 200, "{open} stays open");
    }
    child.kill().await.unwrap();
}
