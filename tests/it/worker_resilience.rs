//! `canvas-sis run` under crashes, signals, long imports and several workers: a worker killed
//! while waiting, SIGTERM, the visibility heartbeat and the 12-hour cap, three workers sharing
//! a queue across tenants, and a halted tenant released on `resume`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::cloud::{
    Cloud, CloudOpts, Worker, assert_success, imported_users, sha, stderr, tagged_shas,
    tagged_users, wait_output,
};
use crate::common::{self, cloud};

fn zip_feed(tag: &str, rows: usize) -> Vec<u8> {
    common::zip_of(&[("users.csv", &tagged_users(tag, rows))])
}

fn spawn(c: &Cloud, extra: &[&str]) -> Worker {
    c.spawn(extra)
}

/// Polls until `f` holds, failing after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn stage_of_first(c: &Cloud, tenant: &str) -> Option<String> {
    c.batches(tenant)
        .await
        .first()
        .and_then(|b| b["stage"]["stage"].as_str().map(str::to_owned))
}

/// A cloud whose simulator imports `rows_per_sec` rows a second (slow enough to catch a batch
/// while Canvas imports it).
async fn cloud_importing_at(rows_per_sec: f64) -> Cloud {
    Cloud::start(CloudOpts {
        rows_per_sec,
        ..CloudOpts::default()
    })
    .await
}

/// Waits until the default tenant's first batch is submitted to Canvas.
async fn until_submitted(c: &Cloud) {
    eventually(
        Duration::from_secs(60),
        "the batch is submitted",
        || async { stage_of_first(c, "default").await.as_deref() == Some("submitted") },
    )
    .await;
}

/// Drains the queue with a new worker, which must end the batch imported with the one upload
/// already made.
async fn next_run_imports_without_a_second_upload(c: &Cloud) {
    c.drain_ok(&[]);
    assert_eq!(c.sim.imports().await.len(), 1, "no second upload");
    assert_eq!(
        c.batches("default").await[0]["stage"]["state"],
        json!("imported")
    );
}

fn sigterm(w: &Worker) {
    common::sigterm(w.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_waiting_is_resumed_by_the_next_without_a_second_upload() {
    let c = cloud_importing_at(4.0).await;
    c.drop_zip("exports/slow.zip", zip_feed("k1", 24)).await;
    let mut first = spawn(&c, &["--visibility-secs", "3"]);
    until_submitted(&c).await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(c.sim.imports().await.len(), 1);
    // The dead worker's message comes back when its visibility runs out (no heartbeat now).
    eventually(
        Duration::from_secs(20),
        "the message is visible again",
        || async { c.moto.depth(&c.queue_url).await.0 == 1 },
    )
    .await;
    c.drain_ok(&["--visibility-secs", "3"]);
    let imports = c.sim.imports().await;
    assert_eq!(imports.len(), 1, "no second upload");
    assert_eq!(imports[0]["workflow_state"], json!("imported"));
    let b = &c.batches("default").await[0];
    assert_eq!(b["stage"]["state"], json!("imported"), "{b}");
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_message_at_once_and_the_next_worker_finishes_the_batch() {
    let c = cloud_importing_at(2.0).await;
    c.drop_zip("exports/term.zip", zip_feed("t1", 30)).await;
    let worker = spawn(&c, &["--visibility-secs", "30"]);
    until_submitted(&c).await;
    let t0 = Instant::now();
    sigterm(&worker);
    let out = wait_output(worker, Duration::from_secs(10));
    let took = t0.elapsed();
    assert_success(&out);
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    // Released: visible again now, not after the 30-second visibility.
    assert_eq!(c.moto.depth(&c.queue_url).await, (1, 0));
    next_run_imports_without_a_second_upload(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_long_import_invisible_to_other_workers() {
    let c = cloud_importing_at(2.0).await;
    c.drop_zip("exports/long.zip", zip_feed("h1", 16)).await;
    // Visibility 2 s; the import takes about 8 s.
    let first = spawn(&c, &["--visibility-secs", "2"]);
    until_submitted(&c).await;
    let second = spawn(&c, &["--visibility-secs", "2", "--until-empty"]);
    let t0 = Instant::now();
    while stage_of_first(&c, "default").await.as_deref() != Some("terminal") {
        assert!(t0.elapsed() < Duration::from_secs(60), "import never ended");
        let (visible, _) = c.moto.depth(&c.queue_url).await;
        assert_eq!(visible, 0, "the message became visible while in flight");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        t0.elapsed() > Duration::from_secs(3),
        "the import was not long enough to test"
    );
    let out2 = wait_output(second, Duration::from_secs(30));
    assert_success(&out2);
    eventually(
        Duration::from_secs(20),
        "the message is deleted",
        || async { c.moto.depth(&c.queue_url).await == (0, 0) },
    )
    .await;
    sigterm(&first);
    wait_output(first, Duration::from_secs(20));
    assert_eq!(c.sim.imports().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_visibility_cap_the_message_is_released_and_waiting_resumes() {
    let c = cloud_importing_at(2.0).await;
    c.drop_zip("exports/cap.zip", zip_feed("c1", 16)).await;
    let out = c.drain_ok(&[
        "--visibility-secs",
        "2",
        "--visibility-cap-secs",
        "4",
        "--cap-margin-secs",
        "1",
    ]);
    assert!(
        stderr(&out).contains("visibility cap is near"),
        "{}",
        stderr(&out)
    );
    assert_eq!(c.sim.imports().await.len(), 1, "no second upload");
    let b = &c.batches("default").await[0];
    assert_eq!(b["stage"]["state"], json!("imported"));
    assert!(
        b["message_released"]["why"]
            .as_str()
            .unwrap_or("")
            .contains("cap is near"),
        "the release is noted on the batch: {b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_keep_each_tenants_order_and_import_every_batch_once() {
    const PER_TENANT: usize = 6;
    let tenants = [("a", "a/", 11u64), ("b", "b/", 12), ("c", "c/", 13)];
    let c = Cloud::start(CloudOpts {
        tenants: tenants.to_vec(),
        rows_per_sec: 10.0,
        ..CloudOpts::default()
    })
    .await;
    let mut expected = std::collections::HashMap::new();
    for i in 0..PER_TENANT {
        for (name, prefix, _) in &tenants {
            let tag = format!("{name}{i}");
            c.drop_zip(&format!("{prefix}batch-{i:02}.zip"), zip_feed(&tag, 5))
                .await;
            expected
                .entry(*name)
                .or_insert_with(Vec::new)
                .push(sha(&tagged_users(&tag, 5)));
        }
    }
    let workers: Vec<Worker> = (0..3).map(|_| spawn(&c, &[])).collect();
    let t0 = Instant::now();
    loop {
        let mut done = 0;
        for (name, _, _) in &tenants {
            done += c
                .batches(name)
                .await
                .iter()
                .filter(|b| b["stage"]["stage"] == json!("terminal"))
                .count();
        }
        if done == PER_TENANT * tenants.len() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            let mut logs = String::new();
            for w in workers {
                sigterm(&w);
                logs.push_str(&stderr(&wait_output(w, Duration::from_secs(20))));
            }
            panic!("only {done} batches finished; workers said:\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut handled_by = Vec::new();
    for w in workers {
        sigterm(&w);
        let out = wait_output(w, Duration::from_secs(20));
        assert_success(&out);
        handled_by.push(stderr(&out).matches("message done").count());
    }
    for (name, _, account) in &tenants {
        assert_eq!(
            imported_users(&c.sim, *account).await,
            expected[name],
            "tenant {name}: every batch once, in upload order"
        );
    }
    assert_eq!(c.sim.imports().await.len(), PER_TENANT * tenants.len());
    assert!(
        handled_by.iter().filter(|n| **n > 0).count() >= 2,
        "tenants should spread across workers: {handled_by:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halted_tenant_parks_later_batches_and_releases_them_in_order_on_resume() {
    let c = Cloud::start(CloudOpts::default()).await;
    let bad =
        "user_id,login_id,first_name,last_name,email,status\nu1,u1@x.edu,A,B\",u1@x.edu,active\n";
    c.drop_zip("exports/1-bad.zip", common::zip_of(&[("users.csv", bad)]))
        .await;
    c.drop_zip("exports/2.zip", zip_feed("r2", 3)).await;
    c.drop_zip("exports/3.zip", zip_feed("r3", 3)).await;
    let out = c.drain(&[]);
    assert_eq!(out.status.code(), Some(1), "halted: {}", stderr(&out));
    assert!(c.sim.imports().await.is_empty());
    let stages: Vec<String> = c
        .batches("default")
        .await
        .iter()
        .map(|b| b["stage"]["stage"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(stages, ["terminal", "parked", "parked"], "{stages:?}");
    assert_eq!(
        c.moto.depth(&c.queue_url).await,
        (0, 0),
        "parked = recorded"
    );
    let resumed = c.ops(&["resume", "--state", cloud::STATE_URL, "--tenant", "default"]);
    assert!(resumed.status.success(), "{resumed:?}");
    c.drain_ok(&[]);
    assert_eq!(
        imported_users(&c.sim, 1).await,
        tagged_shas(&["r2", "r3"], 3)
    );
}

/// The recorded stage and, for a parked batch, its reason.
fn stage_and_reason(b: &serde_json::Value) -> (String, String) {
    (
        b["stage"]["stage"].as_str().unwrap_or("").to_owned(),
        b["stage"]["reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_dropped_during_a_blackout_are_recorded_at_once_and_sent_in_arrival_order_after_it()
{
    // A window that ends soon: long enough for one worker run to see both drops inside it.
    let end = chrono::Utc::now() + chrono::TimeDelta::seconds(40);
    let c = Cloud::start(CloudOpts {
        tenants: vec![("main", "main/", 1)],
        // One receive only: a message handed back during the window is dead-lettered.
        max_receive: 1,
        tenant_toml: format!(
            "blackout = [{{ from = \"{}\", to = \"{}\" }}]",
            (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339(),
            end.to_rfc3339()
        ),
        ..CloudOpts::default()
    })
    .await;
    c.drop_zip("main/1.zip", zip_feed("bk1", 3)).await;
    c.drop_zip("main/2.zip", zip_feed("bk2", 3)).await;
    c.drain_ok(&[]);
    assert!(
        chrono::Utc::now() < end,
        "the machine was too slow: the window ended before the run; nothing was tested"
    );
    let batches = c.batches("main").await;
    let seen: Vec<(String, String)> = batches.iter().map(stage_and_reason).collect();
    assert_eq!(batches.len(), 2, "both batches recorded at once: {seen:?}");
    assert!(
        batches[0]["source"]["location"]
            .as_str()
            .is_some_and(|l| l.ends_with("1.zip")),
        "in arrival order: {batches:?}"
    );
    for (stage, reason) in &seen {
        assert_eq!(stage, "parked", "{seen:?}");
        assert!(reason.starts_with("blackout"), "{seen:?}");
    }
    assert!(
        c.sim.imports().await.is_empty(),
        "nothing sent in the window"
    );
    assert_eq!(
        c.moto.depth(&c.queue_url).await,
        (0, 0),
        "parked = recorded"
    );
    assert!(c.dead_letters().await.is_empty(), "nothing dead-lettered");
    // The window ends; the next run (a CronJob's next start) sends both, in order.
    while chrono::Utc::now() < end {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.drain_ok(&[]);
    assert_eq!(
        imported_users(&c.sim, 1).await,
        tagged_shas(&["bk1", "bk2"], 3)
    );
    for b in c.batches("main").await {
        assert_eq!(b["stage"]["state"], json!("imported"), "{b}");
    }
}

/// Posts a zip as another Canvas user of account 1 (the importer token), as a manual upload.
async fn someone_elses_import(c: &Cloud, zip: Vec<u8>) -> u64 {
    let resp = c
        .sim
        .post(
            "/api/v1/accounts/1/sis_imports?import_type=instructure_csv",
            "import-token",
        )
        .header("Content-Type", "application/zip")
        .body(zip)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_left_packed_behind_a_busy_account_is_sent_once_idle_though_its_message_went_to_the_dlq()
 {
    let c = Cloud::start(CloudOpts {
        max_receive: 1,
        ..CloudOpts::default()
    })
    .await;
    c.sim
        .add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "import", "stuck_in": "created"}}))
        .await;
    let other = someone_elses_import(&c, zip_feed("other", 2)).await;
    c.drop_zip("exports/mine.zip", zip_feed("mine", 3)).await;
    c.drain_ok(&[]);
    assert_eq!(
        stage_of_first(&c, "default").await.as_deref(),
        Some("packed")
    );
    // The account stays busy: the message comes back until the redrive policy takes it.
    for _ in 0..5 {
        if !c.dead_letters().await.is_empty() {
            break;
        }
        c.drain_ok(&[]);
    }
    assert_eq!(
        c.dead_letters().await.len(),
        1,
        "the message is dead-lettered"
    );
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
    // The other import ends; no message is left to carry the batch on.
    c.sim
        .patch_import(other, json!({"workflow_state": "imported"}))
        .await;
    c.drain_ok(&[]);
    let b = &c.batches("default").await[0];
    assert_eq!(b["stage"]["state"], json!("imported"), "{b}");
    assert_eq!(
        c.sim.imports().await.len(),
        2,
        "the other one and one of ours"
    );
    let mine = sha(&tagged_users("mine", 3));
    let users = imported_users(&c.sim, 1).await;
    assert_eq!(users.iter().filter(|u| **u == mine).count(), 1, "{users:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_create_post_is_in_flight_records_its_import_releases_and_exits_0() {
    let c = cloud_importing_at(2.0).await;
    // Canvas creates the import at once and answers 3 s later.
    c.sim
        .add_fault(json!({"method": "POST", "path_contains": "/sis_imports", "action": {"kind": "delay_after", "millis": 3000}}))
        .await;
    c.drop_zip("exports/term.zip", zip_feed("st1", 20)).await;
    let worker = spawn(&c, &["--visibility-secs", "30"]);
    eventually(
        Duration::from_secs(60),
        "the POST reaches Canvas",
        || async { !c.sim.imports().await.is_empty() },
    )
    .await;
    sigterm(&worker);
    let out = wait_output(worker, Duration::from_secs(20));
    assert_success(&out);
    let imports = c.sim.imports().await;
    assert_eq!(imports.len(), 1);
    let b = &c.batches("default").await[0];
    assert_eq!(
        b["canvas_import_id"], imports[0]["id"],
        "the POST's answer is recorded: {b}"
    );
    assert!(
        matches!(
            b["stage"]["stage"].as_str(),
            Some("submitted") | Some("terminal")
        ),
        "{b}"
    );
    if b["stage"]["stage"] == json!("submitted") {
        assert_eq!(c.moto.depth(&c.queue_url).await, (1, 0), "released at once");
    }
    next_run_imports_without_a_second_upload(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_manifest_waits_for_its_files_exits_at_once_and_releases_the_message() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.drop_folder(
        "exports/partial/",
        &[("users.csv", tagged_users("w1", 2))],
        json!({"files": [{"name": "users.csv"}, {"name": "enrollments.csv"}]}),
    )
    .await;
    let worker = spawn(&c, &["--visibility-secs", "30"]);
    eventually(
        Duration::from_secs(30),
        "the message is received",
        || async { c.moto.depth(&c.queue_url).await == (0, 1) },
    )
    .await;
    let t0 = Instant::now();
    sigterm(&worker);
    let out = wait_output(worker, Duration::from_secs(20));
    assert_success(&out);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "a wait that only reads is not finished on a stop: {:?}",
        t0.elapsed()
    );
    assert_eq!(c.moto.depth(&c.queue_url).await, (1, 0), "released at once");
    assert!(c.sim.imports().await.is_empty());
}
