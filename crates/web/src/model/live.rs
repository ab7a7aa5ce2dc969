//! Canvas's own word on the imports still running, for the tenants page: the commands that run
//! the pipeline (`watch`, `run`) have each tenant's Canvas at hand and lend it to the page; the
//! page asks only about batches the ledger records as `submitted`, each within
//! [`ASK_WITHIN`], and shows nothing rather than wait on a slow Canvas. `serve` lends none: it
//! holds no token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use canvas_sis_client::{AccountRef, CanvasApi};

/// How long the page waits for Canvas's answer about one import.
pub const ASK_WITHIN: Duration = Duration::from_secs(3);

/// Each tenant's Canvas and account.
#[derive(Clone, Default)]
pub struct LiveCanvas {
    tenants: BTreeMap<String, (Arc<dyn CanvasApi>, AccountRef)>,
}

impl std::fmt::Debug for LiveCanvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCanvas")
            .field("tenants", &self.tenants.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// An import as Canvas reports it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveImport {
    /// `created`, `importing`, `imported`, ...
    pub workflow_state: String,
    /// Percent done, when Canvas says.
    pub progress: Option<u64>,
}

impl LiveCanvas {
    /// Lends the page `tenant`'s Canvas.
    pub fn with(mut self, tenant: &str, client: Arc<dyn CanvasApi>, account: AccountRef) -> Self {
        self.tenants.insert(tenant.to_owned(), (client, account));
        self
    }

    /// Canvas's state of `tenant`'s import `id`, or `None` when the page has no Canvas for the
    /// tenant, or Canvas did not answer in time or at all.
    pub async fn import(&self, tenant: &str, id: u64) -> Option<LiveImport> {
        let (client, account) = self.tenants.get(tenant)?;
        let asked = tokio::time::timeout(ASK_WITHIN, client.get_sis_import(account, id)).await;
        match asked {
            Ok(Ok(i)) => Some(LiveImport {
                workflow_state: i.workflow_state.as_str().to_owned(),
                progress: i.progress,
            }),
            Ok(Err(e)) => {
                tracing::debug!(tenant, import = id, error = %e, "the status page could not ask Canvas");
                None
            }
            Err(_) => None,
        }
    }
}
