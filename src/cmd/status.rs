//! `canvas-sis status`: the account's recent imports, newest first.

use canvas_sis::canvas::ListFilter;

use crate::cli::StatusArgs;
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
