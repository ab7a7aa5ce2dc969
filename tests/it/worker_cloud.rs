//! `canvas-sis run` end to end, as real processes: S3 upload → EventBridge rule → SQS FIFO (moto)
//! → worker → Canvas simulator over HTTP, with the ledger in S3. Message shapes, key encodings,
//! poison messages and duplicates.

use serde_json::{Value, json};

use crate::common::cloud::{
    Cloud, CloudOpts, assert_success, imported_users, sha, stderr, tagged_shas, tagged_users,
};
use crate::common::moto;
use crate::common::{self, cloud};
use crate::common::{ADMIN, Sim, tokens};

fn feed(tag: &str) -> Vec<(&'static str, String)> {
    vec![("users.csv", tagged_users(tag, 3))]
}

fn zip_feed(tag: &str) -> Vec<u8> {
    common::zip_of(&[("users.csv", &tagged_users(tag, 3))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_dropped_in_s3_is_imported_once_and_recorded_in_the_s3_ledger() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.drop_zip("exports/2026-11-27.zip", zip_feed("z1")).await;
    let out = c.drain_ok(&["--log-format", "json"]);
    // The line the "no successful import" alarm (terraform/alarms.tf) filters on.
    let finished: Vec<Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == json!("batch finished"))
        .collect();
    assert_eq!(finished.len(), 1, "{}", stderr(&out));
    assert_eq!(finished[0]["fields"]["outcome"], json!("imported"));
    assert_eq!(finished[0]["fields"]["tenant"], json!("default"));
    assert_eq!(finished[0]["level"], json!("INFO"));
    assert_eq!(imported_users(&c.sim, 1).await, tagged_shas(&["z1"], 3));
    let batches = c.batches("default").await;
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(
        batches[0]["stage"]["stage"],
        json!("terminal"),
        "{:?}",
        batches[0]
    );
    assert_eq!(batches[0]["stage"]["state"], json!("imported"));
    assert_eq!(
        batches[0]["source"]["location"],
        json!("s3://drop/exports/2026-11-27.zip")
    );
    assert!(
        batches[0]["archive"]["zip"].is_string(),
        "the zip is archived"
    );
    assert_eq!(
        c.moto.depth(&c.queue_url).await,
        (0, 0),
        "the message is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_batches_with_spaces_plus_percent_and_unicode_in_their_keys_are_imported() {
    let c = Cloud::start(CloudOpts::default()).await;
    let prefix = "fall 2026+x%41/été/run 1/";
    c.drop_folder(prefix, &feed("f1"), json!({})).await;
    c.drain_ok(&[]);
    assert_eq!(imported_users(&c.sim, 1).await, tagged_shas(&["f1"], 3));
    let b = &c.batches("default").await[0];
    assert_eq!(
        b["source"]["location"],
        json!(format!("s3://drop/{prefix}"))
    );
    assert_eq!(b["stage"]["state"], json!("imported"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_test_events_and_other_objects_are_deleted_without_work() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.send(
        r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-27T00:00:00.000Z","Bucket":"drop","RequestId":"X","HostId":"Y"}"#,
        "default",
    )
    .await;
    c.moto
        .put(cloud::DROP, "exports/notes.txt", b"hello".to_vec())
        .await;
    c.moto
        .put(
            cloud::DROP,
            "exports/b/users.csv",
            tagged_users("x", 1).into_bytes(),
        )
        .await;
    c.drain_ok(&[]);
    assert!(c.sim.imports().await.is_empty());
    assert!(c.batches("default").await.is_empty());
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
    assert!(c.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_recorded_moved_to_the_dlq_and_never_block_their_group() {
    let c = Cloud::start(CloudOpts {
        tenants: vec![("east", "east/", 1)],
        ..CloudOpts::default()
    })
    .await;
    c.send("this is not json", "east").await;
    c.send(r#"{"hello":"world"}"#, "east").await;
    c.send(
        &json!({"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3",
                "detail":{"bucket":{"name":"drop"},"object":{"key":"west/b.zip"}}})
        .to_string(),
        "east",
    )
    .await;
    c.send(
        &json!({"version":"0","id":"2","detail-type":"Object Created","source":"aws.s3",
                "detail":{"bucket":{"name":"elsewhere"},"object":{"key":"east/b.zip"}}})
        .to_string(),
        "east",
    )
    .await;
    // A good batch behind the poison in the same group still goes through.
    c.drop_zip("east/good.zip", zip_feed("g1")).await;
    c.drain_ok(&["--bucket", "drop"]);
    assert_eq!(imported_users(&c.sim, 1).await, tagged_shas(&["g1"], 3));
    let dead = c.dead_letters().await;
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert!(dead.iter().any(|b| b == "this is not json"));
    let records = c.state_json("poison/").await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|(_, r)| r["kind"].as_str().unwrap_or(""))
        .collect();
    for kind in [
        "not_json",
        "unknown_shape",
        "unknown_tenant",
        "unknown_bucket",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    for (_, r) in &records {
        assert!(
            r["moved_to"].as_str().unwrap().contains("sis-dlq.fifo"),
            "{r}"
        );
        assert!(!r["error"].as_str().unwrap().is_empty());
    }
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
    let status = c.ops(&["status", "--state", cloud::STATE_URL]);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(shown.contains("poison messages: 4 recorded"), "{shown}");
    assert!(shown.contains("unknown_tenant"), "{shown}");
    // The status page's data (status --json) counts and lists them too.
    let status = c.ops(&["status", "--state", cloud::STATE_URL, "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["poison_count"], 4, "{doc:#}");
    let listed: Vec<&str> = doc["poison"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&"unknown_tenant"), "{listed:?}");
}

/// Sends `body` to the queue again under another deduplication id, as SQS redelivers a message.
async fn redeliver(c: &Cloud, body: &str, dedup_id: &str) {
    c.moto
        .sqs()
        .await
        .send_message()
        .queue_url(&c.queue_url)
        .message_body(body)
        .message_group_id("default")
        .message_deduplication_id(dedup_id)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_message_and_a_late_redelivery_import_the_batch_once() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.drop_zip("exports/once.zip", zip_feed("d1")).await;
    let original = c.moto.peek(&c.queue_url, 10).await;
    assert_eq!(original.len(), 1);
    // The same event again with another dedup id: what SQS delivers after its 5-minute window.
    redeliver(&c, &original[0], "redelivered-1").await;
    c.drain_ok(&[]);
    // And once more after the batch finished.
    redeliver(&c, &original[0], "redelivered-2").await;
    let out = c.drain_ok(&[]);
    assert_eq!(c.sim.imports().await.len(), 1, "imported exactly once");
    assert_eq!(c.batches("default").await.len(), 1);
    assert!(
        stderr(&out).contains("not imported again"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_an_overwritten_key_imports_both_versions_in_order() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.moto.enable_versioning(cloud::DROP).await;
    // Monday's export is overwritten by Tuesday's before the worker gets to it.
    c.drop_zip("exports/daily.zip", zip_feed("monday")).await;
    c.drop_zip("exports/daily.zip", zip_feed("tuesday")).await;
    let out = c.drain_ok(&[]);
    assert_eq!(
        imported_users(&c.sim, 1).await,
        tagged_shas(&["monday", "tuesday"], 3),
        "Monday's version, then Tuesday's: {}",
        stderr(&out)
    );
    let batches = c.batches("default").await;
    assert_eq!(batches.len(), 2, "{batches:?}");
    for b in &batches {
        assert!(
            b["source"]["s3_version_id"].is_string(),
            "the version is part of the batch: {b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_a_parked_batch_is_fetched_again_at_its_recorded_version() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.moto.enable_versioning(cloud::DROP).await;
    let state = cloud::STATE_URL;
    // A rejected batch halts the tenant: Monday's batch waits parked behind it, and Tuesday's
    // upload overwrites the key meanwhile.
    let bad =
        "user_id,login_id,first_name,last_name,email,status\nu1,u1@x.edu,A,B\",u1@x.edu,active\n";
    c.drop_zip("exports/0-bad.zip", common::zip_of(&[("users.csv", bad)]))
        .await;
    c.drop_zip("exports/daily.zip", zip_feed("monday")).await;
    c.drain(&[]);
    c.drop_zip("exports/daily.zip", zip_feed("tuesday")).await;
    c.drain(&[]);
    let stages: Vec<Value> = c
        .batches("default")
        .await
        .iter()
        .map(|b| b["stage"]["stage"].clone())
        .collect();
    assert_eq!(
        stages,
        [json!("terminal"), json!("parked"), json!("parked")]
    );
    let resumed = c.ops(&["resume", "--state", state, "--tenant", "default"]);
    assert!(resumed.status.success(), "{resumed:?}");
    let out = c.drain_ok(&[]);
    assert_eq!(
        imported_users(&c.sim, 1).await,
        tagged_shas(&["monday", "tuesday"], 3),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_to_an_earlier_snapshot_in_s3_is_a_new_batch_and_is_imported() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.moto.enable_versioning(cloud::DROP).await;
    for tag in ["a", "b", "a"] {
        c.drop_zip("exports/daily.zip", zip_feed(tag)).await;
        c.drain_ok(&[]);
    }
    let (a, b) = (sha(&tagged_users("a", 3)), sha(&tagged_users("b", 3)));
    assert_eq!(
        imported_users(&c.sim, 1).await,
        vec![a.clone(), b, a],
        "A, B, then A again: Canvas ends with A"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_redrop_with_a_new_manifest_is_a_new_batch_in_s3() {
    let c = Cloud::start(CloudOpts::default()).await;
    let files = feed("m1");
    c.drop_folder(
        "exports/run/",
        &files,
        json!({"import": {"skip_deletes": true}}),
    )
    .await;
    c.drain_ok(&[]);
    // The operator corrects the options and drops the manifest again; the CSVs are unchanged.
    c.moto
        .put(
            cloud::DROP,
            "exports/run/manifest.json",
            json!({}).to_string().into_bytes(),
        )
        .await;
    c.drain_ok(&[]);
    let imports = c.sim.imports().await;
    assert_eq!(imports.len(), 2, "the corrected drop is imported too");
    assert_eq!(imports[0]["options"]["skip_deletes"], json!(true));
    assert_ne!(imports[1]["options"]["skip_deletes"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_version_delivered_twice_is_one_batch() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.moto.enable_versioning(cloud::DROP).await;
    c.drop_zip("exports/once.zip", zip_feed("v1")).await;
    let original = c.moto.peek(&c.queue_url, 10).await;
    assert_eq!(original.len(), 1);
    let sqs = c.moto.sqs().await;
    for round in 0..2 {
        // The same event again past the FIFO dedup window, before and after the batch finished.
        sqs.send_message()
            .queue_url(&c.queue_url)
            .message_body(&original[0])
            .message_group_id("default")
            .message_deduplication_id(format!("redelivered-{round}"))
            .send()
            .await
            .unwrap();
        c.drain_ok(&[]);
    }
    assert_eq!(c.sim.imports().await.len(), 1, "imported exactly once");
    assert_eq!(c.batches("default").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_naming_a_missing_file_is_rejected_after_the_bounded_wait() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.drop_folder(
        "exports/partial/",
        &feed("p1"),
        json!({"files": [{"name": "users.csv"}, {"name": "enrollments.csv"}]}),
    )
    .await;
    let out = c.drain(&["--incomplete-wait-secs", "1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "halted tenant: {}",
        stderr(&out)
    );
    assert!(c.sim.imports().await.is_empty());
    let b = &c.batches("default").await[0];
    assert_eq!(b["stage"]["state"], json!("rejected"), "{b}");
    let errors = b["errors"].to_string();
    assert!(errors.contains("enrollments.csv"), "{errors}");
    assert_eq!(
        c.moto.depth(&c.queue_url).await,
        (0, 0),
        "the message is not stuck"
    );
    let status = c.ops(&["status", "--state", cloud::STATE_URL]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("HALTED"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_notifications_on_a_standard_queue_are_understood_too() {
    let sim = Sim::start({
        let mut s = canvas_sis::sim::SimConfig::with_tokens(tokens());
        s.throttle.enabled = false;
        s.rows_per_sec = 10_000.0;
        s
    })
    .await;
    let m = moto::Moto::start();
    m.create_bucket("drop").await;
    m.create_bucket("state").await;
    let url = m.notify_standard_queue("drop", "std").await;
    m.put("drop", "a b/c+d%e.zip", zip_feed("s1")).await;
    let work = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
    cmd.args([
        "run",
        "--until-empty",
        "--receive-wait-secs",
        "1",
        "--poll-secs",
        "0.2",
    ])
    .env_clear()
    .env("SIS_QUEUE_URL", &url)
    .env("SIS_STATE_URL", "s3://state/x/")
    .env("SIS_WORK_DIR", work.path())
    .env("CANVAS_BASE_URL", sim.sim.url())
    .env("CANVAS_TOKEN", ADMIN);
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_success(&out);
    assert_eq!(imported_users(&sim, 1).await, tagged_shas(&["s1"], 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifests_import_options_travel_with_its_batch() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.drop_folder(
        "exports/opt/",
        &feed("o1"),
        json!({"import": {"skip_deletes": true}}),
    )
    .await;
    c.drain_ok(&[]);
    let imports = c.sim.imports().await;
    assert_eq!(
        imports[0]["options"]["skip_deletes"],
        json!(true),
        "{}",
        imports[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_batches_stops_the_worker_and_leaves_the_rest_queued() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.drop_zip("exports/1.zip", zip_feed("m1")).await;
    c.drop_zip("exports/2.zip", zip_feed("m2")).await;
    c.drain_ok(&["--max-batches", "1"]);
    assert_eq!(imported_users(&c.sim, 1).await, tagged_shas(&["m1"], 3));
    assert_eq!(
        c.moto.depth(&c.queue_url).await,
        (1, 0),
        "the second batch waits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_handed_the_same_batch_at_once_import_it_once() {
    let c = Cloud::start(CloudOpts {
        rows_per_sec: 20.0,
        ..CloudOpts::default()
    })
    .await;
    c.drop_zip("exports/race.zip", zip_feed("w1")).await;
    let event = c.moto.peek(&c.queue_url, 10).await.remove(0);
    // A second rule (another group) delivering the same event: both workers get it at once.
    c.send(&event, "other-rule").await;
    let a = c.spawn(&["--until-empty"]);
    let b = c.spawn(&["--until-empty"]);
    let (a, b) = (
        cloud::wait_output(a, std::time::Duration::from_secs(120)),
        cloud::wait_output(b, std::time::Duration::from_secs(120)),
    );
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    // Both exit when their receive comes back empty; whichever left work behind, drain it.
    c.drain_ok(&[]);
    assert_eq!(c.sim.imports().await.len(), 1, "imported once");
    assert_eq!(c.batches("default").await.len(), 1);
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_that_does_not_exist_stops_the_worker_with_a_clear_error() {
    let c = Cloud::start(CloudOpts::default()).await;
    let missing = c.queue_url.replace("sis.fifo", "nope.fifo");
    let out = c
        .worker(&["--until-empty"])
        .env("SIS_QUEUE_URL", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nope.fifo") && err.contains("SIS_QUEUE_URL"),
        "{err}"
    );
    assert!(!err.contains(common::ADMIN), "no token in errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_an_upload_recorded_then_deleted_and_delivered_again_is_still_one_batch() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.moto.enable_versioning(cloud::DROP).await;
    // A rejected batch halts the tenant: the next upload is recorded and parked behind it.
    let bad =
        "user_id,login_id,first_name,last_name,email,status\nu1,u1@x.edu,A,B\",u1@x.edu,active\n";
    c.drop_zip("exports/0-bad.zip", common::zip_of(&[("users.csv", bad)]))
        .await;
    c.drain(&[]);
    c.drop_zip("exports/withdrawn.zip", zip_feed("w")).await;
    queued(&c, 1).await;
    let events = c.moto.peek(&c.queue_url, 10).await;
    assert!(
        events.len() == 1 && events[0].contains("withdrawn.zip"),
        "{events:?}"
    );
    c.drain(&[]);
    // The SIS withdraws the export, and its event comes again (a redelivery after SQS's window).
    c.moto
        .s3()
        .await
        .delete_object()
        .bucket(cloud::DROP)
        .key("exports/withdrawn.zip")
        .send()
        .await
        .unwrap();
    redeliver(&c, &events[0], "redelivered-1").await;
    let out = c.drain(&[]);
    let batches = c.batches("default").await;
    let locations: Vec<Value> = batches
        .iter()
        .map(|b| b["source"]["location"].clone())
        .collect();
    assert_eq!(
        locations,
        [
            json!("s3://drop/exports/0-bad.zip"),
            json!("s3://drop/exports/withdrawn.zip")
        ],
        "the redelivered upload is the recorded batch, not a new one: {}",
        stderr(&out)
    );
    // Resumed: the batch's upload is gone — rejected, saying so; nothing imported.
    let resumed = c.ops(&["resume", "--state", cloud::STATE_URL, "--tenant", "default"]);
    assert!(resumed.status.success(), "{resumed:?}");
    let out = c.drain(&[]);
    let batches = c.batches("default").await;
    assert_eq!(batches.len(), 2, "{}", stderr(&out));
    assert_eq!(
        batches[1]["stage"]["state"],
        json!("rejected"),
        "{}",
        batches[1]
    );
    assert!(
        batches[1]["errors"].to_string().contains("is gone"),
        "{}",
        batches[1]
    );
    assert!(c.sim.imports().await.is_empty());
}

/// Waits until the queue holds `n` messages (EventBridge delivers asynchronously).
async fn queued(c: &Cloud, n: u64) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.moto.depth(&c.queue_url).await.0 < n {
        assert!(
            std::time::Instant::now() < end,
            "{n} messages never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
