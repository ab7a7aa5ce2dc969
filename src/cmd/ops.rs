//! `pause`, `resume`, `approve`, `undo` and `status --dir`: an operator's hands on the ledger of
//! a folder-mode directory (`DIR/ledger`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use canvas_sis::canvas::RestoreOptions;
use canvas_sis::ledger::{Gate, Ledger, LocalStore};
use canvas_sis::pipeline::operator;

use crate::cli::{ApproveArgs, GateArgs, PauseArgs, UndoArgs};
use crate::cmd::{connect, exit};

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

async fn chosen_tenants(
    ledger: &Ledger<LocalStore>,
    tenant: &Option<String>,
) -> anyhow::Result<Vec<String>> {
    match tenant {
        Some(t) => Ok(vec![t.clone()]),
        None => {
            let all = operator::tenants(ledger).await?;
            anyhow::ensure!(
                !all.is_empty(),
                "the ledger has no tenant yet; nothing to do"
            );
            Ok(all)
        }
    }
}

fn operator_name() -> String {
    std::env::var("USER").unwrap_or_else(|_| "operator".into())
}

pub async fn status(dir: &Path) -> anyhow::Result<u8> {
    let ledger = open_ledger(dir)?;
    for t in chosen_tenants(&ledger, &None).await? {
        print!("{}", operator::describe(&ledger, &t, 10).await?);
    }
    Ok(exit::OK)
}

pub async fn pause(args: PauseArgs) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.gate.dir)?;
    for t in chosen_tenants(&ledger, &args.gate.tenant).await? {
        operator::pause(&ledger, &t, &operator_name(), &args.reason).await?;
        println!("tenant {t} paused: {}", args.reason);
    }
    Ok(exit::OK)
}

pub async fn resume(args: GateArgs) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.dir)?;
    for t in chosen_tenants(&ledger, &args.tenant).await? {
        match operator::resume(&ledger, &t).await? {
            Gate::Open => println!("tenant {t} was already open"),
            Gate::Halted { batch, reason, .. } => println!(
                "tenant {t} resumed (it was halted by batch {batch}: {reason}); parked batches go on in arrival order"
            ),
            Gate::Paused { reason, .. } => println!("tenant {t} resumed (it was paused: {reason})"),
        }
    }
    Ok(exit::OK)
}

pub async fn approve(args: ApproveArgs) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.dir)?;
    operator::approve(&ledger, &args.batch).await?;
    println!("batch {} approved: it goes on at the next run", args.batch);
    Ok(exit::OK)
}

pub async fn undo(args: UndoArgs) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.dir)?;
    let (client, account) = connect::client(&args.canvas, None)?;
    let opts = RestoreOptions {
        batch_mode: args.batch_mode,
        undelete_only: args.undelete_only,
        unconclude_only: args.unconclude_only,
    };
    let entry = operator::undo(
        &ledger,
        &client,
        &account,
        &args.batch,
        opts,
        Duration::from_secs(args.wait_secs),
    )
    .await?;
    println!(
        "batch {}: Canvas restore {} ({})",
        args.batch,
        entry["workflow_state"].as_str().unwrap_or("?"),
        entry["message"].as_str().unwrap_or("")
    );
    Ok(exit::OK)
}
