//! Webhook delivery against a real local receiver: retried on 500 and 429 (honouring
//! `Retry-After`), not retried on 400, bounded when the receiver never answers, and never
//! blocking the observer call that queued it.

use std::path::Path;
use std::time::Duration;

use canvas_sis::config::Config;
use canvas_sis::ledger::{BatchId, BatchRecord, BatchSource, NewBatch, Stage};
use canvas_sis::notify::{LedgerHint, Notifier};
use canvas_sis::pipeline::BatchEvent;
use tokio::time::Instant;

use crate::common::receiver::{Receiver, Reply};

const SECRET_PATH: &str = "/services/T000/B000/s3cr3tk3y";

/// A notifier for tenant `main` posting to `r` in `format`, with the given limits.
fn notifier(r: &Receiver, format: &str, timeout_secs: u64, retry_for_secs: u64) -> Notifier {
    let toml = format!(
        r#"
        [tenants.main]
        canvas_url = "https://canvas.example.edu"
        token_env = "UNUSED_TOKEN"
        [tenants.main.notify]
        timeout_secs = {timeout_secs}
        retry_for_secs = {retry_for_secs}
        [[tenants.main.notify.webhook]]
        url = "{}{SECRET_PATH}"
        format = "{format}"
        "#,
        r.base
    );
    let config = Config::from_toml(&toml, Path::new("test.toml"), &|_| None).unwrap();
    Notifier::from_config(&config, LedgerHint::folder(Path::new("/srv/sis")), None)
        .unwrap()
        .expect("main has a webhook")
}

fn failed_batch() -> BatchRecord {
    let sha = "c0ffee".repeat(10) + "abcd";
    let new = NewBatch {
        tenant: "main".into(),
        source: BatchSource {
            kind: "folder".into(),
            location: "inbox/b1".into(),
            files: vec![],
            ..Default::default()
        },
        content_sha256: sha.clone(),
    };
    let id = BatchId::new("main", 3, &sha).unwrap();
    let mut r = BatchRecord::received(&new, id, 3, chrono::Utc::now());
    r.stage = Stage::Terminal {
        state: "failed_with_messages".into(),
        ok: false,
    };
    r.canvas_import_id = Some(77);
    r.errors = vec!["users.csv: row 2: unknown status \"gone\"".into()];
    r
}

async fn flush(n: &Notifier, secs: u64) -> usize {
    n.flush(Instant::now() + Duration::from_secs(secs)).await
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried_until_received() {
    let r = Receiver::start(&[Reply::Status(500), Reply::RetryAfter(2)]).await;
    let n = notifier(&r, "json", 5, 60);
    n.batch_event("main", BatchEvent::Finished(&failed_batch()));
    assert_eq!(flush(&n, 30).await, 0, "delivered before the deadline");
    let got = r.got();
    assert_eq!(got.len(), 3, "500, 429, then 200: {got:?}");
    assert!(got.iter().all(|g| g.path == SECRET_PATH));
    assert_eq!(got[0].body, got[2].body, "the same notice each time");
    let waited = got[2].at - got[1].at;
    assert!(
        waited >= Duration::from_millis(1950),
        "Retry-After: 2 was honoured (backoff alone waits < 1 s), waited {waited:?}"
    );
    let body = &got[2].body;
    assert_eq!(body["schema"], "canvas-sis.notice.v1");
    assert_eq!(body["event"], "batch_failed");
    assert_eq!(body["tenant"], "main");
    assert_eq!(body["batch"], "main/00000003-c0ffeec0ffee");
    assert_eq!(body["canvas_import_id"], 77);
    assert_eq!(body["state"], "failed_with_messages");
    assert_eq!(
        body["errors"][0],
        "users.csv: row 2: unknown status \"gone\""
    );
    assert_eq!(
        body["command"],
        "canvas-sis resume --dir /srv/sis --tenant main"
    );
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let r = Receiver::start(&[Reply::Status(400)]).await;
    let n = notifier(&r, "slack", 5, 60);
    n.batch_event("main", BatchEvent::Finished(&failed_batch()));
    assert_eq!(flush(&n, 30).await, 0, "given up, so nothing pending");
    assert_eq!(r.got().len(), 1, "400 is final");
}

#[tokio::test]
async fn slack_and_teams_get_a_text_body_naming_batch_import_and_command() {
    for format in ["slack", "teams"] {
        let r = Receiver::start(&[]).await;
        let n = notifier(&r, format, 5, 60);
        n.batch_event("main", BatchEvent::Finished(&failed_batch()));
        assert_eq!(flush(&n, 30).await, 0);
        let got = r.got();
        let body = got[0].body.as_object().unwrap();
        assert_eq!(body.len(), 1, "{format}: only text: {body:?}");
        let text = body["text"].as_str().unwrap();
        for want in [
            "main/00000003-c0ffeec0ffee",
            "77",
            "failed_with_messages",
            "unknown status",
            "canvas-sis resume --dir /srv/sis --tenant main",
        ] {
            assert!(text.contains(want), "{format}: {want} missing in {text}");
        }
    }
}

#[tokio::test]
async fn a_receiver_that_never_answers_costs_bounded_time_and_never_blocks_the_caller() {
    let r = Receiver::start(&[]).await;
    r.always(Reply::Hang);
    let n = notifier(&r, "json", 1, 3);
    let called = Instant::now();
    n.batch_event("main", BatchEvent::Finished(&failed_batch()));
    assert!(
        called.elapsed() < Duration::from_millis(100),
        "the observer call returned at once"
    );
    let r_before = Instant::now();
    assert_eq!(flush(&n, 1).await, 1, "still pending at a 1 s deadline");
    assert!(r_before.elapsed() < Duration::from_secs(2));
    assert_eq!(flush(&n, 30).await, 0, "given up after retry_for_secs");
    let spent = called.elapsed();
    assert!(spent < Duration::from_secs(6), "bounded: {spent:?}");
    assert!(r.got().len() >= 2, "it was retried: {}", r.got().len());
}

#[tokio::test]
async fn parked_batches_and_clean_successes_send_nothing() {
    let r = Receiver::start(&[]).await;
    let n = notifier(&r, "json", 5, 60);
    let mut ok = failed_batch();
    ok.stage = Stage::Terminal {
        state: "imported".into(),
        ok: true,
    };
    ok.errors.clear();
    n.batch_event("main", BatchEvent::Finished(&ok));
    let mut parked = failed_batch();
    parked.stage = Stage::Parked {
        reason: "gate halted".into(),
    };
    n.batch_event("main", BatchEvent::Parked(&parked));
    n.batch_event("other", BatchEvent::Finished(&failed_batch()));
    assert_eq!(flush(&n, 5).await, 0);
    assert!(r.got().is_empty(), "{:?}", r.got());
}

#[tokio::test]
async fn a_halt_after_a_notified_failure_sends_no_second_notice_but_a_bare_halt_does() {
    let r = Receiver::start(&[]).await;
    let n = notifier(&r, "json", 5, 60);
    let failed = failed_batch();
    n.batch_event("main", BatchEvent::Finished(&failed));
    n.batch_event(
        "main",
        BatchEvent::Halted {
            batch: &failed.id,
            reason: "Canvas ended it failed_with_messages",
        },
    );
    assert_eq!(flush(&n, 30).await, 0);
    let got = r.got();
    assert_eq!(got.len(), 1, "one notice for failure and halt: {got:?}");
    assert_eq!(got[0].body["event"], "batch_failed");

    let other = BatchId::parse("main/00000009-0123456789ab").unwrap();
    n.batch_event(
        "main",
        BatchEvent::Halted {
            batch: &other,
            reason: "stuck import",
        },
    );
    assert_eq!(flush(&n, 30).await, 0);
    let got = r.got();
    assert_eq!(got.len(), 2, "{got:?}");
    let h = &got[1].body;
    assert_eq!(h["event"], "tenant_halted");
    assert_eq!(h["batch"], "main/00000009-0123456789ab");
    assert_eq!(h["errors"][0], "stuck import");
    assert_eq!(
        h["command"],
        "canvas-sis resume --dir /srv/sis --tenant main"
    );
}

#[tokio::test]
async fn a_batch_canvas_refuses_for_the_token_alerts_once_per_reason_not_once_per_pass() {
    let r = Receiver::start(&[]).await;
    let n = notifier(&r, "json", 5, 60);
    let batch = BatchId::parse("main/00000004-0123456789ab").unwrap();
    let lacks = "POST /api/v1/accounts/1/sis_imports: HTTP 401: the token's user lacks permission \
                 on account 1; it needs the account permission import_sis";
    for _ in 0..3 {
        let event = BatchEvent::NeedsOperator {
            batch: &batch,
            reason: lacks,
        };
        n.batch_event("main", event);
    }
    let expired = "HTTP 401: the access token has expired";
    let event = BatchEvent::NeedsOperator {
        batch: &batch,
        reason: expired,
    };
    n.batch_event("main", event);
    assert_eq!(flush(&n, 30).await, 0);
    let got = r.got();
    assert_eq!(got.len(), 2, "one alert per reason: {got:?}");
    assert_eq!(got[0].body["event"], "needs_operator");
    assert_eq!(got[0].body["batch"], "main/00000004-0123456789ab");
    assert!(
        got[0].body["summary"]
            .as_str()
            .unwrap()
            .contains("import_sis"),
        "says what to fix: {}",
        got[0].body
    );
    assert_eq!(got[1].body["errors"][0], expired);
}

#[tokio::test]
async fn a_webhook_url_variable_that_is_not_set_is_refused_by_name_at_start() {
    let toml = r#"
        [tenants.main]
        canvas_url = "https://canvas.example.edu"
        token_env = "UNUSED_TOKEN"
        [[tenants.main.notify.webhook]]
        url_env = "CANVAS_SIS_TEST_HOOK_NEVER_SET"
        "#;
    let config = Config::from_toml(toml, Path::new("test.toml"), &|_| None).unwrap();
    let err = Notifier::from_config(&config, LedgerHint::folder(Path::new("/srv")), None)
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("tenant main") && msg.contains("CANVAS_SIS_TEST_HOOK_NEVER_SET"),
        "{msg}"
    );
}
