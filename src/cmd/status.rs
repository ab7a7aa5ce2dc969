//! `canvas-sis status`: the account's recent imports, newest first; with `--dir`/`--state`, the
//! ledger's tenants (their gate and unfinished batches) and newest batches, as text or, with
//! `--json`, as the status page's models.

use canvas_sis::canvas::ListFilter;
use canvas_sis::ledger::{Ledger, LedgerStore};
use canvas_sis::pipeline::operator;
use canvas_sis::web::TenantSettings;
use canvas_sis::web::model::{LedgerPlace, history, overview};

use crate::cli::StatusArgs;
use crate::cmd::ledger_at::{Location, OpsLedger, on_ledger};
use crate::cmd::{connect, exit, output};

pub async fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let (client, account) = connect::client(&args.canvas, None)?;
    let limit = args.limit.clamp(1, 100);
    let filter = ListFilter {
        per_page: Some(limit),
        ..ListFilter::default()
    };
    let imports = match client
        .recent_sis_imports(&account, &filter, limit as usize)
        .await
    {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::of_canvas_error(&e));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&imports)?);
        return Ok(exit::OK);
    }
    if imports.is_empty() {
        println!("no SIS imports on account {account}");
    }
    let now = chrono::Utc::now();
    for i in &imports {
        println!("{}", output::status_line(i, now));
    }
    Ok(exit::OK)
}

/// `status --dir/--state`: each tenant's gate and unfinished batches and its newest `limit`
/// finished ones (as text, or with `json` the status page's models). A location that holds no
/// ledger yet (a folder `watch` has not run on, an empty prefix) has no batches yet: that is
/// said, and is not an error.
pub async fn of_ledger(location: &Location, json: bool, limit: usize) -> anyhow::Result<u8> {
    let Some(ledger) = OpsLedger::find(location).await? else {
        let where_ = location.place().label();
        if json {
            let empty = serde_json::json!({
                "generated_at": chrono::Utc::now(),
                "ledger": where_,
                "tenants": [],
            });
            println!("{}", serde_json::to_string_pretty(&empty)?);
        } else {
            println!(
                "no batches yet: {where_} holds no ledger (nothing has been imported through it)"
            );
        }
        return Ok(exit::OK);
    };
    let place = location.place();
    on_ledger!(ledger, l => status_on(l, &place, json, limit).await)
}

async fn status_on<S: LedgerStore>(
    ledger: &Ledger<S>,
    place: &LedgerPlace,
    json: bool,
    limit: usize,
) -> anyhow::Result<u8> {
    let tenants = operator::tenants(ledger).await?;
    if json {
        let now = chrono::Utc::now();
        let mut out = Vec::new();
        for t in &tenants {
            let settings = TenantSettings::default();
            out.push(history::history(ledger, t, place, &settings, limit, None, now).await?);
        }
        let (poison_count, poison) = overview::poison(ledger).await?;
        let doc = serde_json::json!({
            "generated_at": now,
            "ledger": place.label(),
            "tenants": out,
            "poison_count": poison_count,
            "poison": poison,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(exit::OK);
    }
    print_poison(ledger).await?;
    if tenants.is_empty() {
        println!("no batches yet: the ledger has no tenant");
    }
    for t in tenants {
        print!("{}", operator::describe(ledger, &t, limit).await?);
    }
    Ok(exit::OK)
}

/// The cloud worker's poison messages, newest five, if there are any.
async fn print_poison<S: LedgerStore>(ledger: &Ledger<S>) -> anyhow::Result<()> {
    use canvas_sis::ledger::poison::POISON_PREFIX;
    let (count, newest) = overview::poison(ledger).await?;
    if count == 0 {
        return Ok(());
    }
    println!(
        "poison messages: {count} recorded under {} (newest last)",
        ledger.store().locate(POISON_PREFIX)
    );
    for p in newest.iter().rev() {
        if p.kind == overview::UNREADABLE {
            println!("  {}: unreadable ({})", p.location, p.error);
        } else {
            println!(
                "  {} {} message {} ({}): {}",
                p.received_at.format("%Y-%m-%d %H:%M:%S"),
                p.kind,
                p.message_id,
                p.moved_to,
                p.error
            );
        }
    }
    Ok(())
}
