//! `canvas-sis doctor` as an admin runs it, against the simulator over real HTTP: one line per
//! check, a fix for each failure, exit 0 only when every check passes — and never the token.

use std::process::Output;

use crate::common::{Sim, assert_exit, output_text, tokens};

/// `canvas-sis doctor` with only these variables (no stray CANVAS_* or AWS_* from the shell).
async fn doctor(env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
            .arg("doctor")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The simulator's single tenant from the environment, with `token` and `account`.
fn tenant_env(s: &Sim, token: &str, account: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CANVAS_BASE_URL", s.sim.url().to_owned()),
        ("CANVAS_TOKEN", token.to_owned()),
        ("CANVAS_ACCOUNT_ID", account.to_owned()),
    ]
}

/// The line of the check named `name` (e.g. `tenant default: token`), with its fix line if any.
fn check<'a>(text: &'a str, name: &str) -> &'a str {
    let at = text
        .find(&format!(" {name}: "))
        .unwrap_or_else(|| panic!("no check {name}: {text}"));
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let rest = &text[start..];
    let end = rest
        .match_indices('\n')
        .map(|(i, _)| i)
        .find(|&i| !rest[i + 1..].starts_with("      fix:"))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn assert_no_token(out: &Output, token: &str) {
    assert!(
        !output_text(out).contains(token),
        "the token reached the output: {}",
        output_text(out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_every_check_against_a_working_canvas() {
    let s = Sim::start(canvas_sis::sim::SimConfig::with_tokens(tokens())).await;
    let out = doctor(tenant_env(&s, "admin-token", "1")).await;
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "config",
        "tenant default: Canvas URL",
        "tenant default: token",
        "tenant default: account",
        "tenant default: SIS permission",
        "tenant default: SIS imports",
    ] {
        assert!(check(&text, name).starts_with("ok "), "{name}: {text}");
    }
    assert!(!text.contains("FAIL") && !text.contains("skip"), "{text}");
    assert!(check(&text, "tenant default: account").contains("Simulated University"));
    assert_no_token(&out, "admin-token");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_a_refused_token_with_a_fix_and_never_prints_it() {
    let s = Sim::start(canvas_sis::sim::SimConfig::with_tokens(tokens())).await;
    let wrong = "not-a-real-token-7f3a91";
    let out = doctor(tenant_env(&s, wrong, "1")).await;
    assert_exit(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        check(&text, "tenant default: Canvas URL").starts_with("ok "),
        "{text}"
    );
    let token = check(&text, "tenant default: token");
    assert!(
        token.starts_with("FAIL") && token.contains("fix: "),
        "{token}"
    );
    assert!(
        check(&text, "tenant default: account").starts_with("skip"),
        "{text}"
    );
    assert_no_token(&out, wrong);

    let expired = doctor(tenant_env(&s, "expired-token", "1")).await;
    assert_exit(&expired, 2);
    let text = String::from_utf8_lossy(&expired.stdout).into_owned();
    assert!(
        check(&text, "tenant default: token").contains("expired"),
        "{text}"
    );
    assert_no_token(&expired, "expired-token");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_a_token_without_the_sis_permission_and_says_which_to_grant() {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.tokens.push("clerk:clerk-secret-55:none".parse().unwrap());
    let s = Sim::start(c).await;
    let out = doctor(tenant_env(&s, "clerk-secret-55", "1")).await;
    assert_exit(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        check(&text, "tenant default: token").starts_with("ok "),
        "{text}"
    );
    assert!(
        check(&text, "tenant default: account").starts_with("ok "),
        "{text}"
    );
    let perm = check(&text, "tenant default: SIS permission");
    assert!(
        perm.starts_with("FAIL") && perm.contains("import_sis") && perm.contains("fix: "),
        "{perm}"
    );
    assert_no_token(&out, "clerk-secret-55");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_an_account_without_sis_imports_and_an_unknown_account() {
    let s = Sim::start(canvas_sis::sim::SimConfig::with_tokens(tokens())).await;
    // Account 3 of the simulator is a root account with SIS imports turned off.
    let out = doctor(tenant_env(&s, "admin-token", "3")).await;
    assert_exit(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let enabled = check(&text, "tenant default: SIS imports");
    assert!(
        enabled.starts_with("FAIL") && enabled.contains("allow_sis_import"),
        "{enabled}"
    );

    let out = doctor(tenant_env(&s, "admin-token", "4242")).await;
    assert_exit(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let account = check(&text, "tenant default: account");
    assert!(
        account.starts_with("FAIL") && account.contains("CANVAS_ACCOUNT_ID"),
        "{account}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_without_any_configuration_fails_the_config_check_with_a_fix() {
    let out = doctor(Vec::new()).await;
    assert_exit(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let config = check(&text, "config");
    assert!(
        config.starts_with("FAIL")
            && config.contains("fix: ")
            && config.contains("CANVAS_BASE_URL"),
        "{text}"
    );
}

/// With the cloud worker's queue and state given (moto), doctor checks that both answer, and
/// fails a queue or bucket that does not exist, with a fix.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_the_queue_and_the_state_bucket_when_they_are_given() {
    use crate::common::cloud::{Cloud, CloudOpts};
    let c = Cloud::start(CloudOpts::default()).await;
    let run = |cmd: std::process::Command| async move {
        let mut cmd = cmd;
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    let out = run(c.command(&["doctor"])).await;
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        check(&text, "queue").starts_with("ok ") && check(&text, "queue").contains("sis.fifo"),
        "{text}"
    );
    assert!(check(&text, "state").starts_with("ok "), "{text}");

    let mut broken = c.command(&["doctor"]);
    broken
        .env(
            "SIS_QUEUE_URL",
            c.queue_url.replace("sis.fifo", "no-such-queue.fifo"),
        )
        .env("SIS_STATE_URL", "s3://no-such-bucket/canvas-sis/");
    let out = run(broken).await;
    assert_exit(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (queue, state) = (check(&text, "queue"), check(&text, "state"));
    assert!(
        queue.starts_with("FAIL") && queue.contains("fix: check SIS_QUEUE_URL"),
        "{queue}"
    );
    assert!(
        state.starts_with("FAIL") && state.contains("fix: check SIS_STATE_URL"),
        "{state}"
    );
    assert!(
        check(&text, "tenant default: token").starts_with("ok "),
        "{text}"
    );
    assert_no_token(&out, crate::common::ADMIN);
}
