//! `canvas-sis run --listen ADDR` as a real process against moto and the simulator: `/metrics`
//! parses as the Prometheus text format and counts the batch it imported, `/healthz` answers,
//! and `/readyz` is 200 only while the queue and Canvas answer.

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::cloud::{Cloud, CloudOpts, tagged_users};

/// A worker process, killed when dropped.
struct Running(Child, std::path::PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn start(c: &Cloud, addr: &str, env: &[(&str, &str)]) -> Running {
    let log = c
        .dir
        .path()
        .join(format!("listen-{}.err", addr.replace([':', '.'], "-")));
    let mut cmd = c.worker(&["--listen", addr]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("worker starts");
    Running(child, log)
}

async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .ok()?;
    Some((r.status().as_u16(), r.text().await.unwrap_or_default()))
}

async fn until<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One sample of the text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the Prometheus text format 0.0.4 strictly: every line is a HELP, a TYPE or a sample
/// of a family whose TYPE came before; label values are quoted and escaped.
fn parse(text: &str) -> Result<(HashMap<String, String>, Vec<Sample>), String> {
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) if valid_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind))
                    if valid_name(name)
                        && ["counter", "gauge", "histogram", "summary", "untyped"]
                            .contains(&kind) =>
                {
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(bad("TYPE given twice"));
                    }
                }
                _ => return Err(bad("malformed comment")),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| bad("no value"))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(bad("bad metric name"));
        }
        let (labels, rest) = parse_labels(&line[name_end..]).map_err(|e| bad(&e))?;
        let value_text = rest
            .strip_prefix(' ')
            .ok_or_else(|| bad("no space before value"))?;
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|_| bad("bad value"))?,
        };
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| types.contains_key(*f))
            .unwrap_or(name);
        if !types.contains_key(family) {
            return Err(bad("sample without a TYPE"));
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok((types, samples))
}

/// `{a="1",b="x\"y"} rest` → the labels and ` rest`; no braces → no labels.
fn parse_labels(s: &str) -> Result<(HashMap<String, String>, &str), String> {
    let mut labels = HashMap::new();
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((labels, s));
    };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find("=\"").ok_or("label without =\"")?;
        let name = &rest[..eq];
        if !valid_name(name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let end = loop {
            match chars.next().ok_or("unclosed label value")? {
                (_, '\\') => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    _ => return Err("bad escape".into()),
                },
                (i, '"') => break eq + 2 + i + 1,
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = &rest[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn find<'a>(samples: &'a [Sample], name: &str, want: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    let (_, ok) = parse("# TYPE a counter\na_total{x=\"q\\\"r\",y=\"2\"} 1\n").unwrap();
    assert_eq!(ok[0].labels["x"], "q\"r");
    assert_eq!(ok[0].labels["y"], "2");
    assert!(parse("a 1\n").is_err(), "no TYPE");
    assert!(parse("# TYPE a gauge\na{x=\"1} 2\n").is_err(), "unclosed");
    assert!(
        parse("# TYPE a gauge\na{x=\"1\"} two\n").is_err(),
        "bad value"
    );
    assert!(parse("# TYPE a.b gauge\n").is_err(), "bad name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scrape_as_prometheus_text_and_probes_follow_the_queue_and_canvas() {
    let c = Cloud::start(CloudOpts::default()).await;
    c.drop_zip(
        "exports/1.zip",
        common::zip_of(&[("users.csv", &tagged_users("l1", 4))]),
    )
    .await;
    let addr = free_addr();
    let w = start(&c, &addr, &[]);
    until(Duration::from_secs(30), "/healthz", || async {
        get(&addr, "/healthz").await.is_some_and(|(s, _)| s == 200)
    })
    .await;
    until(
        Duration::from_secs(60),
        "the batch to be imported",
        || async {
            c.batches("default")
                .await
                .first()
                .is_some_and(|b| b["stage"]["state"] == "imported")
        },
    )
    .await;
    let (status, body) = get(&addr, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}\n{}", w.log());
    // The status page over the worker's S3 ledger, on the same listener.
    let (status, page) = get(&addr, "/tenants/default").await.unwrap();
    assert_eq!(status, 200, "{page}\n{}", w.log());
    assert!(
        page.contains("/batches/default/00000001-") && page.contains("imported"),
        "{page}"
    );
    assert!(
        page.contains("s3://"),
        "the page names the S3 ledger: {page}"
    );

    // The batch is counted once its event is recorded; give the metrics a moment to show it.
    let started = Instant::now();
    let (types, samples) = loop {
        let (status, text) = get(&addr, "/metrics").await.unwrap();
        assert_eq!(status, 200);
        let (types, samples) = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        if !find(
            &samples,
            "canvas_sis_batches_total",
            &[("outcome", "imported")],
        )
        .is_empty()
        {
            break (types, samples);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no batch in /metrics:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let imported = find(
        &samples,
        "canvas_sis_batches_total",
        &[("tenant", "default"), ("outcome", "imported")],
    );
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].value, 1.0);
    assert_eq!(
        types.get("canvas_sis_batches_total").map(String::as_str),
        Some("counter")
    );
    assert_eq!(
        types
            .get("canvas_sis_stage_duration_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    let rows = find(&samples, "canvas_sis_pack_rows_total", &[("kind", "users")]);
    assert_eq!(rows.first().map(|s| s.value), Some(4.0));
    // A histogram's buckets are cumulative and end in +Inf == count.
    let buckets = find(
        &samples,
        "canvas_sis_stage_duration_seconds_bucket",
        &[("stage", "pack")],
    );
    assert!(
        buckets.windows(2).all(|w| w[0].value <= w[1].value),
        "{buckets:?}"
    );
    let inf = buckets
        .iter()
        .find(|b| b.labels["le"] == "+Inf")
        .unwrap()
        .value;
    let count = find(
        &samples,
        "canvas_sis_stage_duration_seconds_count",
        &[("stage", "pack")],
    );
    assert_eq!(count[0].value, inf);
    assert!(
        !find(
            &samples,
            "http_client_request_duration_seconds_count",
            &[("http_request_method", "POST")]
        )
        .is_empty(),
        "the Canvas POST is timed"
    );

    // The queue goes away: after the cached result expires, /readyz says so; /healthz stays up.
    c.moto
        .sqs()
        .await
        .delete_queue()
        .queue_url(&c.queue_url)
        .send()
        .await
        .unwrap();
    until(
        Duration::from_secs(30),
        "/readyz to fail on the queue",
        || async {
            get(&addr, "/readyz")
                .await
                .is_some_and(|(s, b)| s == 503 && b.contains("queue"))
        },
    )
    .await;
    assert_eq!(get(&addr, "/healthz").await.map(|(s, _)| s), Some(200));
    drop(w);

    // A worker whose Canvas does not answer is alive but not ready.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let c2 = Cloud::start(CloudOpts::default()).await;
    let addr2 = free_addr();
    let w2 = start(&c2, &addr2, &[("CANVAS_BASE_URL", &dead_url)]);
    until(
        Duration::from_secs(30),
        "/healthz of the second worker",
        || async { get(&addr2, "/healthz").await.is_some_and(|(s, _)| s == 200) },
    )
    .await;
    let (status, body) = get(&addr2, "/readyz").await.unwrap();
    assert_eq!(status, 503, "{body}\n{}", w2.log());
    assert!(body.contains("canvas (default)"), "{body}");
    assert!(!body.contains("queue"), "the queue answers: {body}");
}
