//! The operator commands on the cloud worker's S3 ledger (`--state s3://bucket/prefix/`), run as
//! an admin runs them: the built binary against a real moto server.

use std::process::{Command, Output};

use canvas_sis::aws::ledger::S3Store;
use canvas_sis::ledger::{BatchId, BatchSource, Gate, Ledger};

use crate::common::moto::Moto;
use crate::common::{assert_says, assert_status_shows_held, output_text, record_held};

const URL: &str = "s3://state/canvas-sis/";

/// Runs the binary with only moto's environment (no stray AWS profile or SIS_STATE_URL).
fn run(m: &Moto, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(args)
        .env_clear()
        .envs(m.env())
        .envs(extra_env.iter().copied())
        .env("USER", "ops-test")
        .output()
        .unwrap()
}

async fn ledger(m: &Moto) -> Ledger<S3Store> {
    Ledger::new(S3Store::from_url(m.s3().await, URL).unwrap())
}

/// A bucket `state` whose ledger holds one batch of tenant `main`, held by the guard.
async fn held_batch(m: &Moto) -> String {
    m.create_bucket("state").await;
    let source = BatchSource {
        kind: "s3".into(),
        location: "s3://drop/main/b1.zip".into(),
        files: vec![],
        ..Default::default()
    };
    record_held(&ledger(m).await, source).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_pauses_resumes_and_approves_on_the_s3_ledger() {
    let m = Moto::start();
    let id = held_batch(&m).await;
    let l = ledger(&m).await;

    assert_status_shows_held(&run(&m, &[], &["status", "--state", URL]), &id);

    let pause = [
        "pause",
        "--state",
        URL,
        "--tenant",
        "main",
        "--reason",
        "term rollover",
    ];
    let out = run(&m, &[], &pause);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        matches!(l.tenant("main").await.unwrap().gate, Gate::Paused { ref by, .. } if by == "ops-test")
    );
    let out = run(&m, &[], &["status", "--state", URL]);
    assert_says(&out, "tenant main: paused");

    let out = run(&m, &[], &["resume", "--state", URL, "--tenant", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_says(&out, "it was paused: term rollover");
    assert_eq!(l.tenant("main").await.unwrap().gate, Gate::Open);

    let out = run(&m, &[], &["approve", "--state", URL, &id]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let rec = l
        .get_batch(&BatchId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(rec.approved, "approve sets the flag in the S3 record");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_url_may_come_from_sis_state_url() {
    let m = Moto::start();
    let id = held_batch(&m).await;
    let out = run(&m, &[("SIS_STATE_URL", URL)], &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_says(&out, &id);
    // The status page's data as JSON, with the command that names the S3 ledger.
    let out = run(&m, &[("SIS_STATE_URL", URL)], &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let waiting = &doc["tenants"][0]["summary"]["waiting"][0];
    assert_eq!(
        waiting["command"],
        format!("canvas-sis approve --state {URL} {id}").as_str()
    );
    let out = run(
        &m,
        &[("SIS_STATE_URL", URL)],
        &["pause", "--tenant", "main"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(matches!(
        ledger(&m).await.tenant("main").await.unwrap().gate,
        Gate::Paused { .. }
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_fails_clearly_and_creates_nothing() {
    let m = Moto::start();
    held_batch(&m).await;
    let out = run(
        &m,
        &[],
        &[
            "pause",
            "--state",
            "s3://nope/canvas-sis/",
            "--tenant",
            "main",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert_says(&out, "bucket `nope` does not exist");
    let out = run(&m, &[], &["status", "--state", "s3://nope/canvas-sis/"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let buckets = m.s3().await.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["state"], "no bucket was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_without_a_ledger_is_refused_and_left_empty() {
    let m = Moto::start();
    held_batch(&m).await;
    let typo = "s3://state/canvas-sys/";
    let out = run(&m, &[], &["pause", "--state", typo, "--tenant", "main"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert_says(&out, "holds no ledger");
    let listed = m
        .s3()
        .await
        .list_objects_v2()
        .bucket("state")
        .prefix("canvas-sys/")
        .send()
        .await
        .unwrap();
    assert!(
        listed.contents().is_empty(),
        "nothing written under the typo"
    );
    // `status` reads only: it says there are no batches there yet, naming the URL it read.
    let out = run(&m, &[], &["status", "--state", typo]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_says(&out, &format!("no batches yet: {typo} holds no ledger"));
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_of_dir_and_state_is_required() {
    let m = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(
        &m,
        &[],
        &["pause", "--dir", d, "--state", URL, "--tenant", "t"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert_says(&out, "cannot be used with");
    let out = run(&m, &[], &["resume", "--tenant", "t"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("--dir") && output_text(&out).contains("--state"),
        "{}",
        output_text(&out)
    );
}
