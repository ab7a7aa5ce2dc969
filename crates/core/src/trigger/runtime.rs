//! What every trigger needs per tenant to run its stream: the tenant's settings, its Canvas (the
//! [`CanvasApi`] port: the HTTP client, or a simulated Canvas in a test) and its checked default
//! options — and the one way to build the staged pipeline from them, so folder mode and the
//! queue worker run batches identically.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Tenant;
use crate::ledger::{Ledger, LedgerStore};
use crate::pipeline::staged::Staged;
use crate::pipeline::{ImportRequest, Observer, WaitPolicy};
use canvas_sis_client::{CanvasApi, CanvasClient, ClientConfig, ImportOptions};

/// One tenant, ready to run: its config, its Canvas and its checked default options.
pub struct TenantRuntime {
    pub tenant: Tenant,
    /// The tenant's Canvas, which the pipeline calls.
    pub client: Arc<dyn CanvasApi>,
    /// The HTTP client's settings when `client` is the HTTP client: what the `--listen`
    /// readiness probe builds its own client from. `None` for a Canvas that is not reached over
    /// HTTP (a simulated one), which has no readiness to probe.
    pub http: Option<ClientConfig>,
    pub options: ImportOptions,
}

impl TenantRuntime {
    /// A tenant whose Canvas is reached over HTTP by `client`.
    pub fn over_http(tenant: Tenant, client: CanvasClient, options: ImportOptions) -> Self {
        TenantRuntime {
            tenant,
            http: Some(client.config().clone()),
            client: Arc::new(client),
            options,
        }
    }

    /// The staged pipeline for this tenant's batches; zips are built in `work`. It stops between
    /// steps once `stop` is cancelled, and parks what is unsent during the tenant's blackouts.
    pub fn staged<'s, S: LedgerStore>(
        &'s self,
        ledger: &'s Ledger<S>,
        work: &Path,
        wait: &WaitPolicy,
        submit_lease: Duration,
        obs: &'s dyn Observer,
        stop: &CancellationToken,
    ) -> Staged<'s, S> {
        Staged {
            ledger,
            client: self.client.as_ref(),
            tenant: self.tenant.name.clone(),
            request: ImportRequest {
                path: work.to_owned(),
                account: self.tenant.account.clone(),
                options: self.options.clone(),
                after_failure: true,
                dry_run: false,
                preflight: crate::pipeline::Preflight::Unattended,
                wait: wait.clone(),
                work_dir: work.to_owned(),
                validate: self.tenant.validate.clone(),
                // The default level 6, as `pack` and `import` (tuned: pack::deflate).
                pack: crate::pack::PackOptions::default(),
                limits: Default::default(),
            },
            on_failure: self.tenant.on_failure,
            guard: self.tenant.guard.thresholds(),
            submit_lease,
            import_defaults: Some(self.tenant.import.clone()),
            obs,
            blackouts: self.tenant.blackouts.clone(),
            stop: stop.clone(),
        }
    }
}
