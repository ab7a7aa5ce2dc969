//! Traces and metrics of a real `canvas-sis run --until-empty` (moto + the simulator over HTTP),
//! exported over OTLP/HTTP to an in-test receiver that decodes the protobuf: the span tree of
//! each batch (message → batch → stages → Canvas HTTP and S3 calls), the attributes an operator
//! searches by, a message's `traceparent` continued, a batch Canvas failed, the tenant it halted
//! and the batch parked behind it; and the metric points of the same run.

mod otlp;

use aws_sdk_sqs::types::MessageAttributeValue;
use otlp::{Point, Receiver, Span};
use serde_json::json;

use crate::common::cloud::{Cloud, CloudOpts, assert_success, stderr, tagged_users};
use crate::common::{self, cloud};

const PARENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN: &str = "b7ad6b7169203331";

fn zip_feed(tag: &str) -> Vec<u8> {
    common::zip_of(&[("users.csv", &tagged_users(tag, 3))])
}

/// The children of `parent`, by name.
fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
        .collect()
}

/// Every span below `root` in its trace.
fn descendants<'a>(spans: &'a [Span], root: &Span) -> Vec<&'a Span> {
    let mut out: Vec<&Span> = Vec::new();
    let mut frontier = vec![root.span_id.clone()];
    while let Some(id) = frontier.pop() {
        for s in spans
            .iter()
            .filter(|s| s.parent_span_id == id && s.trace_id == root.trace_id)
        {
            frontier.push(s.span_id.clone());
            out.push(s);
        }
    }
    out
}

fn batch_span<'a>(
    spans: &'a [Span],
    tenant: &str,
    location_tag: &str,
    batches: &[serde_json::Value],
) -> &'a Span {
    let id = batches
        .iter()
        .find(|b| {
            b["source"]["location"]
                .as_str()
                .unwrap_or("")
                .contains(location_tag)
        })
        .and_then(|b| b["id"].as_str())
        .unwrap_or_else(|| panic!("no batch from {location_tag}: {batches:?}"))
        .to_owned();
    spans
        .iter()
        .filter(|s| s.name == "batch" && s.attr("sis.tenant") == Some(tenant))
        .rfind(|s| s.attr("sis.batch_id") == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no batch span for {id}"))
}

/// The latest value of `metric` whose attributes include `want` (cumulative: the last is the total).
fn value(points: &[Point], metric: &str, want: &[(&str, &str)]) -> Option<f64> {
    points
        .iter()
        .filter(|p| p.metric == metric)
        .rfind(|p| {
            want.iter()
                .all(|(k, v)| p.attrs.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|p| p.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_run_exports_each_batch_trace_and_the_metric_catalog_over_otlp() {
    let rx = Receiver::start().await;
    let c = Cloud::start(CloudOpts::east_and_west()).await;
    // West's first import ends failed_with_messages: the tenant halts, its next batch parks.
    c.sim
        .add_fault(
            json!({"method": "POST", "path_contains": "/accounts/4/sis_imports",
                           "action": {"kind": "import", "final_state": "failed_with_messages"}}),
        )
        .await;
    // One of east's reads is refused for the rate limit (the client waits and retries).
    c.sim
        .add_fault(
            json!({"method": "GET", "path_contains": "/accounts/1/sis_imports",
                           "action": {"kind": "throttle"}}),
        )
        .await;
    c.drop_zip("east/1.zip", zip_feed("e1")).await;
    c.drop_zip("west/1.zip", zip_feed("w1")).await;
    c.drop_zip("west/2.zip", zip_feed("w2")).await;
    // A traced producer forwards the bucket's events with its trace context; the worker
    // continues the traceparent of east/2.zip's. (Forwarded copies replace the originals: a
    // write announced twice is one batch when both copies name its version or sequencer, as
    // AWS's do.) Taken off the queue in order, then sent again in that order.
    c.moto.put(cloud::DROP, "east/2.zip", zip_feed("e2")).await;
    let sqs = c.moto.sqs().await;
    let mut events = Vec::new();
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(&c.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive the queued events");
        if received.messages().is_empty() {
            break;
        }
        for m in received.messages() {
            let group = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .expect("a FIFO message has its group");
            events.push((group, m.body().unwrap_or_default().to_owned()));
            sqs.delete_message()
                .queue_url(&c.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .expect("take the event off the queue");
        }
    }
    assert_eq!(events.len(), 4, "one event per object: {events:?}");
    for (n, (group, body)) in events.into_iter().enumerate() {
        let mut send = sqs
            .send_message()
            .queue_url(&c.queue_url)
            .message_body(&body)
            .message_group_id(group)
            .message_deduplication_id(format!("forwarded-{n}"));
        if body.contains("east/2.zip") {
            send = send.message_attributes(
                "traceparent",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01"))
                    .build()
                    .unwrap(),
            );
        }
        send.send().await.expect("forward the event");
    }

    let mut cmd = c.worker(&["--until-empty"]);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.endpoint)
        .env("OTEL_SERVICE_NAME", "sis-worker-test")
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("worker runs"))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "west is left halted: {}",
        stderr(&out)
    );

    let spans = rx.spans();
    assert!(!spans.is_empty(), "spans were flushed on exit");
    assert!(
        spans
            .iter()
            .all(
                |s| s.resource.get("service.name").map(String::as_str) == Some("sis-worker-test")
                    && s.resource.get("deployment.environment").map(String::as_str) == Some("test")
            ),
        "resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES"
    );

    // East's first batch: imported, every stage a child of its batch span.
    let east = c.batches("east").await;
    let e1 = batch_span(&spans, "east", "east/1.zip", &east);
    assert_eq!(e1.attr("sis.workflow_state"), Some("imported"), "{e1:?}");
    assert!(
        e1.attr("sis.import_id")
            .is_some_and(|i| i.parse::<u64>().is_ok()),
        "{e1:?}"
    );
    assert_eq!(e1.attr("sis.rows"), Some("3"), "{e1:?}");
    assert_eq!(
        e1.attr("trace_id"),
        Some(e1.trace_id.as_str()),
        "the logs' trace id is the trace's"
    );
    let stages: Vec<&str> = children(&spans, e1)
        .iter()
        .filter_map(|s| s.attr("sis.stage"))
        .collect();
    for stage in [
        "collect", "validate", "guard", "pack", "submit", "wait", "record",
    ] {
        assert!(stages.contains(&stage), "stage {stage} in {stages:?}");
    }
    let below = descendants(&spans, e1);
    let post = below
        .iter()
        .find(|s| s.kind == 3 && s.attr("http.request.method") == Some("POST"))
        .expect("the Canvas POST is a client span in the batch's trace");
    assert_eq!(
        post.attr("url.template"),
        Some("/api/v1/accounts/{id}/sis_imports")
    );
    assert_eq!(post.attr("http.response.status_code"), Some("200"));
    assert!(post.attr("server.address").is_some() && post.attr("url.full").is_some());
    let submit = children(&spans, e1)
        .into_iter()
        .find(|s| s.attr("sis.stage") == Some("submit"))
        .unwrap();
    assert_eq!(
        post.parent_span_id, submit.span_id,
        "the POST is under the submit stage"
    );
    assert!(
        below
            .iter()
            .any(|s| s.name == "S3.PutObject" && s.attr("rpc.system") == Some("aws-api")),
        "the archive upload is an S3 span of the batch: {:?}",
        below.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let throttled = below
        .iter()
        .find(|s| s.kind == 3 && s.status == 2)
        .expect("the throttled attempt is an error client span of the batch");
    assert!(
        ["403", "429"].contains(&throttled.attr("http.response.status_code").unwrap_or("")),
        "{throttled:?}"
    );
    // The batch runs inside the processing of its message (messaging conventions).
    let message = spans
        .iter()
        .find(|s| s.span_id == e1.parent_span_id)
        .expect("the batch's parent span");
    assert_eq!(message.kind, 5, "consumer: {message:?}");
    assert_eq!(message.name, "process sis.fifo");
    assert_eq!(message.attr("messaging.system"), Some("aws_sqs"));
    assert_eq!(message.attr("messaging.operation.type"), Some("process"));
    assert_eq!(message.attr("messaging.destination.name"), Some("sis.fifo"));
    assert!(message.attr("messaging.message.id").is_some());
    assert!(
        descendants(&spans, message)
            .iter()
            .any(|s| s.name == "S3.GetObject"),
        "the fetch from the drop bucket is in the message's trace"
    );

    // The traced message continues its producer's trace.
    let e2 = batch_span(&spans, "east", "east/2.zip", &east);
    assert_eq!(e2.trace_id, PARENT_TRACE);
    let e2_message = spans
        .iter()
        .find(|s| s.span_id == e2.parent_span_id)
        .unwrap();
    assert_eq!(e2_message.parent_span_id, PARENT_SPAN);
    assert_ne!(e1.trace_id, e2.trace_id, "one trace per batch message");

    // West: Canvas failed its first batch (an error span), which halted it; the second parked.
    let west = c.batches("west").await;
    let w1 = batch_span(&spans, "west", "west/1.zip", &west);
    assert_eq!(w1.attr("sis.workflow_state"), Some("failed_with_messages"));
    assert_eq!(w1.status, 2, "a failed batch is an error span: {w1:?}");
    let w2 = batch_span(&spans, "west", "west/2.zip", &west);
    assert_eq!(w2.attr("sis.stage"), Some("parked"), "{w2:?}");
    assert!(w2.attr("sis.import_id").is_none(), "nothing was sent");

    // Metrics of the same run, flushed at exit.
    let points = rx.points();
    assert!(rx.metric_posts() >= 1, "metrics were flushed on exit");
    let batches = "canvas_sis.batches";
    assert_eq!(
        value(
            &points,
            batches,
            &[("tenant", "east"), ("outcome", "imported")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &points,
            batches,
            &[("tenant", "west"), ("outcome", "failed_with_messages")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &points,
            batches,
            &[("tenant", "west"), ("outcome", "parked")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&points, "canvas_sis.tenant.halts", &[("tenant", "west")]),
        Some(1.0)
    );
    // A state set: west is halted (1) and in no other state (0).
    assert_eq!(
        value(
            &points,
            "canvas_sis.tenant.gate",
            &[("tenant", "west"), ("state", "halted")]
        ),
        Some(1.0)
    );
    for other in ["open", "paused", "restoring"] {
        assert_eq!(
            value(
                &points,
                "canvas_sis.tenant.gate",
                &[("tenant", "west"), ("state", other)]
            ),
            Some(0.0),
            "{other}"
        );
    }
    assert_eq!(
        value(
            &points,
            "canvas_sis.build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&points, "canvas_sis.pack.rows", &[("kind", "users")]),
        Some(9.0),
        "e1, e2, w1; w2 parked unread"
    );
    assert!(value(&points, "canvas_sis.pack.bytes", &[("kind", "users")]).is_some_and(|b| b > 0.0));
    for stage in [
        "collect", "validate", "guard", "pack", "submit", "wait", "record",
    ] {
        assert!(
            value(
                &points,
                "canvas_sis.stage.duration",
                &[("tenant", "east"), ("stage", stage)]
            )
            .is_some_and(|n| n >= 2.0),
            "stage {stage} timed twice for east"
        );
    }
    assert_eq!(
        value(&points, "canvas_sis.canvas.throttled", &[]),
        Some(1.0),
        "one throttled answer"
    );
    assert!(value(&points, "canvas_sis.canvas.rate_limit.remaining", &[]).is_some());
    let posts = value(
        &points,
        "canvas_sis.canvas.requests",
        &[
            ("endpoint", "/api/v1/accounts/{id}/sis_imports"),
            ("method", "POST"),
            ("status", "200"),
        ],
    );
    assert_eq!(posts, Some(3.0), "three imports created");
    assert!(
        value(
            &points,
            "http.client.request.duration",
            &[("http.request.method", "GET")]
        )
        .is_some()
    );
    assert!(
        value(
            &points,
            "canvas_sis.canvas.import.duration",
            &[("tenant", "east")]
        )
        .is_some()
    );
    assert!(
        value(
            &points,
            "canvas_sis.canvas.import.queue_wait",
            &[("tenant", "east")]
        )
        .is_some()
    );
    assert!(value(&points, "canvas_sis.queue.message.age", &[]).is_some_and(|n| n >= 4.0));
    assert!(
        value(
            &points,
            "canvas_sis.queue.messages",
            &[("disposition", "deleted")]
        )
        .is_some()
    );
    assert!(
        value(
            &points,
            "canvas_sis.tenant.since_last_import",
            &[("tenant", "east")]
        )
        .is_some(),
        "the silence gauge knows east's last success"
    );
    assert!(
        value(
            &points,
            "canvas_sis.tenant.since_last_import",
            &[("tenant", "west")]
        )
        .is_none(),
        "west never succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_command_flushes_on_exit_and_a_disabled_sdk_exports_nothing() {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("users.csv"), common::users_csv(5)).unwrap();
    let pack = |disabled: bool, extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
        cmd.arg("pack")
            .arg(&input)
            .arg("-o")
            .arg(dir.path().join("out.zip"))
            .args(extra)
            .env_clear()
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.endpoint)
            .env("OTEL_METRIC_EXPORT_INTERVAL", "600000");
        if disabled {
            cmd.env("OTEL_SDK_DISABLED", "true");
        }
        cmd
    };
    let mut off = pack(true, &[]);
    let out = tokio::task::spawn_blocking(move || off.output().unwrap())
        .await
        .unwrap();
    assert_success(&out);
    assert!(
        rx.spans().is_empty(),
        "OTEL_SDK_DISABLED=true: no span sent"
    );
    assert_eq!(
        rx.metric_posts(),
        0,
        "OTEL_SDK_DISABLED=true: no metrics sent"
    );

    let mut on = pack(false, &[]);
    let out = tokio::task::spawn_blocking(move || on.output().unwrap())
        .await
        .unwrap();
    assert_success(&out);
    let stages = |rx: &Receiver| -> Vec<String> {
        rx.spans()
            .iter()
            .filter_map(|s| s.attr("sis.stage").map(str::to_owned))
            .collect()
    };
    // The zip is written while validation runs (one stage), as in the worker.
    assert_eq!(stages(&rx), ["collect", "validate"], "flushed at exit");
    assert!(
        value(
            &rx.points(),
            "canvas_sis.stage.duration",
            &[("tenant", "local"), ("stage", "validate")]
        )
        .is_some(),
        "metrics flushed at exit"
    );

    // `--no-validate` does not validate: no validation stage, only the packing.
    let rx = Receiver::start().await;
    let mut unvalidated = pack(false, &["--no-validate"]);
    unvalidated.env("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.endpoint);
    let out = tokio::task::spawn_blocking(move || unvalidated.output().unwrap())
        .await
        .unwrap();
    assert_success(&out);
    assert_eq!(stages(&rx), ["collect", "pack"]);
}
