//! Where an operator command's ledger is (`--dir DIR` or `--state s3://bucket/prefix/`) and the
//! ledger opened there, on whichever store: the operator commands (`ops`), `status --dir/--state`
//! and `serve` share it.
//!
//! Each command body is written once, generic over the ledger store; [`OpsLedger`] holds the
//! ledger that `--dir` or `--state` chose and [`on_ledger!`] runs a body on it. Opening refuses
//! a location that holds no ledger (a missing directory, bucket or empty prefix): a typo must
//! never start a new, empty ledger.

use std::path::PathBuf;

use anyhow::Context;

#[cfg(feature = "aws")]
use canvas_sis::aws::ledger::S3Store;
use canvas_sis::ledger::{Ledger, LocalStore};
use canvas_sis::web::model::LedgerPlace;

use crate::cli::{LedgerArgs, LedgerChoice};

/// Where the operator's ledger is.
#[derive(Debug, Clone)]
pub enum Location {
    /// A folder-mode directory; the ledger is `DIR/ledger`.
    Dir(PathBuf),
    /// The cloud worker's state, `s3://bucket/prefix/`.
    State(String),
}

impl Location {
    /// The location `status` was given, if any (then it shows the ledger, not Canvas).
    pub fn chosen(choice: &LedgerChoice) -> Option<Location> {
        Location::pick(&choice.dir, &choice.state)
    }

    /// The location of a command that needs one (clap makes `--dir` or `--state` required).
    pub fn required(args: &LedgerArgs) -> anyhow::Result<Location> {
        Location::pick(&args.dir, &args.state)
            .context("give --dir DIR or --state s3://bucket/prefix/")
    }

    /// The location as the status page and `status --json` name it.
    pub fn place(&self) -> LedgerPlace {
        match self {
            Location::Dir(dir) => LedgerPlace::Dir(
                std::path::absolute(dir)
                    .unwrap_or_else(|_| dir.clone())
                    .display()
                    .to_string(),
            ),
            Location::State(url) => LedgerPlace::State(url.clone()),
        }
    }

    fn pick(dir: &Option<PathBuf>, state: &Option<String>) -> Option<Location> {
        match (dir, state) {
            (Some(dir), _) => Some(Location::Dir(dir.clone())),
            (None, Some(url)) => Some(Location::State(url.clone())),
            (None, None) => None,
        }
    }
}

/// An opened ledger, on whichever store the location names.
pub enum OpsLedger {
    Local(Ledger<LocalStore>),
    #[cfg(feature = "aws")]
    S3(Ledger<S3Store>),
}

/// Runs `$body` with `$l` bound to the `&Ledger<_>` inside an [`OpsLedger`]: one generic body,
/// monomorphised per store.
macro_rules! on_ledger {
    ($ledger:expr, $l:ident => $body:expr) => {
        match &$ledger {
            $crate::cmd::ledger_at::OpsLedger::Local($l) => $body,
            #[cfg(feature = "aws")]
            $crate::cmd::ledger_at::OpsLedger::S3($l) => $body,
        }
    };
}

impl OpsLedger {
    /// The ledger at `location`: refused when the location holds none (a mistyped directory or
    /// prefix must never start a new, empty ledger).
    pub async fn open(location: &Location) -> anyhow::Result<OpsLedger> {
        match OpsLedger::find(location).await? {
            Some(ledger) => Ok(ledger),
            None => Err(match location {
                Location::Dir(dir) => anyhow::anyhow!(
                    "{} has no ledger ({} is missing); give the directory `canvas-sis watch` runs on",
                    dir.display(),
                    dir.join("ledger").display()
                ),
                Location::State(url) => anyhow::anyhow!(
                    "{url} holds no ledger (no object under that prefix); give the state URL the \
                     workers use (their SIS_STATE_URL)"
                ),
            }),
        }
    }

    /// The ledger at `location`, or `None` when the location holds none yet (a folder `watch`
    /// has not run on, an empty prefix). The folder or bucket itself must exist.
    pub async fn find(location: &Location) -> anyhow::Result<Option<OpsLedger>> {
        match location {
            Location::Dir(dir) => {
                anyhow::ensure!(
                    dir.is_dir(),
                    "{} is not a directory; give the directory `canvas-sis watch` runs on",
                    dir.display()
                );
                let path = dir.join("ledger");
                if !path.is_dir() {
                    return Ok(None);
                }
                let store = LocalStore::open(&path)
                    .with_context(|| format!("opening the ledger in {}", path.display()))?;
                Ok(Some(OpsLedger::Local(Ledger::new(store))))
            }
            #[cfg(feature = "aws")]
            Location::State(url) => {
                let clients = canvas_sis::aws::clients(None).await;
                let store = S3Store::from_url(clients.s3, url)?;
                let found = store.probe().await.context("opening the S3 ledger")?;
                Ok(found.then(|| OpsLedger::S3(Ledger::new(store))))
            }
            #[cfg(not(feature = "aws"))]
            Location::State(url) => anyhow::bail!(
                "{url}: this canvas-sis was built without AWS (cargo feature `aws`), so it cannot \
                 open an S3 ledger; build it with the default features (`cargo build`)"
            ),
        }
    }
}

pub(crate) use on_ledger;
