//! Notifications from the cloud worker (`canvas-sis run --until-empty`) end to end: moto for S3,
//! SQS and SNS, the simulator for Canvas, and a local webhook receiver. A failed import reaches
//! an SNS topic (read back from an SQS queue subscribed to it in moto) and the webhook, with the
//! resume command for the worker's state URL; the token and the webhook path stay out of the
//! worker's output.

use std::time::Duration;

use aws_config::BehaviorVersion;
use serde_json::{Value, json};

use crate::common::cloud::{Cloud, CloudOpts, STATE_URL, stderr};
use crate::common::moto;
use crate::common::receiver::Receiver;
use crate::common::{ADMIN, users_csv, zip_of};

const SECRET_PATH: &str = "/hooks/T0SECRET/k3yk3y";

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(moto::REGION))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// A topic with a standard SQS queue subscribed to it; returns (topic ARN, queue URL).
async fn topic_with_queue(c: &Cloud) -> (String, String) {
    let conf = sdk(&c.moto.endpoint).await;
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic = sns
        .create_topic()
        .name("canvas-sis-notices")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("notices")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    (topic, queue)
}

/// The SNS envelopes delivered to `queue`.
async fn delivered(c: &Cloud, queue: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&sdk(&c.moto.endpoint).await);
    let got = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    got.messages
        .unwrap_or_default()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_is_published_to_sns_and_the_webhook_with_the_resume_command() {
    let c = Cloud::start(CloudOpts::default()).await;
    let (topic, queue) = topic_with_queue(&c).await;
    let r = Receiver::start(&[]).await;
    c.sim
        .add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed"}}))
        .await;
    c.drop_zip("exports/b1.zip", zip_of(&[("users.csv", &users_csv(2))]))
        .await;
    let mut worker = c.worker(&["--until-empty"]);
    worker
        .env("SIS_NOTIFY_SNS_TOPIC_ARN", &topic)
        .env("SIS_NOTIFY_WEBHOOK_URL", format!("{}{SECRET_PATH}", r.base));
    let out = tokio::task::spawn_blocking(move || worker.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "halted: {}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(ADMIN), "token in the output");
    assert!(!all.contains("T0SECRET"), "webhook path in the output");

    let imports = c.sim.imports().await;
    assert_eq!(imports.len(), 1);
    let import_id = imports[0]["id"].as_u64().unwrap();
    let resume = format!("canvas-sis resume --state {STATE_URL} --tenant default");

    let envelopes = delivered(&c, &queue).await;
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    let e = &envelopes[0];
    let subject = e["Subject"].as_str().unwrap();
    assert!(
        subject.contains("default") && subject.contains("batch failed") && subject.len() <= 100,
        "{subject}"
    );
    assert_eq!(e["MessageAttributes"]["tenant"]["Value"], "default");
    assert_eq!(e["MessageAttributes"]["event"]["Value"], "batch_failed");
    let n: Value = serde_json::from_str(e["Message"].as_str().unwrap()).unwrap();
    assert_eq!(n["schema"], "canvas-sis.notice.v1");
    assert_eq!(n["event"], "batch_failed");
    assert_eq!(n["tenant"], "default");
    assert_eq!(n["canvas_import_id"], import_id);
    assert_eq!(n["state"], "failed");
    assert_eq!(n["command"], resume);

    let hooks = r.wait_for(1, Duration::from_secs(1)).await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].path, SECRET_PATH);
    assert_eq!(hooks[0].body["batch"], n["batch"]);
    assert_eq!(hooks[0].body["command"], resume);
}
