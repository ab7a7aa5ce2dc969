//! `--listen ADDR` (`SIS_LISTEN_ADDR`) of `run` and `watch`: starts the probe and metrics
//! listener once the configuration is loaded, with a readiness check for the queue (`run`) and
//! for each tenant's Canvas.

use std::net::SocketAddr;

use anyhow::Context;

use canvas_sis::telemetry::listener::{self, Check, Listener};
use canvas_sis::trigger::queue::SqsQueue;
use canvas_sis::trigger::runtime::TenantRuntime;

/// The listener, when an address was given; it stops when dropped.
pub async fn start(
    addr: Option<SocketAddr>,
    queue: Option<&SqsQueue>,
    runtimes: &[TenantRuntime],
) -> anyhow::Result<Option<Listener>> {
    let Some(addr) = addr else { return Ok(None) };
    let mut checks: Vec<Check> = queue.into_iter().map(SqsQueue::readiness_check).collect();
    for rt in runtimes {
        let check = listener::canvas_check(
            &rt.tenant.name,
            rt.client.config(),
            rt.tenant.account.clone(),
        )
        .with_context(|| format!("the Canvas readiness check of tenant {}", rt.tenant.name))?;
        checks.push(check);
    }
    Ok(Some(listener::start(addr, checks).await?))
}
