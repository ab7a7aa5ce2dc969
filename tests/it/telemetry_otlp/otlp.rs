//! An OTLP/HTTP receiver for tests: a small axum server on an ephemeral port that accepts
//! `POST /v1/traces` and `POST /v1/metrics` (protobuf), decodes them with `opentelemetry-proto`
//! and keeps every span and metric it was sent, flattened for assertions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message;

/// One received span.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    /// `SpanKind` as its number (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// `StatusCode` as its number (0 unset, 1 ok, 2 error).
    pub status: i32,
    pub attrs: HashMap<String, String>,
    pub resource: HashMap<String, String>,
}

impl Span {
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }
}

/// One metric data point: its metric's name, its attributes, and a value (a sum or gauge's
/// value; a histogram's count).
#[derive(Debug, Clone)]
pub struct Point {
    pub metric: String,
    pub attrs: HashMap<String, String>,
    pub value: f64,
}

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    points: Vec<Point>,
    metric_posts: usize,
}

pub struct Receiver {
    pub endpoint: String,
    got: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn map(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

async fn traces(State(got): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut g = got.lock().unwrap();
    for rs in req.resource_spans {
        let resource = map(&rs.resource.map(|r| r.attributes).unwrap_or_default());
        for ss in rs.scope_spans {
            for s in ss.spans {
                g.spans.push(Span {
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent_span_id: hex::encode(&s.parent_span_id),
                    name: s.name,
                    kind: s.kind,
                    status: s.status.map(|st| st.code).unwrap_or(0),
                    attrs: map(&s.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    StatusCode::OK
}

async fn metrics(State(got): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let Ok(req) = ExportMetricsServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut g = got.lock().unwrap();
    g.metric_posts += 1;
    for rm in req.resource_metrics {
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                let mut push = |attrs: &[KeyValue], value: f64| {
                    g.points.push(Point {
                        metric: m.name.clone(),
                        attrs: map(attrs),
                        value,
                    })
                };
                use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
                let num = |v: &Option<Value>| match v {
                    Some(Value::AsDouble(d)) => *d,
                    Some(Value::AsInt(i)) => *i as f64,
                    None => f64::NAN,
                };
                match &m.data {
                    Some(metric::Data::Sum(s)) => s
                        .data_points
                        .iter()
                        .for_each(|p| push(&p.attributes, num(&p.value))),
                    Some(metric::Data::Gauge(s)) => s
                        .data_points
                        .iter()
                        .for_each(|p| push(&p.attributes, num(&p.value))),
                    Some(metric::Data::Histogram(h)) => h
                        .data_points
                        .iter()
                        .for_each(|p| push(&p.attributes, p.count as f64)),
                    _ => {}
                }
            }
        }
    }
    StatusCode::OK
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got: Arc<Mutex<Received>> = Arc::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/metrics", post(metrics))
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            endpoint,
            got,
            task,
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        self.got.lock().unwrap().spans.clone()
    }

    /// Every point received; with cumulative temporality the last post holds the totals.
    pub fn points(&self) -> Vec<Point> {
        self.got.lock().unwrap().points.clone()
    }

    pub fn metric_posts(&self) -> usize {
        self.got.lock().unwrap().metric_posts
    }
}
