//! Where an operator command's ledger is (`--dir DIR` or `--state s3://bucket/prefix/`) and the
//! ledger opened there, on whichever store: the operator commands (`ops`), `status --dir/--state`
//! and `serve` share it.
//!
//! Each command body is written once, generic over the ledger store; [`OpsLedger`] holds the
//! ledger that `--dir` or `--state` chose and [`on_ledger!`] runs a body on it. Opening refuses
//! a location that holds no ledger (a missing directory, bucket or empty prefix): a typo must
//! never start a new, empty ledger.

use std::path::{Path, PathBuf};

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
    pub async fn open(location: &Location) -> anyhow::Result<OpsLedger> {
        Ok(match location {
            Location::Dir(dir) => OpsLedger::Local(open_ledger(dir)?),
            #[cfg(feature = "aws")]
            Location::State(url) => OpsLedger::S3(open_s3_ledger(url).await?),
            #[cfg(not(feature = "aws"))]
            Location::State(url) => anyhow::bail!(
                "{url}: this canvas-sis was built without AWS (cargo feature `aws`), so it cannot \
                 open an S3 ledger; build it with the default features (`cargo build`)"
            ),
        })
    }
}

/// The ledger of a folder-mode directory; it must exist (a typo must not create a new one).
pub fn open_ledger(dir: &Path) -> anyhow::Result<Ledger<LocalStore>> {
    let path = dir.join("ledger");
    anyhow::ensure!(
        path.is_dir(),
        "{} has no ledger ({} is missing); give the directory `canvas-sis watch` runs on",
        dir.display(),
        path.display()
    );
    let store = LocalStore::open(&path)
        .with_context(|| format!("opening the ledger in {}", path.display()))?;
    Ok(Ledger::new(store))
}

/// The cloud worker's ledger at `url`: the bucket must exist and the prefix hold objects.
#[cfg(feature = "aws")]
pub async fn open_s3_ledger(url: &str) -> anyhow::Result<Ledger<S3Store>> {
    let clients = canvas_sis::aws::clients(None).await;
    let store = S3Store::from_url(clients.s3, url)?;
    let found = store.probe().await.context("opening the S3 ledger")?;
    anyhow::ensure!(
        found,
        "{} holds no ledger (no object under that prefix); give the state URL the workers use \
         (their SIS_STATE_URL)",
        store.url()
    );
    Ok(Ledger::new(store))
}

/// Whether `location` holds a ledger yet (an existing folder or bucket without one does not).
pub async fn holds_a_ledger(location: &Location) -> anyhow::Result<bool> {
    match location {
        Location::Dir(dir) => {
            anyhow::ensure!(
                dir.is_dir(),
                "{} is not a directory; give the directory `canvas-sis watch` runs on",
                dir.display()
            );
            Ok(dir.join("ledger").is_dir())
        }
        #[cfg(feature = "aws")]
        Location::State(url) => {
            let clients = canvas_sis::aws::clients(None).await;
            let store = S3Store::from_url(clients.s3, url)?;
            Ok(store.probe().await.context("opening the S3 ledger")?)
        }
        #[cfg(not(feature = "aws"))]
        Location::State(_) => Ok(true),
    }
}

pub(crate) use on_ledger;
