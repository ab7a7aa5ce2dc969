//! `canvas-sis watch DIR`: folder mode, one pass at a time, until stopped (or once).
//!
//! Every pass prints what it archived and where each tenant's stream stopped; at the end, one
//! line per tenant says what it waits on (a quiet period, a halt, a pause, a held batch, a
//! blackout, an empty inbox) and the command that lifts it — all on stdout, with the logs on
//! stderr.

use std::collections::HashMap;

use anyhow::Context;

use canvas_sis::config::Config;
use canvas_sis::ledger::{Ledger, LocalStore};
use canvas_sis::notify::LedgerHint;
use canvas_sis::pipeline::WaitPolicy;
use canvas_sis::trigger::folder::pass::{Pass, PassReport, Waiting};
use canvas_sis::trigger::folder::summary::summarize;
use canvas_sis::trigger::folder::{Layout, ScanPolicy};
use canvas_sis::web::model::LedgerPlace;

use crate::cli::{UnattendedWaits, WatchArgs};
use crate::cmd::common::secs;
use crate::cmd::common::{runtimes, wait_for_stop_signal};
use crate::cmd::notify;
use crate::cmd::progress::TerminalObserver;
use canvas_sis::telemetry::MetricsObserver;

pub async fn run(args: WatchArgs) -> anyhow::Result<u8> {
    let mut config = Config::load(args.config.as_deref()).context("loading the configuration")?;
    crate::cmd::common::fetch_secret_tokens(&mut config).await?;
    if config.tenants.len() > 1
        && let Some(t) = config.tenants.iter().find(|t| t.folder.is_none())
    {
        anyhow::bail!(
            "tenant {} has no folder: with several tenants folder mode needs one per tenant; \
             write folder = \"{}\" in [tenants.{}]",
            t.name,
            t.name,
            t.name
        );
    }
    let layout = Layout::ensure(&args.dir)?;
    std::fs::create_dir_all(layout.root.join("work")).context("creating the work folder")?;
    let ledger = Ledger::new(LocalStore::open(layout.ledger())?);
    let runtimes = runtimes(&config)?;
    let pages = match args.listen {
        Some(_) => Some(crate::cmd::page::router(
            ledger.clone(),
            &args.page,
            LedgerPlace::Dir(std::path::absolute(&args.dir)?.display().to_string()),
            Some(&config),
            &runtimes,
        )?),
        None => None,
    };
    let _listener = crate::cmd::listen::start(args.listen, Vec::new(), &runtimes, pages).await?;
    let (terminal, metrics) = (TerminalObserver::new(), MetricsObserver);
    let hint =
        LedgerHint::folder(&std::fs::canonicalize(&layout.root).unwrap_or(layout.root.clone()));
    let notifier = notify::build(&config, hint, None).await?;
    let mut obs = notify::tee(&terminal, notifier.as_ref());
    obs.0.push(&metrics);
    let (wait, submit_lease) = args.waits.policy()?;
    // Listening from the start, so that a signal during a pass (the first one included) ends
    // the pass after its current step instead of killing the process mid-POST.
    let stop = tokio_util::sync::CancellationToken::new();
    let signal = stop.clone();
    let watcher = tokio::spawn(async move {
        wait_for_stop_signal().await;
        tracing::info!("stop signal: finishing the current step, then exiting");
        signal.cancel();
    });
    let pass = Pass {
        layout: &layout,
        config: &config,
        runtimes: &runtimes,
        ledger: &ledger,
        policy: ScanPolicy::default(),
        wait,
        submit_lease,
        obs: &obs,
        stop: stop.clone(),
    };
    let interval = secs(args.interval_secs, "--interval-secs")?;
    let mut claims = HashMap::new();
    let mut told_waiting = std::collections::HashSet::new();
    // The last pass's report: the summary is drawn from it.
    let last = loop {
        let report = match pass.run(&mut claims).await {
            Ok(report) => report,
            Err(e) => {
                // What was recorded before the error is still worth telling.
                notify::flush(notifier.as_ref()).await;
                return Err(e.into());
            }
        };
        let mut lines = Vec::new();
        for (batch, ok) in &report.archived {
            let how = if *ok { "done" } else { "FAILED (see failed/)" };
            lines.push(format!("{batch}: {how}"));
        }
        for (tenant, why) in &report.stopped {
            lines.push(format!("tenant {tenant} waits at {why}"));
        }
        for line in &lines {
            println!("{line}");
        }
        append_log(&layout, &lines);
        print_waiting(&report.waiting, args.once, &mut told_waiting);
        if args.once || stop.is_cancelled() {
            break report;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => break report,
        }
    };
    watcher.abort();
    obs_finish(&terminal);
    notify::flush(notifier.as_ref()).await;
    print_summary(&ledger, &config, &last, &hint_dir(&layout)).await
}

/// The folder as the commands in the summary name it: absolute when it can be.
fn hint_dir(layout: &Layout) -> std::path::PathBuf {
    std::fs::canonicalize(&layout.root).unwrap_or_else(|_| layout.root.clone())
}

/// What is in the inbox but not taken, and why — so a drop that is not picked up is never
/// silent. `--once` says it every time; a long-running watcher once per path (the countdown of
/// a quiet period would otherwise repeat it every pass).
fn print_waiting(
    waiting: &[Waiting],
    once: bool,
    told: &mut std::collections::HashSet<std::path::PathBuf>,
) {
    for w in waiting {
        if once || told.insert(w.path.clone()) {
            println!("{}: {}", w.path.display(), w.why);
        }
    }
    if !once {
        told.retain(|p| waiting.iter().any(|w| &w.path == p));
    }
}

/// One line per outcome in `DIR/logs/watch.log`, for admins who look at the folder, not at the
/// process's output. A log that cannot be written is reported, never fatal.
fn append_log(layout: &Layout, lines: &[String]) {
    use std::io::Write;
    if lines.is_empty() {
        return;
    }
    let path = layout.logs().join("watch.log");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| lines.iter().try_for_each(|l| writeln!(f, "{now} {l}")));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "could not append to the watch log");
    }
}

fn obs_finish(obs: &TerminalObserver) {
    use canvas_sis::pipeline::Observer;
    obs.finish();
}

impl UnattendedWaits {
    /// The wait policy and submit lease these flags ask for.
    pub fn policy(&self) -> anyhow::Result<(WaitPolicy, std::time::Duration)> {
        Ok((
            WaitPolicy {
                poll_min: secs(self.poll_secs, "--poll-secs")?,
                deadline: secs(self.deadline_secs, "--deadline-secs")?,
                ..WaitPolicy::default()
            },
            secs(self.submit_lease_secs, "--submit-lease-secs")?,
        ))
    }
}

/// One line per tenant after the last pass: what it waits on and what lifts it. Returns
/// [`crate::cmd::exit::HALTED`] when a tenant is left halted (an operator must look).
async fn print_summary(
    ledger: &Ledger<LocalStore>,
    config: &Config,
    last: &PassReport,
    dir: &std::path::Path,
) -> anyhow::Result<u8> {
    let summaries = summarize(ledger, config, last, chrono::Utc::now()).await?;
    let mut code = crate::cmd::exit::OK;
    for s in &summaries {
        println!("{}", s.line(dir));
        if s.halted {
            code = crate::cmd::exit::HALTED;
        }
    }
    Ok(code)
}
