//! Test harness for the cloud worker: a real moto server (S3, SQS FIFO, EventBridge) on a free
//! loopback port, one per test, killed when dropped.
//!
//! The server is `moto_server` from the project's `.venv` (scripts/test.sh installs the pinned
//! `moto[server]`), or the path in `CANVAS_SIS_MOTO`. A missing server is a test failure with
//! a message saying how to get it — never a silent skip.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";

/// A running moto server.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("CANVAS_SIS_MOTO") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

/// A free port never handed to another moto of this test process. The tests start motos in
/// parallel; were two given the same port, the second one's "listening" check would find the
/// first one's server, and it would lose its moto when that test ends (connection refused).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl Moto {
    /// Starts moto and waits until it accepts connections.
    pub fn start() -> Moto {
        let bin = moto_binary();
        assert!(
            bin.exists(),
            "moto_server not found at {}: run scripts/test.sh once (it installs the pinned \
             moto[server] into .venv), or set CANVAS_SIS_MOTO to a moto_server binary",
            bin.display()
        );
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("moto exited with {status} (port {port} taken?)");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Moto {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            if last_err.is_empty() {
                last_err = "moto did not listen within 30 s".into();
            }
        }
        panic!("could not start moto: {last_err}");
    }

    /// The environment a worker process (or the SDK in this process) needs to reach moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }

    pub async fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config().await)
    }

    /// One call of moto's EventBridge API (AWS JSON 1.1), e.g. `("PutRule", {...})`.
    pub async fn events(&self, action: &str, body: Value) -> Value {
        let resp = reqwest::Client::new()
            .post(format!("{}/", self.endpoint))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/events/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .header("X-Amz-Target", format!("AWSEvents.{action}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .expect("EventBridge call");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "EventBridge {action}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.s3()
            .await
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }

    /// A FIFO queue with content-based deduplication (what an EventBridge target needs), and
    /// optionally a FIFO dead-letter queue after `max_receive` receives. Returns (url, arn).
    pub async fn create_fifo(&self, name: &str, dlq_arn: Option<(&str, u32)>) -> (String, String) {
        let sqs = self.sqs().await;
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let mut req = sqs
            .create_queue()
            .queue_name(name)
            .attributes(A::FifoQueue, "true")
            .attributes(A::ContentBasedDeduplication, "true")
            .attributes(A::VisibilityTimeout, "30");
        if let Some((arn, max)) = dlq_arn {
            req = req.attributes(
                A::RedrivePolicy,
                json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string(),
            );
        }
        let url = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"))
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(A::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&A::QueueArn).cloned())
            .expect("queue arn");
        (url, arn)
    }

    /// Route A of docs/aws.md §1.2: the bucket sends its events to EventBridge, and a rule puts
    /// every "Object Created" of the bucket on the FIFO queue in `group`.
    pub async fn route_bucket_to_fifo(&self, bucket: &str, queue_arn: &str, group: &str) {
        self.route_prefix_to_fifo(bucket, "", queue_arn, group)
            .await;
    }

    /// Like [`Moto::route_bucket_to_fifo`] for the keys under `prefix` only: one rule per
    /// tenant, each with its own message group (docs/aws.md §1.2: group ids are static per target).
    pub async fn route_prefix_to_fifo(
        &self,
        bucket: &str,
        prefix: &str,
        queue_arn: &str,
        group: &str,
    ) {
        use aws_sdk_s3::types::{EventBridgeConfiguration, NotificationConfiguration};
        self.notify(
            bucket,
            NotificationConfiguration::builder()
                .event_bridge_configuration(EventBridgeConfiguration::builder().build())
                .build(),
            "bucket → EventBridge",
        )
        .await;
        let rule = format!("drop-{bucket}-{group}");
        let mut detail = json!({"bucket": {"name": [bucket]}});
        if !prefix.is_empty() {
            detail["object"] = json!({"key": [{"prefix": prefix}]});
        }
        let pattern = json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": detail
        });
        self.events(
            "PutRule",
            json!({"Name": rule, "EventPattern": pattern.to_string()}),
        )
        .await;
        self.events(
            "PutTargets",
            json!({"Rule": rule, "Targets": [{
                "Id": "fifo", "Arn": queue_arn,
                "SqsParameters": {"MessageGroupId": group}
            }]}),
        )
        .await;
    }

    /// A standard queue `name` that receives the bucket's S3 event notifications directly (the
    /// classic route, docs/aws.md §1.3 (a)); returns its URL.
    pub async fn notify_standard_queue(&self, bucket: &str, name: &str) -> String {
        use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
        let url = self
            .sqs()
            .await
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        self.notify(
            bucket,
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(format!("arn:aws:sqs:{REGION}:123456789012:{name}"))
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .expect("queue configuration"),
                )
                .build(),
            "bucket → queue notifications",
        )
        .await;
        url
    }

    /// Sets the bucket's notification configuration (`what` names it in a failure).
    async fn notify(
        &self,
        bucket: &str,
        config: aws_sdk_s3::types::NotificationConfiguration,
        what: &str,
    ) {
        self.s3()
            .await
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(config)
            .send()
            .await
            .expect(what);
    }

    /// Turns on versioning, as the Terraform module does for the drop bucket.
    pub async fn enable_versioning(&self, bucket: &str) {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.s3()
            .await
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("versioning on {bucket}: {e:?}"));
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.s3()
            .await
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
    }

    /// Every message body currently visible in the queue (received with visibility 0, so they
    /// stay), at most `max`.
    pub async fn peek(&self, queue_url: &str, max: i32) -> Vec<String> {
        let out = self
            .sqs()
            .await
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max.min(10))
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }

    /// ApproximateNumberOfMessages + ...NotVisible of a queue.
    pub async fn depth(&self, queue_url: &str) -> (u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = self
            .sqs()
            .await
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        let n = |a: A| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            n(A::ApproximateNumberOfMessages),
            n(A::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
