//! The staged pipeline as the pipeline tests build it: one tenant on account 1, unattended
//! preflight, going on after a failure's gate is open, halting on failure, no guard limits, no
//! blackouts. The tests differ only in the ledger, the Canvas, the work folder, how fast they
//! poll Canvas and the submit lease.

use std::path::Path;
use std::time::Duration;

use canvas_sis::canvas::{AccountRef, CanvasApi};
use canvas_sis::ledger::{Ledger, LedgerStore};
use canvas_sis::pipeline::staged::{OnFailure, Staged};
use canvas_sis::pipeline::{ImportRequest, LogObserver, Preflight, WaitPolicy};
use canvas_sis::sis::guard::Thresholds;

/// Tenant `tenant`'s pipeline over `ledger` and `client`, reading and packing in `work`.
pub fn staged<'a, S: LedgerStore>(
    ledger: &'a Ledger<S>,
    client: &'a dyn CanvasApi,
    tenant: &str,
    work: &Path,
    wait: WaitPolicy,
    submit_lease: Duration,
) -> Staged<'a, S> {
    Staged {
        ledger,
        client,
        tenant: tenant.into(),
        request: ImportRequest {
            path: work.to_owned(),
            account: AccountRef::Id(1),
            options: Default::default(),
            after_failure: true,
            dry_run: false,
            preflight: Preflight::Unattended,
            wait,
            work_dir: work.to_owned(),
            validate: Default::default(),
            pack: Default::default(),
            limits: Default::default(),
        },
        on_failure: OnFailure::Halt,
        guard: Thresholds::default(),
        submit_lease,
        import_defaults: None,
        obs: &LogObserver,
        blackouts: Vec::new(),
        stop: Default::default(),
    }
}
