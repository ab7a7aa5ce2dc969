//! Faults a test can ask for, the throttle, and the inspection endpoints.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A raw-body create of the small feed, for faults that break the connection.
async fn try_create(s: &Sim) -> reqwest::Result<reqwest::Response> {
    s.post("/api/v1/accounts/1/sis_imports", ADMIN)
        .header("Content-Type", "application/zip")
        .body(small_feed())
        .send()
        .await
}

#[tokio::test]
async fn a_5xx_fault_answers_once_with_canvas_error_json() {
    let s = Sim::manual().await;
    s.add_fault(json!({"method": "GET", "path_contains": "/sis_imports", "action": {"kind": "status", "status": 503}})).await;
    let first = s.list_imports().await;
    assert_eq!(first.status(), 503);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["errors"][0]["error_code"], "internal_server_error");
    let second = s.list_imports().await;
    assert_eq!(second.status(), 200, "the rule fires once by default");
}

#[tokio::test]
async fn a_dropped_connection_after_the_post_leaves_an_import_the_client_never_heard_of() {
    let s = Sim::manual().await;
    s.add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "drop_after"}})).await;
    let result = try_create(&s).await;
    assert!(
        result.is_err(),
        "the client must see a transport error, got {result:?}"
    );
    let all = s.imports().await;
    assert_eq!(all.len(), 1, "the import exists anyway");
    assert_eq!(all[0]["workflow_state"], "created");
    let log: Value = s.request_log().await;
    assert_eq!(
        log["requests"][0]["status"],
        json!(200),
        "handled, answer never delivered"
    );
}

#[tokio::test]
async fn a_connection_dropped_before_handling_creates_nothing() {
    let s = Sim::manual().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "drop_before"}}))
        .await;
    let result = try_create(&s).await;
    assert!(result.is_err());
    assert!(s.imports().await.is_empty());
}

#[tokio::test]
async fn a_hang_trips_the_client_timeout_and_a_delay_only_slows_down() {
    let s = Sim::manual().await;
    s.add_fault(json!({"method": "GET", "action": {"kind": "hang"}}))
        .await;
    let err = s
        .get("/api/v1/accounts/1/sis_imports", ADMIN)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    s.add_fault(json!({"method": "GET", "action": {"kind": "delay", "millis": 150}}))
        .await;
    let started = std::time::Instant::now();
    let ok = s.list_imports().await;
    assert_eq!(ok.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn imports_can_be_stuck_in_created_or_initializing_and_released() {
    let s = Sim::manual().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "stuck_in": "created"}}))
        .await;
    let stuck = s.post_zip(small_feed(), "").await;
    s.add_fault(
        json!({"method": "POST", "action": {"kind": "import", "stuck_in": "initializing"}}),
    )
    .await;
    let orphan = s.post_zip(small_feed(), "").await;
    assert_eq!(orphan["workflow_state"], "initializing");
    let normal = s.post_zip(small_feed(), "").await;
    s.advance(60.0).await;
    assert_eq!(
        s.show(stuck["id"].as_u64().unwrap()).await["workflow_state"],
        "created"
    );
    assert_eq!(
        s.show(orphan["id"].as_u64().unwrap()).await["workflow_state"],
        "initializing"
    );
    assert_eq!(
        s.show(normal["id"].as_u64().unwrap()).await["workflow_state"],
        "imported",
        "stuck batches do not block"
    );
    s.patch_import(stuck["id"].as_u64().unwrap(), json!({"frozen": false}))
        .await;
    let done = s.run_to_end(stuck["id"].as_u64().unwrap()).await;
    assert_eq!(done["workflow_state"], "imported");
}

#[tokio::test]
async fn forced_terminal_states_and_slow_imports() {
    let s = Sim::manual().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed"}}))
        .await;
    let failing = s.post_zip(small_feed(), "").await;
    let done = s.run_to_end(failing["id"].as_u64().unwrap()).await;
    assert_eq!(done["workflow_state"], "failed");
    assert!(done["data"]["error_message"].is_string());

    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "rows_per_sec": 1.0}}))
        .await;
    let slow = s
        .post_zip(zip_of(&[("users.csv", &users_csv(100))]), "")
        .await;
    s.advance(20.0).await;
    let mid = s.show(slow["id"].as_u64().unwrap()).await;
    assert_eq!(mid["workflow_state"], "importing");
    assert!(mid["progress"].as_u64().unwrap() <= 25, "1 row/s: {mid}");

    s.patch_import(
        slow["id"].as_u64().unwrap(),
        json!({"workflow_state": "imported"}),
    )
    .await;
    let forced = s.show(slow["id"].as_u64().unwrap()).await;
    assert_eq!(forced["workflow_state"], "imported");
    assert_eq!(forced["progress"], json!(100));
}

#[tokio::test]
async fn responses_carry_rate_limit_headers() {
    let s = Sim::manual().await;
    let resp = s.list_imports().await;
    assert_eq!(resp.headers()["x-request-cost"], "1.0");
    let remaining: f64 = resp.headers()["x-rate-limit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((remaining - 599.0).abs() < 0.01, "{remaining}");
}

#[tokio::test]
async fn a_full_bucket_answers_403_text_plain_rate_limit_exceeded_then_leaks() {
    let s = Sim::manual().await;
    s.http
        .post(s.url("/__sim/throttle"))
        .json(&json!({"token": ADMIN, "level": 600.0}))
        .send()
        .await
        .unwrap();
    let resp = s.list_imports().await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(resp.headers()["x-rate-limit-remaining"], "0.0");
    assert!(resp.headers().get("x-request-cost").is_none());
    assert_eq!(
        resp.text().await.unwrap(),
        "403 Forbidden (Rate Limit Exceeded)\n"
    );
    // Another token is not affected.
    assert_eq!(s.list_imports_as("manage-token").await.status(), 200);
    s.advance(1.0).await; // leaks 10 units
    assert_eq!(s.list_imports().await.status(), 200);
}

#[tokio::test]
async fn parallel_requests_are_throttled_by_the_up_front_cost() {
    let mut c = manual_config();
    c.throttle.up_front_cost = 200.0;
    let s = std::sync::Arc::new(Sim::start(c).await);
    s.add_fault(
        json!({"method": "GET", "times": null, "action": {"kind": "delay", "millis": 300}}),
    )
    .await;
    let mut handles = Vec::new();
    for _ in 0..5 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.list_imports().await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 200, 200, 403, 403],
        "three in flight fill the bucket (3 x 200 = 600)"
    );
}

#[tokio::test]
async fn the_429_switch_and_the_throttle_fault() {
    let mut c = manual_config();
    c.throttle.status = canvas_sis::sim::config::ThrottleStatus::TooMany429;
    let s = Sim::start(c).await;
    s.add_fault(json!({"action": {"kind": "throttle"}})).await;
    let resp = s.list_imports().await;
    assert_eq!(resp.status(), 429);
    assert!(resp.text().await.unwrap().contains("Rate Limit Exceeded"));
}

#[tokio::test]
async fn the_request_log_has_everything_but_credentials() {
    let s = Sim::manual().await;
    let zip = small_feed();
    let sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&zip))
    };
    s.post_zip(zip.clone(), "&skip_deletes=1").await;
    let log: Value = s.request_log().await;
    let r = &log["requests"][0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/api/v1/accounts/1/sis_imports");
    assert_eq!(r["query"], "import_type=instructure_csv&skip_deletes=1");
    assert_eq!(r["body_size"], json!(zip.len()));
    assert_eq!(r["body_sha256"], sha);
    assert_eq!(r["status"], json!(200));
    let text = log.to_string();
    assert!(
        !text.contains(ADMIN),
        "the token leaked into the log: {text}"
    );
    let auth = r["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "authorization");
    assert_eq!(
        auth.map(|h| h[1].clone()),
        Some(json!("[redacted]")),
        "that a token was sent stays visible"
    );
    let all = s.imports().await;
    assert_eq!(all[0]["upload"]["sha256"], sha);
}

#[tokio::test]
async fn unknown_fault_rules_are_refused_with_a_reason() {
    let s = Sim::manual().await;
    let resp = s
        .http
        .post(s.url("/__sim/faults"))
        .json(&json!({"action": {"kind": "explode"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("not a fault rule"));
}

#[tokio::test]
async fn advancing_a_real_clock_is_refused() {
    let s = Sim::start(canvas_sis::sim::SimConfig::with_tokens(tokens())).await;
    let resp = s
        .http
        .post(s.url("/__sim/advance"))
        .json(&json!({"seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn real_clock_imports_finish_on_their_own() {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 1000.0;
    let s = Sim::start(c).await;
    let created = s.post_zip(small_feed(), "").await;
    let done = s
        .wait_real(created["id"].as_u64().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(done["workflow_state"], "imported");
}
