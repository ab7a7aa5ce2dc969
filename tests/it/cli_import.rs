//! `canvas-sis import` end to end: the real binary against the simulator over HTTP, one test per
//! consideration of Canvas's guide and per exit code. Every output is checked for the token.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A fast, real-clock simulator (the binary polls in real time).
async fn sim() -> Sim {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 2000.0;
    c.errors_attachment_lag = Duration::from_millis(200);
    Sim::start(c).await
}

/// A folder with the given CSV files.
fn feed(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

fn good_feed() -> tempfile::TempDir {
    feed(&[
        ("terms.csv", TERMS),
        ("courses.csv", COURSES),
        ("sections.csv", SECTIONS),
        ("users.csv", &users_csv(2)),
        ("enrollments.csv", ENROLLMENTS),
    ])
}

/// Runs `canvas-sis import PATH ARGS...` against the simulator with `token`.
async fn import(s: &Sim, token: &str, path: &Path, work: &Path, args: &[&str]) -> Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .arg("import")
        .arg(path)
        .args(["--poll-secs", "0.05", "--work-dir"])
        .arg(work)
        .args(args)
        .env("CANVAS_BASE_URL", s.sim.url())
        .env("CANVAS_TOKEN", token)
        .env_remove("CANVAS_TOKEN_FILE")
        .env_remove("CANVAS_ACCOUNT_ID")
        .output()
        .await
        .unwrap();
    assert_no_token(&out, token);
    out
}

/// [`import`] of `path` as the admin, with a work folder of its own.
async fn import_fresh(s: &Sim, path: &Path, args: &[&str]) -> Output {
    let work = tempfile::tempdir().unwrap();
    import(s, ADMIN, path, work.path(), args).await
}

/// [`import_fresh`] of [`good_feed`].
async fn import_good(s: &Sim, args: &[&str]) -> Output {
    import_fresh(s, good_feed().path(), args).await
}

fn assert_no_token(out: &Output, token: &str) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(token),
            "the token appeared in the output:\n{text}"
        );
    }
}

/// Checks that the command said `needle` on stdout.
#[track_caller]
fn assert_stdout_says(o: &Output, needle: &str) {
    let said = stdout(o);
    assert!(said.contains(needle), "{said}");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_folder_is_imported_and_exits_0() {
    let s = sim().await;
    let (data, work) = (good_feed(), tempfile::tempdir().unwrap());
    let out = import(&s, ADMIN, data.path(), work.path(), &[]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("imported (progress 100%)"), "{text}");
    assert!(text.contains("enrollments=3"), "{text}");
    assert_eq!(s.imports().await.len(), 1);
    let zips: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".zip"))
        .collect();
    assert_eq!(zips.len(), 1, "the uploaded zip is kept in the work dir");
}

#[tokio::test(flavor = "multi_thread")]
async fn warnings_exit_0_and_the_errors_file_is_saved() {
    let s = sim().await;
    let enrollments =
        "course_id,user_id,role,status\nC1,U00000,student,active\nC1,GHOST,student,active\n";
    let (data, work) = (
        feed(&[
            ("courses.csv", COURSES),
            ("users.csv", &users_csv(1)),
            ("enrollments.csv", enrollments),
        ]),
        tempfile::tempdir().unwrap(),
    );
    let out = import(&s, ADMIN, data.path(), work.path(), &["--json"]).await;
    assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "imported");
    assert_eq!(v["import"]["workflow_state"], "imported_with_messages");
    let saved = PathBuf::from(v["errors_file"].as_str().expect("errors file saved"));
    let csv = std::fs::read_to_string(saved).unwrap();
    assert!(
        csv.starts_with("sis_import_id,file,message,row") && csv.contains("GHOST"),
        "{csv}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_batch_is_rejected_with_exit_3_and_nothing_is_sent() {
    let s = sim().await;
    let (data, work) = (
        // A stray quote: Canvas fails the import ("Malformed CSV").
        feed(&[("users.csv", "user_id,login_id,status\nU1,u\"1,active\n")]),
        tempfile::tempdir().unwrap(),
    );
    let out = import(&s, ADMIN, data.path(), work.path(), &[]).await;
    assert_exit(&out, 3);
    assert!(stdout(&out).contains("REJECTED before upload"));
    assert_stdout_says(&out, "users.csv:2");
    assert!(s.imports().await.is_empty());
    assert!(s.requests().await.is_empty(), "not even a preflight call");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_canvas_refuses_exits_3_with_canvass_message() {
    let s = sim().await;
    let (data, work) = (good_feed(), tempfile::tempdir().unwrap());
    // Canvas's api_find of the term answers 404 before any import exists.
    let args = ["--batch-mode-term", "sis_term_id:NO_SUCH_TERM"];
    let out = import(&s, ADMIN, data.path(), work.path(), &args).await;
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains("The specified resource does not exist."),
        "{}",
        output_text(&out)
    );
    assert!(s.imports().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_previous_import_refuses_with_exit_4_until_after_failure() {
    let s = sim().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed_with_messages"}})).await;
    let work = tempfile::tempdir().unwrap();
    let first = import(&s, ADMIN, good_feed().path(), work.path(), &[]).await;
    assert_eq!(
        first.status.code(),
        Some(1),
        "Canvas failed it: {}",
        output_text(&first)
    );
    assert!(stdout(&first).contains("failed_with_messages"));
    let second = import(&s, ADMIN, good_feed().path(), work.path(), &[]).await;
    assert_exit(&second, 4);
    assert!(stdout(&second).contains("--after-failure"));
    assert_eq!(s.imports().await.len(), 1, "refused before the upload");
    let third = import(
        &s,
        ADMIN,
        good_feed().path(),
        work.path(),
        &["--after-failure"],
    )
    .await;
    assert_exit(&third, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_threshold_abort_exits_1_with_canvas_message() {
    let s = sim().await;
    let work = tempfile::tempdir().unwrap();
    let mut courses = String::from("course_id,short_name,long_name,term_id,status\n");
    for i in 0..10 {
        courses.push_str(&format!("K{i},K{i},Course {i},T2026,active\n"));
    }
    let seed = feed(&[("terms.csv", TERMS), ("courses.csv", &courses)]);
    assert_eq!(
        import(&s, ADMIN, seed.path(), work.path(), &[])
            .await
            .status
            .code(),
        Some(0)
    );
    let partial: String = courses.lines().take(6).map(|l| format!("{l}\n")).collect();
    let data = feed(&[("courses.csv", &partial)]);
    let out = import(
        &s,
        ADMIN,
        data.path(),
        work.path(),
        &[
            "--batch-mode-term",
            "sis_term_id:T2026",
            "--change-threshold",
            "10",
        ],
    )
    .await;
    assert_exit(&out, 1);
    assert_stdout_says(&out, "aborted");
    assert_stdout_says(&out, "exceeds the set threshold of 10%");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_post_answer_never_makes_a_second_import() {
    let s = sim().await;
    s.add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "drop_after"}})).await;
    let out = import_good(&s, &[]).await;
    assert_exit(&out, 0);
    assert_says(&out, "created by the lost request");
    let imports = s.imports().await;
    assert_eq!(
        imports.len(),
        1,
        "exactly one import in Canvas: {imports:?}"
    );
    assert_eq!(imports[0]["workflow_state"], "imported");
}

/// Canvas keeps the last of 100 or more identical lines of a CSV and stores the file as
/// `<name>_deduplicated.csv`, smaller than what was sent: still this batch's import.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_post_answer_never_makes_a_second_import_when_canvas_deduplicates_a_file() {
    let s = sim().await;
    s.add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "drop_after"}})).await;
    let repeated = ENROLLMENTS.lines().nth(1).expect("an enrollment row");
    let mut enrollments = ENROLLMENTS.to_owned();
    for _ in 0..100 {
        enrollments.push_str(repeated);
        enrollments.push('\n');
    }
    let feed = feed(&[
        ("terms.csv", TERMS),
        ("courses.csv", COURSES),
        ("sections.csv", SECTIONS),
        ("users.csv", &users_csv(2)),
        ("enrollments.csv", &enrollments),
    ]);
    let work = tempfile::tempdir().unwrap();
    let out = import(&s, ADMIN, feed.path(), work.path(), &[]).await;
    let imports = s.imports().await;
    assert_eq!(
        imports.len(),
        1,
        "exactly one import in Canvas: {}\n{imports:?}",
        output_text(&out)
    );
    assert_exit(&out, 0);
    assert_says(&out, "created by the lost request");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_on_the_post_is_sent_again_once_canvas_has_no_import() {
    let s = sim().await;
    s.add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "drop_before"}})).await;
    let out = import_good(&s, &[]).await;
    assert_exit(&out, 0);
    assert_eq!(s.imports().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_deadline_it_gives_up_with_exit_5_and_reports_the_stuck_import() {
    let s = sim().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "stuck_in": "created"}}))
        .await;
    let out = import_good(&s, &["--deadline-secs", "1", "--stuck-after-secs", "0.3"]).await;
    assert_exit(&out, 5);
    let text = output_text(&out);
    assert!(text.contains("GAVE UP on SIS import 1"), "{text}");
    assert!(text.contains("stuck in created"), "{text}");
    assert_eq!(
        s.imports().await[0]["workflow_state"],
        "created",
        "left alone, not aborted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn it_waits_for_a_running_import_of_the_account_then_goes() {
    let s = sim().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "rows_per_sec": 20.0}}))
        .await;
    let earlier = s
        .post_zip(zip_of(&[("users.csv", &users_csv(30))]), "")
        .await;
    let out = import_good(&s, &[]).await;
    assert_exit(&out, 0);
    assert_says(&out, "waiting for earlier imports");
    let first = s.show(earlier["id"].as_u64().unwrap()).await;
    let ours = s.show(2).await;
    assert_eq!(first["workflow_state"], "imported");
    assert!(
        first["ended_at"].as_str() <= ours["created_at"].as_str(),
        "uploaded only after the earlier import ended"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_that_stays_busy_gives_up_with_exit_5_before_uploading() {
    let s = sim().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "stuck_in": "created"}}))
        .await;
    s.post_zip(small_feed(), "").await;
    let out = import_good(&s, &["--busy-wait-secs", "0.5"]).await;
    assert_exit(&out, 5);
    assert_stdout_says(&out, "import 1 of this account was still created");
    assert_eq!(s.imports().await.len(), 1, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_waited_out() {
    let s = sim().await;
    s.add_fault(json!({"method": "GET", "times": 2, "action": {"kind": "throttle"}}))
        .await;
    let out = import_good(&s, &[]).await;
    assert_exit(&out, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_and_missing_permissions_exit_2_and_say_what_is_wrong() {
    let s = sim().await;
    let work = tempfile::tempdir().unwrap();
    let out = import(&s, "not-a-token", good_feed().path(), work.path(), &[]).await;
    assert_exit(&out, 2);
    assert!(
        stdout(&out).to_lowercase().contains("invalid"),
        "{}",
        stdout(&out)
    );
    let out = import(&s, "manage-token", good_feed().path(), work.path(), &[]).await;
    assert_exit(&out, 2);
    assert_stdout_says(&out, "import_sis");
    assert!(s.imports().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_checks_everything_and_sends_nothing() {
    let s = sim().await;
    let out = import_good(&s, &["--dry-run"]).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("DRY RUN"));
    assert!(s.imports().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn contradictory_options_and_missing_configuration_are_usage_errors() {
    let s = sim().await;
    let out = import_good(&s, &["--multi-term-batch-mode"]).await;
    assert_exit(&out, 2);
    assert_says(&out, "change_threshold");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["import", "."])
        .env_remove("CANVAS_BASE_URL")
        .env_remove("CANVAS_TOKEN")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_says(&out, "CANVAS_BASE_URL");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["import", "."])
        .env("CANVAS_BASE_URL", "http://canvas.example.edu")
        .env("CANVAS_TOKEN", "x")
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "plain http to a real host is refused"
    );
    assert!(s.imports().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_lists_recent_imports() {
    let s = sim().await;
    assert_exit(&import_good(&s, &[]).await, 0);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["status", "--limit", "5"])
        .env("CANVAS_BASE_URL", s.sim.url())
        .env("CANVAS_TOKEN", ADMIN)
        .output()
        .await
        .unwrap();
    assert_no_token(&out, ADMIN);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("imported") && text.contains("rows=10"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orphan_in_initializing_is_reported_and_does_not_block() {
    let s = sim().await;
    s.add_fault(
        json!({"method": "POST", "action": {"kind": "import", "stuck_in": "initializing"}}),
    )
    .await;
    s.post_zip(small_feed(), "").await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the orphan must be at least 1 s old
    let out = import_good(&s, &["--stuck-after-secs", "1"]).await;
    assert_exit(&out, 0);
    assert_says(&out, "SIS import 1 has been stuck in initializing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_post_answer_does_not_adopt_an_earlier_import_of_the_account() {
    let s = sim().await;
    let earlier = s.post_zip(small_feed(), "").await["id"].as_u64().unwrap();
    s.wait_real(earlier, Duration::from_secs(10)).await;
    s.add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "drop_after"}})).await;
    // The same files: `--force` sends them again (a re-run would be refused, exit 6).
    let out = import_good(&s, &["--json", "--force"]).await;
    assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(
        v["import"]["id"].as_u64(),
        Some(earlier),
        "the earlier import is not ours"
    );
    assert_eq!(s.imports().await.len(), 2);
}

/// Issue 13 #12: a named pipe blocks whoever opens it for reading until a writer comes, so an
/// input that is one (given as PATH, or sitting in the folder as `users.csv`, or a zip) must be
/// refused from its file type before it is opened, with exit 3 and a message saying what to give.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_pipe_as_input_or_inside_a_batch_is_refused_at_once() {
    let s = sim().await;
    let (tmp, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pipe_csv = tmp.path().join("users.csv");
    mkfifo(&pipe_csv);
    let pipe_zip = tmp.path().join("feed.zip");
    mkfifo(&pipe_zip);
    let folder = feed(&[("courses.csv", COURSES)]);
    mkfifo(&folder.path().join("users.csv"));
    let exe = env!("CARGO_BIN_EXE_canvas-sis");
    let out_zip = tmp.path().join("out.zip");
    for path in [pipe_csv.as_path(), pipe_zip.as_path(), folder.path()] {
        let mut commands = [
            tokio::process::Command::new(exe),
            tokio::process::Command::new(exe),
            tokio::process::Command::new(exe),
        ];
        commands[0].arg("validate").arg(path);
        commands[1].arg("pack").arg(path).arg("-o").arg(&out_zip);
        commands[2]
            .arg("import")
            .arg(path)
            .arg("--work-dir")
            .arg(work.path())
            .env("CANVAS_BASE_URL", s.sim.url())
            .env("CANVAS_TOKEN", ADMIN)
            .env_remove("CANVAS_TOKEN_FILE")
            .env_remove("CANVAS_ACCOUNT_ID");
        for cmd in &mut commands {
            let out = output_within(cmd, Duration::from_secs(20)).await;
            let text = output_text(&out);
            assert_eq!(out.status.code(), Some(3), "{:?}: {text}", cmd.as_std());
            assert!(
                text.contains("named pipe") && text.contains("regular file"),
                "says what the input is and what to give instead: {text}"
            );
        }
    }
    assert!(!out_zip.exists(), "nothing was packed");
    assert!(s.imports().await.is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_of_an_imported_batch_is_refused_with_exit_6_naming_the_import_unless_forced() {
    let s = sim().await;
    let data = good_feed();
    let first = import_fresh(&s, data.path(), &["--json"]).await;
    assert_exit(&first, 0);
    let v: Value = serde_json::from_slice(&first.stdout).unwrap();
    let id = v["import"]["id"].as_u64().unwrap();
    // The operator re-runs the same command (the first run's end was lost in a crash).
    let again = import_fresh(&s, data.path(), &[]).await;
    assert_exit(&again, 6);
    let text = output_text(&again);
    assert!(text.contains(&format!("SIS import {id}")), "{text}");
    assert!(text.contains("--force"), "says how to send anyway: {text}");
    assert_eq!(s.imports().await.len(), 1, "nothing sent twice");
    // Another user's import of the same files is no reason to refuse.
    let other = sim().await;
    other.post_zip_as("import-token", small_feed(), "").await;
    let out = import_fresh(&other, data.path(), &[]).await;
    assert_exit(&out, 0);
    // Forced, it goes.
    let forced = import_fresh(&s, data.path(), &["--force"]).await;
    assert_exit(&forced, 0);
    assert_eq!(s.imports().await.len(), 2);
}
