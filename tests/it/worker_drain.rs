//! How a drain (`canvas-sis run --until-empty`: a CronJob's run, a KEDA job) ends, over moto and
//! the simulator: at once on an empty queue, never while a tenant's next batch waits behind the
//! batch another worker holds (its message group locked), so that KEDA does not start job after
//! job that exits at once. And `--parallel`: one tenant's long import does not hold back the
//! next tenant's batch.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageSystemAttributeName;

use serde_json::{Value, json};

use crate::common::cloud::{self, Cloud, CloudOpts, assert_success, stderr, tagged_users};

fn zip_feed(tag: &str) -> Vec<u8> {
    crate::common::zip_of(&[("users.csv", &tagged_users(tag, 3))])
}

/// Waits until the queue shows `n` visible messages.
async fn visible(c: &Cloud, n: u64) {
    let end = Instant::now() + Duration::from_secs(30);
    while c.moto.depth(&c.queue_url).await.0 < n {
        assert!(Instant::now() < end, "{n} messages never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_of_an_empty_queue_ends_without_waiting_out_a_long_poll() {
    let c = Cloud::start(CloudOpts::default()).await;
    let started = Instant::now();
    let drain = c.command(&["run", "--until-empty", "--receive-wait-secs", "20"]);
    let out = cloud::wait_output(c.spawn_command(drain), Duration::from_secs(60));
    assert_success(&out);
    let took = started.elapsed();
    eprintln!("run --until-empty on an empty queue ended after {took:?}");
    assert!(
        took < Duration::from_secs(12),
        "an empty queue took {took:?} to drain: the 20 s long poll was waited out\n{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_waits_for_a_batch_behind_a_message_group_another_worker_holds() {
    let c = Cloud::start(CloudOpts::default()).await;
    let sqs = c.moto.sqs().await;
    c.drop_zip("exports/1-monday.zip", zip_feed("mon")).await;
    visible(&c, 1).await;
    // Another worker holds Monday's message (a long import): the tenant's group is locked.
    let held = sqs
        .receive_message()
        .queue_url(&c.queue_url)
        .visibility_timeout(300)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
        .remove(0);
    c.drop_zip("exports/2-tuesday.zip", zip_feed("tue")).await;
    visible(&c, 1).await;

    let drain = c.spawn(&["--until-empty"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut drain = drain;
    assert!(
        drain.child.try_wait().unwrap().is_none(),
        "the drain ended while Tuesday's batch waited behind Monday's held message"
    );
    // The other worker stops and gives Monday's message back, as `run` does on SIGTERM.
    sqs.change_message_visibility()
        .queue_url(&c.queue_url)
        .receipt_handle(held.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let out = cloud::wait_output(drain, Duration::from_secs(120));
    assert_success(&out);
    let err = stderr(&out);
    assert!(err.contains("messages wait behind message groups"), "{err}");
    let sources: Vec<String> = c
        .batches("default")
        .await
        .iter()
        .map(|b| b["source"]["location"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        sources.len() == 2
            && sources[0].ends_with("1-monday.zip")
            && sources[1].ends_with("2-tuesday.zip"),
        "both batches, Monday's first: {sources:?}"
    );
    assert_eq!(c.sim.imports().await.len(), 2);
    assert_eq!(
        c.moto.depth(&c.queue_url).await,
        (0, 0),
        "the queue is drained"
    );
}

/// The simulator's imports into `account`.
async fn imports_of(c: &Cloud, account: u64) -> Vec<Value> {
    c.sim
        .imports()
        .await
        .into_iter()
        .filter(|i| i["account_id"] == json!(account))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_parallel_receives_one_tenants_long_import_does_not_hold_back_another_tenant() {
    let c = Cloud::start(CloudOpts::east_and_west()).await;
    // East's import stays in Canvas's queue until the test lets it go: a long import.
    c.sim
        .add_fault(
            json!({"method": "POST", "path_contains": "/accounts/1/sis_imports",
            "action": {"kind": "import", "stuck_in": "created"}}),
        )
        .await;
    c.drop_zip("east/monday.zip", zip_feed("east")).await;
    let drain = c.spawn(&["--until-empty", "--parallel", "2"]);
    let end = Instant::now() + Duration::from_secs(60);
    while imports_of(&c, 1).await.is_empty() {
        assert!(Instant::now() < end, "east's batch was never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.drop_zip("west/monday.zip", zip_feed("west")).await;
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let west = imports_of(&c, 4).await;
        if west
            .first()
            .is_some_and(|i| i["workflow_state"] == json!("imported"))
        {
            break;
        }
        if Instant::now() > end {
            let out = drain.stop();
            panic!(
                "west's batch waited behind east's running import: {west:?}\n{}",
                stderr(&out)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let east = imports_of(&c, 1).await;
    assert_eq!(
        east[0]["workflow_state"],
        json!("created"),
        "east still runs"
    );
    let id = east[0]["id"].as_u64().unwrap();
    c.sim.patch_import(id, json!({"frozen": false})).await;
    let out = cloud::wait_output(drain, Duration::from_secs(120));
    assert_success(&out);
    for tenant in ["east", "west"] {
        let b = c.batches(tenant).await;
        assert!(
            b.len() == 1 && b[0]["stage"]["state"] == json!("imported"),
            "{tenant}: {b:?}"
        );
    }
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
}

#[test]
fn max_batches_is_refused_beside_parallel_receives() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(["run", "--parallel", "2", "--max-batches", "1"])
        .env_clear()
        .env(
            "SIS_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/1/sis.fifo",
        )
        .env("SIS_STATE_URL", "s3://state/x/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-batches"), "{}", stderr(&out));
}
