//! `canvas-sis watch DIR --once` end to end: drops in the inbox become Canvas imports in arrival
//! order, are archived with their outcome, and a failure halts the tenant until `resume`.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::json;

use crate::common::*;

/// `canvas-sis watch DIR --once` against the simulator at `url`, the token from the environment
/// and no config file.
fn watch_once_command(url: &str, dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
    cmd.args(["watch", "--once", "--poll-secs", "0.05"])
        .arg(dir)
        .env("CANVAS_BASE_URL", url)
        .env("CANVAS_TOKEN", ADMIN)
        .env_remove("CANVAS_SIS_CONFIG")
        .env_remove("CANVAS_TOKEN_FILE");
    cmd
}

async fn watch_once(s: &Sim, dir: &Path) -> Output {
    let out = watch_once_command(s.sim.url(), dir).output().await.unwrap();
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(ADMIN),
            "token in the output"
        );
    }
    out
}

/// [`watch_once`], which must end with exit code 0.
async fn watch_once_ok(s: &Sim, dir: &Path) -> Output {
    let out = watch_once(s, dir).await;
    assert_exit(&out, 0);
    out
}

/// Drops a batch folder `name` holding a users.csv of `users` users, last written `age_secs` ago.
fn drop_users(dir: &Path, name: &str, users: usize, age_secs: u64) {
    drop_batch(
        dir,
        name,
        &[("users.csv", &users_csv(users))],
        Duration::from_secs(age_secs),
    );
}

/// All that the files under `failed/` say (why the batches there were refused).
fn failed_said(dir: &Path) -> String {
    files_under(&dir.join("failed"))
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect()
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
    drop_users(dir.path(), "zz-first", 2, 300);
    drop_users(dir.path(), "aa-second", 3, 200);
    watch_once_ok(&s, dir.path()).await;
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
    watch_once_ok(&s, dir.path()).await;
    assert_eq!(s.imports().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_halts_the_tenant_later_drops_wait_and_resume_releases_them_in_order() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed_with_messages"}})).await;
    drop_users(dir.path(), "b1", 2, 300);
    drop_users(dir.path(), "b2", 3, 200);
    let out = watch_once(&s, dir.path()).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a halted tenant: {}",
        output_text(&out)
    );
    assert_says(&out, "HALTED");
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
    assert_exit(&resume, 0);

    watch_once_ok(&s, dir.path()).await;
    assert_eq!(s.imports().await.len(), 2);
    assert_eq!(entries(&dir.path().join("archive")).len(), 1);
    assert!(entries(&dir.path().join("processing")).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_sent_during_a_blackout_window() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_users(dir.path(), "b1", 2, 300);
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
    assert_exit(&out, 0);
    assert_says(&out, "blackout");
    let line = summary_of(&out, "main");
    assert!(
        line.contains("in a blackout window until ")
            && line.contains("nothing is sent before then"),
        "{line}"
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
    drop_users(dir.path(), "b1", 60, 300);
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
    assert_exit(&out, 0);
    assert_eq!(entries(&dir.path().join("archive")).len(), 1);
    assert!(entries(&dir.path().join("processing")).is_empty());
}

async fn watch_once_owned(url: String, dir: std::path::PathBuf) -> Output {
    watch_once_command(&url, &dir).output().await.unwrap()
}

/// The users.csv size of each import the simulator holds, oldest first.
async fn imported_sizes(s: &Sim) -> Vec<u64> {
    s.imports()
        .await
        .iter()
        .map(|i| i["csv_files"][0]["size"].as_u64().expect("a users.csv"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_content_dropped_again_later_is_a_new_batch_and_both_are_archived() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        drop_users(dir.path(), "b1", 2, 300);
        watch_once_ok(&s, dir.path()).await;
    }
    assert_eq!(
        s.imports().await.len(),
        2,
        "a batch is a delivery, not a content: the second drop is imported too"
    );
    assert!(entries(&dir.path().join("inbox")).is_empty());
    assert!(entries(&dir.path().join("processing")).is_empty());
    let archived = entries(&dir.path().join("archive"));
    assert_eq!(archived.len(), 2, "both drops kept: {archived:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_to_an_earlier_snapshot_is_a_new_batch_and_is_imported() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (users_csv(2), users_csv(3));
    for body in [&a, &b, &a] {
        drop_batch(
            dir.path(),
            "daily",
            &[("users.csv", body)],
            Duration::from_secs(300),
        );
        watch_once_ok(&s, dir.path()).await;
    }
    let (a, b) = (a.len() as u64, b.len() as u64);
    assert_eq!(
        imported_sizes(&s).await,
        vec![a, b, a],
        "A, B, then A again: Canvas ends with A"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrected_redrop_with_a_new_manifest_is_a_new_batch() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let users = users_csv(2);
    for manifest in [r#"{"import": {"skip_deletes": true}}"#, "{}"] {
        drop_batch(
            dir.path(),
            "run",
            &[("users.csv", &users), ("manifest.json", manifest)],
            Duration::from_secs(300),
        );
        watch_once_ok(&s, dir.path()).await;
    }
    let imports = s.imports().await;
    assert_eq!(imports.len(), 2, "the corrected drop is imported too");
    assert_eq!(imports[0]["options"]["skip_deletes"], json!(true));
    assert_ne!(imports[1]["options"]["skip_deletes"], json!(true));
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
    drop_users(dir.path(), "b-plain", 3, 200);
    watch_once_ok(&s, dir.path()).await;
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

/// The operator contract: a manifest with `files` means those files. A CSV beside them that the
/// manifest does not list (an export left over, a file for another run) is never sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_listing_files_sends_only_those_files() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "listed",
        &[
            ("users.csv", &users_csv(2)),
            ("courses.csv", COURSES),
            ("manifest.json", r#"{"files": [{"name": "users.csv"}]}"#),
        ],
        Duration::from_secs(300),
    );
    let out = watch_once_ok(&s, dir.path()).await;
    let imports = s.imports().await;
    assert_eq!(imports.len(), 1, "{}", output_text(&out));
    let sent = imports[0]["csv_files"].to_string();
    assert!(sent.contains("users.csv"), "{sent}");
    assert!(
        !sent.contains("courses.csv"),
        "an unlisted file was sent: {sent}"
    );
}

/// `watch --once` as a process with a deadline: a watcher that blocks fails the test.
async fn watch_once_within(url: &str, dir: &Path, token_env: (&str, &str)) -> Output {
    let mut cmd = watch_once_command(url, dir);
    cmd.env_remove("CANVAS_TOKEN").env(token_env.0, token_env.1);
    output_within(&mut cmd, Duration::from_secs(20)).await
}

/// Every regular file under `dir` with its bytes, never following a symbolic link (a link is
/// listed with its target's path as its content, which is what the folder really holds).
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let t = std::fs::symlink_metadata(&p).unwrap().file_type();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if t.is_dir() {
                todo.push(p);
            } else if t.is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.push((rel, target.display().to_string().into_bytes()));
            } else if t.is_file() {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Issue 13 #12: `users.csv` in a batch folder is a symbolic link to the token file. It must not
/// be followed: the batch is refused (failed/, saying why), and the token's text reaches no file
/// the watcher writes — not the ledger, not validation.txt, not the archive, not the logs.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_stay_secret_a_symlink_to_the_token_file_is_refused_and_its_content_never_reaches_the_ledger()
 {
    let s = watch_sim().await;
    let (dir, secrets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let token_file = secrets.path().join("canvas-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    drop_batch(
        dir.path(),
        "b1",
        &[("courses.csv", COURSES)],
        Duration::from_secs(300),
    );
    let link = dir.path().join("inbox/b1/users.csv");
    std::os::unix::fs::symlink(&token_file, &link).unwrap();
    set_mtime_nofollow(&link, Duration::from_secs(300));

    let out = watch_once_within(
        s.sim.url(),
        dir.path(),
        ("CANVAS_TOKEN_FILE", token_file.to_str().unwrap()),
    )
    .await;
    let text = output_text(&out);
    assert!(!text.contains(ADMIN), "token in the output: {text}");
    for (path, bytes) in files_under(dir.path()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(ADMIN),
            "the token's text is in {path}"
        );
    }
    assert!(s.imports().await.is_empty(), "nothing was sent");
    let failed = entries(&dir.path().join("failed"));
    assert_eq!(failed.len(), 1, "the batch is refused: {failed:?}\n{text}");
    let said = failed_said(dir.path());
    assert!(
        said.contains("users.csv") && said.contains("symbolic link"),
        "the refusal names the file and why: {said}"
    );
}

/// Issue 13 #12: a named pipe in the inbox (as a zip or a loose CSV) or inside a batch folder
/// blocked the watcher for ever at its first open. It is refused from its file type: the batch
/// holding one fails saying why, the loose one is reported as waiting, and the pass ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_pipe_in_the_inbox_or_a_batch_folder_never_blocks_the_watcher() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "b1",
        &[("courses.csv", COURSES)],
        Duration::from_secs(300),
    );
    // A manifest asking for the pipe's digest: hashing it would block too.
    let manifest = r#"{"files":[{"name":"users.csv","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}]}"#;
    std::fs::write(dir.path().join("inbox/b1/manifest.json"), manifest).unwrap();
    set_mtime_nofollow(
        &dir.path().join("inbox/b1/manifest.json"),
        Duration::from_secs(300),
    );
    // Settled for longer than any quiet period: only their type may keep them out.
    for pipe in ["inbox/b1/users.csv", "inbox/feed.zip", "inbox/loose.csv"] {
        mkfifo(&dir.path().join(pipe));
        set_mtime_nofollow(&dir.path().join(pipe), Duration::from_secs(300));
    }
    let out = watch_once_within(s.sim.url(), dir.path(), ("CANVAS_TOKEN", ADMIN)).await;
    let text = output_text(&out);
    assert!(s.imports().await.is_empty(), "nothing was sent: {text}");
    assert_eq!(entries(&dir.path().join("failed")).len(), 1, "{text}");
    let said = failed_said(dir.path());
    assert!(said.contains("named pipe"), "the refusal says why: {said}");
    for pipe in ["inbox/feed.zip", "inbox/loose.csv"] {
        assert!(
            text.lines()
                .any(|l| l.contains(pipe) && l.contains("named pipe")),
            "{pipe} is reported: {text}"
        );
    }
}

/// Issue 13: a folder closed by READY is a batch at once (the operator contract); the quiet
/// period is for loose files and zips, and `watch --once` says what is waiting and why, rather
/// than doing nothing silently.
#[tokio::test(flavor = "multi_thread")]
async fn watch_once_says_what_is_waiting_and_why() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_batch(
        dir.path(),
        "just-closed",
        &[("users.csv", &users_csv(2))],
        Duration::ZERO,
    );
    let inbox = dir.path().join("inbox");
    std::fs::write(
        inbox.join("feed.zip"),
        zip_of(&[("users.csv", &users_csv(3))]),
    )
    .unwrap();
    std::fs::create_dir(inbox.join("open")).unwrap();
    std::fs::write(inbox.join("open/users.csv"), users_csv(1)).unwrap();

    let out = watch_once_within(s.sim.url(), dir.path(), ("CANVAS_TOKEN", ADMIN)).await;
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        s.imports().await.len(),
        1,
        "the closed folder went at once: {text}"
    );
    assert_eq!(entries(&dir.path().join("archive")).len(), 1, "{text}");
    let zip_line = text
        .lines()
        .find(|l| l.contains("inbox/feed.zip"))
        .unwrap_or_else(|| panic!("the zip is reported: {text}"));
    assert!(
        zip_line.contains("waiting")
            && zip_line.contains("quiet period")
            && zip_line.contains("s left"),
        "{zip_line}"
    );
    let open_line = text
        .lines()
        .find(|l| l.contains("inbox/open"))
        .unwrap_or_else(|| panic!("the open folder is reported: {text}"));
    assert!(
        open_line.contains("manifest.json") && open_line.contains("READY"),
        "{open_line}"
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
    drop_users(dir.path(), "b1", 20, 300);
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
    watch_once_ok(&s, dir.path()).await;
    assert_eq!(s.imports().await.len(), 1, "no second upload");
}

/// The summary line `watch --once` ends with for `tenant` (one per tenant, `tenant NAME: ...`).
fn summary_of(out: &Output, tenant: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("tenant {tenant}: ");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(
        lines.len(),
        1,
        "one summary line for {tenant}: {}",
        output_text(out)
    );
    lines[0].to_owned()
}

/// `watch --once` ends with a line per tenant that says why nothing was sent: an empty inbox, a
/// drop still in its quiet period (with the time left), a paused tenant (with the command that
/// reopens it) — and sends nothing meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn watch_once_summary_says_why_nothing_was_sent_empty_inbox_quiet_period_and_paused() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let out = watch_once_ok(&s, dir.path()).await;
    assert_eq!(
        summary_of(&out, "default"),
        "tenant default: inbox empty: nothing to send"
    );

    let inbox = dir.path().join("inbox");
    std::fs::write(
        inbox.join("feed.zip"),
        zip_of(&[("users.csv", &users_csv(3))]),
    )
    .unwrap();
    let out = watch_once_ok(&s, dir.path()).await;
    let line = summary_of(&out, "default");
    assert!(
        line.contains("1 drop waiting in the inbox: inbox/feed.zip")
            && line.contains("quiet period")
            && line.contains("s left"),
        "{line}"
    );
    assert!(s.imports().await.is_empty());
    std::fs::remove_file(inbox.join("feed.zip")).unwrap();

    let d = dir.path().to_str().unwrap();
    let pause = run_cli(&[
        "pause",
        "--dir",
        d,
        "--tenant",
        "default",
        "--reason",
        "term rollover",
    ]);
    assert_exit(&pause, 0);
    drop_users(dir.path(), "b1", 2, 300);
    let out = watch_once_ok(&s, dir.path()).await;
    let line = summary_of(&out, "default");
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    let resume = format!(
        "`canvas-sis resume --dir {} --tenant default`",
        canonical.display()
    );
    assert!(
        line.contains("paused since ")
            && line.contains(": term rollover")
            && line.contains(&resume)
            && line.contains("1 batch parked"),
        "{line}"
    );
    assert!(s.imports().await.is_empty(), "nothing sent while paused");
}

/// A halted tenant's summary names the batch that halted it, since when, and the exact resume
/// command for this folder; `watch --once` exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn watch_once_summary_names_the_halting_batch_and_the_resume_command() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed_with_messages"}})).await;
    drop_users(dir.path(), "b1", 2, 300);
    let out = watch_once(&s, dir.path()).await;
    assert_exit(&out, 1);
    let line = summary_of(&out, "default");
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    let resume = format!(
        "run `canvas-sis resume --dir {} --tenant default`",
        canonical.display()
    );
    assert!(
        line.contains("HALTED since ")
            && line.contains(" UTC by batch default/")
            && line.contains("1 batch finished (0 done, 1 failed)")
            && line.ends_with(&resume),
        "{line}"
    );
    // The next pass sends nothing and still says so.
    let out = watch_once(&s, dir.path()).await;
    assert_exit(&out, 1);
    assert!(summary_of(&out, "default").contains("HALTED since "));
    assert_eq!(s.imports().await.len(), 1);
}

/// A batch the mass-change guard holds: the summary names it and the approve command for this
/// folder; once approved (`--json` says so), the next pass sends it.
#[tokio::test(flavor = "multi_thread")]
async fn watch_once_summary_names_a_held_batch_and_the_approve_command() {
    let s = watch_sim().await;
    let dir = tempfile::tempdir().unwrap();
    drop_users(dir.path(), "full", 100, 300);
    watch_once_ok(&s, dir.path()).await;
    drop_users(dir.path(), "cut", 2, 200);
    let out = watch_once_ok(&s, dir.path()).await;
    let line = summary_of(&out, "default");
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    let approve = format!("`canvas-sis approve --dir {} default/", canonical.display());
    assert!(
        line.contains("held by the mass-change guard (users went from 100 to 2 rows")
            && line.contains(&approve),
        "{line}"
    );
    assert_eq!(s.imports().await.len(), 1, "held, not sent");
    let batch = line
        .split(&approve)
        .nth(1)
        .and_then(|rest| rest.strip_suffix('`'))
        .map(|seq| format!("default/{seq}"))
        .unwrap_or_else(|| panic!("no batch id in {line}"));
    let d = dir.path().to_str().unwrap();
    let out = run_cli(&["approve", "--dir", d, &batch, "--json"]);
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["result"], &v["batch"]),
        (&json!("approved"), &json!(batch))
    );
    let out = watch_once_ok(&s, dir.path()).await;
    assert!(
        summary_of(&out, "default").contains("1 batch finished (1 done, 0 failed)"),
        "{}",
        output_text(&out)
    );
    assert_eq!(s.imports().await.len(), 2);
}
