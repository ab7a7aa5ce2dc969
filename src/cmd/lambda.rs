//! `canvas-sis lambda`: the cloud worker as an AWS Lambda function behind an SQS FIFO event
//! source mapping (with `ReportBatchItemFailures`). Also what the binary does when Lambda starts
//! it with no command (as `bootstrap`): `AWS_LAMBDA_RUNTIME_API` is set then.
//!
//! Configuration comes from the same variables as `run` (`SIS_QUEUE_URL`, `SIS_STATE_URL`,
//! `SIS_BUCKET`, `CANVAS_SIS_CONFIG`, `CANVAS_BASE_URL`, `CANVAS_TOKEN`/`CANVAS_TOKEN_FILE`, the
//! AWS SDK's own), read once per cold start; the clients, tenants, queues and ledger are reused
//! by every invocation. Each invocation's records are handled by `aws::lambda`.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use lambda_runtime::{LambdaEvent, service_fn};
use tokio::time::Instant;
use tracing::Instrument;

use canvas_sis::aws;
use canvas_sis::aws::lambda::{BatchResponse, EventQueues, Invocation, handle_invocation};
use canvas_sis::aws::ledger::S3Store;
use canvas_sis::aws::queue::{MessageHandler, SqsQueue, WorkerSettings};
use canvas_sis::ledger::{Ledger, LedgerStore, LocalStore};
use canvas_sis::notify::{LedgerHint, Notifier};
use canvas_sis::pipeline::LogObserver;
use canvas_sis::trigger::events::Router;
use canvas_sis::trigger::runtime::TenantRuntime;

use crate::cli::LambdaArgs;
use crate::cmd::common::secs;
use crate::cmd::notify;

/// Set by Lambda in a function's environment: where its Runtime API listens.
const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// True when Lambda started the binary with no command (as `bootstrap`): run lambda mode.
pub fn started_by_lambda() -> bool {
    std::env::args_os().len() == 1 && std::env::var_os(RUNTIME_API).is_some()
}

pub async fn run(args: LambdaArgs) -> anyhow::Result<u8> {
    let Some(api) = std::env::var_os(RUNTIME_API) else {
        anyhow::bail!(
            "{RUNTIME_API} is not set: `canvas-sis lambda` runs inside AWS Lambda (use `canvas-sis run` elsewhere)"
        );
    };
    let ready = match prepare(&args).await {
        Ok(r) => r,
        Err(e) => {
            report_init_error(&api.to_string_lossy(), &e).await;
            return Err(e);
        }
    };
    let Ready {
        router,
        runtimes,
        s3,
        settings,
        margin,
        store,
        notifier,
        queues,
    } = ready;
    let (log, metrics) = (LogObserver, canvas_sis::telemetry::MetricsObserver);
    let mut obs = notify::tee(&log, notifier.as_ref());
    obs.0.push(&metrics);
    macro_rules! serve_with {
        ($store:expr) => {{
            let ledger = Ledger::new($store);
            let handler = MessageHandler {
                objects: std::sync::Arc::new(canvas_sis::aws::store::S3Objects::new(s3)),
                ledger: &ledger,
                router,
                runtimes: &runtimes,
                settings,
                obs: &obs,
                in_flight: Default::default(),
                // Lambda ends work by its deadline (`until`), not by a signal.
                stop: Default::default(),
            };
            serve(&handler, &queues, margin, notifier.as_ref()).await
        }};
    }
    match store {
        Store::S3(store) => serve_with!(store),
        Store::Local(store) => serve_with!(store),
    }
}

/// Everything built once per cold start.
struct Ready {
    router: Router,
    runtimes: Vec<TenantRuntime>,
    s3: aws_sdk_s3::Client,
    settings: WorkerSettings,
    margin: Duration,
    store: Store,
    notifier: Option<Notifier>,
    queues: EventQueues<SqsQueue>,
}

enum Store {
    S3(S3Store),
    Local(LocalStore),
}

async fn prepare(args: &LambdaArgs) -> anyhow::Result<Ready> {
    for name in [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
    ] {
        anyhow::ensure!(
            std::env::var_os(name).is_some(),
            "{name} is not set; Lambda sets it in every function's environment"
        );
    }
    // Checked here rather than by clap, so that Lambda is told too (init error).
    let state = args.state.as_deref().filter(|s| !s.is_empty()).context(
        "SIS_STATE_URL is not set: where the ledger lives, e.g. s3://sis-state/canvas-sis/",
    )?;
    let queue_url = args
        .queue_url
        .as_deref()
        .filter(|s| !s.is_empty())
        .context(
            "SIS_QUEUE_URL is not set: the queue the event source mapping reads (the function sets \
         when the messages it reports come back and moves poison to the queue's dead-letter queue)",
        )?;
    let (config, router, runtimes) =
        crate::cmd::common::load_tenants(args.config.as_deref()).await?;
    let clients = aws::clients(crate::cmd::common::s3_checksums(args.drop.s3_checksums)).await;
    let source = SqsQueue::new(clients.sqs.clone(), queue_url);
    let dlq = source
        .dead_letter_queue()
        .await
        .context("reading the queue's redrive policy")?;
    let queues = EventQueues { source, dlq };
    let settings = settings(args)?;
    let margin = secs(args.margin_secs, "--margin-secs")?;
    std::fs::create_dir_all(&settings.work_dir)
        .with_context(|| format!("creating the work folder {}", settings.work_dir.display()))?;
    let store = if state.starts_with("s3://") {
        Store::S3(S3Store::from_url(clients.s3.clone(), state).context("SIS_STATE_URL")?)
    } else {
        let dir = PathBuf::from(state);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the state directory {}", dir.display()))?;
        Store::Local(LocalStore::open(&dir)?)
    };
    let notifier = notify::build(
        &config,
        LedgerHint::state(state),
        Some(notify::sns_publisher(clients.sns.clone())),
    )
    .await?;
    Ok(Ready {
        router,
        runtimes,
        s3: clients.s3,
        settings,
        margin,
        store,
        notifier,
        queues,
    })
}

/// Tells Lambda why the function could not start (shown with the failed invocation), as the
/// Runtime API asks; the process then exits with the error. Configuration errors never hold a
/// token.
async fn report_init_error(api: &str, e: &anyhow::Error) {
    let body = serde_json::json!({
        "errorType": "canvas-sis.ConfigurationError",
        "errorMessage": format!("{e:#}"),
    });
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header(
            "Lambda-Runtime-Function-Error-Type",
            "canvas-sis.ConfigurationError",
        )
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    if let Err(err) = sent {
        tracing::warn!(error = %err, "could not report the start-up error to the Lambda Runtime API");
    }
}

fn settings(a: &LambdaArgs) -> anyhow::Result<WorkerSettings> {
    let (wait, submit_lease) = a.waits.policy()?;
    Ok(WorkerSettings {
        wait,
        submit_lease,
        retry_after: secs(a.retry_after_secs, "--retry-after-secs")?,
        ..a.drop.settings()?
    })
}

/// Answers invocations until Lambda freezes or ends the process.
async fn serve<S: LedgerStore>(
    base: &MessageHandler<'_, S>,
    queues: &EventQueues<SqsQueue>,
    margin: Duration,
    notifier: Option<&Notifier>,
) -> anyhow::Result<u8> {
    tracing::info!(
        margin_s = margin.as_secs_f64(),
        "lambda mode: waiting for invocations"
    );
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Invocation>| async move {
        let span = tracing::info_span!("invocation", request_id = %ev.context.request_id);
        let deadline = instant_of(ev.context.deadline);
        let records = match &ev.payload {
            Invocation::Queue(e) => e.records.len(),
            _ => 0,
        };
        // Boxed: the handler's future is too deeply nested for the compiler to lay out inline.
        let handling: Pin<Box<dyn Future<Output = BatchResponse> + '_>> = Box::pin(
            handle_invocation(base, queues, &ev.payload, deadline, margin).instrument(span.clone()),
        );
        let response = handling.await;
        span.in_scope(|| {
            tracing::info!(
                records,
                reported = response.batch_item_failures.len(),
                "invocation done"
            )
        });
        after_invocation(notifier, deadline.checked_sub(margin / 4)).await;
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
    .map_err(|e| anyhow::anyhow!("the Lambda runtime client stopped: {e}"))?;
    Ok(crate::cmd::exit::OK)
}

/// Runs after every invocation, before its response is sent (Lambda may freeze the process
/// right after): sends the notifications the invocation queued, until `until` at the latest, and
/// flushes the telemetry buffered during the invocation.
async fn after_invocation(notifier: Option<&Notifier>, until: Option<Instant>) {
    if let (Some(n), Some(until)) = (notifier, until) {
        n.flush(until).await;
    }
    // Spans and metrics of the invocation leave before the response does.
    if let Err(e) = tokio::task::spawn_blocking(canvas_sis::telemetry::flush).await {
        tracing::warn!(error = %e, "the telemetry flush did not finish");
    }
}

/// The invocation's deadline (milliseconds since the epoch) on the monotonic clock.
fn instant_of(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
