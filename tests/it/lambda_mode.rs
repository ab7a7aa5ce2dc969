//! `canvas-sis lambda` as AWS Lambda runs it: the real binary against a local Runtime API
//! (tests/it/lambda_mode/lambda_api.rs), fed SQS events built from messages received from moto's FIFO
//! queue — which the drop bucket fills through S3 → EventBridge — with the simulator as Canvas.
//! The harness plays Lambda: it deletes the messages the function did not report and leaves the
//! reported ones to come back.

mod lambda_api;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lambda_api::{Answer, Delivery, EventSource, RuntimeApi};
use serde_json::json;

use crate::common::cloud::{Cloud, CloudOpts, Worker, imported_users, sha, tagged_users};
use crate::common::{self, cloud, receiver};

/// Every invocation's time: short, so that a slow import needs several.
const INVOCATION: Duration = Duration::from_secs(3);

fn zip_feed(tag: &str, rows: usize) -> Vec<u8> {
    common::zip_of(&[("users.csv", &tagged_users(tag, rows))])
}

/// The function's command: `args` empty starts it as Lambda does (`bootstrap`, no command).
fn function(c: &Cloud, api: &RuntimeApi, args: &[&str]) -> Command {
    let mut cmd = c.command(args);
    cmd.env("AWS_LAMBDA_RUNTIME_API", api.host_port())
        .env("AWS_LAMBDA_FUNCTION_NAME", "canvas-sis")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("SIS_LAMBDA_MARGIN_SECS", "1")
        .env("SIS_LAMBDA_RETRY_AFTER_SECS", "1");
    cmd
}

fn start_function(c: &Cloud, api: &RuntimeApi, args: &[&str]) -> Worker {
    c.spawn_command(function(c, api, args))
}

async fn event_source(c: &Cloud) -> EventSource {
    EventSource {
        sqs: c.moto.sqs().await,
        queue_url: c.queue_url.clone(),
        queue_arn: c.queue_arn.clone(),
        batch_size: 10,
        visibility_secs: 4,
    }
}

/// Waits until the queue holds `n` visible messages (EventBridge delivers asynchronously).
async fn until_visible(c: &Cloud, n: u64) {
    let end = Instant::now() + Duration::from_secs(30);
    while c.moto.depth(&c.queue_url).await.0 < n {
        assert!(Instant::now() < end, "{n} messages never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Delivers until the queue is empty (bounded), returning every delivery.
async fn deliver_all(c: &Cloud, source: &EventSource, api: &RuntimeApi) -> Vec<Delivery> {
    let end = Instant::now() + Duration::from_secs(120);
    let mut all = Vec::new();
    loop {
        assert!(Instant::now() < end, "the queue never drained: {all:#?}");
        match source.deliver(api, INVOCATION, 1).await {
            Some(d) => all.push(d),
            None if c.moto.depth(&c.queue_url).await == (0, 0) => return all,
            None => {}
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A cloud whose imports take a few invocations (2 rows a second), with room for many receives.
async fn slow_cloud() -> Cloud {
    Cloud::start(CloudOpts {
        rows_per_sec: 2.0,
        max_receive: 100,
        ..CloudOpts::default()
    })
    .await
}

/// Creates a Secrets Manager secret in moto holding `value`; returns its ARN.
async fn secret(c: &Cloud, name: &str, value: &str) -> String {
    c.moto
        .secrets()
        .await
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create the secret")
        .arn
        .expect("arn")
}

fn assert_no_token(out: &Output) {
    let all = text(out);
    assert!(
        !all.contains(common::ADMIN),
        "the Canvas token appears in the function's output"
    );
    assert!(all.contains("invocation done"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_import_spans_several_invocations_and_is_uploaded_once() {
    let c = slow_cloud().await;
    let api = RuntimeApi::start().await;
    let function = start_function(
        &c,
        &api,
        &["lambda", "--poll-secs", "0.2", "--submit-lease-secs", "5"],
    );
    let source = event_source(&c).await;
    let users = tagged_users("long", 24);
    c.drop_zip("exports/long.zip", common::zip_of(&[("users.csv", &users)]))
        .await;
    until_visible(&c, 1).await;
    let started = Instant::now();
    let deliveries = deliver_all(&c, &source, &api).await;
    let took = started.elapsed();
    let out = function.stop();
    let log = text(&out);

    // About 12 s of import at 3 s an invocation: several invocations, one message.
    assert!(deliveries.len() >= 3, "{deliveries:#?}\n{log}");
    let id = &deliveries[0].ids[0];
    for d in &deliveries {
        assert_eq!(&d.ids, &vec![id.clone()], "always the same message");
        assert!(d.in_time, "answered after the deadline: {d:?}");
        assert!(matches!(d.answer, Answer::Response(_)), "{d:?}");
    }
    let (last, waiting) = deliveries.split_last().unwrap();
    for d in waiting {
        assert_eq!(d.failures, vec![id.clone()], "unfinished: reported");
    }
    assert!(last.failures.is_empty(), "finished: not reported");

    let imports = c.sim.imports().await;
    assert_eq!(
        imports.len(),
        1,
        "one upload, whatever the invocations: {imports:#?}"
    );
    assert_eq!(imports[0]["workflow_state"], json!("imported"));
    assert_eq!(imported_users(&c.sim, 1).await, vec![sha(&users)]);
    let batches = c.batches("default").await;
    assert_eq!(batches.len(), 1);
    assert_eq!(
        batches[0]["stage"]["stage"],
        json!("terminal"),
        "{}",
        batches[0]
    );
    assert_eq!(batches[0]["stage"]["state"], json!("imported"));
    // The ledger says why the message came back: the wait stopped at the margin (not cut off).
    let why = batches[0]["message_released"]["why"].as_str().unwrap_or("");
    assert!(why.contains("time was up"), "{}", batches[0]);
    eprintln!(
        "{} invocations of {INVOCATION:?} over {took:?} for one import",
        deliveries.len()
    );
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
    assert!(api.init_errors().is_empty());
    assert_no_token(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_unfinished_message_and_every_later_one_come_back_in_order() {
    let c = slow_cloud().await;
    let api = RuntimeApi::start().await;
    // Started as Lambda starts a custom runtime: no command at all.
    let function = start_function(&c, &api, &[]);
    let source = event_source(&c).await;
    c.moto
        .put(cloud::DROP, "exports/notes.txt", b"not a batch".to_vec())
        .await;
    until_visible(&c, 1).await;
    let slow = tagged_users("slow", 12);
    let quick = tagged_users("quick", 2);
    c.drop_zip(
        "exports/a-slow.zip",
        common::zip_of(&[("users.csv", &slow)]),
    )
    .await;
    until_visible(&c, 2).await;
    c.drop_zip(
        "exports/b-quick.zip",
        common::zip_of(&[("users.csv", &quick)]),
    )
    .await;
    until_visible(&c, 3).await;

    let first = source
        .deliver(&api, INVOCATION, 1)
        .await
        .expect("a delivery");
    assert_eq!(first.ids.len(), 3, "one event of three messages: {first:?}");
    assert!(first.bodies[0].contains("notes.txt"), "{first:?}");
    assert!(first.bodies[1].contains("a-slow.zip"), "{first:?}");
    // The first message carried no batch: done. The second's import is still running: it and
    // the third (not started) come back, in order.
    assert_eq!(first.failures, first.ids[1..].to_vec(), "{first:?}");
    assert!(
        !imported_users(&c.sim, 1).await.contains(&sha(&quick)),
        "the third batch was not started"
    );

    let rest = deliver_all(&c, &source, &api).await;
    let out = function.stop();
    assert!(!rest.is_empty());
    for d in &rest {
        assert!(
            !d.ids.contains(&first.ids[0]),
            "the done message was deleted"
        );
        if let Some(f) = d.failures.first() {
            let at = d.ids.iter().position(|i| i == f).unwrap();
            assert_eq!(d.failures, d.ids[at..].to_vec(), "{d:?}");
        }
    }
    assert_eq!(
        imported_users(&c.sim, 1).await,
        vec![sha(&slow), sha(&quick)],
        "each batch imported once, in order"
    );
    let batches = c.batches("default").await;
    assert_eq!(batches.len(), 2);
    for b in &batches {
        assert_eq!(b["stage"]["state"], json!("imported"), "{b}");
    }
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
    assert_no_token(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_recorded_and_not_reported_with_the_token_from_secrets_manager() {
    let c = Cloud::start(CloudOpts::default()).await;
    let api = RuntimeApi::start().await;
    let arn = secret(
        &c,
        "canvas-sis/canvas-token",
        &format!("{}\n", common::ADMIN),
    )
    .await;
    let mut cmd = function(&c, &api, &["lambda", "--poll-secs", "0.2"]);
    cmd.env_remove("CANVAS_TOKEN")
        .env("CANVAS_TOKEN_SECRET_ARN", &arn);
    let function = c.spawn_command(cmd);
    let source = event_source(&c).await;
    c.send("this is not an S3 event", "default").await;
    c.drop_zip("exports/ok.zip", zip_feed("ok", 3)).await;
    until_visible(&c, 2).await;

    let d = source
        .deliver(&api, Duration::from_secs(10), 1)
        .await
        .expect("a delivery");
    let out = function.stop();
    assert_eq!(d.ids.len(), 2, "{d:?}");
    assert!(
        d.failures.is_empty(),
        "poison is done with, not reported: {d:?}"
    );
    let poison = c.state_json("poison/").await;
    assert_eq!(poison.len(), 1, "{poison:?}");
    assert_eq!(poison[0].1["message_id"], json!(d.ids[0]));
    assert_eq!(poison[0].1["kind"], json!("not_json"));
    assert_eq!(
        c.sim.imports().await.len(),
        1,
        "the batch behind it went on"
    );
    assert_eq!(c.moto.depth(&c.queue_url).await, (0, 0));
    let dead = c.dead_letters().await;
    assert_eq!(
        dead,
        vec!["this is not an S3 event".to_owned()],
        "the poison message is in the dead-letter queue, as the worker puts it there"
    );
    assert_eq!(
        poison[0].1["moved_to"],
        json!(format!("dead-letter queue {}", c.dlq_url))
    );
    assert_no_token(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_import_is_looked_at_again_after_the_retry_delay_not_the_queues_visibility() {
    let c = slow_cloud().await;
    let api = RuntimeApi::start().await;
    let function = start_function(&c, &api, &["lambda", "--poll-secs", "0.2"]);
    // The queue's visibility timeout is long, as it must be above the function's timeout.
    let source = EventSource {
        visibility_secs: 120,
        ..event_source(&c).await
    };
    c.drop_zip("exports/long.zip", zip_feed("long", 16)).await;
    until_visible(&c, 1).await;
    let end = Instant::now() + Duration::from_secs(90);
    let mut deliveries = Vec::new();
    let mut last_answer = Instant::now();
    let mut longest_gap = Duration::ZERO;
    while c.moto.depth(&c.queue_url).await != (0, 0) {
        assert!(
            Instant::now() < end,
            "the reported message did not come back: {deliveries:#?}"
        );
        if let Some(d) = source.deliver(&api, INVOCATION, 1).await {
            if !deliveries.is_empty() {
                longest_gap = longest_gap.max(last_answer.elapsed());
            }
            deliveries.push(d);
            last_answer = Instant::now();
        }
    }
    let out = function.stop();
    assert!(deliveries.len() >= 2, "{deliveries:#?}");
    let first = &deliveries[0];
    assert_eq!(first.failures, first.ids, "the import was still running");
    assert!(
        longest_gap < Duration::from_secs(15),
        "the message came back {longest_gap:?} after it was reported (its retry delay is 1 s, \
         the queue's visibility 120 s)"
    );
    assert!(
        text(&out).contains("reported message comes back"),
        "{}",
        text(&out)
    );
    assert_eq!(c.sim.imports().await.len(), 1, "uploaded once");
    assert_eq!(
        c.batches("default").await[0]["stage"]["state"],
        json!("imported")
    );
    assert_no_token(&out);
}

/// Starts the function without variable `var`: it must exit 2 and tell the Runtime API why
/// (one init error, whose message is returned) without the token anywhere.
async fn start_error_without(var: &str) -> String {
    let c = Cloud::start(CloudOpts::default()).await;
    let api = RuntimeApi::start().await;
    let mut cmd = function(&c, &api, &[]);
    cmd.env_remove(var);
    let out = cloud::wait_output(c.spawn_command(cmd), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let errors = api.init_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0]["errorMessage"].as_str().unwrap_or("").to_owned();
    assert!(!message.contains(common::ADMIN) && !text(&out).contains(common::ADMIN));
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_tells_the_runtime_api_why_and_exits() {
    let message = start_error_without("CANVAS_BASE_URL").await;
    assert!(message.contains("CANVAS_BASE_URL"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_without_its_queue_url_tells_the_runtime_api_what_to_set() {
    let message = start_error_without("SIS_QUEUE_URL").await;
    assert!(message.contains("SIS_QUEUE_URL is not set"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_folder_is_rejected_once_its_wait_is_over_across_invocations() {
    let c = Cloud::start(CloudOpts {
        max_receive: 100,
        ..CloudOpts::default()
    })
    .await;
    let api = RuntimeApi::start().await;
    // The first notice is answered "retry in 1 s": only a flush before answering waits for it.
    let hooks = receiver::Receiver::start(&[receiver::Reply::RetryAfter(1)]).await;
    // The wait (4 s) is longer than what one invocation (3 s) can give it.
    let mut cmd = function(&c, &api, &["lambda", "--incomplete-wait-secs", "4"]);
    cmd.env("SIS_NOTIFY_WEBHOOK_URL", format!("{}/hook", hooks.base));
    let function = c.spawn_command(cmd);
    let source = event_source(&c).await;
    c.drop_folder(
        "exports/partial/",
        &[("users.csv", tagged_users("p", 2))],
        json!({"files": [{"name": "users.csv"}, {"name": "enrollments.csv"}]}),
    )
    .await;
    until_visible(&c, 1).await;
    let mut deliveries = Vec::new();
    let mut hooks_at_answer = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    while deliveries
        .last()
        .is_none_or(|d: &Delivery| !d.failures.is_empty())
    {
        assert!(Instant::now() < end, "{deliveries:#?}");
        if let Some(d) = source.deliver(&api, INVOCATION, 1).await {
            hooks_at_answer.push(hooks.got().len());
            deliveries.push(d);
        }
    }
    let out = function.stop();
    assert!(deliveries.len() >= 2, "{deliveries:#?}");
    assert_eq!(
        hooks_at_answer.last(),
        Some(&2),
        "the notice was retried and delivered before the invocation answered: {hooks_at_answer:?}"
    );
    assert!(deliveries.last().unwrap().failures.is_empty());
    let b = &c.batches("default").await[0];
    assert_eq!(b["stage"]["state"], json!("rejected"), "{b}");
    assert!(b["errors"].to_string().contains("enrollments.csv"), "{b}");
    assert!(c.sim.imports().await.is_empty());
    let got = hooks.got();
    assert!(
        got.iter()
            .any(|g| g.body["tenant"] == json!("default") && g.body["batch"] == b["id"]),
        "{got:?}"
    );
    assert_no_token(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_invocation_sweeps_on_a_batch_parked_while_its_tenant_was_paused() {
    let c = Cloud::start(CloudOpts::default()).await;
    let api = RuntimeApi::start().await;
    let function = start_function(&c, &api, &["lambda", "--poll-secs", "0.2"]);
    let source = event_source(&c).await;
    // A first batch, imported: the ledger exists for the operator's commands.
    c.drop_zip("exports/first.zip", zip_feed("first", 2)).await;
    until_visible(&c, 1).await;
    deliver_all(&c, &source, &api).await;
    let out = c.ops(&["pause", "--tenant", "default", "--reason", "term rollover"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The next arrives while the tenant is paused: recorded, parked, its message done with.
    let users = tagged_users("parked", 3);
    c.drop_zip(
        "exports/parked.zip",
        common::zip_of(&[("users.csv", &users)]),
    )
    .await;
    until_visible(&c, 1).await;
    let deliveries = deliver_all(&c, &source, &api).await;
    assert!(
        deliveries.last().is_some_and(|d| d.failures.is_empty()),
        "{deliveries:#?}"
    );
    let b = &c.batches("default").await[1];
    assert_eq!(b["stage"]["stage"], json!("parked"), "{b}");
    assert_eq!(c.sim.imports().await.len(), 1);

    // Resumed, with no message left to carry the batch on: the schedule's invocations do.
    let out = c.ops(&["resume", "--tenant", "default"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let tick = json!({"version": "0", "id": "tick", "detail-type": "Scheduled Event",
        "source": "aws.events", "detail": {}});
    let end = Instant::now() + Duration::from_secs(60);
    let mut ticks = 0;
    loop {
        let (answer, _) = api
            .invoke(
                tick.clone(),
                INVOCATION,
                INVOCATION + Duration::from_secs(30),
            )
            .await;
        ticks += 1;
        assert!(
            matches!(&answer, Answer::Response(v) if v["batchItemFailures"] == json!([])),
            "{answer:?}"
        );
        let b = &c.batches("default").await[1];
        if b["stage"]["stage"] == json!("terminal") {
            assert_eq!(b["stage"]["state"], json!("imported"), "{b}");
            break;
        }
        assert!(
            Instant::now() < end,
            "the sweep never finished the batch: {b}"
        );
    }
    let out = function.stop();
    assert_eq!(c.sim.imports().await.len(), 2);
    assert_eq!(
        imported_users(&c.sim, 1).await.last(),
        Some(&sha(&users)),
        "the parked batch's users, imported last"
    );
    assert!(
        text(&out).contains("scheduled sweep done"),
        "{}",
        text(&out)
    );
    eprintln!("the parked batch imported after {ticks} scheduled invocations");
    assert_no_token(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_kept_in_secrets_manager_is_notified_before_the_invocation_answers() {
    let c = Cloud::start(CloudOpts::default()).await;
    let api = RuntimeApi::start().await;
    let hook = receiver::Receiver::start(&[]).await;
    let secret_path = "/hooks/T0LAMBDA/k3yk3y";
    let arn = secret(
        &c,
        "canvas-sis/slack-url",
        &format!("{}{secret_path}\n", hook.base),
    )
    .await;
    c.sim
        .add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed"}}))
        .await;
    let mut cmd = function(&c, &api, &["lambda", "--poll-secs", "0.2"]);
    cmd.env("SIS_NOTIFY_WEBHOOK_URL_SECRET_ARN", &arn)
        .env("SIS_NOTIFY_WEBHOOK_FORMAT", "slack");
    let function = c.spawn_command(cmd);
    let source = event_source(&c).await;
    c.drop_zip("exports/fails.zip", zip_feed("fails", 2)).await;
    until_visible(&c, 1).await;
    let d = source
        .deliver(&api, Duration::from_secs(10), 1)
        .await
        .expect("a delivery");
    // Sent before the answer: the receiver has it by the time the invocation is answered.
    let got = hook.got();
    let out = function.stop();
    assert!(d.failures.is_empty(), "a failed import is done with: {d:?}");
    assert_eq!(got.len(), 1, "one notice: {got:?}\n{}", text(&out));
    assert_eq!(got[0].path, secret_path);
    let words = got[0].body["text"].as_str().unwrap_or("");
    assert!(
        words.contains("default") && words.contains("canvas-sis resume"),
        "{words}"
    );
    assert!(
        !text(&out).contains("T0LAMBDA"),
        "the webhook's path stays out of the logs"
    );
    assert_no_token(&out);
}
