//! `canvas-sis simulate`: a Canvas SIS Imports API simulator until Ctrl-C or SIGTERM.

use std::time::Duration;

use anyhow::Context;

use canvas_sis::sim::config::{ThrottleStatus, TokenStatus};
use canvas_sis::sim::{Permission, SimConfig, TokenSpec};

use crate::cli::SimulateArgs;
use crate::cmd::common::wait_for_stop_signal;

pub async fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    let config = sim_config(&args)?;
    let sim = canvas_sis::sim::start(config, args.listen)
        .await
        .context("starting the Canvas simulator")?;
    // The first line of stdout is the base URL: scripts and tests read it.
    println!("{}", sim.url());
    use std::io::Write;
    std::io::stdout()
        .flush()
        .context("writing the URL to stdout")?;
    wait_for_stop_signal().await;
    tracing::info!("stopping the Canvas simulator");
    sim.shutdown().await;
    Ok(crate::cmd::exit::OK)
}

fn secs(v: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .with_context(|| format!("--{flag} must be a number of seconds >= 0, got {v}"))
}

fn sim_config(args: &SimulateArgs) -> anyhow::Result<SimConfig> {
    let tokens = if args.tokens.is_empty() {
        tracing::info!(
            "no --token given: accepting token admin:sim-token with import_sis and manage_sis"
        );
        vec![TokenSpec {
            name: "admin".into(),
            secret: "sim-token".into(),
            permissions: vec![Permission::ImportSis, Permission::ManageSis],
            status: TokenStatus::Active,
        }]
    } else {
        args.tokens.clone()
    };
    if !(args.rows_per_second.is_finite() && args.rows_per_second > 0.0) {
        anyhow::bail!(
            "--rows-per-second must be above 0, got {}",
            args.rows_per_second
        );
    }
    let mut config = SimConfig::with_tokens(tokens);
    config.rows_per_sec = args.rows_per_second;
    config.start_delay = secs(args.start_delay_secs, "start-delay-secs")?;
    config.errors_attachment_lag = secs(
        args.errors_attachment_lag_secs,
        "errors-attachment-lag-secs",
    )?;
    config.abort_hold = secs(args.abort_hold_secs, "abort-hold-secs")?;
    config.state_file = args.state_file.clone();
    config.max_body_bytes = args.max_body_bytes;
    config.max_upload_bytes = args.max_upload_bytes;
    config.manual_clock = args.manual_clock;
    config.legacy_unauthorized_401 = args.legacy_401;
    config.throttle.enabled = !args.no_throttle;
    config.throttle.request_cost = args.request_cost;
    config.throttle.status = match args.throttle_status {
        403 => ThrottleStatus::Forbidden403,
        429 => ThrottleStatus::TooMany429,
        other => anyhow::bail!("--throttle-status must be 403 or 429, got {other}"),
    };
    for a in &mut config.accounts {
        a.institutional_tags = args.institutional_tags;
        a.differentiation_tags = args.differentiation_tags;
    }
    Ok(config)
}
