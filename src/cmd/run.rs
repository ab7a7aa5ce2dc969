//! `canvas-sis run`: the cloud worker. Long-polls the SQS queue, one message at a time, until
//! stopped (SIGTERM/Ctrl-C), until the queue is drained (`--until-empty`, for a Kubernetes
//! CronJob) or after `--max-batches`.
//!
//! Everything can come from the environment, so a single institution needs no config file:
//! `SIS_QUEUE_URL`, `SIS_STATE_URL`, `CANVAS_BASE_URL` and `CANVAS_TOKEN` (or
//! `CANVAS_TOKEN_FILE`), plus the AWS SDK's own variables (region, credentials chain,
//! `AWS_ENDPOINT_URL`). With a config file, tenants are chosen by their `s3_prefix`.

use std::path::PathBuf;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use canvas_sis::aws;
use canvas_sis::aws::queue::{MessageHandler, SqsQueue, Worker, WorkerSettings};
use canvas_sis::aws::store::FetchPolicy;
use canvas_sis::ledger::{Halt, Ledger, LedgerStore, LocalStore};
use canvas_sis::notify::{LedgerHint, Notifier};
use canvas_sis::pipeline::LogObserver;
use canvas_sis::telemetry::MetricsObserver;
use canvas_sis::trigger::events::Router;
use canvas_sis::trigger::runtime::TenantRuntime;
use canvas_sis::web::model::LedgerPlace;

use crate::cli::DropArgs;
use crate::cli::RunArgs;
use crate::cmd::common::secs;
use crate::cmd::common::{load_tenants, wait_for_stop_signal};
use crate::cmd::notify;

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let settings = settings(&args)?;
    let (config, router, runtimes) = load_tenants(args.config.as_deref()).await?;
    let clients = aws::clients(crate::cmd::common::s3_checksums(args.drop.s3_checksums)).await;
    let queue = SqsQueue::new(clients.sqs.clone(), &args.queue_url);
    if !queue.is_fifo() {
        tracing::warn!(queue = %args.queue_url, "not a FIFO queue: batches of a tenant may arrive out of order");
    }
    let dlq = queue
        .dead_letter_queue()
        .await
        .context("reading the queue's redrive policy")?;
    let hint = LedgerHint::state(&args.state);
    let notifier = notify::build(
        &config,
        hint,
        Some(notify::sns_publisher(clients.sns.clone())),
    )
    .await?;
    let notifier = notifier.as_ref();
    let checks = vec![queue.readiness_check()];
    let place = LedgerPlace::State(args.state.clone());
    if args.state.starts_with("s3://") {
        let store = canvas_sis::aws::ledger::S3Store::from_url(clients.s3.clone(), &args.state)
            .context("SIS_STATE_URL")?;
        let ledger = Ledger::new(store);
        let pages = pages(&args, &ledger, place, &config, &runtimes)?;
        let _listener = crate::cmd::listen::start(args.listen, checks, &runtimes, pages).await?;
        work(
            ledger, queue, dlq, clients.s3, router, &runtimes, settings, notifier,
        )
        .await
    } else {
        let dir = PathBuf::from(&args.state);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the state directory {}", dir.display()))?;
        let ledger = Ledger::new(LocalStore::open(&dir)?);
        let pages = pages(&args, &ledger, place, &config, &runtimes)?;
        let _listener = crate::cmd::listen::start(args.listen, checks, &runtimes, pages).await?;
        work(
            ledger, queue, dlq, clients.s3, router, &runtimes, settings, notifier,
        )
        .await
    }
}

/// The status page over the worker's ledger, when the worker listens.
fn pages<S: LedgerStore + Clone + 'static>(
    args: &RunArgs,
    ledger: &Ledger<S>,
    place: LedgerPlace,
    config: &canvas_sis::config::Config,
    runtimes: &[TenantRuntime],
) -> anyhow::Result<Option<axum::Router>> {
    match args.listen {
        Some(_) => {
            crate::cmd::page::router(ledger.clone(), &args.page, place, Some(config), runtimes)
                .map(Some)
        }
        None => Ok(None),
    }
}

fn settings(a: &RunArgs) -> anyhow::Result<WorkerSettings> {
    let (wait, submit_lease) = a.waits.policy()?;
    anyhow::ensure!(
        a.receive_wait_secs <= 20.0,
        "--receive-wait-secs is at most 20 (SQS's longest long poll), got {}",
        a.receive_wait_secs
    );
    anyhow::ensure!(
        a.max_batches.is_none() || a.parallel == 1,
        "--max-batches counts the messages of one receive loop: use it with --parallel 1 \
         (SIS_PARALLEL), got --parallel {}",
        a.parallel
    );
    Ok(WorkerSettings {
        receive_wait: secs(a.receive_wait_secs, "--receive-wait-secs")?,
        visibility: secs(a.visibility_secs, "--visibility-secs")?,
        visibility_cap: secs(a.visibility_cap_secs, "--visibility-cap-secs")?,
        cap_margin: secs(a.cap_margin_secs, "--cap-margin-secs")?,
        retry_after: secs(a.retry_after_secs, "--retry-after-secs")?,
        until_empty: a.until_empty,
        parallel: usize::from(a.parallel),
        max_batches: a.max_batches,
        wait,
        submit_lease,
        sweep_every: secs(a.sweep_secs, "--sweep-secs")?,
        ..a.drop.settings()?
    })
}

impl DropArgs {
    /// The worker settings these flags decide (the rest at their defaults).
    pub fn settings(&self) -> anyhow::Result<WorkerSettings> {
        Ok(WorkerSettings {
            work_dir: self
                .work_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("canvas-sis-work")),
            buckets: self
                .buckets
                .iter()
                .filter(|b| !b.is_empty())
                .cloned()
                .collect(),
            fetch: FetchPolicy {
                incomplete_wait: secs(self.incomplete_wait_secs, "--incomplete-wait-secs")?,
                ..FetchPolicy::default()
            },
            ..WorkerSettings::default()
        })
    }
}

#[allow(clippy::too_many_arguments)] // the parts of one worker, built in `run` above
async fn work<S: LedgerStore>(
    ledger: Ledger<S>,
    queue: SqsQueue,
    dlq: Option<SqsQueue>,
    s3: aws_sdk_s3::Client,
    router: Router,
    runtimes: &[TenantRuntime],
    settings: WorkerSettings,
    notifier: Option<&Notifier>,
) -> anyhow::Result<u8> {
    let until_empty = settings.until_empty;
    let (log, metrics) = (LogObserver, MetricsObserver);
    let mut obs = notify::tee(&log, notifier);
    obs.0.push(&metrics);
    let stop = CancellationToken::new();
    let worker = Worker {
        queue,
        dlq,
        handler: MessageHandler {
            objects: std::sync::Arc::new(canvas_sis::aws::store::S3Objects::new(s3)),
            ledger: &ledger,
            router,
            runtimes,
            settings,
            obs: &obs,
            in_flight: Default::default(),
            stop: stop.clone(),
        },
    };
    let watcher = tokio::spawn(async move {
        wait_for_stop_signal().await;
        tracing::info!("stop signal: finishing the current step, then exiting");
        stop.cancel();
    });
    let summary = worker.run().await;
    watcher.abort();
    notify::flush(notifier).await;
    let summary = summary?;
    tracing::info!(
        messages = summary.messages,
        batches = summary.batch_messages,
        deleted = summary.deleted,
        released = summary.released,
        poison = summary.poison,
        stopped = summary.stopped,
        "worker exits"
    );
    let mut code = crate::cmd::exit::OK;
    if until_empty && !summary.stopped {
        for rt in runtimes {
            let gate =
                canvas_sis::pipeline::gate::current(&ledger, &rt.tenant.name, rt.tenant.on_failure)
                    .await?;
            if let Some(Halt { batch, reason, .. }) = gate.halted {
                println!(
                    "tenant {} is HALTED by batch {batch}: {reason}\n  fix the feed or Canvas, then: canvas-sis resume --state STATE_URL --tenant {}",
                    rt.tenant.name, rt.tenant.name
                );
                code = crate::cmd::exit::HALTED;
            }
        }
    }
    Ok(code)
}
