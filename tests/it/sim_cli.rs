//! `canvas-sis simulate` as a user starts it: the first stdout line is the base URL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn simulate_prints_its_url_first_and_serves_the_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "bot:s3cret:import_sis",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}/api/v1/accounts/1/sis_imports"))
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap()
            .status()
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(status, 200);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        !logs.contains("s3cret"),
        "the token leaked into the logs: {logs}"
    );
}

#[test]
fn a_bad_token_spec_is_a_usage_error_that_says_the_format() {
    let out = Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["simulate", "--token", "only-a-name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NAME:SECRET"), "{err}");
}
