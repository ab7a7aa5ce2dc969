//! `--listen ADDR` (`SIS_LISTEN_ADDR`) of `run` and `watch`: starts the probe and metrics
//! listener once the configuration is loaded, with the command's own readiness checks (the
//! queue's, for `run`), one for each tenant's Canvas, and the status page (`cmd::page`).

use std::net::SocketAddr;

use anyhow::Context;

use canvas_sis::telemetry::listener::{self, Check, Listener};
use canvas_sis::trigger::runtime::TenantRuntime;

/// The listener, when an address was given; it stops when dropped.
pub async fn start(
    addr: Option<SocketAddr>,
    mut checks: Vec<Check>,
    runtimes: &[TenantRuntime],
    pages: Option<axum::Router>,
) -> anyhow::Result<Option<Listener>> {
    let Some(addr) = addr else { return Ok(None) };
    // Every runtime the commands build reaches Canvas over HTTP, so each has a check.
    for rt in runtimes {
        let Some(http) = &rt.http else { continue };
        let check = listener::canvas_check(&rt.tenant.name, http, rt.tenant.account.clone())
            .with_context(|| format!("the Canvas readiness check of tenant {}", rt.tenant.name))?;
        checks.push(check);
    }
    Ok(Some(listener::start(addr, checks, pages).await?))
}
