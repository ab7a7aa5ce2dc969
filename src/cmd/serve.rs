//! `canvas-sis serve`: the read-only status page of a ledger (crate `canvas-sis-web`), alone on
//! its listener until stopped. It holds no Canvas token and asks Canvas nothing; `watch` and `run`
//! serve the same page on their own `--listen` listener.

use anyhow::Context;

use canvas_sis::config::Config;
use canvas_sis::telemetry::listener;

use crate::cli::ServeArgs;
use crate::cmd::exit;
use crate::cmd::ledger_at::{Location, OpsLedger, on_ledger};

/// `canvas-sis serve`: the status page of a ledger, until stopped.
pub async fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let location = Location::required(&args.ledger)?;
    let config = match &args.config {
        Some(path) => Some(Config::load(Some(path)).context("loading the configuration")?),
        None => None,
    };
    let ledger = OpsLedger::open(&location).await?;
    let place = location.place();
    let pages = on_ledger!(ledger, l => {
        crate::cmd::page::router(l.clone(), &args.page, place, config.as_ref(), &[])
    })?;
    let listener = listener::start(args.listen, Vec::new(), Some(pages)).await?;
    println!("status page: http://{}/", listener.addr);
    crate::cmd::common::wait_for_stop_signal().await;
    Ok(exit::OK)
}
