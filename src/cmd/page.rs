//! The status page (crate `canvas-sis-web`) as the commands serve it: the `--page-*` flags and
//! the configuration's tenants into the page's options, and its router over the command's
//! ledger. `watch` and `run` merge it into their `--listen` listener; `serve` serves it alone.

use anyhow::Context;

use canvas_sis::config::Config;
use canvas_sis::ledger::{Ledger, LedgerStore};
use canvas_sis::trigger::runtime::TenantRuntime;
use canvas_sis::web::auth::Access;
use canvas_sis::web::model::LedgerPlace;
use canvas_sis::web::model::live::LiveCanvas;
use canvas_sis::web::{PageOptions, TenantSettings};

use crate::cli::PageArgs;

/// The page's routes over `ledger`, found at `place` (for the commands it prints); with the
/// command's tenant `runtimes`, running imports show Canvas's progress.
pub fn router<S: LedgerStore + 'static>(
    ledger: Ledger<S>,
    args: &PageArgs,
    place: LedgerPlace,
    config: Option<&Config>,
    runtimes: &[TenantRuntime],
) -> anyhow::Result<axum::Router> {
    let access = Access::from_files(
        args.page_token_file.as_deref(),
        args.page_basic_auth_file.as_deref(),
    )
    .context("setting up the status page")?;
    let settings = config
        .map(|c| {
            c.tenants
                .iter()
                .map(|t| (t.name.clone(), TenantSettings::of(t)))
                .collect()
        })
        .unwrap_or_default();
    Ok(canvas_sis::web::router(
        ledger,
        PageOptions {
            place,
            settings,
            row_samples: args.page_row_samples,
            access,
            live: (!runtimes.is_empty()).then(|| {
                runtimes.iter().fold(LiveCanvas::default(), |live, rt| {
                    live.with(
                        &rt.tenant.name,
                        rt.client.clone(),
                        rt.tenant.account.clone(),
                    )
                })
            }),
        },
    ))
}
