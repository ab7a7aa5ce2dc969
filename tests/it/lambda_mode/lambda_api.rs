//! A local AWS Lambda Runtime API for the tests, and the part of Lambda's SQS event source
//! mapping that the tests need: receive messages from the (moto) queue, hand them to the
//! function as an SQS event, delete the ones it did not report in `batchItemFailures`, leave the
//! reported ones to come back when their visibility runs out.
//!
//! The Runtime API speaks what `lambda_runtime` calls: `GET /2018-06-01/runtime/invocation/next`
//! (long-polls until an invocation is queued; the event as body, its id, deadline, function ARN
//! and trace id as headers), `POST …/invocation/{id}/response`, `POST …/invocation/{id}/error`
//! and `POST /2018-06-01/runtime/init/error`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::MessageSystemAttributeName;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:canvas-sis";

/// How the function answered one invocation.
#[derive(Debug, Clone)]
pub enum Answer {
    Response(Value),
    // The error document is read only through `Debug`, in the tests' assertion messages, which
    // dead-code analysis does not count.
    #[allow(dead_code)]
    Error(Value),
}

struct Queued {
    id: String,
    event: Value,
    deadline_ms: u64,
}

#[derive(Clone)]
struct ApiState {
    next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    init_errors: Arc<Mutex<Vec<Value>>>,
}

/// The Runtime API server.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    queue: mpsc::UnboundedSender<Queued>,
    state: ApiState,
    seq: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = ApiState {
            next: Arc::new(tokio::sync::Mutex::new(rx)),
            waiting: Default::default(),
            init_errors: Default::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RuntimeApi {
            addr,
            queue: tx,
            state,
            seq: Default::default(),
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Queues one invocation of `event` with `time` to run, and waits (at most `limit`) for the
    /// function's answer. Also returns when the answer came, before the deadline or not.
    pub async fn invoke(&self, event: Value, time: Duration, limit: Duration) -> (Answer, Instant) {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("req-{n}");
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().unwrap().insert(id.clone(), tx);
        let deadline_ms = now_ms() + time.as_millis() as u64;
        self.queue
            .send(Queued {
                id,
                event,
                deadline_ms,
            })
            .unwrap();
        let answer = tokio::time::timeout(limit, rx)
            .await
            .expect("the function answers the invocation in time")
            .expect("answer");
        (answer, Instant::now())
    }

    pub fn init_errors(&self) -> Vec<Value> {
        self.state.init_errors.lock().unwrap().clone()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn next(State(s): State<ApiState>) -> Result<(HeaderMap, Json<Value>), StatusCode> {
    // The test is over when its sender is gone.
    let q = s
        .next
        .lock()
        .await
        .recv()
        .await
        .ok_or(StatusCode::SERVICE_UNAVAILABLE)?;
    let mut h = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        h.insert(k, HeaderValue::from_str(&v).unwrap());
    };
    set("lambda-runtime-aws-request-id", q.id.clone());
    set("lambda-runtime-deadline-ms", q.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", FUNCTION_ARN.into());
    set(
        "lambda-runtime-trace-id",
        format!("Root=1-00000000-{:024x};Sampled=0", q.deadline_ms),
    );
    Ok((h, Json(q.event)))
}

fn answered(s: &ApiState, id: &str, a: Answer) -> StatusCode {
    match s.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(a);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answered(&s, &id, Answer::Response(v))
}

async fn error(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answered(&s, &id, Answer::Error(v))
}

async fn init_error(State(s): State<ApiState>, body: axum::body::Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.init_errors.lock().unwrap().push(v);
    StatusCode::ACCEPTED
}

/// One receive of the event source mapping, as the function saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message ids of the event, in order.
    pub ids: Vec<String>,
    /// The bodies, in the same order.
    pub bodies: Vec<String>,
    pub answer: Answer,
    /// The ids the function reported in `batchItemFailures`, in its order.
    pub failures: Vec<String>,
    /// Whether the answer came before the invocation's deadline.
    pub in_time: bool,
}

/// Lambda's SQS event source mapping over a moto FIFO queue.
pub struct EventSource {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    /// Messages per event (Lambda's batch size).
    pub batch_size: i32,
    /// The visibility timeout of received messages (Lambda uses the queue's).
    pub visibility_secs: i32,
}

impl EventSource {
    /// Receives up to `batch_size` messages (long poll `wait_secs`) and invokes the function with
    /// them; `None` when the queue gave nothing.
    pub async fn deliver(
        &self,
        api: &RuntimeApi,
        time: Duration,
        wait_secs: i32,
    ) -> Option<Delivery> {
        let got = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .visibility_timeout(self.visibility_secs)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return None;
        }
        let records: Vec<Value> = messages.iter().map(|m| self.record(m)).collect();
        let started = Instant::now();
        let (answer, at) = api
            .invoke(
                json!({ "Records": records }),
                time,
                time + Duration::from_secs(30),
            )
            .await;
        let in_time = at.duration_since(started) < time;
        let failures: Vec<String> = match &answer {
            Answer::Response(v) => v["batchItemFailures"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            // A failed invocation hands every message back.
            Answer::Error(_) => messages
                .iter()
                .filter_map(|m| m.message_id.clone())
                .collect(),
        };
        for m in &messages {
            let id = m.message_id.clone().unwrap_or_default();
            if !failures.contains(&id) {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        Some(Delivery {
            ids: messages
                .iter()
                .filter_map(|m| m.message_id.clone())
                .collect(),
            bodies: messages.iter().filter_map(|m| m.body.clone()).collect(),
            answer,
            failures,
            in_time,
        })
    }

    /// One record of Lambda's SQS event, from a received message.
    fn record(&self, m: &aws_sdk_sqs::types::Message) -> Value {
        let attributes: serde_json::Map<String, Value> = m
            .attributes
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), Value::String(v)))
            .collect();
        let message_attributes: serde_json::Map<String, Value> = m
            .message_attributes
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    json!({
                        "stringValue": v.string_value,
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": v.data_type,
                    }),
                )
            })
            .collect();
        json!({
            "messageId": m.message_id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": m.md5_of_body,
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        })
    }
}
